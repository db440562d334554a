// The key set helper (syncJwks, refetchJwks, decideWithJwks) against a real JWKS server
// on 127.0.0.1 with Node's own fetch: rotating sets with Cache-Control, slow answers,
// 500s, garbage, oversized bodies, redirects, and HTTPS with a certificate made by this
// test (trusted through NODE_EXTRA_CA_CERTS in a child process). Then keys files:
// setKeys, keysFiles. The helper's clock is the test's (`clock`), so "stale" needs no
// waiting; the assertions are on decisions and on the requests the server counted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkJwksUrl, decideWithJwks, Engine, fetchRules, refetchJwks, refreshAfter, retryAfter, syncJwks } from "admit-wasm";
import { ROOT, TOKENS } from "./helpers.mjs";

const read = (p) => readFileSync(join(ROOT, p), "utf8");
const SKILLMEAT = read("examples/policies/skillmeat.toml");
const JWKS = read("tests/fixtures/jwks.json");
const ROTATED = read("tests/fixtures/jwks-rotated.json");
const ISSUER = "https://test-instance.clerk.accounts.dev";
const NOW = 1790000000;

let server;
let base;
const state = new Map();
const hits = new Map();

before(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const s = { body: JWKS, status: 200, cacheControl: "public, max-age=600", delayMs: 0, headers: {}, ...state.get(path) };
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(s.status, { "content-type": "application/json", "cache-control": s.cacheControl, ...s.headers });
      res.end(s.body);
    };
    if (s.delayMs > 0) setTimeout(answer, s.delayMs).unref();
    else answer();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** A fresh path on the server (a fresh entry in the module's cache), and an engine of
 * SkillMeat's policy whose CLERK_JWKS_URL is it. */
let paths = 0;
function setup(serve = {}) {
  const path = `/t${++paths}/jwks.json`;
  state.set(path, serve);
  const url = `${base}${path}`;
  const engine = () => new Engine(SKILLMEAT, { env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: ISSUER, CLERK_AUDIENCE: "skillmeat-api", CLERK_JWKS_URL: url } });
  const t = { now: 1_000_000_000_000 };
  const events = [];
  const pending = [];
  const options = { clock: () => t.now, log: (e) => events.push(e), waitUntil: (p) => pending.push(p) };
  return { path, url, engine, t, events, pending, options, count: () => hits.get(path) ?? 0, serve: (s) => state.set(path, s) };
}

const req = (token) => ({ method: "GET", path: "/api/v1/artifacts", headers: [["Authorization", `Bearer ${token}`]], now: NOW });
const decide = (engine, token, options) => decideWithJwks(engine, req(token), options);

function withKid(token, kid) {
  const [h, ...rest] = token.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url").toString());
  header.kid = kid;
  return [Buffer.from(JSON.stringify(header)).toString("base64url"), ...rest].join(".");
}

test("the fetch rules are the core's", () => {
  const r = fetchRules();
  assert.deepEqual(
    [r.timeoutSecs, r.maxBytes, r.defaultMaxAge, r.unknownKeyIntervalSecs, r.minRefreshSecs, r.maxRefreshSecs],
    [5, 1048576, 300, 30, 60, 3600],
  );
  assert.equal(checkJwksUrl("https://issuer.example/.well-known/jwks.json"), null);
  assert.equal(checkJwksUrl("http://127.0.0.1:8080/jwks"), null);
  assert.match(checkJwksUrl("http://issuer.example/jwks"), /https/);
  const e = checkJwksUrl("https://user:secret-token@issuer.example/");
  assert.ok(e && !e.includes("secret-token"));
  assert.equal(refreshAfter("max-age=1000"), 900);
  assert.equal(refreshAfter(null), 270);
  assert.equal(retryAfter(3), 4);
  assert.throws(() => checkJwksUrl(5), (x) => x.code === "invalid_argument");
});

