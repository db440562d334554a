//! Whether a point is on P-256 or P-384: `y^2 = x^3 - 3x + b (mod p)`, with `x` and `y`
//! below `p`. Plain big-integer arithmetic on public values (a key being loaded), not
//! constant time and not fast; it runs once per key. It replaces the curve crates'
//! point decoding, so that a build without them (WASM, whose host verifies ECDSA) still
//! refuses every point off the curve at load, by the same rule as every other build.

use std::cmp::Ordering;

use super::jwt::KeyFamily;

/// A curve's prime and its `b`, big-endian.
struct Curve {
    p: &'static str,
    b: &'static str,
}

const P256: Curve = Curve {
    p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
};

const P384: Curve = Curve {
    p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
};

/// An unsigned integer, little-endian 64-bit limbs.
type Big = Vec<u64>;

fn from_be(bytes: &[u8]) -> Big {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(8));
    for chunk in bytes.rchunks(8) {
        out.push(chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
    }
    out
}

fn from_hex(hex: &str) -> Big {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| pair.iter().fold(0u8, |acc, c| (acc << 4) | (*c as char).to_digit(16).map_or(0, |d| d as u8)))
        .collect();
    from_be(&bytes)
}

fn limb(a: &[u64], i: usize) -> u64 {
    a.get(i).copied().unwrap_or(0)
}

