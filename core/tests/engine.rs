//! Engine behaviour that the JSON vectors cannot carry: every JWT key kind, key
//! rotation, token issuance, bytes that are not UTF-8, load errors and warnings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code reads fixtures and stops loudly"
)]

mod common;

use std::path::PathBuf;

use admit::{Decision, Engine, Format, MapResolver, Reason, Request, TokenRequest};
use common::{NOW, fixture, token};

const ISSUER: &str = "https://test-instance.clerk.accounts.dev";

fn resolver(env: &[(&str, &str)], files: &[(&str, String)]) -> MapResolver {
    let mut r = MapResolver::from_env(env.iter().copied());
    for (name, text) in files {
        r.files.insert((*name).to_owned(), text.clone());
    }
    r
}

fn decide(engine: &Engine, method: &str, path: &str, headers: &[(&[u8], &[u8])]) -> Decision {
    common::decide(engine, &Request { method, path, headers, peer: Some("203.0.113.9"), now: NOW })
}

fn bearer(engine: &Engine, token: &str) -> Decision {
    let value = format!("Bearer {token}");
    decide(engine, "GET", "/api/x", &[(b"Authorization", value.as_bytes())])
}

fn jwt_policy(algorithms: &str, key_field: &str) -> String {
    format!(
        r#"
        [[authenticators]]
        type = "jwt"
        id = "idp"
        algorithms = {algorithms}
        {key_field}
        issuer = "{ISSUER}"
        audience = ["skillmeat-api"]
        roles_claims = ["org_role", "o.rol"]
        role_map = {{ "org:admin" = "admin", "org:member" = "member", "admin" = "admin", "member" = "member" }}
        default_role = "viewer"

        [roles.admin]
        [roles.member]
        [roles.viewer]

        [[routes]]
        path = "/api/**"
        "#
    )
}

