//! The aws-lc-rs backend: native builds (CLI, Python wheel, libadmit, benches).
//!
//! Each public key is parsed once into aws-lc's own `EVP_PKEY` (`ParsedPublicKey`), so
//! a verification does no key parsing. An RSA key serves six algorithms and aws-lc
//! binds a parsed key to one, so RSA keys are parsed per algorithm on first use.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair};
use aws_lc_rs::{hmac, signature::VerificationAlgorithm};

use super::{Algorithm, Hash};
use crate::authn::jwt::KeyFamily;

/// An RSA key: its DER, parsed per algorithm on first use.
pub(crate) struct RsaKey {
    der: Vec<u8>,
    parsed: [OnceLock<Option<ParsedPublicKey>>; 6],
}

/// A public key (or an HMAC secret) ready to verify.
pub(crate) enum PublicKey {
    /// One key per hash (SHA-256, -384, -512): aws-lc binds a key to its hash.
    Hmac(Box<[hmac::Key; 3]>),
    Rsa(Box<RsaKey>),
    Ec(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
}

fn rsa_algorithm(alg: Algorithm) -> Option<(usize, &'static dyn VerificationAlgorithm)> {
    Some(match alg {
        Algorithm::RS256 => (0, &signature::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => (1, &signature::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => (2, &signature::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => (3, &signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => (4, &signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => (5, &signature::RSA_PSS_2048_8192_SHA512),
        _ => return None,
    })
}

impl PublicKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PublicKey::Hmac(Box::new([
            hmac::Key::new(hmac::HMAC_SHA256, secret),
            hmac::Key::new(hmac::HMAC_SHA384, secret),
            hmac::Key::new(hmac::HMAC_SHA512, secret),
        ]))
    }

    /// `der`: the PKCS#1 `RSAPublicKey`.
    pub fn rsa(der: Vec<u8>) -> Result<Self, String> {
        // Parsed for RS256 now, so that a key aws-lc refuses fails at load.
        let rs256 = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &der)
            .map_err(|_| "RSA public key refused by the crypto backend".to_owned())?;
        let parsed: [OnceLock<Option<ParsedPublicKey>>; 6] = Default::default();
        if let Some(slot) = parsed.first() {
            let _ = slot.set(Some(rs256));
        }
        Ok(PublicKey::Rsa(Box::new(RsaKey { der, parsed })))
    }

    /// `point`: the uncompressed SEC1 point, already checked to be on the curve.
    pub fn ec(family: KeyFamily, point: &[u8]) -> Result<Self, String> {
        let alg: &'static dyn VerificationAlgorithm = match family {
            KeyFamily::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            KeyFamily::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return Err("not an EC key".into()),
        };
        ParsedPublicKey::new(alg, point)
            .map(PublicKey::Ec)
            .map_err(|_| "EC public key refused by the crypto backend".into())
    }

    pub fn ed25519(x: &[u8]) -> Result<Self, String> {
        ParsedPublicKey::new(&signature::ED25519, x)
            .map(PublicKey::Ed25519)
            .map_err(|_| "Ed25519 public key refused by the crypto backend".into())
    }

    /// True when `signature` is valid over `message` with `alg` (a fitting algorithm).
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Hmac(keys) => {
                let [sha256, sha384, sha512] = &**keys;
                let key = match alg.hash() {
                    Hash::Sha256 => sha256,
                    Hash::Sha384 => sha384,
                    Hash::Sha512 => sha512,
                };
                hmac::verify(key, message, sig).is_ok()
            }
            PublicKey::Rsa(key) => {
                let Some((i, algorithm)) = rsa_algorithm(alg) else { return false };
                let Some(slot) = key.parsed.get(i) else { return false };
                slot.get_or_init(|| ParsedPublicKey::new(algorithm, &key.der).ok())
                    .as_ref()
                    .is_some_and(|k| k.verify_sig(message, sig).is_ok())
            }
            PublicKey::Ec(k) | PublicKey::Ed25519(k) => k.verify_sig(message, sig).is_ok(),
        }
    }
}

/// A key to issue tokens with.
pub(crate) enum PrivateKey {
    Hmac(Vec<u8>),
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl PrivateKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PrivateKey::Hmac(secret.to_vec())
    }

    /// `der`: the PKCS#1 `RSAPrivateKey`.
    pub fn rsa(der: &[u8]) -> Result<Self, String> {
        RsaKeyPair::from_der(der).map(PrivateKey::Rsa).map_err(|_| "malformed RSA private key".into())
    }

    /// `pkcs8`: the PKCS#8 document of an EC or Ed25519 key.
    pub fn pkcs8(family: KeyFamily, pkcs8: &[u8]) -> Result<Self, String> {
        let refused = |_| "the signing key cannot sign (malformed key)".to_owned();
        match family {
            KeyFamily::P256 => EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map(PrivateKey::Ec)
                .map_err(refused),
            KeyFamily::P384 => EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8)
                .map(PrivateKey::Ec)
                .map_err(refused),
            KeyFamily::Ed25519 => {
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map(PrivateKey::Ed25519).map_err(refused)
            }
            _ => Err("not an EC or Ed25519 key".into()),
        }
    }

    /// The public half, for a check that the key signs what its public key verifies.
    pub fn public_bytes(&self) -> Option<Vec<u8>> {
        match self {
            PrivateKey::Ec(k) => Some(k.public_key().as_ref().to_vec()),
            PrivateKey::Ed25519(k) => Some(k.public_key().as_ref().to_vec()),
            _ => None,
        }
    }

    /// Signs `message` with `alg` (a fitting algorithm).
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, String> {
        let failed = |_| format!("cannot sign with {alg}");
        match self {
            PrivateKey::Hmac(secret) => {
                let a = match alg.hash() {
                    Hash::Sha256 => hmac::HMAC_SHA256,
                    Hash::Sha384 => hmac::HMAC_SHA384,
                    Hash::Sha512 => hmac::HMAC_SHA512,
                };
                Ok(hmac::sign(&hmac::Key::new(a, secret), message).as_ref().to_vec())
            }
            PrivateKey::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(format!("an RSA key cannot sign {alg}")),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message, &mut out).map_err(failed)?;
                Ok(out)
            }
            PrivateKey::Ec(k) => k.sign(&SystemRandom::new(), message).map(|s| s.as_ref().to_vec()).map_err(failed),
            PrivateKey::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}
