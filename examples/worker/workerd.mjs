// Starts workerd (from npm) serving worker.js with the admit-wasm package three times, on
// 127.0.0.1: the Model Registry (CORS), SkillMeat (API key and enterprise PAT enabled)
// and FetchML, each with its policy from examples/policies and the test credentials
// below; and a fourth time, SkillMeat with the binding's old path, for the differential
// test to show that it catches it; and vectors-worker.js, which runs vector documents
// inside workerd (vectors.test.mjs), and delegated-worker.js (sessions checked by the
// application through engine.setCheck). Needs bindings-wasm/pkg (bindings-wasm/build.sh) and
// `npm install` here.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "../..");
const pkg = join(root, "bindings-wasm");

// Test-only credentials (the FetchML keys are the policy's documented fixtures).
export const MR_TOKEN = "test-only-model-registry-token";
export const SM_KEY = "sk-test-only-skillmeat-key";
export const SM_PAT = "test-only-skillmeat-enterprise-pat";
export const FM_KEYS = {
  alice: "demo-admin-key",
  bob: "demo-researcher-key",
  carol: "demo-analyst-key",
  dave: "demo-revoked-key",
};

const APPS = {
  mr: { app: "model-registry", policy: "model-registry.toml", env: { AUTH_TOKEN: MR_TOKEN, ALLOWED_ORIGINS: "https://app.example.com" } },
  sm: {
    app: "skillmeat",
    policy: "skillmeat.toml",
    env: {
      SKILLMEAT_AUTH_ENABLED: "true",
      SKILLMEAT_API_KEY_ENABLED: "true",
      SKILLMEAT_API_KEY: SM_KEY,
      SKILLMEAT_ENTERPRISE_PAT_SECRET: SM_PAT,
      // Clerk RS256 tokens, verified by workerd's WebCrypto (tests/fixtures: test keys);
      // the key set fetched by the worker from CLERK_JWKS_URL, served by the JWKS server
      // below (its URL is set when it starts).
      CLERK_ISSUER: "https://test-instance.clerk.accounts.dev",
      CLERK_AUDIENCE: "skillmeat-api",
    },
    jwks: "/sm/jwks.json",
  },
  // The keys are in fetchml-keys.toml beside the policy: the worker gets its text as a
  // file (POLICY_FILES), as a deployment would from a secret or KV.
  fm: { app: "fetchml", policy: "fetchml.toml", env: {}, files: ["fetchml-keys.toml"] },
};
// SkillMeat twice more, each with a JWKS path of its own on the test server (and so a
// key set cache of its own: one isolate each), for jwks.test.mjs to rotate, flood and
// break without touching the other workers.
APPS.jw = { ...APPS.sm, jwks: "/jw/jwks.json" };
APPS.jw2 = { ...APPS.sm, jwks: "/jw2/jwks.json" };
// The same SkillMeat worker with the binding's old path (the text of request.url after
// its host, as decideRequest passed it before it parsed the URL): the differential test
// runs against it once to show that it finds the mismatch.
APPS.smOld = { ...APPS.sm, admit: "admit-wasm-old.js" };

const OLD_BINDING = `// The binding as it was: decides on the text of request.url after its first "/" past
// "//", which is not the pathname a router matches when the Host header holds "\\".
import { Engine as Current } from "./node_modules/admit-wasm/js/workerd.js";
export * from "./node_modules/admit-wasm/js/workerd.js";
function target(url) {
  const start = url.indexOf("//");
  const slash = url.indexOf("/", start < 0 ? 0 : start + 2);
  if (slash < 0) return "/";
  const hash = url.indexOf("#", slash);
  return hash < 0 ? url.slice(slash) : url.slice(slash, hash);
}
export class Engine extends Current {
  decideRequest(request, options = {}) {
    const headers = [...request.headers];
    if (!request.headers.has("host")) {
      try {
        headers.push(["host", new URL(request.url).host]);
      } catch {}
    }
    return this.decide({ method: request.method, path: target(request.url), headers, peer: options.peer, now: options.now });
  }
}
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const capnpText = (s) => JSON.stringify(s); // a JSON string is a valid Cap'n Proto text literal

/**
 * A JWKS server on 127.0.0.1 (plain HTTP: workerd does not trust a test certificate, and
 * the fetch rules allow `http://` to a loopback address). Each path serves what
 * `set(path, { body, status, cacheControl, delayMs })` says (by default
 * tests/fixtures/jwks.json, max-age=600) and counts its requests (`hits(path)`).
 */
