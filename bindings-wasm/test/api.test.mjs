// The JS API and bad input from JavaScript: each wrong argument is a TypeError with
// code "invalid_argument" (thrown, or for decide and decideRequest, which return
// Promises, a rejection); hostile but well-typed input is a clear deny. Then the
// WebCrypto side: which decisions call it, what a failing verifier means, key rotation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import { cryptoBackend, Engine, hashKey } from "admit-wasm";
import { RawEngine } from "../pkg/admit_wasm.js";
import { ROOT, TOKENS, tamperSignature } from "./helpers.mjs";

const policy = (name) => readFileSync(join(ROOT, "examples/policies", name), "utf8");
const NOW = 1790000000;
const RAG_ENV = { JWT_SECRET_KEY: "test-only-rag-modulo-secret-0123456789abcdef" };
const MR_TOKEN = "test-only-model-registry-token";
const rag = new Engine(policy("rag-modulo.toml"), { env: RAG_ENV });
const mr = new Engine(policy("model-registry.toml"), {
  env: { AUTH_TOKEN: MR_TOKEN, ALLOWED_ORIGINS: "https://app.example.com" },
});

const isBadArg = (text) => (e) => {
  assert.ok(e instanceof TypeError, `not a TypeError: ${e}`);
  assert.equal(e.code, "invalid_argument");
  if (text) assert.match(e.message, text);
  return true;
};
const badArg = (fn, text) => assert.throws(fn, isBadArg(text));
/** For decide and decideRequest: a rejected Promise, never a synchronous throw. */
const badArgAsync = async (fn, text) => {
  let p;
  assert.doesNotThrow(() => (p = fn()));
  assert.ok(p instanceof Promise);
  await assert.rejects(p, isBadArg(text));
};
const CLERK_ISSUER = "https://test-instance.clerk.accounts.dev";
const JWKS = readFileSync(join(ROOT, "tests/fixtures/jwks.json"), "utf8");
const CLERK_JWKS_URL = "https://test-instance.clerk.accounts.dev/.well-known/jwks.json";
/** SkillMeat with Clerk on, and the set a host would have fetched from CLERK_JWKS_URL. */
const clerkEngine = () => {
  const e = new Engine(policy("skillmeat.toml"), {
    env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER, CLERK_AUDIENCE: "skillmeat-api", CLERK_JWKS_URL },
  });
  e.setJwks("clerk", JWKS);
  return e;
};
/** FetchML, whose keys are in fetchml-keys.toml beside its policy. */
const fetchmlEngine = () =>
  new Engine(policy("fetchml.toml"), { files: { "fetchml-keys.toml": policy("fetchml-keys.toml") } });
const bearer = (token) => ({ method: "GET", path: "/api/v1/artifacts", headers: [["Authorization", `Bearer ${token}`]], now: NOW });

/** Counts (and lets a test replace) crypto.subtle.importKey and verify. */
function spySubtle(t, { verify, importKey } = {}) {
  const subtle = globalThis.crypto.subtle;
  const real = { verify: subtle.verify, importKey: subtle.importKey };
  const calls = { verify: 0, importKey: 0, verdicts: [] };
  subtle.importKey = function (...args) {
    calls.importKey++;
    return importKey ? importKey(...args) : real.importKey.apply(subtle, args);
  };
  subtle.verify = async function (...args) {
    calls.verify++;
    const v = await (verify ? verify(...args) : real.verify.apply(subtle, args));
    calls.verdicts.push(v);
    return v;
  };
  t.after(() => {
    subtle.verify = real.verify;
    subtle.importKey = real.importKey;
  });
  return calls;
}

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

test("decide refuses wrong arguments: a rejected Promise with a TypeError", async () => {
  await badArgAsync(() => rag.decide(undefined), /not undefined/);
  await badArgAsync(() => rag.decide("GET /"));
  await badArgAsync(() => rag.decide({ method: 1, path: "/" }), /method must be a string, not a number/);
  await badArgAsync(() => rag.decide({ method: "GET", path: 5 }), /path must be a string/);
  await badArgAsync(() => rag.decide({ method: "GET" }), /path must be a string, not undefined/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", now: "1790000000" }), /now must be an integer/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", now: 1.5 }), /now must be an integer/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", now: NaN }), /now must be an integer/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", now: 2 ** 60 }), /now must be an integer/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", peer: 127001 }), /peer must be a string/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", headers: [["X-A", 1]] }), /must be a string, not a number/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", headers: [["X-A"]] }), /pair/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", headers: { "X-A": 1 } }), /must be a string/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", headers: "Authorization: x" }), /headers must be/);
  await badArgAsync(() => rag.decide({ method: "GET", path: "/", header: [] }), /unknown field "header"/);
});

