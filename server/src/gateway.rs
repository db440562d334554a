//! The thin layer between a gateway's request and the engine: build the
//! [`admit::Request`], decide, count and log, and turn the decision into the answer each
//! gateway convention expects. No policy logic lives here.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use admit::{Decision, Reason, Request};

use crate::log::Entry;
use crate::state::{self, Shared};

/// The gateway conventions, by endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// nginx `auth_request`.
    Nginx,
    /// Traefik `ForwardAuth`, Caddy `forward_auth`.
    Forward,
    /// Envoy `ext_authz`, HTTP service.
    EnvoyHttp,
    /// Envoy `ext_authz`, gRPC.
    EnvoyGrpc,
    /// `POST /v1/decide`.
    Decide,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Nginx => "nginx",
            Endpoint::Forward => "forward",
            Endpoint::EnvoyHttp => "envoy",
            Endpoint::EnvoyGrpc => "envoy_grpc",
            Endpoint::Decide => "decide",
        }
    }
}

/// An answer for the gateway: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The original request as a gateway described it.
pub(crate) struct Original<'a> {
    pub method: &'a str,
    pub target: &'a str,
    /// Header pairs as the gateway sent them (the client's).
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The TCP peer of this server's connection.
    pub tcp_peer: IpAddr,
    /// The client address the gateway reported by its own means (gRPC `source`), believed
    /// only from a trusted peer.
    pub reported_client: Option<&'a str>,
}

fn header<'a>(headers: &[(&'a [u8], &'a [u8])], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .collect()
}

/// Decides about an original request: the client address and Host from forwarded headers
/// only when the TCP peer is a trusted proxy.
pub(crate) fn decide_original(shared: &Arc<Shared>, endpoint: Endpoint, original: Original<'_>) -> Decision {
    let started = Instant::now();
    let trusted = shared.proxies.trusts(original.tcp_peer);
    let peer = match original.reported_client {
        Some(reported) if trusted => reported.to_owned(),
        _ => shared.proxies.client(
            original.tcp_peer,
            &header(&original.headers, "x-forwarded-for"),
            &header(&original.headers, "forwarded"),
        ),
    };
    let mut headers = original.headers;
    if trusted {
        // The Host the client asked for, as the proxy reports it. A list of them (two
        // headers, or commas) is passed on as that many Hosts, which the core refuses as
        // ambiguous rather than this layer picking one.
        let forwarded_hosts: Vec<&[u8]> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-host"))
            .flat_map(|(_, v)| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .collect();
        if !forwarded_hosts.is_empty() {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"host"));
            headers.extend(forwarded_hosts.into_iter().map(|h| (&b"Host"[..], h)));
        }
    }
    let now = state::now(&shared.config);
    let req = Request { method: original.method, path: original.target, headers: &headers, peer: Some(&peer), now };
    finish(shared, endpoint, &req, started)
}

/// Decides about a request given whole (`POST /v1/decide`).
pub(crate) fn decide_given(shared: &Arc<Shared>, req: &Request<'_>) -> Decision {
    finish(shared, Endpoint::Decide, req, Instant::now())
}

fn finish(shared: &Arc<Shared>, endpoint: Endpoint, req: &Request<'_>, started: Instant) -> Decision {
    let current = shared.current.load();
    let decision = current.engine.decide(req);
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let authenticator = decision.principal.as_deref().map_or("", |p| p.authenticator.as_str());
    shared.metrics.decided(decision.reason.as_str(), authenticator, decision.allow, nanos);
    if decision.reason == Reason::UnknownKey {
        // A token signed with a key not in the set: perhaps the issuer rotated. The
        // fetcher refetches, at most once per interval per URL.
        crate::jwks::unknown_key(shared);
    }
    if let Some(log) = &shared.log {
        // The path as this policy's `[paths]` rules read it: the one that was decided.
        let canonical = current.engine.canonical_path(req.path).map_or_else(|_| "-".to_owned(), |c| c.into_owned());
        let entry = Entry {
            ts: state::now(&shared.config),
            method: req.method,
            path: &canonical,
            endpoint: endpoint.name(),
            latency_us: nanos / 1000,
        };
        log.write(&entry, &decision);
    }
    decision
}

