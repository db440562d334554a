// Delegated authenticators: the host's check (engine.setCheck) names the principal of a
// credential only the application can check (a session row, RFC 7662 introspection);
// the core still selects by presence, refuses instead of falling through, and applies
// roles, scopes, owner rules and the cross-site rule for cookies. A check that is
// missing, throws or returns anything but a verdict is a refusal, reported to the log
// without the credential.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, hashKey } from "admit-wasm";

const NOW = 1790000000;
const API_KEY = "test-only-delegated-api-key";

export const POLICY = `
scopes = ["notes:read", "notes:write", "admin"]
[roles.reader]
scopes = ["notes:read"]
[roles.writer]
scopes = ["notes:write"]
includes = ["reader"]

[[authenticators]]
type = "delegated"
id = "sessions"
sources = [{ cookie = "sid" }, { header = "Authorization", prefix = "Session " }]

[[authenticators]]
type = "api_key"
id = "keys"
keys = [{ id = "ci", sha256 = "${hashKey(API_KEY)}", roles = ["reader"] }]

[[authenticators]]
type = "anonymous"
id = "guest"
principal = "guest"

[[routes]]
methods = ["GET"]
path = "/notes/{owner}/{id}"
require = ["notes:read"]
owner = { param = "owner", unless = ["admin"] }
authenticators = ["sessions"]

[[routes]]
methods = ["POST"]
path = "/notes"
require = ["notes:write"]
authenticators = ["sessions"]

[[routes]]
methods = ["GET"]
path = "/ci"
require = ["notes:read"]
authenticators = ["keys"]

[[routes]]
methods = ["GET"]
path = "/feed"
`;

/** The application's session table. */
const SESSIONS = new Map([
  ["s-alice", { id: "alice", roles: ["writer"] }],
  ["s-bob", { id: "bob", roles: ["reader"], scopes: ["not-declared"] }],
  ["s-root", { id: "root", scopes: ["admin", "notes:read"] }],
  ["s-typo", { id: "carol", roles: ["wirter"] }],
  ["s-old", { refuse: "expired" }],
  ["s-gone", { refuse: "revoked" }],
]);

/** An engine whose log is kept in `logs`, with the session check registered (sync
 * unless `async`), counting its calls in `calls` (credential and info of each). */
function setup({ check = "sync", log = true } = {}) {
  const logs = [];
  const calls = [];
  const engine = new Engine(POLICY, { log: log ? (e) => logs.push(e) : undefined });
  const lookup = (credential, info) => {
    calls.push([credential, info]);
    return SESSIONS.get(credential) ?? null;
  };
  if (check === "sync") engine.setCheck("sessions", lookup);
  if (check === "async") {
    engine.setCheck("sessions", async (credential, info) => {
      await new Promise((r) => setTimeout(r, 1));
      return lookup(credential, info);
    });
  }
  return { engine, logs, calls };
}

const get = (path, headers = []) => ({ method: "GET", path, headers, now: NOW });
const cookie = (sid) => [["Cookie", `theme=dark; sid=${sid}`]];

for (const kind of ["sync", "async"]) {
  test(`a ${kind} check names the principal; roles, scopes and the owner rule apply`, async () => {
    const { engine, calls, logs } = setup({ check: kind });
    let d = await engine.decide(get("/notes/alice/1", cookie("s-alice")));
    assert.equal(d.allow, true, JSON.stringify(d));
    assert.deepEqual(
      [d.principal.id, d.principal.authenticator, d.principal.kind, d.principal.roles],
      ["alice", "sessions", "delegated", ["writer", "reader"]],
    );
    assert.deepEqual(d.constraints, { owner: "alice" });
    assert.deepEqual(calls, [["s-alice", { authenticator: "sessions" }]]);
    // The owner rule applies to the host's principal.
    d = await engine.decide(get("/notes/bob/1", cookie("s-alice")));
    assert.deepEqual([d.allow, d.status, d.reason], [false, 403, "insufficient_scope"]);
    // An undeclared scope does not count; a declared direct one lifts the owner limit.
    d = await engine.decide(get("/notes/bob/1", cookie("s-bob")));
    assert.deepEqual([d.allow, d.principal.scopes], [true, ["notes:read"]]);
    d = await engine.decide(get("/notes/bob/1", [["Authorization", "Session s-root"]]));
    assert.deepEqual([d.allow, d.principal.id, d.constraints], [true, "root", {}]);
    // A reader may not write.
    d = await engine.decide({ method: "POST", path: "/notes", headers: [...cookie("s-bob"), ["Sec-Fetch-Site", "same-origin"]], now: NOW });
    assert.deepEqual([d.allow, d.status, d.reason], [false, 403, "insufficient_scope"]);
    assert.deepEqual(logs, []);
  });
}