test("headers as pairs, an object, a Map and a Headers give one decision", async () => {
  const token = rag.issueToken("rag-jwt", "alice@example.com", { now: NOW });
  const forms = [
    [["Authorization", `Bearer ${token}`]],
    { authorization: `Bearer ${token}` },
    new Map([["Authorization", `Bearer ${token}`]]),
    new Headers({ Authorization: `Bearer ${token}` }),
  ];
  const ds = await Promise.all(forms.map((headers) => rag.decide({ method: "GET", path: "/api/collections", headers, now: NOW })));
  for (const d of ds) {
    assert.equal(d.allow, true, JSON.stringify(d));
    assert.equal(d.principal.id, "alice@example.com");
    assert.deepEqual(d, ds[0]);
  }
});

test("hostile values are denied, never thrown", async () => {
  const big = "x".repeat(1 << 20);
  const d = await mr.decide({ method: "GET", path: "/api/health", headers: [["Authorization", `Bearer ${big}`]], now: NOW });
  assert.equal(d.allow, false);
  assert.equal(d.status, 400);
  assert.equal(d.reason, "malformed_request");
  const o = await mr.decide({ method: "GET", path: "/api/health", headers: [["Origin", big]], now: NOW });
  assert.equal(o.allow, false);
  const m = await rag.decide({ method: "GET\r\n", path: "/api/collections", now: NOW });
  assert.equal(m.reason, "malformed_request");
  assert.equal(m.status, 400);
  const p = await rag.decide({ method: "GET", path: "x".repeat(1 << 20), now: NOW });
  assert.equal(p.allow, false);
  const s = await rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", "Bearer \ud800.\udfff.x"]], now: NOW });
  assert.equal(s.allow, false);
  const e = await rag.decide({ method: "", path: "", now: NOW });
  assert.equal(e.allow, false);
});

