//! The decision: a compiled [`Engine`] asked about one request at a time. The engine is
//! built by `compile`; nothing here parses or resolves a policy.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::authn::crypto::deferred::{CredentialCheck, CredentialVerdict, HostChecks, Step, Verdicts};
use crate::authn::jwt::{self, JwtAuthenticator, TokenRequest};
use crate::authn::keys::KeyStore;
use crate::authn::local::Local;
use crate::authn::sources::{Source, Sources, Syntax};
use crate::authn::{Denial, Identity, Outcome, single_header};
use crate::compile::compile;
use crate::cors::{Cors, same_origin};
use crate::decision::Decision;
use crate::error::{EngineError, LoadError, PolicyWarning};
use crate::explain::{
    Attempt, AuthenticatorPass, CorsOutcome, DryRunBy, ExplainStep, Explanation, Observer, OwnerOutcome, OwnerTrace,
    Recorder, Silent,
};
use crate::load::{Format, SourceMap, parse};
use crate::path::canonicalize_with;
use crate::policy::{PathsSpec, Policy};
use crate::reason::Reason;
use crate::request::Request;
use crate::response::Responses;
use crate::roles::{DirectScopes, RoleTable, Who};
use crate::routes::{Access, RouteTable, Rule, is_method_token};
use crate::scopes::ScopeTable;
use crate::value::Resolver;

pub(crate) const DEFAULT_MAX_HEADER: usize = 8192;
pub(crate) const DEFAULT_MAX_PATH: usize = 8192;

#[derive(Debug)]
pub(crate) enum AuthnKind {
    Anonymous(Identity),
    Local(Local),
    ApiKey(KeyStore),
    Bearer(KeyStore),
    Jwt(Box<JwtAuthenticator>),
    /// The host's check decides on the credential (`Step::Check`).
    Delegated,
}

#[derive(Debug)]
pub(crate) struct Authn {
    pub(crate) id: Arc<str>,
    pub(crate) kind: AuthnKind,
    /// Where a credential authenticator finds its credential; empty for fallbacks.
    pub(crate) sources: Sources,
}

impl Authn {
    /// The authenticator's type, as the policy writes it.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            AuthnKind::Anonymous(_) => "anonymous",
            AuthnKind::Local(_) => "local",
            AuthnKind::ApiKey(_) => "api_key",
            AuthnKind::Bearer(_) => "bearer_token",
            AuthnKind::Jwt(_) => "jwt",
            AuthnKind::Delegated => "delegated",
        }
    }
}

/// Header names and fixed values, allocated once per engine so that a decision only
/// bumps reference counts.
#[derive(Debug)]
pub(crate) struct HeaderText {
    allow_origin: Arc<str>,
    allow_methods: Arc<str>,
    allow_headers: Arc<str>,
    allow_credentials: Arc<str>,
    expose_headers: Arc<str>,
    max_age: Arc<str>,
    vary: Arc<str>,
    origin: Arc<str>,
    www_authenticate: Arc<str>,
    content_type: Arc<str>,
    yes: Arc<str>,
}

impl HeaderText {
    pub(crate) fn new() -> Self {
        HeaderText {
            allow_origin: Arc::from("Access-Control-Allow-Origin"),
            allow_methods: Arc::from("Access-Control-Allow-Methods"),
            allow_headers: Arc::from("Access-Control-Allow-Headers"),
            allow_credentials: Arc::from("Access-Control-Allow-Credentials"),
            expose_headers: Arc::from("Access-Control-Expose-Headers"),
            max_age: Arc::from("Access-Control-Max-Age"),
            vary: Arc::from("Vary"),
            origin: Arc::from("Origin"),
            www_authenticate: Arc::from("WWW-Authenticate"),
            content_type: Arc::from("Content-Type"),
            yes: Arc::from("true"),
        }
    }
}

/// A compiled policy. Build it once, share it between threads (it is `Send + Sync`),
/// and call [`Engine::decide`] for every request. To reload a policy, build a new engine
/// and swap it in; to rotate a JWT key set, call [`Engine::set_jwks`].
#[derive(Debug)]
pub struct Engine {
    pub(crate) dry_run: bool,
    pub(crate) scopes: ScopeTable,
    pub(crate) roles: RoleTable,
    /// The enabled authenticators, in policy order.
    pub(crate) authenticators: Vec<Authn>,
    /// Every authenticator id in the policy, enabled or not.
    pub(crate) all_ids: HashSet<String>,
    pub(crate) routes: RouteTable,
    pub(crate) cors: Option<Cors>,
    pub(crate) vary_origin: bool,
    pub(crate) responses: Responses,
    pub(crate) max_header: usize,
    pub(crate) max_path: usize,
    pub(crate) paths: PathsSpec,
    pub(crate) warnings: Vec<PolicyWarning>,
    pub(crate) text: HeaderText,
}