export async function startJwksServer() {
  const { createServer: createHttpServer } = await import("node:http");
  const state = new Map();
  const counts = new Map();
  const JWKS = readFileSync(join(root, "tests/fixtures/jwks.json"), "utf8");
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const s = { body: JWKS, status: 200, cacheControl: "public, max-age=600", delayMs: 0, ...state.get(path) };
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(s.status, { "content-type": "application/json", "cache-control": s.cacheControl });
      res.end(s.body);
    };
    if (s.delayMs > 0) setTimeout(answer, s.delayMs).unref();
    else answer();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    set: (path, s) => state.set(path, s),
    hits: (path) => counts.get(path) ?? 0,
    stop: () => {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

function workerConfig(name, { app, policy, env, files = [], jwksUrl, admit = "admit-wasm.js", main = "worker.js" }) {
  const policyFiles = Object.fromEntries(files.map((f) => [f, readFileSync(join(root, "examples/policies", f), "utf8")]));
  const fullEnv = jwksUrl ? { ...env, CLERK_JWKS_URL: jwksUrl } : env;
  return `const ${name}Worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "${main}"),
    (name = "admit-wasm", esModule = embed "${admit}"),
    (name = "node_modules/admit-wasm/js/workerd.js", esModule = embed "node_modules/admit-wasm/js/workerd.js"),
    (name = "node_modules/admit-wasm/js/engine.js", esModule = embed "node_modules/admit-wasm/js/engine.js"),
    (name = "node_modules/admit-wasm/js/jwks.js", esModule = embed "node_modules/admit-wasm/js/jwks.js"),
    (name = "node_modules/admit-wasm/pkg/admit_wasm.js", esModule = embed "node_modules/admit-wasm/pkg/admit_wasm.js"),
    (name = "node_modules/admit-wasm/pkg/admit_wasm_bg.wasm", wasm = embed "node_modules/admit-wasm/pkg/admit_wasm_bg.wasm"),
  ],
  bindings = [
    (name = "APP", text = ${capnpText(app)}),
    (name = "POLICY", text = embed "${policy}"),
    (name = "POLICY_ENV", text = ${capnpText(JSON.stringify(fullEnv))}),
    (name = "POLICY_FILES", text = ${capnpText(JSON.stringify(policyFiles))}),
    (name = "REPORT", text = "1"),
  ],
  compatibilityDate = "2024-09-23",
  # The key sets are fetched from the JWKS server on 127.0.0.1: loopback is allowed.
  globalOutbound = "loopback",
);
`;
}

/** Starts the JWKS server, then workerd in `.out/<name>`; resolves to `{ mr, sm, fm,
 * smOld, jw, jw2, ports, jwks, stop }` once all answer (`mr` etc. are base URLs,
 * `ports.mr` etc. their ports, `jwks` the JWKS server). */
export async function startWorkerd(name) {
  const jwks = await startJwksServer();
  const out = join(here, ".out", name);
  rmSync(out, { recursive: true, force: true });
  const mod = join(out, "node_modules/admit-wasm");
  mkdirSync(mod, { recursive: true });
  cpSync(join(pkg, "js"), join(mod, "js"), { recursive: true });
  cpSync(join(pkg, "pkg"), join(mod, "pkg"), { recursive: true });
  cpSync(join(here, "worker.js"), join(out, "worker.js"));
  cpSync(join(here, "vectors-worker.js"), join(out, "vectors-worker.js"));
  cpSync(join(here, "delegated-worker.js"), join(out, "delegated-worker.js"));
  for (const a of Object.values(APPS)) cpSync(join(root, "examples/policies", a.policy), join(out, a.policy));
  // The bare specifier "admit-wasm" names this module, which re-exports the package's
  // workerd entry (what a bundler's "workerd" export condition picks).
  writeFileSync(join(out, "admit-wasm.js"), 'export * from "./node_modules/admit-wasm/js/workerd.js";\n');
  writeFileSync(join(out, "admit-wasm-old.js"), OLD_BINDING);
  const services = {
    ...APPS,
    vectors: { ...APPS.mr, main: "vectors-worker.js" },
    // delegated-worker.js keeps its own policy; the bindings are the Model Registry's.
    delegated: { ...APPS.mr, main: "delegated-worker.js" },
  };
  for (const a of Object.values(services)) if (a.jwks) a.jwksUrl = `${jwks.base}${a.jwks}`;
  const ports = {};
  for (const k of Object.keys(services)) ports[k] = await freePort();
  const names = Object.keys(services);
  writeFileSync(
    join(out, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ${names.map((k) => `(name = "${k}", worker = .${k}Worker)`).join(", ")}, (name = "loopback", network = .loopback) ],
  sockets = [
${names.map((k) => `    (name = "${k}", address = "127.0.0.1:${ports[k]}", http = (), service = "${k}"),`).join("\n")}
  ],
);
const loopback :Workerd.Network = (allow = ["local"]);
${names.map((k) => workerConfig(k, services[k])).join("\n")}`,
  );
  const bin = join(here, "node_modules/.bin/workerd");
  const child = spawn(bin, ["serve", join(out, "config.capnp")], { stdio: ["ignore", "inherit", "inherit"] });
  const urls = Object.fromEntries(names.map((k) => [k, `http://127.0.0.1:${ports[k]}`]));
  const stop = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    jwks.stop();
  };
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      await fetch(`${urls.mr}/api/health`);
      await fetch(`${urls.sm}/health`);
      await fetch(`${urls.fm}/api/v1/status`);
      await fetch(`${urls.smOld}/health`);
      break;
    } catch (e) {
      if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
      if (Date.now() > deadline) {
        stop();
        throw new Error(`workerd did not answer: ${e}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { ...urls, ports, jwks, stop };
}