test("without the helper a jwks_url authenticator accepts nothing; jwksUrls lists it", async () => {
  const s = setup();
  const e = s.engine();
  assert.deepEqual(e.jwksUrls(), [["clerk", s.url]]);
  assert.deepEqual(e.keysFiles(), []);
  assert.equal((await e.decide(req(TOKENS.clerk_org_admin))).reason, "unknown_key");
  assert.equal(s.count(), 0, "the engine fetches nothing itself");
});

test("the first decision fetches the set, once for every request and every engine of the policy", async () => {
  const s = setup();
  const a = s.engine();
  const b = s.engine();
  const d = await decide(a, TOKENS.clerk_org_admin, s.options);
  assert.equal(d.allow, true, d.reason);
  assert.equal(d.principal.roles[0], "team_admin");
  assert.equal((await decide(a, TOKENS.clerk_org_admin, s.options)).allow, true);
  assert.equal((await decide(b, TOKENS.clerk_org_admin, s.options)).allow, true);
  // a Fetch Request too, with peer and now as decideRequest takes them
  const r = new Request("http://h/api/v1/artifacts", { headers: { Authorization: `Bearer ${TOKENS.clerk_org_admin}` } });
  assert.equal((await decideWithJwks(b, r, { ...s.options, now: NOW, peer: "10.0.0.1" })).allow, true);
  assert.equal(s.count(), 1);
  assert.deepEqual(s.events.map((e) => e.event), ["fetched"]);
  assert.equal(s.events[0].keys, 4);
});

test("a stale set is refreshed in the background per Cache-Control; 500s and garbage keep the last good set, with backoff", async () => {
  const s = setup({ cacheControl: "max-age=100" }); // refresh after 90 s
  const e = s.engine();
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true);
  s.serve({ body: ROTATED, cacheControl: "max-age=100" });
  s.t.now += 89_000;
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true);
  assert.equal(s.count(), 1, "not stale yet");
  s.t.now += 2_000;
  // Stale: this decision is made with the set at hand, and the refresh runs beside it.
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true);
  assert.equal(s.pending.length, 1);
  assert.equal(await s.pending.pop(), true);
  assert.equal(s.count(), 2);
  assert.equal((await e.decide(req(TOKENS.clerk_rotated_kid))).allow, true, "the rotated set is in force");
  assert.equal((await e.decide(req(TOKENS.clerk_org_admin))).reason, "unknown_key");

  // The issuer fails: 500, then garbage, then a set with no usable key.
  s.serve({ status: 500, body: "oops" });
  s.t.now += 91_000;
  await syncJwks(e, s.options);
  await Promise.all(s.pending.splice(0));
  assert.equal(s.count(), 3);
  assert.equal((await e.decide(req(TOKENS.clerk_rotated_kid))).allow, true, "the last good set stays");
  await syncJwks(e, s.options);
  assert.equal(s.count(), 3, "backing off (retryAfter(1) = 1 s)");
  s.serve({ body: "{ not json" });
  s.t.now += 1_000;
  await syncJwks(e, s.options);
  await Promise.all(s.pending.splice(0));
  assert.equal(s.count(), 4);
  s.t.now += 1_000;
  await syncJwks(e, s.options);
  assert.equal(s.count(), 4, "backing off (retryAfter(2) = 2 s)");
  s.serve({ body: read("tests/fixtures/jwks-unusable.json") });
  s.t.now += 1_000;
  await syncJwks(e, s.options);
  await Promise.all(s.pending.splice(0));
  assert.equal(s.count(), 5);
  assert.equal((await e.decide(req(TOKENS.clerk_rotated_kid))).allow, true, "the last good set stays");
  assert.deepEqual(s.events.map((x) => x.event), ["fetched", "fetched", "failed", "refused", "refused"]);
  assert.match(s.events[2].reason, /HTTP 500/);
  for (const x of s.events) assert.ok(!JSON.stringify(x).includes(s.url), "no event names the URL");
});