test("a NUL inside a field keeps every field in its place", async () => {
  // The fields cross into WASM joined by NUL; a field holding one must not shift the rest.
  const auth = ["Authorization", `Bearer ${MR_TOKEN}`];
  for (const note of [["X-Note", "a\0b"], ["X-N\0ote", "ab"], ["X-Note", "\0"]]) {
    const d = await mr.decide({ method: "POST", path: "/api/v1/models", headers: [note, auth], now: NOW });
    assert.equal(d.allow, true, JSON.stringify(d));
  }
  const p = await mr.decide({ method: "GET", path: "/api/v1/models\0/x", headers: [auth], now: NOW });
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

test("now defaults to the clock, and a Date is accepted", async () => {
  const token = rag.issueToken("rag-jwt", "bob@example.com");
  const req = { method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${token}`]] };
  assert.equal((await rag.decide(req)).allow, true);
  assert.equal((await rag.decide({ ...req, now: new Date() })).allow, true);
  assert.equal((await rag.decide({ ...req, now: Math.floor(Date.now() / 1000) + 100000 })).reason, "expired");
});

test("decideRequest takes a Fetch Request", async () => {
  const pre = await mr.decideRequest(
    new Request("http://127.0.0.1/api/models?x=1", {
      method: "OPTIONS",
      headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" },
    }),
    { now: NOW },
  );
  assert.equal(pre.reason, "preflight");
  assert.equal(pre.status, 204);
  const ok = await mr.decideRequest(
    new Request("http://127.0.0.1/api/health", { headers: { Authorization: `Bearer ${MR_TOKEN}` } }),
    { now: NOW, peer: "127.0.0.1" },
  );
  assert.equal(ok.allow, true, JSON.stringify(ok));
  const wrong = await mr.decideRequest(new Request("http://127.0.0.1/api/health", { headers: { Authorization: "Bearer no" } }));
  assert.equal(wrong.status, 403);
  await badArgAsync(() => mr.decideRequest({ url: 5 }), /Fetch API Request/);
  await badArgAsync(() => mr.decideRequest(undefined), /Fetch API Request/);
  await badArgAsync(() => mr.decideRequest(new Request("http://h/"), { peer: 7 }), /peer must be a string/);
});

test("decideRequest decides on the URL's parsed pathname, which is what a worker routes on", async () => {
  const sm = new Engine(policy("skillmeat.toml"), {
    env: { SKILLMEAT_AUTH_ENABLED: "true", SKILLMEAT_API_KEY_ENABLED: "true", SKILLMEAT_API_KEY: "sk-test" },
  });
  // workerd builds request.url from the Host header and the raw target: a Host of
  // `h\api\v1\admin\users` and a target of `/health` give this URL, whose pathname (what
  // the worker's router matches) is /api/v1/admin/users/health. The text after the first
  // `/` is /health (open): deciding on it would let the admin handler run unauthenticated.
  const url = "http://h\\api\\v1\\admin\\users/health";
  assert.equal(new URL(url).pathname, "/api/v1/admin/users/health");
  const d = await sm.decideRequest({ url, method: "GET", headers: {} }, { now: NOW });
  assert.equal(d.allow, false, JSON.stringify(d));
  assert.equal(d.reason, "missing_credentials");
  // Dot segments, `%2e` and `\` arrive resolved, as the router sees them.
  const dots = await sm.decideRequest({ url: "http://h/api/v1/admin/..\\artifacts/x/./%2e%2e/7", method: "GET", headers: { "X-API-Key": "sk-test" } }, { now: NOW });
  assert.equal(dots.allow, true, JSON.stringify(dots));
  assert.equal(dots.rule, "artifacts-read");
  // What the parser keeps, the core refuses: an encoded slash, a trailing slash, `//`.
  for (const u of ["http://h/api/v1/artifacts/a%2Fb", "http://h/api/v1/artifacts/a/", "http://h/api/v1//artifacts"]) {
    const r = await sm.decideRequest({ url: u, method: "GET", headers: { "X-API-Key": "sk-test" } }, { now: NOW });
    assert.equal(r.reason, "malformed_request", u);
    assert.equal(r.status, 400, u);
  }
  // A URL that does not parse (workerd passes a Host of `a b` through) is a 400, not a throw.
  const bad = await sm.decideRequest({ url: "http://a b/health", method: "GET", headers: {} }, { now: NOW });
  assert.equal(bad.reason, "malformed_request");
  assert.equal(bad.status, 400);
});

test("setJwks and issueToken", async () => {
  const skill = new Engine(policy("skillmeat.toml"), {
    env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: "https://test-instance.clerk.accounts.dev", CLERK_JWKS_URL },
  });
  assert.deepEqual(skill.jwksUrls(), [["clerk", CLERK_JWKS_URL]]);
  assert.equal(skill.setJwks("clerk", JWKS), 4);
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
  const d = await rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${t}`]], now: NOW + 30 });
  assert.equal(d.allow, true);
  assert.equal(d.principal.claims.team, "x");
  assert.equal((await rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${t}`]], now: NOW + 3600 })).reason, "expired");
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

// --- WebCrypto: the host's half of a JWT decision (host-crypto build) ---
// A rust-crypto build (build.sh with ADMIT_WASM_CRYPTO=rust-crypto) verifies inside the
// module: the tests of the host's half are skipped there, and its own run instead.
const CRYPTO_BACKEND = cryptoBackend();
const HOST = { skip: CRYPTO_BACKEND === "host" ? false : `the ${CRYPTO_BACKEND} build verifies inside the module` };
const RUST = { skip: CRYPTO_BACKEND === "rust-crypto" ? false : "the host build verifies with WebCrypto" };

test("cryptoBackend() names the build's backend", () => {
  assert.ok(["host", "rust-crypto"].includes(CRYPTO_BACKEND), CRYPTO_BACKEND);
});

