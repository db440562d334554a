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
///
/// The grammar is `pem-rfc7468`'s, as `der::Document::from_pem` reads it (a test compares
/// the two on a family of well- and malformed texts): an optional preamble ending in a
/// line break, `-----BEGIN LABEL-----`, Base64 in lines of exactly 64 characters but the
/// last (CRLF, CR or LF between them), `-----END LABEL-----` with the same label. Written
/// here with the `base64` crate the core already uses, rather than through `der`'s PEM
/// reader, which links a second Base64 decoder (`base64ct`): about 12 KB of the .wasm.
/// Timing is not a concern here: keys are read once, at load.
fn decode(pem: &str) -> Result<(&str, Document), String> {
    let not_pem = || "not a PEM key".to_owned();
    let (label, der) = pem_body(pem.trim()).ok_or_else(not_pem)?;
    // `Document` checks that the body is one whole DER value, as `from_pem` did.
    Ok((label, Document::try_from(der).map_err(|_| not_pem())?))
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";
/// RFC 7468's line width for the Base64 body.
const LINE_WIDTH: usize = 64;

/// The label and the decoded body, or `None` for anything that is not a PEM text.
fn pem_body(text: &str) -> Option<(&str, Vec<u8>)> {
    // A preamble may precede the boundary, up to a line feed; no NUL in it.
    let start = if text.starts_with(BEGIN) { 0 } else { text.find(&format!("\n{BEGIN}"))? + 1 };
    if text.get(..start)?.contains('\0') {
        return None;
    }
    let rest = text.get(start + BEGIN.len()..)?;
    let label_len = rest.find('-')?;
    let label = rest.get(..label_len)?;
    if !valid_label(label) {
        return None;
    }
    let body = strip_leading_eol(rest.get(label_len..)?.strip_prefix(DASHES)?)?;
    let body = strip_trailing_eol(body).unwrap_or(body).strip_suffix(DASHES)?;
    let body = body.strip_suffix(label)?.strip_suffix(END)?;
    let base64 = strip_trailing_eol(body)?;
    decode_lines(base64).map(|der| (label, der))
}

/// Labels as pem-rfc7468 reads them: printable ASCII but `-`, single spaces or tabs
/// between words, none first.
fn valid_label(label: &str) -> bool {
    let mut last_blank = true;
    for b in label.bytes() {
        match b {
            0x21..=0x2c | 0x2e..=0x7e => last_blank = false,
            b' ' | b'\t' if !last_blank => last_blank = true,
            _ => return false,
        }
    }
    true
}

fn strip_leading_eol(s: &str) -> Option<&str> {
    s.strip_prefix("\r\n").or_else(|| s.strip_prefix('\n')).or_else(|| s.strip_prefix('\r'))
}

fn strip_trailing_eol(s: &str) -> Option<&str> {
    s.strip_suffix("\r\n").or_else(|| s.strip_suffix('\n')).or_else(|| s.strip_suffix('\r'))
}

/// Base64 in lines of exactly [`LINE_WIDTH`] characters but the last, canonical
/// padding required.
fn decode_lines(mut text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let mut joined = String::with_capacity(text.len());
    loop {
        match text.get(LINE_WIDTH..) {
            None | Some("") => {
                joined.push_str(strip_trailing_eol(text).unwrap_or(text));
                break;
            }
            Some(after) => {
                joined.push_str(text.get(..LINE_WIDTH)?);
                text = strip_leading_eol(after)?;
            }
        }
    }
    base64::engine::general_purpose::STANDARD.decode(joined).ok()
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

    /// The hand-written reader gives what `der`'s PEM reader gives (label and body, or
    /// an error) on every fixture and on a family of variations of each: line endings,
    /// preambles, line widths, labels, padding, stray characters.
    #[test]
    fn pem_reads_as_der_reads_it() {
        let names = [
            "rsa-public.pem",
            "rsa-public-pkcs1.pem",
            "ec256-public.pem",
            "ec384-public.pem",
            "ed25519-public.pem",
            "rsa-private.pem",
            "ec256-private.pem",
            "ec384-private.pem",
            "ed25519-private.pem",
            "secp256k1-public.pem",
        ];
        let mut texts: Vec<String> = vec![
            String::new(),
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n".into(),
            "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN -----\nMAA=\n-----END -----".into(),
            "-----BEGIN  PUBLIC KEY-----\nMAA=\n-----END  PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC  KEY-----\nMAA=\n-----END PUBLIC  KEY-----".into(),
            "-----BEGIN PUBLIC KEY -----\nMAA=\n-----END PUBLIC KEY -----".into(),
            "-----BEGIN PUBLIC\tKEY-----\nMAA=\n-----END PUBLIC\tKEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PRIVATE KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY----".into(),
            "-----BEGIN PUBLIC KEY-----MAA=\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA=-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA=\n\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA= \n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAB=\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMA==\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\nMAA=\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\ntrailer".into(),
            "-----BEGIN PUBLIC KEY-----\nMAÉ=\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KÉY-----\nMAA=\n-----END PUBLIC KÉY-----".into(),
            "preamble\0\n-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----".into(),
            "-----END PUBLIC KEY-----".into(),
        ];
        for name in names {
            let pem = fixture(name);
            assert!(!pem.is_empty(), "{name}");
            let body: Vec<&str> = pem.lines().collect();
            texts.push(pem.to_owned());
            for eol in ["\r\n", "\r", "\n\n"] {
                texts.push(body.join(eol));
            }
            texts.push(format!("some preamble\nmore of it\n{pem}"));
            texts.push(format!("preamble without a line break {pem}"));
            texts.push(format!("  \n{pem}\n\t "));
            texts.push(pem.replacen("-----\n", "-----\n\n", 1));
            texts.push(pem.replacen("-----BEGIN ", "-----BEGIN  ", 1));
            texts.push(pem.replacen(" KEY-----", " KEY -----", 2));
            texts.push(pem.replacen("KEY-----\n", "KEY-----", 1));
            texts.push(pem.replacen("\n-----END", "-----END", 1));
            texts.push(pem.replacen("\n-----END", "\n\n-----END", 1));
            // Lines wrapped at 76 and at 63 characters, and one stray character in a line.
            let base64: String = body.iter().filter(|l| !l.starts_with("-----")).copied().collect();
            let (first, last) = (body.first().copied().unwrap_or(""), body.last().copied().unwrap_or(""));
            for width in [63, 64, 65, 76] {
                let lines: Vec<String> =
                    base64.as_bytes().chunks(width).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
                texts.push(format!("{first}\n{}\n{last}", lines.join("\n")));
                texts.push(format!("{first}\n{}\n{last}\n", lines.join("\r\n")));
            }
            for (i, c) in [(3, '*'), (10, ' '), (64, ' '), (base64.len().saturating_sub(1), 'A')] {
                let mut changed = base64.clone();
                if i < changed.len() {
                    changed.replace_range(i..=i, &c.to_string());
                }
                let lines: Vec<String> =
                    changed.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
                texts.push(format!("{first}\n{}\n{last}", lines.join("\n")));
            }
            texts.push(pem.replace('=', ""));
        }
        let mut oks = 0;
        for text in &texts {
            let ours = decode(text).map(|(label, doc)| (label.to_owned(), doc.as_bytes().to_vec())).ok();
            let theirs =
                Document::from_pem(text.trim()).map(|(label, doc)| (label.to_owned(), doc.as_bytes().to_vec())).ok();
            assert_eq!(ours, theirs, "{text:?}");
            oks += usize::from(ours.is_some());
        }
        // Both outcomes are exercised.
        assert!(oks >= 3 * names.len() && oks < texts.len(), "{oks} of {}", texts.len());
    }
}
