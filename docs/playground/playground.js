// The admit playground: the WASM engine (bindings-wasm's web entry) in a page. Every edit
// decides again (with the `explain` trace when the package has it), shows the decision,
// decodes the request's JWT and writes the whole state into the URL fragment.
import { Engine } from "./admit/js/web.js";
import { encodeState, decodeState, parseEnv, formatEnv, parseHeaders, formatHeaders } from "./state.js";
import { findTokens, decodeJwt, timeClaims } from "./jwt.js";

const $ = (id) => document.getElementById(id);
const examples = await (await fetch("examples.json")).json();

/** The current state: what the fragment holds. */
let state = null;
let engine = null;
let engineKey = "";
let runNumber = 0;
let timer = 0;

// ---- the editors <-> the state ----

function readEditors() {
  const files = {};
  for (const area of document.querySelectorAll("#files textarea")) files[area.dataset.path] = area.value;
  const now = $("now").value.trim();
  return {
    example: state?.example ?? null,
    sample: $("case").value === "" ? null : Number($("case").value),
    policy: $("policy").value,
    env: parseEnv($("env").value),
    files,
    jwks: $("jwks").value,
    request: {
      method: $("method").value,
      path: $("path").value,
      headers: parseHeaders($("headers").value),
      peer: $("peer").value.trim() || null,
      now: now === "" ? null : Number(now),
    },
  };
}

function writeEditors(s) {
  $("policy").value = s.policy ?? "";
  $("env").value = formatEnv(s.env);
  const files = $("files");
  files.replaceChildren();
  for (const [path, text] of Object.entries(s.files ?? {})) {
    const label = document.createElement("label");
    label.textContent = path;
    const area = document.createElement("textarea");
    area.dataset.path = path;
    area.rows = 8;
    area.spellcheck = false;
    area.value = text;
    area.setAttribute("aria-label", `file ${path}`);
    label.append(area);
    files.append(label);
  }
  $("files-pane").hidden = Object.keys(s.files ?? {}).length === 0;
  $("jwks").value = s.jwks ?? "";
  $("jwks-pane").open = Boolean(s.jwks);
  const r = s.request ?? {};
  $("method").value = r.method ?? "GET";
  $("path").value = r.path ?? "/";
  $("headers").value = formatHeaders(r.headers ?? []);
  $("peer").value = r.peer ?? "";
  $("now").value = r.now ?? "";
  fillSamples(s.example, s.sample);
  for (const b of document.querySelectorAll("#examples button")) b.setAttribute("aria-pressed", String(b.dataset.example === s.example));
}

/** The sample requests of the current example (the shared vectors' cases). */
function fillSamples(exampleName, selected) {
  const select = $("case");
  select.replaceChildren(new Option("(your own request)", ""));
  const example = examples.find((e) => e.name === exampleName);
  if (!example) return;
  let group = null;
  example.cases.forEach((c, i) => {
    if (!group || group.label !== c.vector) {
      group = document.createElement("optgroup");
      group.label = c.vector;
      select.append(group);
    }
    group.append(new Option(c.name, String(i)));
  });
  select.value = selected === null || selected === undefined ? "" : String(selected);
}

function loadExample(name, sample = 0) {
  const example = examples.find((e) => e.name === name);
  if (!example) return;
  const c = example.cases[sample];
  state = {
    example: name,
    sample: c ? sample : null,
    policy: example.policy,
    env: c ? c.env : {},
    files: example.files,
    jwks: c ? jwksText(c.jwks) : "",
    request: c ? sampleRequest(c.request) : { method: "GET", path: "/", headers: [], peer: null, now: null },
  };
  writeEditors(state);
  run();
}

function jwksText(jwks) {
  return Object.keys(jwks ?? {}).length ? JSON.stringify(jwks, null, 1) : "";
}

function sampleRequest(r) {
  return { method: r.method ?? "GET", path: r.path ?? "/", headers: r.headers ?? [], peer: r.peer ?? null, now: r.now ?? null };
}

function chooseSample() {
  const example = examples.find((e) => e.name === state?.example);
  const i = $("case").value;
  if (!example || i === "") return;
  const c = example.cases[Number(i)];
  state = { ...readEditors(), sample: Number(i), env: c.env, jwks: jwksText(c.jwks), request: sampleRequest(c.request) };
  writeEditors(state);
  run();
}

// ---- deciding ----

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    const edited = readEditors();
    // An edited request is no longer the sample's: say so rather than compare with it.
    if (edited.sample !== null && !sameRequest(edited)) edited.sample = null;
    state = edited;
    if (state.sample === null) $("case").value = "";
    run();
  }, 150);
}

