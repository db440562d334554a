// Timing (not a test): decisions per second through the WASM package in Node, against
// the native core (bench/native.rs) and against jose's jwtVerify for the same HS256 and
// RS256 tokens. Ratios are taken in one run, since machines are noisy.
//   node bench/bench.mjs            (after build.sh; builds and runs the native figure too)
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { jwtVerify, createLocalJWKSet } from "jose";
import { Engine } from "admit-wasm";

const here = fileURLToPath(new URL("..", import.meta.url));
const root = join(here, "..");
const read = (p) => readFileSync(join(root, p), "utf8");
const tokens = JSON.parse(read("tests/fixtures/tokens.json"));
const NOW = 1790000000;
const SECRET = "test-only-rag-modulo-secret-0123456789abcdef";
const ISSUER = "https://test-instance.clerk.accounts.dev";
const hsToken = tokens.rag_valid;
const rsToken = tokens.clerk_org_admin;

const rag = new Engine(read("examples/policies/rag-modulo.toml"), { env: { JWT_SECRET_KEY: SECRET } });
const clerk = new Engine(read("examples/policies/skillmeat.toml"), {
  env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: ISSUER, CLERK_AUDIENCE: "skillmeat-api", CLERK_JWKS: read("tests/fixtures/jwks.json") },
});
const fetchml = new Engine(read("examples/policies/fetchml.toml"));
const denyReq = { method: "GET", path: "/api/collections", headers: [], peer: "127.0.0.1", now: NOW };
const keyReq = { method: "GET", path: "/api/v1/jobs/bob/7", headers: [["X-API-Key", "demo-researcher-key"]], peer: "127.0.0.1", now: NOW };
// The ordinary headers of a request as a Cloudflare Worker sees it (test values).
const ORDINARY = [
  ["host", "api.example.com"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"],
  ["accept", "application/json"],
  ["accept-encoding", "gzip, br"],
  ["accept-language", "en-GB,en;q=0.9"],
  ["cf-connecting-ip", "203.0.113.7"],
  ["cf-ipcountry", "GB"],
  ["cf-ray", "8f1e2d3c4b5a6978-LHR"],
  ["cf-visitor", '{"scheme":"https"}'],
  ["x-forwarded-proto", "https"],
  ["x-real-ip", "203.0.113.7"],
  ["connection", "Keep-Alive"],
];
const workerKeyReq = { ...keyReq, headers: [...ORDINARY, ...keyReq.headers] };
if (rag.decide(denyReq).allow || !fetchml.decide(keyReq).allow || !fetchml.decide(workerKeyReq).allow) {
  throw new Error("unexpected timed decisions");
}
const hsReq = { method: "GET", path: "/api/collections", headers: [["Authorization", `Bearer ${hsToken}`]], peer: "127.0.0.1", now: NOW };
const rsReq = { method: "GET", path: "/api/v1/artifacts", headers: [["Authorization", `Bearer ${rsToken}`]], peer: "127.0.0.1", now: NOW };
for (const [e, r] of [[rag, hsReq], [clerk, rsReq]]) if (!e.decide(r).allow) throw new Error("the timed decision must allow");

function best(fn, n) {
  for (let i = 0; i < n / 10; i++) fn();
  let b = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t) / n);
  }
  return b;
}
async function bestAsync(fn, n) {
  for (let i = 0; i < n / 10; i++) await fn();
  let b = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t) / n);
  }
  return b;
}

const hsKey = new TextEncoder().encode(SECRET);
const jwks = createLocalJWKSet(JSON.parse(read("tests/fixtures/jwks.json")));
const currentDate = new Date(NOW * 1000);
await jwtVerify(hsToken, hsKey, { algorithms: ["HS256"], currentDate });
await jwtVerify(rsToken, jwks, { algorithms: ["RS256"], issuer: ISSUER, audience: "skillmeat-api", currentDate });

const wasmDeny = best(() => rag.decide(denyReq), 100000);
const wasmKey = best(() => fetchml.decide(keyReq), 100000);
const wasmKeyWorker = best(() => fetchml.decide(workerKeyReq), 100000);
const rawDeny = best(() => rag.malformed("x"), 100000);
const wasmHs = best(() => rag.decide(hsReq), 50000);
const wasmRs = best(() => clerk.decide(rsReq), 3000);
const joseHs = await bestAsync(() => jwtVerify(hsToken, hsKey, { algorithms: ["HS256"], currentDate }), 50000);
const joseRs = await bestAsync(() => jwtVerify(rsToken, jwks, { algorithms: ["RS256"], issuer: ISSUER, audience: "skillmeat-api", currentDate }), 3000);

let native = null;
if (!process.argv.includes("--no-native")) {
  // Native as the Rust, Python and C bindings ship it: opt-level 3, not this crate's
  // release profile ("z", chosen for the .wasm). Its own target dir, so that the two
  // profiles do not rebuild each other's host artefacts.
  const args = ["run", "-q", "--release", "--locked", "--config", "profile.release.opt-level=3", "--example", "native", "--", root, hsToken, rsToken, JSON.stringify(ORDINARY)];
  const out = execFileSync("cargo", args, {
    cwd: here,
    env: { ...process.env, CARGO_TARGET_DIR: join(process.env.CARGO_TARGET_DIR ?? join(here, "target"), "native-o3") },
  });
  native = JSON.parse(out.toString());
}

const row = (name, ns, nat, jose) =>
  `| ${name} | ${ns.toFixed(0)} ns (${Math.round(1e9 / ns).toLocaleString("en")}/s) | ${nat ? `${nat.toFixed(0)} ns, wasm/native ${(ns / nat).toFixed(2)}x` : "-"} | ${jose === null ? "-" : `${jose.toFixed(0)} ns, jose/wasm ${(jose / ns).toFixed(2)}x`} |`;
console.log(`Node ${process.version}, admit-wasm decide() vs native Engine::decide (opt-level 3) vs jose ${JSON.parse(readFileSync(join(here, "node_modules/jose/package.json"), "utf8")).version} jwtVerify\n`);
console.log("| decision | admit-wasm in Node | native core | jose jwtVerify |");
console.log("|---|---|---|---|");
console.log(row("no credential: 401 (RAG Modulo)", wasmDeny, native?.deny_ns, null));
console.log(row("API key (FetchML)", wasmKey, native?.api_key_ns, null));
console.log(row("API key + 12 ordinary headers (a Worker's request)", wasmKeyWorker, native?.api_key_worker_ns, null));
console.log(row("HS256 JWT (RAG Modulo)", wasmHs, native?.hs256_ns, joseHs));
console.log(row("RS256 JWT via JWKS (SkillMeat Clerk)", wasmRs, native?.rs256_ns, joseRs));
console.log(`\nThe binding's own floor: engine.malformed() (no request to read; one decision serialised, copied out, JSON.parse'd): ${rawDeny.toFixed(0)} ns`);
