// Timing (not a test): decisions per second through the WASM package in Node, against
// jose's jwtVerify for the same tokens and the native core (benches/examples/native_decide.rs
// in the main workspace, given the same requests). Ratios are taken in one run, since machines are noisy.
//   node bench/bench.mjs              (after build.sh; builds and runs the native figure too)
//   node bench/bench.mjs --no-native  (WASM and jose only)
//
// Every admit decision is awaited, as a user awaits it: `decide` returns a Promise, already
// resolved when there is no signature for WebCrypto to check (no credential, API key,
// HS256). An RS256, ES256 or EdDSA decision in the default (host-crypto) build is two
// rounds through the core around one `crypto.subtle.verify`. The policies' verified-token
// cache is switched off (`verified_cache = 0`) for the "fresh" rows, so that every
// decision verifies the signature as jose does; the "repeated" row keeps the default.
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
const AUDIENCE = "skillmeat-api";
const hsToken = tokens.rag_valid;
const rsToken = tokens.clerk_org_admin;
const esToken = tokens.clerk_es256;
const edToken = tokens.clerk_eddsa;

/** A policy's text with the verified-token cache of its jwt authenticator `id` off. */
const uncached = (text, id) => {
  const out = text.replace(`id = "${id}"\n`, `id = "${id}"\nverified_cache = 0\n`);
  if (out === text) throw new Error(`no authenticator ${id}`);
  return out;
};
const clerkEnv = { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: ISSUER, CLERK_AUDIENCE: AUDIENCE, CLERK_JWKS_URL: `${ISSUER}/.well-known/jwks.json` };
const rag = new Engine(read("examples/policies/rag-modulo.toml"), { env: { JWT_SECRET_KEY: SECRET } });
// The key set a host fetches from CLERK_JWKS_URL, handed over as it would be.
const withJwks = (engine) => (engine.setJwks("clerk", read("tests/fixtures/jwks.json")), engine);
const clerk = withJwks(new Engine(uncached(read("examples/policies/skillmeat.toml"), "clerk"), { env: clerkEnv }));
const clerkCached = withJwks(new Engine(read("examples/policies/skillmeat.toml"), { env: clerkEnv }));
// ES256 and EdDSA: the binding's WebCrypto test policy (every algorithm the host checks).
const multiJwks = JSON.parse(read("tests/fixtures/jwks.json"));
const multi = new Engine(uncached(read("bindings-wasm/test/fixtures/webcrypto.toml"), "multi"), { env: { JWKS: JSON.stringify(multiJwks) } });
const fetchml = new Engine(read("examples/policies/fetchml.toml"), { files: { "fetchml-keys.toml": read("examples/policies/fetchml-keys.toml") } });
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
const bearer = (path, token) => ({ method: "GET", path, headers: [["Authorization", `Bearer ${token}`]], peer: "127.0.0.1", now: NOW });
const hsReq = bearer("/api/collections", hsToken);
const rsReq = bearer("/api/v1/artifacts", rsToken);
const esReq = bearer("/x", esToken);
const edReq = bearer("/x", edToken);
const expect = [
  [rag, denyReq, false], [fetchml, keyReq, true], [fetchml, workerKeyReq, true], [rag, hsReq, true],
  [clerk, rsReq, true], [clerkCached, rsReq, true], [multi, esReq, true], [multi, edReq, true],
];
for (const [e, r, allow] of expect) {
  if ((await e.decide(r)).allow !== allow) throw new Error(`unexpected timed decision ${JSON.stringify(r.headers)}`);
}

// Counts WebCrypto verifications, to show which rows make one per decision.
const subtle = globalThis.crypto.subtle;
const realVerify = subtle.verify;
let verifies = 0;
subtle.verify = function (...args) {
  verifies++;
  return realVerify.apply(subtle, args);
};

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
/** Best of five: ns per call of `fn` awaited one after another; and verify calls per call. */
async function bestAsync(fn, n) {
  for (let i = 0; i < n / 10; i++) await fn();
  let b = Infinity;
  const v0 = verifies;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t) / n);
  }
  return { ns: b, verifies: (verifies - v0) / (5 * n) };
}

/** admit and jose timed in alternating batches (best of nine each), so that a ratio is
 * taken over the same seconds: the machines these run on drift by 2x within a minute. */
async function pair(admitFn, joseFn, n) {
  for (let i = 0; i < n / 10; i++) {
    await admitFn();
    await joseFn();
  }
  const out = [{ ns: Infinity, verifies: 0 }, { ns: Infinity, verifies: 0 }];
  for (let k = 0; k < 9; k++) {
    for (const [j, fn] of [admitFn, joseFn].entries()) {
      const v0 = verifies;
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await fn();
      out[j].ns = Math.min(out[j].ns, Number(process.hrtime.bigint() - t) / n);
      out[j].verifies = (verifies - v0) / n;
    }
  }
  return out;
}

const hsKey = new TextEncoder().encode(SECRET);
const jwks = createLocalJWKSet(JSON.parse(read("tests/fixtures/jwks.json")));
const currentDate = new Date(NOW * 1000);
const joseOpts = (alg) => ({ algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, currentDate });
await jwtVerify(hsToken, hsKey, { algorithms: ["HS256"], currentDate });
for (const [t, a] of [[rsToken, "RS256"], [esToken, "ES256"], [edToken, "EdDSA"]]) await jwtVerify(t, jwks, joseOpts(a));

