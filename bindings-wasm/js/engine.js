// The public API, shared by every entry point (node.js, web.js, workerd.js), built on
// the wasm-bindgen exports. Checks and normalises what JavaScript hands in, so that a
// wrong argument is a TypeError with code "invalid_argument", never a silent coercion.
//
// Signatures: the .wasm (host-crypto build) checks HMAC itself and hands every RSA,
// ECDSA and Ed25519 signature to this file, which verifies it with WebCrypto
// (crypto.subtle) and gives the verdict back; the decision is the core's. A decision
// that needs no such check (API keys, HMAC, anonymous, a refusal before the token) is
// taken in one synchronous call and returned as an already resolved Promise.
//
// Delegated authenticators: a credential only the application can check (a session
// row, RFC 7662 introspection) pauses the decision the same way; this file calls the
// check registered with setCheck, gives its verdict back, and the core decides.
import {
  RawEngine,
  hashKey as rawHashKey,
  cryptoBackend as rawCryptoBackend,
  fetchRules as rawFetchRules,
  checkJwksUrl as rawCheckJwksUrl,
  refreshAfter as rawRefreshAfter,
  retryAfter as rawRetryAfter,
} from "../pkg/admit_wasm.js";

const REQUEST_KEYS = new Set(["method", "path", "headers", "peer", "now"]);
const TOKEN_KEYS = new Set(["roles", "scopes", "lifetime", "now", "claims"]);

function typeName(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return v.constructor && v.constructor.name ? `a ${v.constructor.name}` : "an object";
  return typeof v === "undefined" ? "undefined" : `a ${typeof v}`;
}

function argError(message) {
  const e = new TypeError(message);
  e.code = "invalid_argument";
  return e;
}

function str(name, v) {
  if (typeof v !== "string") throw argError(`${name} must be a string, not ${typeName(v)}`);
  return v;
}

function isPlainObject(v) {
  if (v === null || typeof v !== "object") return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function isHeaders(v) {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    typeof v.get === "function" &&
    typeof v.has === "function" &&
    typeof v[Symbol.iterator] === "function"
  );
}

/** Unix seconds: `now` as given (a safe integer or a Date), or the clock. */
function seconds(now, name = "now") {
  if (now === undefined || now === null) return Math.floor(Date.now() / 1000);
  if (now instanceof Date) {
    const t = now.getTime();
    if (!Number.isFinite(t)) throw argError(`${name} is an invalid Date`);
    return Math.floor(t / 1000);
  }
  if (typeof now === "bigint") now = Number(now);
  if (typeof now !== "number" || !Number.isSafeInteger(now)) {
    throw argError(`${name} must be an integer number of unix seconds or a Date, not ${typeName(now)}${typeof now === "number" ? ` (${now})` : ""}`);
  }
  return now;
}

/** Headers as a flat [name, value, ...] list, appended to `out`: from [name, value]
 * pairs, an object of name: value or name: [values], a Map, or a Fetch `Headers`. */
function flatHeaders(h, out = []) {
  if (h === undefined || h === null) return out;
  const push = (n, v, where) => {
    if (typeof n !== "string") throw argError(`${where}: a header name must be a string, not ${typeName(n)}`);
    if (typeof v !== "string") throw argError(`${where}: the value of header ${JSON.stringify(n)} must be a string, not ${typeName(v)}`);
    out.push(n, v);
  };
  if (Array.isArray(h)) {
    h.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw argError(`headers[${i}] must be a [name, value] pair, not ${typeName(pair)}`);
      push(pair[0], pair[1], `headers[${i}]`);
    });
  } else if (isHeaders(h) || h instanceof Map) {
    for (const pair of h) push(pair[0], pair[1], "headers");
  } else if (isPlainObject(h)) {
    for (const n of Object.keys(h)) {
      const v = h[n];
      if (Array.isArray(v)) v.forEach((x) => push(n, x, "headers"));
      else push(n, v, "headers");
    }
  } else {
    throw argError(`headers must be a list of [name, value] pairs, an object, a Map or a Headers, not ${typeName(h)}`);
  }
  return out;
}

function flatStrings(name, obj) {
  const out = [];
  if (obj === undefined || obj === null) return out;
  const entries = obj instanceof Map ? [...obj] : isPlainObject(obj) ? Object.entries(obj) : null;
  if (!entries) throw argError(`${name} must be an object of name: string, not ${typeName(obj)}`);
  for (const [k, v] of entries) {
    if (v === undefined) continue; // like an unset variable in process.env
    if (typeof k !== "string" || typeof v !== "string") throw argError(`${name}.${String(k)} must be a string, not ${typeName(v)}`);
    out.push(k, v);
  }
  return out;
}