/// The identity headers of an allowed decision with a principal: subject,
/// authenticator, roles, scopes, one per constraint, and dry-run.
pub(crate) fn identity_headers(prefix: &str, decision: &Decision) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !decision.allow {
        return out;
    }
    if let Some(p) = decision.principal.as_deref() {
        out.push((format!("{prefix}Subject"), p.id.clone()));
        out.push((format!("{prefix}Authenticator"), p.authenticator.clone()));
        out.push((format!("{prefix}Roles"), p.roles.join(",")));
        out.push((format!("{prefix}Scopes"), p.scopes.join(",")));
    }
    for (name, value) in &decision.constraints {
        out.push((format!("{prefix}Constraint-{}", header_case(name)), value.clone()));
    }
    if decision.dry_run {
        out.push((format!("{prefix}Dry-Run"), "true".to_owned()));
    }
    out
}

/// `team_id` -> `Team-Id`: a constraint's name as a header name's tail.
fn header_case(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// True when a header value can be sent as is: no control characters but tab.
fn sendable(value: &str) -> bool {
    !value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f)
}

/// True when every identity header can be told to the upstream exactly: each name a
/// valid header name (a constraint is named by the policy, and `owner id` is not one),
/// no two the same (`team_id` and `team-id` both become `Team-Id`), each value sendable.
/// A header that could not be sent would be dropped on the way, and an upstream that
/// filters by `X-Admit-Constraint-Owner` would then see no filter at all.
fn all_sendable(headers: &[(String, String)]) -> bool {
    let mut seen = std::collections::HashSet::new();
    headers.iter().all(|(name, value)| {
        hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && seen.insert(name.to_ascii_lowercase())
            && sendable(value)
    })
}

/// The answer for a gateway. An allow is `200` with the identity headers and the
/// decision's own headers; a refusal is the decision's status, headers and body, except
/// at nginx, which relays only 401 and 403: any other refusal is `403` with
/// `X-Admit-Status: <status>` for the nginx config to re-emit.
pub(crate) fn answer(endpoint: Endpoint, prefix: &str, decision: &Decision) -> Answer {
    let own: Vec<(String, String)> = decision.headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if decision.allow {
        let mut headers = identity_headers(prefix, decision);
        if !all_sendable(&headers) {
            // An identity the upstream cannot be told is not an identity to let through.
            return Answer {
                status: if endpoint == Endpoint::Nginx { 403 } else { 500 },
                headers: if endpoint == Endpoint::Nginx {
                    vec![(format!("{prefix}Status"), "500".to_owned())]
                } else {
                    Vec::new()
                },
                body: String::new(),
            };
        }
        headers.extend(own);
        return Answer { status: 200, headers, body: String::new() };
    }
    let body = decision.body.as_deref().unwrap_or("").to_owned();
    match endpoint {
        Endpoint::Nginx if !matches!(decision.status, 401 | 403) => {
            let mut headers = own;
            headers.push((format!("{prefix}Status"), decision.status.to_string()));
            Answer { status: 403, headers, body }
        }
        _ => Answer { status: decision.status, headers: own, body },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_become_header_words() {
        assert_eq!(header_case("owner"), "Owner");
        assert_eq!(header_case("team_id"), "Team-Id");
        assert_eq!(header_case("API-key"), "Api-Key");
    }

    #[test]
    fn control_characters_cannot_be_sent() {
        assert!(sendable("alice\tsmith"));
        assert!(!sendable("alice\r\nX-Admit-Roles: admin"));
        assert!(!sendable("a\u{7f}"));
    }

    #[test]
    fn identity_headers_that_cannot_be_sent_exactly_are_refused() {
        let h = |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
        assert!(all_sendable(&h(&[("X-Admit-Subject", "José"), ("X-Admit-Constraint-Team-Id", "7")])));
        // A policy-named constraint that is no header name, or two that meet in one name.
        assert!(!all_sendable(&h(&[("X-Admit-Constraint-Owner Id", "bob")])));
        assert!(!all_sendable(&h(&[("X-Admit-Constraint-Tëam", "bob")])));
        assert!(!all_sendable(&h(&[("X-Admit-Constraint-Team-Id", "a"), ("x-admit-constraint-team-id", "b")])));
        assert!(!all_sendable(&h(&[("X-Admit-Subject", "bob\r\nX-Admit-Roles: admin")])));
    }
}
