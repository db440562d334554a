//! The compiler: a parsed [`Policy`] and its references in, an [`Engine`] out, or every
//! problem found, each with its place. Decisions never run this code; everything a
//! decision reads is built here once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use base64::Engine as _;

use crate::authn::jwt::{self, JwtAuthenticator, JwtKey, KeyFamily, KeySet, SignerKey, SigningKey, VerifyingKey};
use crate::authn::keys::{KeyEntry, KeyStore, KeyTable, from_hex, sha256};
use crate::authn::local::Local;
use crate::authn::sources::{Source, Sources, is_token};
use crate::authn::token_cache::{DEFAULT_CAPACITY, MAX_CAPACITY, TokenCache};
use crate::cors::{Cors, OriginList, OriginPattern};
use crate::error::{LoadError, PolicyError, PolicyWarning};
use crate::load::SourceMap;
use crate::policy::{
    AuthenticatorSpec, CorsSpec, CredentialSpec, Credentials, JwtSpec, PathsSpec, Policy, RouteSpec, SourceSpec,
};
use crate::response::Responses;
use crate::roles::{DirectScopes, RoleTable, Who};
use crate::routes::{Access, Methods, Owner, Pattern, Requirement, RouteTable, Rule, is_method_token};
use crate::scopes::{MAX_SCOPES, ScopeSet, ScopeTable, check_pattern};
use crate::value::{Resolver, Value};

use crate::engine::{Authn, AuthnKind, DEFAULT_MAX_HEADER, DEFAULT_MAX_PATH, Engine, HeaderText};

pub(crate) struct Ctx<'a> {
    pub(crate) resolver: &'a dyn Resolver,
    pub(crate) errors: Vec<PolicyError>,
    pub(crate) warnings: Vec<PolicyWarning>,
}

impl Ctx<'_> {
    pub(crate) fn err(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PolicyError::new(place, message));
    }
    pub(crate) fn warn(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(PolicyWarning { place: place.into(), line: None, column: None, message: message.into() });
    }
    /// Resolves a value that may be absent; errors are recorded.
    pub(crate) fn opt(&mut self, v: &Value, place: &str) -> Option<String> {
        match v.resolve(self.resolver) {
            Ok(s) => s,
            Err(e) => {
                self.err(place, e);
                None
            }
        }
    }
    /// Resolves a value that must be present.
    pub(crate) fn req(&mut self, v: &Value, place: &str) -> Option<String> {
        match v.require(self.resolver) {
            Ok(s) => Some(s),
            Err(e) => {
                self.err(place, e);
                None
            }
        }
    }
    /// Resolves a secret: it must be a reference, never written in the policy, and a
    /// reference without a `default` (a default is a secret written in the policy, and
    /// one that works wherever the variable is forgotten).
    fn secret(&mut self, v: &Value, place: &str) -> Option<String> {
        if v.is_literal() {
            self.err(
                place,
                "a secret cannot be written in the policy; use `{ env = \"NAME\" }` or `{ file = \"PATH\" }`",
            );
            return None;
        }
        if let Value::Env { name, default: Some(_), .. } = v {
            self.err(
                place,
                format!("a secret cannot have a `default` (it would be written in the policy); set `{name}` instead"),
            );
            return None;
        }
        self.req(v, place)
    }
    fn int(&mut self, v: &Value, place: &str) -> Option<i64> {
        let text = self.opt(v, place)?;
        match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(place, format!("{} must be a whole number", v.describe()));
                None
            }
        }
    }
    fn list(&mut self, v: &crate::value::ValueList, place: &str) -> Vec<String> {
        match v.resolve(self.resolver) {
            Ok(l) => l,
            Err(e) => {
                self.err(place, e);
                Vec::new()
            }
        }
    }
    /// Resolves a list whose emptiness would switch a check off (`audience`,
    /// `algorithms`): a reference that is set but holds no item (`AUD=","`) is an error,
    /// not an absent list.
    fn checked_list(&mut self, v: &crate::value::ValueList, place: &str) -> Vec<String> {
        if let Some(r) = v.set_but_empty(self.resolver) {
            self.err(place, format!("{} is set but holds no item", r.describe()));
            return Vec::new();
        }
        self.list(v, place)
    }
}