function stringList(name, v) {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw argError(`${name} must be a list of strings, not ${typeName(v)}`);
  v.forEach((x, i) => str(`${name}[${i}]`, x));
  return v;
}

function checkKeys(name, obj, allowed) {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) throw argError(`${name} has an unknown field ${JSON.stringify(k)} (expected ${[...allowed].join(", ")})`);
  }
}

/** The URL of a Fetch `Request` as a worker's router reads it: parsed by the WHATWG URL
 * parser, which has resolved `.` and `..` segments (`%2e` too), turned `\` into `/`
 * and dropped the fragment, and keeps `%2F`, `//` and a trailing `/` as they are. The
 * raw request target is not available to a worker, and `request.url` is not it either:
 * workerd builds it from the Host header and the target unparsed, so its text can
 * differ from the pathname a router matches (a Host of `h\api` puts `/api` in front of
 * the pathname). `null` when the URL does not parse. */
function parsedUrl(url) {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** The most rounds of host checks one decision takes (the core bounds them too). */
const MAX_ROUNDS = 16;

const sha = (bits) => `SHA-${bits}`;
const rsa = (bits) => ({ importParams: { name: "RSASSA-PKCS1-v1_5", hash: sha(bits) }, verifyParams: { name: "RSASSA-PKCS1-v1_5" } });
const pss = (bits) => ({ importParams: { name: "RSA-PSS", hash: sha(bits) }, verifyParams: { name: "RSA-PSS", saltLength: bits / 8 } });
const ecdsa = (curve, bits) => ({ importParams: { name: "ECDSA", namedCurve: curve }, verifyParams: { name: "ECDSA", hash: sha(bits) } });

/** WebCrypto's parameters for each JWS algorithm the core hands to the host. The salt of
 * RSA-PSS in JWS is as long as the hash (RFC 7518 3.5); ECDSA signatures arrive as
 * R || S, WebCrypto's form. */
const WEBCRYPTO = new Map([
  ["RS256", rsa(256)],
  ["RS384", rsa(384)],
  ["RS512", rsa(512)],
  ["PS256", pss(256)],
  ["PS384", pss(384)],
  ["PS512", pss(512)],
  ["ES256", ecdsa("P-256", 256)],
  ["ES384", ecdsa("P-384", 384)],
  ["EdDSA", { importParams: { name: "Ed25519" }, verifyParams: { name: "Ed25519" } }],
]);

/** Verifies check `i` of `checks` (a RawVerdicts) with WebCrypto: true only when
 * crypto.subtle.verify says so. Anything that throws (no WebCrypto, a key importKey
 * refuses, an algorithm it lacks) is false: never an allow. `keys` caches the imported
 * CryptoKey (a Promise of it) per key handle and algorithm. */
async function verifyCheck(keys, checks, i) {
  try {
    const name = checks.algorithm(i);
    const params = WEBCRYPTO.get(name);
    if (params === undefined) return false;
    const handle = checks.key(i);
    const message = checks.message(i);
    const signature = checks.signature(i);
    const id = `${handle}/${name}`;
    let key = keys.get(id);
    if (key === undefined) {
      key = crypto.subtle.importKey("jwk", JSON.parse(checks.jwk(i)), params.importParams, false, ["verify"]);
      keys.set(id, key);
    }
    return (await crypto.subtle.verify(params.verifyParams, await key, signature, message)) === true;
  } catch {
    return false;
  }
}

/** One round: every check of `checks` verified (concurrently), each verdict recorded. */
async function verifyRound(keys, checks) {
  const n = checks.length;
  const results = [];
  for (let i = 0; i < n; i++) results.push(verifyCheck(keys, checks, i));
  const verdicts = await Promise.all(results);
  for (let i = 0; i < n; i++) checks.record(i, verdicts[i] === true);
}

const CHECK_FIELDS = new Set(["id", "roles", "scopes"]);
const REFUSALS = new Set(["invalid_credentials", "expired", "revoked"]);

/** `text` with every occurrence of `secret` replaced, and cut short: what a log line may
 * say about a value the host's check produced. */
function redact(text, secret) {
  let t = String(text);
  if (secret) t = t.split(secret).join("[credential]");
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}

/** A check's result read once (a getter is called once, lists copied): `{ verdict }`
 * with `{ refuse }` or `{ id, roles, scopes }`, or `{ problem }` saying why it is not a
 * verdict, naming fields and types, never a value. */
function readVerdict(r) {
  if (r === undefined) return { problem: "returned undefined (a missing return?); return null to refuse" };
  if (!isPlainObject(r)) return { problem: `returned ${typeName(r)}, not { id, roles, scopes }, { refuse } or null` };
  const keys = Object.keys(r);
  if (keys.includes("refuse")) {
    if (keys.length !== 1) return { problem: "returned { refuse } with other fields" };
    const refuse = r.refuse;
    if (!REFUSALS.has(refuse)) return { problem: `returned { refuse } that is not "invalid_credentials", "expired" or "revoked"` };
    return { verdict: { refuse } };
  }
  for (const k of keys) {
    if (!CHECK_FIELDS.has(k)) return { problem: `returned an object with an unknown field ${JSON.stringify(k)} (expected id, roles, scopes, or refuse)` };
  }
  const id = r.id;
  if (typeof id !== "string" || id === "") return { problem: `returned an id that is ${id === "" ? "empty" : typeName(id)}, not a non-empty string` };
  const lists = {};
  for (const k of ["roles", "scopes"]) {
    const v = r[k];
    if (v === undefined || v === null) {
      lists[k] = [];
      continue;
    }
    if (!Array.isArray(v)) return { problem: `returned ${k} that is ${typeName(v)}, not a list of strings` };
    const copy = Array.from(v);
    if (!copy.every((x) => typeof x === "string")) return { problem: `returned ${k} with an item that is not a string` };
    lists[k] = copy;
  }
  return { verdict: { id, roles: lists.roles, scopes: lists.scopes } };
}

/** What a thrown value is, for a log line: its name and message, or its type. */
function describeThrown(e) {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : typeName(e);
  } catch {
    return "an error that cannot be described";
  }
}

