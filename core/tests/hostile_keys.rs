//! Hostile key sets: key material that is too short, too long, off its curve, weak or
//! absurd is refused at load (skipped with a warning, or a load error when nothing
//! usable is left), so no token can reach the crypto backend with it; a set with no key
//! for the authenticator's algorithms is refused; a key set's text is never quoted back
//! in an error; a token without `kid` is checked against a bounded number of keys.
//! Each family is generated (every length, every key type), not one example.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code reads fixtures and stops loudly"
)]

mod common;

use admit::{Decision, Engine, LoadError, MapResolver, Reason, Request};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{NOW, fixture, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn policy(algorithms: &[&str]) -> String {
    let algs: Vec<String> = algorithms.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"
[[authenticators]]
type = "jwt"
id = "idp"
algorithms = [{}]
jwks = {{ env = "JWKS" }}

[[routes]]
path = "/api/**"
"#,
        algs.join(", ")
    )
}

fn load(algorithms: &[&str], jwks: &str) -> Result<Engine, LoadError> {
    Engine::from_toml(&policy(algorithms), &MapResolver::from_env([("JWKS", jwks)]))
}

fn set(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn bearer(engine: &Engine, token: &str) -> Decision {
    let value = format!("Bearer {token}");
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", value.as_bytes())];
    common::decide(engine, &Request { method: "GET", path: "/api/x", headers, peer: None, now: NOW })
}

/// The fixture JWKS's key of a kind (`RSA`, `EC` P-256 is `ec256-1`, ...), by kid.
fn fixture_jwk(kid: &str) -> Value {
    let set: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
}

fn claims() -> Value {
    json!({ "sub": "u", "exp": NOW + 60 })
}

fn der(pem_name: &str) -> Vec<u8> {
    let (_, doc) = der::Document::from_pem(&fixture(&format!("keys/{pem_name}"))).unwrap();
    doc.as_bytes().to_vec()
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_der(&der("ed25519-private.pem"))
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_der(&der("rsa-private-pkcs1.pem"))
}

/// A token with a hand-written header and signature bytes.
fn raw_token(header: &Value, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header.to_string().as_bytes()), b64(claims().to_string().as_bytes()), b64(signature))
}

fn skipped_warning(engine: &Engine) -> String {
    engine.warnings().iter().map(|w| w.message.clone()).collect::<Vec<_>>().join("\n")
}

#[test]
fn an_ed25519_key_of_any_wrong_length_is_skipped_and_eddsa_tokens_are_refused() {
    let signed_kidless = sign(Algorithm::EdDSA, None, &ed_key());
    let signed_bad_kid = sign(Algorithm::EdDSA, Some("ed-bad"), &ed_key());
    for len in (0..=64).filter(|l| *l != 32) {
        let bad = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ed-bad", "x": b64(&vec![7u8; len]) });
        // Alone, the set has no usable key: a load error, and set_jwks refuses it.
        let err = load(&["EdDSA"], &set(std::slice::from_ref(&bad))).unwrap_err().to_string();
        assert!(err.contains("no key"), "{len} bytes: {err}");
        // Beside a good key, it is skipped with a warning.
        let engine = load(&["EdDSA", "RS256"], &set(&[bad.clone(), fixture_jwk("rsa-1")])).unwrap();
        let warnings = skipped_warning(&engine);
        assert!(warnings.contains("Ed25519 public key of") && warnings.contains("skipped"), "{len}: {warnings}");
        assert!(engine.set_jwks("idp", &set(std::slice::from_ref(&bad))).is_err(), "{len} bytes");
        // Every EdDSA token is refused, and nothing panics.
        for t in [&signed_kidless, &signed_bad_kid] {
            let d = bearer(&engine, t);
            assert!(!d.allow, "{len} bytes: {d:?}");
        }
        assert!(bearer(&engine, &token("clerk_org_admin")).allow, "the good key still verifies");
    }
}