test("rust-crypto build: every signature is checked inside the module, none by WebCrypto", RUST, async (t) => {
  const calls = spySubtle(t);
  const clerk = clerkEngine();
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.equal((await clerk.decide(bearer(tamperSignature(TOKENS.clerk_org_admin)))).allow, false);
  assert.deepEqual([calls.importKey, calls.verify], [0, 0]);
});

test("decide and decideRequest return Promises; API key, HMAC, anonymous and refused decisions call no WebCrypto", HOST, async (t) => {
  const calls = spySubtle(t);
  const fetchml = fetchmlEngine();
  const zero = new Engine(policy("skillmeat.toml"));
  const p = fetchml.decide({ method: "GET", path: "/api/v1/jobs/bob/7", headers: [["X-API-Key", "demo-researcher-key"]], now: NOW });
  assert.ok(p instanceof Promise);
  assert.equal((await p).allow, true);
  assert.equal((await fetchml.decide({ method: "GET", path: "/api/v1/jobs/bob/7", headers: [["X-API-Key", "wrong"]], now: NOW })).allow, false);
  assert.equal((await rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${TOKENS.rag_valid}`]], now: NOW })).allow, true);
  assert.equal((await rag.decide({ method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${TOKENS.rag_wrong_secret}`]], now: NOW })).allow, false);
  assert.equal((await zero.decide({ method: "GET", path: "/api/v1/artifacts", now: NOW })).principal.id, "local_admin");
  assert.equal((await mr.decideRequest(new Request("http://h/api/health", { headers: { Authorization: `Bearer ${MR_TOKEN}` } }), { now: NOW })).allow, true);
  // An RS256 token that fails before its signature (an algorithm the policy refuses, an
  // unknown kid): nothing to verify either.
  const clerk = clerkEngine();
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_es256))).allow, false);
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_unknown_kid))).reason, "unknown_key");
  assert.deepEqual([calls.importKey, calls.verify], [0, 0]);
  // An RS256 token is verified by WebCrypto once; the core's verified-token cache
  // answers the same token again without it.
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.deepEqual([calls.importKey, calls.verify, calls.verdicts], [1, 1, [true]]);
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.equal(calls.verify, 1);
  // Another token under the same key: verified, with the CryptoKey already imported.
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_member))).allow, true);
  assert.deepEqual([calls.importKey, calls.verify], [1, 2]);
});

test("a tampered RS256 signature is denied on WebCrypto's verdict", HOST, async (t) => {
  const calls = spySubtle(t);
  const clerk = clerkEngine();
  const d = await clerk.decide(bearer(tamperSignature(TOKENS.clerk_org_admin)));
  assert.equal(d.allow, false);
  assert.equal(d.status, 401);
  assert.equal(d.reason, "invalid_credentials");
  assert.equal(d.principal, null);
  assert.deepEqual(calls.verdicts, [false]);
  // A refusal is never remembered: the real token still verifies, then the tampered
  // one is refused again, by WebCrypto again.
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.equal((await clerk.decide(bearer(tamperSignature(TOKENS.clerk_org_admin)))).allow, false);
  assert.deepEqual(calls.verdicts, [false, true, false]);
});

test("explain takes decide's arguments, refuses the same wrong ones, and its decision is decide's", async () => {
  await badArgAsync(() => rag.explain(undefined), /not undefined/);
  await badArgAsync(() => rag.explain({ method: "GET", path: 5 }), /path must be a string/);
  await badArgAsync(() => rag.explain({ method: "GET", path: "/", header: [] }), /unknown field "header"/);
  const req = { method: "GET", path: "/api/collections?x=1", headers: [["Authorization", "Bearer not-a-jwt-value"]], now: NOW };
  const e = await rag.explain(req);
  assert.deepEqual(e.decision, await rag.decide(req));
  assert.equal(e.trace.version, 1);
  assert.equal(e.trace.target.canonical, "/api/collections");
  assert.ok(!JSON.stringify(e).includes("not-a-jwt-value"), "the credential is in the explanation");
});