function defaultLog(event) {
  console.warn(`admit: ${event.message}`);
}

/** One decision through the raw engine. `fields` is [method, path, name0, value0, ...].
 * They cross into WASM as one NUL-joined string (one copy instead of one per field);
 * a field that itself holds a NUL (no HTTP field can, but a plain object may) takes
 * the one-string-per-field call, so the core always sees exactly these fields. */
function decideFields(raw, fields, peer, now) {
  for (let i = 0; i < fields.length; i++) {
    if (fields[i].includes("\0")) return raw.decideFields(fields[0], fields[1], fields.slice(2), peer, now, false);
  }
  return raw.decideJoined(fields.join("\0"), peer, now);
}

/** A compiled policy. Build it once and call `decide` or `decideRequest` per request. */
export class Engine {
  #raw;
  /** Imported CryptoKeys (Promises of them) by key handle and algorithm; a new Map at
   * each setJwks, so a replaced key set's keys are dropped. */
  #keys = new Map();
  /** The host's checks of `delegated` authenticators, by authenticator id. */
  #checks = new Map();
  /** Where problems with those checks are reported (never with the credential). */
  #log = defaultLog;
  /** Authenticators whose missing check was reported already (once each). */
  #missingReported = new Set();

  /**
   * @param {string} policyText the policy, TOML or JSON
   * @param {{format?: "toml"|"json", env?: Record<string,string|undefined>, files?: Record<string,string>, log?: ((event: object) => void) | null}} [options]
   */
  constructor(policyText, options = {}) {
    str("policyText", policyText);
    if (options === null || typeof options !== "object") throw argError(`options must be an object, not ${typeName(options)}`);
    checkKeys("options", options, new Set(["format", "env", "files", "log"]));
    if (options.log === null) this.#log = () => {};
    else if (options.log !== undefined) {
      if (typeof options.log !== "function") throw argError(`options.log must be a function or null, not ${typeName(options.log)}`);
      this.#log = options.log;
    }
    const format = options.format === undefined ? "toml" : str("options.format", options.format);
    if (!/^(toml|json)$/i.test(format)) throw argError(`options.format must be "toml" or "json", not ${JSON.stringify(format)}`);
    this.#raw = new RawEngine(policyText, format, flatStrings("env", options.env), flatStrings("files", options.files));
  }

