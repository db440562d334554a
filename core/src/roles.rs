//! Roles, compiled: each role's included roles and granted scopes, flattened once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::authn::Identity;
use crate::decision::Principal;
use crate::error::PolicyError;
use crate::policy::RoleSpec;
use crate::scopes::{ScopeSet, ScopeTable, check_pattern};

#[derive(Debug, Default)]
pub(crate) struct RoleTable {
    ids: HashMap<String, usize>,
    names: Vec<String>,
    /// The role and every role it includes, transitively, in a stable order.
    closure: Vec<Vec<usize>>,
    /// Declared scopes granted, over the closure.
    scopes: Vec<ScopeSet>,
}

impl RoleTable {
    pub fn compile(roles: &BTreeMap<String, RoleSpec>, table: &ScopeTable, errors: &mut Vec<PolicyError>) -> Self {
        let mut t = RoleTable::default();
        for name in roles.keys() {
            t.ids.insert(name.clone(), t.names.len());
            t.names.push(name.clone());
        }
        for (name, spec) in roles {
            for (i, s) in spec.scopes.iter().enumerate() {
                if let Err(e) = check_pattern(s) {
                    errors.push(PolicyError::new(format!("roles.{name}.scopes[{i}]"), e));
                } else if table.grant(s).is_empty() {
                    errors.push(PolicyError::new(
                        format!("roles.{name}.scopes[{i}]"),
                        format!("scope `{s}` matches no scope declared in `scopes`"),
                    ));
                }
            }
            for (i, inc) in spec.includes.iter().enumerate() {
                if !t.ids.contains_key(inc) {
                    errors.push(PolicyError::new(
                        format!("roles.{name}.includes[{i}]"),
                        format!("role `{inc}` is not defined"),
                    ));
                }
            }
        }
        for (id, (name, _)) in roles.iter().enumerate() {
            let mut closure = Vec::new();
            let mut stack = vec![id];
            while let Some(r) = stack.pop() {
                if closure.contains(&r) {
                    continue;
                }
                closure.push(r);
                if let Some(spec) = t.names.get(r).and_then(|n| roles.get(n)) {
                    for inc in spec.includes.iter().rev() {
                        if let Some(&j) = t.ids.get(inc) {
                            if j == id {
                                errors.push(PolicyError::new(
                                    format!("roles.{name}.includes"),
                                    format!(
                                        "role `{name}` includes itself through `{}`",
                                        t.names.get(r).map_or("", String::as_str)
                                    ),
                                ));
                                continue;
                            }
                            stack.push(j);
                        }
                    }
                }
            }
            let mut set = ScopeSet::EMPTY;
            for r in &closure {
                if let Some(spec) = t.names.get(*r).and_then(|n| roles.get(n)) {
                    for s in &spec.scopes {
                        set.union_with(&table.grant(s));
                    }
                }
            }
            t.closure.push(closure);
            t.scopes.push(set);
        }
        t
    }

    pub fn id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    /// Resolves role names written at `place`, recording undefined ones.
    pub fn resolve(&self, names: &[String], place: &str, errors: &mut Vec<PolicyError>) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, n) in names.iter().enumerate() {
            match self.id(n) {
                Some(id) => out.push(id),
                None => errors.push(PolicyError::new(format!("{place}[{i}]"), format!("role `{n}` is not defined"))),
            }
        }
        out
    }

    /// Builds an identity from roles and direct scope patterns.
    pub fn identity(
        &self,
        who: Who<'_>,
        role_ids: &[usize],
        direct_scopes: &[String],
        direct: DirectScopes,
        table: &ScopeTable,
        claims: Option<serde_json::Value>,
    ) -> Identity {
        let mut roles: Vec<String> = Vec::new();
        let mut set = ScopeSet::EMPTY;
        for &r in role_ids {
            for &c in self.closure.get(r).map_or(&[][..], Vec::as_slice) {
                if let Some(n) = self.names.get(c) {
                    if !roles.contains(n) {
                        roles.push(n.clone());
                    }
                }
            }
            if let Some(s) = self.scopes.get(r) {
                set.union_with(s);
            }
        }
        // Scopes straight from the key or token: only declared ones count. An IdP's
        // `openid` or a typo in a token never reaches `principal.scopes`, so a scope
        // check in the host's code cannot be met by a name the policy never declared
        // (a JWT's own claims still carry what it said).
        for s in direct_scopes {
            let granted = match direct {
                DirectScopes::Patterns => table.grant(s),
                DirectScopes::Exact => table.exact(s),
            };
            set.union_with(&granted);
        }
        let scope_names: Vec<String> = table.names(&set).map(str::to_owned).collect();
        Identity {
            principal: Arc::new(Principal {
                id: who.id.to_owned(),
                authenticator: who.authenticator.to_owned(),
                kind: who.kind,
                roles,
                scopes: scope_names,
                claims,
            }),
            scopes: set,
        }
    }
}

/// How scopes straight from a credential are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectScopes {
    /// Written by the operator in the policy: wildcards grant by prefix.
    Patterns,
    /// Carried by a token: names only. A token's `*` is a name, never a wildcard.
    Exact,
}

/// The naming part of a principal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub id: &'a str,
    pub authenticator: &'a str,
    pub kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scopes: &[&str], includes: &[&str]) -> RoleSpec {
        RoleSpec {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            includes: includes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn scopes() -> ScopeTable {
        let mut t = ScopeTable::default();
        for s in ["a:read", "a:write", "admin:users"] {
            t.declare(s);
        }
        t
    }

    #[test]
    fn includes_are_transitive() {
        let mut roles = BTreeMap::new();
        roles.insert("viewer".to_string(), spec(&["a:read"], &[]));
        roles.insert("member".to_string(), spec(&["a:write"], &["viewer"]));
        roles.insert("admin".to_string(), spec(&["admin:*"], &["member"]));
        let st = scopes();
        let mut errors = vec![];
        let t = RoleTable::compile(&roles, &st, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let id = t.identity(
            Who { id: "u", authenticator: "x", kind: "jwt" },
            &[t.id("admin").unwrap()],
            &[],
            DirectScopes::Patterns,
            &st,
            None,
        );
        assert_eq!(id.principal.roles, vec!["admin", "member", "viewer"]);
        assert_eq!(id.scopes.ids().count(), 3);
    }

    #[test]
    fn cycles_and_undefined_roles_are_errors() {
        let mut roles = BTreeMap::new();
        roles.insert("a".to_string(), spec(&[], &["b"]));
        roles.insert("b".to_string(), spec(&[], &["a", "c"]));
        roles.insert("d".to_string(), spec(&["nope:*"], &[]));
        let mut errors = vec![];
        RoleTable::compile(&roles, &scopes(), &mut errors);
        let text = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("includes itself"), "{text}");
        assert!(text.contains("role `c` is not defined"), "{text}");
        assert!(text.contains("matches no scope"), "{text}");
    }
}