test("a slow issuer: a decision never waits past the timeout; a stale set's refresh does not hold a decision", async () => {
  const s = setup();
  const e = s.engine();
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true);
  s.serve({ delayMs: (fetchRules().timeoutSecs + 5) * 1000 });
  s.t.now += 600_000; // past 90% of max-age=600
  let settled = false;
  const d = await decide(e, TOKENS.clerk_org_admin, s.options);
  assert.equal(d.allow, true);
  assert.equal(s.pending.length, 1);
  const refresh = s.pending.pop().then((v) => ((settled = true), v));
  assert.equal(settled, false, "the decision came before the refresh ended");
  assert.equal(await refresh, false, "given up after the timeout");
  assert.match(s.events.at(-1).reason, /no answer within 5 s/);
  assert.equal((await e.decide(req(TOKENS.clerk_org_admin))).allow, true, "the last good set stays");

  // With no set yet, the first decision waits for the fetch, and no longer than the timeout.
  const f = setup({ delayMs: (fetchRules().timeoutSecs + 5) * 1000 });
  const first = await decide(f.engine(), TOKENS.clerk_org_admin, f.options);
  assert.equal(first.allow, false);
  assert.equal(first.reason, "unknown_key");
});

test("unknown_key: a rotated key passes after one refetch; a forged-kid flood makes at most one fetch per interval", async () => {
  const s = setup();
  const e = s.engine();
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true);
  s.serve({ body: JSON.stringify({ keys: [...JSON.parse(JWKS).keys, ...JSON.parse(ROTATED).keys] }) });
  const d = await decide(e, TOKENS.clerk_rotated_kid, s.options);
  assert.equal(d.allow, true, d.reason);
  assert.equal(s.count(), 2);

  const flood = () => Promise.all(Array.from({ length: 50 }, (_, i) => decide(e, withKid(TOKENS.clerk_org_admin, `forged-${i}`), s.options)));
  for (const x of await flood()) assert.equal(x.reason, "unknown_key");
  assert.equal(s.count(), 2, "the rotation's refetch opened the interval");
  s.t.now += fetchRules().unknownKeyIntervalSecs * 1000;
  for (const x of await flood()) assert.equal(x.reason, "unknown_key");
  assert.equal(s.count(), 3, "one fetch in the next interval, for 50 forged kids");
  assert.ok(s.events.some((x) => x.event === "rate_limited"));
  assert.equal(await refetchJwks(e, s.options), false, "rate-limited");
  assert.equal((await decide(e, TOKENS.clerk_org_admin, s.options)).allow, true, "the old key is still published");
});

test("oversized bodies, redirects and a URL the rules refuse change nothing", async () => {
  const big = setup({ body: JSON.stringify({ keys: [], pad: "x".repeat(fetchRules().maxBytes) }) });
  assert.equal((await decide(big.engine(), TOKENS.clerk_org_admin, big.options)).reason, "unknown_key");
  assert.match(big.events[0].reason, /over 1048576 bytes/);
  const chunked = setup({ body: JSON.stringify({ keys: [], pad: "x".repeat(fetchRules().maxBytes) }), headers: { "transfer-encoding": "chunked" } });
  assert.equal((await decide(chunked.engine(), TOKENS.clerk_org_admin, chunked.options)).reason, "unknown_key");
  assert.match(chunked.events[0].reason, /over 1048576 bytes/);
  const moved = setup({ status: 302, headers: { location: "http://169.254.169.254/latest" } });
  assert.equal((await decide(moved.engine(), TOKENS.clerk_org_admin, moved.options)).reason, "unknown_key");
  assert.match(moved.events[0].reason, /redirect/);
  // The policy refuses such a URL at load already; the helper checks again before fetching.
  assert.throws(
    () => new Engine(SKILLMEAT, { env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: ISSUER, CLERK_JWKS_URL: "http://issuer.example/jwks" } }),
    (e) => e.code === "policy_error",
  );
});