pub(crate) fn compile(policy: &Policy, resolver: &dyn Resolver, source: &SourceMap) -> Result<Engine, LoadError> {
    let mut cx = Ctx { resolver, errors: Vec::new(), warnings: Vec::new() };

    let mut scopes = ScopeTable::default();
    if policy.scopes.len() > MAX_SCOPES {
        cx.err("scopes", format!("at most {MAX_SCOPES} scopes may be declared"));
    }
    for (i, s) in policy.scopes.iter().enumerate() {
        if let Err(e) = check_pattern(s) {
            cx.err(format!("scopes[{i}]"), e);
        } else if s.contains('*') {
            cx.err(format!("scopes[{i}]"), format!("declared scope `{s}` cannot hold `*`"));
        } else if !scopes.declare(s) {
            cx.err(format!("scopes[{i}]"), format!("scope `{s}` is declared twice"));
        }
    }
    let roles = RoleTable::compile(&policy.roles, &scopes, &mut cx.errors);

    let (authenticators, all_ids) = compile_authenticators(&mut cx, policy, &roles, &scopes);
    let enabled_index: HashMap<&str, usize> = authenticators.iter().enumerate().map(|(i, a)| (&*a.id, i)).collect();

    let mut rules = Vec::new();
    let mut route_ids: HashMap<&str, usize> = HashMap::new();
    for (i, spec) in policy.routes.iter().enumerate() {
        if let Some(id) = &spec.id {
            if let Some(prev) = route_ids.insert(id, i) {
                cx.err(format!("routes[{i}].id"), format!("rule id `{id}` is also used by routes[{prev}]"));
            }
        }
        if let Some(rule) = compile_route(&mut cx, i, spec, &policy.paths, &scopes, &all_ids, &enabled_index) {
            rules.push(rule);
        }
    }
    let routes = RouteTable::new(rules);
    if cx.errors.is_empty() {
        for (hidden, by) in routes.hidden_rules() {
            cx.warn(
                format!("routes[{hidden}]"),
                format!("this rule never decides: routes[{by}] comes first and matches every request it would"),
            );
        }
    }

    let cors = policy.cors.as_ref().and_then(|c| compile_cors(&mut cx, c));
    let responses = Responses::compile(&policy.responses, policy.realm.as_deref(), &mut cx.errors);
    let max_header = policy.limits.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER);
    let max_path = policy.limits.max_path_bytes.unwrap_or(DEFAULT_MAX_PATH);
    if max_header < 256 {
        cx.err("limits.max_header_bytes", "must be at least 256");
    }
    if max_path < 256 {
        cx.err("limits.max_path_bytes", "must be at least 256");
    }
    let dry_run = match policy.dry_run.evaluate(cx.resolver) {
        Ok(b) => b,
        Err(e) => {
            cx.err("dry_run", e);
            false
        }
    };
    // A cookie credential's cross-site check reads Origin, so answers depend on it.
    let vary_origin =
        cors.is_some() || authenticators.iter().any(|a| matches!(a.kind, AuthnKind::Local(_)) || a.sources.has_cookie);

    let Ctx { mut errors, mut warnings, .. } = cx;
    if !errors.is_empty() {
        for e in &mut errors {
            source.locate(e);
        }
        return Err(LoadError { errors });
    }
    for w in &mut warnings {
        let mut e = PolicyError::new(w.place.clone(), String::new());
        source.locate(&mut e);
        w.line = e.line;
        w.column = e.column;
    }
    Ok(Engine {
        dry_run,
        scopes,
        roles,
        authenticators,
        all_ids,
        routes,
        cors,
        vary_origin,
        responses,
        max_header,
        max_path,
        paths: policy.paths,
        warnings,
        text: HeaderText::new(),
    })
}

fn check_direct_scopes(cx: &mut Ctx<'_>, scopes: &[String], table: &ScopeTable, place: &str) {
    for (i, s) in scopes.iter().enumerate() {
        if let Err(e) = check_pattern(s) {
            cx.err(format!("{place}[{i}]"), e);
        } else if table.grant(s).is_empty() {
            cx.err(format!("{place}[{i}]"), format!("scope `{s}` matches no scope declared in `scopes`"));
        }
    }
}

