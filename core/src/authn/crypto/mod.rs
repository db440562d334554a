//! The crypto seam. The core makes every JWT check itself (shape, header, algorithm
//! allowlist, key selection and the key's binding to its algorithms, claims, times) and
//! asks a backend one thing: is this signature valid over this signing input, for this
//! key and algorithm. Keys are checked once at load (`material`), then prepared into the
//! backend's own form, so a verification parses no key and builds no verifier.
//!
//! Backends, chosen at build time by cargo features (the first one enabled wins):
//! - `aws-lc` (default): aws-lc-rs, for native builds;
//! - `rust-crypto`: RustCrypto's pure-Rust crates, for targets where aws-lc does not
//!   build;
//! - `host-crypto`: HMAC in pure Rust, every other signature checked by the host (WASM
//!   with WebCrypto) through [`deferred`].
//!
//! Before any backend sees a signature, `canonical` checks its length and range, so the
//! backends agree on the edge cases (high-S ECDSA, RSA signatures at or above the
//! modulus, Ed25519 `S >= L`).

mod algorithm;
mod canonical;
pub(crate) mod deferred;
#[cfg(any(feature = "rust-crypto", feature = "host-crypto"))]
mod hmac_sha2;

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(all(feature = "host-crypto", not(any(feature = "aws-lc", feature = "rust-crypto"))))]
mod host;
#[cfg(feature = "rust-crypto")]
#[cfg_attr(all(feature = "aws-lc", not(test)), expect(dead_code, reason = "aws-lc wins; compared with it in tests"))]
mod rust_crypto;

#[cfg(feature = "aws-lc")]
use aws_lc as backend;
#[cfg(all(feature = "host-crypto", not(any(feature = "aws-lc", feature = "rust-crypto"))))]
use host as backend;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
use rust_crypto as backend;

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto", feature = "host-crypto")))]
compile_error!("admit needs a crypto backend: enable the `aws-lc`, `rust-crypto` or `host-crypto` feature");

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) use algorithm::{Algorithm, Hash};

use super::jwt::KeyFamily;
use super::material;

/// The name of the backend this build verifies with.
pub const BACKEND: &str = if cfg!(feature = "aws-lc") {
    "aws-lc"
} else if cfg!(feature = "rust-crypto") {
    "rust-crypto"
} else {
    "host"
};

/// A backend's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    Valid,
    Invalid,
    /// The host must check this signature (`host-crypto` builds only).
    #[cfg_attr(
        any(feature = "aws-lc", feature = "rust-crypto"),
        expect(dead_code, reason = "only the host backend defers")
    )]
    Deferred,
}

impl From<bool> for Verified {
    fn from(ok: bool) -> Self {
        if ok { Verified::Valid } else { Verified::Invalid }
    }
}

/// The next key handle: unique per key prepared in this process.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn next_handle() -> u64 {
    NEXT_HANDLE.fetch_add(1, Ordering::Relaxed)
}