/// The outcome of evaluation, before it is dressed as a response.
struct Verdict<'e> {
    reason: Reason,
    detail: Option<Cow<'static, str>>,
    identity: Option<Identity>,
    rule: Option<&'e Rule>,
    constraints: BTreeMap<String, String>,
    missing_scopes: Vec<String>,
    cors: CorsAnswer,
    /// True when authenticators looked at the request: only then does a malformed
    /// request get an RFC 6750 `invalid_request` challenge.
    authenticated: bool,
}

#[derive(Default)]
enum CorsAnswer {
    #[default]
    None,
    Actual(Arc<str>),
    Preflight(Arc<str>),
}

impl<'e> Verdict<'e> {
    fn new(reason: Reason) -> Self {
        Verdict {
            reason,
            detail: None,
            identity: None,
            rule: None,
            constraints: BTreeMap::new(),
            missing_scopes: Vec::new(),
            cors: CorsAnswer::None,
            authenticated: false,
        }
    }
    fn denied(d: Denial) -> Self {
        let mut v = Verdict::new(d.reason);
        if !d.detail.is_empty() {
            v.detail = Some(d.detail);
        }
        v
    }
}

impl Engine {
    /// Compiles a policy from TOML or JSON text. References are resolved through
    /// `resolver`; every problem is reported with its place.
    pub fn from_text(text: &str, format: Format, resolver: &dyn Resolver) -> Result<Engine, LoadError> {
        let (policy, source) = parse(text, format)?;
        compile(&policy, resolver, &source)
    }

    /// Compiles a TOML policy.
    pub fn from_toml(text: &str, resolver: &dyn Resolver) -> Result<Engine, LoadError> {
        Self::from_text(text, Format::Toml, resolver)
    }

    /// Compiles a JSON policy.
    pub fn from_json(text: &str, resolver: &dyn Resolver) -> Result<Engine, LoadError> {
        Self::from_text(text, Format::Json, resolver)
    }

    /// Compiles a policy built in code.
    pub fn from_policy(policy: &Policy, resolver: &dyn Resolver) -> Result<Engine, LoadError> {
        compile(policy, resolver, &SourceMap::None)
    }

    /// Things in the policy that are legal but probably unintended.
    pub fn warnings(&self) -> &[PolicyWarning] {
        &self.warnings
    }

    /// The ids of the enabled authenticators, in the order they are tried, with their types.
    pub fn authenticators(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.authenticators.iter().map(|a| (&*a.id, a.kind_name()))
    }

    /// The header an enabled `api_key` authenticator reads: the first of its sources that
    /// is a header without a prefix (`None` when it reads only prefixed headers, cookies or
    /// the query).
    pub fn api_key_header(&self, authenticator: &str) -> Option<&str> {
        let a = self.authenticators.iter().find(|a| &*a.id == authenticator)?;
        if !matches!(a.kind, AuthnKind::ApiKey(_)) {
            return None;
        }
        a.sources.list.iter().find_map(|s| match s {
            Source::Header { name, prefix: None } => Some(name.as_str()),
            _ => None,
        })
    }

    /// Replaces the key set of a `jwt` authenticator with a JWKS (JSON text). Keys with
    /// bad material are skipped; a set with no key that fits one of the authenticator's
    /// algorithms is refused, and the working set is kept. Returns the number of keys
    /// taken. The error never quotes the set.
    pub fn set_jwks(&self, authenticator: &str, jwks: &str) -> Result<usize, EngineError> {
        let jwt = self.jwt(authenticator)?;
        let read = jwt::parse_jwks(jwks, &jwt.algorithms).map_err(EngineError::Invalid)?;
        read.check_usable(&jwt.algorithms).map_err(EngineError::Invalid)?;
        let n = read.keys.len();
        jwt.set_keys(read.keys);
        Ok(n)
    }

    /// The key set URL of each enabled `jwt` authenticator that has a `jwks_url`, as
    /// `(authenticator id, url)`: what the host fetches (the rules are in
    /// `docs/policy.md`, and [`crate::fetch`]) and hands to [`Engine::set_jwks`]. Until
    /// then the authenticator accepts no token (`unknown_key`).
    pub fn jwks_urls(&self) -> Vec<(&str, &str)> {
        self.authenticators
            .iter()
            .filter_map(|a| match &a.kind {
                AuthnKind::Jwt(j) => j.jwks_url.as_deref().map(|u| (&*a.id, u)),
                _ => None,
            })
            .collect()
    }