fn compile_authenticators(
    cx: &mut Ctx<'_>,
    policy: &Policy,
    roles: &RoleTable,
    scopes: &ScopeTable,
) -> (Vec<Authn>, HashSet<String>) {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, spec) in policy.authenticators.iter().enumerate() {
        let place = format!("authenticators[{i}]");
        let id = spec.id();
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            cx.err(format!("{place}.id"), "an id needs at least one character and no spaces");
        }
        if !ids.insert(id.to_owned()) {
            cx.err(format!("{place}.id"), format!("authenticator id `{id}` is used twice"));
        }
        let enabled = match spec.enabled().evaluate(cx.resolver) {
            Ok(b) => b,
            Err(e) => {
                cx.err(format!("{place}.enabled"), e);
                false
            }
        };
        // Role names are checked whether or not the authenticator is on, so a typo
        // shows up before the day it is switched on.
        let mut errors = Vec::new();
        match spec {
            AuthenticatorSpec::Anonymous(s) => {
                roles.resolve(&s.roles, &format!("{place}.roles"), &mut errors);
            }
            AuthenticatorSpec::Local(s) => {
                roles.resolve(&s.roles, &format!("{place}.roles"), &mut errors);
            }
            // A keys file's roles are checked when the file is read.
            AuthenticatorSpec::ApiKey(s) => {
                if let Credentials::Inline(list) = &s.keys {
                    for (k, key) in list.iter().enumerate() {
                        roles.resolve(&key.roles, &format!("{place}.keys[{k}].roles"), &mut errors);
                    }
                }
            }
            AuthenticatorSpec::BearerToken(s) => {
                if let Credentials::Inline(list) = &s.tokens {
                    for (k, key) in list.iter().enumerate() {
                        roles.resolve(&key.roles, &format!("{place}.tokens[{k}].roles"), &mut errors);
                    }
                }
            }
            AuthenticatorSpec::Jwt(s) => {
                for (name, role) in &s.role_map {
                    if roles.id(role).is_none() {
                        errors.push(PolicyError::new(
                            format!("{place}.role_map.{name}"),
                            format!("role `{role}` is not defined"),
                        ));
                    }
                }
                if let Some(d) = &s.default_role {
                    if roles.id(d).is_none() {
                        errors.push(PolicyError::new(
                            format!("{place}.default_role"),
                            format!("role `{d}` is not defined"),
                        ));
                    }
                }
            }
            // The host's check names its roles at decision time.
            AuthenticatorSpec::Delegated(_) => {}
        }
        let had_role_errors = !errors.is_empty();
        cx.errors.extend(errors);
        // Sources are checked whether or not the authenticator is on, as role names are:
        // they hold no reference.
        let sources = match spec {
            AuthenticatorSpec::Anonymous(_) | AuthenticatorSpec::Local(_) => Sources::new(id, Vec::new()),
            AuthenticatorSpec::ApiKey(s) => {
                if s.header.is_some() && s.sources.is_some() {
                    cx.err(format!("{place}.header"), "`header` is shorthand for `sources`: write one of them");
                }
                let shorthand =
                    s.header.as_ref().map(|h| vec![SourceSpec { header: Some(h.clone()), ..SourceSpec::default() }]);
                let (list, at) = match (&s.sources, &shorthand) {
                    (Some(l), _) => (Some(l.as_slice()), SourcesAt::List),
                    (None, Some(l)) => (Some(l.as_slice()), SourcesAt::Header),
                    (None, None) => (None, SourcesAt::List),
                };
                compile_sources(cx, id, &place, list, at, SourceFor::ApiKey)
            }
            AuthenticatorSpec::BearerToken(s) => {
                compile_sources(cx, id, &place, s.sources.as_deref(), SourcesAt::List, SourceFor::Token)
            }
            AuthenticatorSpec::Jwt(s) => {
                compile_sources(cx, id, &place, s.sources.as_deref(), SourcesAt::List, SourceFor::Token)
            }
            AuthenticatorSpec::Delegated(s) => {
                compile_sources(cx, id, &place, s.sources.as_deref(), SourcesAt::List, SourceFor::Token)
            }
        };
        if !enabled || had_role_errors {
            continue;
        }
        let id_arc: Arc<str> = Arc::from(id);
        let kind = match spec {
            AuthenticatorSpec::Anonymous(s) => {
                check_direct_scopes(cx, &s.scopes, scopes, &format!("{place}.scopes"));
                let pid = match &s.principal {
                    Some(v) => cx.req(v, &format!("{place}.principal")),
                    None => Some("anonymous".to_owned()),
                };
                let role_ids = roles.resolve(&s.roles, "", &mut Vec::new());
                pid.map(|pid| {
                    let who = Who { id: &pid, authenticator: id, kind: "anonymous" };
                    AuthnKind::Anonymous(roles.identity(
                        who,
                        &role_ids,
                        &s.scopes,
                        DirectScopes::Patterns,
                        scopes,
                        None,
                    ))
                })
            }
            AuthenticatorSpec::Local(s) => {
                check_direct_scopes(cx, &s.scopes, scopes, &format!("{place}.scopes"));
                let pid = match &s.principal {
                    Some(v) => cx.req(v, &format!("{place}.principal")),
                    None => Some("local".to_owned()),
                };
                let hosts = if s.hosts.is_empty() {
                    vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()]
                } else {
                    cx.list(&s.hosts, &format!("{place}.hosts"))
                        .into_iter()
                        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                        .collect()
                };
                if hosts.is_empty() {
                    cx.warn(format!("{place}.hosts"), "no host name is allowed: every request is refused as not local");
                }
                let origins = origin_list(cx, &s.origins, &format!("{place}.origins"));
                let role_ids = roles.resolve(&s.roles, "", &mut Vec::new());
                pid.map(|pid| {
                    let who = Who { id: &pid, authenticator: id, kind: "local" };
                    AuthnKind::Local(Local {
                        identity: roles.identity(who, &role_ids, &s.scopes, DirectScopes::Patterns, scopes, None),
                        hosts,
                        origins,
                        same_site: s.same_site,
                    })
                })
            }
            AuthenticatorSpec::ApiKey(s) => {
                let kinds = KeyKind { authenticator: id, kind: "api_key" };
                let store = key_store(cx, &s.keys, &format!("{place}.keys"), kinds, roles, scopes);
                Some(AuthnKind::ApiKey(store))
            }
            AuthenticatorSpec::BearerToken(s) => {
                let kinds = KeyKind { authenticator: id, kind: "bearer_token" };
                let store = key_store(cx, &s.tokens, &format!("{place}.tokens"), kinds, roles, scopes);
                Some(AuthnKind::Bearer(store))
            }
            AuthenticatorSpec::Jwt(s) => {
                compile_jwt(cx, s, &place, Arc::clone(&id_arc), roles).map(|j| AuthnKind::Jwt(Box::new(j)))
            }
            AuthenticatorSpec::Delegated(_) => Some(AuthnKind::Delegated),
        };
        if let Some(kind) = kind {
            out.push(Authn { id: id_arc, kind, sources });
        }
    }
    // A bearer_token authenticator takes every Bearer value, so a jwt after it never
    // sees a token.
    let mut seen_bearer: Option<&str> = None;
    for a in &out {
        if !a.sources.list.contains(&Source::Bearer) {
            continue;
        }
        match a.kind {
            AuthnKind::Bearer(_) | AuthnKind::Delegated if seen_bearer.is_none() => seen_bearer = Some(&a.id),
            AuthnKind::Jwt(_) => {
                if let Some(b) = seen_bearer {
                    let place = policy
                        .authenticators
                        .iter()
                        .position(|s| s.id() == &*a.id)
                        .map_or_else(String::new, |i| format!("authenticators[{i}]"));
                    cx.warn(
                        place,
                        format!("`{}` never sees a token: the authenticator `{b}` before it (bearer_token or delegated) takes every Bearer value; put the jwt authenticator first", a.id),
                    );
                }
            }
            _ => {}
        }
    }
    (out, ids)
}

