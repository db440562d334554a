//! The JWS algorithms admit verifies and signs with (RFC 7518 section 3, RFC 8037).

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm. `none` is not one: it is never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The hash an algorithm signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// Every algorithm, in a fixed order (`index` is a position in it).
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The hash of the algorithm (Ed25519's own SHA-512 counts as SHA-512).
    pub fn hash(self) -> Hash {
        use Algorithm::*;
        match self {
            HS256 | RS256 | PS256 | ES256 => Hash::Sha256,
            HS384 | RS384 | PS384 | ES384 => Hash::Sha384,
            HS512 | RS512 | PS512 | EdDSA => Hash::Sha512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = ();

    /// The exact `alg` value (case matters, as in RFC 7515).
    fn from_str(s: &str) -> Result<Self, ()> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_exactly() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
            assert_eq!(format!("{a:?}"), a.name());
            assert!(a.name().to_lowercase().parse::<Algorithm>().is_err());
        }
        assert!("none".parse::<Algorithm>().is_err());
        assert!("".parse::<Algorithm>().is_err());
    }
}
