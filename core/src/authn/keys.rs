//! API keys and static bearer tokens: looked up by the SHA-256 of what the client sent.
//!
//! The table holds digests only. The lookup is a hash-map probe on the digest of the
//! presented key, which tells an attacker nothing about stored keys (they would need a
//! SHA-256 preimage); the final equality is still checked in constant time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Denial, Identity, Outcome};
use crate::reason::Reason;

/// One known key.
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub digest: [u8; 32],
    pub identity: Identity,
    /// Unix seconds from which the key is refused.
    pub expires: Option<i64>,
    pub revoked: bool,
}

/// Hashes a SHA-256 digest by taking its first eight bytes. A digest is already
/// uniformly distributed, and a client cannot aim it at a bucket without a SHA-256
/// preimage, so a keyed hash (SipHash) would only cost time.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length, then its bytes; keep the first 8 digest bytes.
        if bytes.len() >= 8 && self.0 == 0 {
            let mut first = [0u8; 8];
            first.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
            self.0 = u64::from_le_bytes(first);
        }
    }
    fn write_usize(&mut self, _len: usize) {}
}

type DigestMap = HashMap<[u8; 32], usize, BuildHasherDefault<DigestHasher>>;

/// Keys by digest.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    by_digest: DigestMap,
    entries: Vec<KeyEntry>,
}

/// The SHA-256 of a key.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex of a digest.
pub fn to_hex(digest: &[u8]) -> String {
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        s.push(hex_digit(b >> 4));
        s.push(hex_digit(b & 15));
    }
    s
}

/// The lower-case hex digit of a nibble.
pub(crate) fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 15), 16).unwrap_or('0')
}

/// Parses 64 hex digits.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl KeyTable {
    /// Adds a key; false when its digest is already known.
    pub fn insert(&mut self, entry: KeyEntry) -> bool {
        if self.by_digest.contains_key(&entry.digest) {
            return false;
        }
        self.by_digest.insert(entry.digest, self.entries.len());
        self.entries.push(entry);
        true
    }

    /// How many keys the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Checks a presented key.
    pub fn check(&self, presented: &[u8], now: i64) -> Outcome {
        let digest = sha256(presented);
        let Some(entry) = self.by_digest.get(&digest).and_then(|&i| self.entries.get(i)) else {
            return Outcome::Denied(Denial::invalid("unknown key"));
        };
        if !bool::from(entry.digest.ct_eq(&digest)) {
            return Outcome::Denied(Denial::invalid("unknown key"));
        }
        if entry.revoked {
            return Outcome::Denied(Denial::new(Reason::Revoked, "key revoked"));
        }
        if entry.expires.is_some_and(|exp| now >= exp) {
            return Outcome::Denied(Denial::new(Reason::Expired, "key expired"));
        }
        Outcome::Authenticated(entry.identity.clone())
    }
}

/// The key table of one `api_key` or `bearer_token` authenticator, replaceable while
/// decisions run (`Engine::set_keys`): a decision reads the table it started with, and a
/// replacement is seen by the next decision.
#[derive(Debug)]
pub(crate) struct KeyStore {
    table: RwLock<Arc<KeyTable>>,
    /// The keys file the table was read from (as the policy names it), if any.
    pub file: Option<String>,
}

impl KeyStore {
    pub fn new(table: KeyTable, file: Option<String>) -> Self {
        KeyStore { table: RwLock::new(Arc::new(table)), file }
    }

    /// Checks a presented key against the current table.
    pub fn check(&self, presented: &[u8], now: i64) -> Outcome {
        // The read lock is held for the check (a digest and a probe): a writer only
        // swaps a pointer, and cloning the Arc instead would add a second shared counter
        // for every decision to bump. A poisoned lock only means a writer panicked
        // between two whole tables: the table it holds is still a whole one.
        match self.table.read() {
            Ok(t) => t.check(presented, now),
            Err(poisoned) => poisoned.into_inner().check(presented, now),
        }
    }

    /// Swaps in a new table, whole.
    pub fn replace(&self, table: KeyTable) {
        let new = Arc::new(table);
        match self.table.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::decision::Principal;
    use crate::scopes::ScopeSet;

    fn entry(key: &str, expires: Option<i64>, revoked: bool) -> KeyEntry {
        KeyEntry {
            digest: sha256(key.as_bytes()),
            identity: Identity {
                principal: Arc::new(Principal {
                    id: key.into(),
                    authenticator: "k".into(),
                    kind: "api_key",
                    roles: vec![],
                    scopes: vec![],
                    claims: None,
                }),
                scopes: ScopeSet::EMPTY,
            },
            expires,
            revoked,
        }
    }

    #[test]
    fn keys_are_found_by_digest_and_checked() {
        let mut t = KeyTable::default();
        assert!(t.insert(entry("good", None, false)));
        assert!(t.insert(entry("old", Some(100), false)));
        assert!(t.insert(entry("gone", None, true)));
        assert!(!t.insert(entry("good", None, false)));
        assert!(matches!(t.check(b"good", 0), Outcome::Authenticated(_)));
        assert!(matches!(t.check(b"old", 99), Outcome::Authenticated(_)));
        assert!(matches!(t.check(b"old", 100), Outcome::Denied(Denial { reason: Reason::Expired, .. })));
        assert!(matches!(t.check(b"gone", 0), Outcome::Denied(Denial { reason: Reason::Revoked, .. })));
        assert!(matches!(t.check(b"nope", 0), Outcome::Denied(Denial { reason: Reason::InvalidCredentials, .. })));
        // The digest of a key sent as the key is not the key.
        let hex = to_hex(&sha256(b"good"));
        assert!(matches!(
            t.check(hex.as_bytes(), 0),
            Outcome::Denied(Denial { reason: Reason::InvalidCredentials, .. })
        ));
    }

    #[test]
    fn hex_round_trip() {
        let d = sha256(b"demo-admin-key");
        assert_eq!(from_hex(&to_hex(&d)), Some(d));
        assert_eq!(from_hex(&to_hex(&d).to_uppercase()), Some(d));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
        assert_eq!(to_hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
