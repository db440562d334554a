//! Checks of public key material, shared by the JWKS reader and the PEM reader.
//!
//! A key is checked once, at load, so that nothing a token can bring reaches a crypto
//! backend with a key it could panic on, or with a key too weak to mean anything.
//! jsonwebtoken's RustCrypto backend (11.1) slices an Ed25519 key as `bytes[..32]`,
//! which panics on a shorter key and silently drops the tail of a longer one; its EC
//! and RSA constructors return errors, but only when a token is verified, so a bad key
//! would load and then refuse every token. Here:
//!
//! - RSA: a modulus of [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits, odd; a public exponent
//!   that is odd, at least 3 and at most [`MAX_RSA_EXPONENT`] (the backend refuses
//!   moduli above 4096 bits at verification, so a longer key could never verify);
//! - EC: `x` and `y` of exactly the curve's size (32 bytes for P-256, 48 for P-384),
//!   a point on the curve (so not the identity), checked by `curve` in every build;
//! - Ed25519: exactly 32 bytes that decode to a point (RFC 8032 section 5.1.3: `y`
//!   below p, so one encoding per point), of large order (a small-order key, the
//!   identity say, verifies forged signatures); checked by `curve` in every build;
//! - HMAC: at least one byte here; the RFC 7518 length for each algorithm is checked
//!   by the caller, which knows the algorithms.
//!
//! Messages name what is wrong and sizes, never key bytes.

use super::jwt::KeyFamily;

/// The shortest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;
/// The longest RSA modulus accepted, in bits: the RustCrypto backend verifies with at
/// most this (`rsa::RsaPublicKey::MAX_SIZE`).
pub(crate) const MAX_RSA_BITS: usize = 4096;
/// The largest RSA public exponent accepted.
pub(crate) const MAX_RSA_EXPONENT: u64 = u32::MAX as u64;

/// Big-endian bytes without their leading zeros.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

/// The number of bits of a big-endian integer without leading zeros.
fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(top) => (b.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// A checked RSA public key: modulus and exponent without leading zeros.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rsa<'a> {
    pub n: &'a [u8],
    pub e: &'a [u8],
}

impl Rsa<'_> {
    /// The modulus length in bytes: the length of every signature the key makes.
    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    /// The key as a PKCS#1 `RSAPublicKey` (DER).
    #[cfg_attr(not(feature = "aws-lc"), expect(dead_code, reason = "only aws-lc takes RSA keys as DER"))]
    pub fn pkcs1_der(&self) -> Result<Vec<u8>, String> {
        use der::Encode as _;
        let malformed = |_| "malformed RSA public key".to_owned();
        let key = pkcs1::RsaPublicKey {
            modulus: pkcs1::UintRef::new(self.n).map_err(malformed)?,
            public_exponent: pkcs1::UintRef::new(self.e).map_err(malformed)?,
        };
        key.to_der().map_err(malformed)
    }
}

/// Checks an RSA public key given as big-endian modulus and exponent.
pub(crate) fn rsa<'a>(n: &'a [u8], e: &'a [u8]) -> Result<Rsa<'a>, String> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    let bits = bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err(format!("RSA modulus of {bits} bits; at least {MIN_RSA_BITS} are needed"));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!("RSA modulus of {bits} bits; at most {MAX_RSA_BITS} are supported"));
    }
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err("RSA modulus is even".into());
    }
    if e.len() > 8 {
        return Err("RSA public exponent is too large".into());
    }
    let value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if !(3..=MAX_RSA_EXPONENT).contains(&value) || value & 1 == 0 {
        return Err(format!("RSA public exponent must be odd, at least 3 and at most {MAX_RSA_EXPONENT}"));
    }
    Ok(Rsa { n, e })
}

/// The size of one coordinate of a curve's points, in bytes.
pub(crate) fn coordinate_len(family: KeyFamily) -> usize {
    if family == KeyFamily::P384 { 48 } else { 32 }
}

/// Checks an uncompressed SEC1 point (`0x04 || x || y`) on the curve of `family`.
pub(crate) fn ec_point(family: KeyFamily, point: &[u8]) -> Result<(), String> {
    let size = coordinate_len(family);
    if point.len() != 1 + 2 * size || point.first() != Some(&4) {
        return Err(format!("EC public key is not an uncompressed point of {size}-byte coordinates"));
    }
    let (x, y) = point.get(1..).unwrap_or_default().split_at(size);
    if super::curve::on_curve(family, x, y) { Ok(()) } else { Err("EC public key is not a point on its curve".into()) }
}

/// Checks EC coordinates `x` and `y` and returns the uncompressed SEC1 point.
pub(crate) fn ec_coordinates(family: KeyFamily, x: &[u8], y: &[u8]) -> Result<Vec<u8>, String> {
    let size = coordinate_len(family);
    if x.len() != size || y.len() != size {
        return Err(format!("EC coordinates of {} and {} bytes; this curve needs {size} each", x.len(), y.len()));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    ec_point(family, &point)?;
    Ok(point)
}

/// Checks an Ed25519 public key.
pub(crate) fn ed25519(x: &[u8]) -> Result<(), String> {
    let Ok(bytes) = <&[u8; 32]>::try_from(x) else {
        return Err(format!("Ed25519 public key of {} bytes; it must be 32", x.len()));
    };
    match super::curve::ed25519(bytes) {
        super::curve::EdPoint::Fine => Ok(()),
        super::curve::EdPoint::SmallOrder => Err("Ed25519 public key is of small order (a weak key)".into()),
        super::curve::EdPoint::Invalid => Err("Ed25519 public key is not a point on the curve".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        if let Some(top) = n.first_mut() {
            *top = 0xff >> ((8 - bits % 8) % 8);
        }
        n
    }

    #[test]
    fn rsa_bounds() {
        let e = [1, 0, 1];
        for bits in [0, 1, 8, 512, 1024, 2047, 4097, 8192, 16384] {
            assert!(rsa(&modulus(bits), &e).is_err(), "{bits} bits");
        }
        for bits in [2048, 3072, 4096] {
            let n = modulus(bits);
            assert_eq!(rsa(&n, &e).map(|k| k.modulus_len()), Ok(bits / 8), "{bits} bits");
            // Leading zeros do not count.
            let mut padded = vec![0, 0];
            padded.extend_from_slice(&n);
            assert_eq!(rsa(&padded, &[0, 1, 0, 1]).map(|k| k.modulus_len()), Ok(bits / 8));
        }
        let n = modulus(2048);
        for e in [&[][..], &[0], &[1], &[2], &[4], &[1, 0, 0], &[1, 0, 0, 0, 1], &[0xff; 9]] {
            assert!(rsa(&n, e).is_err(), "e = {e:?}");
        }
        assert!(rsa(&n, &[3]).is_ok());
        assert!(rsa(&n, &[0xff, 0xff, 0xff, 0xff]).is_ok());
        let mut even = n.clone();
        if let Some(last) = even.last_mut() {
            *last = 0xfe;
        }
        assert!(rsa(&even, &e).is_err());
    }

    #[test]
    fn ed25519_keys() {
        for len in (0..=64).filter(|l| *l != 32) {
            assert!(ed25519(&vec![9u8; len]).is_err(), "{len} bytes");
        }
        // The identity and a point of order 4 are weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519(&identity).unwrap_err().contains("small order"));
        assert!(ed25519(&[0u8; 32]).unwrap_err().contains("small order"));
    }
}
