// Writes the playground's examples.json: each example policy of examples/policies (its
// text, the files its `{ file = ... }` references name in that folder) and, as sample
// requests, every case of every shared vector (tests/vectors) that names the policy and
// needs nothing but the page's editors (not a keys file swap or a host's check), with
// the vector's environment, key sets and expected decision, its placeholders (test
// tokens) expanded by the shared runners' helpers. Usage: node make-examples.mjs OUT_FILE
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { vectorFiles, loadVector, policyFiles } from "../../bindings-wasm/test/helpers.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const policiesDir = join(root, "examples/policies");
const names = readdirSync(policiesDir)
  .filter((f) => f.endsWith(".toml") && !f.endsWith(".test.toml") && !f.endsWith("-keys.toml"))
  .sort();
const vectors = vectorFiles().map((f) => [basename(f, ".json"), loadVector(f)]);

const examples = names.map((file) => {
  const text = readFileSync(join(policiesDir, file), "utf8");
  const files = policyFiles({ policy: `examples/policies/${file}` });
  const cases = [];
  // The example's own vectors first (`model-registry-*`), then the others that use it
  // (bad input, strict parsing): the first sample is a typical request.
  const own = (v) => (v.startsWith(`${basename(file, ".toml")}-`) ? 0 : 1);
  const ordered = [...vectors].sort(([a], [b]) => own(a) - own(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const [vector, doc] of ordered) {
    if (doc.policy !== `examples/policies/${file}`) continue;
    if (doc.expect_load_error !== undefined || doc.keys || doc.checks) continue;
    for (const c of doc.cases ?? []) {
      const { allow, status, reason, rule } = c.expect;
      cases.push({ vector, name: c.name, env: doc.env ?? {}, jwks: doc.jwks ?? {}, request: c.request, expect: { allow, status, reason, rule } });
    }
  }
  return { name: basename(file, ".toml"), file, policy: text, files, cases };
});

const out = process.argv[2];
if (!out) throw new Error("usage: node make-examples.mjs OUT_FILE");
writeFileSync(out, JSON.stringify(examples));
console.log(`examples.json: ${examples.length} policies, ${examples.reduce((n, e) => n + e.cases.length, 0)} sample requests from tests/vectors`);