/// Where a list of sources was written: `sources`, or `api_key`'s `header` shorthand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SourcesAt {
    List,
    Header,
}

/// Which authenticator reads them: an API key is any text, a token has RFC 6750 syntax
/// and defaults to the Bearer header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SourceFor {
    ApiKey,
    Token,
}

fn compile_sources(
    cx: &mut Ctx<'_>,
    id: &str,
    place: &str,
    specs: Option<&[SourceSpec]>,
    at: SourcesAt,
    kind: SourceFor,
) -> Sources {
    let Some(specs) = specs else {
        let default = match kind {
            SourceFor::ApiKey => Source::Header { name: "X-API-Key".to_owned(), prefix: None },
            SourceFor::Token => Source::Bearer,
        };
        return Sources::new(id, vec![default]);
    };
    if specs.is_empty() {
        cx.err(format!("{place}.sources"), "at least one source is needed (leave `sources` out for the default)");
    }
    let mut list: Vec<Source> = Vec::new();
    // The entry each of `list` was written as, for errors.
    let mut written: Vec<usize> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let sp = match at {
            SourcesAt::List => format!("{place}.sources[{i}]"),
            SourcesAt::Header => place.to_owned(),
        };
        let named = [spec.header.is_some(), spec.cookie.is_some(), spec.query.is_some()];
        match named.iter().filter(|n| **n).count() {
            0 => {
                cx.err(&sp, "a source names one of `header`, `cookie` or `query`");
                continue;
            }
            1 => {}
            _ => {
                cx.err(&sp, "a source names only one of `header`, `cookie` and `query`; list each in its own entry");
                continue;
            }
        }
        if spec.prefix.is_some() && spec.header.is_none() {
            cx.err(format!("{sp}.prefix"), "`prefix` belongs to a `header` source");
            continue;
        }
        if spec.allow_query && spec.query.is_none() {
            cx.err(format!("{sp}.allow_query"), "`allow_query` belongs to a `query` source");
            continue;
        }
        let source = if let Some(name) = &spec.header {
            let hp = format!("{sp}.header");
            if !is_token(name) {
                cx.err(&hp, format!("`{}` is not a header name", name.escape_debug()));
                continue;
            }
            if name.eq_ignore_ascii_case("cookie") {
                cx.err(&hp, "read a cookie with `{ cookie = \"NAME\" }`, not the whole Cookie header");
                continue;
            }
            let prefix = match &spec.prefix {
                None => None,
                Some(p) if p.trim().is_empty() || p.chars().any(char::is_control) || !p.is_ascii() => {
                    cx.err(format!("{sp}.prefix"), "a prefix is printable ASCII text with a non-space character");
                    continue;
                }
                Some(p) => Some(p.clone()),
            };
            let authorization = name.eq_ignore_ascii_case("authorization");
            let bearer =
                authorization && prefix.as_deref().is_some_and(|p| p.trim_end().eq_ignore_ascii_case("bearer"));
            match kind {
                SourceFor::ApiKey if authorization && (prefix.is_none() || bearer) => {
                    cx.err(
                        &hp,
                        "keys in Authorization are read by `bearer_token` (or give another `prefix`, such as `Token `)",
                    );
                    continue;
                }
                SourceFor::Token if authorization && prefix.is_none() => {
                    cx.err(&hp, "a token in Authorization needs its scheme as `prefix` (`Bearer `)");
                    continue;
                }
                _ => {}
            }
            if bearer { Source::Bearer } else { Source::Header { name: name.clone(), prefix } }
        } else if let Some(name) = &spec.cookie {
            if !is_token(name) {
                cx.err(
                    format!("{sp}.cookie"),
                    format!(
                        "`{}` is not a cookie name (an RFC 6265 token: no spaces, `;`, `=`, `,` or quotes)",
                        name.escape_debug()
                    ),
                );
                continue;
            }
            Source::Cookie(name.clone())
        } else if let Some(name) = &spec.query {
            let qp = format!("{sp}.query");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && !b"&=#+%".contains(&b)) {
                cx.err(
                    &qp,
                    format!(
                        "`{}` is not a query parameter name (printable ASCII without `&`, `=`, `#`, `+`, `%`)",
                        name.escape_debug()
                    ),
                );
                continue;
            }
            if !spec.allow_query {
                cx.err(
                    &qp,
                    "a credential in the query string needs `allow_query = true`: RFC 6750 section 2.3 advises against it, since servers, proxies and browsers log URLs",
                );
                continue;
            }
            Source::Query(name.clone())
        } else {
            continue;
        };
        if let Some(j) = list.iter().position(|s| same_place(s, &source)).and_then(|k| written.get(k)) {
            cx.err(&sp, format!("this source names the same place as sources[{j}]"));
            continue;
        }
        list.push(source);
        written.push(i);
    }
    Sources::new(id, list)
}

