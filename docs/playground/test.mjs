// The playground in headless Chromium (Debian's `chromium`, driven by playwright-core),
// served by the command a user runs (`scripts/playground 0`): each of the five examples
// loads with one click and every sample request (the shared vectors' cases) shows the
// decision its vector expects; a link reproduces the state; the JWT decoder shows a
// token's claims; a broken policy shows its error with its line; the page makes no
// request outside its own origin. A screenshot is saved in docs/playground/.out/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "../..");
const out = join(here, ".out");
let server;
let base;
let browser;
const requests = [];
const pageErrors = [];

function chromiumPath() {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(p)) return p;
  return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim();
}

before(async () => {
  mkdirSync(out, { recursive: true });
  server = spawn(join(root, "scripts/playground"), ["0"], { stdio: ["ignore", "pipe", "inherit"] });
  base = await new Promise((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(seen);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    server.on("exit", (code) => reject(new Error(`scripts/playground exited (${code}) before serving`)));
  });
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  return page;
}

/** Runs `act` and waits for the page's next finished run; returns what it shows. */
async function afterRun(page, act) {
  const before = Number(await page.evaluate(() => document.body.dataset.run ?? 0));
  await act();
  await page.waitForFunction((n) => Number(document.body.dataset.run ?? 0) > n, before, { timeout: 15000 });
  return shown(page);
}

async function shown(page) {
  return page.evaluate(() => {
    const t = (id) => document.getElementById(id).textContent;
    return {
      state: document.body.dataset.state,
      status: t("d-status"), allow: t("d-allow"), reason: t("d-reason"), rule: t("d-rule"),
      principal: t("d-principal"), headers: t("d-headers"), body: t("d-body"),
      expected: t("expected"), policyStatus: t("policy-status"),
      trace: document.getElementById("trace").textContent,
      editors: ["policy", "env", "jwks", "method", "path", "headers", "peer", "now", "case"].map((id) => document.getElementById(id).value),
    };
  });
}

const examples = () => JSON.parse(readFileSync(join(here, "dist/examples.json"), "utf8"));

test("each example loads with one click and every sample request shows the decision its vector expects", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  const all = examples();
  assert.deepEqual(all.map((e) => e.name), ["artifact-miner", "fetchml", "model-registry", "rag-modulo", "skillmeat"]);
  let checked = 0;
  for (const example of all) {
    assert.ok(example.cases.length > 0, `${example.name} has sample requests`);
    const first = await afterRun(page, () => page.click(`#examples button[data-example="${example.name}"]`));
    assert.equal(first.editors[0], readFileSync(join(root, "examples/policies", example.file), "utf8"), "the policy is the example's file");
    assert.equal(first.state, "decided", `${example.name}: ${first.policyStatus}`);
    for (const [i, c] of example.cases.entries()) {
      const s = i === 0 ? first : await afterRun(page, () => page.selectOption("#case", String(i)));
      const where = `${example.name} / ${c.vector}: ${c.name}`;
      assert.equal(s.state, "decided", `${where}: ${s.policyStatus}`);
      assert.ok(c.expect.allow !== undefined || c.expect.status !== undefined, `${where} expects a status or allow`);
      if (c.expect.status !== undefined) assert.equal(s.status, String(c.expect.status), `${where}: status`);
      if (c.expect.allow !== undefined) assert.equal(s.allow, String(c.expect.allow), `${where}: allow`);
      if (c.expect.reason !== undefined) assert.equal(s.reason, c.expect.reason, `${where}: reason`);
      if (c.expect.rule !== undefined) assert.equal(s.rule, c.expect.rule ?? "—", `${where}: rule`);
      assert.match(s.expected, /: as shown$/, where);
      checked++;
    }
  }
  assert.ok(checked > 400, `only ${checked} sample requests`);
  await page.close();
});