test("HTTPS: a certificate made here, trusted through NODE_EXTRA_CA_CERTS; untrusted, nothing is taken", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "admit-jwks-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  let served = 0;
  const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    served++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
    res.end(JWKS);
  });
  await new Promise((r) => tls.listen(0, "127.0.0.1", r));
  t.after(() => {
    tls.closeAllConnections();
    tls.close();
  });
  const url = `https://127.0.0.1:${tls.address().port}/.well-known/jwks.json`;
  const child = fileURLToPath(new URL("./jwks-child.mjs", import.meta.url));
  // Asynchronous: this process's server answers while the child waits for it.
  const run = (env) =>
    new Promise((resolve) =>
      execFile(process.execPath, [child, url, TOKENS.clerk_org_admin], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) =>
        resolve({ err, out: stdout.trim(), stderr }),
      ),
    );
  const trusted = await run({ NODE_EXTRA_CA_CERTS: cert });
  assert.equal(trusted.out, "ok", trusted.stderr);
  assert.equal(served, 1);
  const untrusted = await run({});
  assert.equal(untrusted.out, "unknown_key", untrusted.stderr);
  assert.match(untrusted.stderr, /failed: the fetch failed/);
});

// --- keys files ---

const FETCHML = read("examples/policies/fetchml.toml");
const KEYS = read("examples/policies/fetchml-keys.toml");
const ROTATED_KEYS = read("tests/fixtures/fetchml-keys-rotated.toml");
const job = (key) => ({ method: "GET", path: "/api/v1/jobs", headers: [["X-API-Key", key]], now: NOW });

test("keys files: a revocation takes effect on the next decision after setKeys; a bad file keeps the old keys", async () => {
  const e = new Engine(FETCHML, { files: { "fetchml-keys.toml": KEYS } });
  assert.deepEqual(e.keysFiles(), [["fetchml-keys", "fetchml-keys.toml"]]);
  assert.deepEqual(e.jwksUrls(), []);
  assert.equal((await e.decide(job("demo-researcher-key"))).allow, true);
  assert.equal((await e.decide(job("demo-frank-key"))).allow, false);
  const n = e.setKeys("fetchml-keys", ROTATED_KEYS);
  assert.ok(n >= 2);
  const revoked = await e.decide(job("demo-researcher-key"));
  assert.equal(revoked.allow, false);
  assert.equal(revoked.reason, "revoked");
  assert.equal((await e.decide(job("demo-frank-key"))).principal.id, "frank");

  // A file with a problem is refused whole: frank keeps working, bob stays revoked, and
  // the message quotes no value of the file.
  const secretish = "0".repeat(63) + "z";
  for (const bad of ["[[keys]]\nid = 5\n", `[[keys]]\nid = "x"\nsha256 = "${secretish}"\n`, '{"keys": [', "\u0000", "[[keys]]\nid = \"a\"\nsha256 = \"" + "a".repeat(64) + "\"\nroles = [\"nope\"]\n"]) {
    assert.throws(() => e.setKeys("fetchml-keys", bad), (x) => {
      assert.equal(x.code, "invalid");
      assert.ok(!x.message.includes(secretish), x.message);
      return true;
    });
  }
  assert.equal((await e.decide(job("demo-frank-key"))).allow, true);
  assert.equal((await e.decide(job("demo-researcher-key"))).reason, "revoked");
  assert.throws(() => e.setKeys("nope", KEYS), (x) => x.code === "unknown_authenticator");
  assert.throws(() => e.setKeys("fetchml-keys", 5), (x) => x instanceof TypeError && x.code === "invalid_argument");
  const rag = new Engine(read("examples/policies/rag-modulo.toml"), { env: { JWT_SECRET_KEY: "test-only-rag-modulo-secret-0123456789abcdef" } });
  assert.throws(() => rag.setKeys("rag-jwt", KEYS), (x) => x.code === "unsupported");
  // Without its file the policy does not load.
  assert.throws(() => new Engine(FETCHML), (x) => x.code === "policy_error" && /fetchml-keys\.toml/.test(x.message));
});
