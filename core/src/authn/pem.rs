//! PEM keys, read with the RustCrypto DER crates that the crypto backend already links
//! (`der`, `spki`, `pkcs8`, `pkcs1`) rather than jsonwebtoken's `use_pem` feature, which brings a
//! second ASN.1 parser and a date library (about 60 KB of the WASM build) to do the same.
//!
//! What each label yields is what jsonwebtoken's DER constructors expect: an RSA public
//! key as PKCS#1, an EC public key as its SEC1 point, an Ed25519 public key as its 32
//! bytes; an RSA private key as PKCS#1, EC and Ed25519 private keys as the PKCS#8 document.
//! RSA keys are checked as PKCS#1 structures here, so that a malformed one fails at load
//! rather than at the first token, and every public key's material as a JWK's is
//! (`material`: RSA sizes and exponent, EC points on their curve, Ed25519 points of large
//! order), so that no PEM key reaches the crypto backend in a form it could panic on.

use der::Document;
use pkcs1::{RsaPrivateKey, RsaPublicKey};
use pkcs8::PrivateKeyInfo;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::crypto::{SigningKey, VerifyingKey};
use super::jwt::KeyFamily;
use super::material;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The label and DER body of a PEM text (RFC 7468; surrounding whitespace is ignored).
fn decode(pem: &str) -> Result<(&str, Document), String> {
    Document::from_pem(pem.trim()).map_err(|_| "not a PEM key".to_owned())
}

/// A public key: its family, its size (`JwtKey::size`) and the key.
pub(crate) type PublicKey = (KeyFamily, usize, VerifyingKey);

fn rsa_public(der: &[u8]) -> Result<PublicKey, String> {
    let key = RsaPublicKey::try_from(der).map_err(|_| "malformed RSA public key (PKCS#1)".to_owned())?;
    let checked = material::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())?;
    Ok((KeyFamily::Rsa, checked.modulus_len(), VerifyingKey::rsa(checked)?))
}

fn rsa_private(der: &[u8]) -> Result<SigningKey, String> {
    let key = RsaPrivateKey::try_from(der).map_err(|_| "malformed RSA private key (PKCS#1)".to_owned())?;
    material::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())?;
    SigningKey::rsa(der)
}

/// The curve of an EC key from its algorithm parameters.
fn ec_curve(parameters: Option<ObjectIdentifier>) -> Result<KeyFamily, String> {
    match parameters {
        Some(SECP256R1) => Ok(KeyFamily::P256),
        Some(SECP384R1) => Ok(KeyFamily::P384),
        _ => Err("EC key is on an unsupported curve (P-256 and P-384 are supported)".into()),
    }
}

fn refuse(label: &str) -> String {
    match label {
        "CERTIFICATE" => "a certificate is not a public key; extract one with `openssl x509 -pubkey -noout`".into(),
        "ENCRYPTED PRIVATE KEY" => "an encrypted private key cannot be used; decrypt it first".into(),
        "EC PRIVATE KEY" => "an EC private key must be PKCS#8 (`BEGIN PRIVATE KEY`); convert it with \
                             `openssl pkcs8 -topk8 -nocrypt`"
            .into(),
        "PRIVATE KEY" | "RSA PRIVATE KEY" => "this is a private key; a public key is needed here".into(),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "this is a public key; a private key is needed here".into(),
        _ => "not a PEM key (RSA, EC P-256/P-384 or Ed25519)".into(),
    }
}

/// A PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) and its family.
pub(crate) fn public_key(pem: &str) -> Result<PublicKey, String> {
    let (label, doc) = decode(pem)?;
    match label {
        "RSA PUBLIC KEY" => rsa_public(doc.as_bytes()),
        "PUBLIC KEY" => {
            let info = SubjectPublicKeyInfoRef::try_from(doc.as_bytes())
                .map_err(|_| "malformed public key (SubjectPublicKeyInfo)".to_owned())?;
            let bits = info.subject_public_key.as_bytes().ok_or("malformed public key (bit string)")?;
            let oid = info.algorithm.oid;
            if oid == RSA_ENCRYPTION {
                rsa_public(bits)
            } else if oid == EC_PUBLIC_KEY {
                let family = ec_curve(info.algorithm.parameters_oid().ok())?;
                // An uncompressed SEC1 point (0x04, then x and y) on the curve.
                material::ec_point(family, bits)?;
                Ok((family, 0, VerifyingKey::ec(family, bits)?))
            } else if oid == ED25519 {
                material::ed25519(bits)?;
                Ok((KeyFamily::Ed25519, 0, VerifyingKey::ed25519(bits)?))
            } else {
                Err("public key of an unsupported type (RSA, EC P-256/P-384 or Ed25519)".into())
            }
        }
        other => Err(refuse(other)),
    }
}