/// True when two sources read the same place (header names are case-insensitive).
fn same_place(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::Bearer, Source::Bearer) => true,
        // A header read whole overlaps every prefixed reading of it.
        (Source::Header { name: x, prefix: p }, Source::Header { name: y, prefix: q }) => {
            x.eq_ignore_ascii_case(y)
                && match (p, q) {
                    (Some(p), Some(q)) => p.eq_ignore_ascii_case(q),
                    _ => true,
                }
        }
        (Source::Cookie(x), Source::Cookie(y)) | (Source::Query(x), Source::Query(y)) => x == y,
        _ => false,
    }
}

/// Whose keys a table holds: the authenticator's id and its `type`.
#[derive(Clone, Copy)]
pub(crate) struct KeyKind<'a> {
    pub authenticator: &'a str,
    pub kind: &'static str,
}

/// The keys of an `api_key` or `bearer_token` authenticator: the policy's list, or the
/// keys file it names (read through the resolver, as `{ file = ... }` values are).
fn key_store(
    cx: &mut Ctx<'_>,
    credentials: &Credentials,
    place: &str,
    kinds: KeyKind<'_>,
    roles: &RoleTable,
    scopes: &ScopeTable,
) -> KeyStore {
    let reference = match credentials {
        Credentials::Inline(list) => return KeyStore::new(key_table(cx, list, place, kinds, roles, scopes), None),
        Credentials::File(v) => v,
    };
    // The reference names the keys file: `{ file = ... }` by itself, `{ env = ... }` (or a
    // policy built in code with a literal) by its value.
    let path = match reference {
        Value::File { path } => Some(path.clone()),
        Value::Env { .. } | Value::Literal(_) => cx.opt(reference, place),
    };
    let Some(path) = path.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) else {
        cx.warn(
            place,
            format!("{} is not set: no key is accepted until the host calls set_keys", reference.describe()),
        );
        return KeyStore::new(KeyTable::default(), None);
    };
    let table = match cx.resolver.file(&path) {
        Ok(text) => match crate::keys_file::read(&text, kinds, roles, scopes) {
            Ok(table) => table,
            Err(errors) => {
                for e in errors {
                    cx.err(place, format!("keys file `{path}`: {e}"));
                }
                KeyTable::default()
            }
        },
        Err(e) => {
            cx.err(place, format!("cannot read keys file `{path}`: {}", e.replace(&path, "…")));
            KeyTable::default()
        }
    };
    KeyStore::new(table, Some(path))
}

pub(crate) fn key_table(
    cx: &mut Ctx<'_>,
    specs: &[CredentialSpec],
    place: &str,
    kinds: KeyKind<'_>,
    roles: &RoleTable,
    scopes: &ScopeTable,
) -> KeyTable {
    let KeyKind { authenticator, kind } = kinds;
    let mut table = KeyTable::default();
    let mut key_ids: HashMap<&str, usize> = HashMap::new();
    let mut digests: HashMap<[u8; 32], usize> = HashMap::new();
    for (k, spec) in specs.iter().enumerate() {
        let kp = format!("{place}[{k}]");
        if let Some(prev) = key_ids.insert(&spec.id, k) {
            cx.err(format!("{kp}.id"), format!("key id `{}` is also used by {place}[{prev}]", spec.id));
        }
        match spec.enabled.evaluate(cx.resolver) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                cx.err(format!("{kp}.enabled"), e);
                continue;
            }
        }
        check_direct_scopes(cx, &spec.scopes, scopes, &format!("{kp}.scopes"));
        let digest = match (&spec.sha256, &spec.secret) {
            (Some(h), None) => cx.req(h, &format!("{kp}.sha256")).and_then(|text| {
                let d = from_hex(text.trim());
                if d.is_none() {
                    cx.err(format!("{kp}.sha256"), "a SHA-256 is 64 hex digits (`admit hash KEY` prints it)");
                }
                d
            }),
            (None, Some(s)) => cx.secret(s, &format!("{kp}.secret")).map(|plain| sha256(plain.as_bytes())),
            (Some(_), Some(_)) => {
                cx.err(&kp, "a key has either `sha256` or `secret`, not both");
                None
            }
            (None, None) => {
                cx.err(&kp, "a key needs `sha256` or `secret`");
                None
            }
        };
        let principal = match &spec.principal {
            Some(v) => cx.req(v, &format!("{kp}.principal")),
            None => Some(spec.id.clone()),
        };
        let expires = spec.expires.as_ref().and_then(|v| {
            let text = cx.opt(v, &format!("{kp}.expires"))?;
            let t = text.trim();
            let parsed = t.parse::<i64>().ok().or_else(|| crate::time::parse_rfc3339(t));
            if parsed.is_none() {
                cx.err(format!("{kp}.expires"), "expected unix seconds or an RFC 3339 time (`2027-01-01T00:00:00Z`)");
            }
            parsed
        });
        let (Some(digest), Some(principal)) = (digest, principal) else { continue };
        if let Some(prev) = digests.insert(digest, k) {
            cx.err(&kp, format!("this key is the same as {place}[{prev}]"));
            continue;
        }
        let role_ids = roles.resolve(&spec.roles, "", &mut Vec::new());
        let who = Who { id: &principal, authenticator, kind };
        table.insert(KeyEntry {
            digest,
            identity: roles.identity(who, &role_ids, &spec.scopes, DirectScopes::Patterns, scopes, None),
            expires,
            revoked: spec.revoked,
        });
    }
    table
}