/// A verification key, its material checked and prepared for the backend.
pub(crate) struct VerifyingKey {
    family: KeyFamily,
    handle: u64,
    /// RSA: the modulus, big-endian without leading zeros (for `canonical`).
    modulus: Box<[u8]>,
    /// The public key as a JWK, for a host that checks the signature (`host-crypto`).
    jwk: Option<Arc<str>>,
    backend: backend::PublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (an HMAC key is a secret).
        f.debug_struct("VerifyingKey")
            .field("family", &self.family)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl VerifyingKey {
    fn new(family: KeyFamily, modulus: &[u8], jwk: Option<String>, backend: backend::PublicKey) -> Self {
        VerifyingKey { family, handle: next_handle(), modulus: modulus.into(), jwk: jwk.map(Arc::from), backend }
    }

    /// An HMAC key (a secret: never handed to a host).
    pub fn hmac(secret: &[u8]) -> Self {
        Self::new(KeyFamily::Hmac, &[], None, backend::PublicKey::hmac(secret))
    }

    /// An RSA key, checked by `material::rsa`.
    pub fn rsa(key: material::Rsa<'_>) -> Result<Self, String> {
        let jwk = format!(r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#, b64(key.n), b64(key.e));
        #[cfg(feature = "aws-lc")]
        let prepared = backend::PublicKey::rsa(key.pkcs1_der()?)?;
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
        let prepared = backend::PublicKey::rsa(key.n, key.e)?;
        #[cfg(all(feature = "host-crypto", not(any(feature = "aws-lc", feature = "rust-crypto"))))]
        let prepared = backend::PublicKey::host();
        Ok(Self::new(KeyFamily::Rsa, key.n, Some(jwk), prepared))
    }

    /// An EC key: its uncompressed SEC1 point, checked by `material::ec_point`.
    pub fn ec(family: KeyFamily, point: &[u8]) -> Result<Self, String> {
        let size = material::coordinate_len(family);
        let (x, y) = point.get(1..).unwrap_or_default().split_at(size.min(point.len().saturating_sub(1)));
        let crv = if family == KeyFamily::P384 { "P-384" } else { "P-256" };
        let jwk = format!(r#"{{"kty":"EC","crv":"{crv}","x":"{}","y":"{}"}}"#, b64(x), b64(y));
        #[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
        let prepared = backend::PublicKey::ec(family, point)?;
        #[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
        let prepared = backend::PublicKey::host();
        Ok(Self::new(family, &[], Some(jwk), prepared))
    }

    /// An Ed25519 key, checked by `material::ed25519`.
    pub fn ed25519(x: &[u8]) -> Result<Self, String> {
        let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, b64(x));
        #[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
        let prepared = backend::PublicKey::ed25519(x)?;
        #[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
        let prepared = backend::PublicKey::host();
        Ok(Self::new(KeyFamily::Ed25519, &[], Some(jwk), prepared))
    }

    /// The key's handle (see [`deferred::SignatureCheck::key`]).
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// The public key as a JWK (`None` for an HMAC key).
    pub fn jwk(&self) -> Option<&Arc<str>> {
        self.jwk.as_ref()
    }

    /// Checks `signature` over `message` with `alg`, an algorithm of the key's family.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Verified {
        if !canonical::acceptable(self.family, signature, &self.modulus) {
            return Verified::Invalid;
        }
        #[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
        return Verified::from(self.backend.verify(alg, message, signature));
        #[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
        return self.backend.verify(alg, message, signature);
    }
}

/// A key for issuing tokens.
pub(crate) struct SigningKey {
    family: KeyFamily,
    backend: backend::PrivateKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("family", &self.family).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// An HMAC key.
    pub fn hmac(secret: &[u8]) -> Self {
        SigningKey { family: KeyFamily::Hmac, backend: backend::PrivateKey::hmac(secret) }
    }

    /// An RSA key: its PKCS#1 `RSAPrivateKey`.
    pub fn rsa(der: &[u8]) -> Result<Self, String> {
        Ok(SigningKey { family: KeyFamily::Rsa, backend: backend::PrivateKey::rsa(der)? })
    }

    /// An EC or Ed25519 key: its PKCS#8 document.
    pub fn pkcs8(family: KeyFamily, der: &[u8]) -> Result<Self, String> {
        Ok(SigningKey { family, backend: backend::PrivateKey::pkcs8(family, der)? })
    }

    /// The key's family.
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// The public half of an EC (uncompressed SEC1 point) or Ed25519 key, when the
    /// backend can give it.
    pub fn public_bytes(&self) -> Option<Vec<u8>> {
        self.backend.public_bytes()
    }

    /// The signature of `message` with `alg`, an algorithm of the key's family.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, String> {
        self.backend.sign(alg, message)
    }
}

#[cfg(all(test, feature = "aws-lc", feature = "rust-crypto"))]
mod differential;