/// A PEM private key (`PRIVATE KEY`, i.e. PKCS#8, or `RSA PRIVATE KEY`) and its family.
pub(crate) fn private_key(pem: &str) -> Result<SigningKey, String> {
    let (label, doc) = decode(pem)?;
    match label {
        "RSA PRIVATE KEY" => rsa_private(doc.as_bytes()),
        "PRIVATE KEY" => {
            let info =
                PrivateKeyInfo::try_from(doc.as_bytes()).map_err(|_| "malformed private key (PKCS#8)".to_owned())?;
            let oid = info.algorithm.oid;
            if oid == RSA_ENCRYPTION {
                rsa_private(info.private_key)
            } else if oid == EC_PUBLIC_KEY {
                let family = ec_curve(info.algorithm.parameters_oid().ok())?;
                SigningKey::pkcs8(family, doc.as_bytes())
            } else if oid == ED25519 {
                SigningKey::pkcs8(KeyFamily::Ed25519, doc.as_bytes())
            } else {
                Err("private key of an unsupported type (RSA, EC P-256/P-384 or Ed25519)".into())
            }
        }
        other => Err(refuse(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;

    /// The test keys (tests/fixtures/keys), built in: the core's tests read no files.
    fn fixture(name: &str) -> &'static str {
        macro_rules! keys {
            ($($file:literal),*) => {
                match name {
                    $($file => include_str!(concat!("../../../tests/fixtures/keys/", $file)),)*
                    _ => "",
                }
            };
        }
        keys!(
            "rsa-public.pem",
            "rsa-public-pkcs1.pem",
            "ec256-public.pem",
            "ec384-public.pem",
            "ed25519-public.pem",
            "secp256k1-public.pem",
            "rsa-private.pem",
            "rsa-private-pkcs1.pem",
            "ec256-private.pem",
            "ec256-private-sec1.pem",
            "ec384-private.pem",
            "ed25519-private.pem"
        )
    }

    #[test]
    fn every_public_fixture_has_its_family() {
        for (name, family) in [
            ("rsa-public.pem", KeyFamily::Rsa),
            ("rsa-public-pkcs1.pem", KeyFamily::Rsa),
            ("ec256-public.pem", KeyFamily::P256),
            ("ec384-public.pem", KeyFamily::P384),
            ("ed25519-public.pem", KeyFamily::Ed25519),
        ] {
            assert_eq!(public_key(fixture(name)).map(|(f, _, _)| f).ok(), Some(family), "{name}");
        }
    }

    #[test]
    fn both_rsa_public_encodings_give_the_same_key() {
        let spki = public_key(fixture("rsa-public.pem")).unwrap().2;
        let pkcs1 = public_key(fixture("rsa-public-pkcs1.pem")).unwrap().2;
        assert_eq!(spki.jwk(), pkcs1.jwk());
    }

    #[test]
    fn every_private_fixture_has_its_family() {
        for (name, family) in [
            ("rsa-private.pem", KeyFamily::Rsa),
            ("rsa-private-pkcs1.pem", KeyFamily::Rsa),
            ("ec256-private.pem", KeyFamily::P256),
            ("ec384-private.pem", KeyFamily::P384),
            ("ed25519-private.pem", KeyFamily::Ed25519),
        ] {
            assert_eq!(private_key(fixture(name)).map(|k| k.family()).ok(), Some(family), "{name}");
        }
    }

    #[test]
    fn what_each_wrong_input_gets() {
        let err = |r: Result<PublicKey, String>| r.err().unwrap_or_default();
        assert!(err(public_key(fixture("secp256k1-public.pem"))).contains("unsupported curve"));
        assert!(err(public_key(fixture("rsa-private.pem"))).contains("private key"));
        assert!(err(public_key("")).contains("not a PEM key"));
        assert!(err(public_key("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----")).contains("not a PEM"));
        let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(err(public_key(cert)).contains("certificate"));
        // A valid PEM whose body is not a SubjectPublicKeyInfo.
        let empty = "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";
        assert!(err(public_key(empty)).contains("malformed"));

        let not_rsa = "-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n";
        assert!(err(public_key(not_rsa)).contains("malformed RSA public key"));

        let err = |r: Result<SigningKey, String>| r.err().unwrap_or_default();
        let not_rsa = "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n";
        assert!(err(private_key(not_rsa)).contains("malformed RSA private key"));
        assert!(err(private_key(fixture("ec256-private-sec1.pem"))).contains("openssl pkcs8 -topk8"));
        assert!(err(private_key(fixture("rsa-public.pem"))).contains("public key"));
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(err(private_key(encrypted)).contains("encrypted"));
        // A secret never appears in a message: the messages above are fixed texts.
    }
}
