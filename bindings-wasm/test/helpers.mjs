// Shared-vector helpers: placeholders (tests/README.md) and the expectation check,
// mirroring cli/tests/vectors.rs and bindings-python/tests/test_vectors.py.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const VECTORS = join(ROOT, "tests/vectors");
export const TOKENS = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/tokens.json"), "utf8"));

export function expand(s) {
  let out = "";
  let rest = s;
  for (;;) {
    const start = rest.indexOf("${");
    if (start < 0) break;
    out += rest.slice(0, start);
    const end = rest.indexOf("}", start);
    if (end < 0) throw new Error(`unclosed placeholder in ${s}`);
    const inner = rest.slice(start + 2, end);
    const colon = inner.indexOf(":");
    const kind = inner.slice(0, colon);
    const arg = inner.slice(colon + 1);
    if (kind === "token") {
      if (!(arg in TOKENS)) throw new Error(`no token ${arg}`);
      out += TOKENS[arg];
    } else if (kind === "file") {
      out += readFileSync(join(ROOT, arg), "utf8");
    } else if (kind === "repeat") {
      const c = arg.indexOf(":");
      out += arg.slice(c + 1).repeat(Number(arg.slice(0, c)));
    } else {
      throw new Error(`unknown placeholder kind ${kind}`);
    }
    rest = rest.slice(end + 1);
  }
  return out + rest;
}

export function expandValue(v) {
  if (typeof v === "string") return expand(v);
  if (Array.isArray(v)) return v.map(expandValue);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandValue(x)]));
  return v;
}

export function vectorFiles() {
  return readdirSync(VECTORS).filter((f) => f.endsWith(".json")).sort();
}

export function loadVector(name) {
  return expandValue(JSON.parse(readFileSync(join(VECTORS, name), "utf8")));
}

export function policyText(doc) {
  return readFileSync(join(ROOT, doc.policy), "utf8");
}

/** The files the policy's `{ file = "..." }` references name, read relative to the
 * policy's folder (tests/README.md), as an object of path (as written) -> text: what the
 * WASM engine's `files` option takes. A file that does not exist is left out, so the
 * policy fails to load as it would anywhere. */