test("refusals keep their reason, and a refused credential never falls through to the anonymous one", async () => {
  const { engine, logs } = setup();
  for (const [sid, reason] of [
    ["s-old", "expired"],
    ["s-gone", "revoked"],
    ["unknown-session", "invalid_credentials"], // the check returned null
    ["s-typo", "invalid_credentials"], // a role the policy does not define
  ]) {
    const d = await engine.decide(get("/feed", cookie(sid)));
    assert.deepEqual([d.allow, d.status, d.reason, d.principal], [false, 401, reason, null], sid);
    assert.ok(!JSON.stringify(d).includes(sid), `the decision shows the credential: ${JSON.stringify(d)}`);
  }
  const d = await engine.decide(get("/feed"));
  assert.equal(d.principal.id, "guest");
  assert.deepEqual(logs, []);
});

test("no check registered: a refusal, reported once per authenticator without the credential", async () => {
  const { engine, logs } = setup({ check: "none" });
  for (const sid of ["s-alice", "s-root"]) {
    const d = await engine.decide(get("/notes/alice/1", cookie(sid)));
    assert.deepEqual([d.allow, d.status, d.reason], [false, 401, "invalid_credentials"]);
  }
  assert.equal(logs.length, 1, JSON.stringify(logs));
  assert.deepEqual([logs[0].event, logs[0].authenticator], ["check_missing", "sessions"]);
  assert.match(logs[0].message, /setCheck/);
  assert.ok(!JSON.stringify(logs).includes("s-alice"));
  // Registering it afterwards: the next decision asks it.
  engine.setCheck("sessions", (c) => SESSIONS.get(c) ?? null);
  assert.equal((await engine.decide(get("/notes/alice/1", cookie("s-alice")))).allow, true);
  // Removing it: refused again.
  engine.setCheck("sessions", null);
  assert.equal((await engine.decide(get("/notes/alice/1", cookie("s-alice")))).allow, false);
});

test("a check that throws or rejects is a refusal; the log names the error, never the credential", async () => {
  const secret = "s-alice";
  for (const [what, check] of [
    ["throws", (c) => { throw new Error(`database down while looking up ${c}`); }],
    ["rejects", async (c) => { throw new TypeError(`no row for ${c}!`); }],
    ["throws a string", (c) => { throw c; }],
    ["returns a rejected Promise", (c) => Promise.reject(new Error(c))],
  ]) {
    const logs = [];
    const engine = new Engine(POLICY, { log: (e) => logs.push(e) });
    engine.setCheck("sessions", check);
    const d = await engine.decide(get("/notes/alice/1", cookie(secret)));
    assert.deepEqual([d.allow, d.status, d.reason], [false, 401, "invalid_credentials"], what);
    assert.ok(!JSON.stringify(d).includes(secret), what);
    assert.equal(logs.length, 1, what);
    assert.deepEqual([logs[0].event, logs[0].authenticator], ["check_threw", "sessions"], what);
    assert.ok(!logs[0].message.includes(secret), `${what}: ${logs[0].message}`);
    if (what === "throws") assert.match(logs[0].message, /Error: database down while looking up \[credential\]/);
  }
});

test("a check that returns anything but a verdict is a refusal, never an allow", async () => {
  const secret = "s-alice";
  const garbage = [
    undefined,
    "alice",
    42,
    true,
    [],
    { id: "" },
    { id: 5 },
    { id: "alice", roles: "writer" },
    { id: "alice", roles: ["writer", 7] },
    { id: "alice", scopes: "admin" },
    { id: "alice", role: ["writer"] }, // a typo of roles
    { user: "alice" },
    { refuse: "insufficient_scope" },
    { refuse: "expired", id: "alice" },
    { [secret]: true }, // a field named after the credential: redacted in the log
    new Map([["id", "alice"]]),
    Promise.resolve({ id: "alice", roles: ["writer"], extra: 1 }),
    { get id() { throw new Error(secret); } }, // a getter that throws (its message redacted)
  ];
  for (const value of garbage) {
    const logs = [];
    const engine = new Engine(POLICY, { log: (e) => logs.push(e) });
    engine.setCheck("sessions", () => value);
    const d = await engine.decide(get("/notes/alice/1", cookie(secret)));
    let label;
    try {
      label = `${typeof value} ${JSON.stringify(value)}`;
    } catch {
      label = "an object whose getter throws";
    }
    assert.deepEqual([d.allow, d.status, d.reason, d.principal], [false, 401, "invalid_credentials", null], label);
    assert.equal(logs.length, 1, label);
    assert.equal(logs[0].event, "check_invalid", label);
    assert.ok(!logs[0].message.includes(secret), `${label}: ${logs[0].message}`);
  }
});

