// The differential test of the path admit decides on against the path the worker routes
// on, in workerd over real HTTP. For every base path of the three apps (worker.js) it
// generates a family of request targets that routers read differently (encoded and
// doubled slashes, backslashes, dot segments raw and encoded, `;`, `#`, `?`, encoded
// controls, overlong UTF-8, non-ASCII, `%25`, case, climbing from one route into
// another) and Host headers that push segments in front of the path, and sends each one
// byte for byte over a socket (node:net: no client library normalises them) with the
// credentials of several principals. The worker answers with the handler that ran, its
// parameters, and admit's rule and constraints. The test fails on any request admit
// allowed whose rule is not the one that guards the handler that ran, whose owner
// constraint is not the handler's owner parameter, or that made the worker fail (5xx).
// A target workerd's HTTP parser refuses (400 before the worker runs) is a refusal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { FM_KEYS, MR_TOKEN, SM_KEY, SM_PAT, startWorkerd } from "./workerd.mjs";

// The rule of each policy that must have decided when a handler runs, and the handler's
// parameter that admit's `owner` constraint must equal (from examples/policies/*.toml).
const EXPECTED = {
  mr: {
    health: { rule: "api" },
    "list-models": { rule: "api" },
    "read-model": { rule: "api" },
    "upload-artifact": { rule: "api" },
    env: { rule: "env-endpoint" }, // a deny rule: the handler must never run
  },
  sm: {
    health: { rule: "always-open" },
    version: { rule: "always-open" },
    "list-artifacts": { rule: "artifacts-read" },
    "read-artifact": { rule: "artifacts-read" },
    "create-artifact": { rule: "artifacts-write" },
    "update-artifact": { rule: "artifacts-write" },
    "delete-artifact": { rule: "artifacts-delete" },
    "list-collections": { rule: "collections-read" },
    "read-collection": { rule: "collections-read" },
    "delete-collection": { rule: "collections-write" },
    "list-users": { rule: "admin-users" },
    "read-user": { rule: "admin-users" },
    "read-settings": { rule: "admin-settings" },
  },
  fm: {
    "list-jobs": { rule: "list-jobs" },
    "queue-job": { rule: "queue-job" },
    "read-job": { rule: "read-job", owner: "owner" },
    "cancel-job": { rule: "cancel-job", owner: "owner" },
    status: { rule: "status" },
  },
};

// [method, path] of a request each handler answers.
const BASES = {
  mr: [
    ["GET", "/api/health"],
    ["GET", "/api/models"],
    ["GET", "/api/models/m1"],
    ["POST", "/api/artifact/model"],
    ["GET", "/env"],
  ],
  sm: [
    ["GET", "/health"],
    ["GET", "/api/v1/version"],
    ["GET", "/api/v1/artifacts"],
    ["GET", "/api/v1/artifacts/a1"],
    ["POST", "/api/v1/artifacts"],
    ["PUT", "/api/v1/artifacts/a1"],
    ["DELETE", "/api/v1/artifacts/a1"],
    ["GET", "/api/v1/collections"],
    ["GET", "/api/v1/collections/c1"],
    ["DELETE", "/api/v1/collections/c1"],
    ["GET", "/api/v1/admin/users"],
    ["GET", "/api/v1/admin/users/u1"],
    ["GET", "/api/v1/admin/settings"],
  ],
  fm: [
    ["GET", "/api/v1/jobs"],
    ["POST", "/api/v1/jobs"],
    ["GET", "/api/v1/jobs/bob/7"],
    ["GET", "/api/v1/jobs/alice/3"],
    ["DELETE", "/api/v1/jobs/bob/7"],
    ["DELETE", "/api/v1/jobs/alice/3"],
    ["GET", "/api/v1/status"],
  ],
};

// Credentials of several principals per app: none, an ordinary one, an admin, owners.
const PRINCIPALS = {
  mr: { none: [], token: [["Authorization", `Bearer ${MR_TOKEN}`]] },
  sm: { none: [], "api-key (automation)": [["X-API-Key", SM_KEY]], "enterprise PAT (system_admin)": [["Authorization", `Bearer ${SM_PAT}`]] },
  fm: {
    none: [],
    "alice (admin)": [["X-API-Key", FM_KEYS.alice]],
    "bob (researcher, owner of bob/7)": [["X-API-Key", FM_KEYS.bob]],
    "carol (analyst)": [["X-API-Key", FM_KEYS.carol]],
  },
};

