// A worker that guards every route with admit. The policy text and the environment its
// `{ env = ... }` references see come from the worker's bindings (POLICY, POLICY_ENV), so
// one script serves the Model Registry (with CORS) and SkillMeat in workerd.
import { Engine } from "admit-wasm";

let engine;

export default {
  async fetch(request, env) {
    engine ??= new Engine(env.POLICY, { env: JSON.parse(env.POLICY_ENV ?? "{}") });
    const peer = request.headers.get("CF-Connecting-IP") ?? undefined;
    const d = engine.decideRequest(request, { peer });
    if (!d.allow) return new Response(d.body, { status: d.status, headers: d.headers });
    const response = await handle(request, d);
    const out = new Response(response.body, response);
    for (const [name, value] of d.headers) out.headers.append(name, value);
    return out;
  },
};

// The application behind the guard: echoes who was let in and by which rule.
async function handle(request, d) {
  const { pathname } = new URL(request.url);
  return Response.json({
    path: pathname,
    method: request.method,
    reason: d.reason,
    rule: d.rule,
    principal: d.principal && { id: d.principal.id, authenticator: d.principal.authenticator, roles: d.principal.roles },
  });
}
