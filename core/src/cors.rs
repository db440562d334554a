//! Origins and CORS, as the Fetch standard describes them.

use std::sync::Arc;

use crate::authn::{Denial, single_header};
use crate::request::Request;

/// An allowed-origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginPattern {
    /// `*`: any origin.
    Any,
    /// `scheme://host[:port]` with `host` possibly `*.domain` and `port` possibly `*`.
    Match {
        scheme: String,
        /// Exact host, or the suffix after `*.` (kept with its leading dot).
        host: HostPattern,
        /// `None` for the scheme's default port, `Some(None)` for any port.
        port: PortPattern,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    Exact(String),
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortPattern {
    Default,
    Exact(u16),
    Any,
}

/// A parsed origin: scheme, host and port, lower-cased, default port dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin<'a> {
    scheme: std::borrow::Cow<'a, str>,
    host: std::borrow::Cow<'a, str>,
    port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Splits `host[:port]`, with `[v6]` hosts kept in their brackets.
fn split_host_port(rest: &str) -> Option<(&str, Option<&str>)> {
    if rest.starts_with('[') {
        let end = rest.find(']')?;
        let host = rest.get(..=end)?;
        let after = rest.get(end + 1..)?;
        match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        }
    } else {
        Some(match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        })
    }
}

/// Splits `scheme://host[:port]`; `None` when it is not an origin (paths, users,
/// queries and the opaque `null` are not).
pub(crate) fn parse_origin(text: &str) -> Option<Origin<'_>> {
    let (scheme, rest) = text.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', '\\']) {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    if host.is_empty() {
        return None;
    }
    let scheme = lower(scheme);
    let port = match port {
        Some(p) => explicit_port(p, &scheme)?,
        None => None,
    };
    Some(Origin { scheme, host: lower(host), port })
}

/// A `:port` written after a host, for `scheme`: `Some(None)` for the scheme's default
/// port (the same as none), `Some(Some(n))` for another, `None` when it is not a port
/// (empty, not all digits, above 65535).
fn explicit_port(p: &str, scheme: &str) -> Option<Option<u16>> {
    let n: u16 = p.parse().ok().filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
    Some(if default_port(scheme) == Some(n) { None } else { Some(n) })
}

/// True when `origin` names the request's own origin: a same-origin request is not a
/// CORS request (Fetch standard), whatever `[cors]` allows. A browser's `Sec-Fetch-Site`
/// is its own account and decides when present (`same-origin` only; any other value is
/// a cross-origin request even if the names match). Without it, the Origin's host and
/// port must equal the `Host` header's; the scheme cannot be compared, since the
/// request's own scheme is not part of what the engine sees (Go's
/// `CrossOriginProtection` makes the same comparison). A missing or unreadable Host
/// is not the same origin.
pub(crate) fn same_origin(req: &Request<'_>, origin: &str, max_bytes: usize) -> Result<bool, Denial> {
    if let Some(site) = single_header(req, "Sec-Fetch-Site", max_bytes)? {
        return Ok(site.eq_ignore_ascii_case("same-origin"));
    }
    let Some(host) = single_header(req, "Host", max_bytes)? else {
        return Ok(false);
    };
    let Some(origin) = parse_origin(origin) else {
        return Ok(false);
    };
    let Some((name, port)) = split_host_port(host) else {
        return Ok(false);
    };
    let port = match port {
        None => None,
        Some(p) => match explicit_port(p, &origin.scheme) {
            Some(port) => port,
            None => return Ok(false),
        },
    };
    Ok(!name.is_empty() && name.eq_ignore_ascii_case(&origin.host) && port == origin.port)
}