fn compile_jwt(
    cx: &mut Ctx<'_>,
    s: &JwtSpec,
    place: &str,
    id: Arc<str>,
    roles: &RoleTable,
) -> Option<JwtAuthenticator> {
    let errors_before = cx.errors.len();
    let mut algorithms = Vec::new();
    for a in cx.checked_list(&s.algorithms, &format!("{place}.algorithms")) {
        match jwt::parse_algorithm(a.trim()) {
            Ok(alg) => {
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
            Err(e) => cx.err(format!("{place}.algorithms"), e),
        }
    }
    if algorithms.is_empty() && cx.errors.len() == errors_before {
        cx.err(format!("{place}.algorithms"), "at least one algorithm is required");
    }
    let mut keys: Vec<JwtKey> = Vec::new();
    let mut signing: Option<SigningKey> = None;
    if let Some(secret) = &s.secret {
        let sp = format!("{place}.secret");
        if let Some(text) = cx.secret(secret, &sp) {
            let bytes = match s.secret_encoding.as_deref() {
                None | Some("utf8") => Some(text.into_bytes()),
                Some("base64") => {
                    let t = text.trim();
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(t)
                        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')));
                    if decoded.is_err() {
                        cx.err(&sp, format!("{} is not base64", secret.describe()));
                    }
                    decoded.ok()
                }
                Some(other) => {
                    cx.err(format!("{place}.secret_encoding"), format!("`{other}` is not `utf8` or `base64`"));
                    None
                }
            };
            if let Some(bytes) = bytes {
                let hs: Vec<_> = algorithms.iter().copied().filter(|a| KeyFamily::Hmac.accepts(*a)).collect();
                if hs.is_empty() {
                    cx.err(&sp, "a secret is an HMAC key, but no HS256/HS384/HS512 algorithm is allowed");
                }
                for alg in &hs {
                    let min = jwt::min_hmac_key_len(*alg);
                    if bytes.len() < min {
                        cx.err(
                            &sp,
                            format!("{} is {} bytes; {alg:?} needs at least {min}", secret.describe(), bytes.len()),
                        );
                    }
                }
                if let Some(alg) = hs.first() {
                    signing = Some(SigningKey { key: SignerKey::hmac(&bytes), alg: *alg });
                }
                keys.push(JwtKey {
                    kid: None,
                    family: KeyFamily::Hmac,
                    alg: None,
                    size: bytes.len(),
                    key: Arc::new(VerifyingKey::hmac(&bytes)),
                });
            }
        }
    }
    if let Some(pk) = &s.public_key {
        let pp = format!("{place}.public_key");
        if let Some(pem) = cx.req(pk, &pp) {
            match jwt::parse_public_pem(&pem) {
                Ok(k) => {
                    if !algorithms.iter().any(|a| k.family.accepts(*a)) {
                        cx.err(&pp, "no allowed algorithm fits this key");
                    }
                    keys.push(k);
                }
                Err(e) => cx.err(&pp, e),
            }
        }
    }
    let static_keys = keys.clone();
    let mut jwks_configured = false;
    if let Some(js) = &s.jwks {
        jwks_configured = true;
        let jp = format!("{place}.jwks");
        // A `default` is written in the policy like a literal: it may not hold HMAC keys.
        if let (Value::Env { .. }, Some(written)) = (js, js.written_text()) {
            if jwt::jwks_text_is_json(&written) && jwt::parse_jwks(&written, &algorithms).is_ok_and(|r| r.has_oct) {
                cx.err(
                    &jp,
                    "a `default` key set with HMAC (`oct`) keys holds secrets in the policy; set the variable instead",
                );
            }
        }
        match cx.opt(js, &jp) {
            Some(text) => {
                // Text that could be a key set is one (a `{ file = ... }` reference's text
                // always is); only a short single line is a path. Neither the text nor a
                // path read from a reference is ever quoted back: either may be a secret.
                let text = if matches!(js, Value::File { .. }) || jwt::jwks_text_is_json(&text) {
                    Some(text)
                } else {
                    let path = text.trim();
                    match cx.resolver.file(path) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            let why = e.replace(path, "…");
                            let named = if js.is_literal() { format!("file `{path}`") } else { "a file".to_owned() };
                            cx.err(&jp, format!("{} names {named} that cannot be read: {why}", js.describe()));
                            None
                        }
                    }
                };
                if let Some(text) = text {
                    match jwt::parse_jwks(&text, &algorithms) {
                        Ok(read) if js.is_literal() && read.has_oct => {
                            cx.err(&jp, "a key set with HMAC (`oct`) keys holds secrets; reference it with `{ env = ... }` or `{ file = ... }`");
                        }
                        Ok(read) => {
                            if read.unsupported > 0 {
                                cx.warn(&jp, format!("{} key(s) of the set are of a kind admit does not verify with and were skipped", read.unsupported));
                            }
                            for why in &read.refused {
                                cx.warn(&jp, format!("{why}: skipped"));
                            }
                            if let Err(e) = read.check_usable(&algorithms) {
                                if !algorithms.is_empty() {
                                    cx.err(&jp, e);
                                }
                            }
                            keys.extend(read.keys);
                        }
                        Err(e) => cx.err(&jp, e),
                    }
                }
            }
            None => cx
                .warn(&jp, format!("{} is not set: no token is accepted until the host calls set_jwks", js.describe())),
        }
    }
    let mut jwks_url = None;
    if let Some(u) = &s.jwks_url {
        let up = format!("{place}.jwks_url");
        if s.jwks.is_some() {
            cx.err(&up, "write one of `jwks` (the set itself) and `jwks_url` (where the host fetches it)");
        }
        jwks_configured = true;
        match cx.opt(u, &up) {
            Some(url) => match crate::fetch::check_url(url.trim()) {
                Ok(()) => jwks_url = Some(url.trim().to_owned()),
                Err(e) => cx.err(&up, e),
            },
            None => {
                cx.warn(&up, format!("{} is not set: no token is accepted until the host calls set_jwks", u.describe()))
            }
        }
    }
    if s.secret.is_none() && s.public_key.is_none() && !jwks_configured {
        cx.err(place, "a jwt authenticator needs `secret`, `public_key`, `jwks` or `jwks_url`");
    }
    if let Some(sk) = &s.signing_key {
        let sp = format!("{place}.signing_key");
        if let Some(pem) = cx.secret(sk, &sp) {
            match jwt::parse_signing_pem(&pem, &algorithms) {
                Ok(k) => signing = Some(k),
                Err(e) => cx.err(&sp, e),
            }
        }
    }
    let issuer = s.issuer.as_ref().and_then(|v| cx.req(v, &format!("{place}.issuer")));
    let audience = cx.checked_list(&s.audience, &format!("{place}.audience"));
    let authorized_parties = cx.checked_list(&s.authorized_parties, &format!("{place}.authorized_parties"));
    let leeway = s.leeway.as_ref().and_then(|v| cx.int(v, &format!("{place}.leeway"))).unwrap_or(0);
    if !(0..=86_400).contains(&leeway) {
        cx.err(format!("{place}.leeway"), "leeway must be between 0 and 86400 seconds");
    }
    let max_lifetime = s.max_lifetime.as_ref().and_then(|v| cx.int(v, &format!("{place}.max_lifetime")));
    if max_lifetime.is_some_and(|m| m <= 0) {
        cx.err(format!("{place}.max_lifetime"), "max_lifetime must be positive");
    }
    let lifetime = s.lifetime.as_ref().and_then(|v| cx.int(v, &format!("{place}.lifetime"))).unwrap_or(3600);
    if lifetime <= 0 {
        cx.err(format!("{place}.lifetime"), "lifetime must be positive");
    }
    let cache_capacity = match s.verified_cache.as_ref().and_then(|v| cx.int(v, &format!("{place}.verified_cache"))) {
        None => DEFAULT_CAPACITY,
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= MAX_CAPACITY => n,
            _ => {
                cx.err(
                    format!("{place}.verified_cache"),
                    format!("verified_cache must be between 0 (off) and {MAX_CAPACITY} tokens"),
                );
                0
            }
        },
    };
    let split_path = |p: &String| p.split('.').map(str::to_owned).collect::<Vec<_>>();
    let claim_lists =
        [("roles_claims", s.roles_claims.as_slice()), ("scopes_claims", s.scopes_claims.as_deref().unwrap_or(&[]))];
    for (field, list) in claim_lists {
        for (i, p) in list.iter().enumerate() {
            if p.is_empty() || p.split('.').any(str::is_empty) {
                cx.err(format!("{place}.{field}[{i}]"), format!("`{p}` is not a claim path (`org_role`, `o.rol`)"));
            }
        }
    }
    let role_map: HashMap<String, usize> =
        s.role_map.iter().filter_map(|(k, v)| roles.id(v).map(|id| (k.clone(), id))).collect();
    if cx.errors.len() > errors_before {
        return None;
    }
    let caches = algorithms.iter().any(|a| !KeyFamily::Hmac.accepts(*a));
    Some(JwtAuthenticator {
        id,
        algorithms,
        keys: RwLock::new(Arc::new(KeySet { keys, verified: TokenCache::new(cache_capacity) })),
        static_keys,
        jwks_url,
        issuer,
        audience,
        authorized_parties,
        types: s.types.iter().map(|t| t.to_ascii_uppercase()).collect(),
        required_claims: s.required_claims.clone(),
        require_exp: s.require_exp.unwrap_or(true),
        leeway,
        max_lifetime,
        subject_claim: s.subject_claim.clone().unwrap_or_else(|| "sub".to_owned()),
        roles_claims: s.roles_claims.iter().map(split_path).collect(),
        role_map,
        default_role: s.default_role.as_deref().and_then(|r| roles.id(r)),
        // With a `role_map`, the token's roles are mapped and its own scope claims are
        // not read unless the policy names them: an identity provider's `scope` is not
        // this API's scopes.
        scopes_claims: s.scopes_claims.as_ref().map_or_else(
            || {
                if s.role_map.is_empty() { vec![vec!["scope".to_owned()], vec!["scp".to_owned()]] } else { Vec::new() }
            },
            |l| l.iter().map(split_path).collect(),
        ),
        signing,
        lifetime,
        cache_capacity,
        caches,
    })
}

