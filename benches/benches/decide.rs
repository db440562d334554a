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

use std::fmt;

use std::hint::black_box;
use std::str::FromStr;

use admit::Request;
use admit_benches::{
    API_KEY, NOW, RAG_SECRET, deep_roles, many_keys, many_routes, rbac_engine, read, scenarios, token,
};
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
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
    // jsonwebtoken with its aws_lc_rs backend is left out: jsonwebtoken 11 cannot carry
    // both backends in one build (Cargo unifies the feature with the core's rust_crypto,
    // and with both on, jsonwebtoken picks no default provider: one per process, by hand).

    // The verifier floor (DESIGN.md): what any verifier of the token must do, with
    // aws-lc-rs called directly and the key parsed once, outside the loop.
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    let jwk = |kid: &str| {
        let set: serde_json::Value = serde_json::from_str(&read("tests/fixtures/jwks.json")).unwrap();
        let keys = set["keys"].as_array().unwrap();
        keys.iter().find(|k| k["kid"] == kid).unwrap().clone()
    };
    let field = |k: &serde_json::Value, f: &str| b64(k[f].as_str().unwrap());
    let rsa = jwk("rsa-1");
    let ec = jwk("ec256-1");
    let mut point = vec![0x04];
    point.extend(field(&ec, "x"));
    point.extend(field(&ec, "y"));
    let ed = jwk("ed-1");
    let floors = [
        ("HS256", token("rag_valid"), Verifier::Hmac(hmac::Key::new(hmac::HMAC_SHA256, RAG_SECRET.as_bytes()))),
        (
            "RS256",
            token("clerk_org_admin"),
            Verifier::Signature(
                ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1_der(&field(&rsa, "n"), &field(&rsa, "e")))
                    .unwrap(),
            ),
        ),
        (
            "ES256",
            token("clerk_es256"),
            Verifier::Signature(ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).unwrap()),
        ),
        ("EdDSA", token("clerk_eddsa"), Verifier::Signature(ParsedPublicKey::new(&ED25519, field(&ed, "x")).unwrap())),
    ];
    for (alg, t, verifier) in &floors {
        assert!(verify_floor(t, alg, verifier, parse_value), "{alg} (Value)");
        assert!(verify_floor(t, alg, verifier, parse_registered), "{alg} (registered claims)");
        g.bench_function(format!("aws-lc {alg} verify + b64 + parse (Value)"), |b| {
            b.iter(|| black_box(verify_floor(black_box(t), alg, verifier, parse_value)))
        });
        g.bench_function(format!("aws-lc {alg} verify + b64 + parse (registered claims, borrowed)"), |b| {
            b.iter(|| black_box(verify_floor(black_box(t), alg, verifier, parse_registered)))
        });
    }

    // What a verified-token cache keyed by a digest of the token pays on a hit, before
    // its lookup: SHA-256 of a token of a typical size (an RS256 token is ~600-1000 bytes).
    let long: String = token("clerk_org_admin").chars().cycle().take(700).collect();
    assert_eq!(long.len(), 700);
    g.bench_function("sha256 of a 700-byte token", |b| {
        b.iter(|| black_box(<[u8; 32]>::from(Sha256::digest(black_box(&long).as_bytes()))))
    });
    g.bench_function("aws-lc sha256 of a 700-byte token", |b| {
        b.iter(|| black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(&long).as_bytes())))
    });
    g.finish();
}

/// A verification key, parsed once.
#[allow(clippy::large_enum_variant, reason = "four keys, made once; no box between the loop and the key")]
enum Verifier {
    Hmac(hmac::Key),
    Signature(ParsedPublicKey),
}

impl Verifier {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Verifier::Signature(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

/// The header fields a verifier must read.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: &'a str,
    #[serde(borrow)]
    kid: Option<&'a str>,
    #[serde(borrow)]
    typ: Option<&'a str>,
}

/// The registered claims (RFC 7519, 4.1), borrowed from the decoded payload; other claims
/// are skipped over.
#[derive(Deserialize)]
#[allow(dead_code, reason = "read by black_box only: the parse is what is timed")]
struct Registered<'a> {
    #[serde(borrow)]
    iss: Option<&'a str>,
    #[serde(borrow)]
    sub: Option<&'a str>,
    #[serde(borrow)]
    aud: Option<Audience<'a>>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    #[serde(borrow)]
    jti: Option<&'a str>,
}

/// `aud`: one string or an array of them, read without buffering (an untagged enum would
/// buffer the value first).
#[allow(dead_code, reason = "read by black_box only: the parse is what is timed")]
enum Audience<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element()? {
                    all.push(s);
                }
                Ok(Audience::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_value(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload).map(|c| black_box(c).is_object()).unwrap_or(false)
}

fn parse_registered(payload: &[u8]) -> bool {
    serde_json::from_slice::<Registered<'_>>(payload).map(|c| black_box(c).exp.is_some()).unwrap_or(false)
}

/// The floor of one JWT verification: split, base64url-decode header, payload and
/// signature, parse the header (and check its `alg`) and the claims, verify the signature
/// over `header.payload`.
fn verify_floor(token: &str, alg: &str, verifier: &Verifier, claims: fn(&[u8]) -> bool) -> bool {
    let Some((signed, signature)) = token.rsplit_once('.') else { return false };
    let Some((header, payload)) = signed.split_once('.') else { return false };
    let (Ok(header), Ok(payload), Ok(signature)) =
        (URL_SAFE_NO_PAD.decode(header), URL_SAFE_NO_PAD.decode(payload), URL_SAFE_NO_PAD.decode(signature))
    else {
        return false;
    };
    let Ok(header) = serde_json::from_slice::<Header<'_>>(&header) else { return false };
    black_box((header.kid, header.typ));
    header.alg == alg && claims(&payload) && verifier.verify(signed.as_bytes(), &signature)
}

/// A PKCS#1 `RSAPublicKey` (DER) from a JWK's `n` and `e`.
fn pkcs1_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend(&bytes[skip..]);
        }
    }
    fn uint(v: &[u8], out: &mut Vec<u8>) {
        let skip = v.iter().take_while(|&&b| b == 0).count();
        let v = &v[skip..];
        let pad = v.first().is_some_and(|&b| b & 0x80 != 0);
        out.push(0x02);
        length(v.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend(v);
    }
    let mut body = Vec::new();
    uint(n, &mut body);
    uint(e, &mut body);
    let mut der = vec![0x30];
    length(body.len(), &mut der);
    der.extend(body);
    der
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

    // regorus' fastest mode: the policy compiled (CompiledPolicy) to RVM bytecode, run by
    // one RegoVM reused across decisions (regorus' own "hot" benchmark does the same), with
    // its default limits and run-to-completion mode.
    let mut rego = regorus::Engine::new();
    rego.add_policy("authz.rego".to_owned(), REGO_POLICY.to_owned()).unwrap();
    let entry: regorus::Rc<str> = "data.authz.allow".into();
    let compiled = rego.compile_with_entrypoint(&entry).unwrap();
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &["data.authz.allow"]).unwrap();
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    let mut rvm = |input: &regorus::Value| {
        vm.set_input(input.clone());
        vm.execute().unwrap() == regorus::Value::from(true)
    };
    assert!(rvm(&input));
    let viewer =
        regorus::Value::from_json_str(r#"{"method": "POST", "path": "/api/v1/artifacts", "roles": ["viewer"]}"#)
            .unwrap();
    assert!(!rvm(&viewer), "the RVM program denies a viewer's write");
    g.bench_function("regorus RVM", |b| b.iter(|| black_box(rvm(black_box(&input)))));
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
