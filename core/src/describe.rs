//! Introspection of a compiled policy, for hosts that check it against their app: the
//! route rules (to find app routes no rule covers, routes only a catch-all covers and
//! rules that match no app route), whether the policy answers CORS itself, and the
//! issuer and audience of each `jwt` authenticator (for OpenAPI security schemes).
//!
//! Nothing here is needed to decide; it describes what [`Engine::decide`] does. It
//! holds no secret: no key, no credential, no hash.

use crate::engine::{AuthnKind, Engine};
use crate::path::{PathError, canonicalize_with};
use crate::routes::{Access, Methods, Pattern, Rule, Seg};

/// What a rule does with the requests it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleAccess {
    /// `public = true`: allowed without looking at any credential.
    Public,
    /// `deny = true`: refused (`route_denied`).
    Deny,
    /// Authenticated, with the rule's `require`, `require_any` and `owner`.
    Authenticated,
}

impl RuleAccess {
    /// `"public"`, `"deny"` or `"authenticated"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAccess::Public => "public",
            RuleAccess::Deny => "deny",
            RuleAccess::Authenticated => "authenticated",
        }
    }
}

/// One route rule of a compiled policy, in policy order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleInfo<'e> {
    /// The rule's position among the rules, from 0.
    pub index: usize,
    /// The rule's `id`, or the name made from its methods and paths (`GET /items/**`):
    /// what a decision reports as `rule`.
    pub name: &'e str,
    /// The methods it applies to, upper case, sorted (`GET` brings `HEAD`); `None` for
    /// every method (`methods` absent or `["*"]`).
    pub methods: Option<&'e [String]>,
    /// Its path patterns in canonical form: literal segments percent-encoded as the
    /// engine compares them (`/caf%C3%A9`), `{name}`, `*` and `**` as written.
    pub patterns: Vec<String>,
    /// True when a pattern ends in `**`, so the rule matches every path under a prefix
    /// (`/api/**`), or every path at all (`/**`).
    pub catch_all: bool,
    /// Public, deny or authenticated.
    pub access: RuleAccess,
    /// The scopes `require` lists (all needed); empty for public and deny rules.
    pub require: &'e [String],
    /// The scopes `require_any` lists (one needed); empty for public and deny rules.
    pub require_any: &'e [String],
    /// The ids of the enabled authenticators the rule is limited to (its
    /// `authenticators` field); `None` when every authenticator may answer.
    pub authenticators: Option<Vec<&'e str>>,
    /// True for a rule in dry-run mode (`dry_run = true` on the rule).
    pub dry_run: bool,
}

/// The rule, and its pattern, that decides a method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteMatch<'e> {
    /// The rule's position among the rules, from 0.
    pub index: usize,
    /// The rule's name, as [`RuleInfo::name`].
    pub name: &'e str,
    /// The pattern that matched, in the form of [`RuleInfo::patterns`].
    pub pattern: String,
    /// True when that pattern ends in `**`.
    pub catch_all: bool,
}

/// A `jwt` authenticator's issuer and audiences, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtInfo<'e> {
    /// The authenticator's id.
    pub id: &'e str,
    /// The required `iss`, when configured.
    pub issuer: Option<&'e str>,
    /// The accepted audiences (empty: `aud` is not checked).
    pub audience: &'e [String],
}

fn is_catch_all(p: &Pattern) -> bool {
    matches!(p.segs.last(), Some(Seg::Tail))
}