fn cmp(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n).rev().map(|i| limb(a, i).cmp(&limb(b, i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn add(a: &[u64], b: &[u64]) -> Big {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n + 1);
    let mut carry = 0u128;
    for i in 0..n {
        let s = u128::from(limb(a, i)) + u128::from(limb(b, i)) + carry;
        out.push(s as u64);
        carry = s >> 64;
    }
    out.push(carry as u64);
    out
}

/// `a - b`, for `a >= b`.
fn sub(a: &[u64], b: &[u64]) -> Big {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0u64;
    for i in 0..a.len() {
        let (d, o1) = limb(a, i).overflowing_sub(limb(b, i));
        let (d, o2) = d.overflowing_sub(borrow);
        out.push(d);
        borrow = u64::from(o1 || o2);
    }
    out
}

fn mul(a: &[u64], b: &[u64]) -> Big {
    let mut out = vec![0u64; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &y) in b.iter().enumerate() {
            let k = i + j;
            let t = u128::from(x) * u128::from(y) + u128::from(limb(&out, k)) + carry;
            if let Some(slot) = out.get_mut(k) {
                *slot = t as u64;
            }
            carry = t >> 64;
        }
        if let Some(slot) = out.get_mut(i + b.len()) {
            *slot = carry as u64;
        }
    }
    out
}

/// `x mod m`, one bit at a time from the top.
fn rem(x: &[u64], m: &[u64]) -> Big {
    let mut r: Big = vec![0; m.len() + 1];
    for bit in (0..x.len() * 64).rev() {
        // r = 2r + bit
        let mut carry = (limb(x, bit / 64) >> (bit % 64)) & 1;
        for l in r.iter_mut() {
            let next = *l >> 63;
            *l = (*l << 1) | carry;
            carry = next;
        }
        if cmp(&r, m).is_ge() {
            r = sub(&r, m);
        }
    }
    r
}

/// True when `(x, y)`, big-endian coordinates of the curve's size, is a point on it.
pub(crate) fn on_curve(family: KeyFamily, x: &[u8], y: &[u8]) -> bool {
    let curve = match family {
        KeyFamily::P256 => &P256,
        KeyFamily::P384 => &P384,
        _ => return false,
    };
    let (p, b) = (from_hex(curve.p), from_hex(curve.b));
    let (x, y) = (from_be(x), from_be(y));
    if cmp(&x, &p).is_ge() || cmp(&y, &p).is_ge() {
        return false;
    }
    let lhs = rem(&mul(&y, &y), &p);
    let x3 = rem(&mul(&rem(&mul(&x, &x), &p), &x), &p);
    // x^3 + b + 3(p - x): the same residue as x^3 - 3x + b, never negative.
    let three_p_minus_x = mul(&sub(&p, &x), &[3]);
    let rhs = rem(&add(&add(&x3, &b), &three_p_minus_x), &p);
    cmp(&lhs, &rhs).is_eq()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use p256::elliptic_curve::sec1::ToEncodedPoint as _;

    use super::*;

    /// The crates' verdict on an uncompressed point.
    fn reference(family: KeyFamily, point: &[u8]) -> bool {
        match family {
            KeyFamily::P256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
            _ => p384::PublicKey::from_sec1_bytes(point).is_ok(),
        }
    }

    /// Points k*G for many k (on the curve), each with every bit of one byte of `x` or
    /// `y` flipped (nearly always off it), `y` replaced by `p - y` (the other point with
    /// that `x`, on it), and coordinates at and above `p`: the check agrees with
    /// p256 and p384 on every one.
    #[test]
    fn agrees_with_the_curve_crates() {
        let mut checked = 0;
        for family in [KeyFamily::P256, KeyFamily::P384] {
            let size = if family == KeyFamily::P256 { 32 } else { 48 };
            let p = from_hex(if family == KeyFamily::P256 { P256.p } else { P384.p });
            for k in 1u64..=40 {
                let point = match family {
                    KeyFamily::P256 => {
                        let s = p256::NonZeroScalar::new(p256::Scalar::from(k * 7919)).unwrap();
                        p256::PublicKey::from_secret_scalar(&s).to_encoded_point(false).as_bytes().to_vec()
                    }
                    _ => {
                        use p384::elliptic_curve::sec1::ToEncodedPoint as _;
                        let s = p384::NonZeroScalar::new(p384::Scalar::from(k * 7919)).unwrap();
                        p384::PublicKey::from_secret_scalar(&s).to_encoded_point(false).as_bytes().to_vec()
                    }
                };
                let mut family_of = vec![point.clone()];
                for byte in [1, size / 2, size, size + 1, 2 * size] {
                    for bit in 0..8 {
                        let mut q = point.clone();
                        q[byte] ^= 1 << bit;
                        family_of.push(q);
                    }
                }
                // (x, p - y): on the curve too.
                let y = from_be(&point[1 + size..]);
                let neg: Vec<u8> = sub(&p, &y).iter().rev().flat_map(|l| l.to_be_bytes()).collect();
                let neg = &neg[neg.len() - size..];
                family_of.push([&point[..1 + size], neg].concat());
                for q in family_of {
                    let want = reference(family, &q);
                    assert_eq!(on_curve(family, &q[1..1 + size], &q[1 + size..]), want, "{family:?} k={k}");
                    checked += 1;
                }
            }
            // Coordinates at and above p, and all zeros.
            let p_bytes: Vec<u8> = p.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
            let p_bytes = &p_bytes[p_bytes.len() - size..];
            for (x, y) in [
                (p_bytes, p_bytes),
                (&vec![0xff; size][..], &vec![0; size][..]),
                (&vec![0; size][..], &vec![0; size][..]),
            ] {
                assert!(!on_curve(family, x, y));
                assert!(!reference(family, &[&[4u8][..], x, y].concat()));
            }
        }
        assert!(checked > 3000, "{checked}");
    }

    #[test]
    fn arithmetic() {
        let a = from_be(&[0xff; 40]);
        let m = from_hex(P256.p);
        let r = rem(&mul(&a, &a), &m);
        assert!(cmp(&r, &m).is_lt());
        assert_eq!(cmp(&sub(&add(&a, &m), &m), &a), Ordering::Equal);
        assert_eq!(rem(&from_be(&[7]), &from_be(&[3])).first(), Some(&1));
    }
}

/// Ed25519's field prime 2^255 - 19, big-endian hex.
const ED_P: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
/// The curve constant d = -121665/121666 mod p.
const ED_D: &str = "52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3";
/// A square root of -1 mod p: 2^((p-1)/4).
const ED_SQRT_M1: &str = "2b8324804fc1df0b2b4d00993dfbd7a72f431806ad2fe478c4ee1b274a0ea0b0";

/// Arithmetic mod 2^255 - 19: a product folds its high part back in times 19.
struct Field {
    p: Big,
}

impl Field {
    fn new() -> Self {
        Field { p: from_hex(ED_P) }
    }

    fn reduce(&self, x: &[u64]) -> Big {
        let mut x: Big = x.to_vec();
        // While x >= 2^255: x = (x mod 2^255) + 19 * (x >> 255).
        while x.iter().skip(4).any(|l| *l != 0) || limb(&x, 3) >> 63 != 0 {
            let mut hi: Big = Vec::with_capacity(x.len());
            for i in 3..x.len() {
                hi.push((limb(&x, i) >> 63) | (limb(&x, i + 1) << 1));
            }
            let lo = [limb(&x, 0), limb(&x, 1), limb(&x, 2), limb(&x, 3) & (u64::MAX >> 1)];
            x = add(&lo, &mul(&hi, &[19]));
        }
        while cmp(&x, &self.p).is_ge() {
            x = sub(&x, &self.p);
        }
        x.truncate(4);
        x
    }

    fn mul(&self, a: &[u64], b: &[u64]) -> Big {
        self.reduce(&mul(a, b))
    }

    fn add(&self, a: &[u64], b: &[u64]) -> Big {
        self.reduce(&add(a, b))
    }

    fn sub(&self, a: &[u64], b: &[u64]) -> Big {
        self.reduce(&sub(&add(a, &self.p), b))
    }

    fn pow(&self, base: &[u64], exp: &[u64]) -> Big {
        let mut acc: Big = vec![1];
        for bit in (0..exp.len() * 64).rev() {
            acc = self.mul(&acc, &acc);
            if (limb(exp, bit / 64) >> (bit % 64)) & 1 == 1 {
                acc = self.mul(&acc, base);
            }
        }
        acc
    }

    fn is_zero(a: &[u64]) -> bool {
        a.iter().all(|l| *l == 0)
    }
}

/// What an Ed25519 public key decodes to (RFC 8032 section 5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdPoint {
    /// Not the encoding of a point.
    Invalid,
    /// A point of order 1, 2, 4 or 8: a weak key.
    SmallOrder,
    /// A point of large order.
    Fine,
}

