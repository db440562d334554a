//! The pure-Rust backend (RustCrypto): for targets where aws-lc does not build. Keys are
//! parsed once into the crates' own verifying keys.

use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15;
use rsa::pss;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::{Sha256, Sha384, Sha512};

use super::Algorithm;
use super::hmac_sha2::{hmac_sign, hmac_verify};
use crate::authn::jwt::KeyFamily;

/// A public key (or an HMAC secret) ready to verify.
pub(crate) enum PublicKey {
    Hmac(Vec<u8>),
    Rsa(Box<RsaVerifiers>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PublicKey::Hmac(secret.to_vec())
    }

    /// `n` and `e`: big-endian, already checked (`material::rsa`).
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<Self, String> {
        let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
            .map_err(|_| "RSA public key refused by the crypto backend".to_owned())?;
        Ok(PublicKey::Rsa(Box::new(RsaVerifiers {
            rs256: pkcs1v15::VerifyingKey::new(key.clone()),
            rs384: pkcs1v15::VerifyingKey::new(key.clone()),
            rs512: pkcs1v15::VerifyingKey::new(key.clone()),
            ps256: pss::VerifyingKey::new(key.clone()),
            ps384: pss::VerifyingKey::new(key.clone()),
            ps512: pss::VerifyingKey::new(key),
        })))
    }

    /// `point`: the uncompressed SEC1 point, already checked to be on the curve.
    pub fn ec(family: KeyFamily, point: &[u8]) -> Result<Self, String> {
        let refused = |_| "EC public key refused by the crypto backend".to_owned();
        match family {
            KeyFamily::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map(PublicKey::P256).map_err(refused),
            KeyFamily::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map(PublicKey::P384).map_err(refused),
            _ => Err("not an EC key".into()),
        }
    }

    pub fn ed25519(x: &[u8]) -> Result<Self, String> {
        let bytes = <&[u8; 32]>::try_from(x).map_err(|_| "Ed25519 public key is not 32 bytes".to_owned())?;
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey::Ed25519)
            .map_err(|_| "Ed25519 public key refused by the crypto backend".into())
    }

    /// True when `signature` is valid over `message` with `alg` (a fitting algorithm).
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Hmac(secret) => hmac_verify(secret, alg.hash(), message, sig),
            PublicKey::Rsa(key) => rsa_verify(key, alg, message, sig),
            PublicKey::P256(key) => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| key.verify(message, &s).is_ok())
            }
            PublicKey::P384(key) => {
                p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| key.verify(message, &s).is_ok())
            }
            PublicKey::Ed25519(key) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| key.verify(message, &s).is_ok())
            }
        }
    }
}

/// An RSA key's verifiers, one per algorithm, built once.
pub(crate) struct RsaVerifiers {
    rs256: pkcs1v15::VerifyingKey<Sha256>,
    rs384: pkcs1v15::VerifyingKey<Sha384>,
    rs512: pkcs1v15::VerifyingKey<Sha512>,
    ps256: pss::VerifyingKey<Sha256>,
    ps384: pss::VerifyingKey<Sha384>,
    ps512: pss::VerifyingKey<Sha512>,
}

fn rsa_verify(keys: &RsaVerifiers, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    let pkcs1 = || pkcs1v15::Signature::try_from(sig).ok();
    let pss = || pss::Signature::try_from(sig).ok();
    match alg {
        Algorithm::RS256 => pkcs1().is_some_and(|s| keys.rs256.verify(message, &s).is_ok()),
        Algorithm::RS384 => pkcs1().is_some_and(|s| keys.rs384.verify(message, &s).is_ok()),
        Algorithm::RS512 => pkcs1().is_some_and(|s| keys.rs512.verify(message, &s).is_ok()),
        Algorithm::PS256 => pss().is_some_and(|s| keys.ps256.verify(message, &s).is_ok()),
        Algorithm::PS384 => pss().is_some_and(|s| keys.ps384.verify(message, &s).is_ok()),
        Algorithm::PS512 => pss().is_some_and(|s| keys.ps512.verify(message, &s).is_ok()),
        _ => false,
    }
}

/// A key to issue tokens with.
pub(crate) enum PrivateKey {
    Hmac(Vec<u8>),
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl PrivateKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PrivateKey::Hmac(secret.to_vec())
    }

    /// `der`: the PKCS#1 `RSAPrivateKey`.
    pub fn rsa(der: &[u8]) -> Result<Self, String> {
        RsaPrivateKey::from_pkcs1_der(der)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|_| "malformed RSA private key".into())
    }

    /// `pkcs8`: the PKCS#8 document of an EC or Ed25519 key.
    pub fn pkcs8(family: KeyFamily, pkcs8: &[u8]) -> Result<Self, String> {
        use pkcs8::DecodePrivateKey as _;
        let refused = |_| "the signing key cannot sign (malformed key)".to_owned();
        match family {
            KeyFamily::P256 => p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map(PrivateKey::P256).map_err(refused),
            KeyFamily::P384 => p384::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map(PrivateKey::P384).map_err(refused),
            KeyFamily::Ed25519 => ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8)
                .map(|k| PrivateKey::Ed25519(Box::new(k)))
                .map_err(refused),
            _ => Err("not an EC or Ed25519 key".into()),
        }
    }

    /// The public half of an EC (uncompressed SEC1) or Ed25519 key.
    pub fn public_bytes(&self) -> Option<Vec<u8>> {
        match self {
            PrivateKey::P256(k) => Some(k.verifying_key().to_encoded_point(false).as_bytes().to_vec()),
            PrivateKey::P384(k) => Some(k.verifying_key().to_encoded_point(false).as_bytes().to_vec()),
            PrivateKey::Ed25519(k) => Some(k.verifying_key().as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Signs `message` with `alg` (a fitting algorithm).
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, String> {
        // The one read outside the engine's inputs: entropy, to blind RSA signing and salt
        // PSS when a token is issued (aws-lc's signer does the same). No decision uses it.
        let mut rng = rand_core::OsRng;
        match self {
            PrivateKey::Hmac(secret) => Ok(hmac_sign(secret, alg.hash(), message)),
            PrivateKey::Rsa(key) => {
                let key = (**key).clone();
                // Blinded (a random factor per signature), against timing attacks.
                let sig = match alg {
                    Algorithm::RS256 => {
                        pkcs1v15::SigningKey::<Sha256>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    Algorithm::RS384 => {
                        pkcs1v15::SigningKey::<Sha384>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    Algorithm::RS512 => {
                        pkcs1v15::SigningKey::<Sha512>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    Algorithm::PS256 => {
                        pss::BlindedSigningKey::<Sha256>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    Algorithm::PS384 => {
                        pss::BlindedSigningKey::<Sha384>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    Algorithm::PS512 => {
                        pss::BlindedSigningKey::<Sha512>::new(key).sign_with_rng(&mut rng, message).to_vec()
                    }
                    _ => return Err(format!("an RSA key cannot sign {alg}")),
                };
                Ok(sig)
            }
            PrivateKey::P256(k) => Ok(p256::ecdsa::Signature::to_vec(&k.sign(message))),
            PrivateKey::P384(k) => Ok(p384::ecdsa::Signature::to_vec(&k.sign(message))),
            PrivateKey::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
        }
    }
}