test("explain of an RS256 token waits for WebCrypto's verdict, as decide does", HOST, async (t) => {
  const calls = spySubtle(t);
  const clerk = clerkEngine();
  const good = await clerk.explain(bearer(TOKENS.clerk_org_admin));
  assert.equal(good.decision.allow, true);
  const matched = good.trace.authenticators.find((a) => a.verdict === "matched");
  assert.equal(matched.principal, good.decision.principal.id);
  const bad = await clerk.explain(bearer(tamperSignature(TOKENS.clerk_org_admin)));
  assert.equal(bad.decision.reason, "invalid_credentials");
  assert.deepEqual(bad.trace.authenticators.filter((a) => a.verdict === "refused").map((a) => a.reason), ["invalid_credentials"]);
  assert.deepEqual(calls.verdicts, [true, false]);
  const text = JSON.stringify(bad);
  assert.ok(!text.includes(TOKENS.clerk_org_admin.split(".")[2].slice(0, 20)), "a signature is in the explanation");
});

test("setJwks drops the imported CryptoKeys: a token signed by the old key is refused after rotation", HOST, async (t) => {
  const calls = spySubtle(t);
  const clerk = clerkEngine();
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_attacker_signed))).allow, false);
  assert.equal(calls.importKey, 1);
  assert.deepEqual(calls.verdicts, [true, false]);
  // The key set rotates to another RSA key under the same kid (the fixtures' other RSA
  // key, tests/fixtures/keys/attacker-rsa-private.pem): the old token's kid still
  // selects a key, and that key is the new one, imported afresh.
  const other = createPublicKey(readFileSync(join(ROOT, "tests/fixtures/keys/attacker-rsa-private.pem"), "utf8")).export({ format: "jwk" });
  assert.equal(clerk.setJwks("clerk", { keys: [{ ...other, kid: "rsa-1", alg: "RS256", use: "sig" }] }), 1);
  const d = await clerk.decide(bearer(TOKENS.clerk_org_admin));
  assert.equal(d.allow, false, JSON.stringify(d));
  assert.equal(d.reason, "invalid_credentials");
  assert.equal(calls.importKey, 2, "the new key is imported, the old CryptoKey is not used");
  assert.deepEqual(calls.verdicts, [true, false, false]);
  // The new key's own token now passes (it was refused under the old set).
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_attacker_signed))).allow, true);
  assert.deepEqual(calls.verdicts, [true, false, false, true]);
  // A set without kid rsa-1: the old token's kid is unknown, nothing to verify.
  clerk.setJwks("clerk", readFileSync(join(ROOT, "tests/fixtures/jwks-rotated.json"), "utf8"));
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).reason, "unknown_key");
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_rotated_kid))).allow, true);
  // And back: the original set verifies the original token again, with a new import.
  clerk.setJwks("clerk", JWKS);
  assert.equal((await clerk.decide(bearer(TOKENS.clerk_org_admin))).allow, true);
  assert.equal(calls.importKey, 4);
});

test("a WebCrypto that throws, refuses the key, or answers anything but true is a denial", HOST, async (t) => {
  const token = TOKENS.clerk_org_admin;
  const cases = {
    "verify throws": { verify: () => { throw new Error("boom"); } },
    "verify rejects": { verify: () => Promise.reject(new DOMException("no", "OperationError")) },
    "verify answers a truthy non-boolean": { verify: () => Promise.resolve(1) },
    "importKey refuses the key": { importKey: () => Promise.reject(new DOMException("bad key", "DataError")) },
    "importKey throws": { importKey: () => { throw new TypeError("no WebCrypto"); } },
  };
  for (const [name, fake] of Object.entries(cases)) {
    await t.test(name, async (t2) => {
      spySubtle(t2, fake);
      const d = await clerkEngine().decide(bearer(token));
      assert.equal(d.allow, false, JSON.stringify(d));
      assert.equal(d.reason, "invalid_credentials");
    });
  }
});

test("many decisions at once, of every algorithm, each get their own answer", async () => {
  const { webcryptoDoc, policyText } = await import("./helpers.mjs");
  const doc = webcryptoDoc();
  const engine = new Engine(policyText(doc), { env: doc.env });
  const all = [];
  for (let i = 0; i < 8; i++) for (const c of doc.cases) all.push([c, engine.decide(c.request)]);
  for (const [c, p] of all) {
    const d = await p;
    assert.equal(d.allow, c.expect.allow, c.name);
    assert.equal(d.reason, c.expect.reason, c.name);
  }
});