fn origin_list(cx: &mut Ctx<'_>, list: &crate::value::ValueList, place: &str) -> OriginList {
    let mut patterns = Vec::new();
    for o in cx.list(list, place) {
        match OriginPattern::parse(&o) {
            Ok(p) => patterns.push(p),
            Err(e) => cx.err(place, e),
        }
    }
    OriginList { patterns }
}

fn compile_cors(cx: &mut Ctx<'_>, c: &CorsSpec) -> Option<Cors> {
    let origins = origin_list(cx, &c.origins, "cors.origins");
    if origins.patterns.is_empty() {
        cx.warn("cors.origins", "no origin is allowed: every request with an Origin header is refused");
    }
    if origins.has_any() && c.credentials {
        cx.err("cors.credentials", "`*` origins cannot be combined with credentials (the Fetch standard forbids it)");
    }
    let methods: Vec<String> =
        if c.methods.is_empty() { vec!["GET".into(), "HEAD".into(), "POST".into()] } else { c.methods.clone() };
    for (i, m) in methods.iter().enumerate() {
        if !is_method_token(m) || m.bytes().any(|b| b.is_ascii_lowercase()) {
            cx.err(format!("cors.methods[{i}]"), format!("`{m}` is not an upper-case method name"));
        }
    }
    let allow_any_header = c.headers.iter().any(|h| h == "*");
    if allow_any_header && c.credentials {
        cx.err("cors.headers", "`*` headers cannot be combined with credentials");
    }
    for (i, h) in c.headers.iter().enumerate() {
        if h != "*" && !is_method_token(h) {
            cx.err(format!("cors.headers[{i}]"), format!("`{h}` is not a header name"));
        }
    }
    let headers: Vec<String> = c.headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    let join = |l: &[String]| -> Option<Arc<str>> { if l.is_empty() { None } else { Some(Arc::from(l.join(","))) } };
    Some(Cors {
        origins,
        allow_methods_value: Arc::from(methods.join(",")),
        allow_headers_value: join(&c.headers),
        expose_value: join(&c.expose_headers),
        max_age_value: c.max_age.map(|m| Arc::from(m.to_string())),
        methods,
        headers,
        allow_any_header,
        credentials: c.credentials,
    })
}

