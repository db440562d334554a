// Every shared vector (tests/vectors/*.json) and the WASM binding's WebCrypto document
// (bindings-wasm/test/helpers.mjs), decided inside workerd by vectors-worker.js with the
// package's workerd entry, and checked here with the same helpers as the Node and
// Chromium runs. RS256, PS256, ES256, ES384 and EdDSA tokens are verified by workerd's
// WebCrypto. Needs bindings-wasm/pkg (bindings-wasm/build.sh) and `npm install` here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorkerd } from "./workerd.mjs";
import { allDocs, docForRunner, compareRuns } from "../../bindings-wasm/test/helpers.mjs";

let workerd;
before(async () => {
  workerd = await startWorkerd("vectors");
});
after(() => workerd?.stop());

const DOCS = allDocs();

async function run(docs) {
  const body = JSON.stringify(docs.map(([, doc]) => docForRunner(doc)));
  const r = await fetch(workerd.vectors, { method: "POST", body, headers: { "content-type": "application/json" } });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

test("every shared vector and the WebCrypto document pass in workerd", async (t) => {
  const results = await run(DOCS);
  assert.equal(results.length, DOCS.length);
  let verified = 0;
  const { failures, cases } = compareRuns(DOCS, results, (got) => (verified += got.verifyCalls));
  t.diagnostic(`${cases} cases in ${DOCS.length} documents; ${verified} signatures verified by workerd's WebCrypto`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${cases} cases failed in workerd`);
  assert.ok(cases > 900, `only ${cases} cases`);
  assert.ok(verified > 0, "no signature reached WebCrypto");
});

test("an API-key, HMAC or refused decision calls no WebCrypto in workerd", async () => {
  const noJwt = DOCS.filter(([f]) => /^(fetchml-keys|rag-modulo-hs256|model-registry-token|skillmeat-api-key)\.json$/.test(f));
  assert.equal(noJwt.length, 4);
  const results = await run(noJwt);
  for (const [i, r] of results.entries()) assert.equal(r.verifyCalls, 0, noJwt[i][0]);
});
