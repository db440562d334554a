// The JS API and bad input from JavaScript: each wrong argument is a TypeError with
// code "invalid_argument"; hostile but well-typed input is a clear deny.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Engine, hashKey } from "admit-wasm";
import { RawEngine } from "../pkg/admit_wasm.js";
import { ROOT } from "./helpers.mjs";

const policy = (name) => readFileSync(join(ROOT, "examples/policies", name), "utf8");
const NOW = 1790000000;
const RAG_ENV = { JWT_SECRET_KEY: "test-only-rag-modulo-secret-0123456789abcdef" };
const MR_TOKEN = "test-only-model-registry-token";
const rag = new Engine(policy("rag-modulo.toml"), { env: RAG_ENV });
const mr = new Engine(policy("model-registry.toml"), {
  env: { AUTH_TOKEN: MR_TOKEN, ALLOWED_ORIGINS: "https://app.example.com" },
});

const badArg = (fn, text) =>
  assert.throws(fn, (e) => {
    assert.ok(e instanceof TypeError, `not a TypeError: ${e}`);
    assert.equal(e.code, "invalid_argument");
    if (text) assert.match(e.message, text);
    return true;
  });

test("policy errors carry a code and the place", () => {
  assert.throws(
    () => new Engine('scopes = ["a"]\n[[routes]]\nmethods = ["GET"]\npath = 7\n'),
    (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.code, "policy_error");
      assert.ok(e.errors.length >= 1);
      assert.equal(typeof e.line, "number");
      assert.equal(typeof e.column, "number");
      assert.equal(e.place, e.errors[0].place);
      assert.match(e.message, /line \d+, column \d+/);
      return true;
    },
  );
  assert.throws(() => new Engine("{", { format: "json" }), (e) => e.code === "policy_error");
});

test("the constructor refuses wrong arguments", () => {
  badArg(() => new Engine(undefined), /policyText must be a string, not undefined/);
  badArg(() => new Engine(42), /not a number/);
  badArg(() => new Engine(policy("rag-modulo.toml"), { format: "yaml" }), /format/);
  badArg(() => new Engine(policy("rag-modulo.toml"), { env: { JWT_SECRET_KEY: 5 } }), /env\.JWT_SECRET_KEY/);
  badArg(() => new Engine(policy("rag-modulo.toml"), { enviroment: {} }), /unknown field/);
  badArg(() => new Engine(policy("rag-modulo.toml"), null));
});

test("decide refuses wrong arguments", () => {
  badArg(() => rag.decide(undefined), /not undefined/);
  badArg(() => rag.decide("GET /"));
  badArg(() => rag.decide({ method: 1, path: "/" }), /method must be a string, not a number/);
  badArg(() => rag.decide({ method: "GET", path: 5 }), /path must be a string/);
  badArg(() => rag.decide({ method: "GET" }), /path must be a string, not undefined/);
  badArg(() => rag.decide({ method: "GET", path: "/", now: "1790000000" }), /now must be an integer/);
  badArg(() => rag.decide({ method: "GET", path: "/", now: 1.5 }), /now must be an integer/);
  badArg(() => rag.decide({ method: "GET", path: "/", now: NaN }), /now must be an integer/);
  badArg(() => rag.decide({ method: "GET", path: "/", now: 2 ** 60 }), /now must be an integer/);
  badArg(() => rag.decide({ method: "GET", path: "/", peer: 127001 }), /peer must be a string/);
  badArg(() => rag.decide({ method: "GET", path: "/", headers: [["X-A", 1]] }), /must be a string, not a number/);
  badArg(() => rag.decide({ method: "GET", path: "/", headers: [["X-A"]] }), /pair/);
  badArg(() => rag.decide({ method: "GET", path: "/", headers: { "X-A": 1 } }), /must be a string/);
  badArg(() => rag.decide({ method: "GET", path: "/", headers: "Authorization: x" }), /headers must be/);
  badArg(() => rag.decide({ method: "GET", path: "/", header: [] }), /unknown field "header"/);
});

test("headers as pairs, an object, a Map and a Headers give one decision", () => {
  const token = rag.issueToken("rag-jwt", "alice@example.com", { now: NOW });
  const forms = [
    [["Authorization", `Bearer ${token}`]],
    { authorization: `Bearer ${token}` },
    new Map([["Authorization", `Bearer ${token}`]]),
    new Headers({ Authorization: `Bearer ${token}` }),
  ];
  const ds = forms.map((headers) => rag.decide({ method: "GET", path: "/api/collections", headers, now: NOW }));
  for (const d of ds) {
    assert.equal(d.allow, true, JSON.stringify(d));
    assert.equal(d.principal.id, "alice@example.com");
    assert.deepEqual(d, ds[0]);
  }
});