impl OriginPattern {
    /// Parses a pattern as written in a policy.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(OriginPattern::Any);
        }
        let bad =
            || format!("origin `{text}` is not `scheme://host[:port]` (`*.` may start the host, `*` may be the port)");
        let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
            return Err(bad());
        }
        let (host, port) = split_host_port(rest).ok_or_else(bad)?;
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(p) => match explicit_port(p, &scheme).ok_or_else(bad)? {
                None => PortPattern::Default,
                Some(n) => PortPattern::Exact(n),
            },
        };
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ', '\\']) {
            return Err(bad());
        }
        let host = match host.strip_prefix("*.") {
            Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => HostPattern::Subdomain(format!(".{suffix}")),
            Some(_) => return Err(bad()),
            None if host.contains('*') => return Err(bad()),
            None => HostPattern::Exact(host),
        };
        Ok(OriginPattern::Match { scheme, host, port })
    }

    pub(crate) fn matches(&self, origin: &Origin<'_>) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Match { scheme, host, port } => {
                if *scheme != origin.scheme {
                    return false;
                }
                let host_ok = match host {
                    HostPattern::Exact(h) => *h == origin.host,
                    HostPattern::Subdomain(suffix) => {
                        origin.host.len() > suffix.len() && origin.host.ends_with(suffix.as_str())
                    }
                };
                let port_ok = match port {
                    PortPattern::Any => true,
                    PortPattern::Default => origin.port.is_none(),
                    PortPattern::Exact(p) => origin.port == Some(*p),
                };
                host_ok && port_ok
            }
        }
    }
}

/// A list of allowed origins.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginList {
    pub patterns: Vec<OriginPattern>,
}

impl OriginList {
    pub fn allows(&self, origin: &str) -> bool {
        match parse_origin(origin) {
            Some(o) => self.patterns.iter().any(|p| p.matches(&o)),
            None => false,
        }
    }

    pub fn has_any(&self) -> bool {
        self.patterns.contains(&OriginPattern::Any)
    }
}

/// Compiled `[cors]`.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    pub origins: OriginList,
    pub methods: Vec<String>,
    /// Lower-cased.
    pub headers: Vec<String>,
    pub allow_any_header: bool,
    pub credentials: bool,
    pub allow_methods_value: Arc<str>,
    pub allow_headers_value: Option<Arc<str>>,
    pub expose_value: Option<Arc<str>>,
    pub max_age_value: Option<Arc<str>>,
}

/// Headers a browser may send cross-origin without asking (Fetch's CORS-safelisted
/// request headers, by name).
const SAFELISTED: [&str; 4] = ["accept", "accept-language", "content-language", "content-type"];

impl Cors {
    pub fn allows_method(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method) || matches!(method, "GET" | "HEAD" | "POST")
    }

    /// Checks `Access-Control-Request-Headers`; the first header not allowed, if any.
    pub fn disallowed_header<'a>(&self, requested: &'a str) -> Option<&'a str> {
        if self.allow_any_header {
            return None;
        }
        requested.split(',').map(str::trim).filter(|h| !h.is_empty()).find(|h| {
            let l = h.to_ascii_lowercase();
            !self.headers.contains(&l) && !SAFELISTED.contains(&l.as_str())
        })
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    pub fn allow_origin_value(&self, origin: &str) -> Arc<str> {
        if self.origins.has_any() && !self.credentials { Arc::from("*") } else { Arc::from(origin) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ps: &[&str]) -> OriginList {
        OriginList { patterns: ps.iter().map(|p| OriginPattern::parse(p).unwrap()).collect() }
    }

    #[test]
    fn exact_origins_match_case_and_default_port_insensitively() {
        let l = list(&["https://app.example.com"]);
        assert!(l.allows("https://app.example.com"));
        assert!(l.allows("HTTPS://App.Example.com:443"));
        assert!(!l.allows("https://app.example.com:8443"));
        assert!(!l.allows("http://app.example.com"));
        assert!(!l.allows("https://app.example.com.evil.com"));
        assert!(!l.allows("https://evilapp.example.com"));
        assert!(!l.allows("null"));
        assert!(!l.allows("https://app.example.com/"));
        assert!(!l.allows("https://user@app.example.com"));
    }

    #[test]
    fn subdomain_and_port_wildcards() {
        let l = list(&["https://*.example.com", "http://localhost:*"]);
        assert!(l.allows("https://a.example.com"));
        assert!(l.allows("https://a.b.example.com"));
        assert!(!l.allows("https://example.com"));
        assert!(!l.allows("https://aexample.com"));
        assert!(!l.allows("https://a.example.com.evil.org"));
        assert!(l.allows("http://localhost:5173"));
        assert!(l.allows("http://localhost"));
        assert!(!l.allows("http://localhost.evil.org:80"));
    }

    #[test]
    fn ipv6_origins() {
        let l = list(&["http://[::1]:8000"]);
        assert!(l.allows("http://[::1]:8000"));
        assert!(!l.allows("http://[::1]:8001"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for bad in ["example.com", "https://", "https://a.*.com", "https://*", "https://a.com/path", "https://*.*.com"]
        {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