/// Decodes an Ed25519 public key and tells whether it is a point of small order.
pub(crate) fn ed25519(key: &[u8; 32]) -> EdPoint {
    let f = Field::new();
    let mut le = *key;
    let sign = le[31] >> 7;
    le[31] &= 0x7f;
    let mut be = le;
    be.reverse();
    let y = from_be(&be);
    if cmp(&y, &f.p).is_ge() {
        return EdPoint::Invalid;
    }
    let one: Big = vec![1];
    let d = from_hex(ED_D);
    let yy = f.mul(&y, &y);
    let u = f.sub(&yy, &one);
    let v = f.add(&f.mul(&d, &yy), &one);
    // x = u v^3 (u v^7)^((p-5)/8)
    let v3 = f.mul(&f.mul(&v, &v), &v);
    let v7 = f.mul(&f.mul(&v3, &v3), &v);
    let exp = {
        let p_minus_5 = sub(&f.p, &[5]);
        // (p - 5) / 8: p - 5 is a multiple of 8.
        let mut e = Vec::with_capacity(4);
        for i in 0..4 {
            e.push((limb(&p_minus_5, i) >> 3) | (limb(&p_minus_5, i + 1) << 61));
        }
        e
    };
    let mut x = f.mul(&f.mul(&u, &v3), &f.pow(&f.mul(&u, &v7), &exp));
    let vxx = f.mul(&v, &f.mul(&x, &x));
    if cmp(&vxx, &u).is_eq() {
    } else if cmp(&vxx, &f.sub(&[0], &u)).is_eq() {
        x = f.mul(&x, &from_hex(ED_SQRT_M1));
    } else {
        return EdPoint::Invalid;
    }
    if Field::is_zero(&x) && sign == 1 {
        return EdPoint::Invalid;
    }
    if (limb(&x, 0) & 1) != u64::from(sign) {
        x = f.sub(&[0], &x);
    }
    // [8]P by three doublings in projective coordinates (a = -1, dbl-2008-bbjlp); the
    // point has small order exactly when [8]P is the neutral element (X = 0, Y = Z).
    let (mut px, mut py, mut pz) = (x, y, one);
    for _ in 0..3 {
        let b = {
            let s = f.add(&px, &py);
            f.mul(&s, &s)
        };
        let c = f.mul(&px, &px);
        let dd = f.mul(&py, &py);
        let e = f.sub(&[0], &c);
        let ff = f.add(&e, &dd);
        let h = f.mul(&pz, &pz);
        let j = f.sub(&ff, &f.add(&h, &h));
        px = f.mul(&f.sub(&f.sub(&b, &c), &dd), &j);
        py = f.mul(&ff, &f.sub(&e, &dd));
        pz = f.mul(&ff, &j);
    }
    if Field::is_zero(&px) && cmp(&py, &pz).is_eq() { EdPoint::SmallOrder } else { EdPoint::Fine }
}