    /// The keys file of each enabled `api_key` or `bearer_token` authenticator that keeps
    /// its keys in one, as `(authenticator id, path as the policy's reference gave it)`:
    /// what a host watches and hands to [`Engine::set_keys`] when it changes.
    pub fn keys_files(&self) -> Vec<(&str, &str)> {
        self.authenticators
            .iter()
            .filter_map(|a| match &a.kind {
                AuthnKind::ApiKey(k) | AuthnKind::Bearer(k) => k.file.as_deref().map(|f| (&*a.id, f)),
                _ => None,
            })
            .collect()
    }

    /// Replaces the keys of an `api_key` or `bearer_token` authenticator with those of a
    /// keys file's text (TOML, or JSON when it starts with `{`; see
    /// [`crate::policy::KeysFile`]), whole and at once: the next decision sees the new
    /// set. A file with any problem is refused and the working set is kept. Returns the
    /// number of keys taken. The error names places and lines, never a value of the file.
    pub fn set_keys(&self, authenticator: &str, keys_file: &str) -> Result<usize, EngineError> {
        let (store, kind) = match self.authenticators.iter().find(|a| &*a.id == authenticator).map(|a| &a.kind) {
            Some(AuthnKind::ApiKey(k)) => (k, "api_key"),
            Some(AuthnKind::Bearer(k)) => (k, "bearer_token"),
            Some(_) => {
                return Err(EngineError::Unsupported(format!(
                    "authenticator `{authenticator}` is not an api_key or bearer_token authenticator"
                )));
            }
            None if self.all_ids.contains(authenticator) => {
                return Err(EngineError::Unsupported(format!("authenticator `{authenticator}` is not enabled")));
            }
            None => return Err(EngineError::UnknownAuthenticator(authenticator.to_owned())),
        };
        let kinds = crate::compile::KeyKind { authenticator, kind };
        let table = crate::keys_file::read(keys_file, kinds, &self.roles, &self.scopes).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            EngineError::Invalid(format!("keys file refused, the old keys stay: {}", text.join("; ")))
        })?;
        let n = table.len();
        store.replace(table);
        Ok(n)
    }

    /// Issues a token that the `jwt` authenticator `authenticator` accepts. It needs a
    /// signing key: the HMAC `secret`, or a `signing_key`.
    pub fn issue_token(&self, authenticator: &str, request: &TokenRequest<'_>) -> Result<String, EngineError> {
        self.jwt(authenticator)?.issue(request, &self.roles)
    }

    fn jwt(&self, id: &str) -> Result<&JwtAuthenticator, EngineError> {
        match self.authenticators.iter().find(|a| &*a.id == id) {
            Some(Authn { kind: AuthnKind::Jwt(j), .. }) => Ok(j),
            Some(_) => Err(EngineError::Unsupported(format!("authenticator `{id}` is not a jwt authenticator"))),
            None if self.all_ids.contains(id) => {
                Err(EngineError::Unsupported(format!("authenticator `{id}` is not enabled")))
            }
            None => Err(EngineError::UnknownAuthenticator(id.to_owned())),
        }
    }

    /// Decides about one request. Never panics on any input: what cannot be read is
    /// denied as `malformed_request`.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let verdict = self.evaluate(req, &HostChecks::none(), &mut Silent);
        self.render(verdict)
    }

    /// Decides about one request and says how: the decision [`Engine::decide`] gives,
    /// with the [`Trace`](crate::Trace) of each step (the canonical path, CORS, the
    /// rules considered, each authenticator's verdict, scopes, the owner check, a dry
    /// run's effect). The trace comes from the same steps as the decision, and never
    /// holds a credential or a secret. It costs allocations `decide` does not make: it
    /// is for people, not for every request.
    pub fn explain(&self, req: &Request<'_>) -> Explanation {
        let mut recorder = Recorder::new();
        let verdict = self.evaluate(req, &HostChecks::none(), &mut recorder);
        let decision = self.render(verdict);
        let trace = recorder.finish(&decision);
        Explanation { decision, trace }
    }

    /// [`Engine::explain`] in a build whose host makes checks (see
    /// [`Engine::decide_step`]): the explanation, or the checks to make before asking
    /// again with their `verdicts`. The rounds are those of `decide_step`.
    pub fn explain_step(&self, req: &Request<'_>, verdicts: &Verdicts) -> ExplainStep {
        let host = HostChecks::new(verdicts);
        let mut recorder = Recorder::new();
        let verdict = self.evaluate(req, &host, &mut recorder);
        match host.into_step() {
            Some(Step::Verify(checks)) => ExplainStep::Verify(checks),
            Some(Step::Check(check)) => ExplainStep::Check(check),
            // `into_step` asks for checks or for nothing; a decision is made here.
            Some(Step::Decided(_)) | None => {
                let decision = self.render(verdict);
                let trace = recorder.finish(&decision);
                ExplainStep::Explained(Box::new(Explanation { decision, trace }))
            }
        }
    }

    /// Decides about one request in a build whose host checks asymmetric signatures
    /// (WASM with WebCrypto; see [`Step`]): either the decision, or the signature
    /// checks to make before asking again with their `verdicts`. Native builds check
    /// every signature themselves and always answer [`Step::Decided`], the same
    /// decision [`Engine::decide`] gives; so does a host build for every request that
    /// needs no RSA, ECDSA or Ed25519 signature checked.
    pub fn decide_step(&self, req: &Request<'_>, verdicts: &Verdicts) -> Step {
        let host = HostChecks::new(verdicts);
        let verdict = self.evaluate(req, &host, &mut Silent);
        match host.into_step() {
            Some(step) => step,
            None => Step::Decided(self.render(verdict)),
        }
    }

    /// The policy's `[paths]` rules: a host that hands the engine a raw target (a
    /// gateway) can tell an operator when they are relaxed.
    pub fn path_rules(&self) -> PathsSpec {
        self.paths
    }

    /// The path a decision about `target` is made on: its canonical form under this
    /// policy's `[paths]` rules, without query or fragment; `Err` when the target is
    /// refused. For a host's logs, which must name the path that was decided.
    pub fn canonical_path<'t>(&self, target: &'t str) -> Result<Cow<'t, str>, crate::PathError> {
        canonicalize_with(target, &self.paths)
    }

    /// The decision for a request a host could not even read (a method or path that is
    /// not UTF-8, say), answered the way this policy answers malformed requests.
    pub fn malformed(&self, detail: &str) -> Decision {
        let mut v = Verdict::new(Reason::MalformedRequest);
        v.detail = Some(Cow::Owned(detail.to_owned()));
        self.render(v)
    }

    /// [`Engine::malformed`] with its trace: the target refused with `detail`, no
    /// step after it reached.
    pub fn explain_malformed(&self, detail: &str) -> Explanation {
        let mut recorder = Recorder::new();
        let denial = Denial::malformed(detail.to_owned());
        recorder.target_refused(&denial);
        let decision = self.render(Verdict::denied(denial));
        let trace = recorder.finish(&decision);
        Explanation { decision, trace }
    }

    fn evaluate<O: Observer>(&self, req: &Request<'_>, host: &HostChecks<'_>, obs: &mut O) -> Verdict<'_> {
        let mut v = self.judge(req, host, obs);
        let unread = v.reason == Reason::MalformedRequest;
        let dry_run = self.passes_as_dry_run(&v);
        if dry_run {
            obs.dry_run(if self.dry_run { DryRunBy::Policy } else { DryRunBy::Rule });
        }
        if dry_run && !unread && v.identity.is_none() && !v.authenticated {
            // A dry run lets the request through, so the app's own code reads the
            // principal: give it the one the credentials prove, as if the rule that
            // refused before authentication (no route, a denied route, a CORS origin)
            // had asked for any authenticator. The reason stays the refusal.
            obs.dry_run_identity();
            if let Ok(identity) = self.authenticate(req, None, host, obs) {
                v.identity = Some(identity);
            }
        }
        v
    }

    /// True when a denial in `v` is reported, not enforced (`dry_run`).
    fn passes_as_dry_run(&self, v: &Verdict<'_>) -> bool {
        !v.reason.is_allow() && v.reason != Reason::Preflight && (self.dry_run || v.rule.is_some_and(|r| r.dry_run))
    }

    fn judge<O: Observer>(&self, req: &Request<'_>, host: &HostChecks<'_>, obs: &mut O) -> Verdict<'_> {
        let refused = |obs: &mut O, d: Denial| {
            obs.target_refused(&d);
            Verdict::denied(d)
        };
        if !is_method_token(req.method) {
            return refused(obs, Denial::malformed("method is not an HTTP token"));
        }
        if req.path.len() > self.max_path {
            return refused(obs, Denial::malformed(format!("request path is longer than {} bytes", self.max_path)));
        }
        let path = match canonicalize_with(req.path, &self.paths) {
            Ok(p) => p,
            Err(e) => return refused(obs, Denial::malformed(e.message())),
        };
        obs.canonical(&path);

        let cors_refused = |obs: &mut O, origin: Option<&str>, d: Denial| {
            obs.cors(CorsOutcome::Refused, origin, Some(&d.detail));
            Verdict::denied(d)
        };
        let mut cors_answer = CorsAnswer::None;
        if let Some(cors) = &self.cors {
            let origin = match single_header(req, "Origin", self.max_header) {
                Ok(o) => o,
                Err(d) => return cors_refused(obs, None, d),
            };
            // A same-origin request (the app's own page writing to it) is not CORS.
            let cross = match origin {
                Some(o) => match same_origin(req, o, self.max_header) {
                    Ok(true) => {
                        obs.cors(CorsOutcome::SameOrigin, Some(o), None);
                        None
                    }
                    Ok(false) => Some(o),
                    Err(d) => return cors_refused(obs, Some(o), d),
                },
                None => {
                    obs.cors(CorsOutcome::NoOrigin, None, None);
                    None
                }
            };
            if let Some(origin) = cross {
                if !cors.origins.allows(origin) {
                    return cors_refused(
                        obs,
                        Some(origin),
                        Denial::new(Reason::OriginNotAllowed, "origin not allowed"),
                    );
                }
                let acao = cors.allow_origin_value(origin);
                if req.method == "OPTIONS" {
                    let requested = match single_header(req, "Access-Control-Request-Method", self.max_header) {
                        Ok(m) => m,
                        Err(d) => return cors_refused(obs, Some(origin), d),
                    };
                    if let Some(requested) = requested {
                        let v = self.preflight(req, cors, requested, acao);
                        let detail = v.detail.as_deref();
                        let outcome =
                            if v.reason == Reason::Preflight { CorsOutcome::Preflight } else { CorsOutcome::Refused };
                        obs.cors(outcome, Some(origin), detail);
                        return v;
                    }
                }
                obs.cors(CorsOutcome::Allowed, Some(origin), None);
                cors_answer = CorsAnswer::Actual(acao);
            }
        } else {
            obs.cors(CorsOutcome::NotConfigured, None, None);
        }

        let mut v = self.authorize(req, &path, host, obs);
        v.cors = cors_answer;
        v
    }

    fn preflight(&self, req: &Request<'_>, cors: &Cors, method: &str, acao: Arc<str>) -> Verdict<'_> {
        if !cors.allows_method(method) {
            return Verdict::denied(Denial::new(
                Reason::OriginNotAllowed,
                format!("CORS method `{}` not allowed", sanitize(method)),
            ));
        }
        let mut requested = String::new();
        for v in req.header_values("Access-Control-Request-Headers") {
            if v.len() > self.max_header {
                return Verdict::denied(Denial::malformed("Access-Control-Request-Headers is too long"));
            }
            match std::str::from_utf8(v) {
                Ok(t) => {
                    requested.push(',');
                    requested.push_str(t);
                }
                Err(_) => return Verdict::denied(Denial::malformed("Access-Control-Request-Headers is not UTF-8")),
            }
        }
        if let Some(h) = cors.disallowed_header(&requested) {
            return Verdict::denied(Denial::new(
                Reason::OriginNotAllowed,
                format!("CORS header `{}` not allowed", sanitize(h)),
            ));
        }
        let mut v = Verdict::new(Reason::Preflight);
        v.cors = CorsAnswer::Preflight(acao);
        v
    }

    fn authorize<'e, O: Observer>(
        &'e self,
        req: &Request<'_>,
        path: &str,
        host: &HostChecks<'_>,
        obs: &mut O,
    ) -> Verdict<'e> {
        let found = self.routes.find(req.method, path);
        obs.route(&self.routes, req.method, path, found.map(|(rule, _)| rule));
        let Some((rule, pattern)) = found else {
            return Verdict::new(Reason::NoRoute);
        };
        let requirement = match &rule.access {
            Access::Public => {
                let mut v = Verdict::new(Reason::Public);
                v.rule = Some(rule);
                return v;
            }
            Access::Deny => {
                let mut v = Verdict::new(Reason::RouteDenied);
                v.rule = Some(rule);
                return v;
            }
            Access::Authenticated(r) => r,
        };
        let mut v = match self.authenticate(req, requirement.authenticators.as_deref(), host, obs) {
            Ok(identity) => {
                let mut v = Verdict::new(Reason::Ok);
                v.identity = Some(identity);
                v
            }
            Err(d) => Verdict::denied(d),
        };
        v.rule = Some(rule);
        v.authenticated = true;
        let Some(identity) = &v.identity else { return v };
        let held = identity.scopes;
        if !requirement.all.is_subset_of(&held) {
            v.reason = Reason::InsufficientScope;
            v.missing_scopes = requirement
                .all_names
                .iter()
                .filter(|n| self.scopes.id(n).is_some_and(|id| !held.contains(id)))
                .cloned()
                .collect();
            obs.scopes(requirement, identity, &v.missing_scopes);
            return v;
        }
        if !requirement.any.is_empty() && !requirement.any.intersects(&held) {
            v.reason = Reason::InsufficientScope;
            v.missing_scopes = requirement.any_names.clone();
            obs.scopes(requirement, identity, &v.missing_scopes);
            return v;
        }
        obs.scopes(requirement, identity, &[]);
        if let Some(owner) = &requirement.owner {
            let exempt = !owner.unless.is_empty() && owner.unless.intersects(&held);
            let id = identity.principal.id.as_str();
            let value = match (&owner.param, exempt) {
                (Some(param), false) => pattern.param(path, param),
                _ => None,
            };
            let outcome = if exempt {
                OwnerOutcome::Exempt
            } else if owner.param.is_none() {
                OwnerOutcome::Constrained
            } else if value.as_deref() == Some(id) {
                OwnerOutcome::Owner
            } else {
                OwnerOutcome::NotOwner
            };
            obs.owner(|| OwnerTrace {
                param: owner.param.clone(),
                value: value.as_deref().map(str::to_owned),
                principal: id.to_owned(),
                constraint: owner.constraint.clone(),
                unless: owner.unless_names.clone(),
                outcome,
            });
            if !exempt {
                if outcome == OwnerOutcome::NotOwner {
                    v.reason = Reason::InsufficientScope;
                    v.detail = Some(Cow::Borrowed("only the owner may access this resource"));
                    v.missing_scopes = owner.unless_names.clone();
                }
                v.constraints.insert(owner.constraint.clone(), id.to_owned());
            }
        }
        v
    }

    fn authenticate<O: Observer>(
        &self,
        req: &Request<'_>,
        allowed: Option<&[usize]>,
        host: &HostChecks<'_>,
        obs: &mut O,
    ) -> Result<Identity, Denial> {
        let mut bearer: Option<Option<&str>> = None;
        let mut unclaimed = false;
        for (i, a) in self.authenticators.iter().enumerate() {
            if matches!(a.kind, AuthnKind::Anonymous(_) | AuthnKind::Local(_)) {
                continue;
            }
            if allowed.is_some_and(|l| !l.contains(&i)) {
                obs.authenticator(a, AuthenticatorPass::Credential, Attempt::NotOnRule);
                continue;
            }
            // Where the credential is read, and how: a JWT authenticator's cookie may be
            // vouched for by its authorized parties; an API key is text, the rest tokens.
            let (syntax, parties): (Syntax, &[String]) = match &a.kind {
                AuthnKind::ApiKey(_) => (Syntax::Text, &[]),
                AuthnKind::Jwt(jwt) => (Syntax::Token, &jwt.authorized_parties),
                _ => (Syntax::Token, &[]),
            };
            let credential = match self.credential(req, a, syntax, parties, &mut bearer) {
                Ok(c) => c,
                Err(d) => {
                    obs.authenticator(a, AuthenticatorPass::Credential, Attempt::Refused(&d));
                    return Err(d);
                }
            };
            let outcome = match (credential, &a.kind) {
                (None, _) => Outcome::Absent,
                (Some(key), AuthnKind::ApiKey(table) | AuthnKind::Bearer(table)) => {
                    table.check(key.as_bytes(), req.now)
                }
                (Some(token), AuthnKind::Jwt(jwt)) => {
                    jwt.authenticate(&token, req.now, &self.roles, &self.scopes, host)
                }
                (Some(credential), AuthnKind::Delegated) => self.delegated(a, &credential, host),
                // Fallbacks read no credential; the second pass below tries them.
                (Some(_), AuthnKind::Anonymous(_) | AuthnKind::Local(_)) => Outcome::Absent,
            };
            match outcome {
                Outcome::Absent => obs.authenticator(a, AuthenticatorPass::Credential, Attempt::Absent),
                Outcome::NotMine => {
                    obs.authenticator(a, AuthenticatorPass::Credential, Attempt::NotMine);
                    unclaimed = true;
                }
                Outcome::Authenticated(identity) => {
                    obs.authenticator(a, AuthenticatorPass::Credential, Attempt::Matched(&identity));
                    return Ok(identity);
                }
                Outcome::Denied(d) => {
                    obs.authenticator(a, AuthenticatorPass::Credential, Attempt::Refused(&d));
                    return Err(d);
                }
            }
        }
        if unclaimed {
            return Err(Denial::invalid("credential not recognised"));
        }
        let mut first_denial = None;
        for (i, a) in self.authenticators.iter().enumerate() {
            if !matches!(a.kind, AuthnKind::Anonymous(_) | AuthnKind::Local(_)) {
                continue;
            }
            if allowed.is_some_and(|l| !l.contains(&i)) {
                obs.authenticator(a, AuthenticatorPass::Fallback, Attempt::NotOnRule);
                continue;
            }
            match &a.kind {
                AuthnKind::Anonymous(identity) => {
                    obs.authenticator(a, AuthenticatorPass::Fallback, Attempt::Matched(identity));
                    return Ok(identity.clone());
                }
                AuthnKind::Local(local) => match local.authenticate(req, self.max_header) {
                    Ok(identity) => {
                        obs.authenticator(a, AuthenticatorPass::Fallback, Attempt::Matched(&identity));
                        return Ok(identity);
                    }
                    Err(d) => {
                        obs.authenticator(a, AuthenticatorPass::Fallback, Attempt::Refused(&d));
                        first_denial.get_or_insert(d);
                    }
                },
                _ => {}
            }
        }
        Err(first_denial.unwrap_or_else(|| Denial::new(Reason::MissingCredentials, "")))
    }

    /// A `delegated` authenticator's credential, judged by the host's check: its verdict
    /// when given, else a request for one (and meanwhile a refusal, never a pass).
    fn delegated(&self, a: &Authn, credential: &str, host: &HostChecks<'_>) -> Outcome {
        let Some(verdict) = host.credential(&a.id, credential) else {
            host.ask_credential(CredentialCheck {
                authenticator: Arc::clone(&a.id),
                credential: credential.to_owned(),
            });
            return Outcome::Denied(Denial::invalid(
                "the credential is checked by the host, and no verdict was given (no check registered?)",
            ));
        };
        match verdict {
            CredentialVerdict::Refused(reason) => {
                let reason = match reason {
                    Reason::Expired | Reason::Revoked => *reason,
                    _ => Reason::InvalidCredentials,
                };
                Outcome::Denied(Denial::new(reason, "credential refused by the host's check"))
            }
            CredentialVerdict::Principal { id, roles, scopes } => {
                if id.is_empty() || id.chars().any(char::is_control) {
                    return Outcome::Denied(Denial::invalid(
                        "the host's check gave an empty or unprintable principal id",
                    ));
                }
                if let Some(first) = roles.iter().find(|r| self.roles.id(r).is_none()) {
                    return Outcome::Denied(Denial::invalid(format!(
                        "the host's check named role `{}`, which the policy does not define",
                        sanitize(first)
                    )));
                }
                let role_ids: Vec<usize> = roles.iter().filter_map(|r| self.roles.id(r)).collect();
                let who = Who { id, authenticator: &a.id, kind: "delegated" };
                Outcome::Authenticated(self.roles.identity(
                    who,
                    &role_ids,
                    scopes,
                    DirectScopes::Exact,
                    &self.scopes,
                    None,
                ))
            }
        }
    }

    /// The credential an authenticator finds in its sources, after the cross-site check
    /// a cookie-borne one needs. `parties` are a `jwt` authenticator's
    /// `authorized_parties`.
    fn credential<'r>(
        &self,
        req: &Request<'r>,
        a: &Authn,
        syntax: Syntax,
        parties: &[String],
        bearer: &mut Option<Option<&'r str>>,
    ) -> Result<Option<Cow<'r, str>>, Denial> {
        let Some(found) = a.sources.find(req, self.max_header, syntax, bearer)? else {
            return Ok(None);
        };
        if found.from_cookie {
            self.cookie_is_same_origin(req, parties)?;
        }
        Ok(Some(found.value))
    }

    /// A browser sends cookies on its own, also with a request another site's page makes
    /// (CSRF): a credential from a cookie on a method that is not safe needs a sign that
    /// the request comes from the API's own origin, or from one the operator allows. The
    /// signs, in order: `Sec-Fetch-Site: same-origin`; an `Origin` naming the `Host`
    /// (without Fetch Metadata); an `Origin` that `[cors]` allows with credentials, or that
    /// is one of the `authorized_parties`. Without `Origin` and `Sec-Fetch-Site` (no
    /// browser said anything) the request is refused, unless the authenticator has
    /// `authorized_parties`: then, as Clerk's SDKs do, the token's `azp` is what protects.
    fn cookie_is_same_origin(&self, req: &Request<'_>, parties: &[String]) -> Result<(), Denial> {
        if matches!(req.method, "GET" | "HEAD" | "OPTIONS") {
            return Ok(());
        }
        let origin = single_header(req, "Origin", self.max_header)?;
        let site = single_header(req, "Sec-Fetch-Site", self.max_header)?;
        if site.is_some_and(|s| s.eq_ignore_ascii_case("same-origin")) {
            return Ok(());
        }
        let cross_site = || Denial::new(Reason::OriginNotAllowed, "cross-site request with a cookie credential");
        match origin {
            Some(o) => {
                if site.is_none() && same_origin(req, o, self.max_header)? {
                    return Ok(());
                }
                let cors_allows = self.cors.as_ref().is_some_and(|c| c.credentials && c.origins.allows(o));
                if cors_allows || parties.iter().any(|p| p == o) { Ok(()) } else { Err(cross_site()) }
            }
            None if site.is_some() => Err(cross_site()),
            None if !parties.is_empty() => Ok(()),
            None => Err(Denial::new(
                Reason::OriginNotAllowed,
                "no same-origin signal (Sec-Fetch-Site or Origin) for a cookie credential",
            )),
        }
    }

    fn render(&self, v: Verdict<'_>) -> Decision {
        let reason = v.reason;
        let deny = !reason.is_allow();
        let dry_run = self.passes_as_dry_run(&v);
        let enforced_deny = deny && !dry_run;

        let t = &self.text;
        let pair = |name: &Arc<str>, value: &Arc<str>| (Arc::clone(name), Arc::clone(value));
        let mut headers: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        if let Some(cors) = &self.cors {
            match &v.cors {
                CorsAnswer::None => {}
                CorsAnswer::Actual(acao) => {
                    headers.push(pair(&t.allow_origin, acao));
                    if cors.credentials {
                        headers.push(pair(&t.allow_credentials, &t.yes));
                    }
                    if let Some(e) = &cors.expose_value {
                        headers.push(pair(&t.expose_headers, e));
                    }
                }
                CorsAnswer::Preflight(acao) => {
                    headers.push(pair(&t.allow_origin, acao));
                    headers.push(pair(&t.allow_methods, &cors.allow_methods_value));
                    if let Some(h) = &cors.allow_headers_value {
                        headers.push(pair(&t.allow_headers, h));
                    }
                    if cors.credentials {
                        headers.push(pair(&t.allow_credentials, &t.yes));
                    }
                    if let Some(m) = &cors.max_age_value {
                        headers.push(pair(&t.max_age, m));
                    }
                }
            }
        }
        if self.vary_origin {
            headers.push(pair(&t.vary, &t.origin));
        }

        let response = self.responses.get(reason);
        let status = response.map_or(reason.default_status(), |r| r.status);
        let (message, body) = match response {
            Some(r) if r.message_fixed || v.detail.is_none() => (Arc::clone(&r.message), r.body.clone()),
            _ => {
                let text: Arc<str> = Arc::from(v.detail.as_deref().unwrap_or(reason.default_message()));
                let body = self.responses.body.render(&text, status, reason);
                (text, body)
            }
        };
        if enforced_deny && reason != Reason::Preflight {
            if response.is_some_and(|r| r.challenge) && (reason != Reason::MalformedRequest || v.authenticated) {
                let detail = v.detail.as_deref().unwrap_or("");
                if let Some(c) = self.responses.challenge(reason, detail, &v.missing_scopes) {
                    headers.push((Arc::clone(&t.www_authenticate), Arc::from(c)));
                }
            }
            if body.is_some() && reason != Reason::Preflight {
                if let Some(ct) = &self.responses.content_type {
                    headers.push(pair(&t.content_type, ct));
                }
            }
        }
        Decision {
            allow: !deny || dry_run,
            status,
            reason,
            message,
            headers,
            // A body only where the host answers with it; a preflight's 204 has none.
            body: if enforced_deny && reason != Reason::Preflight { body } else { None },
            principal: v.identity.map(|i| i.principal),
            rule: v.rule.map(|r| Arc::clone(&r.name)),
            constraints: v.constraints,
            dry_run,
        }
    }
}

/// Keeps a client-supplied word printable and short for a message.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<Engine>();
    }
}
