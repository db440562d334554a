// Compiled by test.sh with `tsc --noEmit --strict` (never run): the hand-written types
// in types/index.d.ts must accept the documented uses and refuse the wrong ones. Each
// `@ts-expect-error` line fails the check if it ever type-checks.
import { cryptoBackend, decideWithJwks, Engine, fetchRules, hashKey, refetchJwks, syncJwks, type AdmitError, type CheckEvent, type CheckResult, type Decision, type Explanation, type JwksEvent, type Reason, type Trace } from "admit-wasm";
// wasm-bindgen's generated declarations must compile too.
import type { RawEngine } from "../pkg/admit_wasm.js";

const engine = new Engine('realm = "x"', { format: "toml", env: { AUTH_TOKEN: "t", UNSET: undefined } });
const d: Decision = await engine.decide({
  method: "GET",
  path: "/api/models?x=1",
  headers: [["Authorization", "Bearer t"]],
  peer: "10.0.0.7",
  now: new Date(),
});
const reason: Reason = d.reason;
const allowed: boolean = d.allow && d.status === 200 && d.dry_run === false;
const firstHeader: [string, string] | undefined = d.headers[0];
const roles: string[] = d.principal?.roles ?? [];
const owner: string | undefined = d.constraints["owner"];
const fromRequest: Decision = await engine.decideRequest(new Request("https://api.example/x"), { peer: "203.0.113.9" });
const fromHeaders: Decision = await engine.decide({ method: "GET", path: "/", headers: new Headers({ a: "b" }) });
const fromObject: Decision = await engine.decide({ method: "GET", path: "/", headers: { a: ["1", "2"], b: "3" } });
const keys: number = engine.setJwks("clerk", { keys: [] });
const token: string = engine.issueToken("rag-jwt", "alice", { roles: ["user"], lifetime: 3600, claims: { org: "a" } });
const digest: string = hashKey("k");
const backend: "host" | "rust-crypto" = cryptoBackend();
const pending: Promise<Decision> = engine.decide({ method: "GET", path: "/" });
const malformed: Decision = engine.malformed("x");
void pending.then((x) => x.allow);
const explained: Explanation = await engine.explain({ method: "GET", path: "/", headers: { a: "b" } });
const trace: Trace = explained.trace;
const matched: string | undefined = trace.rules.find((r) => r.matched)?.name;
const verdicts: string[] = trace.authenticators.map((a) => `${a.id} ${a.verdict} ${a.reason ?? ""}`);
const missing: string[] = trace.scopes?.missing ?? [];
const outcome: "owner" | "not_owner" | "exempt" | "constrained" | undefined = trace.owner?.outcome;
const wouldRefuse: Reason | undefined = trace.dry_run?.would_refuse;
// @ts-expect-error a trace has no `secret` field
void trace.secret;
// @ts-expect-error explain takes a request object
void engine.explain("GET /");
void [matched, verdicts, missing, outcome, wouldRefuse, explained.decision.allow];
const where: string = engine.warnings.map((w) => `${w.place}:${w.line ?? "?"}`).join(",");
const ids: string[] = engine.authenticators.map(([id]) => id);
try {
  new Engine("{", { format: "json" });
} catch (e) {
  const err = e as AdmitError;
  const code: "policy_error" | "unknown_authenticator" | "unsupported" | "invalid" | "invalid_argument" = err.code;
  void [code, err.errors?.[0]?.place, err.line];
}
const taken: number = engine.setKeys("keys", "[[keys]]\nid = \"a\"\nsha256 = \"00\"\n");
const urls: Array<[string, string]> = engine.jwksUrls();
const files: Array<[string, string]> = engine.keysFiles();
const timeout: number = fetchRules().timeoutSecs;
await syncJwks(engine, { waitUntil: (p) => void p, log: (e: JwksEvent) => void e.reason });
const again: boolean = await refetchJwks(engine);
const withKeys: Decision = await decideWithJwks(engine, new Request("https://api.example/x"), { peer: "203.0.113.9", waitUntil: () => {} });
void [taken, urls, files, timeout, again, withKeys];
// @ts-expect-error: a keys file is text
engine.setKeys("keys", { keys: [] });
// @ts-expect-error: decideWithJwks returns a Promise
void decideWithJwks(engine, { method: "GET", path: "/" }).allow;
// delegated authenticators: a sync or async check, a log for its problems
const sessions = new Map<string, { user: string; roles: string[] }>();
engine.setCheck("sessions", (credential, { authenticator }) => {
  const row = sessions.get(credential);
  void authenticator;
  return row ? { id: row.user, roles: row.roles } : null;
});
engine.setCheck("introspect", async (token): Promise<CheckResult> => (token.length > 10 ? { id: "svc", scopes: ["a"] } : { refuse: "expired" }));
engine.setCheck("sessions", null);
const logged = new Engine("", { log: (e: CheckEvent) => void [e.event, e.authenticator, e.message] });
void logged;
// @ts-expect-error: not a refusal reason a check may give
engine.setCheck("sessions", () => ({ refuse: "insufficient_scope" }));
// @ts-expect-error: the principal needs an id
engine.setCheck("sessions", () => ({ roles: ["reader"] }));
// @ts-expect-error: roles are a list of strings
engine.setCheck("sessions", async () => ({ id: "a", roles: "reader" }));
engine.free();
const raw: RawEngine | undefined = undefined;
void [raw, backend, malformed, reason, allowed, firstHeader, roles, owner, fromRequest, fromHeaders, fromObject, keys, token, digest, where, ids];

// @ts-expect-error: a method is a string
engine.decide({ method: 1, path: "/" });
// @ts-expect-error: the path is required
engine.decide({ method: "GET" });
// @ts-expect-error: an unknown request field
engine.decide({ method: "GET", path: "/", body: "x" });
// @ts-expect-error: formats are toml and json
new Engine("", { format: "yaml" });
// @ts-expect-error: not a reason the engine gives
const bogus: Reason = "forbidden";
// @ts-expect-error: allow is a boolean
const notString: string = d.allow;
// @ts-expect-error: decide returns a Promise, not a Decision
const notAwaited: Decision = engine.decide({ method: "GET", path: "/" });
// @ts-expect-error: a Promise has no allow
void engine.decideRequest(new Request("https://api.example/x")).allow;
void [bogus, notString, notAwaited];
