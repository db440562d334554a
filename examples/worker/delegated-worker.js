// A worker whose sessions only the application can check: a `delegated` authenticator
// with a check registered by engine.setCheck (an async lookup, as in KV or a database).
// The tests (worker.test.mjs) call it over HTTP in workerd; /_calls says how often the
// check ran.
import { Engine } from "admit-wasm";

const POLICY = `
scopes = ["notes:read", "notes:write"]
[roles.reader]
scopes = ["notes:read"]
[roles.writer]
scopes = ["notes:write"]
includes = ["reader"]

[[authenticators]]
type = "delegated"
id = "sessions"
sources = [{ cookie = "sid" }]

[[routes]]
methods = ["GET"]
path = "/notes/{owner}/{id}"
require = ["notes:read"]
owner = { param = "owner" }

[[routes]]
methods = ["POST"]
path = "/notes"
require = ["notes:write"]
`;

const SESSIONS = new Map([
  ["s-alice", { id: "alice", roles: ["writer"] }],
  ["s-old", { refuse: "expired" }],
]);

let engine;
let calls = 0;

export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/_calls") return Response.json({ calls });
    if (!engine) {
      engine = new Engine(POLICY, { log: null });
      engine.setCheck("sessions", async (credential) => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 1)); // a lookup elsewhere
        return SESSIONS.get(credential) ?? null;
      });
    }
    const d = await engine.decideRequest(request, { now: 1790000000 });
    if (!d.allow) return new Response(d.body, { status: d.status, headers: [...d.headers, ["x-admit-reason", d.reason]] });
    return Response.json({ principal: d.principal.id, kind: d.principal.kind, roles: d.principal.roles, constraints: d.constraints });
  },
};
