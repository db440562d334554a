// The example worker in a real Workers runtime: workerd (from npm) serves worker.js with
// the admit-wasm package, once with the Model Registry policy (CORS) and once with
// SkillMeat's, on 127.0.0.1; the tests make real HTTP requests, preflights included.
// Needs bindings-wasm/pkg (bindings-wasm/build.sh) and `npm install` here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "../..");
const pkg = join(root, "bindings-wasm");
const out = join(here, ".out");
const MR_TOKEN = "test-only-model-registry-token";
const SM_KEY = "sk-test-only-skillmeat-key";
let child;
let mr;
let sm;

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

function workerConfig(name, policyFile, env) {
  return `const ${name} :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "admit-wasm", esModule = embed "admit-wasm.js"),
    (name = "node_modules/admit-wasm/js/workerd.js", esModule = embed "node_modules/admit-wasm/js/workerd.js"),
    (name = "node_modules/admit-wasm/js/engine.js", esModule = embed "node_modules/admit-wasm/js/engine.js"),
    (name = "node_modules/admit-wasm/pkg/admit_wasm.js", esModule = embed "node_modules/admit-wasm/pkg/admit_wasm.js"),
    (name = "node_modules/admit-wasm/pkg/admit_wasm_bg.wasm", wasm = embed "node_modules/admit-wasm/pkg/admit_wasm_bg.wasm"),
  ],
  bindings = [
    (name = "POLICY", text = embed "${policyFile}"),
    (name = "POLICY_ENV", text = ${capnpText(JSON.stringify(env))}),
  ],
  compatibilityDate = "2024-09-23",
);
`;
}

before(async () => {
  rmSync(out, { recursive: true, force: true });
  const mod = join(out, "node_modules/admit-wasm");
  mkdirSync(mod, { recursive: true });
  cpSync(join(pkg, "js"), join(mod, "js"), { recursive: true });
  cpSync(join(pkg, "pkg"), join(mod, "pkg"), { recursive: true });
  cpSync(join(here, "worker.js"), join(out, "worker.js"));
  cpSync(join(root, "examples/policies/model-registry.toml"), join(out, "model-registry.toml"));
  cpSync(join(root, "examples/policies/skillmeat.toml"), join(out, "skillmeat.toml"));
  // The bare specifier "admit-wasm" names this module, which re-exports the package's
  // workerd entry (what a bundler's "workerd" export condition picks).
  writeFileSync(join(out, "admit-wasm.js"), 'export * from "./node_modules/admit-wasm/js/workerd.js";\n');
  const [p1, p2] = [await freePort(), await freePort()];
  mr = `http://127.0.0.1:${p1}`;
  sm = `http://127.0.0.1:${p2}`;
  writeFileSync(
    join(out, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "mr", worker = .mrWorker), (name = "sm", worker = .smWorker) ],
  sockets = [
    (name = "mr", address = "127.0.0.1:${p1}", http = (), service = "mr"),
    (name = "sm", address = "127.0.0.1:${p2}", http = (), service = "sm"),
  ],
);
${workerConfig("mrWorker", "model-registry.toml", { AUTH_TOKEN: MR_TOKEN, ALLOWED_ORIGINS: "https://app.example.com" })}
${workerConfig("smWorker", "skillmeat.toml", { SKILLMEAT_AUTH_ENABLED: "true", SKILLMEAT_API_KEY_ENABLED: "true", SKILLMEAT_API_KEY: SM_KEY })}
`,
  );
  const bin = join(here, "node_modules/.bin/workerd");
  child = spawn(bin, ["serve", join(out, "config.capnp")], { stdio: ["ignore", "inherit", "inherit"] });
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      await fetch(`${mr}/api/health`);
      await fetch(`${sm}/health`);
      break;
    } catch (e) {
      if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`workerd did not answer: ${e}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

after(() => {
  if (child && child.exitCode === null) child.kill("SIGTERM");
});

test("model registry: no token is 401 Authentication required", async () => {
  const r = await fetch(`${mr}/api/models`);
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), { detail: "Authentication required", status_code: 401 });
  assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
});

test("model registry: a wrong token is 403", async () => {
  const r = await fetch(`${mr}/api/models`, { headers: { Authorization: "Bearer wrong" } });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).detail, "Invalid authentication credentials");
});

test("model registry: the token passes and the handler runs", async () => {
  const r = await fetch(`${mr}/api/models?limit=5`, { headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.principal.id, "api-client");
  assert.equal(body.rule, "api");
});

test("model registry: a preflight from an allowed origin is 204 with CORS headers", async () => {
  const r = await fetch(`${mr}/api/models`, {
    method: "OPTIONS",
    headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.match(r.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match((r.headers.get("vary") ?? "").toLowerCase(), /origin/);
});

test("model registry: a preflight from another origin is 403 Origin not allowed", async () => {
  const r = await fetch(`${mr}/api/models`, {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).detail, "Origin not allowed");
  assert.equal(r.headers.get("access-control-allow-origin"), null);
});

test("model registry: an allowed origin's actual request gets Access-Control-Allow-Origin", async () => {
  const r = await fetch(`${mr}/api/models`, { headers: { Origin: "https://app.example.com", Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
});

test("model registry: /env is never served", async () => {
  const r = await fetch(`${mr}/env`, { headers: { Authorization: `Bearer ${MR_TOKEN}` } });
  assert.equal(r.status, 404);
});

test("skillmeat: /health is open", async () => {
  const r = await fetch(`${sm}/health`);
  assert.equal(r.status, 200);
});

test("skillmeat: no credentials is 401 Missing authentication token", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`);
  assert.equal(r.status, 401);
  assert.match(await r.text(), /Missing authentication token/);
});

test("skillmeat: the API key lists artifacts", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`, { headers: { "X-API-Key": SM_KEY } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.rule, "artifacts-read");
  assert.equal(body.principal.authenticator, "api-key");
});

test("skillmeat: a wrong API key is 401 Invalid or expired token", async () => {
  const r = await fetch(`${sm}/api/v1/artifacts`, { headers: { "X-API-Key": "sk-wrong" } });
  assert.equal(r.status, 401);
  assert.match(await r.text(), /Invalid or expired token/);
});
