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