  /** The decision from the first step's answer: parsed at once, or, when the core
   * asked for signature checks or a credential check (`""`), after WebCrypto or the
   * host's check has made them. */
  #settle(json) {
    if (json !== "") return Promise.resolve(JSON.parse(json));
    const checks = this.#raw.takeChecks();
    if (checks === undefined) return Promise.reject(new Error("admit: a decision asked for checks and has none"));
    return this.#verify(checks);
  }

  async #verify(checks) {
    try {
      for (let round = 1; round <= MAX_ROUNDS; round++) {
        if (checks.length > 0) await verifyRound(this.#keys, checks);
        const authenticator = checks.credentialAuthenticator();
        // A credential check that gives no verdict (none registered, it threw, it
        // returned something else): the decision without one, which the core refuses.
        if (authenticator !== undefined && !(await this.#check(checks, authenticator))) {
          return JSON.parse(this.#raw.finish(checks));
        }
        const json = this.#raw.resume(checks);
        if (json !== "") return JSON.parse(json);
      }
      // Not reached (the core decides after as many rounds); if it were: a denial.
      return JSON.parse(this.#raw.finish(checks));
    } finally {
      checks.free();
    }
  }

  /** Runs the host's check for the credential `checks` holds and records its verdict.
   * False when there is no verdict to record: no check registered, or one that threw or
   * returned something that is not a verdict (each reported to the log, without the
   * credential). */
  async #check(checks, authenticator) {
    const check = this.#checks.get(authenticator);
    const report = (event, message) => {
      try {
        this.#log({ event, authenticator, message });
      } catch {
        // a log that throws changes nothing: the decision is already a refusal
      }
    };
    if (check === undefined) {
      if (!this.#missingReported.has(authenticator)) {
        this.#missingReported.add(authenticator);
        report("check_missing", `no check is registered for the delegated authenticator ${JSON.stringify(authenticator)} (engine.setCheck): its credentials are refused`);
      }
      return false;
    }
    const credential = checks.credential();
    let result;
    try {
      result = await check(credential, { authenticator });
    } catch (e) {
      report("check_threw", redact(`the check for ${JSON.stringify(authenticator)} threw ${describeThrown(e)}; the credential is refused`, credential));
      return false;
    }
    if (result === null) {
      checks.recordRefusal("invalid_credentials");
      return true;
    }
    let read;
    try {
      read = readVerdict(result);
    } catch (e) {
      read = { problem: `returned an object whose fields throw when read (${describeThrown(e)})` };
    }
    if (read.problem !== undefined) {
      report("check_invalid", redact(`the check for ${JSON.stringify(authenticator)} ${read.problem}; the credential is refused`, credential));
      return false;
    }
    const v = read.verdict;
    if (v.refuse !== undefined) checks.recordRefusal(v.refuse);
    else checks.recordPrincipal(v.id, v.roles, v.scopes);
    return true;
  }

  /** Registers the host's check for the `delegated` authenticator `authenticatorId`
   * (`null` removes it). The check is called with the credential (a secret) and
   * `{ authenticator }`, and returns, or resolves to, `{ id, roles?, scopes? }` (the
   * principal: roles the policy defines, scopes it declares), `{ refuse: "expired" }`
   * (or `"revoked"`, `"invalid_credentials"`), or `null` (not a credential it knows:
   * `invalid_credentials`). Anything else, a throw or a rejection refuses the
   * credential and is reported to the `log` option, never with the credential. It is
   * called once per decision that needs it: verdicts are never kept between requests.
   * An authenticator of another type throws `unsupported`; an id that no enabled
   * authenticator has (unknown, or disabled by the policy) is kept and reported to the
   * log, since a disabled one never asks. */
  setCheck(authenticatorId, check) {
    str("authenticatorId", authenticatorId);
    if (check === null || check === undefined) {
      this.#checks.delete(authenticatorId);
      return;
    }
    if (typeof check !== "function") throw argError(`check must be a function (credential, { authenticator }) => verdict, or null, not ${typeName(check)}`);
    const found = this.authenticators.find(([id]) => id === authenticatorId);
    if (found !== undefined && found[1] !== "delegated") {
      const e = new Error(`authenticator \`${authenticatorId}\` is a ${found[1]} authenticator, not a delegated one: it has no host check`);
      e.code = "unsupported";
      throw e;
    }
    if (found === undefined) {
      try {
        this.#log({ event: "check_unused", authenticator: authenticatorId, message: `setCheck: no enabled authenticator has the id ${JSON.stringify(authenticatorId)} (unknown, or disabled by the policy): its check is never called` });
      } catch {
        // as in #check
      }
    }
    this.#checks.set(authenticatorId, check);
    this.#missingReported.delete(authenticatorId);
  }

  /** Decides about one request `{ method, path, headers, peer, now }`; `now` (unix
   * seconds) defaults to the clock. Returns a Promise of a plain object with the
   * contract's fields (already resolved when no signature had to be checked by
   * WebCrypto); a wrong argument rejects it with a TypeError. */
  decide(request) {
    try {
      return this.#settle(this.#first(request));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #first(request, explaining = false) {
    if (request === null || typeof request !== "object" || Array.isArray(request)) {
      throw argError(`the request must be an object { method, path, headers, peer, now }, not ${typeName(request)}`);
    }
    checkKeys("the request", request, REQUEST_KEYS);
    const fields = [str("method", request.method), str("path", request.path)];
    flatHeaders(request.headers, fields);
    const peer = request.peer === undefined || request.peer === null ? undefined : str("peer", request.peer);
    if (explaining) return this.#raw.decideFields(fields[0], fields[1], fields.slice(2), peer, seconds(request.now), true);
    return decideFields(this.#raw, fields, peer, seconds(request.now));
  }

  /** Decides about a Fetch API `Request`. The client's address is not part of a
   * `Request`: pass it as `peer` (e.g. the `CF-Connecting-IP` header on Cloudflare).
   * The path decided on is `new URL(request.url).pathname` (with the query), undecoded:
   * exactly what a router that matches that pathname sees. A URL that does not parse
   * is `malformed_request`. Returns a Promise, as `decide` does. */
  decideRequest(request, options = {}) {
    try {
      return this.#settle(this.#firstOfRequest(request, options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Explains the decision about one request `{ method, path, headers, peer, now }`
   * (the arguments of `decide`): a Promise of a plain object `{ decision, trace }`,
   * `decision` as `decide` resolves to and `trace` how it was reached (docs/policy.md,
   * "Explaining a decision"). Signatures and `delegated` credentials are checked as for
   * `decide` (WebCrypto, the registered checks). The trace never holds a credential. */
  explain(request) {
    try {
      return this.#settle(this.#first(request, true));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #firstOfRequest(request, options) {
    if (request === null || typeof request !== "object" || typeof request.url !== "string" || typeof request.method !== "string") {
      throw argError(`decideRequest takes a Fetch API Request, not ${typeName(request)}`);
    }
    if (options === null || typeof options !== "object") throw argError(`options must be an object, not ${typeName(options)}`);
    checkKeys("options", options, new Set(["peer", "now"]));
    const url = parsedUrl(request.url);
    if (url === null) return this.#raw.malformed("the request URL does not parse");
    const fields = flatHeaders(request.headers, [request.method, url.pathname + url.search]);
    let hasHost = false;
    for (let i = 2; i < fields.length; i += 2) if (fields[i].toLowerCase() === "host") hasHost = true;
    // Fetch hides Host from `headers`; the URL holds it.
    if (!hasHost && url.host) fields.push("host", url.host);
    const peer = options.peer === undefined || options.peer === null ? undefined : str("peer", options.peer);
    return decideFields(this.#raw, fields, peer, seconds(options.now));
  }

  /** The decision for a request the host could not read, as this policy answers it. */
  malformed(detail = "malformed request") {
    return JSON.parse(this.#raw.malformed(str("detail", detail)));
  }

  /** Replaces the key set of a `jwt` authenticator with a JWKS (JSON text or object).
   * Returns the number of usable keys. The CryptoKeys imported for the old keys are
   * dropped (the new keys have new handles). */
  setJwks(authenticatorId, jwks) {
    str("authenticatorId", authenticatorId);
    const text = typeof jwks === "string" ? jwks : isPlainObject(jwks) ? JSON.stringify(jwks) : null;
    if (text === null) throw argError(`jwks must be JSON text or an object, not ${typeName(jwks)}`);
    const n = this.#raw.setJwks(authenticatorId, text);
    // A new Map, not clear(): an import still in flight lands in the old one.
    this.#keys = new Map();
    return n;
  }

  /** Replaces the keys of an `api_key` or `bearer_token` authenticator with a keys
   * file's text (TOML `[[keys]]`, or JSON `{"keys": [...]}`), whole and at once: the next
   * decision sees the new set. A bad file throws (`invalid`; the message names places,
   * never a value of the file) and the old keys stay. Returns the number of keys. */
  setKeys(authenticatorId, keysFileText) {
    str("authenticatorId", authenticatorId);
    str("keysFileText", keysFileText);
    return this.#raw.setKeys(authenticatorId, keysFileText);
  }

  /** `[authenticator id, url]` of each enabled `jwt` authenticator with a `jwks_url`:
   * what the host fetches and hands to `setJwks` (`syncJwks` in this package does it).
   * Such an authenticator accepts no token until then. */
  jwksUrls() {
    return JSON.parse(this.#raw.jwksUrls());
  }

  /** `[authenticator id, path as the policy gave it]` of each enabled `api_key` or
   * `bearer_token` authenticator whose keys are in a keys file (`keys = { file = ... }`):
   * what the host watches and hands to `setKeys` when it changes. */
  keysFiles() {
    return JSON.parse(this.#raw.keysFiles());
  }

  /** Issues a token that the `jwt` authenticator accepts (it needs a signing key). In
   * the default (host-crypto) build only HMAC keys issue: an RSA, EC or Ed25519 key
   * throws `unsupported`. */
  issueToken(authenticatorId, subject, options = {}) {
    str("authenticatorId", authenticatorId);
    str("subject", subject);
    if (options === null || typeof options !== "object") throw argError(`options must be an object, not ${typeName(options)}`);
    checkKeys("options", options, TOKEN_KEYS);
    const lifetime = options.lifetime === undefined || options.lifetime === null ? undefined : seconds(options.lifetime, "lifetime");
    let claims;
    if (options.claims !== undefined && options.claims !== null) {
      if (!isPlainObject(options.claims)) throw argError(`claims must be a plain object, not ${typeName(options.claims)}`);
      claims = JSON.stringify(options.claims);
    }
    return this.#raw.issueToken(
      authenticatorId,
      subject,
      stringList("roles", options.roles),
      stringList("scopes", options.scopes),
      lifetime,
      seconds(options.now),
      claims,
    );
  }

  /** Legal but probably unintended things in the policy: `{place, line, column, message}`. */
  get warnings() {
    return JSON.parse(this.#raw.warnings());
  }

  /** The enabled authenticators, in the order tried: `[id, type]`. */
  get authenticators() {
    return JSON.parse(this.#raw.authenticators());
  }

  /** Frees the engine's memory now instead of at garbage collection. */
  free() {
    this.#raw.free();
  }
}

/** The SHA-256 of an API key as lower-case hex: what a policy stores. */
export function hashKey(key) {
  return rawHashKey(str("key", key));
}

/** The build's crypto backend: "host" (the default: RSA, ECDSA and Ed25519 signatures
 * verified with WebCrypto) or "rust-crypto" (verified inside the .wasm; build.sh with
 * ADMIT_WASM_CRYPTO=rust-crypto). A function: the .wasm is initialised after this
 * module is evaluated. */
export function cryptoBackend() {
  return rawCryptoBackend();
}

/** The fetch rules every host follows for a `jwks_url` (the core's `admit::fetch`, in
 * seconds and bytes): `{ timeoutSecs, maxBytes, defaultMaxAge, minRefreshSecs,
 * maxRefreshSecs, retryMinSecs, retryMaxSecs, unknownKeyIntervalSecs, maxUrlBytes }`. */
export function fetchRules() {
  return JSON.parse(rawFetchRules());
}

/** Why `url` may not be fetched as a key set (https, or http to a loopback address; no
 * user info, no fragment), or `null` when it may. The reason quotes no part of the URL. */
export function checkJwksUrl(url) {
  return rawCheckJwksUrl(str("url", url)) ?? null;
}

/** Seconds from a good fetch to the next refresh, from the response's Cache-Control
 * (`null` or `undefined`: none). */
export function refreshAfter(cacheControl) {
  return rawRefreshAfter(cacheControl === null || cacheControl === undefined ? undefined : str("cacheControl", cacheControl));
}

/** Seconds to wait after `failures` failed fetches in a row. */
export function retryAfter(failures) {
  if (!Number.isSafeInteger(failures) || failures < 0) throw argError(`failures must be a non-negative integer, not ${typeName(failures)}`);
  return rawRetryAfter(Math.min(failures, 0xffffffff));
}

export { syncJwks, refetchJwks, decideWithJwks, jwksStatus } from "./jwks.js";
