//! Route rules, compiled: patterns split into segments and indexed by their first
//! literal segment. The first rule in the policy that matches decides.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::path::{canonical_pattern_segment, decode_segment, segments};
use crate::policy::{PathsSpec, TrailingSlash};
use crate::scopes::ScopeSet;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// Must equal this canonical segment.
    Lit(String),
    /// `{name}`: any one segment, captured.
    Param(String),
    /// `*`: any one segment.
    Any,
    /// `**`: any rest, including none; only last.
    Tail,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub segs: Vec<Seg>,
}

impl Pattern {
    /// Parses a pattern; the error says why it could never match.
    pub fn parse(text: &str, rules: &PathsSpec) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("pattern `{text}` must start with `/`"));
        }
        if text.contains(['?', '#']) {
            return Err(format!("pattern `{text}` has a query or fragment; patterns match paths only"));
        }
        let raw: Vec<&str> = text.split('/').skip(1).collect();
        let count = raw.len();
        let mut segs = Vec::new();
        for (i, s) in raw.into_iter().enumerate() {
            let last = i + 1 == count;
            if s.is_empty() {
                if last && count == 1 {
                    continue; // the root, `/`
                }
                if last && rules.trailing_slash == TrailingSlash::Strip {
                    continue; // a trailing slash: canonical paths have none
                }
                if last {
                    return Err(format!(
                        "pattern `{text}` ends with `/`, and request paths that do are refused; write it without, or set `[paths] trailing_slash = \"strip\"`"
                    ));
                }
                return Err(format!("pattern `{text}` has an empty segment (`//`), which no canonical path has"));
            }
            let seg = if s == "**" {
                if !last {
                    return Err(format!("pattern `{text}`: `**` may only be the last segment"));
                }
                Seg::Tail
            } else if s == "*" {
                Seg::Any
            } else if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "pattern `{text}`: parameter `{{{name}}}` needs a name of letters, digits and `_`"
                    ));
                }
                Seg::Param(name.to_owned())
            } else if s.contains(['{', '}', '*']) {
                return Err(format!("pattern `{text}`: `{{`, `}}` and `*` must fill a whole segment"));
            } else {
                match canonical_pattern_segment(s, rules) {
                    Some(c) => Seg::Lit(c),
                    None => {
                        return Err(format!(
                            "pattern `{text}`: segment `{s}` can never match a canonical path (`.`, `..` and bad escapes are resolved first)"
                        ));
                    }
                }
            };
            segs.push(seg);
        }
        let mut names: Vec<&str> = segs
            .iter()
            .filter_map(|s| match s {
                Seg::Param(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        if names.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
            return Err(format!("pattern `{text}` names a parameter twice"));
        }
        Ok(Pattern { segs })
    }

    fn first_literal(&self) -> Option<&str> {
        match self.segs.first() {
            Some(Seg::Lit(l)) => Some(l),
            _ => None,
        }
    }

    /// True when a path split into its segments matches.
    fn matches_segments(&self, parts: &[&str]) -> bool {
        let mut parts = parts.iter();
        for seg in &self.segs {
            match seg {
                Seg::Tail => return true,
                Seg::Lit(l) => {
                    if parts.next().is_none_or(|p| *p != l.as_str()) {
                        return false;
                    }
                }
                Seg::Param(_) | Seg::Any => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// True when the canonical path matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = segments(path);
        for seg in &self.segs {
            match seg {
                Seg::Tail => return true,
                Seg::Lit(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
                Seg::Param(_) | Seg::Any => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The pattern as text, from its compiled segments (literals in canonical form).
    pub fn text(&self) -> String {
        if self.segs.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::new();
        for seg in &self.segs {
            out.push('/');
            match seg {
                Seg::Lit(l) => out.push_str(l),
                Seg::Param(n) => {
                    out.push('{');
                    out.push_str(n);
                    out.push('}');
                }
                Seg::Any => out.push('*'),
                Seg::Tail => out.push_str("**"),
            }
        }
        out
    }

    /// Why the canonical path does not match, or `None` when it does: the same walk as
    /// [`Pattern::matches`], naming the first segment that fails (for `explain`).
    pub fn mismatch(&self, path: &str) -> Option<String> {
        let mut parts = segments(path);
        for (i, seg) in self.segs.iter().enumerate() {
            let n = i + 1;
            match seg {
                Seg::Tail => return None,
                Seg::Lit(l) => match parts.next() {
                    None => return Some(format!("the path ends before segment {n} (`{l}`)")),
                    Some(p) if p != l.as_str() => return Some(format!("segment {n} is `{p}`, not `{l}`")),
                    Some(_) => {}
                },
                Seg::Param(_) | Seg::Any => {
                    if parts.next().is_none() {
                        return Some(format!("the path ends before segment {n}"));
                    }
                }
            }
        }
        if parts.next().is_some() {
            return Some(format!("the path has more segments than the pattern's {}", self.segs.len()));
        }
        None
    }

    /// The decoded value of parameter `name` in a path this pattern matches.
    pub fn param<'a>(&self, path: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        let mut parts = segments(path);
        for seg in &self.segs {
            let part = parts.next()?;
            if let Seg::Param(n) = seg {
                if n == name {
                    return Some(decode_segment(part));
                }
            }
        }
        None
    }

    /// Names of the parameters.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// True when every path this pattern's `other` matches, `self` matches too.
    pub fn covers(&self, other: &Pattern) -> bool {
        let mut theirs = other.segs.iter();
        for mine in &self.segs {
            if *mine == Seg::Tail {
                return true;
            }
            let Some(t) = theirs.next() else {
                return false;
            };
            let ok = match (mine, t) {
                (_, Seg::Tail) => false,
                (Seg::Lit(a), Seg::Lit(b)) => a == b,
                (Seg::Lit(_), _) => false,
                (Seg::Param(_) | Seg::Any, _) => true,
                (Seg::Tail, _) => true,
            };
            if !ok {
                return false;
            }
        }
        theirs.next().is_none()
    }
}

/// The methods a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Methods {
    /// Any method.
    Any,
    /// These methods (`GET` brings `HEAD`).
    Only(Vec<String>),
}

impl Methods {
    pub fn parse(list: &[String]) -> Result<Self, String> {
        if list.is_empty() || list.iter().any(|m| m == "*") {
            if list.len() > 1 {
                return Err("`*` already means every method".into());
            }
            return Ok(Methods::Any);
        }
        // Sorted as `&str`, the one slice sort the core instantiates (a smaller .wasm).
        let mut out: Vec<&str> = Vec::new();
        for m in list {
            if !is_method_token(m) {
                return Err(format!("`{m}` is not a method name"));
            }
            if m.bytes().any(|b| b.is_ascii_lowercase()) {
                return Err(format!("method `{m}` must be written in upper case (methods are case-sensitive)"));
            }
            out.push(m);
            if m == "GET" && !list.iter().any(|x| x == "HEAD") {
                out.push("HEAD");
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(Methods::Only(out.into_iter().map(str::to_owned).collect()))
    }

    pub fn contains(&self, method: &str) -> bool {
        match self {
            Methods::Any => true,
            Methods::Only(ms) => ms.iter().any(|m| m == method),
        }
    }

    fn covers(&self, other: &Methods) -> bool {
        match (self, other) {
            (Methods::Any, _) => true,
            (Methods::Only(_), Methods::Any) => false,
            (Methods::Only(a), Methods::Only(b)) => b.iter().all(|m| a.contains(m)),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Methods::Any => "*".to_owned(),
            Methods::Only(ms) => {
                // `HEAD` comes with `GET`; name it only when it was asked for alone.
                let implied = ms.iter().any(|m| m == "GET");
                ms.iter().filter(|m| !(implied && *m == "HEAD")).cloned().collect::<Vec<_>>().join(",")
            }
        }
    }
}

/// RFC 9110 `token`: what a method may be made of.
pub fn is_method_token(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 32
        && m.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// What a rule lets through.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    Public,
    Deny,
    Authenticated(Box<Requirement>),
}

/// What an authenticated request must bring.
#[derive(Debug, Clone, Default)]
pub(crate) struct Requirement {
    pub all: ScopeSet,
    pub all_names: Vec<String>,
    pub any: ScopeSet,
    pub any_names: Vec<String>,
    /// Indexes of the authenticators allowed on this rule; `None` for all.
    pub authenticators: Option<Vec<usize>>,
    pub owner: Option<Owner>,
}

/// An ownership limit.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub param: Option<String>,
    pub unless: ScopeSet,
    pub unless_names: Vec<String>,
    pub constraint: String,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: Arc<str>,
    pub methods: Methods,
    pub patterns: Vec<Pattern>,
    pub access: Access,
    pub dry_run: bool,
}

/// FNV-1a, for the route index: short keys, a table fixed at load (nothing a client
/// sends is ever inserted, so there is no flooding to defend against).
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type SegmentIndex = HashMap<String, Vec<(usize, usize)>, BuildHasherDefault<Fnv>>;

/// The most segments a path is split into on the stack for matching.
const SPLIT_SEGMENTS: usize = 16;

/// All rules, with an index by first literal segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteTable {
    pub(crate) rules: Vec<Rule>,
    /// (rule, pattern) pairs by the pattern's first literal segment.
    by_first: SegmentIndex,
    /// (rule, pattern) pairs whose pattern starts with a parameter, `*`, `**`, or is `/`.
    open: Vec<(usize, usize)>,
}

impl RouteTable {
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut by_first = SegmentIndex::default();
        let mut open = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            for (pi, p) in rule.patterns.iter().enumerate() {
                match p.first_literal() {
                    Some(l) => by_first.entry(l.to_owned()).or_default().push((ri, pi)),
                    None => open.push((ri, pi)),
                }
            }
        }
        Self { rules, by_first, open }
    }

    /// The first rule (in policy order) whose methods and a pattern match.
    pub fn find(&self, method: &str, path: &str) -> Option<(&Rule, &Pattern)> {
        // The path split once, on the stack, for every pattern tried; a path of more
        // segments than that is matched by each pattern from its text.
        let mut buf: [&str; SPLIT_SEGMENTS] = [""; SPLIT_SEGMENTS];
        let mut n = 0;
        let mut split = true;
        for seg in segments(path) {
            match buf.get_mut(n) {
                Some(slot) => *slot = seg,
                None => {
                    split = false;
                    break;
                }
            }
            n += 1;
        }
        let parts = buf.get(..n).unwrap_or_default();
        let matches = |p: &Pattern| if split { p.matches_segments(parts) } else { p.matches(path) };
        let first = parts.first().copied();
        let bucket: &[(usize, usize)] = first.and_then(|f| self.by_first.get(f)).map_or(&[], Vec::as_slice);
        // Walk both lists in rule order; each is sorted by construction.
        let (mut a, mut b) = (bucket.iter().peekable(), self.open.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x <= y {
                        a.next()
                    } else {
                        b.next()
                    }
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => return None,
            };
            let &(ri, pi) = next?;
            let Some(rule) = self.rules.get(ri) else { continue };
            let Some(p) = rule.patterns.get(pi) else { continue };
            if rule.methods.contains(method) && matches(p) {
                return Some((rule, p));
            }
        }
    }

    /// For each rule that an earlier rule hides completely: (hidden, hiding).
    pub fn hidden_rules(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (j, later) in self.rules.iter().enumerate() {
            let hider = (0..j).find(|&i| {
                self.rules.get(i).is_some_and(|earlier| {
                    earlier.methods.covers(&later.methods)
                        && later.patterns.iter().all(|lp| earlier.patterns.iter().any(|ep| ep.covers(lp)))
                })
            });
            if let Some(i) = hider {
                out.push((j, i));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s, &PathsSpec::default()).unwrap()
    }

    #[test]
    fn patterns_match_canonical_paths() {
        // Split once or read from the text, a pattern answers the same, for paths of 0 to
        // 20 segments (beyond the 16 split on the stack).
        let patterns =
            ["/", "/a", "/a/{x}", "/a/*/c", "/a/**", "/**", "/{x}/b/**", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"];
        let letters =
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"];
        for n in 0..=20 {
            for shift in 0..3 {
                let segs: Vec<&str> = (0..n).map(|i| letters[(i + shift * (i % 2)) % letters.len()]).collect();
                let path = format!("/{}", segs.join("/"));
                for text in patterns {
                    let pat = p(text);
                    assert_eq!(pat.matches_segments(&segs), pat.matches(&path), "{text} on {path}");
                }
            }
        }
        assert!(p("/api/v1/artifacts/{id}").matches("/api/v1/artifacts/42"));
        assert!(!p("/api/v1/artifacts/{id}").matches("/api/v1/artifacts"));
        assert!(!p("/api/v1/artifacts/{id}").matches("/api/v1/artifacts/42/x"));
        assert!(p("/api/**").matches("/api"));
        assert!(p("/api/**").matches("/api/a/b/c"));
        assert!(!p("/api/**").matches("/apix"));
        assert!(p("/**").matches("/"));
        assert!(p("/").matches("/"));
        assert!(!p("/").matches("/a"));
        assert!(p("/a/*/c").matches("/a/b/c"));
        let strip = PathsSpec { trailing_slash: TrailingSlash::Strip, ..PathsSpec::default() };
        assert!(Pattern::parse("/health/", &strip).unwrap().matches("/health"));
        assert!(p("/caf\u{e9}").matches("/caf%C3%A9"));
        assert!(p("/%7Euser").matches("/~user"));
    }

    #[test]
    fn mismatch_explains_exactly_the_paths_that_do_not_match() {
        let patterns = ["/", "/a", "/a/{x}", "/a/*/c", "/a/**", "/**", "/{x}/b/**", "/a/b/c"];
        let letters = ["a", "b", "c"];
        for n in 0..=4 {
            for k in 0..3usize.pow(n) {
                let segs: Vec<&str> = (0..n).map(|i| letters[(k / 3usize.pow(i)) % 3]).collect();
                let path = format!("/{}", segs.join("/"));
                for text in patterns {
                    let pat = p(text);
                    assert_eq!(pat.mismatch(&path).is_none(), pat.matches(&path), "{text} on {path}");
                    assert_eq!(pat.text(), text);
                }
            }
        }
        assert_eq!(p("/a/b").mismatch("/a/c").as_deref(), Some("segment 2 is `c`, not `b`"));
        assert_eq!(p("/a/{x}").mismatch("/a").as_deref(), Some("the path ends before segment 2"));
        assert_eq!(p("/a").mismatch("/a/b").as_deref(), Some("the path has more segments than the pattern's 1"));
    }

    #[test]
    fn parameters_are_decoded() {
        let pat = p("/jobs/{owner}/{job}");
        assert_eq!(pat.param("/jobs/bob%40x/7", "owner").as_deref(), Some("bob@x"));
        assert_eq!(pat.param("/jobs/bob/7", "job").as_deref(), Some("7"));
        assert_eq!(pat.param("/jobs/bob/7", "nope"), None);
    }

    #[test]
    fn patterns_that_cannot_match_are_errors() {
        for bad in [
            "api", "/a//b", "/a/**/b", "/a/../b", "/a/./b", "/a?x=1", "/{}", "/{a-b}", "/a{b}", "/x*", "/a/%zz",
            "/{a}/{a}", "/health/", "/a%2Fb", "/a%00",
        ] {
            assert!(Pattern::parse(bad, &PathsSpec::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage() {
        assert!(p("/api/**").covers(&p("/api/v1/x")));
        assert!(p("/api/**").covers(&p("/api/**")));
        assert!(p("/api/{id}").covers(&p("/api/x")));
        assert!(!p("/api/x").covers(&p("/api/{id}")));
        assert!(!p("/api/{id}").covers(&p("/api/**")));
        assert!(!p("/api").covers(&p("/api/x")));
    }

    #[test]
    fn methods() {
        let m = Methods::parse(&["GET".into()]).unwrap();
        assert!(m.contains("GET") && m.contains("HEAD") && !m.contains("get") && !m.contains("POST"));
        assert!(Methods::parse(&[]).unwrap().contains("PATCH"));
        assert!(Methods::parse(&["get".into()]).is_err());
        assert!(Methods::parse(&["GE T".into()]).is_err());
        assert!(Methods::parse(&["*".into(), "GET".into()]).is_err());
    }

    fn rule(name: &str, methods: &[&str], pats: &[&str]) -> Rule {
        Rule {
            name: name.into(),
            methods: Methods::parse(&methods.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap(),
            patterns: pats.iter().map(|s| p(s)).collect(),
            access: Access::Public,
            dry_run: false,
        }
    }

    #[test]
    fn first_matching_rule_wins_across_index_buckets() {
        let t = RouteTable::new(vec![
            rule("a", &["GET"], &["/api/v1/x"]),
            rule("b", &["*"], &["/**"]),
            rule("c", &["GET"], &["/api/**"]),
        ]);
        assert_eq!(&*t.find("GET", "/api/v1/x").unwrap().0.name, "a");
        assert_eq!(&*t.find("GET", "/api/v1/y").unwrap().0.name, "b");
        assert_eq!(&*t.find("DELETE", "/api/v1/x").unwrap().0.name, "b");
        assert_eq!(t.hidden_rules(), vec![(2, 1)]);
        let t = RouteTable::new(vec![rule("a", &["GET"], &["/a"])]);
        assert!(t.find("GET", "/b").is_none());
        assert!(t.find("POST", "/a").is_none());
    }
}