function sameRequest(s) {
  const c = examples.find((e) => e.name === s.example)?.cases[s.sample];
  return c && JSON.stringify(sampleRequest(c.request)) === JSON.stringify(s.request)
    && JSON.stringify(c.env) === JSON.stringify(s.env) && jwksText(c.jwks) === s.jwks;
}

async function run() {
  const number = ++runNumber;
  history.replaceState(null, "", encodeState(state));
  document.body.dataset.state = "deciding";
  const key = JSON.stringify([state.policy, state.env, state.files, state.jwks]);
  if (key !== engineKey) {
    engine?.free();
    engine = null;
    engineKey = key;
    try {
      engine = new Engine(state.policy, { env: state.env, files: state.files, log: null });
      const sets = state.jwks.trim() ? JSON.parse(state.jwks) : {};
      for (const [id, set] of Object.entries(sets)) engine.setJwks(id, set);
      showPolicyStatus(engine);
    } catch (e) {
      engine?.free();
      engine = null;
      showPolicyError(e);
    }
  }
  renderJwt(state.request);
  renderNowDate(state.request.now);
  if (!engine) {
    renderDecision(null);
    renderTrace(null);
    finish("policy-error", number);
    return;
  }
  const request = {
    method: state.request.method,
    path: state.request.path,
    headers: state.request.headers,
    ...(state.request.peer ? { peer: state.request.peer } : {}),
    ...(state.request.now !== null && Number.isFinite(state.request.now) ? { now: state.request.now } : {}),
  };
  let decision;
  let trace = null;
  try {
    if (typeof engine.explain === "function") {
      const explanation = await engine.explain(request);
      decision = explanation.decision;
      trace = explanation.trace;
    } else {
      decision = await engine.decide(request);
    }
  } catch (e) {
    if (number !== runNumber) return;
    renderDecision(null);
    renderTrace(null, `the request was not decided: ${e.message}`);
    finish("request-error", number);
    return;
  }
  if (number !== runNumber) return;
  renderDecision(decision);
  renderTrace(trace, typeof engine.explain === "function" ? "" : "this build of the package has no explain: decision only");
  renderExpected(decision);
  finish("decided", number);
}

/** Marks the end of a run on the page (what the browser test waits for). */
function finish(outcome, number) {
  document.body.dataset.state = outcome;
  document.body.dataset.run = String(number);
}

// ---- rendering (text only: nothing typed is ever parsed as HTML) ----

function showPolicyStatus(e) {
  const status = $("policy-status");
  status.className = "";
  const warnings = e.warnings ?? [];
  status.textContent = warnings.length
    ? `policy loaded, with warnings:\n${warnings.map((w) => `${w.place ? w.place + ": " : ""}${w.message}`).join("\n")}`
    : "policy loaded";
}

function showPolicyError(e) {
  const status = $("policy-status");
  status.className = "error";
  const errors = e.errors?.length ? e.errors : [{ message: e.message }];
  const what = e instanceof SyntaxError ? "the key sets are not JSON" : e.code === "invalid" || e.code === "unknown_authenticator" ? "a key set is refused" : "the policy does not load";
  status.textContent = `${what}:\n` + errors
    .map((x) => `${x.line ? `line ${x.line}, column ${x.column}: ` : ""}${x.place ? x.place + ": " : ""}${x.message}`)
    .join("\n");
}

function text(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "string" ? v : JSON.stringify(v, null, 1);
}

function renderDecision(d) {
  const main = $("decision");
  main.className = "decision " + (d ? (d.allow ? "allow" : "deny") : "");
  $("d-status").textContent = d ? String(d.status) : "—";
  $("d-allow").textContent = d ? String(d.allow) : "—";
  $("d-reason").textContent = d ? d.reason : "—";
  $("d-message").textContent = d ? text(d.message) : "—";
  $("d-principal").textContent = d ? text(d.principal) : "—";
  $("d-rule").textContent = d ? text(d.rule) : "—";
  $("d-constraints").textContent = d ? text(d.constraints) : "—";
  $("d-dry-run").textContent = d ? String(d.dry_run ?? false) : "—";
  $("d-headers").textContent = d ? (d.headers ?? []).map(([k, v]) => `${k}: ${v}`).join("\n") || "—" : "—";
  $("d-body").textContent = d ? text(d.body) : "—";
  if (!d) $("expected").textContent = "";
}

