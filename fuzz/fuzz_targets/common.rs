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
        ("CLERK_JWKS_URL", "https://test-instance.clerk.accounts.dev/.well-known/jwks.json"),
    ];
    let engine = Engine::from_toml(include_str!("../../examples/policies/skillmeat.toml"), &MapResolver::from_env(env))
        .unwrap_or_else(|e| panic!("fixture policy: {e}"));
    // The set a host fetches from CLERK_JWKS_URL.
    engine.set_jwks("clerk", JWKS).unwrap_or_else(|e| panic!("fixture jwks: {e}"));
    engine
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

/// One fixture token (signed by PyJWT with the test keys) per algorithm family and key:
/// RS256, PS256, ES256, ES384 and EdDSA against the fixture JWKS, HS256 with the RAG
/// secret, and a token without `kid`.
pub fn fixture_tokens() -> Vec<String> {
    let tokens: std::collections::BTreeMap<String, String> =
        serde_json::from_str(TOKENS).unwrap_or_else(|e| panic!("tokens fixture: {e}"));
    [
        "clerk_org_admin",
        "clerk_ps256",
        "clerk_es256",
        "clerk_es384",
        "clerk_eddsa",
        "rag_valid",
        "clerk_no_kid_attacker",
    ]
    .iter()
    .filter_map(|name| tokens.get(*name).cloned())
    .collect()
}

/// A GET of `/x` with `Authorization: Bearer <token>`.
pub fn bearer(engine: &Engine, token: &str) -> Decision {
    let value = format!("Bearer {token}");
    decide(engine, "GET", "/x", &[(b"Authorization", value.as_bytes())], None)
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    // base64url without padding, written out so the fuzz crate needs no base64 dependency.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Reads base64url (no padding), stopping at the first other character.
pub fn unb64(text: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes() {
        let Some(v) = A.iter().position(|a| *a == c) else { break };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// Forgeries of a token, none of which any key may verify: its signature replaced by
/// zeros of the same length; the Ed25519 neutral-element forgery (R = identity, S = 0,
/// which verifies against a small-order key) under an EdDSA header with the token's
/// `kid`; and `data` as the signature.
pub fn forgeries(token: &str, data: &[u8]) -> Vec<String> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else { return Vec::new() };
    let mut identity = [0u8; 64];
    identity[0] = 1;
    let ed_header = match token_kid(h) {
        Some(k) => b64(format!(r#"{{"alg":"EdDSA","kid":{}}}"#, serde_json::Value::from(k)).as_bytes()),
        None => b64(br#"{"alg":"EdDSA"}"#),
    };
    let data: Vec<u8> = data.iter().copied().take(1024).collect();
    [
        format!("{h}.{p}.{}", b64(&vec![0u8; s.len() * 3 / 4])),
        format!("{ed_header}.{p}.{}", b64(&identity)),
        format!("{h}.{p}.{}", b64(&data)),
    ]
    .into_iter()
    .filter(|f| f != token)
    .collect()
}

/// The `kid` of a token's header, when it is readable.
fn token_kid(header_b64: &str) -> Option<String> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut bytes = Vec::new();
    for c in header_b64.bytes() {
        let v = A.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            bytes.push((bits >> n) as u8);
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")?.as_str().map(str::to_owned)
}
