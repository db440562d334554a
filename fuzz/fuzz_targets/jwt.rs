//! Arbitrary Bearer values against JWT authenticators with every key kind (RSA, EC
//! P-256/P-384, Ed25519, HMAC): never a panic, and nothing passes but the fixture
//! tokens that were signed with the real keys.
#![no_main]

use std::sync::OnceLock;

use admit::{Engine, MapResolver};
use libfuzzer_sys::fuzz_target;

mod common;

static ENGINE: OnceLock<Engine> = OnceLock::new();

const POLICY: &str = r#"
[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]
jwks = { env = "JWKS" }
secret = { env = "RAG" }

[[routes]]
path = "/**"
"#;

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(|| {
        let env =
            MapResolver::from_env([("JWKS", common::JWKS), ("RAG", "test-only-rag-modulo-secret-0123456789abcdef")]);
        Engine::from_toml(POLICY, &env).unwrap_or_else(|e| panic!("{e}"))
    });
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(data);
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", &value)];
    let d = common::decide(engine, "GET", "/x", headers, None);
    if d.allow {
        assert!(
            common::carries_known_credential(headers),
            "a forged token passed: {:?}",
            String::from_utf8_lossy(data)
        );
    }
});
