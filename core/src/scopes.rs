//! Scopes as bit sets over the scopes a policy declares, so that a route's check is a
//! few word operations.

use std::collections::HashMap;

/// The most scopes a policy may declare.
pub const MAX_SCOPES: usize = 256;
const WORDS: usize = MAX_SCOPES / 64;

/// A set of declared scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet([u64; WORDS]);

impl ScopeSet {
    /// The empty set.
    pub const EMPTY: ScopeSet = ScopeSet([0; WORDS]);

    /// Adds scope `id`.
    pub fn insert(&mut self, id: usize) {
        if let Some(w) = self.0.get_mut(id / 64) {
            *w |= 1 << (id % 64);
        }
    }

    /// True when the scope is in the set.
    pub fn contains(&self, id: usize) -> bool {
        self.0.get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Adds every scope of `other`.
    pub fn union_with(&mut self, other: &ScopeSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }

    /// True when the two share a scope.
    pub fn intersects(&self, other: &ScopeSet) -> bool {
        self.0.iter().zip(other.0.iter()).any(|(a, b)| a & b != 0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The ids in the set.
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        // By set bit, not by position: a decision lists its principal's few scopes.
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + bit)
            })
        })
    }
}

/// Checks a granted scope pattern: a scope name, `*`, or a prefix ending in `*`
/// (`artifacts:*`). Returns why it is not valid.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a scope cannot be empty".into());
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("scope `{pattern}` has a space or control character"));
    }
    let stars = pattern.matches('*').count();
    if stars > 1 || (stars == 1 && !pattern.ends_with('*')) {
        return Err(format!("scope `{pattern}`: `*` may only end a scope (`artifacts:*`, `*`)"));
    }
    Ok(())
}

/// True when `pattern` grants `scope`.
pub fn pattern_matches(pattern: &str, scope: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => scope.starts_with(prefix),
        None => pattern == scope,
    }
}

/// The declared scopes, by name and id.
#[derive(Debug, Clone, Default)]
pub struct ScopeTable {
    names: Vec<String>,
    ids: HashMap<String, usize>,
}

impl ScopeTable {
    /// Declares a scope; false when it was declared already.
    pub fn declare(&mut self, name: &str) -> bool {
        if self.ids.contains_key(name) {
            return false;
        }
        self.ids.insert(name.to_owned(), self.names.len());
        self.names.push(name.to_owned());
        true
    }

    /// The id of a declared scope.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    /// The declared scopes a pattern grants.
    pub fn grant(&self, pattern: &str) -> ScopeSet {
        let mut set = ScopeSet::EMPTY;
        if pattern.ends_with('*') {
            for (id, name) in self.names.iter().enumerate() {
                if pattern_matches(pattern, name) {
                    set.insert(id);
                }
            }
        } else if let Some(id) = self.id(pattern) {
            set.insert(id);
        }
        set
    }

    /// The set holding just this declared scope (empty when undeclared); no wildcards.
    pub fn exact(&self, name: &str) -> ScopeSet {
        let mut set = ScopeSet::EMPTY;
        if let Some(id) = self.id(name) {
            set.insert(id);
        }
        set
    }

    /// The names of the scopes in a set, in declaration order.
    pub fn names<'a>(&'a self, set: &'a ScopeSet) -> impl Iterator<Item = &'a str> + 'a {
        set.ids().filter_map(|id| self.names.get(id).map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ScopeTable {
        let mut t = ScopeTable::default();
        for s in ["artifacts:read", "artifacts:write", "collections:read", "admin:users"] {
            assert!(t.declare(s));
        }
        assert!(!t.declare("artifacts:read"));
        t
    }

    #[test]
    fn wildcards_grant_by_prefix() {
        let t = table();
        let g = t.grant("artifacts:*");
        assert_eq!(t.names(&g).collect::<Vec<_>>(), vec!["artifacts:read", "artifacts:write"]);
        assert_eq!(t.grant("*").ids().count(), 4);
        assert!(t.grant("artifacts:delete").is_empty());
        assert!(t.grant("artifacts").is_empty());
    }

    #[test]
    fn ids_are_the_members_in_order() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            let mut set = ScopeSet::EMPTY;
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                set.insert((x % MAX_SCOPES as u64) as usize);
            }
            let want: Vec<usize> = (0..MAX_SCOPES).filter(|i| set.contains(*i)).collect();
            assert_eq!(set.ids().collect::<Vec<_>>(), want);
        }
        let mut full = ScopeSet::EMPTY;
        (0..MAX_SCOPES).for_each(|i| full.insert(i));
        assert_eq!(full.ids().collect::<Vec<_>>(), (0..MAX_SCOPES).collect::<Vec<_>>());
    }

    #[test]
    fn set_operations() {
        let t = table();
        let mut have = t.grant("artifacts:read");
        let need = t.grant("artifacts:*");
        assert!(!need.is_subset_of(&have));
        assert!(need.intersects(&have));
        have.union_with(&t.grant("artifacts:write"));
        assert!(need.is_subset_of(&have));
        assert!(ScopeSet::EMPTY.is_subset_of(&have));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(check_pattern("artifacts:*").is_ok());
        assert!(check_pattern("*").is_ok());
        assert!(check_pattern("a*b").is_err());
        assert!(check_pattern("a**").is_err());
        assert!(check_pattern("a b").is_err());
        assert!(check_pattern("").is_err());
    }

    /// The bit-set grant agrees with matching each name against the pattern.
    #[test]
    fn grant_agrees_with_reference_matching() {
        let t = table();
        for p in ["*", "artifacts:*", "a*", "admin:users", "collections:*", "x:*", "artifacts:read"] {
            let g = t.grant(p);
            for name in ["artifacts:read", "artifacts:write", "collections:read", "admin:users"] {
                let id = t.id(name).unwrap();
                assert_eq!(g.contains(id), pattern_matches(p, name), "{p} vs {name}");
            }
        }
    }
}
