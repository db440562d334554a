//! The two native backends against each other, on signatures each signs and on
//! families of edge cases derived from them: through the core's checks (`canonical`),
//! aws-lc and RustCrypto must give the same verdict on every one. Runs when both
//! `aws-lc` and `rust-crypto` are enabled (`cargo test -p admit --all-features`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Algorithm, aws_lc, canonical, rust_crypto};
use crate::authn::jwt::KeyFamily;
use crate::authn::pem;

/// A key under both backends, and a signer of each.
struct Both {
    family: KeyFamily,
    modulus: Vec<u8>,
    aws: aws_lc::PublicKey,
    rc: rust_crypto::PublicKey,
    aws_signer: aws_lc::PrivateKey,
    rc_signer: rust_crypto::PrivateKey,
}

fn fixture(name: &str) -> &'static str {
    match name {
        "rsa" => include_str!("../../../../tests/fixtures/keys/rsa-private-pkcs1.pem"),
        "rsa-public" => include_str!("../../../../tests/fixtures/keys/rsa-public.pem"),
        "ec256" => include_str!("../../../../tests/fixtures/keys/ec256-private.pem"),
        "ec256-public" => include_str!("../../../../tests/fixtures/keys/ec256-public.pem"),
        "ec384" => include_str!("../../../../tests/fixtures/keys/ec384-private.pem"),
        "ec384-public" => include_str!("../../../../tests/fixtures/keys/ec384-public.pem"),
        "ed25519" => include_str!("../../../../tests/fixtures/keys/ed25519-private.pem"),
        "ed25519-public" => include_str!("../../../../tests/fixtures/keys/ed25519-public.pem"),
        _ => "",
    }
}

fn jwk_member(jwk: &str, name: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
    URL_SAFE_NO_PAD.decode(v[name].as_str().unwrap()).unwrap()
}

fn der_body(pem_text: &str) -> Vec<u8> {
    der::Document::from_pem(pem_text.trim()).unwrap().1.as_bytes().to_vec()
}

fn both(name: &str) -> Both {
    let (family, _, key) = pem::public_key(fixture(&format!("{name}-public"))).unwrap();
    let jwk = key.jwk().unwrap().to_string();
    let private = der_body(fixture(name));
    match family {
        KeyFamily::Rsa => {
            let (n, e) = (jwk_member(&jwk, "n"), jwk_member(&jwk, "e"));
            let checked = crate::authn::material::rsa(&n, &e).unwrap();
            Both {
                family,
                modulus: n.clone(),
                aws: aws_lc::PublicKey::rsa(checked.pkcs1_der().unwrap()).unwrap(),
                rc: rust_crypto::PublicKey::rsa(&n, &e).unwrap(),
                aws_signer: aws_lc::PrivateKey::rsa(&private).unwrap(),
                rc_signer: rust_crypto::PrivateKey::rsa(&private).unwrap(),
            }
        }
        KeyFamily::P256 | KeyFamily::P384 => {
            let mut point = vec![4u8];
            point.extend(jwk_member(&jwk, "x"));
            point.extend(jwk_member(&jwk, "y"));
            Both {
                family,
                modulus: Vec::new(),
                aws: aws_lc::PublicKey::ec(family, &point).unwrap(),
                rc: rust_crypto::PublicKey::ec(family, &point).unwrap(),
                aws_signer: aws_lc::PrivateKey::pkcs8(family, &private).unwrap(),
                rc_signer: rust_crypto::PrivateKey::pkcs8(family, &private).unwrap(),
            }
        }
        _ => {
            let x = jwk_member(&jwk, "x");
            Both {
                family,
                modulus: Vec::new(),
                aws: aws_lc::PublicKey::ed25519(&x).unwrap(),
                rc: rust_crypto::PublicKey::ed25519(&x).unwrap(),
                aws_signer: aws_lc::PrivateKey::pkcs8(family, &private).unwrap(),
                rc_signer: rust_crypto::PrivateKey::pkcs8(family, &private).unwrap(),
            }
        }
    }
}

impl Both {
    /// Both verdicts, through the core's own checks first.
    fn verdicts(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> (bool, bool) {
        let ok = canonical::acceptable(self.family, sig, &self.modulus);
        (ok && self.aws.verify(alg, message, sig), ok && self.rc.verify(alg, message, sig))
    }
}

/// `a - b` for big-endian integers of one length (`a >= b`).
fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    out
}

/// `a + b` for little-endian integers of one length, carry dropped.
fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in 0..a.len() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    out
}

