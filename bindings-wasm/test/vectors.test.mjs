// Every shared vector (tests/vectors/*.json), and the binding's WebCrypto document
// (helpers.mjs: a token of each algorithm WebCrypto verifies), through the WASM package,
// imported by its package name as a user would (the package's exports map, Node
// condition). A decision is awaited: RS256, ES256 and EdDSA tokens are verified with
// Node's WebCrypto.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "admit-wasm";
import { allDocs, docForRunner, loadDoc, check, checkTrace } from "./helpers.mjs";

const docs = allDocs();
assert.ok(docs.length > 1, "no vectors");

for (const [file, doc] of docs) {
  // The policy with its env and files, then the `jwks` and `keys` a host would hand over.
  const load = () => loadDoc(Engine, docForRunner(doc));
  if ("expect_load_error" in doc) {
    test(`${file}: fails to load`, () => {
      assert.throws(load, (e) => {
        assert.ok(e instanceof Error);
        assert.equal(e.code, "policy_error");
        assert.ok(e.message.includes(doc.expect_load_error), `${e.message} lacks ${doc.expect_load_error}`);
        assert.ok(e.errors.length > 0 && e.errors.every((p) => "place" in p && "message" in p));
        assert.equal(e.place, e.errors[0].place);
        return true;
      });
    });
    continue;
  }
  const engine = load();
  for (const c of doc.cases) {
    test(`${file} / ${c.name}`, async () => {
      const got = await engine.decide(c.request);
      const errors = check(c.expect, got);
      assert.deepEqual(errors, []);
      for (const k of ["allow", "status", "reason", "message", "headers", "body", "principal", "rule", "constraints", "dry_run"]) {
        assert.ok(k in got, `decision lacks ${k}`);
      }
      // A case with an `explain` expectation: explain's decision is decide's, and its
      // trace holds what the case asserts.
      if ("explain" in c) {
        const explained = await engine.explain(c.request);
        assert.deepEqual(explained.decision, got);
        assert.deepEqual(checkTrace(c.explain, explained.trace), []);
      }
    });
  }
}