/** For a sample request: what its shared vector expects, and whether the page agrees. */
function renderExpected(d) {
  const out = $("expected");
  const c = examples.find((e) => e.name === state.example)?.cases[state.sample];
  if (state.sample === null || !c) {
    out.textContent = "";
    out.className = "";
    return;
  }
  const wanted = Object.entries(c.expect).filter(([, v]) => v !== undefined);
  const differ = wanted.filter(([k, v]) => JSON.stringify(d[k]) !== JSON.stringify(v));
  out.className = differ.length ? "mismatch" : "";
  out.textContent = `tests/vectors/${c.vector}.json expects ${wanted.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")}: `
    + (differ.length ? `differs in ${differ.map(([k]) => k).join(", ")}` : "as shown");
}

function renderNowDate(now) {
  $("now-date").textContent = typeof now === "number" && Number.isFinite(now) ? safeDate(now) : "(the page's clock)";
}

function safeDate(seconds) {
  try {
    return new Date(seconds * 1000).toISOString();
  } catch {
    return "out of range";
  }
}

/** A JSON value as nested lists: objects as <dl>, arrays as <ol>. */
function tree(value) {
  if (value === null || value === undefined) {
    const span = document.createElement("span");
    span.className = "note";
    span.textContent = "—";
    return span;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return tree(null);
    const ol = document.createElement("ol");
    for (const item of value) {
      const li = document.createElement("li");
      li.append(tree(item));
      ol.append(li);
    }
    return ol;
  }
  if (typeof value === "object") {
    const dl = document.createElement("dl");
    for (const [k, v] of Object.entries(value)) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.append(tree(v));
      dl.append(dt, dd);
    }
    return dl;
  }
  const span = document.createElement("span");
  span.textContent = String(value);
  return span;
}

function section(title, value, open = true) {
  const details = document.createElement("details");
  details.open = open;
  details.dataset.section = title;
  const summary = document.createElement("summary");
  summary.textContent = title;
  details.append(summary, tree(value));
  return details;
}

function renderTrace(trace, note = "") {
  const out = $("trace");
  out.replaceChildren();
  if (note) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = note;
    out.append(p);
  }
  if (!trace) return;
  for (const [k, v] of Object.entries(trace)) {
    if (k === "version") continue;
    out.append(section(k, v, !(Array.isArray(v) && v.length === 0)));
  }
}

function renderJwt(request) {
  const out = $("jwt");
  out.replaceChildren();
  const tokens = findTokens(request.headers);
  if (tokens.length === 0) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = "no JWT in the request (Authorization: Bearer, a cookie or another header)";
    out.append(p);
    return;
  }
  for (const { where, token } of tokens) {
    const decoded = decodeJwt(token);
    const box = document.createElement("div");
    box.className = "token";
    const h = document.createElement("p");
    h.className = "note";
    h.textContent = `in the ${where}; decoded here, signature not checked by this view (the engine checks it)`;
    box.append(h);
    if (decoded.error) {
      const p = document.createElement("p");
      p.className = "jwt-error";
      p.textContent = decoded.error;
      box.append(p);
    }
    if (decoded.header) box.append(section("header", decoded.header));
    if (decoded.claims) {
      const claims = section("claims", decoded.claims);
      claims.classList.add("jwt-claims");
      box.append(claims);
      const times = timeClaims(decoded.claims, request.now);
      if (times.length) box.append(section("times", Object.fromEntries(times.map((t) => [t.name, `${t.date} (${t.note || t.value})`]))));
    }
    out.append(box);
  }
}

// ---- start ----

for (const example of examples) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = example.name;
  b.dataset.example = example.name;
  b.addEventListener("click", () => loadExample(example.name));
  $("examples").append(b);
}
for (const id of ["policy", "env", "jwks", "method", "path", "headers", "peer", "now"]) $(id).addEventListener("input", schedule);
$("files").addEventListener("input", schedule);
$("case").addEventListener("change", chooseSample);

function fromFragment() {
  const s = decodeState(location.hash);
  if (s && !s.error) {
    state = {
      example: s.example ?? null,
      sample: s.sample ?? null,
      policy: String(s.policy ?? ""),
      env: s.env ?? {},
      files: s.files ?? {},
      jwks: typeof s.jwks === "string" ? s.jwks : "",
      request: sampleRequest(s.request ?? {}),
    };
    writeEditors(state);
    run();
    return;
  }
  loadExample(examples[0]?.name);
  if (s?.error) $("policy-status").textContent = `${s.error}; an example is shown instead`;
}
window.addEventListener("hashchange", () => {
  if (location.hash !== encodeState(state)) fromFragment();
});
fromFragment();