// Targets are "binary" strings: each character one byte on the wire (latin1).
const utf8 = (s) => Buffer.from(s, "utf8").toString("latin1");
const SLASH_FOR = ["%2F", "%2f", "%252F", "%5C", "\\", "%C0%AF", "%5c"];
const SLASH_INTO = ["/./", "/../", "/%2e%2e/", "/.%2E/", "/%2E/", "//", "/x/../", "/x/%2e%2e/", "/.\\", "/..\\", "/%C0%AE%C0%AE/", "/%252e%252e/"];
const AT_SLASH = [";x", "#", "#/../x", "%00", "%23", "?", "%3F", "%3f", "%09", "%20", "%7F", ";/..", "%3B"];
const APPENDS = ["/", "/.", "/..", "/%2e", "/%2E%2E", "//", "\\", "%2F", "?x=1", "?/../x", "#", "#/../x", "%C0%AE", "%C0%AF", utf8("é"), "%C3%A9", "\xe9", "%25", "%2500", "%252F", "%FF", "%ED%A0%80", ";", "%", "%2"];

/** The family of targets generated from one base path. */
function family(base, others) {
  const out = new Set([base]);
  const slashes = [...base].flatMap((c, i) => (c === "/" ? [i] : []));
  for (const i of slashes) {
    const [pre, post] = [base.slice(0, i), base.slice(i + 1)];
    for (const r of SLASH_FOR) out.add(pre + r + post);
    for (const r of SLASH_INTO) out.add(pre + r + post);
    for (const r of AT_SLASH) if (i > 0) out.add(pre + r + "/" + post);
  }
  for (const r of [...APPENDS, ...AT_SLASH]) out.add(base + r);
  // Case and percent-encoding of each segment's letters.
  const segs = base.split("/");
  segs.forEach((seg, k) => {
    if (!seg) return;
    const at = (s) => segs.map((x, j) => (j === k ? s : x)).join("/");
    out.add(at(seg.toUpperCase()));
    out.add(at(seg[0].toUpperCase() + seg.slice(1)));
    out.add(at(`%${seg.charCodeAt(0).toString(16)}${seg.slice(1)}`));
    out.add(at(`%${seg.charCodeAt(0).toString(16).toUpperCase()}${seg.slice(1)}`));
    out.add(at(`%25${seg.charCodeAt(0).toString(16)}${seg.slice(1)}`));
    out.add(at(seg + utf8("é")));
    out.add(at(`${seg}%C3%A9`));
  });
  // Climbing out of this route into another one of the app.
  const depth = segs.length - 1;
  for (const [, other] of others) {
    if (other === base) continue;
    out.add(base + "/..".repeat(depth) + other);
    out.add(base + "/%2e%2e".repeat(depth) + other);
    out.add(base + "\\..".repeat(depth) + other.replaceAll("/", "\\"));
    out.add(base + "/%2e%2e%2f".repeat(depth) + other.slice(1));
  }
  return [...out];
}

/** The Host headers tried with each base target: ordinary, ones that put a path in
 * front of the target (workerd builds request.url from Host + target), and junk. */
function hosts(app, port) {
  const prefixes = new Set();
  for (const [, p] of BASES[app]) {
    const segs = p.split("/");
    for (let n = 2; n < segs.length; n++) prefixes.add(segs.slice(0, n).join("/"));
  }
  const out = [`127.0.0.1:${port}`];
  for (const p of prefixes) {
    out.push(`127.0.0.1:${port}${p}`, `127.0.0.1:${port}${p.replaceAll("/", "\\")}`, `127.0.0.1${p.replaceAll("/", "\\")}\\..`);
  }
  out.push("a b", "x:99999999", "x?", "x#", "[::1", "x%2F", "x\\", "x/..", "x\\..\\env");
  return out;
}

/** Sends one request byte for byte and reads the whole answer (Connection: close). */
function send(port, method, target, host, headers) {
  const head =
    `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n` +
    headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") +
    (method === "GET" || method === "DELETE" ? "" : "Content-Length: 0\r\n") +
    "Connection: close\r\n\r\n";
  return new Promise((resolve) => {
    const chunks = [];
    const s = connect(port, "127.0.0.1");
    s.setTimeout(10000, () => s.destroy(new Error("timeout")));
    s.on("data", (d) => chunks.push(d));
    s.on("error", (e) => resolve({ error: String(e) }));
    s.on("close", () => {
      const raw = Buffer.concat(chunks).toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (!m || end < 0) return resolve({ error: `no HTTP answer: ${JSON.stringify(raw.slice(0, 80))}` });
      const lines = raw.slice(0, end).split("\r\n").slice(1);
      const hdrs = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      let body = raw.slice(end + 4);
      if ((hdrs["transfer-encoding"] ?? "").includes("chunked")) body = unchunk(body);
      resolve({ status: Number(m[1]), headers: hdrs, body: Buffer.from(body, "latin1").toString("utf8") });
    });
    s.end(Buffer.from(head, "latin1"));
  });
}

