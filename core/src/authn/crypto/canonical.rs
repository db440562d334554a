//! The signature checks the core makes itself, before any backend sees a signature, so
//! that every backend gives the same answer on the edge cases where crypto libraries
//! differ (or might, from one version to the next):
//!
//! - RSA: the signature is exactly as long as the modulus (checked by the caller) and,
//!   read as a big-endian integer, below the modulus (RFC 8017 section 5.2.2);
//! - ECDSA (JWS form, `R || S`): `r` and `s` each in `[1, n - 1]` for the curve's order
//!   `n`. A high `s` is accepted: JWS does not ask for low-S signatures, and both
//!   backends accept them;
//! - Ed25519: `S` below the group order `L` (RFC 8032 section 5.1.7), so a signature
//!   has one encoding.

use std::cmp::Ordering;

use super::super::jwt::KeyFamily;

/// The order of P-256, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order of P-384, big-endian.
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0,
    0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// The order `L` of the Ed25519 group, little-endian (as `S` is encoded).
const ED25519_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Compares two big-endian integers of the same length.
fn cmp_be(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// True when a big-endian integer is in `[1, order - 1]`.
fn in_scalar_range(x: &[u8], order: &[u8]) -> bool {
    x.len() == order.len() && x.iter().any(|b| *b != 0) && cmp_be(x, order) == Ordering::Less
}

/// True when the signature passes the core's own checks for a key of `family`.
/// `modulus` is the RSA modulus, big-endian without leading zeros (empty for others).
pub(crate) fn acceptable(family: KeyFamily, signature: &[u8], modulus: &[u8]) -> bool {
    match family {
        KeyFamily::Hmac => true,
        KeyFamily::Rsa => signature.len() == modulus.len() && cmp_be(signature, modulus) == Ordering::Less,
        KeyFamily::P256 | KeyFamily::P384 => {
            let order: &[u8] = if family == KeyFamily::P256 { &P256_ORDER } else { &P384_ORDER };
            let (r, s) = signature.split_at(signature.len() / 2);
            signature.len() == 2 * order.len() && in_scalar_range(r, order) && in_scalar_range(s, order)
        }
        KeyFamily::Ed25519 => {
            let Some(s) = signature.get(32..64) else { return false };
            signature.len() == 64 && s.iter().rev().cmp(ED25519_ORDER.iter().rev()) == Ordering::Less
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_scalars_are_in_range() {
        let mut sig = [1u8; 64];
        assert!(acceptable(KeyFamily::P256, &sig, &[]));
        sig[..32].copy_from_slice(&P256_ORDER);
        assert!(!acceptable(KeyFamily::P256, &sig, &[]), "r = n");
        sig[..32].fill(0);
        assert!(!acceptable(KeyFamily::P256, &sig, &[]), "r = 0");
        let mut below = P256_ORDER;
        below[31] -= 1;
        sig[..32].copy_from_slice(&below);
        sig[32..].copy_from_slice(&below);
        assert!(acceptable(KeyFamily::P256, &sig, &[]), "n - 1 (a high S) is accepted");
        sig[32..].fill(0xff);
        assert!(!acceptable(KeyFamily::P256, &sig, &[]), "s > n");
        assert!(!acceptable(KeyFamily::P256, &[1u8; 63], &[]));
        assert!(!acceptable(KeyFamily::P384, &[1u8; 64], &[]));
        assert!(acceptable(KeyFamily::P384, &[1u8; 96], &[]));
    }

    #[test]
    fn ed25519_s_is_below_the_order() {
        let mut sig = [0u8; 64];
        assert!(acceptable(KeyFamily::Ed25519, &sig, &[]));
        sig[32..].copy_from_slice(&ED25519_ORDER);
        assert!(!acceptable(KeyFamily::Ed25519, &sig, &[]), "S = L");
        sig[32] -= 1;
        assert!(acceptable(KeyFamily::Ed25519, &sig, &[]), "S = L - 1");
        sig[63] = 0x20;
        assert!(!acceptable(KeyFamily::Ed25519, &sig, &[]), "S > L");
    }

    #[test]
    fn rsa_signatures_are_below_the_modulus() {
        let n = [0xc0u8; 256];
        assert!(acceptable(KeyFamily::Rsa, &[0xbf; 256], &n));
        assert!(!acceptable(KeyFamily::Rsa, &n, &n), "s = n");
        assert!(!acceptable(KeyFamily::Rsa, &[0xff; 256], &n));
        assert!(!acceptable(KeyFamily::Rsa, &[0x01; 255], &n), "short");
    }
}