test("raw: a check without a verdict never passes, and the rounds are bounded", HOST, () => {
  const raw = new RawEngine(policy("skillmeat.toml"), "toml", ["SKILLMEAT_AUTH_ENABLED", "true", "CLERK_ISSUER", CLERK_ISSUER, "CLERK_JWKS_URL", CLERK_JWKS_URL], []);
  try {
    raw.setJwks("clerk", JWKS);
    const fields = ["GET", "/api/v1/artifacts", "Authorization", `Bearer ${TOKENS.clerk_org_admin}`].join("\0");
    assert.equal(raw.decideJoined(fields, undefined, NOW), "");
    const checks = raw.takeChecks();
    assert.equal(raw.takeChecks(), undefined, "taken once");
    assert.equal(checks.length, 1);
    assert.equal(checks.algorithm(0), "RS256");
    assert.equal(JSON.parse(checks.jwk(0)).kty, "RSA");
    assert.ok(checks.key(0) > 0);
    assert.equal(checks.key(1), -1);
    assert.equal(checks.signature(0).length, 256);
    assert.equal(new TextDecoder().decode(checks.message(0)), TOKENS.clerk_org_admin.slice(0, TOKENS.clerk_org_admin.lastIndexOf(".")));
    // Finished without a verdict: denied.
    const early = JSON.parse(raw.finish(checks));
    assert.equal(early.allow, false);
    assert.equal(early.reason, "invalid_credentials");
    // Never answered: asked again each round, then denied after the last.
    let json = "";
    let rounds = 1;
    while (json === "" && rounds < 100) {
      json = raw.resume(checks);
      rounds++;
    }
    assert.equal(rounds, 17);
    assert.equal(JSON.parse(json).allow, false);
    checks.free();
    // Answered true: allowed on the next round.
    assert.equal(raw.decideJoined(fields, undefined, NOW), "");
    const again = raw.takeChecks();
    again.record(0, true);
    again.record(5, true); // no check 5: nothing
    const ok = JSON.parse(raw.resume(again));
    assert.equal(ok.allow, true, JSON.stringify(ok));
    again.free();
  } finally {
    raw.free();
  }
});

test("issuing: HMAC tokens issue; RSA, EC and Ed25519 keys load but refuse to issue in this build", HOST, () => {
  const text = readFileSync(join(ROOT, "bindings-wasm/test/fixtures/webcrypto.toml"), "utf8");
  const key = (f) => readFileSync(join(ROOT, "tests/fixtures/keys", f), "utf8");
  for (const [priv, pub] of [["rsa-private.pem", "rsa-public.pem"], ["ec256-private.pem", "ec256-public.pem"], ["ed25519-private.pem", "ed25519-public.pem"]]) {
    const e = new Engine(text, { env: { JWKS, SIGNING_KEY: key(priv), PUBLIC_KEY: key(pub) } });
    assert.throws(
      () => e.issueToken("issuer", "alice", { now: NOW }),
      (err) => {
        assert.equal(err.code, "unsupported", priv);
        assert.match(err.message, /issues HMAC tokens only/, priv);
        assert.ok(!err.message.includes("PRIVATE"), "no key material in the error");
        return true;
      },
    );
  }
  const t = rag.issueToken("rag-jwt", "dana@example.com", { now: NOW });
  assert.equal(t.split(".").length, 3);
});

test("rust-crypto build: RSA, EC and Ed25519 keys issue tokens", RUST, () => {
  const text = readFileSync(join(ROOT, "bindings-wasm/test/fixtures/webcrypto.toml"), "utf8");
  const key = (f) => readFileSync(join(ROOT, "tests/fixtures/keys", f), "utf8");
  for (const [priv, pub, alg] of [["rsa-private.pem", "rsa-public.pem", "RS256"], ["ec256-private.pem", "ec256-public.pem", "ES256"], ["ed25519-private.pem", "ed25519-public.pem", "EdDSA"]]) {
    const e = new Engine(text, { env: { JWKS, SIGNING_KEY: key(priv), PUBLIC_KEY: key(pub) } });
    const t = e.issueToken("issuer", "alice", { now: NOW });
    assert.equal(JSON.parse(Buffer.from(t.split(".")[0], "base64url")).alg, alg);
  }
});