test("hostile values are denied, never thrown", () => {
  const big = "x".repeat(1 << 20);
  const d = mr.decide({ method: "GET", path: "/api/health", headers: [["Authorization", `Bearer ${big}`]], now: NOW });
  assert.equal(d.allow, false);
  assert.equal(d.status, 400);
  assert.equal(d.reason, "malformed_request");
  const o = mr.decide({ method: "GET", path: "/api/health", headers: [["Origin", big]], now: NOW });
  assert.equal(o.allow, false);
  const m = rag.decide({ method: "GET\r\n", path: "/api/collections", now: NOW });
  assert.equal(m.reason, "malformed_request");
  assert.equal(m.status, 400);
  const p = rag.decide({ method: "GET", path: "x".repeat(1 << 20), now: NOW });
  assert.equal(p.allow, false);
  const s = rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", "Bearer \ud800.\udfff.x"]], now: NOW });
  assert.equal(s.allow, false);
  const e = rag.decide({ method: "", path: "", now: NOW });
  assert.equal(e.allow, false);
});

test("a NUL inside a field keeps every field in its place", () => {
  // The fields cross into WASM joined by NUL; a field holding one must not shift the rest.
  const auth = ["Authorization", `Bearer ${MR_TOKEN}`];
  for (const note of [["X-Note", "a\0b"], ["X-N\0ote", "ab"], ["X-Note", "\0"]]) {
    const d = mr.decide({ method: "POST", path: "/api/v1/models", headers: [note, auth], now: NOW });
    assert.equal(d.allow, true, JSON.stringify(d));
  }
  const p = mr.decide({ method: "GET", path: "/api/v1/models\0/x", headers: [auth], now: NOW });
  assert.equal(p.reason, "malformed_request");
  assert.match(p.message, /path/);
  // The raw joined call itself: a shape the wrapper never sends is a malformed request.
  const raw = new RawEngine(policy("model-registry.toml"), "toml", ["AUTH_TOKEN", MR_TOKEN], []);
  try {
    for (const fields of ["GET", "GET\0/api/v1/models\0Authorization", ""]) {
      const d = JSON.parse(raw.decideJoined(fields, undefined, NOW));
      assert.equal(d.allow, false, fields);
      assert.equal(d.reason, "malformed_request", fields);
    }
    const ok = JSON.parse(raw.decideJoined(`GET\0/api/v1/models\0${auth[0]}\0${auth[1]}`, undefined, NOW));
    assert.equal(ok.allow, true, JSON.stringify(ok));
  } finally {
    raw.free();
  }
});

