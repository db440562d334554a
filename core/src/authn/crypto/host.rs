//! The host backend, for WASM: HMAC is computed here; an RSA, ECDSA or Ed25519
//! signature is handed to the host (WebCrypto's `crypto.subtle.verify`) as a
//! [`SignatureCheck`](super::SignatureCheck), and the decision is taken again with the
//! host's verdict. No asymmetric crypto is linked into the module.

use super::hmac_sha2::{hmac_sign, hmac_verify};
use super::{Algorithm, Verified};
use crate::authn::jwt::KeyFamily;

/// A public key (or an HMAC secret): the secret, or the public key as a JWK for the
/// host to import.
pub(crate) enum PublicKey {
    Hmac(Vec<u8>),
    Host,
}

impl PublicKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PublicKey::Hmac(secret.to_vec())
    }

    pub fn host() -> Self {
        PublicKey::Host
    }

    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Verified {
        match self {
            PublicKey::Hmac(secret) => Verified::from(hmac_verify(secret, alg.hash(), message, sig)),
            PublicKey::Host => Verified::Deferred,
        }
    }
}

/// A key to issue tokens with: HMAC only. An RSA, EC or Ed25519 signing key loads (its
/// structure is checked) but issuing with it is refused: WebCrypto's `sign` is
/// asynchronous, and a worker that issues tokens can hold an HMAC key.
pub(crate) enum PrivateKey {
    Hmac(Vec<u8>),
    Unsupported(KeyFamily),
}

impl PrivateKey {
    pub fn hmac(secret: &[u8]) -> Self {
        PrivateKey::Hmac(secret.to_vec())
    }

    pub fn rsa(_der: &[u8]) -> Result<Self, String> {
        Ok(PrivateKey::Unsupported(KeyFamily::Rsa))
    }

    pub fn pkcs8(family: KeyFamily, _pkcs8: &[u8]) -> Result<Self, String> {
        Ok(PrivateKey::Unsupported(family))
    }

    pub fn public_bytes(&self) -> Option<Vec<u8>> {
        None
    }

    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            PrivateKey::Hmac(secret) => Ok(hmac_sign(secret, alg.hash(), message)),
            PrivateKey::Unsupported(family) => Err(format!(
                "this build issues HMAC tokens only; {alg} tokens with a {family:?} key are issued by a native \
                 build (the CLI, Python or C)"
            )),
        }
    }
}
