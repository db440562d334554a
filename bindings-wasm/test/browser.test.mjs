// The ESM web build in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core with executablePath) loads a page served on 127.0.0.1 that imports the
// package's web entry and makes decisions; the test checks them. A second page runs every
// shared vector and the binding's WebCrypto document (helpers.mjs) in the browser, its
// RS256, PS256, ES256, ES384 and EdDSA tokens verified by Chromium's WebCrypto.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join, normalize, extname } from "node:path";
import { chromium } from "playwright-core";
import { allDocs, docForRunner, compareRuns } from "./helpers.mjs";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const root = join(pkg, "..");
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".toml": "text/plain" };
const MR_TOKEN = "test-only-model-registry-token";

const PAGE = `<!doctype html><meta charset="utf-8"><title>admit</title>
<script type="module">
  import { Engine, hashKey } from "/pkg/js/web.js";
  try {
    const policy = await (await fetch("/policies/model-registry.toml")).text();
    const engine = new Engine(policy, { env: { AUTH_TOKEN: ${JSON.stringify(MR_TOKEN)}, ALLOWED_ORIGINS: "https://app.example.com" } });
    const now = 1790000000;
    // Counts WebCrypto calls: none of these decisions has a signature to verify.
    let subtleCalls = 0;
    for (const m of ["verify", "importKey"]) {
      const real = crypto.subtle[m].bind(crypto.subtle);
      crypto.subtle[m] = (...a) => { subtleCalls++; return real(...a); };
    }
    const pending = engine.decide({ method: "GET", path: "/api/models", now });
    const out = {
      promise: pending instanceof Promise,
      missing: await pending,
      wrong: await engine.decide({ method: "GET", path: "/api/models", headers: { Authorization: "Bearer nope" }, now }),
      ok: await engine.decide({ method: "GET", path: "/api/models", headers: new Headers({ Authorization: "Bearer ${MR_TOKEN}" }), now }),
      clock: await engine.decide({ method: "GET", path: "/api/models", headers: [["Authorization", "Bearer ${MR_TOKEN}"]] }),
      // A page may not set Origin on a Request (a forbidden header): the preflight goes
      // through decide(), and decideRequest() gets an ordinary request.
      preflight: await engine.decide({ method: "OPTIONS", path: "/api/models", now,
        headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" } }),
      fetchRequest: await engine.decideRequest(new Request("https://api.example.com/api/models?x=1", {
        headers: { Authorization: "Bearer ${MR_TOKEN}" } }), { now }),
      hash: hashKey("12345"),
    };
    out.subtleCalls = subtleCalls;
    try { await engine.decide(undefined); } catch (e) { out.badCode = e.code; out.badType = e instanceof TypeError; }
    try { new Engine("[[routes]]\\npath = 7\\n"); } catch (e) { out.policyCode = e.code; out.policyLine = e.line; }
    window.result = out;
  } catch (e) {
    window.result = { error: String(e && e.stack || e) };
  }
</script>`;

// Runs every document of /vectors.json (policy text inlined) and reports each decision,
// or the load error; the checks are made in Node with the shared helpers.
const VECTORS_PAGE = `<!doctype html><meta charset="utf-8"><title>admit vectors</title>
<script type="module">
  import { Engine } from "/pkg/js/web.js";
  try {
    const docs = await (await fetch("/vectors.json")).json();
    const out = [];
    for (const doc of docs) {
      let engine;
      try {
        engine = new Engine(doc.policyText, { format: doc.format, env: doc.env, files: doc.files });
        for (const [id, set] of Object.entries(doc.jwks)) engine.setJwks(id, set);
        for (const [id, file] of Object.entries(doc.keys)) engine.setKeys(id, file);
        for (const [id, table] of Object.entries(doc.checks ?? {})) {
          engine.setCheck(id, (credential) => (Object.hasOwn(table, credential) ? table[credential] : null));
        }
      } catch (e) {
        out.push({ loadError: { code: e.code, message: e.message, errors: e.errors?.length ?? 0, place: e.place, first: e.errors?.[0]?.place } });
        continue;
      }
      const decisions = [];
      for (const c of doc.cases) decisions.push(await engine.decide(c.request));
      out.push({ decisions, secure: isSecureContext });
      engine.free();
    }
    window.result = out;
  } catch (e) {
    window.result = { error: String(e && e.stack || e) };
  }
</script>`;

const DOCS = allDocs();
let server;
let base;
let browser;

function chromiumPath() {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(p)) return p;
  return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim();
}

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    let file;
    if (url.pathname === "/" || url.pathname === "/vectors.html") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(url.pathname === "/" ? PAGE : VECTORS_PAGE);
    } else if (url.pathname === "/vectors.json") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(DOCS.map(([, doc]) => docForRunner(doc))));
    } else if (url.pathname.startsWith("/pkg/")) file = join(pkg, normalize(url.pathname.slice(5)));
    else if (url.pathname.startsWith("/policies/")) file = join(root, "examples/policies", normalize(url.pathname.slice(10)));
    if (!file || !file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the web build decides in headless Chromium", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30000 });
  const r = await page.evaluate(() => window.result);
  assert.deepEqual(errors, []);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.promise, true);
  assert.equal(r.subtleCalls, 0, "no decision here verifies a signature");
  assert.equal(r.missing.status, 401);
  assert.equal(r.missing.reason, "missing_credentials");
  assert.equal(r.missing.body, '{"detail": "Authentication required", "status_code": 401}');
  assert.equal(r.wrong.status, 403);
  assert.equal(r.wrong.reason, "invalid_credentials");
  assert.equal(r.ok.allow, true);
  assert.equal(r.ok.principal.id, "api-client");
  assert.equal(r.clock.allow, true);
  assert.equal(r.preflight.status, 204);
  assert.equal(r.preflight.reason, "preflight");
  assert.ok(r.preflight.headers.some(([n, v]) => n === "Access-Control-Allow-Origin" && v === "https://app.example.com"));
  assert.equal(r.fetchRequest.allow, true);
  assert.equal(r.fetchRequest.rule, "api");
  assert.equal(r.hash, "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5");
  assert.equal(r.badCode, "invalid_argument");
  assert.equal(r.badType, true);
  assert.equal(r.policyCode, "policy_error");
  assert.equal(typeof r.policyLine, "number");
  await page.close();
});

test("every shared vector and the WebCrypto document pass in headless Chromium", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/vectors.html`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 120000 });
  const r = await page.evaluate(() => window.result);
  await page.close();
  assert.deepEqual(errors, []);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.length, DOCS.length);
  const { failures, cases } = compareRuns(DOCS, r, (got) =>
    assert.equal(got.secure, true, "WebCrypto needs a secure context (127.0.0.1 is one)"),
  );
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${cases} cases failed in Chromium`);
  assert.ok(cases > 900, `only ${cases} cases`);
});
