//! The `local` authenticator: no credential, but the caller must be on this machine, the
//! Host header must name this machine (a DNS-rebinding page sends its own host name),
//! and a browser's Origin must be allowed (a page on another site must not drive the
//! API: CSRF). A browser's `Sec-Fetch-Site` says where a request without an `Origin`
//! comes from (a cross-site `<img>` or navigation GET carries none): `cross-site` is
//! refused, and `same-site` unless the policy allows it.

// Address parsing only: `core::net` has no sockets.
use core::net::{IpAddr, SocketAddr};

use super::{Denial, Identity, single_header};
use crate::cors::OriginList;
use crate::reason::Reason;
use crate::request::Request;

#[derive(Debug)]
pub(crate) struct Local {
    pub identity: Identity,
    /// Lower-cased host names, without port.
    pub hosts: Vec<String>,
    pub origins: OriginList,
    /// Accept `Sec-Fetch-Site: same-site` without an allowed Origin.
    pub same_site: bool,
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(peer: &str) -> bool {
    let text = peer.trim();
    let text = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    // Hosts may hand over `ip:port` (a socket address) rather than the bare address.
    let ip = text.parse::<IpAddr>().ok().or_else(|| peer.trim().parse::<SocketAddr>().ok().map(|s| s.ip()));
    match ip {
        Some(IpAddr::V4(v4)) => v4.is_loopback(),
        Some(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        None => false,
    }
}

/// The host of a Host header, lower-cased, without its port. An IPv6 literal may be
/// followed only by `:port` (`[::1]evil.example` names no host).
fn host_name(value: &str) -> String {
    let v = value.trim();
    let host = if v.starts_with('[') {
        match v.find(']') {
            Some(end) => {
                let rest = v.get(end + 1..).unwrap_or_default();
                let port_only = rest.is_empty()
                    || rest.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                if !port_only {
                    return String::new();
                }
                v.get(..=end).unwrap_or(v)
            }
            None => v,
        }
    } else {
        match v.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => v,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Local {
    pub fn authenticate(&self, req: &Request<'_>, max_bytes: usize) -> Result<Identity, Denial> {
        if !req.peer.is_some_and(is_loopback) {
            return Err(Denial::new(Reason::NotLocal, "caller is not on the loopback interface"));
        }
        let Some(host) = single_header(req, "Host", max_bytes)? else {
            return Err(Denial::new(Reason::NotLocal, "no Host header"));
        };
        let name = host_name(host);
        if !self.hosts.contains(&name) {
            return Err(Denial::new(Reason::NotLocal, "Host header does not name this machine"));
        }
        let origin = single_header(req, "Origin", max_bytes)?;
        if let Some(origin) = origin {
            if !self.origins.allows(origin) {
                return Err(Denial::new(Reason::OriginNotAllowed, "origin not allowed"));
            }
        }
        // An allowed Origin is the policy's own word; without one, the browser's account.
        if origin.is_none() {
            match single_header(req, "Sec-Fetch-Site", max_bytes)? {
                None | Some("same-origin" | "none") => {}
                Some("same-site") if self.same_site => {}
                Some("same-site") => {
                    return Err(Denial::new(Reason::OriginNotAllowed, "same-site request from another origin"));
                }
                Some(_) => return Err(Denial::new(Reason::OriginNotAllowed, "cross-site request")),
            }
        }
        Ok(self.identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for p in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "127.0.0.1:5555", "[::1]:80"] {
            assert!(is_loopback(p), "{p}");
        }
        for p in ["10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "0.0.0.0", "localhost", "", "10.0.0.1:80", "fe80::1"] {
            assert!(!is_loopback(p), "{p}");
        }
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name("LocalHost:8000"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8000"), "[::1]");
        assert_eq!(host_name("localhost."), "localhost");
        assert_eq!(host_name("evil.example:8000"), "evil.example");
        for odd in ["[::1]evil.example", "[::1]:", "[::1]:80x", "[::1].evil", "[::1]@evil"] {
            assert_eq!(host_name(odd), "", "{odd}");
        }
    }
}
