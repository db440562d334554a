// Hand-written types for the admit WASM package. The wasm-bindgen glue's own generated
// types are in pkg/admit_wasm.d.ts.

/** Header pairs (duplicates kept), an object of name: value(s), a Map or a Fetch Headers. */
export type HeadersInit =
  | ReadonlyArray<readonly [string, string]>
  | Readonly<Record<string, string | readonly string[]>>
  | ReadonlyMap<string, string>
  | Headers;

/** A request, as the contract spells it. */
export interface AdmitRequest {
  method: string;
  /** The request target: a path, optionally with a query string. */
  path: string;
  headers?: HeadersInit;
  /** The client's IP address. */
  peer?: string | null;
  /** Unix seconds (or a Date); defaults to `Date.now()`. */
  now?: number | Date | null;
}

export type Reason =
  | "ok" | "public" | "preflight" | "missing_credentials" | "invalid_credentials" | "expired"
  | "not_yet_valid" | "revoked" | "unknown_key" | "insufficient_scope" | "origin_not_allowed"
  | "not_local" | "route_denied" | "no_route" | "malformed_request";

export interface Principal {
  id: string;
  /** The id of the authenticator that matched. */
  authenticator: string;
  kind: "anonymous" | "local" | "api_key" | "bearer_token" | "jwt" | "delegated";
  roles: string[];
  scopes: string[];
  /** A JWT's claims; null for other kinds. */
  claims: Record<string, unknown> | null;
}

/** The decision: if `allow` is false answer `status` with `headers` and `body`; if true
 * call the handler and add `headers` to its response. */
export interface Decision {
  allow: boolean;
  status: number;
  reason: Reason;
  message: string;
  headers: Array<[string, string]>;
  body: string | null;
  principal: Principal | null;
  rule: string | null;
  constraints: Record<string, string>;
  dry_run: boolean;
}

/** How a decision was reached (docs/policy.md, "Explaining a decision"). Never holds a
 * credential or a secret. Every field is always present. */
export interface Trace {
  version: 1;
  target: { canonical: string | null; refused: string | null };
  cors: {
    outcome: "not_reached" | "not_configured" | "no_origin" | "same_origin" | "allowed" | "preflight" | "refused";
    origin: string | null;
    detail: string | null;
  };
  rules: Array<{
    index: number;
    name: string;
    methods: string;
    patterns: string[];
    matched: boolean;
    mismatch: "method" | "path" | null;
    detail: string;
  }>;
  access: "public" | "deny" | "authenticated" | null;
  authenticators: Array<{
    id: string;
    kind: string;
    pass: "credential" | "fallback" | "dry_run_identity";
    verdict: "not_on_rule" | "absent" | "not_mine" | "matched" | "refused";
    reason: Reason | null;
    detail: string | null;
    principal: string | null;
  }>;
  roles: string[];
  scopes: { required_all: string[]; required_any: string[]; held: string[]; missing: string[] } | null;
  owner: {
    param: string | null;
    value: string | null;
    principal: string;
    constraint: string;
    unless: string[];
    outcome: "exempt" | "owner" | "not_owner" | "constrained";
  } | null;
  dry_run: { by: "policy" | "rule"; would_refuse: Reason; status: number } | null;
}

/** What `Engine.explain` resolves to. */
export interface Explanation {
  decision: Decision;
  trace: Trace;
}

export interface EngineOptions {
  format?: "toml" | "json";
  /** What `{ env = "NAME" }` references see; nothing else is read. */
  env?: Readonly<Record<string, string | undefined>> | ReadonlyMap<string, string>;
  /** What `{ file = "PATH" }` references see. */
  files?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /** Problems with the host's credential checks (`setCheck`); never the credential.
   * Default: `console.warn`; `null`: nothing. */
  log?: ((event: CheckEvent) => void) | null;
}

/** What a `delegated` authenticator's check answers: the principal the credential names
 * (`roles` the policy defines, `scopes` it declares; an undefined role refuses the
 * credential, an undeclared scope does not count), a refusal with its reason, or `null`
 * (a credential the check does not know: `invalid_credentials`). */
export type CheckResult =
  | { id: string; roles?: readonly string[] | null; scopes?: readonly string[] | null }
  | { refuse: "invalid_credentials" | "expired" | "revoked" }
  | null;

/** The host's check of a `delegated` authenticator's credential (a session row, RFC 7662
 * introspection). `credential` is a secret. May be async; a throw or a rejection refuses
 * the credential. */
export type CredentialCheckFn = (
  credential: string,
  info: { authenticator: string },
) => CheckResult | PromiseLike<CheckResult>;

/** A problem with a host check, reported to `EngineOptions.log`. `check_missing`: a
 * credential came for an authenticator with no check (reported once per authenticator);
 * `check_threw`, `check_invalid`: the check threw or returned something that is not a
 * `CheckResult` (the message is redacted of the credential); `check_unused`: `setCheck`
 * for an id no enabled authenticator has. The credential is refused in each case. */
export interface CheckEvent {
  event: "check_missing" | "check_threw" | "check_invalid" | "check_unused";
  authenticator: string;
  message: string;
}

export interface TokenOptions {
  roles?: string[];
  scopes?: string[];
  /** Seconds; default: the authenticator's `lifetime`. */
  lifetime?: number;
  /** Unix seconds of issue; defaults to `Date.now()`. */
  now?: number | Date;
  claims?: Record<string, unknown>;
}

export interface PolicyProblem {
  place: string;
  line: number | null;
  column: number | null;
  message: string;
}

/** What every thrown error carries. `policy_error`: the policy did not load (see
 * `errors`, and `place`/`line`/`column` of the first); `unknown_authenticator`,
 * `unsupported`, `invalid`: from setJwks/issueToken; `invalid_argument`: a TypeError for
 * a wrong JavaScript argument. */
