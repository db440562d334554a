// Shared-vector helpers: placeholders (tests/README.md) and the expectation check,
// mirroring cli/tests/vectors.rs and bindings-python/tests/test_vectors.py.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const VECTORS = join(ROOT, "tests/vectors");
const TOKENS = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/tokens.json"), "utf8"));

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
