//! How strictly a JWT and its Bearer header are read: a JWS header and a claims set are
//! JSON objects with unique member names, `alg`, `kid` and `typ` are strings, the Bearer
//! scheme is separated from its token by spaces only, and a `role_map` authenticator takes
//! scopes only from the claims the policy names. Every token here is correctly signed:
//! only its shape is wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code stops loudly"
)]

use admit::{Decision, Engine, MapResolver, Reason, Request, TokenRequest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};

const NOW: i64 = 1_790_000_000;

const SECRET: &str = "test-only-strictness-secret-0123456789abcdef";

const POLICY: &str = r#"
[[authenticators]]
type = "jwt"
id = "hs"
algorithms = ["HS256"]
secret = { env = "S" }

[[routes]]
path = "/api/**"
"#;

fn engine() -> Engine {
    Engine::from_toml(POLICY, &MapResolver::from_env([("S", SECRET)])).unwrap()
}

fn decide_with(engine: &Engine, authorization: &[u8]) -> Decision {
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", authorization)];
    engine.decide(&Request { method: "GET", path: "/api/x", headers, peer: None, now: NOW })
}

fn bearer(engine: &Engine, token: &str) -> Decision {
    decide_with(engine, format!("Bearer {token}").as_bytes())
}

/// A token with this exact header and payload text, correctly signed with HS256.
fn signed(header: &str, payload: &str) -> String {
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let sig =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(SECRET.as_bytes()), Algorithm::HS256)
            .unwrap();
    format!("{message}.{sig}")
}

fn payload() -> String {
    format!(r#"{{"sub":"u","exp":{}}}"#, NOW + 60)
}

#[test]
fn a_jws_header_is_an_object_with_unique_string_members() {
    let engine = engine();
    let p = payload();
    for good in [r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"typ":"JWT","alg":"HS256","kid":"any"}"#] {
        assert!(bearer(&engine, &signed(good, &p)).allow, "{good}");
    }
    let deep = format!(r#"{{"alg":"HS256","x":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
    for bad in [
        r#"["HS256"]"#,
        r#"["HS256",null,"JWT"]"#,
        r#"["HS256","k","JWT",null]"#,
        r#""HS256""#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"HS256","x":1,"x":1}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
        r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":5}"#,
        r#"{"alg":"HS256","kid":null}"#,
        r#"{"alg":"HS256","kid":["a"]}"#,
        r#"{"alg":"HS256","typ":null}"#,
        r#"{"alg":"HS256","typ":1}"#,
        r#"{"alg":["HS256"]}"#,
        r#"{"alg":null}"#,
        r#"{"kid":"a"}"#,
        r#"{"alg":"HS256","crit":null}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256"}{}"#,
        &deep,
    ] {
        let d = bearer(&engine, &signed(bad, &p));
        assert!(!d.allow, "{bad} was accepted");
        assert_eq!(d.reason, Reason::InvalidCredentials, "{bad}");
    }
}

#[test]
fn a_claims_set_is_an_object_with_unique_member_names() {
    let engine = engine();
    let h = r#"{"alg":"HS256"}"#;
    assert!(bearer(&engine, &signed(h, &payload())).allow);
    let exp = NOW + 60;
    let deep = format!(r#"{{"sub":"u","exp":{exp},"x":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
    for bad in [
        format!(r#"{{"sub":"u","sub":"admin","exp":{exp}}}"#),
        format!(r#"{{"sub":"u","exp":{exp},"exp":{}}}"#, exp + 1_000_000),
        format!(r#"{{"sub":"u","exp":{exp},"o":{{"rol":"a","rol":"b"}}}}"#),
        format!(r#"[{{"sub":"u","exp":{exp}}}]"#),
        r#""sub""#.to_owned(),
        deep,
    ] {
        let d = bearer(&engine, &signed(h, &bad));
        assert!(!d.allow, "{bad} was accepted");
        assert_eq!(d.reason, Reason::InvalidCredentials, "{bad}");
    }
}

#[test]
fn the_bearer_scheme_and_its_token_are_separated_by_spaces_only() {
    let engine = engine();
    let t = signed(r#"{"alg":"HS256"}"#, &payload());
    for good in [format!("Bearer {t}"), format!("bearer {t}"), format!("BEARER   {t}"), format!("Bearer {t}\t")] {
        assert!(decide_with(&engine, good.as_bytes()).allow, "{good:?}");
    }
    for bad in [format!("Bearer\t{t}"), format!("Bearer \t{t}"), format!("Bearer\t {t}"), format!("bearer\t\t{t}")] {
        let d = decide_with(&engine, bad.as_bytes());
        assert!(!d.allow, "{bad:?}");
        assert_eq!(d.reason, Reason::MalformedRequest, "{bad:?}");
        assert_eq!(d.status, 400, "{bad:?}");
    }
}

const ROLE_MAP: &str = r#"
scopes = ["admin:users"]

[roles.viewer]

[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["HS256"]
secret = { env = "S" }
roles_claims = ["org_role"]
role_map = { "org:viewer" = "viewer" }
SCOPES

[[routes]]
path = "/api/**"
require = ["admin:users"]
"#;

#[test]
fn a_role_map_authenticator_takes_scopes_only_from_claims_it_names() {
    let exp = NOW + 60;
    for claim in ["scope", "scp"] {
        let token = signed(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"sub":"u","exp":{exp},"org_role":"org:viewer","{claim}":"admin:users"}}"#),
        );
        let env = MapResolver::from_env([("S", SECRET)]);
        let implicit = Engine::from_toml(&ROLE_MAP.replace("SCOPES", ""), &env).unwrap();
        let d = bearer(&implicit, &token);
        assert_eq!(d.reason, Reason::InsufficientScope, "{claim}: the token's own scopes count without scopes_claims");
        let named = format!("scopes_claims = [\"{claim}\"]");
        let explicit = Engine::from_toml(&ROLE_MAP.replace("SCOPES", &named), &env).unwrap();
        assert!(bearer(&explicit, &token).allow, "{claim}: named scopes_claims are read");
        // Issuing follows reading: scopes go to the named claim, and nowhere without one.
        let scopes = vec!["admin:users".to_owned()];
        let req = TokenRequest { subject: "u", scopes: &scopes, now: NOW, ..Default::default() };
        let err = implicit.issue_token("idp", &req).unwrap_err();
        assert!(err.to_string().contains("reads no scope claim"), "{err}");
        assert!(bearer(&explicit, &explicit.issue_token("idp", &req).unwrap()).allow, "{claim}");
    }
}
