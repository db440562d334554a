//! # admit-wasm
//!
//! The WebAssembly binding of admit. This crate exports a low-level `RawEngine` class
//! through wasm-bindgen; the npm package's hand-written ESM wrapper (`js/engine.js`)
//! builds the public `Engine` on it: it checks and normalises what JavaScript hands in
//! (headers as pairs, an object or a `Headers`, `now` from `Date.now()`), parses the
//! decision's JSON into a plain object and takes a Fetch `Request`.
//!
//! A JWT whose signature is RSA, ECDSA or Ed25519 is verified by the host in the default
//! build (`host-crypto`): a decision call that needs such a check answers `""` instead of
//! a decision, and `takeChecks` hands over a [`RawVerdicts`] holding the request and the
//! [`SignatureCheck`]s; the wrapper verifies each with WebCrypto, records the verdicts,
//! and calls `resume` until a decision comes. The verdicts stay on this side: JavaScript
//! only answers "valid" or "not valid" for a check it was given, and makes no decision.
//! A `rust-crypto` build checks every signature itself, and never answers `""` for one.
//!
//! A `delegated` authenticator's credential is checked by the host's application in
//! every build: the decision call answers `""` and the [`RawVerdicts`] holds a
//! [`CredentialCheck`] (`credentialAuthenticator`, `credential`); the wrapper runs the
//! JavaScript check registered for that authenticator (`Engine.setCheck`), records its
//! verdict (`recordPrincipal` or `recordRefusal`) and calls `resume`. The core still
//! applies roles, scopes, owner rules and responses to the principal it names.
//!
//! Errors are thrown as JavaScript `Error` objects with a `code` (`policy_error`,
//! `unknown_authenticator`, `unsupported`, `invalid`) and, for a policy, the place of the
//! first problem (`place`, `line`, `column`) and every problem in `errors`.

#![allow(unsafe_code, reason = "wasm-bindgen's macro expansion; this crate's own code has no unsafe")]

use std::cell::Cell;