test("a verdict is read once: the value checked is the value given to the core", async () => {
  const { engine, logs } = setup({ check: "none" });
  let reads = 0;
  engine.setCheck("sessions", () => ({
    get id() {
      return reads++ === 0 ? "alice" : 42;
    },
    roles: ["writer"],
  }));
  const decision = await engine.decide(get("/notes/alice/1", cookie("s-alice")));
  assert.deepEqual([decision.allow, decision.principal.id, decision.principal.roles, reads], [true, "alice", ["writer", "reader"], 1]);
  assert.deepEqual(logs, []);
});

test("the default log is console.warn, and a log that throws changes nothing", async (t) => {
  const warned = [];
  t.mock.method(console, "warn", (...args) => warned.push(args.join(" ")));
  const engine = new Engine(POLICY);
  engine.setCheck("sessions", (c) => { throw new Error(c); });
  const d = await engine.decide(get("/notes/alice/1", cookie("s-alice")));
  assert.equal(d.allow, false);
  assert.equal(warned.length, 1);
  assert.match(warned[0], /^admit: the check for "sessions" threw Error: \[credential\]/);
  const quiet = new Engine(POLICY, { log: null });
  assert.equal((await quiet.decide(get("/notes/alice/1", cookie("s-alice")))).allow, false);
  assert.equal(warned.length, 1, "log: null reports nothing");
  const loud = new Engine(POLICY, { log: () => { throw new Error("log broken"); } });
  loud.setCheck("sessions", () => "garbage");
  assert.equal((await loud.decide(get("/notes/alice/1", cookie("s-alice")))).reason, "invalid_credentials");
});

test("a cookie-borne session on POST needs a same-origin signal; the check is not asked without one", async () => {
  const { engine, calls } = setup();
  const post = (headers) => ({ method: "POST", path: "/notes", headers: [...cookie("s-alice"), ...headers], now: NOW });
  let d = await engine.decide(post([]));
  assert.deepEqual([d.allow, d.status, d.reason], [false, 403, "origin_not_allowed"]);
  d = await engine.decide(post([["Sec-Fetch-Site", "cross-site"], ["Origin", "https://evil.example"]]));
  assert.deepEqual([d.allow, d.reason], [false, "origin_not_allowed"]);
  assert.equal(calls.length, 0);
  d = await engine.decide(post([["Sec-Fetch-Site", "same-origin"]]));
  assert.deepEqual([d.allow, d.principal.id], [true, "alice"]);
  // A Fetch Request, as a worker gets it.
  const request = new Request("https://notes.example/notes", {
    method: "POST",
    headers: { Cookie: "sid=s-alice", "Sec-Fetch-Site": "same-origin" },
  });
  d = await engine.decideRequest(request, { now: NOW });
  assert.deepEqual([d.allow, d.principal.id], [true, "alice"]);
  d = await engine.decideRequest(new Request("https://notes.example/notes", { method: "POST", headers: { Cookie: "sid=s-alice" } }), { now: NOW });
  assert.equal(d.reason, "origin_not_allowed");
  // Not a cookie: the Authorization header needs no same-origin signal.
  d = await engine.decide({ method: "POST", path: "/notes", headers: [["Authorization", "Session s-alice"]], now: NOW });
  assert.equal(d.allow, true);
});

test("a route for other authenticators, a public answer or no credential never calls the check", async () => {
  const { engine, calls } = setup();
  let d = await engine.decide(get("/ci", [...cookie("s-alice"), ["X-API-Key", API_KEY]]));
  assert.deepEqual([d.allow, d.principal.id], [true, "ci"]);
  d = await engine.decide(get("/ci", cookie("s-alice")));
  assert.deepEqual([d.allow, d.reason], [false, "missing_credentials"]);
  d = await engine.decide(get("/feed"));
  assert.equal(d.principal.id, "guest");
  assert.equal(calls.length, 0);
});