fn compile_route(
    cx: &mut Ctx<'_>,
    i: usize,
    spec: &RouteSpec,
    paths: &PathsSpec,
    scopes: &ScopeTable,
    all_ids: &HashSet<String>,
    enabled_index: &HashMap<&str, usize>,
) -> Option<Rule> {
    let place = format!("routes[{i}]");
    let errors_before = cx.errors.len();
    let texts: Vec<&String> = spec.path.iter().chain(spec.paths.iter()).collect();
    if texts.is_empty() {
        cx.err(&place, "a rule needs `path` or `paths`");
    }
    let mut patterns = Vec::new();
    for t in &texts {
        match Pattern::parse(t, paths) {
            Ok(p) => patterns.push(p),
            Err(e) => cx.err(format!("{place}.path"), e),
        }
    }
    let methods = match Methods::parse(&spec.methods) {
        Ok(m) => m,
        Err(e) => {
            cx.err(format!("{place}.methods"), e);
            Methods::Any
        }
    };
    let has_requirements = !spec.require.is_empty()
        || !spec.require_any.is_empty()
        || spec.owner.is_some()
        || spec.authenticators.is_some();
    if spec.public && spec.deny {
        cx.err(&place, "a rule cannot be both `public` and `deny`");
    }
    if (spec.public || spec.deny) && has_requirements {
        cx.err(&place, "a `public` or `deny` rule takes no `require`, `require_any`, `owner` or `authenticators`");
    }
    let mut set_of = |names: &[String], field: &str| -> ScopeSet {
        let mut set = ScopeSet::EMPTY;
        for (k, n) in names.iter().enumerate() {
            match scopes.id(n) {
                Some(id) => set.insert(id),
                None => cx.err(format!("{place}.{field}[{k}]"), format!("scope `{n}` is not declared in `scopes`")),
            }
        }
        set
    };
    let all = set_of(&spec.require, "require");
    let any = set_of(&spec.require_any, "require_any");
    let owner = spec.owner.as_ref().map(|o| {
        let unless = set_of(&o.unless, "owner.unless");
        (o, unless)
    });
    let owner = owner.map(|(o, unless)| {
        if let Some(param) = &o.param {
            for (t, p) in texts.iter().zip(&patterns) {
                if !p.params().any(|n| n == param) {
                    cx.err(format!("{place}.owner.param"), format!("pattern `{t}` has no parameter `{{{param}}}`"));
                }
            }
        }
        Owner {
            param: o.param.clone(),
            unless,
            unless_names: o.unless.clone(),
            constraint: o.constraint.clone().unwrap_or_else(|| "owner".to_owned()),
        }
    });
    let authenticators = spec.authenticators.as_ref().map(|ids| {
        let mut out = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            if !all_ids.contains(id) {
                cx.err(format!("{place}.authenticators[{k}]"), format!("no authenticator has the id `{id}`"));
            } else if let Some(&idx) = enabled_index.get(id.as_str()) {
                out.push(idx);
            }
        }
        out
    });
    if cx.errors.len() > errors_before {
        return None;
    }
    let access = if spec.public {
        Access::Public
    } else if spec.deny {
        Access::Deny
    } else {
        Access::Authenticated(Box::new(Requirement {
            all,
            all_names: spec.require.clone(),
            any,
            any_names: spec.require_any.clone(),
            authenticators,
            owner,
        }))
    };
    let name = spec.id.clone().unwrap_or_else(|| {
        format!("{} {}", methods.label(), texts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
    });
    Some(Rule { name: Arc::from(name), methods, patterns, access, dry_run: spec.dry_run })
}
