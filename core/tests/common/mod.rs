//! Fixtures shared by the core's integration tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `now` of every fixture token's validity.
pub const NOW: i64 = 1_790_000_000;

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture token by name (`tests/fixtures/tokens.json`).
pub fn token(name: &str) -> String {
    let tokens: BTreeMap<String, String> = serde_json::from_str(&fixture("tokens.json")).unwrap();
    tokens.get(name).unwrap_or_else(|| panic!("no token `{name}`")).clone()
}

/// Decides as a host does: `decide_step` until decided, each signature check made by
/// jsonwebtoken (an implementation independent of the core's backends), as WebCrypto
/// does for WASM. A native build answers in one step, with what `decide` answers.
#[allow(dead_code, reason = "not every test file decides")]
pub fn decide(engine: &admit::Engine, req: &admit::Request<'_>) -> admit::Decision {
    use admit::{Step, Verdicts};
    let mut verdicts = Verdicts::new();
    for round in 0..16 {
        match engine.decide_step(req, &verdicts) {
            Step::Decided(d) => {
                if round == 0 {
                    let plain = engine.decide(req);
                    assert_eq!(
                        (plain.allow, plain.status, plain.reason),
                        (d.allow, d.status, d.reason),
                        "decide and decide_step disagree"
                    );
                }
                return d;
            }
            Step::Verify(checks) => {
                assert_ne!(admit::CRYPTO_BACKEND, "aws-lc", "a native build deferred a check");
                assert!(!checks.is_empty());
                for check in checks {
                    let valid = host_verify(&check);
                    verdicts.record(check, valid);
                }
            }
            Step::Check(check) => panic!("no host check is registered for {check:?}"),
        }
    }
    panic!("no decision after 16 rounds of signature checks");
}

/// A host's signature check (WebCrypto's part), made with jsonwebtoken.
pub fn host_verify(check: &admit::SignatureCheck) -> bool {
    use base64::Engine as _;
    let Ok(jwk) = serde_json::from_str::<jsonwebtoken::jwk::Jwk>(&check.jwk) else { return false };
    let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else { return false };
    let Ok(alg) = check.algorithm.parse::<jsonwebtoken::Algorithm>() else { return false };
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&check.signature);
    jsonwebtoken::crypto::verify(&sig, &check.message, &key, alg).unwrap_or(false)
}