test("each request asks the check again: no verdict is kept between requests", async () => {
  const { engine, calls } = setup();
  let alive = true;
  engine.setCheck("sessions", (c) => {
    calls.push(c);
    return alive ? SESSIONS.get(c) ?? null : { refuse: "revoked" };
  });
  assert.equal((await engine.decide(get("/notes/alice/1", cookie("s-alice")))).allow, true);
  alive = false; // the session is revoked in the database
  const d = await engine.decide(get("/notes/alice/1", cookie("s-alice")));
  assert.deepEqual([d.allow, d.reason], [false, "revoked"]);
  assert.deepEqual(calls, ["s-alice", "s-alice"]);
});

test("concurrent decisions each get their own principal", async () => {
  const { engine, calls } = setup({ check: "async" });
  const who = ["s-alice", "s-bob", "s-root", "s-old", "nope"];
  const ds = await Promise.all(who.map((sid) => engine.decide(get("/notes/bob/1", cookie(sid)))));
  assert.deepEqual(
    ds.map((d) => [d.allow, d.reason, d.principal?.id ?? null]),
    [
      [false, "insufficient_scope", "alice"],
      [true, "ok", "bob"],
      [true, "ok", "root"],
      [false, "expired", null],
      [false, "invalid_credentials", null],
    ],
  );
  assert.equal(calls.length, who.length);
});

test("setCheck refuses what is not a check of a delegated authenticator", () => {
  const logs = [];
  const engine = new Engine(POLICY, { log: (e) => logs.push(e) });
  const bad = (fn, code) => assert.throws(fn, (e) => e.code === code);
  bad(() => engine.setCheck("sessions", "not a function"), "invalid_argument");
  bad(() => engine.setCheck("sessions", {}), "invalid_argument");
  bad(() => engine.setCheck(7, () => null), "invalid_argument");
  bad(() => engine.setCheck("keys", () => null), "unsupported");
  bad(() => engine.setCheck("guest", () => null), "unsupported");
  assert.throws(() => new Engine(POLICY, { log: "console" }), (e) => e.code === "invalid_argument");
  // An id no enabled authenticator has (a typo, or disabled by the policy): kept, reported.
  engine.setCheck("sesions", () => null);
  assert.deepEqual([logs.length, logs[0]?.event, logs[0]?.authenticator], [1, "check_unused", "sesions"]);
});

test("a disabled delegated authenticator never asks its check", async () => {
  const text = POLICY.replace('id = "sessions"', 'id = "sessions"\nenabled = false').replace(/authenticators = \["sessions"\]/g, "");
  const logs = [];
  const engine = new Engine(text, { log: (e) => logs.push(e) });
  let called = 0;
  engine.setCheck("sessions", () => { called++; return { id: "alice", roles: ["writer"] }; });
  assert.equal(logs[0]?.event, "check_unused");
  const d = await engine.decide(get("/feed", cookie("s-alice")));
  assert.equal(d.principal.id, "guest");
  assert.equal(called, 0);
});

test("explain runs the host's check as decide does, and the trace names its principal, never the credential", async () => {
  const engine = new Engine(POLICY, { log: null });
  const seen = [];
  engine.setCheck("sessions", (credential) => {
    seen.push(credential);
    return credential === "s3cret-session" ? { id: "ann", roles: ["reader"] } : null;
  });
  const req = (sid) => ({ method: "GET", path: "/notes/ann/1", headers: [["Authorization", `Session ${sid}`]], now: NOW });
  for (const [sid, allow] of [["s3cret-session", true], ["other-session", false]]) {
    const e = await engine.explain(req(sid));
    assert.deepEqual(e.decision, await engine.decide(req(sid)));
    assert.equal(e.decision.allow, allow);
    const first = e.trace.authenticators[0];
    assert.equal(first.id, "sessions");
    assert.equal(first.verdict, allow ? "matched" : "refused");
    assert.equal(first.principal, allow ? "ann" : null);
    if (allow) assert.equal(e.trace.owner.outcome, "owner");
    assert.ok(!JSON.stringify(e).includes(sid), "the credential is in the explanation");
  }
  assert.deepEqual(seen, ["s3cret-session", "s3cret-session", "other-session", "other-session"]);
});
