//! admit's decisions, their floors and their peers, in one run so every figure is a
//! ratio. `cargo bench -p admit-benches`; see docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    missing_docs,
    reason = "benchmark code; the floors call jsonwebtoken::decode on purpose"
)]

use std::hint::black_box;
use std::str::FromStr;

use admit::Request;
use admit_benches::{
    API_KEY, NOW, RAG_SECRET, deep_roles, many_keys, many_routes, rbac_engine, read, scenarios, token,
};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn kinds(c: &mut Criterion) {
    let mut g = c.benchmark_group("decide");
    for s in scenarios() {
        let pairs = s.pairs();
        g.bench_function(s.name, |b| b.iter(|| black_box(s.decide(black_box(&pairs)))));
    }
    g.finish();
}

fn floors(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    // What an API-key decision cannot avoid: hashing the key and comparing in constant time.
    let stored: [u8; 32] = Sha256::digest(API_KEY.as_bytes()).into();
    g.bench_function("sha256 + constant-time compare", |b| {
        b.iter(|| {
            let d: [u8; 32] = Sha256::digest(black_box(API_KEY).as_bytes()).into();
            black_box(bool::from(d.ct_eq(&stored)))
        })
    });
    // A bare jsonwebtoken decode of the same tokens (no claim checks beyond the signature).
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&read("tests/fixtures/jwks.json")).unwrap();
    let key_of = |kid: &str| DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap();
    let cases = [
        (
            "jsonwebtoken decode HS256",
            token("rag_valid"),
            DecodingKey::from_secret(RAG_SECRET.as_bytes()),
            Algorithm::HS256,
        ),
        ("jsonwebtoken decode RS256", token("clerk_org_admin"), key_of("rsa-1"), Algorithm::RS256),
        ("jsonwebtoken decode ES256", token("clerk_es256"), key_of("ec256-1"), Algorithm::ES256),
        ("jsonwebtoken decode EdDSA", token("clerk_eddsa"), key_of("ed-1"), Algorithm::EdDSA),
    ];
    for (name, t, key, alg) in cases {
        let mut v = Validation::new(alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&t, &key, &v).is_ok(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| black_box(jsonwebtoken::decode::<serde_json::Value>(black_box(&t), &key, &v)))
        });
    }
    g.finish();
}

const CEDAR_POLICY: &str = r#"
permit(principal in Role::"viewer", action == Action::"read", resource);
permit(principal in Role::"team_member", action == Action::"write", resource);
"#;
const CEDAR_ENTITIES: &str = r#"[
  {"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": [{"type": "Role", "id": "team_member"}]},
  {"uid": {"type": "Role", "id": "team_member"}, "attrs": {}, "parents": [{"type": "Role", "id": "viewer"}]},
  {"uid": {"type": "Role", "id": "viewer"}, "attrs": {}, "parents": []}
]"#;
const REGO_POLICY: &str = r#"
package authz
import rego.v1

role_scopes := {"viewer": {"artifacts:read"}, "team_member": {"artifacts:write"}}
includes := {"team_member": {"viewer"}, "viewer": set()}

roles contains r if some r in input.roles
roles contains i if {
  some r in input.roles
  some i in includes[r]
}

default allow := false
allow if {
  input.method == "POST"
  input.path == "/api/v1/artifacts"
  some r in roles
  "artifacts:write" in role_scopes[r]
}
"#;

fn peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("rbac");
    let engine = rbac_engine();
    g.bench_function("admit", |b| {
        b.iter(|| {
            let d = engine.decide(&Request {
                method: black_box("POST"),
                path: black_box("/api/v1/artifacts"),
                headers: &[],
                peer: None,
                now: NOW,
            });
            black_box(d.allow)
        })
    });

    let policies = cedar_policy::PolicySet::from_str(CEDAR_POLICY).unwrap();
    let entities = cedar_policy::Entities::from_json_str(CEDAR_ENTITIES, None).unwrap();
    let authorizer = cedar_policy::Authorizer::new();
    let principal = cedar_policy::EntityUid::from_str(r#"User::"alice""#).unwrap();
    let action = cedar_policy::EntityUid::from_str(r#"Action::"write""#).unwrap();
    let resource = cedar_policy::EntityUid::from_str(r#"Artifact::"7""#).unwrap();
    let cedar = || {
        let request = cedar_policy::Request::new(
            principal.clone(),
            action.clone(),
            resource.clone(),
            cedar_policy::Context::empty(),
            None,
        )
        .unwrap();
        authorizer.is_authorized(&request, &policies, &entities).decision() == cedar_policy::Decision::Allow
    };
    assert!(cedar());
    g.bench_function("cedar-policy", |b| b.iter(|| black_box(cedar())));

    let mut rego = regorus::Engine::new();
    rego.add_policy("authz.rego".to_owned(), REGO_POLICY.to_owned()).unwrap();
    let input =
        regorus::Value::from_json_str(r#"{"method": "POST", "path": "/api/v1/artifacts", "roles": ["team_member"]}"#)
            .unwrap();
    let mut eval = |input: &regorus::Value| {
        rego.set_input(input.clone());
        rego.eval_rule("data.authz.allow".to_owned()).unwrap() == regorus::Value::from(true)
    };
    assert!(eval(&input));
    g.bench_function("regorus", |b| b.iter(|| black_box(eval(black_box(&input)))));
    g.finish();
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling");
    for n in [10usize, 1_000, 100_000] {
        let engine = many_keys(n);
        let key = format!("key-{}", n / 2);
        let headers: [(&[u8], &[u8]); 1] = [(b"X-API-Key", key.as_bytes())];
        assert!(
            engine.decide(&Request { method: "GET", path: "/items/1", headers: &headers, peer: None, now: NOW }).allow
        );
        g.bench_function(format!("api keys: {n}"), |b| {
            b.iter(|| {
                black_box(engine.decide(&Request {
                    method: "GET",
                    path: "/items/1",
                    headers: black_box(&headers),
                    peer: None,
                    now: NOW,
                }))
            })
        });
    }
    for n in [10usize, 1_000, 10_000] {
        let engine = many_routes(n);
        let path = format!("/svc{}/items/9", n - 1);
        g.bench_function(format!("routes: {n}"), |b| {
            b.iter(|| {
                black_box(engine.decide(&Request {
                    method: "GET",
                    path: black_box(&path),
                    headers: &[],
                    peer: None,
                    now: NOW,
                }))
            })
        });
    }
    for depth in [1usize, 16, 128] {
        let engine = deep_roles(depth);
        g.bench_function(format!("role inclusion depth: {depth}"), |b| {
            b.iter(|| {
                black_box(engine.decide(&Request { method: "GET", path: "/x", headers: &[], peer: None, now: NOW }))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kinds, floors, peers, scaling);
criterion_main!(benches);