export interface AdmitError extends Error {
  code: "policy_error" | "unknown_authenticator" | "unsupported" | "invalid" | "invalid_argument";
  errors?: PolicyProblem[];
  place?: string | null;
  line?: number | null;
  column?: number | null;
}

export declare class Engine {
  constructor(policyText: string, options?: EngineOptions);
  /** Always a Promise: an RSA, ECDSA or Ed25519 token is verified with WebCrypto
   * (`crypto.subtle.verify`); every other decision (API keys, HMAC, anonymous, a
   * refusal) is taken at once and the Promise is already resolved. A wrong argument
   * rejects it with a TypeError (`code: "invalid_argument"`). */
  decide(request: AdmitRequest): Promise<Decision>;
  /** Decides on `new URL(request.url).pathname` (and its query), undecoded: the path a
   * worker's router matches. A URL that does not parse is `malformed_request`. A
   * Promise, as `decide`. */
  decideRequest(request: Request, options?: { peer?: string | null; now?: number | Date | null }): Promise<Decision>;
  /** The decision `decide` gives, with the trace of how it was reached. A Promise, as
   * `decide` (signatures checked with WebCrypto, `delegated` credentials by their
   * checks). */
  explain(request: AdmitRequest): Promise<Explanation>;
  /** Synchronous: nothing to verify. */
  malformed(detail?: string): Decision;
  /** Registers (or, with `null`, removes) the check of a `delegated` authenticator: the
   * decision calls it for that authenticator's credential, once per request (verdicts are
   * never kept between requests). An authenticator of another type throws
   * `unsupported`. */
  setCheck(authenticatorId: string, check: CredentialCheckFn | null): void;
  /** Replaces a key set; the CryptoKeys imported for the old keys are dropped. */
  setJwks(authenticatorId: string, jwks: string | object): number;
  /** Replaces the keys of an `api_key` or `bearer_token` authenticator with a keys
   * file's text (TOML `[[keys]]` or JSON `{"keys": [...]}`), whole and at once. A bad
   * file throws `invalid` and the old keys stay. Returns the number of keys. */
  setKeys(authenticatorId: string, keysFileText: string): number;
  /** `[authenticator id, url]` of each enabled `jwt` authenticator with a `jwks_url`. */
  jwksUrls(): Array<[string, string]>;
  /** `[authenticator id, path as the policy gave it]` of each keys file. */
  keysFiles(): Array<[string, string]>;
  /** HMAC keys issue; in the default (host-crypto) build an RSA, EC or Ed25519
   * `signing_key` throws `unsupported`. */
  issueToken(authenticatorId: string, subject: string, options?: TokenOptions): string;
  readonly warnings: PolicyProblem[];
  readonly authenticators: Array<[string, string]>;
  free(): void;
}

export declare function hashKey(key: string): string;

/** The build's crypto backend: `"host"` (the default build: RSA, ECDSA and Ed25519
 * signatures verified with WebCrypto, HMAC in the module) or `"rust-crypto"` (every
 * signature verified inside the module; `ADMIT_WASM_CRYPTO=rust-crypto` in build.sh). */
export declare function cryptoBackend(): "host" | "rust-crypto";

/** The fetch rules every admit host follows for a `jwks_url` (the core's, in seconds and
 * bytes). */
export interface FetchRules {
  timeoutSecs: number;
  maxBytes: number;
  defaultMaxAge: number;
  minRefreshSecs: number;
  maxRefreshSecs: number;
  retryMinSecs: number;
  retryMaxSecs: number;
  unknownKeyIntervalSecs: number;
  maxUrlBytes: number;
}
export declare function fetchRules(): FetchRules;
/** Why a URL may not be fetched as a key set, or null when it may. */
export declare function checkJwksUrl(url: string): string | null;
/** Seconds from a good fetch to the next refresh, from a Cache-Control value. */
export declare function refreshAfter(cacheControl?: string | null): number;
/** Seconds to wait after `failures` failed fetches in a row. */
export declare function retryAfter(failures: number): number;

/** What the key set helper reports; never a URL or a body. */
export interface JwksEvent {
  event: "fetched" | "failed" | "refused" | "rate_limited";
  authenticator: string;
  /** For `fetched`: the number of keys taken. */
  keys?: number;
  /** Why nothing changed (`failed`, `refused`, `rate_limited`). */
  reason?: string;
}

export interface JwksOptions {
  /** The fetch to use; the runtime's `fetch` by default. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** A Worker's `ctx.waitUntil`, so a background refresh outlives the response. */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Each fetch, failure and rate-limited refetch; by default failures go to console.warn. */
  log?: ((event: JwksEvent) => void) | null;
  /** The clock in milliseconds (tests); `Date.now` by default. */
  clock?: () => number;
}

/** Gives the engine the cached key set of each `jwks_url`: fetched (and waited for, at
 * most the fetch timeout) when there is none yet, refreshed in the background when
 * stale. Never rejects. */
export declare function syncJwks(engine: Engine, options?: JwksOptions): Promise<void>;
/** After `unknown_key`: fetches again, at most once per interval per URL; true when the
 * engine took a newer set. */
export declare function refetchJwks(engine: Engine, options?: JwksOptions): Promise<boolean>;
/** `syncJwks`, the decision, and on `unknown_key` one `refetchJwks` and the decision again. */
export declare function decideWithJwks(
  engine: Engine,
  request: Request | AdmitRequest,
  options?: JwksOptions & { peer?: string | null; now?: number | Date | null },
): Promise<Decision>;
export declare function jwksStatus(): Array<{ url: string; hasSet: boolean; generation: number; fetches: number; failures: number }>;