/// Signatures derived from a valid one: every single-bit flip of a few positions,
/// truncations and extensions, zeros, all ones, and the family's own edge cases.
fn family_of(both: &Both, alg: Algorithm, sig: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("valid".to_owned(), sig.to_vec())];
    for pos in [0, 1, sig.len() / 2 - 1, sig.len() / 2, sig.len() - 1] {
        for bit in 0..8 {
            let mut s = sig.to_vec();
            s[pos] ^= 1 << bit;
            out.push((format!("bit {bit} of byte {pos}"), s));
        }
    }
    out.push(("short".into(), sig[..sig.len() - 1].to_vec()));
    out.push(("long".into(), [sig, &[0]].concat()));
    out.push(("leading zero".into(), [&[0], sig].concat()));
    out.push(("empty".into(), Vec::new()));
    out.push(("zeros".into(), vec![0; sig.len()]));
    out.push(("ones".into(), vec![0xff; sig.len()]));
    let half = sig.len() / 2;
    match both.family {
        KeyFamily::P256 | KeyFamily::P384 => {
            let order = if both.family == KeyFamily::P256 {
                hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
            } else {
                hex("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973")
            };
            let (r, s) = sig.split_at(half);
            // The other S of the same signature: n - s. Valid ECDSA; both accept it.
            out.push(("high/low S swapped".into(), [r, &sub_be(&order, s)].concat()));
            out.push(("r = n".into(), [&order[..], s].concat()));
            out.push(("s = n".into(), [r, &order[..]].concat()));
            out.push(("r = 0".into(), [&vec![0; half][..], s].concat()));
            out.push(("s = 0".into(), [r, &vec![0; half][..]].concat()));
            out.push(("r + n overflows".into(), [&vec![0xff; half][..], s].concat()));
            let _ = alg;
        }
        KeyFamily::Ed25519 => {
            let l = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
            let (r, s) = sig.split_at(32);
            // S + L: the same scalar, encoded non-canonically.
            out.push(("S + L".into(), [r, &add_le(s, &l)].concat()));
            out.push(("S = L".into(), [r, &l[..]].concat()));
            let mut identity = [0u8; 32];
            identity[0] = 1;
            out.push(("R = identity".into(), [&identity[..], s].concat()));
        }
        KeyFamily::Rsa => {
            out.push(("s = n".into(), both.modulus.clone()));
            let mut one = vec![0u8; both.modulus.len()];
            *one.last_mut().unwrap() = 1;
            out.push(("s = n - 1".into(), sub_be(&both.modulus, &one)));
            out.push(("s = 1".into(), one));
        }
        KeyFamily::Hmac => {}
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn the_backends_agree_on_every_signature_of_every_family() {
    let cases = [
        (
            "rsa",
            vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        ),
        ("ec256", vec![Algorithm::ES256]),
        ("ec384", vec![Algorithm::ES384]),
        ("ed25519", vec![Algorithm::EdDSA]),
    ];
    let mut compared = 0;
    for (name, algs) in cases {
        let b = both(name);
        assert_eq!(b.aws_signer.public_bytes(), b.rc_signer.public_bytes(), "{name}: the public halves");
        for alg in algs {
            let message = b"eyJhbGciOiJ0ZXN0In0.eyJzdWIiOiJ1In0";
            // Each backend's own signature verifies under both.
            for (signer, sig) in [
                ("aws-lc", b.aws_signer.sign(alg, message).unwrap()),
                ("rust-crypto", b.rc_signer.sign(alg, message).unwrap()),
            ] {
                assert_eq!(b.verdicts(alg, message, &sig), (true, true), "{name} {alg}: signed by {signer}");
                for (what, s) in family_of(&b, alg, &sig) {
                    let (aws, rc) = b.verdicts(alg, message, &s);
                    assert_eq!(aws, rc, "{name} {alg}, signed by {signer}: {what}: aws-lc {aws}, rust-crypto {rc}");
                    compared += 1;
                }
                // The signature over another message.
                assert_eq!(b.verdicts(alg, b"another message", &sig), (false, false), "{name} {alg}");
                // The other algorithms of the family never accept it.
                for other in Algorithm::ALL.into_iter().filter(|a| *a != alg && b.family.accepts(*a)) {
                    assert_eq!(b.verdicts(other, message, &sig), (false, false), "{name}: {alg} read as {other}");
                }
            }
        }
    }
    assert!(compared > 500, "{compared}");
}

#[test]
fn the_backends_agree_on_hmac() {
    let secret = [7u8; 64];
    let (aws, rc) = (aws_lc::PublicKey::hmac(&secret), rust_crypto::PublicKey::hmac(&secret));
    let (aws_s, rc_s) = (aws_lc::PrivateKey::hmac(&secret), rust_crypto::PrivateKey::hmac(&secret));
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let tag = aws_s.sign(alg, b"m").unwrap();
        assert_eq!(tag, rc_s.sign(alg, b"m").unwrap(), "{alg}");
        assert!(aws.verify(alg, b"m", &tag) && rc.verify(alg, b"m", &tag));
        for cut in 0..tag.len() {
            assert_eq!(aws.verify(alg, b"m", &tag[..cut]), rc.verify(alg, b"m", &tag[..cut]));
            assert!(!aws.verify(alg, b"m", &tag[..cut]), "{alg}: a truncated tag of {cut} bytes");
        }
    }
}

/// PS256/384/512 take a salt as long as the hash (RFC 7518 section 3.5); a signature
/// with another salt length is refused by both backends.
#[test]
fn the_backends_agree_on_pss_salt_lengths() {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
    let b = both("rsa");
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der_body(fixture("rsa"))).unwrap();
    let message = b"header.payload";
    for salt in [0usize, 20, 31, 32, 33, 48, 64] {
        let signer = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new_with_salt_len(key.clone(), salt);
        let sig = signer.sign_with_rng(&mut rand_core::OsRng, message).to_vec();
        let (aws, rc) = b.verdicts(Algorithm::PS256, message, &sig);
        assert_eq!(aws, rc, "salt of {salt} bytes: aws-lc {aws}, rust-crypto {rc}");
        assert_eq!(aws, salt == 32, "salt of {salt} bytes");
    }
}
