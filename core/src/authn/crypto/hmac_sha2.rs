//! HMAC-SHA2 in pure Rust (RustCrypto's `hmac` over `sha2`), for the builds without
//! aws-lc: the `rust-crypto` backend and WASM, where HMAC stays in the module (it is
//! small, and a WebCrypto round trip would cost more than the MAC).

use hmac::Hmac;
use sha2::{Sha256, Sha384, Sha512};

use super::Hash;

/// HMAC-SHA2 of `message`, compared with `tag` in constant time.
pub(crate) fn hmac_verify(secret: &[u8], hash: Hash, message: &[u8], tag: &[u8]) -> bool {
    fn check<M: hmac::Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8], tag: &[u8]) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else { return false };
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
    match hash {
        Hash::Sha256 => check::<Hmac<Sha256>>(secret, message, tag),
        Hash::Sha384 => check::<Hmac<Sha384>>(secret, message, tag),
        Hash::Sha512 => check::<Hmac<Sha512>>(secret, message, tag),
    }
}

/// HMAC-SHA2 of `message`.
pub(crate) fn hmac_sign(secret: &[u8], hash: Hash, message: &[u8]) -> Vec<u8> {
    fn tag<M: hmac::Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8]) -> Vec<u8> {
        match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC takes keys of any length; this cannot happen.
            Err(_) => Vec::new(),
        }
    }
    match hash {
        Hash::Sha256 => tag::<Hmac<Sha256>>(secret, message),
        Hash::Sha384 => tag::<Hmac<Sha384>>(secret, message),
        Hash::Sha512 => tag::<Hmac<Sha512>>(secret, message),
    }
}
