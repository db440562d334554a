//! Shared pieces of the fuzz targets: fixed policies and input splitting.

#![allow(dead_code)]

use admit::{Decision, Engine, MapResolver, Request};

pub const NOW: i64 = 1_790_000_000;
pub const API_KEY: &str = "sk-test-only-skillmeat-key";
pub const PAT: &str = "test-only-enterprise-pat-secret-0123456789";
pub const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");
pub const TOKENS: &str = include_str!("../../tests/fixtures/tokens.json");

/// SkillMeat with every mode on.
pub fn skillmeat() -> Engine {
    let env = [
        ("SKILLMEAT_AUTH_ENABLED", "true"),
        ("SKILLMEAT_API_KEY_ENABLED", "true"),
        ("SKILLMEAT_API_KEY", API_KEY),
        ("SKILLMEAT_ENTERPRISE_PAT_SECRET", PAT),
        ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev"),
        ("CLERK_JWKS", JWKS),
    ];
    Engine::from_toml(include_str!("../../examples/policies/skillmeat.toml"), &MapResolver::from_env(env))
        .unwrap_or_else(|e| panic!("fixture policy: {e}"))
}

/// Splits fuzz input on NUL bytes: method, path, then header name/value pairs.
pub fn split(data: &[u8]) -> (String, String, Vec<(&[u8], &[u8])>) {
    let mut parts = data.split(|b| *b == 0);
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let rest: Vec<&[u8]> = parts.collect();
    let headers = rest.chunks(2).map(|c| (c[0], c.get(1).copied().unwrap_or_default())).collect();
    (method, path, headers)
}

pub fn decide(engine: &Engine, method: &str, path: &str, headers: &[(&[u8], &[u8])], peer: Option<&str>) -> Decision {
    engine.decide(&Request { method, path, headers, peer, now: NOW })
}

/// True when a header value carries one of the credentials the fixture engine knows,
/// in the place it reads them.
pub fn carries_known_credential(headers: &[(&[u8], &[u8])]) -> bool {
    let tokens: std::collections::BTreeMap<String, String> =
        serde_json::from_str(TOKENS).unwrap_or_else(|e| panic!("tokens fixture: {e}"));
    headers.iter().any(|(n, v)| {
        let v = String::from_utf8_lossy(v);
        let v = v.trim();
        (n.eq_ignore_ascii_case(b"x-api-key") && v == API_KEY)
            || (n.eq_ignore_ascii_case(b"authorization")
                && v.len() > 7
                && v.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
                && {
                    let t = v.get(7..).unwrap_or("").trim_start();
                    t == PAT || tokens.values().any(|k| k == t)
                })
    })
}
