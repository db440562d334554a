// The key set helper (admit-wasm's decideWithJwks) inside workerd, with workerd's own
// fetch: the example worker serves SkillMeat with CLERK_JWKS_URL pointing at a JWKS
// server in this process, on http://127.0.0.1 (workerd does not trust a test
// certificate; the fetch rules allow plain http to a loopback address, and the HTTPS
// case is tested under Node in bindings-wasm/test/jwks.test.mjs). Each test has a worker
// (an isolate, a cache) of its own. Counts of requests the JWKS server saw, never times.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorkerd } from "./workerd.mjs";

const TOKENS = JSON.parse(readFileSync(new URL("../../tests/fixtures/tokens.json", import.meta.url), "utf8"));
const ROTATED = readFileSync(new URL("../../tests/fixtures/jwks-rotated.json", import.meta.url), "utf8");

let workerd;
before(async () => {
  workerd = await startWorkerd("jwks");
});
after(() => workerd?.stop());

const get = (base, token) => fetch(`${base}/api/v1/artifacts`, { headers: { Authorization: `Bearer ${token}` } });

/** The worker decides at the clock's `now` and the fixtures' tokens are valid around
 * 1790000000: past it, a token whose key the worker holds is `expired` (the core checks
 * the signature, with that key, before the claims), one whose key it lacks `unknown_key`. */
async function keyHeld(r) {
  await r.arrayBuffer();
  const reason = r.headers.get("x-admit-reason");
  if (Math.floor(Date.now() / 1000) < 1790000060) return r.status === 200;
  return r.status === 401 && reason === "expired";
}
const reasonOf = async (r) => (await r.arrayBuffer(), r.headers.get("x-admit-reason"));

/** `token` with its header's kid replaced (the signature no longer matters: a kid the set
 * lacks is refused before it). */
function withKid(token, kid) {
  const [h, ...rest] = token.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url").toString());
  header.kid = kid;
  return [Buffer.from(JSON.stringify(header)).toString("base64url"), ...rest].join(".");
}

test("workerd: the first request fetches the set; a rotated key passes after the issuer rotates; a forged-kid flood adds no fetch", async () => {
  const { jw, jwks } = workerd;
  const path = "/jw/jwks.json";
  assert.equal(jwks.hits(path), 0);
  assert.ok(await keyHeld(await get(jw, TOKENS.clerk_org_admin)), "the set was fetched");
  assert.equal(jwks.hits(path), 1);
  assert.ok(await keyHeld(await get(jw, TOKENS.clerk_org_admin)));
  assert.equal(jwks.hits(path), 1, "the set is cached for the isolate's life");

  // The issuer rotates to rsa-2: a token signed with it says unknown_key once, the worker
  // fetches again and decides again.
  jwks.set(path, { body: ROTATED });
  assert.ok(await keyHeld(await get(jw, TOKENS.clerk_rotated_kid)), "the rotated key is taken");
  assert.equal(jwks.hits(path), 2);

  // Forged kids, concurrently: each is unknown_key, and none makes another fetch within
  // the interval (UNKNOWN_KEY_INTERVAL_SECS), which the rotation's fetch has just begun.
  const flood = await Promise.all(Array.from({ length: 25 }, (_, i) => get(jw, withKid(TOKENS.clerk_org_admin, `forged-${i}`))));
  for (const f of flood) {
    assert.equal(f.status, 401);
    assert.equal(f.headers.get("x-admit-reason"), "unknown_key");
  }
  assert.equal(jwks.hits(path), 2, "a flood of forged kids is not a flood of fetches");
  // The old key is gone from the issuer's set, and so from the worker's.
  assert.equal(await reasonOf(await get(jw, TOKENS.clerk_org_admin)), "unknown_key");
  assert.equal(jwks.hits(path), 2);
});

test("workerd: garbage from the issuer keeps the last good set", async () => {
  const { jw2, jwks } = workerd;
  const path = "/jw2/jwks.json";
  assert.ok(await keyHeld(await get(jw2, TOKENS.clerk_org_admin)));
  assert.equal(jwks.hits(path), 1);
  jwks.set(path, { body: '{"keys": "garbage"' });
  // An unknown kid makes the worker fetch again, and it gets garbage.
  assert.equal(await reasonOf(await get(jw2, withKid(TOKENS.clerk_org_admin, "forged"))), "unknown_key");
  assert.equal(jwks.hits(path), 2);
  assert.ok(await keyHeld(await get(jw2, TOKENS.clerk_org_admin)), "the last good set stays");
  assert.equal(jwks.hits(path), 2);
});