#[cfg(test)]
mod ed_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

    use super::*;

    fn reference(key: &[u8; 32]) -> EdPoint {
        match ed25519_dalek::VerifyingKey::from_bytes(key) {
            Ok(k) if k.is_weak() => EdPoint::SmallOrder,
            Ok(_) => EdPoint::Fine,
            Err(_) => EdPoint::Invalid,
        }
    }

    /// Public keys of many seeds, each with every bit of three bytes flipped (about half
    /// of which are not points), the eight small-order points and their encodings with
    /// the sign bit set, y = p and above: the decoding agrees with ed25519-dalek on each.
    #[test]
    fn agrees_with_ed25519_dalek() {
        let mut keys: Vec<[u8; 32]> = Vec::new();
        for seed in 0u8..24 {
            let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes();
            keys.push(k);
            for byte in [0, 15, 31] {
                for bit in 0..8 {
                    let mut q = k;
                    q[byte] ^= 1 << bit;
                    keys.push(q);
                }
            }
        }
        // Small-order points: the neutral element (y = 1), (0, -1) (y = p - 1), and the
        // points of order 4 and 8, by their y (RFC 8032 test lists, libsodium's blocklist).
        let small: [&str; 5] = [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        ];
        for hex in small {
            let be: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
            let mut k = [0u8; 32];
            k.copy_from_slice(&be);
            keys.push(k);
            k[31] ^= 0x80;
            keys.push(k);
        }
        let mut high = [0xffu8; 32];
        high[31] = 0x7f;
        keys.push(high);
        let mut at_p = [0xffu8; 32];
        at_p[0] = 0xed;
        at_p[31] = 0x7f;
        keys.push(at_p);
        let mut small_seen = 0;
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        for k in &keys {
            let (want, got) = (reference(k), ed25519(k));
            // The one difference: x = 0 with the sign bit set (a second encoding of the
            // neutral element or of (0, -1)) is not a point for RFC 8032, which this
            // follows, and a weak point for ed25519-dalek. Both refuse it.
            let x_zero_negative = k[31] & 0x80 != 0 && want == EdPoint::SmallOrder && got == EdPoint::Invalid;
            // And y at or above p (19 encodings): not canonical, so not a point for RFC
            // 8032; ed25519-dalek reduces it. No key generator writes one.
            let mut y = *k;
            y[31] &= 0x7f;
            let y_not_canonical = y.iter().rev().cmp(p.iter().rev()).is_ge() && got == EdPoint::Invalid;
            assert!(got == want || x_zero_negative || y_not_canonical, "{k:02x?}: {got:?}, ed25519-dalek {want:?}");
            small_seen += usize::from(want == EdPoint::SmallOrder);
        }
        assert!(small_seen >= 5, "{small_seen}");
        assert!(keys.iter().any(|k| reference(k) == EdPoint::Invalid));
    }
}