#[test]
fn weak_or_off_curve_ed25519_keys_are_skipped_and_forgeries_never_pass() {
    let mut identity = [0u8; 32];
    identity[0] = 1; // y = 1: the neutral element
    let order4 = [0u8; 32]; // y = 0: a point of order 4
    let mut minus_one = [0xffu8; 32]; // y = -1: order 2
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2; // y = 2: no x satisfies the curve equation
    for (name, x) in [("identity", identity), ("order 4", order4), ("order 2", minus_one), ("off curve", off_curve)] {
        let bad = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "weak", "x": b64(&x) });
        assert!(load(&["EdDSA"], &set(std::slice::from_ref(&bad))).is_err(), "{name}");
        let engine = load(&["EdDSA", "RS256"], &set(&[bad, fixture_jwk("rsa-1")])).unwrap();
        // R = the neutral element, S = 0 verifies against the neutral element for any message.
        let mut sig = [0u8; 64];
        sig[0] = 1;
        for kid in [Some("weak"), None] {
            let mut header = json!({ "alg": "EdDSA" });
            if let Some(k) = kid {
                header["kid"] = json!(k);
            }
            let d = bearer(&engine, &raw_token(&header, &sig));
            assert!(!d.allow, "{name}, kid {kid:?}: a forged token passed");
        }
    }
}

