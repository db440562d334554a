// Every shared vector (tests/vectors/*.json) through the WASM package, imported by its
// package name as a user would (the package's exports map, Node condition).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "admit-wasm";
import { vectorFiles, loadVector, policyText, policyFormat, check } from "./helpers.mjs";

const files = vectorFiles();
assert.ok(files.length > 0, "no vectors");

for (const file of files) {
  const doc = loadVector(file);
  const load = () => new Engine(policyText(doc), { format: policyFormat(doc), env: doc.env ?? {} });
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
    test(`${file} / ${c.name}`, () => {
      const got = engine.decide(c.request);
      const errors = check(c.expect, got);
      assert.deepEqual(errors, []);
      for (const k of ["allow", "status", "reason", "message", "headers", "body", "principal", "rule", "constraints", "dry_run"]) {
        assert.ok(k in got, `decision lacks ${k}`);
      }
    });
  }
}
