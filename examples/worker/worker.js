// A worker that guards every route with admit. The policy text and the environment its
// `{ env = ... }` references see come from the worker's bindings (POLICY, POLICY_ENV);
// APP names the application behind the guard (its routes below), so one script serves
// the Model Registry (with CORS), SkillMeat and FetchML in workerd.
//
// admit decides on `new URL(request.url).pathname` (Engine.decideRequest), and the
// router here matches that same pathname, exactly: the whole path, segment by segment,
// no prefix or pattern looseness, no trailing-slash or `//` forgiveness. Each segment is
// percent-decoded once (decodeURIComponent), as admit decodes a parameter, so the
// `{owner}` a handler gets is the owner admit checked; the literal segments here are
// plain words, which admit also compares after decoding (`%61pi` is `api` to both).
import { Engine, decideWithJwks } from "admit-wasm";

// method, path pattern, handler. `{name}` is one non-empty segment, as in a policy.
// The rule of the policy that guards each handler is in the comment; the differential
// test (differential.test.mjs) holds the worker to it.
const APPS = {
  "model-registry": [
    ["GET", "/api/health", "health"], // api
    ["GET", "/api/models", "list-models"], // api
    ["GET", "/api/models/{id}", "read-model"], // api
    ["POST", "/api/artifact/{type}", "upload-artifact"], // api
    ["GET", "/env", "env"], // env-endpoint (deny): the document's /env, never served
  ],
  skillmeat: [
    ["GET", "/health", "health"], // always-open
    ["GET", "/api/v1/version", "version"], // always-open
    ["GET", "/api/v1/artifacts", "list-artifacts"], // artifacts-read
    ["GET", "/api/v1/artifacts/{id}", "read-artifact"], // artifacts-read
    ["POST", "/api/v1/artifacts", "create-artifact"], // artifacts-write
    ["PUT", "/api/v1/artifacts/{id}", "update-artifact"], // artifacts-write
    ["DELETE", "/api/v1/artifacts/{id}", "delete-artifact"], // artifacts-delete
    ["GET", "/api/v1/collections", "list-collections"], // collections-read
    ["GET", "/api/v1/collections/{id}", "read-collection"], // collections-read
    ["DELETE", "/api/v1/collections/{id}", "delete-collection"], // collections-write
    ["GET", "/api/v1/admin/users", "list-users"], // admin-users
    ["GET", "/api/v1/admin/users/{id}", "read-user"], // admin-users
    ["GET", "/api/v1/admin/settings", "read-settings"], // admin-settings
  ],
  fetchml: [
    ["GET", "/api/v1/jobs", "list-jobs"], // list-jobs (constraints.owner: list only those)
    ["POST", "/api/v1/jobs", "queue-job"], // queue-job
    ["GET", "/api/v1/jobs/{owner}/{job}", "read-job"], // read-job (owner = principal, unless jobs:all)
    ["DELETE", "/api/v1/jobs/{owner}/{job}", "cancel-job"], // cancel-job (the same)
    ["GET", "/api/v1/status", "status"], // status
  ],
};

const compiled = new Map();

/** The routes of an app, each pattern split into literal segments and `{params}`. */
function routesOf(app) {
  let routes = compiled.get(app);
  if (!routes) {
    const table = APPS[app];
    if (!table) throw new Error(`APP must be one of ${Object.keys(APPS).join(", ")}, not ${JSON.stringify(app)}`);
    routes = table.map(([method, pattern, handler]) => ({
      method,
      handler,
      segs: pattern.split("/").slice(1).map((s) => (s.startsWith("{") ? { param: s.slice(1, -1) } : { lit: s })),
    }));
    compiled.set(app, routes);
  }
  return routes;
}

/** The route whose pattern matches the whole pathname, and its decoded parameters.
 * `{ status: 400 }` when a segment does not decode (admit refuses those first). */
function route(app, method, pathname) {
  const parts = pathname.split("/").slice(1);
  let decoded;
  try {
    decoded = parts.map(decodeURIComponent);
  } catch {
    return { status: 400 };
  }
  let methodMismatch = false;
  for (const r of routesOf(app)) {
    if (r.segs.length !== parts.length) continue;
    const params = {};
    const ok = r.segs.every((s, i) => {
      if (s.lit !== undefined) return decoded[i] === s.lit;
      if (decoded[i] === "") return false;
      params[s.param] = decoded[i];
      return true;
    });
    if (!ok) continue;
    if (r.method !== method) {
      methodMismatch = true;
      continue;
    }
    return { handler: r.handler, params };
  }
  return { status: methodMismatch ? 405 : 404 };
}

let engine;

export default {
  async fetch(request, env, ctx) {
    // POLICY_FILES: what the policy's `{ file = ... }` references read (FetchML's keys file).
    engine ??= new Engine(env.POLICY, { env: JSON.parse(env.POLICY_ENV ?? "{}"), files: JSON.parse(env.POLICY_FILES ?? "{}") });
    const peer = request.headers.get("CF-Connecting-IP") ?? undefined;
    // The key sets of the policy's jwks_urls (SkillMeat's CLERK_JWKS_URL), fetched with
    // workerd's fetch and kept for the isolate's life: the first request waits for them,
    // a stale set is refreshed in the background (ctx.waitUntil), an unknown_key refetches
    // once (rate-limited) and decides again. A Promise: a JWT signed with RSA, ECDSA or
    // Ed25519 is verified with WebCrypto.
    const d = await decideWithJwks(engine, request, { peer, waitUntil: (p) => ctx.waitUntil(p) });
    if (!d.allow) {
      const out = new Response(d.body, { status: d.status, headers: d.headers });
      // A debugging aid (off unless the REPORT binding is "1"): which reason refused.
      if (env.REPORT === "1") out.headers.set("x-admit-reason", d.reason);
      return out;
    }
    const { pathname } = new URL(request.url);
    const found = route(env.APP, request.method, pathname);
    const response = found.handler
      ? await handle(request, pathname, found, d)
      : Response.json({ error: found.status === 405 ? "method not allowed" : found.status === 400 ? "bad path" : "not found", handler: null }, { status: found.status });
    const out = new Response(response.body, response);
    for (const [name, value] of d.headers) out.headers.append(name, value);
    return out;
  },
};

// The application behind the guard, a stand-in: every handler echoes its name, the
// parameters the router gave it, and admit's decision (rule, constraints, principal),
// which is what the tests check and a reader can watch with curl.
async function handle(request, pathname, { handler, params }, d) {
  return Response.json({
    handler,
    params,
    path: pathname,
    method: request.method,
    reason: d.reason,
    rule: d.rule,
    constraints: d.constraints,
    principal: d.principal && { id: d.principal.id, authenticator: d.principal.authenticator, roles: d.principal.roles },
  });
}