function unchunk(s) {
  let out = "";
  for (;;) {
    const nl = s.indexOf("\r\n");
    const n = parseInt(s.slice(0, nl), 16);
    if (!(n > 0)) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    s = s.slice(nl + 2 + n + 2);
  }
}

async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]);
    }
  }));
}

let workerd;
before(async () => {
  workerd = await startWorkerd("differential");
});
after(() => workerd?.stop());

/** Sends the whole family for one app to the worker on `port`: the count of each
 * outcome, and every request that broke the invariant. */
async function runFamily(app, port) {
  const cases = [];
  for (const [method, base] of BASES[app]) {
    for (const target of family(base, BASES[app])) cases.push({ method, target, host: `127.0.0.1:${port}`, base });
    for (const host of hosts(app, port).slice(1)) cases.push({ method, target: base, host, base });
  }
  const requests = cases.flatMap((c) => Object.entries(PRINCIPALS[app]).map(([who, headers]) => ({ ...c, who, headers })));
  const counts = {};
  const count = (k) => (counts[k] = (counts[k] ?? 0) + 1);
  const failures = [];
  const ranUnchanged = new Set(); // base paths whose own handler ran for some principal
  await pool(requests, 8, async (q) => {
    const r = await send(port, q.method, q.target, q.host, q.headers);
    const where = `${q.who}: ${q.method} ${JSON.stringify(q.target)} Host ${JSON.stringify(q.host)}`;
    if (r.error) {
      count("no answer");
      failures.push(`${where}: ${r.error}`);
      return;
    }
    const reason = r.headers["x-admit-reason"];
    if (reason) return count(`refused by admit: ${r.status} ${reason}`);
    let body;
    try {
      body = JSON.parse(r.body);
    } catch {
      body = undefined;
    }
    if (body === undefined || !("handler" in body)) {
      // Not the worker's: workerd's own answer (400 "invalid URI" before the worker runs).
      if (r.status === 400) return count("refused by workerd: 400");
      count(`other: ${r.status}`);
      failures.push(`${where}: ${r.status} ${r.body.slice(0, 200)}`);
      return;
    }
    if (body.handler === null) return count(`allowed, no handler: ${r.status}`);
    count("allowed, handler ran");
    if (q.target === q.base && q.host === `127.0.0.1:${port}`) ranUnchanged.add(q.base);
    const exp = EXPECTED[app][body.handler];
    const report = `handler ${body.handler} params ${JSON.stringify(body.params)}; admit rule ${JSON.stringify(body.rule)} constraints ${JSON.stringify(body.constraints)}`;
    if (!exp) failures.push(`${where}: unknown handler: ${report}`);
    else if (body.rule !== exp.rule) failures.push(`${where}: rule is not ${exp.rule}: ${report}`);
    else if (exp.owner && body.constraints && "owner" in body.constraints && body.constraints.owner !== body.params[exp.owner]) {
      failures.push(`${where}: owner constraint is not the handler's ${exp.owner}: ${report}`);
    }
  });
  const summary = Object.entries(counts).sort().map(([k, v]) => `${k}: ${v}`);
  const outcomes = `${requests.length} requests (${cases.length} targets and hosts x ${Object.keys(PRINCIPALS[app]).length} principals); ${summary.join("; ")}`;
  return { outcomes, failures, ranUnchanged };
}

for (const app of Object.keys(BASES)) {
  test(`${app}: every allowed request ran the handler of the rule admit matched, with admit's owner`, async (t) => {
    const { outcomes, failures, ranUnchanged } = await runFamily(app, workerd.ports[app]);
    t.diagnostic(`outcomes ${app}: ${outcomes}`);
    assert.deepEqual(failures.slice(0, 25), [], `${failures.length} requests broke the invariant`);
    // Not vacuous: each base path (but /env, which is denied) reached its handler.
    const expectRan = BASES[app].map(([, p]) => p).filter((p) => p !== "/env");
    assert.deepEqual(expectRan.filter((p) => !ranUnchanged.has(p)), [], "base paths whose handler never ran");
  });
}

test("the test catches the binding's old path (request.url's text after the host)", async (t) => {
  const { outcomes, failures } = await runFamily("sm", workerd.ports.smOld);
  t.diagnostic(`outcomes sm with the old path: ${outcomes}; ${failures.length} broke the invariant`);
  // A Host of `127.0.0.1\api\v1\admin\users` and the target /health: the old binding
  // decided on /health (open), the router ran the admin handler.
  const admin = failures.filter((f) => f.startsWith("none: GET \"/health\"") && f.includes("handler read-user"));
  assert.ok(admin.length > 0, `no unauthenticated admin request found; failures:\n${failures.slice(0, 10).join("\n")}`);
});