test("the link reproduces the state: reloading the URL shows the same editors and decision", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  await afterRun(page, () => page.click('#examples button[data-example="fetchml"]'));
  // An edited request, not a sample: the fragment must carry the edits themselves.
  await afterRun(page, () => page.fill("#path", "/api/v1/jobs/bob"));
  const edited = await afterRun(page, () => page.fill("#headers", "X-API-Key: demo-researcher-key\nX-Trace: é✓"));
  assert.equal(edited.state, "decided");
  const url = page.url();
  assert.match(url, /#s=[A-Za-z0-9_-]+$/);
  const again = await newPage();
  await again.goto(url);
  await again.waitForFunction(() => document.body.dataset.state === "decided", null, { timeout: 30000 });
  const reloaded = await shown(again);
  assert.deepEqual(reloaded.editors, edited.editors);
  for (const k of ["status", "allow", "reason", "rule", "principal", "headers", "body"]) assert.equal(reloaded[k], edited[k], k);
  assert.equal(again.url(), url, "the reloaded page writes the same fragment");
  // A fragment cut short is said to be so, and an example is shown instead.
  const cut = await newPage();
  await cut.goto(url.slice(0, url.length - 7));
  await cut.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  assert.match(await cut.textContent("#policy-status"), /does not read|not in the form/);
  await Promise.all([page.close(), again.close(), cut.close()]);
});

test("the JWT decoder shows the header and claims of the request's bearer token", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  await afterRun(page, () => page.click('#examples button[data-example="rag-modulo"]'));
  const rag = examples().find((e) => e.name === "rag-modulo");
  const i = rag.cases.findIndex((c) => c.expect.allow && (c.request.headers ?? []).some(([n, v]) => /^authorization$/i.test(n) && /^Bearer ey/.test(v)));
  assert.ok(i >= 0, "a rag-modulo sample with a bearer JWT");
  await afterRun(page, () => page.selectOption("#case", String(i)));
  const token = rag.cases[i].request.headers.find(([n]) => /^authorization$/i.test(n))[1].slice("Bearer ".length);
  const [h, p] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")));
  const claims = await page.textContent("#jwt .jwt-claims");
  for (const [k, v] of Object.entries(p)) {
    assert.ok(claims.includes(k) && claims.includes(String(typeof v === "object" ? "" : v)), `claim ${k} shown`);
  }
  assert.ok((await page.textContent("#jwt")).includes(h.alg), "the header's alg is shown");
  await page.screenshot({ path: join(out, "playground-jwt.png"), fullPage: true });
  // A token that is not base64url JSON is said to be so, not shown as claims.
  const s = await afterRun(page, () => page.fill("#headers", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"));
  assert.equal(s.state, "decided");
  assert.match(await page.textContent("#jwt"), /claims are not base64url JSON/);
  await page.close();
});

test("a policy that does not load shows its errors with their place and line", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  const s = await afterRun(page, () => page.fill("#policy", '[[routes]]\npath = "/x"\npublik = true\n'));
  assert.equal(s.state, "policy-error");
  assert.match(s.policyStatus, /^the policy does not load:\nline 3, column \d+: routes\[0\]\.publik: unknown field `publik`/);
  assert.equal(s.status, "—");
  await page.close();
});

test("the explain trace is shown beside the decision: the rules considered, the one that matched, the authenticators tried", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.run !== undefined, null, { timeout: 30000 });
  await afterRun(page, () => page.click('#examples button[data-example="fetchml"]'));
  const fetchml = examples().find((e) => e.name === "fetchml");
  const i = fetchml.cases.findIndex((c) => c.expect.allow && c.expect.rule && c.request.headers?.length);
  assert.ok(i >= 0, "a fetchml sample allowed by a rule, with a credential");
  const s = await afterRun(page, () => page.selectOption("#case", String(i)));
  const section = (name) => page.textContent(`#trace details[data-section="${name}"]`);
  const sections = await page.$$eval("#trace details[data-section]", (ds) => ds.map((d) => d.dataset.section));
  for (const name of ["target", "cors", "rules", "authenticators"]) assert.ok(sections.includes(name), `trace section ${name}: ${sections}`);
  assert.ok((await section("rules")).includes(fetchml.cases[i].expect.rule), "the rules considered include the matched one");
  assert.ok((await section("authenticators")).includes("fetchml-keys"), "the authenticator tried is named");
  assert.equal(s.rule, fetchml.cases[i].expect.rule);
  // The trace never holds the credential.
  const key = fetchml.cases[i].request.headers.find(([n]) => /^x-api-key$/i.test(n))?.[1];
  if (key) assert.ok(!s.trace.includes(key), "no API key in the trace");
  await page.screenshot({ path: join(out, "playground.png"), fullPage: true });
  await page.close();
});

test("the page made no request outside its own origin, and threw nothing", () => {
  assert.ok(requests.length > 0);
  const foreign = requests.filter((u) => !u.startsWith(`${base}/`));
  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors, []);
});
