//! Any bytes as a key set, through both doors: a policy's `jwks` (load) and
//! `Engine::set_jwks` (rotation). Never a panic; a refused set keeps the working one; a set
//! that loads answers tokens without panicking, and never lets a forged token through:
//! the fixture tokens' forgeries (signature bytes replaced by zeros, by the Ed25519
//! neutral-element forgery, or by the input itself) are refused whatever the set holds.
#![no_main]

use std::sync::OnceLock;

use admit::{Engine, MapResolver};
use libfuzzer_sys::fuzz_target;

mod common;

const POLICY: &str = r#"
[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "HS512"]
jwks = { env = "JWKS" }

[[routes]]
path = "/**"
"#;

static ROTATED: OnceLock<Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The load door: a policy whose `jwks` is the input.
    let loaded = Engine::from_toml(POLICY, &MapResolver::from_env([("JWKS", text.as_ref())]));
    // The rotation door: an engine with the fixture set, rotated to the input.
    let rotated = ROTATED.get_or_init(|| {
        Engine::from_toml(POLICY, &MapResolver::from_env([("JWKS", common::JWKS)])).unwrap_or_else(|e| panic!("{e}"))
    });
    let took = rotated.set_jwks("idp", &text).is_ok();
    for engine in loaded.iter().chain(std::iter::once(rotated)) {
        for token in common::fixture_tokens() {
            // A genuine token may pass or not, depending on what the set holds.
            let _ = common::bearer(engine, &token);
            for forged in common::forgeries(&token, data) {
                let d = common::bearer(engine, &forged);
                assert!(!d.allow, "a forged token passed with key set {text:?}: {forged}");
            }
        }
    }
    if took {
        // Put the fixture set back, so that every run starts from the same engine.
        rotated.set_jwks("idp", common::JWKS).unwrap_or_else(|e| panic!("{e}"));
    }
});