#[test]
fn ec_keys_of_the_wrong_size_or_off_their_curve_are_skipped() {
    for (kid, crv, alg, size) in [("ec256-1", "P-256", "ES256", 32usize), ("ec384-1", "P-384", "ES384", 48)] {
        let good = fixture_jwk(kid);
        let x = URL_SAFE_NO_PAD.decode(good["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(good["y"].as_str().unwrap()).unwrap();
        let mut bent_y = y.clone();
        bent_y[size - 1] ^= 1;
        let mut cases: Vec<(String, Vec<u8>, Vec<u8>)> = vec![
            ("y off the curve".into(), x.clone(), bent_y),
            ("zero point".into(), vec![0; size], vec![0; size]),
            ("swapped".into(), y.clone(), x.clone()),
        ];
        for len in (0..=2 * size + 1).filter(|l| *l != size) {
            let mut longer_x = x.clone();
            longer_x.resize(len, 0);
            cases.push((format!("x of {len} bytes"), longer_x, y.clone()));
            let mut longer_y = y.clone();
            longer_y.resize(len, 0);
            cases.push((format!("y of {len} bytes"), x.clone(), longer_y));
        }
        for (what, x, y) in cases {
            let bad = json!({ "kty": "EC", "crv": crv, "kid": "bad", "x": b64(&x), "y": b64(&y) });
            let err = load(&[alg], &set(std::slice::from_ref(&bad))).unwrap_err().to_string();
            assert!(err.contains("no key"), "{crv} {what}: {err}");
            let engine = load(&[alg], &set(&[bad.clone(), good.clone()])).unwrap();
            assert!(skipped_warning(&engine).contains("EC "), "{crv} {what}");
            assert!(engine.set_jwks("idp", &set(&[bad])).is_err(), "{crv} {what}");
        }
        // The good key alone loads.
        assert!(load(&[alg], &set(&[good])).is_ok(), "{crv}");
    }
}

/// An odd integer of exactly `bits` bits (not a real modulus: enough for the checks).
fn fake_modulus(bits: usize) -> Vec<u8> {
    let mut n = vec![0xffu8; bits.div_ceil(8)];
    if let Some(top) = n.first_mut() {
        *top = 0xff >> ((8 - bits % 8) % 8);
    }
    n
}

#[test]
fn rsa_keys_outside_the_bounds_are_skipped() {
    let e65537 = [1u8, 0, 1];
    let real_n = fixture_jwk("rsa-1")["n"].as_str().unwrap().to_owned();
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for bits in [0usize, 8, 512, 1024, 1536, 2040, 2047, 4097, 4104, 8192, 16384] {
        cases.push((format!("{bits}-bit modulus"), b64(&fake_modulus(bits)), b64(&e65537)));
    }
    let mut even = fake_modulus(2048);
    *even.last_mut().unwrap() = 0xfe;
    cases.push(("even modulus".into(), b64(&even), b64(&e65537)));
    for e in
        [vec![], vec![0], vec![1], vec![2], vec![4], vec![1, 0, 0], vec![1, 0, 0, 0, 1], vec![0xff; 9], vec![0xff; 256]]
    {
        cases.push((format!("exponent {e:?}"), real_n.clone(), b64(&e)));
    }
    for (what, n, e) in cases {
        let bad = json!({ "kty": "RSA", "kid": "bad", "n": n, "e": e });
        let err = load(&["RS256"], &set(std::slice::from_ref(&bad))).unwrap_err().to_string();
        assert!(err.contains("no key"), "{what}: {err}");
        let engine = load(&["RS256", "PS256"], &set(&[bad.clone(), fixture_jwk("rsa-1")])).unwrap();
        assert!(skipped_warning(&engine).contains("RSA "), "{what}");
        assert!(engine.set_jwks("idp", &set(&[bad])).is_err(), "{what}");
        for t in [sign(Algorithm::RS256, Some("bad"), &rsa_key()), sign(Algorithm::PS256, Some("bad"), &rsa_key())] {
            assert!(!bearer(&engine, &t).allow, "{what}");
        }
    }
    // Sizes inside the bounds load (the checks are on sizes and exponents, not primes).
    for bits in [2048usize, 3072, 4096] {
        for e in [vec![3u8], vec![1, 0, 1], vec![0xff, 0xff, 0xff, 0xff]] {
            let key = json!({ "kty": "RSA", "n": b64(&fake_modulus(bits)), "e": b64(&e) });
            assert!(load(&["RS256"], &set(&[key])).is_ok(), "{bits} bits, e {e:?}");
        }
    }
}

fn hs(alg: &str) -> Algorithm {
    match alg {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        _ => Algorithm::HS512,
    }
}

#[test]
fn hmac_keys_in_a_jwks_are_held_to_rfc_7518_lengths() {
    let good = json!({ "kty": "oct", "kid": "good", "k": b64(&[0x5a; 64]) });
    for (alg, min) in [("HS256", 32usize), ("HS384", 48), ("HS512", 64)] {
        for len in 0..=70 {
            let secret = vec![0x42u8; len];
            let key = json!({ "kty": "oct", "kid": "k", "k": b64(&secret) });
            let alone = load(&[alg], &set(std::slice::from_ref(&key)));
            assert_eq!(alone.is_ok(), len >= min, "{alg}, {len} bytes alone");
            let engine = load(&[alg], &set(&[key.clone(), good.clone()])).unwrap();
            let t = sign(hs(alg), Some("k"), &EncodingKey::from_secret(&secret));
            let d = bearer(&engine, &t);
            assert_eq!(d.allow, len >= min, "{alg}, {len} bytes: {d:?}");
            if len < min {
                assert!(skipped_warning(&engine).contains("HMAC key of"), "{alg} {len}");
                assert!(engine.set_jwks("idp", &set(&[key])).is_err(), "{alg} {len}");
            }
        }
    }
    // A key long enough for HS256 but not HS384 serves HS256 only.
    let secret = [0x42u8; 40];
    let key = json!({ "kty": "oct", "kid": "k", "k": b64(&secret) });
    let engine = load(&["HS256", "HS384"], &set(&[key])).unwrap();
    assert!(bearer(&engine, &sign(Algorithm::HS256, Some("k"), &EncodingKey::from_secret(&secret))).allow);
    assert!(!bearer(&engine, &sign(Algorithm::HS384, Some("k"), &EncodingKey::from_secret(&secret))).allow);
    // A key's own `alg` is the only one it may serve: a 48-byte HS512 key fits nothing.
    let bound = json!({ "kty": "oct", "kid": "k", "alg": "HS512", "k": b64(&[0x42; 48]) });
    assert!(load(&["HS256", "HS512"], &set(&[bound])).is_err());
}

#[test]
fn a_set_with_no_key_for_the_allowed_algorithms_is_refused_and_the_working_set_kept() {
    let families = [
        ("rsa-1", &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"][..]),
        ("ec256-1", &["ES256"][..]),
        ("ec384-1", &["ES384"][..]),
        ("ed-1", &["EdDSA"][..]),
    ];
    let all = ["HS256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
    for (kid, fits) in families {
        let others: Vec<&str> = all.iter().copied().filter(|a| !fits.contains(a)).collect();
        let alone = set(&[fixture_jwk(kid)]);
        for alg in &others {
            let err = load(&[alg], &alone).unwrap_err().to_string();
            assert!(err.contains("no key of the set fits"), "{kid} with {alg}: {err}");
        }
        // Loaded with a working set, a rotation to a set that fits nothing is refused.
        let engine = Engine::from_toml(&policy(&others), &MapResolver::from_env([("JWKS", fixture("jwks.json"))]));
        if let Ok(engine) = engine {
            let err = engine.set_jwks("idp", &alone).unwrap_err().to_string();
            assert!(err.contains("no key of the set fits"), "{kid}: {err}");
        }
    }
    let engine = load(&["RS256"], &fixture("jwks.json")).unwrap();
    let es_only = set(&[fixture_jwk("ec256-1"), fixture_jwk("ec384-1")]);
    assert!(engine.set_jwks("idp", &es_only).is_err());
    assert!(bearer(&engine, &token("clerk_org_admin")).allow, "the working set is kept");
}

const MARKER: &str = "test-only-marker-secret-0123456789-abcdefgh";

#[test]
fn a_key_set_text_is_never_quoted_back() {
    let k = b64(MARKER.as_bytes());
    let oct = format!(r#"{{"kty":"oct","k":"{k}"}}"#);
    let bodies = [
        format!("[{oct}]"),
        format!(r#"{{"keys":[{oct}]"#),
        format!(r#"{{"keys":[{oct}]}}garbage"#),
        format!(r#"{{"keys":{oct}}}"#),
        format!(r#"{{"keys":[{{"kty":"oct","k":"{k}","k":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"kty":"oct","k":"{MARKER}!"}}]}}"#),
        format!(r#"{{"keys":[{{"kty":"RSA","n":"{k}","e":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{k}","y":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{k}"}}]}}"#),
        format!(r#"{{"{k}":1}}"#),
        format!(r#""{k}""#),
        MARKER.to_owned(),
        format!("keys/{MARKER}.json"),
        format!("{MARKER}\n{MARKER}"),
        k.clone(),
    ];
    let prefixes = ["", "\u{feff}", " ", "\n", "\t", "\r\n", "\u{feff} ", "\u{feff}\u{feff}"];
    let shown = |text: &str| text.contains(MARKER) || text.contains(&k);
    let good = load(&["HS256", "RS256"], &fixture("jwks.json")).unwrap();
    for body in &bodies {
        for prefix in prefixes {
            let text = format!("{prefix}{body}");
            match load(&["HS256", "RS256"], &text) {
                Err(e) => {
                    assert!(!shown(&e.to_string()), "{text:?}: {e}");
                    assert!(!shown(&format!("{e:?}")), "{text:?}: {e:?}");
                }
                Ok(engine) => assert!(!shown(&skipped_warning(&engine)), "{text:?}"),
            }
            if let Err(e) = good.set_jwks("idp", &text) {
                assert!(!shown(&e.to_string()) && !shown(&format!("{e:?}")), "{text:?}: {e}");
            }
        }
    }
    // A key set after a byte-order mark, or after whitespace, is a key set, not a path.
    for prefix in prefixes {
        let text = format!("{prefix}{}", fixture("jwks.json"));
        let engine = load(&["RS256"], &text).unwrap_or_else(|e| panic!("{prefix:?}: {e}"));
        assert!(bearer(&engine, &token("clerk_org_admin")).allow);
        assert!(good.set_jwks("idp", &text).is_ok(), "{prefix:?}");
    }
}

#[test]
fn a_short_single_line_is_a_path_and_a_file_reference_is_a_key_set() {
    let text = policy(&["RS256"]);
    let mut r = MapResolver::from_env([("JWKS", "keys/jwks.json")]);
    r.files.insert("keys/jwks.json".into(), fixture("jwks.json"));
    let engine = Engine::from_toml(&text, &r).unwrap();
    assert!(bearer(&engine, &token("clerk_org_admin")).allow);
    // A path that cannot be read is named by its reference, not by its text.
    let err = Engine::from_toml(&text, &MapResolver::from_env([("JWKS", "keys/other.json")])).unwrap_err();
    assert!(err.to_string().contains("environment variable `JWKS`"), "{err}");
    assert!(!err.to_string().contains("other.json"), "{err}");
    // The text of a `{ file = ... }` reference is the set itself, never a path to follow.
    let by_file = text.replace(r#"{ env = "JWKS" }"#, r#"{ file = "jwks.json" }"#);
    let mut r = MapResolver::default();
    r.files.insert("jwks.json".into(), "keys/jwks.json".into());
    r.files.insert("keys/jwks.json".into(), fixture("jwks.json"));
    let err = Engine::from_toml(&by_file, &r).unwrap_err().to_string();
    assert!(err.contains("not JSON"), "{err}");
}

/// A key set of RSA keys without `kid`: `fakes` keys that verify nothing, then the real one.
fn kidless_rsa_set(fakes: usize) -> String {
    let mut keys: Vec<Value> =
        (0..fakes).map(|_| json!({ "kty": "RSA", "n": b64(&fake_modulus(2048)), "e": "AQAB" })).collect();
    let mut real = fixture_jwk("rsa-1");
    real.as_object_mut().unwrap().remove("kid");
    keys.push(real);
    set(&keys)
}

#[test]
fn a_token_without_kid_is_checked_against_a_bounded_number_of_keys() {
    let kidless = sign(Algorithm::RS256, None, &rsa_key());
    // Up to 4 keys fit: each is tried, and the real one (last) verifies.
    for fakes in 0..4 {
        let engine = load(&["RS256"], &kidless_rsa_set(fakes)).unwrap();
        assert!(bearer(&engine, &kidless).allow, "{fakes} fake keys before the real one");
    }
    // More than 4: the token is refused before any signature check, and told to name its key.
    for fakes in [4, 5, 10, 39] {
        let engine = load(&["RS256"], &kidless_rsa_set(fakes)).unwrap();
        let d = bearer(&engine, &kidless);
        assert_eq!(d.reason, Reason::InvalidCredentials, "{fakes}");
        assert!(d.message.contains("kid"), "{fakes}: {}", d.message);
        // A token that names a key is checked against that key alone.
        let mut named = kidless_rsa_set(fakes).replace(r#""alg":"RS256""#, r#""alg":"RS256","kid":"rsa-1""#);
        named = named.replacen(r#""kty":"RSA""#, r#""kty":"RSA","kid":"f""#, 1);
        let engine = load(&["RS256"], &named).unwrap();
        assert!(bearer(&engine, &token("clerk_org_admin")).allow, "{fakes}");
    }
    // When the set names its keys, a token without `kid` is not tried against them.
    let engine = load(&["RS256"], &fixture("jwks.json")).unwrap();
    for t in [kidless.clone(), token("clerk_no_kid_attacker")] {
        let d = bearer(&engine, &t);
        assert_eq!(d.reason, Reason::InvalidCredentials);
        assert!(d.message.contains("no `kid`"), "{}", d.message);
    }
}