fn jwks_engine(algorithms: &str) -> Engine {
    let text = jwt_policy(algorithms, r#"jwks = { file = "jwks.json" }"#);
    Engine::from_toml(&text, &resolver(&[], &[("jwks.json", fixture("jwks.json"))])).unwrap()
}

#[test]
fn every_key_kind_verifies_through_a_jwks() {
    let engine = jwks_engine(r#"["RS256", "PS256", "ES256", "ES384", "EdDSA"]"#);
    for name in ["clerk_org_member", "clerk_es256", "clerk_es256_raw_signature", "clerk_es384", "clerk_eddsa"] {
        let d = bearer(&engine, &token(name));
        assert!(d.allow, "{name}: {d:?}");
        let p = d.principal.unwrap();
        assert_eq!(p.kind, "jwt");
        assert_eq!(p.roles, vec!["member"], "{name}");
    }
}

#[test]
fn a_jwk_alg_binds_its_key_to_that_algorithm() {
    // kid rsa-1 is published with `alg: RS256`: a PS256 signature by the same key is refused.
    let engine = jwks_engine(r#"["RS256", "PS256"]"#);
    let d = bearer(&engine, &token("clerk_ps256"));
    assert_eq!(d.reason, Reason::InvalidCredentials);
    assert_eq!(d.message.as_ref(), "token algorithm does not fit its key");
}

#[test]
fn an_algorithm_off_the_allowlist_is_refused_even_with_a_good_signature() {
    let engine = jwks_engine(r#"["RS256"]"#);
    for name in ["clerk_ps256", "clerk_es256", "clerk_es384", "clerk_eddsa"] {
        let d = bearer(&engine, &token(name));
        assert!(!d.allow, "{name}");
        assert_eq!(d.reason, Reason::InvalidCredentials, "{name}");
    }
}

#[test]
fn attacks_on_jwt_verification_are_refused() {
    let engine = jwks_engine(r#"["RS256", "HS256", "ES256"]"#);
    for (name, reason) in [
        ("clerk_hs256_with_rsa_public_key", Reason::InvalidCredentials),
        ("clerk_alg_none", Reason::InvalidCredentials),
        ("clerk_alg_none_upper", Reason::InvalidCredentials),
        ("clerk_attacker_signed", Reason::InvalidCredentials),
        ("clerk_no_kid_attacker", Reason::InvalidCredentials),
        ("clerk_embedded_jwk", Reason::InvalidCredentials),
        ("clerk_jku", Reason::UnknownKey),
        ("clerk_crit", Reason::InvalidCredentials),
        ("clerk_tampered_payload", Reason::InvalidCredentials),
        ("clerk_es256_der_signature", Reason::InvalidCredentials),
        ("clerk_wrong_issuer", Reason::InvalidCredentials),
        ("clerk_no_issuer", Reason::InvalidCredentials),
        ("clerk_wrong_audience", Reason::InvalidCredentials),
        ("clerk_no_audience", Reason::InvalidCredentials),
        ("clerk_no_exp", Reason::InvalidCredentials),
        ("clerk_no_sub", Reason::InvalidCredentials),
        ("clerk_expired", Reason::Expired),
        ("clerk_not_yet_valid", Reason::NotYetValid),
        ("clerk_unknown_kid", Reason::UnknownKey),
    ] {
        let d = bearer(&engine, &token(name));
        assert!(!d.allow, "{name} was allowed");
        assert_eq!(d.reason, reason, "{name}: {}", d.message);
        assert_eq!(d.status, 401, "{name}");
        let challenge = d.header("WWW-Authenticate").unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{name}: {challenge}");
    }
}

#[test]
fn a_pem_public_key_verifies_and_keeps_families_apart() {
    let text = jwt_policy(r#"["RS256", "PS256", "HS256"]"#, r#"public_key = { file = "rsa-public.pem" }"#);
    let engine =
        Engine::from_toml(&text, &resolver(&[], &[("rsa-public.pem", fixture("keys/rsa-public.pem"))])).unwrap();
    // A PEM key names no algorithm: both RSA families verify, and a `kid` chooses nothing.
    assert!(bearer(&engine, &token("clerk_org_admin")).allow);
    assert!(bearer(&engine, &token("clerk_ps256")).allow);
    // The classic confusion: HS256 keyed with the public key's PEM text.
    let d = bearer(&engine, &token("clerk_hs256_with_rsa_public_key"));
    assert_eq!(d.reason, Reason::InvalidCredentials);
}

#[test]
fn both_clerk_token_formats_map_roles() {
    let engine = jwks_engine(r#"["RS256"]"#);
    for (name, role) in [
        ("clerk_org_admin", "admin"),
        ("clerk_v2_admin", "admin"),
        ("clerk_org_member", "member"),
        ("clerk_v2_member", "member"),
        ("clerk_no_org", "viewer"),
        ("clerk_unknown_org_role", "viewer"),
    ] {
        let d = bearer(&engine, &token(name));
        assert!(d.allow, "{name}");
        assert_eq!(d.principal.unwrap().roles, vec![role], "{name}");
    }
}

#[test]
fn jwks_rotation_replaces_the_key_set_in_place() {
    let engine = jwks_engine(r#"["RS256"]"#);
    assert_eq!(bearer(&engine, &token("clerk_rotated_kid")).reason, Reason::UnknownKey);
    assert_eq!(engine.set_jwks("idp", &fixture("jwks-rotated.json")).unwrap(), 1);
    assert!(bearer(&engine, &token("clerk_rotated_kid")).allow);
    assert_eq!(bearer(&engine, &token("clerk_org_admin")).reason, Reason::UnknownKey);
    assert!(engine.set_jwks("idp", "{\"keys\": []}").is_err());
    assert!(engine.set_jwks("idp", "not json").is_err());
    assert!(engine.set_jwks("nope", &fixture("jwks.json")).is_err());
    // A failed rotation keeps the working set.
    assert!(bearer(&engine, &token("clerk_rotated_kid")).allow);
}

#[test]
fn a_jwks_left_unset_accepts_nothing_until_the_host_sets_one() {
    let text = jwt_policy(r#"["RS256"]"#, r#"jwks = { env = "CLERK_JWKS" }"#);
    let engine = Engine::from_toml(&text, &MapResolver::default()).unwrap();
    assert!(engine.warnings().iter().any(|w| w.message.contains("set_jwks")));
    // `unknown_key` is the host's cue to fetch the key set.
    assert_eq!(bearer(&engine, &token("clerk_org_admin")).reason, Reason::UnknownKey);
    engine.set_jwks("idp", &fixture("jwks.json")).unwrap();
    assert!(bearer(&engine, &token("clerk_org_admin")).allow);
}

const RAG: &str = include_str!("../../examples/policies/rag-modulo.toml");
const RAG_SECRET: &str = "test-only-rag-modulo-secret-0123456789abcdef";

#[test]
fn issued_tokens_are_accepted_until_they_expire() {
    let engine =
        Engine::from_toml(RAG, &resolver(&[("JWT_SECRET_KEY", RAG_SECRET), ("JWT_EXPIRATION", "600")], &[])).unwrap();
    let t = engine
        .issue_token("rag-jwt", &TokenRequest { subject: "user@example.com", now: NOW, ..Default::default() })
        .unwrap();
    let at = |now: i64| {
        let value = format!("Bearer {t}");
        engine.decide(&Request {
            method: "POST",
            path: "/api/search",
            headers: &[(b"Authorization", value.as_bytes())],
            peer: None,
            now,
        })
    };
    let d = at(NOW + 599);
    assert!(d.allow);
    let p = d.principal.unwrap();
    assert_eq!(p.id, "user@example.com");
    assert_eq!(p.claims.as_ref().unwrap()["exp"], NOW + 600);
    assert_eq!(at(NOW + 600).reason, Reason::Expired);
    // PyJWT, an independent implementation, signs tokens this engine accepts; the
    // vectors check that. Here: another engine with another secret refuses ours.
    let other = Engine::from_toml(RAG, &resolver(&[("JWT_SECRET_KEY", &"x".repeat(40))], &[])).unwrap();
    assert!(!bearer(&other, &t).allow);
}

#[test]
fn issued_roles_travel_back_through_the_role_map() {
    let text = jwt_policy(r#"["HS256"]"#, r#"secret = { env = "S" }"#);
    let engine = Engine::from_toml(&text, &resolver(&[("S", RAG_SECRET)], &[])).unwrap();
    let roles = vec!["admin".to_owned()];
    let t = engine
        .issue_token("idp", &TokenRequest { subject: "u1", roles: &roles, now: NOW, ..Default::default() })
        .unwrap();
    let d = bearer(&engine, &t);
    assert!(d.allow, "{d:?}");
    let p = d.principal.unwrap();
    assert_eq!(p.roles, vec!["admin"]);
    assert_eq!(p.claims.as_ref().unwrap()["org_role"], "admin");
    assert_eq!(p.claims.as_ref().unwrap()["iss"], ISSUER);
    let bad = vec!["nope".to_owned()];
    assert!(
        engine
            .issue_token("idp", &TokenRequest { subject: "u1", roles: &bad, now: NOW, ..Default::default() })
            .is_err()
    );
    assert!(engine.issue_token("idp", &TokenRequest { subject: "", now: NOW, ..Default::default() }).is_err());
    assert!(
        engine
            .issue_token("idp", &TokenRequest { subject: "u", lifetime: Some(0), now: NOW, ..Default::default() })
            .is_err()
    );
}

#[test]
fn issuing_needs_a_signing_key() {
    let engine = jwks_engine(r#"["RS256"]"#);
    let err = engine.issue_token("idp", &TokenRequest { subject: "u", now: NOW, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("no signing key"), "{err}");
}

const FETCHML: &str = include_str!("../../examples/policies/fetchml.toml");

/// FetchML's policy with its keys file beside it.
fn fetchml() -> Engine {
    let r =
        resolver(&[], &[("fetchml-keys.toml", include_str!("../../examples/policies/fetchml-keys.toml").to_owned())]);
    Engine::from_toml(FETCHML, &r).unwrap()
}

#[test]
fn bytes_that_are_not_utf8_are_malformed_only_where_admit_reads_them() {
    let engine = fetchml();
    let d = decide(&engine, "GET", "/api/v1/status", &[(b"X-API-Key", b"demo-\xff-key")]);
    assert_eq!(d.reason, Reason::MalformedRequest);
    assert_eq!(d.status, 400);
    let d = decide(
        &engine,
        "GET",
        "/api/v1/status",
        &[(b"X-\xfe\xff", b"\xff\xfe"), (b"X-API-Key", b"demo-analyst-key"), (b"Cookie", b"\x00\x01")],
    );
    assert!(d.allow, "{d:?}");
}

#[test]
fn decisions_are_deterministic_and_ignore_header_name_case() {
    let engine = fetchml();
    for name in [&b"X-API-Key"[..], b"x-api-key", b"X-Api-KEY"] {
        let a = decide(&engine, "GET", "/api/v1/jobs/bob/1", &[(name, b"demo-researcher-key")]);
        let b = decide(&engine, "GET", "/api/v1/jobs/bob/1", &[(name, b"demo-researcher-key")]);
        assert_eq!(a, b);
        assert!(a.allow);
        assert_eq!(a.constraints.get("owner").map(String::as_str), Some("bob"));
    }
}

#[test]
fn the_engine_is_shared_across_threads() {
    let engine = std::sync::Arc::new(fetchml());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let engine = std::sync::Arc::clone(&engine);
            std::thread::spawn(move || {
                let key: &[u8] = if i % 2 == 0 { b"demo-admin-key" } else { b"demo-analyst-key" };
                (0..200).all(|_| {
                    let d = decide(&engine, "POST", "/api/v1/jobs", &[(b"X-API-Key", key)]);
                    d.allow == (i % 2 == 0)
                })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

fn load_errors(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    match Engine::from_toml(text, &resolver(env, &[])) {
        Ok(_) => panic!("policy loaded:\n{text}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn policy_errors_name_their_place() {
    let text = r#"
scopes = ["a:read"]

[[authenticators]]
type = "jwt"
id = "one"
algorithms = ["HS256"]
secret = { env = "SHORT" }

[[authenticators]]
type = "anonymous"
id = "one"
roles = ["ghost"]

[[routes]]
path = "/a/../b"

[[routes]]
path = "/c"
require = ["a:write"]
authenticators = ["nobody"]
"#;
    let errors = load_errors(text, &[("SHORT", "tooshort")]);
    let all = errors.join("\n");
    for want in [
        "line 8, column 10: authenticators[0].secret: environment variable `SHORT` is 8 bytes; HS256 needs at least 32",
        "authenticators[1].id: authenticator id `one` is used twice",
        "authenticators[1].roles[0]: role `ghost` is not defined",
        "routes[0].path: pattern `/a/../b`",
        "routes[1].require[0]: scope `a:write` is not declared in `scopes`",
        "routes[1].authenticators[0]: no authenticator has the id `nobody`",
    ] {
        assert!(all.contains(want), "missing `{want}` in:\n{all}");
    }
    assert!(!all.contains("tooshort"), "a secret leaked into an error:\n{all}");
}

#[test]
fn typos_and_literal_secrets_are_refused() {
    let all = load_errors("[[authenticators]]\ntype = \"api_key\"\nid = \"k\"\nheadr = \"X\"\n", &[]).join("\n");
    assert!(all.contains("authenticators[0].headr") && all.contains("unknown field"), "{all}");
    let all = load_errors(
        "[[authenticators]]\ntype = \"bearer_token\"\nid = \"t\"\ntokens = [{ id = \"x\", secret = \"hunter2-plaintext\" }]\n",
        &[],
    )
    .join("\n");
    assert!(all.contains("a secret cannot be written in the policy"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    let all = load_errors("[[authenticators]]\ntype = \"magic\"\nid = \"m\"\n", &[]).join("\n");
    assert!(all.contains("unknown authenticator type `magic`"), "{all}");
    // An error inside an authenticator is placed at its field.
    let all = load_errors("[[authenticators]]\ntype = \"api_key\"\nid = \"k\"\nheader = 5\n", &[]).join("\n");
    assert!(all.contains("authenticators[0].header: invalid type: integer `5`"), "{all}");
    let all = load_errors("[[authenticators]]\nid = \"k\"\n", &[]).join("\n");
    assert!(all.contains("authenticators[0]: missing field `type`"), "{all}");
    let all = load_errors("[cors]\norigins = [\"*\"]\ncredentials = true\n", &[]).join("\n");
    assert!(all.contains("cors.credentials"), "{all}");
    let all = load_errors("[[routes]]\npath = \"/x\"\npublic = true\ndeny = true\n", &[]).join("\n");
    assert!(all.contains("both `public` and `deny`"), "{all}");
}

#[test]
fn json_policies_report_line_and_column() {
    let text = "{\n  \"routes\": [\n    {\"path\": \"/a\", \"requires\": [\"x\"]}\n  ]\n}";
    let err = Engine::from_json(text, &MapResolver::default()).unwrap_err();
    let e = &err.errors[0];
    assert_eq!(e.place, "routes[0].requires");
    assert_eq!(e.line, Some(3), "{e}");
}

#[test]
fn hidden_rules_and_unreachable_jwt_are_warned_about() {
    let text = r#"
[[authenticators]]
type = "bearer_token"
id = "pat"
tokens = [{ id = "p", secret = { env = "PAT" } }]

[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["HS256"]
secret = { env = "S" }

[[routes]]
path = "/api/**"

[[routes]]
methods = ["GET"]
path = "/api/v1/{id}"
public = true
"#;
    let engine = Engine::from_toml(text, &resolver(&[("PAT", "p"), ("S", RAG_SECRET)], &[])).unwrap();
    let warnings: Vec<String> = engine.warnings().iter().map(ToString::to_string).collect();
    let all = warnings.join("\n");
    assert!(all.contains("routes[1]: this rule never decides: routes[0]"), "{all}");
    assert!(all.contains("`idp` never sees a token"), "{all}");
    assert!(all.contains("line 16, column 1: routes[1]"), "{all}");
}

#[test]
fn a_policy_written_back_out_decides_the_same() {
    for (file, env) in [
        ("fetchml.toml", vec![]),
        ("skillmeat.toml", vec![("SKILLMEAT_AUTH_ENABLED", "true"), ("SKILLMEAT_ENTERPRISE_PAT_SECRET", "pat-secret")]),
        ("model-registry.toml", vec![("AUTH_TOKEN", "tok")]),
    ] {
        let text =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies").join(file))
                .unwrap();
        let keys = include_str!("../../examples/policies/fetchml-keys.toml").to_owned();
        let r = resolver(&env, &[("fetchml-keys.toml", keys)]);
        let policy = admit::parse_policy(&text, Format::Toml).unwrap();
        let json = serde_json::to_string(&policy).unwrap();
        let a = Engine::from_toml(&text, &r).unwrap();
        let b = Engine::from_json(&json, &r).unwrap();
        assert_eq!(admit::parse_policy(&json, Format::Json).unwrap(), policy, "{file}");
        for (m, p, h) in [
            ("GET", "/api/v1/jobs", &b"demo-researcher-key"[..]),
            ("DELETE", "/api/v1/artifacts/1", b"pat-secret"),
            ("GET", "/env", b"tok"),
            ("GET", "/api/v1/status", b"nope"),
        ] {
            let auth = format!("Bearer {}", String::from_utf8_lossy(h));
            let headers: &[(&[u8], &[u8])] = &[(b"X-API-Key", h), (b"Authorization", auth.as_bytes())];
            assert_eq!(decide(&a, m, p, headers), decide(&b, m, p, headers), "{file} {m} {p}");
        }
    }
}

#[test]
fn dry_run_reports_without_enforcing() {
    let text = "dry_run = true\n[[routes]]\npath = \"/x\"\n[[routes]]\npath = \"/y\"\npublic = true\n";
    let engine = Engine::from_toml(text, &MapResolver::default()).unwrap();
    let d = decide(&engine, "GET", "/x", &[]);
    assert!(d.allow && d.dry_run);
    assert_eq!(d.reason, Reason::MissingCredentials);
    assert!(d.header("WWW-Authenticate").is_none());
    let d = decide(&engine, "GET", "/y", &[]);
    assert!(d.allow && !d.dry_run);
    assert_eq!(d.reason, Reason::Public);
    // Per rule.
    let text = "[[routes]]\npath = \"/x\"\ndry_run = true\n[[routes]]\npath = \"/z\"\n";
    let engine = Engine::from_toml(text, &MapResolver::default()).unwrap();
    assert!(decide(&engine, "GET", "/x", &[]).dry_run);
    assert!(!decide(&engine, "GET", "/z", &[]).allow);
}

#[test]
fn a_host_that_cannot_read_a_request_gets_the_policy_s_malformed_answer() {
    let engine = fetchml();
    let d = engine.malformed("method is not UTF-8");
    assert!(!d.allow);
    assert_eq!(d.status, 400);
    assert_eq!(d.reason, Reason::MalformedRequest);
    assert_eq!(d.body.as_deref(), Some(r#"{"error": "malformed_request", "message": "method is not UTF-8"}"#));
}

const TWO_ISSUERS: &str = r#"
scopes = ["a:read", "admin:users"]

[[authenticators]]
type = "jwt"
id = "first"
algorithms = ["HS256"]
secret = { env = "S1" }
issuer = "https://one.example"
scopes_claims = ["o.scp"]

[[authenticators]]
type = "jwt"
id = "second"
algorithms = ["HS256", "ES256"]
secret = { env = "S2" }
public_key = { file = "ec256-public.pem" }
jwks = { env = "JWKS" }
issuer = "https://two.example"

[[routes]]
path = "/admin/**"
require = ["admin:users"]

[[routes]]
path = "/api/**"
require = ["a:read"]
"#;

fn two_issuers() -> Engine {
    let s2 = "s".repeat(32);
    Engine::from_toml(
        TWO_ISSUERS,
        &resolver(
            &[("S1", RAG_SECRET), ("S2", &s2), ("JWKS", &fixture("jwks.json"))],
            &[("ec256-public.pem", fixture("keys/ec256-public.pem"))],
        ),
    )
    .unwrap()
}

#[test]
fn a_token_names_its_issuer_and_the_matching_authenticator_takes_it() {
    let engine = two_issuers();
    let scopes = vec!["a:read".to_owned()];
    for id in ["first", "second"] {
        let t = engine
            .issue_token(id, &TokenRequest { subject: "u", scopes: &scopes, now: NOW, ..Default::default() })
            .unwrap();
        let d = bearer(&engine, &t);
        assert!(d.allow, "{id}: {d:?}");
        assert_eq!(d.principal.unwrap().authenticator, id);
    }
    // A token from neither issuer is refused, not passed to a fallback.
    assert_eq!(bearer(&engine, &token("rag_valid")).reason, Reason::InvalidCredentials);
}

#[test]
fn scopes_in_a_token_are_names_never_wildcards() {
    let engine = two_issuers();
    for scopes in [vec!["*".to_owned()], vec!["admin:*".to_owned()], vec!["a:*".to_owned()]] {
        let t = engine
            .issue_token("first", &TokenRequest { subject: "u", scopes: &scopes, now: NOW, ..Default::default() })
            .unwrap();
        let value = format!("Bearer {t}");
        let d = decide(&engine, "GET", "/admin/users", &[(b"Authorization", value.as_bytes())]);
        assert_eq!(d.reason, Reason::InsufficientScope, "{scopes:?}");
        // The undeclared name never reaches the principal's scopes, so a scope check in
        // the host's code cannot be met by it; the token's own claims still say it.
        let principal = d.principal.unwrap();
        assert!(principal.scopes.is_empty(), "{scopes:?}: {:?}", principal.scopes);
        let claims = principal.claims.as_ref().unwrap();
        assert!(claims.to_string().contains(&format!("\"{}\"", scopes[0])), "{claims}");
    }
}

#[test]
fn issued_scopes_follow_a_dotted_claim_path() {
    let engine = two_issuers();
    let scopes = vec!["a:read".to_owned()];
    let t = engine
        .issue_token("first", &TokenRequest { subject: "u", scopes: &scopes, now: NOW, ..Default::default() })
        .unwrap();
    let d = bearer(&engine, &t);
    assert!(d.allow);
    assert_eq!(d.principal.unwrap().claims.as_ref().unwrap()["o"]["scp"], "a:read");
}

#[test]
fn rotating_the_jwks_keeps_the_secret_and_the_pem_key() {
    let engine = two_issuers();
    let scopes = vec!["a:read".to_owned()];
    let hs = engine
        .issue_token("second", &TokenRequest { subject: "u", scopes: &scopes, now: NOW, ..Default::default() })
        .unwrap();
    // `second` allows HS256 and ES256: a set must hold a key for one of them (an RSA-only
    // set is refused), here the P-256 key under a new kid.
    assert!(engine.set_jwks("second", &fixture("jwks-rotated.json")).is_err());
    let ec = fixture("jwks.json").replace("\"ec256-1\"", "\"ec256-2\"");
    engine.set_jwks("second", &ec).unwrap();
    assert!(bearer(&engine, &hs).allow, "the HMAC secret survives a JWKS rotation");
}

#[test]
fn an_ec_signing_key_signs_with_the_algorithm_of_its_curve() {
    let text = r#"
[[authenticators]]
type = "jwt"
id = "ec"
algorithms = ["ES384", "ES256"]
public_key = { file = "pub.pem" }
signing_key = { file = "key.pem" }

[[routes]]
path = "/**"
"#;
    let r =
        resolver(&[], &[("pub.pem", fixture("keys/ec256-public.pem")), ("key.pem", fixture("keys/ec256-private.pem"))]);
    let engine = Engine::from_toml(text, &r).unwrap();
    let issued = engine.issue_token("ec", &TokenRequest { subject: "u", now: NOW, ..Default::default() });
    if admit::CRYPTO_BACKEND == "host" {
        // WASM issues HMAC tokens only, and says so.
        let e = issued.unwrap_err().to_string();
        assert!(e.contains("HMAC tokens only") && e.contains("native build"), "{e}");
        return;
    }
    let t = issued.unwrap();
    assert!(t.starts_with("eyJ"));
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.split('.').next().unwrap()).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert!(bearer(&engine, &t).allow);
}

#[test]
fn a_literal_jwks_cannot_hold_hmac_secrets() {
    let text = r#"
[[authenticators]]
type = "jwt"
id = "x"
algorithms = ["HS256"]
jwks = '{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}'
"#;
    let all = load_errors(text, &[]).join("\n");
    assert!(all.contains("holds secrets"), "{all}");
}