export function policyFiles(doc) {
  const text = policyText(doc);
  const dir = join(ROOT, doc.policy, "..");
  const files = {};
  for (const m of text.matchAll(/\bfile"?\s*[=:]\s*"([^"\\]+)"/g)) {
    try {
      files[m[1]] = readFileSync(join(dir, m[1]), "utf8");
    } catch {}
  }
  return files;
}

/** An engine for a vector document as every runner loads it: the policy with `env` and
 * its files, then each `jwks` set handed to `setJwks`, each `keys` file to `setKeys`, and
 * each `checks` table registered with `setCheck`.
 * `Engine` is the class of the runtime at hand (Node, workerd, Chromium). */
export function loadDoc(Engine, { policyText: text, format, env, files, jwks, keys, checks }) {
  const engine = new Engine(text, { format, env: env ?? {}, files: files ?? {} });
  for (const [id, set] of Object.entries(jwks ?? {})) engine.setJwks(id, set);
  for (const [id, file] of Object.entries(keys ?? {})) engine.setKeys(id, file);
  // A delegated authenticator's check, as a table of verdicts by credential; the binding
  // refuses what is not a verdict, and `null` (a credential the table lacks).
  for (const [id, table] of Object.entries(checks ?? {})) {
    engine.setCheck(id, (credential) => (Object.hasOwn(table, credential) ? table[credential] : null));
  }
  return engine;
}

/** What a runner in another runtime needs of a document (it cannot read files). */
export function docForRunner(doc) {
  return {
    policyText: policyText(doc),
    format: policyFormat(doc),
    env: doc.env ?? {},
    files: policyFiles(doc),
    jwks: doc.jwks ?? {},
    keys: doc.keys ?? {},
    checks: doc.checks ?? {},
    cases: doc.cases ?? [],
  };
}

export function policyFormat(doc) {
  return doc.policy.toLowerCase().endsWith(".json") ? "json" : "toml";
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function subset(want, got) {
  if (want && got && typeof want === "object" && typeof got === "object" && !Array.isArray(want) && !Array.isArray(got)) {
    return Object.entries(want).every(([k, v]) => k in got && subset(v, got[k]));
  }
  return same(want, got);
}

/** What differs between `expect` and the decision `got`. */
export function check(expect, got) {
  const errors = [];
  for (const [k, want] of Object.entries(expect)) {
    if (["allow", "status", "reason", "message", "body", "rule", "dry_run"].includes(k)) {
      if (!same(got[k], want)) errors.push(`${k}: want ${JSON.stringify(want)}, got ${JSON.stringify(got[k])}`);
    } else if (k === "constraints") {
      const sort = (o) => Object.fromEntries(Object.entries(o ?? {}).sort());
      if (!same(sort(got[k]), sort(want))) errors.push(`constraints: want ${JSON.stringify(want)}, got ${JSON.stringify(got[k])}`);
    } else if (k === "principal") {
      const g = got.principal;
      if (want === null || g === null || g === undefined) {
        if (!same(want, g ?? null)) errors.push(`principal: want ${JSON.stringify(want)}, got ${JSON.stringify(g)}`);
        continue;
      }
      for (const [pk, pv] of Object.entries(want)) {
        const ok = pk === "claims" ? subset(pv, g[pk]) : same(g[pk], pv);
        if (!ok) errors.push(`principal.${pk}: want ${JSON.stringify(pv)}, got ${JSON.stringify(g[pk])}`);
      }
    } else if (k === "headers") {
      for (const [n, v] of want) {
        if (!got.headers.some((h) => h[0].toLowerCase() === n.toLowerCase() && h[1] === v)) {
          errors.push(`header ${n}: ${JSON.stringify(v)} missing from ${JSON.stringify(got.headers)}`);
        }
      }
    } else if (k === "absent_headers") {
      for (const n of want) {
        if (got.headers.some((h) => h[0].toLowerCase() === n.toLowerCase())) {
          errors.push(`header ${n} should be absent from ${JSON.stringify(got.headers)}`);
        }
      }
    } else {
      errors.push(`unknown expectation ${k}`);
    }
  }
  return errors;
}

/** A vector case's `explain` expectation against a trace (tests/README.md): objects by
 * the keys given, lists item by item with the same length, other values equal. */
export function checkTrace(want, got, place = "trace") {
  if (want !== null && typeof want === "object" && !Array.isArray(want)) {
    if (got === null || typeof got !== "object" || Array.isArray(got)) return [`${place}: want an object, got ${JSON.stringify(got)}`];
    return Object.entries(want).flatMap(([k, v]) => (k in got ? checkTrace(v, got[k], `${place}.${k}`) : [`${place}.${k}: missing`]));
  }
  if (Array.isArray(want) && Array.isArray(got) && want.length === got.length) {
    return want.flatMap((v, i) => checkTrace(v, got[i], `${place}[${i}]`));
  }
  return same(want, got) ? [] : [`${place}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
}

/** `token` with one byte of its signature flipped: byte `at` (negative: from the end).
 * The length is kept, so the core's own checks pass it on and the verifier refuses it. */
export function tamperSignature(token, at = -1) {
  const dot = token.lastIndexOf(".");
  const sig = Buffer.from(token.slice(dot + 1), "base64url");
  sig[at < 0 ? sig.length + at : at] ^= 0x01;
  return `${token.slice(0, dot + 1)}${sig.toString("base64url")}`;
}

/** tests/fixtures/jwks.json with `alg` dropped from the RSA key, so that it verifies
 * PS256 as well as RS256 (the key's family, not one algorithm). */
export function jwksAnyRsa() {
  const jwks = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/jwks.json"), "utf8"));
  for (const k of jwks.keys) if (k.kty === "RSA") delete k.alg;
  return jwks;
}

/** The binding's own vector-shaped document for WebCrypto: a token of each algorithm
 * the core hands to the host, each allowed, and tampered or foreign ones, each refused.
 * The shared vectors reach WebCrypto with RS256 tokens only; every runtime the tests
 * cover (Node, workerd, Chromium) runs this with them. */
export function webcryptoDoc() {
  const req = (token) => ({ method: "GET", path: "/x", headers: [["Authorization", `Bearer ${token}`]], now: 1790000000 });
  const allow = (name, token, alg) => ({
    name: `${name}: allowed (WebCrypto ${alg})`,
    request: req(token),
    expect: { allow: true, status: 200, reason: "ok", rule: "read", principal: { id: "user_2abc", authenticator: "multi", kind: "jwt", roles: ["reader"] } },
  });
  const deny = (name, token) => ({
    name: `${name}: refused`,
    request: req(token),
    expect: { allow: false, status: 401, reason: "invalid_credentials", principal: null },
  });
  return {
    description: "WebCrypto: every algorithm the host verifies (bindings-wasm/test/helpers.mjs)",
    policy: "bindings-wasm/test/fixtures/webcrypto.toml",
    env: { JWKS: JSON.stringify(jwksAnyRsa()) },
    cases: [
      allow("RS256", TOKENS.clerk_org_admin, "RSASSA-PKCS1-v1_5"),
      allow("PS256", TOKENS.clerk_ps256, "RSA-PSS, salt 32"),
      allow("ES256", TOKENS.clerk_es256, "ECDSA P-256"),
      allow("ES256 (JWS R||S signature)", TOKENS.clerk_es256_raw_signature, "ECDSA P-256"),
      allow("ES384", TOKENS.clerk_es384, "ECDSA P-384"),
      allow("EdDSA", TOKENS.clerk_eddsa, "Ed25519"),
      deny("RS256 with a tampered signature", tamperSignature(TOKENS.clerk_org_admin)),
      deny("PS256 with a tampered signature", tamperSignature(TOKENS.clerk_ps256)),
      deny("ES256 with a tampered signature", tamperSignature(TOKENS.clerk_es256)),
      deny("ES384 with a tampered signature", tamperSignature(TOKENS.clerk_es384)),
      deny("EdDSA with a tampered signature", tamperSignature(TOKENS.clerk_eddsa, 0)),
      deny("RS256 with a tampered payload", TOKENS.clerk_tampered_payload),
      deny("RS256 signed by another key", TOKENS.clerk_attacker_signed),
      deny("ES256 with a DER signature", TOKENS.clerk_es256_der_signature),
      {
        name: "a kid the key set lacks: unknown_key, nothing to verify",
        request: req(TOKENS.clerk_rotated_kid),
        expect: { allow: false, status: 401, reason: "unknown_key" },
      },
    ],
  };
}

/** Every shared vector document, then the binding's WebCrypto document: `[name, doc]`. */
export function allDocs() {
  return [...vectorFiles().map((f) => [f, loadVector(f)]), ["webcrypto (bindings-wasm)", webcryptoDoc()]];
}

/**
 * Compares what a runtime made of `docs` (`[name, doc]`, as `allDocs` gives) with what
 * each expects. `results[i]` is `{ loadError }` or `{ decisions }` (or `{ thrown }`),
 * as the page and worker runners return them; `onLoaded(result)` sees each loaded one.
 * Returns the failures, one line each, and the number of cases compared.
 */
export function compareRuns(docs, results, onLoaded = () => {}) {
  const failures = [];
  let cases = 0;
  docs.forEach(([file, doc], i) => {
    const got = results[i];
    if (got.thrown) return failures.push(`${file}: threw ${got.thrown}`);
    if ("expect_load_error" in doc) {
      const e = got.loadError;
      if (!e || e.code !== "policy_error" || !e.message.includes(doc.expect_load_error) || e.errors < 1 || e.place !== e.first) {
        failures.push(`${file}: want load error ${JSON.stringify(doc.expect_load_error)}, got ${JSON.stringify(got)}`);
      }
      return;
    }
    if (got.loadError) return failures.push(`${file}: did not load: ${got.loadError.message}`);
    onLoaded(got);
    doc.cases.forEach((c, j) => {
      cases++;
      const errs = check(c.expect, got.decisions[j]);
      if (errs.length) failures.push(`${file} / ${c.name}: ${errs.join("; ")}`);
    });
  });
  return { failures, cases };
}
