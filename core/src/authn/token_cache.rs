//! Tokens whose signature checked out, remembered with the identity they gave, so that
//! a token seen again skips its RSA, ECDSA or Ed25519 verification and the parsing of
//! its header and claims (compare Envoy's `jwt_cache_config`).
//!
//! - Keyed by the SHA-256 of the whole token. The cache belongs to one key set: a key
//!   set replaced by `set_jwks` starts with an empty one, so an entry never outlives the
//!   keys that verified it.
//! - Only tokens that passed every check are stored; a failure is never remembered. A
//!   hit skips what depends on the token and the policy alone (header, key, signature,
//!   roles); the claims that depend on the request (`exp`, `nbf`, lifetime, issuer,
//!   audience) are checked against its `now` on every hit, so the cache changes no
//!   decision.
//! - Bounded: at most `capacity` entries (a digest and the principal, whose claims are
//!   the token's), in 16 shards, each a pair of generations: a full current generation
//!   becomes the previous one and the oldest is dropped, so a flood of distinct valid
//!   tokens evicts, never grows.
//! - HMAC tokens are not cached: a MAC costs about what the digest does.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

use super::Identity;

/// The default number of tokens remembered per key set.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;
/// The most tokens a policy may ask to remember.
pub(crate) const MAX_CAPACITY: usize = 1 << 20;

const SHARDS: usize = 16;

/// A SHA-256 digest of a token.
pub(crate) type TokenDigest = [u8; 32];

/// Hashes a digest by taking eight of its bytes: they are already uniform, and no
/// client can choose them without a preimage.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

type DigestMap = HashMap<TokenDigest, Identity, BuildHasherDefault<DigestHasher>>;

#[derive(Default)]
struct Shard {
    current: DigestMap,
    previous: DigestMap,
}

/// A bounded map of verified-token digests to their identities, safe to share between
/// threads.
pub(crate) struct TokenCache {
    shards: Vec<Mutex<Shard>>,
    /// The most digests in one generation of one shard (0: the cache is off).
    per_generation: usize,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(0)
    }
}

impl TokenCache {
    /// A cache of about `capacity` tokens (0: off).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        let per_generation = capacity.div_ceil(2 * SHARDS);
        let shards = if capacity == 0 { Vec::new() } else { (0..SHARDS).map(|_| Mutex::default()).collect() };
        TokenCache { shards, per_generation }
    }

    /// The most tokens remembered.
    pub fn capacity(&self) -> usize {
        self.shards.len() * 2 * self.per_generation
    }

    /// True when the cache is on.
    pub fn is_on(&self) -> bool {
        !self.shards.is_empty()
    }

    /// The digest a token is remembered by.
    pub fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    fn shard(&self, d: &TokenDigest) -> Option<MutexGuard<'_, Shard>> {
        let i = usize::from(d.first().copied().unwrap_or(0)) % SHARDS;
        // A poisoned shard (a panic elsewhere while it was held) holds only digests.
        self.shards.get(i).map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The identity of a token that passed every check before, under this key set.
    pub fn get(&self, d: &TokenDigest) -> Option<Identity> {
        let mut shard = self.shard(d)?;
        if let Some(identity) = shard.current.get(d) {
            return Some(identity.clone());
        }
        let identity = shard.previous.remove(d)?;
        // Still in use: carried into the current generation.
        Self::add(&mut shard, *d, identity.clone(), self.per_generation);
        Some(identity)
    }

    /// Remembers a token that passed every check, and the identity it gave.
    pub fn insert(&self, d: TokenDigest, identity: Identity) {
        if let Some(mut shard) = self.shard(&d) {
            Self::add(&mut shard, d, identity, self.per_generation);
        }
    }

    fn add(shard: &mut Shard, d: TokenDigest, identity: Identity, per_generation: usize) {
        if shard.current.len() >= per_generation {
            shard.previous = std::mem::take(&mut shard.current);
        }
        shard.current.insert(d, identity);
    }

    /// The number of digests held (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                s.current.len() + s.previous.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::decision::Principal;
    use crate::scopes::ScopeSet;

    fn who() -> Identity {
        let principal = Principal {
            id: "u".into(),
            authenticator: "a".into(),
            kind: "jwt",
            roles: Vec::new(),
            scopes: Vec::new(),
            claims: None,
        };
        Identity { principal: Arc::new(principal), scopes: ScopeSet::EMPTY }
    }

    impl TokenCache {
        fn contains(&self, d: &TokenDigest) -> bool {
            self.get(d).is_some()
        }
    }

    #[test]
    fn a_flood_of_distinct_tokens_stays_within_the_capacity() {
        let cache = TokenCache::new(1000);
        assert!(cache.capacity() >= 1000 && cache.capacity() < 1100);
        for i in 0..100_000u32 {
            cache.insert(TokenCache::digest(&format!("token-{i}")), who());
            assert!(cache.len() <= cache.capacity());
        }
        // The most recent tokens are still there; the first ones are gone.
        assert!(cache.contains(&TokenCache::digest("token-99999")));
        assert!(!cache.contains(&TokenCache::digest("token-0")));
    }

    #[test]
    fn a_token_in_use_survives_eviction() {
        let cache = TokenCache::new(64);
        let kept = TokenCache::digest("kept");
        cache.insert(kept, who());
        for i in 0..10_000u32 {
            cache.insert(TokenCache::digest(&format!("t{i}")), who());
            assert!(cache.contains(&kept), "evicted after {i} inserts");
        }
    }

    #[test]
    fn off_remembers_nothing() {
        let cache = TokenCache::new(0);
        let d = TokenCache::digest("t");
        cache.insert(d, who());
        assert!(!cache.contains(&d));
        assert!(!cache.is_on());
        assert_eq!(cache.capacity(), 0);
    }
}
