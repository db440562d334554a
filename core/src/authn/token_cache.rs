//! Tokens whose signature checked out, remembered so that a token seen again skips its
//! RSA, ECDSA or Ed25519 verification (compare Envoy's `jwt_cache_config`).
//!
//! - Keyed by the SHA-256 of the whole token. The cache belongs to one key set: a key
//!   set replaced by `set_jwks` starts with an empty one, so an entry never outlives the
//!   keys that verified it.
//! - Only successful signature checks are stored; a failure is never remembered. A hit
//!   skips the signature alone: the header, the key's binding, every claim and every
//!   time are checked against the request as on a miss, so the cache changes no decision.
//! - Bounded: at most `capacity` digests (32 bytes each), in 16 shards, each a pair of
//!   generations: a full current generation becomes the previous one and the oldest is
//!   dropped, so a flood of distinct valid tokens evicts, never grows.
//! - HMAC tokens are not cached: a MAC costs about what the digest does.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

/// The default number of tokens remembered per key set.
pub(crate) const DEFAULT_CAPACITY: usize = 4096;
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

type DigestSet = HashSet<TokenDigest, BuildHasherDefault<DigestHasher>>;

#[derive(Default)]
struct Shard {
    current: DigestSet,
    previous: DigestSet,
}

/// A bounded set of verified-token digests, safe to share between threads.
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

    /// True when the token's signature checked out before, under this key set.
    pub fn contains(&self, d: &TokenDigest) -> bool {
        let Some(mut shard) = self.shard(d) else { return false };
        if shard.current.contains(d) {
            return true;
        }
        if shard.previous.remove(d) {
            // Still in use: carried into the current generation.
            Self::add(&mut shard, *d, self.per_generation);
            return true;
        }
        false
    }

    /// Remembers a token whose signature checked out.
    pub fn insert(&self, d: TokenDigest) {
        if let Some(mut shard) = self.shard(&d) {
            Self::add(&mut shard, d, self.per_generation);
        }
    }

    fn add(shard: &mut Shard, d: TokenDigest, per_generation: usize) {
        if shard.current.len() >= per_generation {
            shard.previous = std::mem::take(&mut shard.current);
        }
        shard.current.insert(d);
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
    use super::*;

    #[test]
    fn a_flood_of_distinct_tokens_stays_within_the_capacity() {
        let cache = TokenCache::new(1000);
        assert!(cache.capacity() >= 1000 && cache.capacity() < 1100);
        for i in 0..100_000u32 {
            cache.insert(TokenCache::digest(&format!("token-{i}")));
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
        cache.insert(kept);
        for i in 0..10_000u32 {
            cache.insert(TokenCache::digest(&format!("t{i}")));
            assert!(cache.contains(&kept), "evicted after {i} inserts");
        }
    }

    #[test]
    fn off_remembers_nothing() {
        let cache = TokenCache::new(0);
        let d = TokenCache::digest("t");
        cache.insert(d);
        assert!(!cache.contains(&d));
        assert!(!cache.is_on());
        assert_eq!(cache.capacity(), 0);
    }
}
