//! The closed list of reasons a decision gives.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a decision came out as it did. The list is closed and the codes are stable:
/// hosts and tests match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A principal was authenticated and holds what the route requires.
    Ok,
    /// The route is public.
    Public,
    /// A CORS preflight, answered by the engine.
    Preflight,
    /// No credential was presented where one is required.
    MissingCredentials,
    /// A credential was presented and is wrong.
    InvalidCredentials,
    /// The credential has expired.
    Expired,
    /// The token's `nbf` lies in the future.
    NotYetValid,
    /// The key or token was revoked.
    Revoked,
    /// A JWT names a `kid` the key set lacks: a hint to refresh the JWKS.
    UnknownKey,
    /// The principal lacks a scope the route requires.
    InsufficientScope,
    /// The request's `Origin` is not allowed.
    OriginNotAllowed,
    /// The caller is not on this machine (or the Host header is not local).
    NotLocal,
    /// The route is never served.
    RouteDenied,
    /// No rule matches the request.
    NoRoute,
    /// The request cannot be read: bad syntax, duplicated credentials, oversize.
    MalformedRequest,
}

impl Reason {
    /// Every reason, in the order of the contract.
    pub const ALL: [Reason; 15] = [
        Reason::Ok,
        Reason::Public,
        Reason::Preflight,
        Reason::MissingCredentials,
        Reason::InvalidCredentials,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::Revoked,
        Reason::UnknownKey,
        Reason::InsufficientScope,
        Reason::OriginNotAllowed,
        Reason::NotLocal,
        Reason::RouteDenied,
        Reason::NoRoute,
        Reason::MalformedRequest,
    ];

    /// The stable code: `missing_credentials`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Public => "public",
            Reason::Preflight => "preflight",
            Reason::MissingCredentials => "missing_credentials",
            Reason::InvalidCredentials => "invalid_credentials",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Revoked => "revoked",
            Reason::UnknownKey => "unknown_key",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::OriginNotAllowed => "origin_not_allowed",
            Reason::NotLocal => "not_local",
            Reason::RouteDenied => "route_denied",
            Reason::NoRoute => "no_route",
            Reason::MalformedRequest => "malformed_request",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// The status answered by default (RFC 6750 for credential problems).
    pub const fn default_status(self) -> u16 {
        match self {
            Reason::Ok | Reason::Public => 200,
            Reason::Preflight => 204,
            Reason::MissingCredentials
            | Reason::InvalidCredentials
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::Revoked
            | Reason::UnknownKey => 401,
            Reason::InsufficientScope
            | Reason::OriginNotAllowed
            | Reason::NotLocal
            | Reason::RouteDenied
            | Reason::NoRoute => 403,
            Reason::MalformedRequest => 400,
        }
    }

    /// The message given by default.
    pub const fn default_message(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Public => "public route",
            Reason::Preflight => "preflight answered",
            Reason::MissingCredentials => "authentication required",
            Reason::InvalidCredentials => "invalid credentials",
            Reason::Expired => "credentials expired",
            Reason::NotYetValid => "token not yet valid",
            Reason::Revoked => "credentials revoked",
            Reason::UnknownKey => "token signed with an unknown key",
            Reason::InsufficientScope => "insufficient scope",
            Reason::OriginNotAllowed => "origin not allowed",
            Reason::NotLocal => "only local callers are allowed",
            Reason::RouteDenied => "route denied",
            Reason::NoRoute => "no route matches the request",
            Reason::MalformedRequest => "malformed request",
        }
    }

    /// The RFC 6750 `error` code of the default challenge, if the reason has one.
    pub const fn challenge_error(self) -> Option<&'static str> {
        match self {
            Reason::MissingCredentials => Some(""),
            Reason::InvalidCredentials
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::Revoked
            | Reason::UnknownKey => Some("invalid_token"),
            Reason::InsufficientScope => Some("insufficient_scope"),
            Reason::MalformedRequest => Some("invalid_request"),
            _ => None,
        }
    }

    /// True for the reasons of a request that passes.
    pub const fn is_allow(self) -> bool {
        matches!(self, Reason::Ok | Reason::Public)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_serde() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.as_str()));
        }
        assert_eq!(Reason::from_code("nope"), None);
    }
}