test("now defaults to the clock, and a Date is accepted", () => {
  const token = rag.issueToken("rag-jwt", "bob@example.com");
  const req = { method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${token}`]] };
  assert.equal(rag.decide(req).allow, true);
  assert.equal(rag.decide({ ...req, now: new Date() }).allow, true);
  assert.equal(rag.decide({ ...req, now: Math.floor(Date.now() / 1000) + 100000 }).reason, "expired");
});

test("decideRequest takes a Fetch Request", () => {
  const pre = mr.decideRequest(
    new Request("http://127.0.0.1/api/models?x=1", {
      method: "OPTIONS",
      headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" },
    }),
    { now: NOW },
  );
  assert.equal(pre.reason, "preflight");
  assert.equal(pre.status, 204);
  const ok = mr.decideRequest(
    new Request("http://127.0.0.1/api/health", { headers: { Authorization: `Bearer ${MR_TOKEN}` } }),
    { now: NOW, peer: "127.0.0.1" },
  );
  assert.equal(ok.allow, true, JSON.stringify(ok));
  const wrong = mr.decideRequest(new Request("http://127.0.0.1/api/health", { headers: { Authorization: "Bearer no" } }));
  assert.equal(wrong.status, 403);
  badArg(() => mr.decideRequest({ url: 5 }), /Fetch API Request/);
  badArg(() => mr.decideRequest(undefined), /Fetch API Request/);
});

test("decideRequest decides on the URL's parsed pathname, which is what a worker routes on", () => {
  const sm = new Engine(policy("skillmeat.toml"), {
    env: { SKILLMEAT_AUTH_ENABLED: "true", SKILLMEAT_API_KEY_ENABLED: "true", SKILLMEAT_API_KEY: "sk-test" },
  });
  // workerd builds request.url from the Host header and the raw target: a Host of
  // `h\api\v1\admin\users` and a target of `/health` give this URL, whose pathname (what
  // the worker's router matches) is /api/v1/admin/users/health. The text after the first
  // `/` is /health (open): deciding on it would let the admin handler run unauthenticated.
  const url = "http://h\\api\\v1\\admin\\users/health";
  assert.equal(new URL(url).pathname, "/api/v1/admin/users/health");
  const d = sm.decideRequest({ url, method: "GET", headers: {} }, { now: NOW });
  assert.equal(d.allow, false, JSON.stringify(d));
  assert.equal(d.reason, "missing_credentials");
  // Dot segments, `%2e` and `\` arrive resolved, as the router sees them.
  const dots = sm.decideRequest({ url: "http://h/api/v1/admin/..\\artifacts/x/./%2e%2e/7", method: "GET", headers: { "X-API-Key": "sk-test" } }, { now: NOW });
  assert.equal(dots.allow, true, JSON.stringify(dots));
  assert.equal(dots.rule, "artifacts-read");
  // What the parser keeps, the core refuses: an encoded slash, a trailing slash, `//`.
  for (const u of ["http://h/api/v1/artifacts/a%2Fb", "http://h/api/v1/artifacts/a/", "http://h/api/v1//artifacts"]) {
    const r = sm.decideRequest({ url: u, method: "GET", headers: { "X-API-Key": "sk-test" } }, { now: NOW });
    assert.equal(r.reason, "malformed_request", u);
    assert.equal(r.status, 400, u);
  }
  // A URL that does not parse (workerd passes a Host of `a b` through) is a 400, not a throw.
  const bad = sm.decideRequest({ url: "http://a b/health", method: "GET", headers: {} }, { now: NOW });
  assert.equal(bad.reason, "malformed_request");
  assert.equal(bad.status, 400);
});

test("setJwks and issueToken", () => {
  const skill = new Engine(policy("skillmeat.toml"), {
    env: {
      SKILLMEAT_AUTH_ENABLED: "true",
      CLERK_ISSUER: "https://test-instance.clerk.accounts.dev",
      CLERK_JWKS: readFileSync(join(ROOT, "tests/fixtures/jwks.json"), "utf8"),
    },
  });
  const rotated = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/jwks-rotated.json"), "utf8"));
  assert.ok(skill.setJwks("clerk", rotated) >= 1);
  assert.throws(() => skill.setJwks("nope", rotated), (e) => e instanceof Error && e.code === "unknown_authenticator");
  assert.throws(() => skill.setJwks("clerk", "{}"), (e) => e instanceof Error && e.code === "invalid");
  assert.throws(() => skill.setJwks("clerk", "not json"), (e) => e.code === "invalid");
  badArg(() => skill.setJwks("clerk", 5));
  assert.throws(() => skill.issueToken("clerk", "u"), (e) => e.code === "unsupported");
  assert.throws(() => rag.issueToken("nope", "u"), (e) => e.code === "unknown_authenticator");
  badArg(() => rag.issueToken("rag-jwt", undefined), /subject/);
  badArg(() => rag.issueToken("rag-jwt", "u", { roles: "admin" }), /roles must be a list/);
  badArg(() => rag.issueToken("rag-jwt", "u", { claims: [1] }), /claims/);
  const t = rag.issueToken("rag-jwt", "carol@example.com", { now: NOW, lifetime: 60, claims: { team: "x" } });
  const d = rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${t}`]], now: NOW + 30 });
  assert.equal(d.allow, true);
  assert.equal(d.principal.claims.team, "x");
  assert.equal(rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${t}`]], now: NOW + 3600 }).reason, "expired");
});

test("hashKey, warnings, authenticators, malformed", () => {
  assert.equal(hashKey("12345"), "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5");
  badArg(() => hashKey(12345));
  assert.ok(Array.isArray(rag.warnings));
  assert.deepEqual(rag.authenticators.map((a) => a[1]), ["jwt"]);
  const m = rag.malformed("path is not UTF-8");
  assert.equal(m.reason, "malformed_request");
  assert.equal(m.allow, false);
});