const rawDeny = best(() => rag.malformed("x"), 100000);
const wasmDeny = await bestAsync(() => rag.decide(denyReq), 100000);
const wasmKey = await bestAsync(() => fetchml.decide(keyReq), 100000);
const wasmKeyWorker = await bestAsync(() => fetchml.decide(workerKeyReq), 100000);
const [wasmHs, joseHs] = await pair(() => rag.decide(hsReq), () => jwtVerify(hsToken, hsKey, { algorithms: ["HS256"], currentDate }), 10000);
const [wasmRs, joseRs] = await pair(() => clerk.decide(rsReq), () => jwtVerify(rsToken, jwks, joseOpts("RS256")), 2000);
const [wasmRsCached, joseRs2] = await pair(() => clerkCached.decide(rsReq), () => jwtVerify(rsToken, jwks, joseOpts("RS256")), 2000);
const [wasmEs, joseEs] = await pair(() => multi.decide(esReq), () => jwtVerify(esToken, jwks, joseOpts("ES256")), 1000);
const [wasmEd, joseEd] = await pair(() => multi.decide(edReq), () => jwtVerify(edToken, jwks, joseOpts("EdDSA")), 1000);

let native = null;
let nativeNote = "";
if (!process.argv.includes("--no-native")) {
  // The same decisions, native, as the Rust, Python and C bindings ship the core (aws-lc,
  // the main workspace's release profile, opt-level 3; not this crate's "z", chosen for
  // the .wasm), by the workspace's one timing program (benches/examples/native_decide.rs).
  // The RS256 case repeats one token with the policy's default verified-token cache.
  const policy = (name) => join(root, "examples/policies", name);
  const request = (path, headers, ...rest) => [
    "--path", path, "--peer", "127.0.0.1", "--now", String(NOW), ...headers.flatMap(([n, v]) => ["--header", `${n}: ${v}`]), ...rest,
  ];
  const ragEnv = ["--policy", policy("rag-modulo.toml"), "--env", `JWT_SECRET_KEY=${SECRET}`];
  const fetchmlEnv = ["--policy", policy("fetchml.toml")];
  const clerkEnv = [
    "--policy", policy("skillmeat.toml"), "--env", "SKILLMEAT_AUTH_ENABLED=true", "--env", `CLERK_ISSUER=${ISSUER}`,
    "--env", "CLERK_AUDIENCE=skillmeat-api", "--env", `CLERK_JWKS_URL=${ISSUER}/.well-known/jwks.json`,
    "--jwks", `clerk=${join(root, "tests/fixtures/jwks.json")}`,
  ];
  const cases = [
    "--case", "deny_ns", ...ragEnv, ...request(denyReq.path, denyReq.headers, "--expect", "deny"),
    "--case", "api_key_ns", ...fetchmlEnv, ...request(keyReq.path, keyReq.headers),
    "--case", "api_key_worker_ns", ...fetchmlEnv, ...request(workerKeyReq.path, workerKeyReq.headers),
    "--case", "hs256_ns", ...ragEnv, ...request(hsReq.path, hsReq.headers, "--iterations", "100000"),
    "--case", "rs256_ns", ...clerkEnv, ...request(rsReq.path, rsReq.headers, "--iterations", "5000"),
  ];
  const args = ["run", "-q", "--release", "--locked", "-p", "admit-benches", "--example", "native_decide", "--", ...cases];
  try {
    native = JSON.parse(execFileSync("cargo", args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] }).toString());
  } catch (e) {
    nativeNote = `\n(native column left out: native_decide did not build or run: ${String(e.stderr ?? e.message).trim().split("\n").slice(-3).join(" / ")})`;
  }
}

const us = (ns) => (ns >= 1e5 ? `${(ns / 1e3).toFixed(0)} µs` : `${(ns / 1e3).toFixed(1)} µs`);
const row = (name, r, nat, jose) => {
  const cells = [
    `${us(r.ns)} (${Math.round(1e9 / r.ns).toLocaleString("en")}/s)${r.verifies ? `, ${r.verifies.toFixed(0)} verify/decision` : ""}`,
    nat ? `${us(nat)} (wasm ${(r.ns / nat).toFixed(1)}x)` : "-",
    jose ? `${us(jose.ns)} (wasm/jose ${(r.ns / jose.ns).toFixed(2)}x)` : "-",
  ];
  return `| ${name} | ${cells.join(" | ")} |`;
};
const joseVersion = JSON.parse(readFileSync(join(here, "node_modules/jose/package.json"), "utf8")).version;
console.log(`Node ${process.version}, admit-wasm (await decide()) vs native Engine::decide (aws-lc, opt-level 3) vs jose ${joseVersion} jwtVerify\n`);
console.log("| decision | admit-wasm in Node | native core | jose jwtVerify |");
console.log("|---|---:|---:|---:|");
console.log(row("no credential: 401 (RAG Modulo)", wasmDeny, native?.deny_ns, null));
console.log(row("API key (FetchML)", wasmKey, native?.api_key_ns, null));
console.log(row("API key + 12 ordinary headers (a Worker's request)", wasmKeyWorker, native?.api_key_worker_ns, null));
console.log(row("HS256 JWT (RAG Modulo)", wasmHs, native?.hs256_ns, joseHs));
// native_decide repeats one RS256 token with the policy's default verified-token cache:
// its figure belongs to the repeated row.
console.log(row("RS256 JWT via JWKS, fresh (SkillMeat Clerk, verified_cache = 0)", wasmRs, null, joseRs));
console.log(row("RS256 JWT via JWKS, repeated token (default verified_cache)", wasmRsCached, native?.rs256_ns, joseRs2));
console.log(row("ES256 JWT, fresh", wasmEs, null, joseEs));
console.log(row("EdDSA JWT, fresh", wasmEd, null, joseEd));
console.log(`\nThe binding's own floor: engine.malformed() (no request to read; one decision serialised, copied out, JSON.parse'd; synchronous): ${us(rawDeny)}${nativeNote}`);
subtle.verify = realVerify;
