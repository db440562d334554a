// The example worker in a real Workers runtime: workerd (from npm) serves worker.js with
// the admit-wasm package (workerd.mjs), with the Model Registry policy (CORS), SkillMeat's
// and FetchML's, on 127.0.0.1; the tests make real HTTP requests, preflights included.
// Needs bindings-wasm/pkg (bindings-wasm/build.sh) and `npm install` here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FM_KEYS, MR_TOKEN, SM_KEY, startWorkerd } from "./workerd.mjs";

const TOKENS = JSON.parse(readFileSync(new URL("../../tests/fixtures/tokens.json", import.meta.url), "utf8"));

let workerd;
let mr;
let sm;
let fm;
let dl;

before(async () => {
  workerd = await startWorkerd("worker");
  ({ mr, sm, fm, delegated: dl } = workerd);
});

after(() => workerd?.stop());

test("model registry: no token is 401 Authentication required", async () => {
  const r = await fetch(`${mr}/api/models`);
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), { detail: "Authentication required", status_code: 401 });
  assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
});

test("model registry: a wrong token is 403", async () => {
  const r = await fetch(`${mr}/api/models`, { headers: { Authorization: "Bearer wrong" } });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).detail, "Invalid authentication credentials");
});

test("model registry: the token passes and the handler runs", async () => {
  const r = await fetch(`${mr}/api/models?limit=5`, { headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.principal.id, "api-client");
  assert.equal(body.rule, "api");
});

test("model registry: a preflight from an allowed origin is 204 with CORS headers", async () => {
  const r = await fetch(`${mr}/api/models`, {
    method: "OPTIONS",
    headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.match(r.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match((r.headers.get("vary") ?? "").toLowerCase(), /origin/);
});

test("model registry: a preflight from another origin is 403 Origin not allowed", async () => {
  const r = await fetch(`${mr}/api/models`, {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).detail, "Origin not allowed");
  assert.equal(r.headers.get("access-control-allow-origin"), null);
});

test("model registry: an allowed origin's actual request gets Access-Control-Allow-Origin", async () => {
  const r = await fetch(`${mr}/api/models`, { headers: { Origin: "https://app.example.com", Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
});

test("model registry: /env is never served", async () => {
  const r = await fetch(`${mr}/env`, { headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 404);
});

test("skillmeat: /health is open", async () => {
  const r = await fetch(`${sm}/health`);
  assert.equal(r.status, 200);
});

test("skillmeat: no credentials is 401 Missing authentication token", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`);
  assert.equal(r.status, 401);
  assert.match(await r.text(), /Missing authentication token/);
});

test("skillmeat: the API key lists artifacts", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`, { headers: { "X-API-Key": SM_KEY } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.rule, "artifacts-read");
  assert.equal(body.principal.authenticator, "api-key");
});

test("skillmeat: a wrong API key is 401 Invalid or expired token", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`, { headers: { "X-API-Key": "sk-wrong" } });
  assert.equal(r.status, 401);
  assert.match(await r.text(), /Invalid or expired token/);
});

test("skillmeat: a Clerk RS256 token, verified by workerd's WebCrypto, is team_admin; a tampered one is 401", async () => {
  // The worker decides at the clock's `now`; the fixtures' tokens are valid around
  // 1790000000 (2026-09-21). The core checks the signature before the claims, so a
  // genuine token past its `exp` is `expired` only once WebCrypto said its signature is
  // valid, and a tampered one is `invalid_credentials` whatever the clock.
  const ok = await fetch(`${sm}/api/v1/artifacts`, { headers: { Authorization: `Bearer ${TOKENS.clerk_org_admin}` } });
  const sig = TOKENS.clerk_org_admin.split(".");
  const raw = Buffer.from(sig[2], "base64url");
  raw[raw.length - 1] ^= 1;
  const bad = await fetch(`${sm}/api/v1/artifacts`, { headers: { Authorization: `Bearer ${sig[0]}.${sig[1]}.${raw.toString("base64url")}` } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get("x-admit-reason"), "invalid_credentials");
  const now = Math.floor(Date.now() / 1000);
  if (now < 1790000060) {
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).principal.roles[0], "team_admin");
  } else {
    assert.equal(ok.status, 401);
    assert.equal(ok.headers.get("x-admit-reason"), "expired");
  }
});

test("fetchml: bob reads his own job, and the handler's owner is the one admit checked", async () => {
  const r = await fetch(`${fm}/api/v1/jobs/bob/7`, { headers: { "X-API-Key": FM_KEYS.bob } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.handler, "read-job");
  assert.equal(body.rule, "read-job");
  assert.deepEqual(body.params, { owner: "bob", job: "7" });
  assert.deepEqual(body.constraints, { owner: "bob" });
  // Percent-encoded, the owner is still bob to both admit and the router.
  const enc = await (await fetch(`${fm}/api/v1/jobs/%62ob/7`, { headers: { "X-API-Key": FM_KEYS.bob } })).json();
  assert.deepEqual([enc.params.owner, enc.constraints.owner], ["bob", "bob"]);
});

test("fetchml: bob may not read alice's job; alice (admin) reads any, unconstrained", async () => {
  const r = await fetch(`${fm}/api/v1/jobs/alice/3`, { headers: { "X-API-Key": FM_KEYS.bob } });
  assert.equal(r.status, 403);
  const a = await fetch(`${fm}/api/v1/jobs/bob/7`, { headers: { "X-API-Key": FM_KEYS.alice } });
  assert.equal(a.status, 200);
  const body = await a.json();
  assert.equal(body.handler, "read-job");
  assert.deepEqual(body.constraints, {});
});

test("fetchml: what the URL parser keeps and routers read differently is 400", async () => {
  for (const path of ["/api/v1/jobs/bob%2F7", "/api/v1/jobs/bob/7/", "/api/v1/jobs//bob/7", "/api/v1/jobs/bob/7%00"]) {
    const r = await fetch(`${fm}${path}`, { headers: { "X-API-Key": FM_KEYS.bob } });
    assert.equal(r.status, 400, path);
    assert.equal((await r.json()).error, "malformed_request", path);
  }
});

test("the router is exact: an allowed path with no handler is 404, another method 405", async () => {
  const r = await fetch(`${mr}/api/models/m1/extra`, { headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 404);
  assert.equal((await r.json()).handler, null);
  const m = await fetch(`${mr}/api/health`, { method: "DELETE", headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(m.status, 405);
});

test("delegated: the worker's async session check names the principal; the owner rule applies", async () => {
  const calls = async () => (await (await fetch(`${dl}/_calls`)).json()).calls;
  const before = await calls();
  let r = await fetch(`${dl}/notes/alice/1`, { headers: { Cookie: "sid=s-alice" } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { principal: "alice", kind: "delegated", roles: ["writer", "reader"], constraints: { owner: "alice" } });
  r = await fetch(`${dl}/notes/bob/1`, { headers: { Cookie: "sid=s-alice" } });
  assert.deepEqual([r.status, r.headers.get("x-admit-reason")], [403, "insufficient_scope"]);
  r = await fetch(`${dl}/notes/alice/1`, { headers: { Cookie: "sid=s-old" } });
  assert.deepEqual([r.status, r.headers.get("x-admit-reason")], [401, "expired"]);
  assert.ok(!(await r.text()).includes("s-old"));
  r = await fetch(`${dl}/notes/alice/1`, { headers: { Cookie: "sid=unknown" } });
  assert.deepEqual([r.status, r.headers.get("x-admit-reason")], [401, "invalid_credentials"]);
  // A cookie session on POST: refused without a same-origin signal, before any check.
  const mid = await calls();
  r = await fetch(`${dl}/notes`, { method: "POST", headers: { Cookie: "sid=s-alice" } });
  assert.deepEqual([r.status, r.headers.get("x-admit-reason")], [403, "origin_not_allowed"]);
  assert.equal(await calls(), mid);
  r = await fetch(`${dl}/notes`, { method: "POST", headers: { Cookie: "sid=s-alice", "Sec-Fetch-Site": "same-origin" } });
  assert.equal(r.status, 200);
  assert.equal(await calls(), before + 5, "one check per request that carried a session");
});