use admit::{
    CredentialCheck, CredentialVerdict, EngineError, ExplainStep, Format, LoadError, MapResolver, Reason, Request,
    SignatureCheck, Step, TokenRequest, Verdicts,
};
use js_sys::{Array, Error, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Sets `obj[key] = value`; setting a property on a fresh object cannot fail.
fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn opt_num(v: Option<usize>) -> JsValue {
    // Line and column numbers fit an f64 exactly.
    #[expect(clippy::cast_precision_loss, reason = "line numbers are far below 2^53")]
    v.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

/// An `Error` with `code` set.
fn error(code: &str, message: &str) -> Error {
    let e = Error::new(message);
    set(&e, "code", &JsValue::from_str(code));
    e
}

fn policy_error(e: &LoadError) -> JsValue {
    let err = error("policy_error", &e.to_string());
    let list = Array::new();
    for p in &e.errors {
        let o = Object::new();
        set(&o, "place", &JsValue::from_str(&p.place));
        set(&o, "line", &opt_num(p.line));
        set(&o, "column", &opt_num(p.column));
        set(&o, "message", &JsValue::from_str(&p.message));
        list.push(&o);
    }
    let first = e.errors.first();
    set(&err, "errors", &list);
    set(&err, "place", &opt_str(first.map(|p| p.place.as_str())));
    set(&err, "line", &opt_num(first.and_then(|p| p.line)));
    set(&err, "column", &opt_num(first.and_then(|p| p.column)));
    err.into()
}

fn engine_error(e: &EngineError) -> JsValue {
    let code = match e {
        EngineError::UnknownAuthenticator(_) => "unknown_authenticator",
        EngineError::Unsupported(_) => "unsupported",
        _ => "invalid",
    };
    error(code, &e.to_string()).into()
}

fn invalid(message: &str) -> JsValue {
    error("invalid_argument", message).into()
}

/// Unix seconds from a JS number. The wrapper has checked it is a safe integer; `as`
/// saturates and never panics whatever arrives.
#[expect(clippy::cast_possible_truncation, reason = "checked to be a safe integer by the wrapper; saturates")]
fn seconds(v: f64) -> i64 {
    if v.is_finite() { v.trunc() as i64 } else { 0 }
}

/// Name/value pairs from a flat list `[name0, value0, name1, value1, ...]`.
fn pairs(flat: &[String]) -> Vec<(String, String)> {
    flat.chunks_exact(2)
        .filter_map(|c| match c {
            [n, v] => Some((n.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// The most rounds of host checks one decision takes; past it the decision is taken
/// without the missing verdicts (a denial). Each round records at least one new verdict,
/// and a token has at most a few candidate keys, so a real decision takes one or two.
const MAX_ROUNDS: u32 = 16;

/// A compiled policy, as wasm-bindgen exports it. Use the package's `Engine` instead.
#[wasm_bindgen]
pub struct RawEngine {
    inner: admit::Engine,
    /// The checks the last decision call asked for, until `takeChecks` takes them.
    pending: Cell<Option<RawVerdicts>>,
}

/// A header name or value, owned.
type Bytes = Box<[u8]>;

/// A request kept, byte for byte, while its decision waits for the host's checks.
struct HeldRequest {
    method: String,
    path: String,
    headers: Vec<(Bytes, Bytes)>,
    peer: Option<String>,
    now: i64,
}

impl HeldRequest {
    fn new(req: &Request<'_>) -> Self {
        HeldRequest {
            method: req.method.to_owned(),
            path: req.path.to_owned(),
            headers: req.headers.iter().map(|(n, v)| (Box::from(*n), Box::from(*v))).collect(),
            peer: req.peer.map(str::to_owned),
            now: req.now,
        }
    }

    /// `f` of the request as it was.
    fn with<R>(&self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        let headers: Vec<(&[u8], &[u8])> = self.headers.iter().map(|(n, v)| (&**n, &**v)).collect();
        f(&Request {
            method: &self.method,
            path: &self.path,
            headers: &headers,
            peer: self.peer.as_deref(),
            now: self.now,
        })
    }
}

/// A decision paused for checks by the host: the request, the signature checks or the
/// credential check asked for in the last round, and the verdicts recorded so far. Made
/// by `RawEngine.takeChecks`, passed back to `RawEngine.resume`.
#[wasm_bindgen]
pub struct RawVerdicts {
    request: HeldRequest,
    checks: Vec<SignatureCheck>,
    /// A `delegated` authenticator's credential, for the host's check; `None` once its
    /// verdict is recorded.
    credential: Option<CredentialCheck>,
    verdicts: Verdicts,
    rounds: u32,
    /// The paused call is `explain`: its rounds answer the explanation's JSON.
    explaining: bool,
}

impl RawVerdicts {
    /// The first round of a paused decision.
    fn paused(req: &Request<'_>, step: Step) -> Self {
        let mut v = RawVerdicts {
            request: HeldRequest::new(req),
            checks: Vec::new(),
            credential: None,
            verdicts: Verdicts::new(),
            rounds: 1,
            explaining: false,
        };
        v.ask(step);
        v
    }

    /// The first round of a paused `explain`.
    fn paused_explain(req: &Request<'_>, step: ExplainStep) -> Self {
        let mut v = RawVerdicts {
            request: HeldRequest::new(req),
            checks: Vec::new(),
            credential: None,
            verdicts: Verdicts::new(),
            rounds: 1,
            explaining: true,
        };
        v.ask_explain(step);
        v
    }

    /// As `ask`, for a step of `explain`: `Some(json)` when it is the explanation.
    fn ask_explain(&mut self, step: ExplainStep) -> Option<String> {
        self.checks.clear();
        self.credential = None;
        match step {
            ExplainStep::Explained(e) => return Some(e.to_json()),
            ExplainStep::Verify(checks) => self.checks = checks,
            ExplainStep::Check(check) => self.credential = Some(check),
        }
        None
    }

    /// Takes what a step asks for; `Some(json)` when it is the decision.
    fn ask(&mut self, step: Step) -> Option<String> {
        self.checks.clear();
        self.credential = None;
        match step {
            Step::Decided(d) => return Some(d.to_json()),
            Step::Verify(checks) => self.checks = checks,
            Step::Check(check) => self.credential = Some(check),
        }
        None
    }
}

#[wasm_bindgen]
impl RawVerdicts {
    /// The number of checks asked for in the last round.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> u32 {
        u32::try_from(self.checks.len()).unwrap_or(u32::MAX)
    }

    /// The handle of check `i`'s key (unique per key loaded; new after `setJwks`), or
    /// -1 when there is no check `i`.
    #[expect(clippy::cast_precision_loss, reason = "handles count up from 1, far below 2^53")]
    pub fn key(&self, i: u32) -> f64 {
        self.check(i).map_or(-1.0, |c| c.key as f64)
    }

    /// Check `i`'s public key as a JWK (JSON text), for `crypto.subtle.importKey("jwk")`.
    pub fn jwk(&self, i: u32) -> String {
        self.check(i).map(|c| String::from(&*c.jwk)).unwrap_or_default()
    }

    /// Check `i`'s JWS algorithm (`RS256`, `PS384`, `ES256`, `EdDSA`, ...).
    pub fn algorithm(&self, i: u32) -> String {
        self.check(i).map(|c| c.algorithm.to_owned()).unwrap_or_default()
    }

    /// Check `i`'s signed bytes (the JWS signing input).
    pub fn message(&self, i: u32) -> Vec<u8> {
        self.check(i).map(|c| c.message.clone()).unwrap_or_default()
    }

    /// Check `i`'s signature (ECDSA: `R || S`, as WebCrypto takes it).
    pub fn signature(&self, i: u32) -> Vec<u8> {
        self.check(i).map(|c| c.signature.clone()).unwrap_or_default()
    }

    /// Records the host's verdict on check `i` (no check `i`: nothing).
    pub fn record(&mut self, i: u32, valid: bool) {
        if let Some(c) = self.check(i).cloned() {
            self.verdicts.record(c, valid);
        }
    }

    fn check(&self, i: u32) -> Option<&SignatureCheck> {
        self.checks.get(usize::try_from(i).ok()?)
    }

    /// The id of the `delegated` authenticator whose credential the host must check
    /// this round, or `undefined` when there is none (or its verdict is recorded).
    #[wasm_bindgen(js_name = credentialAuthenticator)]
    pub fn credential_authenticator(&self) -> Option<String> {
        self.credential.as_ref().map(|c| String::from(&*c.authenticator))
    }

    /// The credential to check (a secret: for the host's check only), or `undefined`.
    pub fn credential(&self) -> Option<String> {
        self.credential.as_ref().map(|c| c.credential.clone())
    }

    /// Records the host's check's verdict: the credential names this principal, with
    /// these roles (an undefined one is refused by the core) and scopes (undeclared ones
    /// do not count). Nothing when no credential is waiting for a verdict.
    #[wasm_bindgen(js_name = recordPrincipal)]
    pub fn record_principal(&mut self, id: String, roles: Vec<String>, scopes: Vec<String>) {
        if let Some(check) = self.credential.take() {
            self.verdicts.record_credential(check, CredentialVerdict::Principal { id, roles, scopes });
        }
    }

    /// Records the host's check's refusal: `"expired"`, `"revoked"`, anything else
    /// `invalid_credentials`. Nothing when no credential is waiting for a verdict.
    #[wasm_bindgen(js_name = recordRefusal)]
    pub fn record_refusal(&mut self, reason: &str) {
        let reason = match reason {
            "expired" => Reason::Expired,
            "revoked" => Reason::Revoked,
            _ => Reason::InvalidCredentials,
        };
        if let Some(check) = self.credential.take() {
            self.verdicts.record_credential(check, CredentialVerdict::Refused(reason));
        }
    }
}

#[wasm_bindgen]
impl RawEngine {
    /// Compiles a policy. `format` is `"toml"` or `"json"`; `env` and `files` are flat
    /// `[key, value, ...]` lists for `{ env = ... }` and `{ file = ... }` references.
    #[wasm_bindgen(constructor)]
    pub fn new(text: &str, format: &str, env: Vec<String>, files: Vec<String>) -> Result<RawEngine, JsValue> {
        let format = Format::parse(format)
            .ok_or_else(|| invalid(&format!("format must be \"toml\" or \"json\", not {format:?}")))?;
        // Inserted one by one (a later duplicate wins, as with `collect`): collecting
        // into a BTreeMap sorts first, a stable sort instantiated for each iterator type.
        let mut resolver = MapResolver::default();
        for (name, value) in pairs(&env) {
            resolver.env.insert(name, value);
        }
        for (path, text) in pairs(&files) {
            resolver.files.insert(path, text);
        }
        let inner = admit::Engine::from_text(text, format, &resolver).map_err(|e| policy_error(&e))?;
        Ok(RawEngine { inner, pending: Cell::new(None) })
    }

    /// The first step of a decision: its JSON, or `""` when the host must check
    /// signatures or a credential first (then `takeChecks` has them, until the next
    /// decision call).
    fn first_step(&self, req: &Request<'_>) -> String {
        match self.inner.decide_step(req, &Verdicts::new()) {
            Step::Decided(d) => d.to_json(),
            step => {
                self.pending.set(Some(RawVerdicts::paused(req, step)));
                String::new()
            }
        }
    }

    /// The checks the last decision call that answered `""` asked for, with its request:
    /// verify each, `record` the verdicts, then `resume`. `undefined` once taken.
    #[wasm_bindgen(js_name = takeChecks)]
    pub fn take_checks(&self) -> Option<RawVerdicts> {
        self.pending.take()
    }

    /// The next step of a paused decision, with the verdicts recorded: the decision's
    /// JSON, or `""` with the next round's checks (or credential) in `verdicts`. Past the
    /// most rounds the decision is taken without the verdicts still missing: a denial.
    pub fn resume(&self, verdicts: &mut RawVerdicts) -> String {
        verdicts.rounds = verdicts.rounds.saturating_add(1);
        if verdicts.rounds > MAX_ROUNDS {
            return self.finish(verdicts);
        }
        if verdicts.explaining {
            let step = verdicts.request.with(|req| self.inner.explain_step(req, &verdicts.verdicts));
            return verdicts.ask_explain(step).unwrap_or_default();
        }
        let step = verdicts.request.with(|req| self.inner.decide_step(req, &verdicts.verdicts));
        verdicts.ask(step).unwrap_or_default()
    }

    /// A paused decision finished without asking the host again: the signature checks
    /// and the credential without a verdict fail (a denial, never an allow).
    pub fn finish(&self, verdicts: &mut RawVerdicts) -> String {
        verdicts.checks.clear();
        verdicts.credential = None;
        if verdicts.explaining {
            return verdicts.request.with(|req| self.inner.explain(req).to_json());
        }
        verdicts.request.with(|req| self.inner.decide(req).to_json())
    }

    /// Decides about one request, or explains the decision when `explaining`; returns
    /// the decision as the contract's JSON (or the explanation, `{"decision": ...,
    /// "trace": ...}`, docs/policy.md "Explaining a decision"), or `""` when the host
    /// must check signatures or a credential first (`takeChecks`, then `resume` answers
    /// as the call would have). `headers` is a flat `[name, value, ...]` list. One export
    /// for both: each export carries its own copy of the glue that reads a JS array of
    /// strings, and decisions mostly take `decideJoined`.
    #[wasm_bindgen(js_name = decideFields)]
    pub fn decide_fields(
        &self,
        method: &str,
        path: &str,
        headers: Vec<String>,
        peer: Option<String>,
        now: f64,
        explaining: bool,
    ) -> String {
        let pairs: Vec<(&[u8], &[u8])> = headers
            .chunks_exact(2)
            .filter_map(|c| match c {
                [n, v] => Some((n.as_bytes(), v.as_bytes())),
                _ => None,
            })
            .collect();
        let req = Request { method, path, headers: &pairs, peer: peer.as_deref(), now: seconds(now) };
        if !explaining {
            return self.first_step(&req);
        }
        match self.inner.explain_step(&req, &Verdicts::new()) {
            ExplainStep::Explained(e) => e.to_json(),
            step => {
                self.pending.set(Some(RawVerdicts::paused_explain(&req, step)));
                String::new()
            }
        }
    }

    /// Decides about one request whose method, path and header names and values come
    /// as one text, joined by NUL: `method\0path\0name0\0value0\0...`; answers as
    /// `decide`. One string
    /// crosses into WASM instead of one per field (a Worker's request carries a dozen
    /// headers or more). The wrapper uses it only when no field contains a NUL, so the
    /// split gives back exactly the fields it joined; any other shape is a malformed
    /// request, not a guess.
    #[wasm_bindgen(js_name = decideJoined)]
    pub fn decide_joined(&self, fields: &str, peer: Option<String>, now: f64) -> String {
        let mut parts = fields.split('\0');
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return self.inner.malformed("the request's fields are not method, path, headers").to_json();
        };
        let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(16);
        while let Some(name) = parts.next() {
            let Some(value) = parts.next() else {
                return self.inner.malformed("a header name has no value").to_json();
            };
            headers.push((name.as_bytes(), value.as_bytes()));
        }
        let req = Request { method, path, headers: &headers, peer: peer.as_deref(), now: seconds(now) };
        self.first_step(&req)
    }

    /// The decision for a request the host could not read, as JSON.
    pub fn malformed(&self, detail: &str) -> String {
        self.inner.malformed(detail).to_json()
    }

    /// Replaces the key set of a `jwt` authenticator with a JWKS (JSON text). Returns
    /// the number of usable keys.
    #[wasm_bindgen(js_name = setJwks)]
    pub fn set_jwks(&self, authenticator: &str, jwks: &str) -> Result<u32, JsValue> {
        let n = self.inner.set_jwks(authenticator, jwks).map_err(|e| engine_error(&e))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Replaces the keys of an `api_key` or `bearer_token` authenticator with those of a
    /// keys file's text (TOML, or JSON `{"keys": [...]}`), whole and at once. A file with
    /// any problem is refused (the error names places, never a value of the file) and the
    /// old keys stay. Returns the number of keys taken.
    #[wasm_bindgen(js_name = setKeys)]
    pub fn set_keys(&self, authenticator: &str, keys_file: &str) -> Result<u32, JsValue> {
        let n = self.inner.set_keys(authenticator, keys_file).map_err(|e| engine_error(&e))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The key set URL of each enabled `jwt` authenticator with a `jwks_url`, as a JSON
    /// list of `[authenticator id, url]`: what the host fetches and hands to `setJwks`.
    #[wasm_bindgen(js_name = jwksUrls)]
    pub fn jwks_urls(&self) -> String {
        serde_json::to_string(&self.inner.jwks_urls()).unwrap_or_else(|_| String::from("[]"))
    }

    /// The keys file of each enabled `api_key` or `bearer_token` authenticator that keeps
    /// its keys in one, as a JSON list of `[authenticator id, path as the policy gave it]`.
    #[wasm_bindgen(js_name = keysFiles)]
    pub fn keys_files(&self) -> String {
        serde_json::to_string(&self.inner.keys_files()).unwrap_or_else(|_| String::from("[]"))
    }

    /// Issues a token that the `jwt` authenticator accepts. `claims` is a JSON object
    /// text or `undefined`.
    #[wasm_bindgen(js_name = issueToken)]
    #[expect(clippy::too_many_arguments, reason = "the wrapper passes an options object's fields")]
    pub fn issue_token(
        &self,
        authenticator: &str,
        subject: &str,
        roles: Vec<String>,
        scopes: Vec<String>,
        lifetime: Option<f64>,
        now: f64,
        claims: Option<String>,
    ) -> Result<String, JsValue> {
        let extra = match claims {
            None => None,
            Some(text) => match serde_json::from_slice::<serde_json::Value>(text.as_bytes()) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => return Err(invalid("claims must be a plain object")),
            },
        };
        let req = TokenRequest {
            subject,
            roles: &roles,
            scopes: &scopes,
            lifetime: lifetime.map(seconds),
            now: seconds(now),
            extra,
        };
        self.inner.issue_token(authenticator, &req).map_err(|e| engine_error(&e))
    }

    /// Things in the policy that are legal but probably unintended, as a JSON list of
    /// `{place, line, column, message}`.
    pub fn warnings(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .inner
            .warnings()
            .iter()
            .map(|w| serde_json::json!({"place": w.place, "line": w.line, "column": w.column, "message": w.message}))
            .collect();
        json_text(&serde_json::Value::Array(list))
    }

    /// The enabled authenticators as a JSON list of `[id, type]`, in the order tried.
    pub fn authenticators(&self) -> String {
        let list: Vec<(&str, &str)> = self.inner.authenticators().collect();
        serde_json::to_string(&list).unwrap_or_else(|_| String::from("[]"))
    }
}

/// The core's crypto backend in this build: `"host"` (RSA, ECDSA and Ed25519 verified by
/// the host's WebCrypto) or `"rust-crypto"` (verified inside the module).
#[wasm_bindgen(js_name = cryptoBackend)]
pub fn crypto_backend() -> String {
    admit::CRYPTO_BACKEND.to_owned()
}

/// The SHA-256 of an API key as lower-case hex: what a policy stores.
#[wasm_bindgen(js_name = hashKey)]
pub fn hash_key(key: &str) -> String {
    admit::hash_key(key)
}

/// The fetch rules of `admit::fetch` every host follows, as a JSON object of numbers
/// (`timeoutSecs`, `maxBytes`, `defaultMaxAge`, `minRefreshSecs`, `maxRefreshSecs`,
/// `retryMinSecs`, `retryMaxSecs`, `unknownKeyIntervalSecs`, `maxUrlBytes`).
#[wasm_bindgen(js_name = fetchRules)]
pub fn fetch_rules() -> String {
    use admit::fetch as f;
    json_text(&serde_json::json!({
        "timeoutSecs": f::TIMEOUT_SECS,
        "maxBytes": f::MAX_BYTES,
        "defaultMaxAge": f::DEFAULT_MAX_AGE,
        "minRefreshSecs": f::MIN_REFRESH_SECS,
        "maxRefreshSecs": f::MAX_REFRESH_SECS,
        "retryMinSecs": f::RETRY_MIN_SECS,
        "retryMaxSecs": f::RETRY_MAX_SECS,
        "unknownKeyIntervalSecs": f::UNKNOWN_KEY_INTERVAL_SECS,
        "maxUrlBytes": f::MAX_URL_BYTES,
    }))
}

/// A JSON value as compact text, through the same serde_json writer as the decisions'
/// claims: `Value`'s `Display` would instantiate it twice more (compact and `{:#}`).
fn json_text(value: &serde_json::Value) -> String {
    // Writing a `Value` into a String cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Why a `jwks_url` may not be fetched (`https://`, or `http://` to a loopback address;
/// no user info or fragment), or `undefined` when it may. The reason quotes no part of
/// the URL.
#[wasm_bindgen(js_name = checkJwksUrl)]
pub fn check_jwks_url(url: &str) -> Option<String> {
    admit::fetch::check_url(url).err()
}

/// Seconds from a good fetch to the next background refresh, from the response's
/// `Cache-Control` (`undefined`: none).
#[wasm_bindgen(js_name = refreshAfter)]
pub fn refresh_after(cache_control: Option<String>) -> u32 {
    u32::try_from(admit::fetch::refresh_after(cache_control.as_deref())).unwrap_or(u32::MAX)
}

/// Seconds to wait after `failures` failed fetches in a row.
#[wasm_bindgen(js_name = retryAfter)]
pub fn retry_after(failures: u32) -> u32 {
    u32::try_from(admit::fetch::retry_after(failures)).unwrap_or(u32::MAX)
}