impl Engine {
    /// The route rules, in policy order (the first that matches decides).
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.routes.rules.iter().enumerate().map(|(index, rule)| self.rule_info(index, rule))
    }

    fn rule_info<'e>(&'e self, index: usize, rule: &'e Rule) -> RuleInfo<'e> {
        let methods = match &rule.methods {
            Methods::Any => None,
            Methods::Only(ms) => Some(ms.as_slice()),
        };
        let (access, require, require_any, authenticators) = match &rule.access {
            Access::Public => (RuleAccess::Public, &[][..], &[][..], None),
            Access::Deny => (RuleAccess::Deny, &[][..], &[][..], None),
            Access::Authenticated(r) => {
                let ids = r.authenticators.as_ref().map(|list| {
                    list.iter().filter_map(|&i| self.authenticators.get(i).map(|a| &*a.id)).collect::<Vec<_>>()
                });
                (RuleAccess::Authenticated, r.all_names.as_slice(), r.any_names.as_slice(), ids)
            }
        };
        RuleInfo {
            index,
            name: &rule.name,
            methods,
            patterns: rule.patterns.iter().map(Pattern::text).collect(),
            catch_all: rule.patterns.iter().any(is_catch_all),
            access,
            require,
            require_any,
            authenticators,
            dry_run: rule.dry_run,
        }
    }

    /// The rule that decides `method` on the request target `target` (percent-encoded,
    /// a query ignored), with the pattern that matched; `None` when no rule matches (a
    /// decision would say `no_route`). A target the policy's `[paths]` refuses is the
    /// [`PathError`] a decision would report as `malformed_request`. No credential, no
    /// CORS and no limit other than the path's is looked at.
    pub fn match_route(&self, method: &str, target: &str) -> Result<Option<RouteMatch<'_>>, PathError> {
        if target.len() > self.max_path {
            return Err(PathError::TooLong);
        }
        let path = canonicalize_with(target, &self.paths)?;
        let Some((rule, pattern)) = self.routes.find(method, &path) else {
            return Ok(None);
        };
        let index = self.routes.rules.iter().position(|r| std::ptr::eq(r, rule)).unwrap_or_default();
        Ok(Some(RouteMatch { index, name: &rule.name, pattern: pattern.text(), catch_all: is_catch_all(pattern) }))
    }

    /// True when the policy has a `[cors]` table: the engine then answers preflights
    /// and adds the `Access-Control-Allow-*` headers itself, so a host must not add
    /// another CORS layer (the headers would be sent twice).
    pub fn has_cors(&self) -> bool {
        self.cors.is_some()
    }

    /// The enabled `jwt` authenticators, in policy order, with their issuer and
    /// audiences.
    pub fn jwt_authenticators(&self) -> impl Iterator<Item = JwtInfo<'_>> {
        self.authenticators.iter().filter_map(|a| match &a.kind {
            AuthnKind::Jwt(j) => {
                Some(JwtInfo { id: &a.id, issuer: j.issuer.as_deref(), audience: j.audience.as_slice() })
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, MapResolver};

    const POLICY: &str = r#"
        scopes = ["items:read", "items:write"]
        [roles.reader]
        scopes = ["items:read"]

        [[authenticators]]
        type = "jwt"
        id = "idp"
        algorithms = ["HS256"]
        secret = { env = "JWT_SECRET" }
        issuer = "https://auth.example.com"
        audience = ["api", "other"]

        [[authenticators]]
        type = "api_key"
        id = "keys"
        keys = [{ id = "ci", sha256 = "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5", roles = ["reader"] }]

        [[routes]]
        id = "health"
        methods = ["GET"]
        path = "/health"
        public = true

        [[routes]]
        id = "read"
        methods = ["GET"]
        paths = ["/items/{id}", "/caf\u00e9"]
        require = ["items:read"]
        authenticators = ["keys"]

        [[routes]]
        methods = ["POST"]
        path = "/items/*/x"
        require_any = ["items:write", "items:read"]
        dry_run = true

        [[routes]]
        id = "env"
        path = "/env"
        deny = true

        [[routes]]
        id = "rest"
        methods = ["GET"]
        path = "/**"
        require = ["items:read"]
    "#;

    fn engine(extra: &str) -> Engine {
        let mut env = MapResolver::default();
        env.env.insert("JWT_SECRET".into(), "0123456789abcdef0123456789abcdef".into());
        Engine::from_toml(&format!("{POLICY}\n{extra}"), &env).unwrap()
    }

    #[test]
    fn rules_are_described_in_policy_order() {
        let e = engine("");
        let rules: Vec<_> = e.rules().collect();
        assert_eq!(rules.len(), 5);
        let names: Vec<&str> = rules.iter().map(|r| r.name).collect();
        assert_eq!(names, ["health", "read", "POST /items/*/x", "env", "rest"]);
        assert_eq!(rules[0].access.as_str(), "public");
        assert_eq!(rules[0].methods, Some(&["GET".to_owned(), "HEAD".to_owned()][..]));
        assert_eq!(rules[0].patterns, ["/health"]);
        assert!(!rules[0].catch_all && rules[0].require.is_empty());
        assert_eq!(rules[1].patterns, ["/items/{id}", "/caf%C3%A9"]);
        assert_eq!(rules[1].require, ["items:read"]);
        assert_eq!(rules[1].authenticators, Some(vec!["keys"]));
        assert_eq!(rules[2].require_any, ["items:write", "items:read"]);
        assert!(rules[2].dry_run && rules[2].authenticators.is_none());
        assert_eq!(rules[3].access.as_str(), "deny");
        assert_eq!(rules[3].methods, None);
        assert!(rules[4].catch_all);
        assert_eq!(rules[4].patterns, ["/**"]);
        assert_eq!(rules[4].index, 4);
    }

    #[test]
    fn match_route_names_the_rule_and_pattern_that_decide() {
        let e = engine("");
        let m = e.match_route("GET", "/items/7?x=1").unwrap().unwrap();
        assert_eq!((m.index, m.name, m.pattern.as_str(), m.catch_all), (1, "read", "/items/{id}", false));
        let m = e.match_route("GET", "/caf%C3%A9").unwrap().unwrap();
        assert_eq!(m.name, "read");
        let m = e.match_route("GET", "/anything/else").unwrap().unwrap();
        assert_eq!((m.name, m.catch_all), ("rest", true));
        assert!(e.match_route("DELETE", "/items/7").unwrap().is_none());
        assert_eq!(e.match_route("DELETE", "/env").unwrap().unwrap().name, "env");
        assert!(e.match_route("GET", "/items/").is_err());
        assert!(e.match_route("GET", "/a/../b").is_err());
        assert!(e.match_route("GET", "items").is_err());
        assert!(e.match_route("GET", &format!("/{}", "a".repeat(9000))).is_err());
        // The same rule a decision reports.
        let d = e.decide(&crate::Request { method: "GET", path: "/x/y", headers: &[], peer: None, now: 0 });
        assert_eq!(d.rule.as_deref(), Some("rest"));
    }

    #[test]
    fn cors_and_jwt_authenticators() {
        let e = engine("");
        assert!(!e.has_cors());
        let jwts: Vec<_> = e.jwt_authenticators().collect();
        assert_eq!(jwts.len(), 1);
        assert_eq!(jwts[0].id, "idp");
        assert_eq!(jwts[0].issuer, Some("https://auth.example.com"));
        assert_eq!(jwts[0].audience, ["api", "other"]);
        let e = engine("[cors]\norigins = [\"https://app.example.com\"]");
        assert!(e.has_cors());
    }

    #[test]
    fn a_policy_without_rules_describes_none() {
        let e = Engine::from_toml("", &MapResolver::default()).unwrap();
        assert_eq!(e.rules().count(), 0);
        assert!(e.match_route("GET", "/").unwrap().is_none());
        assert_eq!(e.jwt_authenticators().count(), 0);
        let root = Engine::from_toml("[[routes]]\npath = \"/\"\npublic = true", &MapResolver::default()).unwrap();
        let r: Vec<_> = root.rules().collect();
        assert_eq!((r[0].patterns.as_slice(), r[0].catch_all), (&["/".to_owned()][..], false));
    }
}
