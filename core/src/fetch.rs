//! The rules a host follows when it fetches a `jwks_url`, written once for every host.
//!
//! The core does no I/O: the CLI, `admit serve` and the Python, WASM and C hosts fetch.
//! They all take their limits, their URL check and their timing from here, so an issuer
//! that is slow, down or hostile is treated the same way everywhere. `docs/policy.md`
//! (section "Fetching a key set") is the reference for operators.
//!
//! - Only `https://`, or `http://` to a loopback address (an issuer on this machine, a
//!   test). No user info, no fragment.
//! - A fetch gives up after [`TIMEOUT_SECS`]; a body over [`MAX_BYTES`] is refused.
//! - A set is kept for its `Cache-Control` max-age ([`max_age`]), [`DEFAULT_MAX_AGE`]
//!   without one, and refreshed before it goes stale ([`refresh_after`]).
//! - A failed fetch, an HTTP error or a body the engine refuses changes nothing: the last
//!   good set stays in force, and the next try backs off ([`retry_after`]).
//! - A decision that says `unknown_key` may trigger one fetch, at most once per
//!   [`UNKNOWN_KEY_INTERVAL_SECS`] per URL, so a flood of forged `kid`s cannot become a
//!   flood of fetches.

/// How long one fetch may take, connection included, in seconds.
pub const TIMEOUT_SECS: u64 = 5;
/// The largest key set body taken: 1 MiB.
pub const MAX_BYTES: usize = 1 << 20;
/// How long a set is kept when the response says nothing, in seconds (Envoy's
/// `remote_jwks` keeps a set 5 minutes by default).
pub const DEFAULT_MAX_AGE: u64 = 300;
/// The earliest background refresh after a good fetch, in seconds.
pub const MIN_REFRESH_SECS: u64 = 60;
/// The latest background refresh after a good fetch, in seconds: an issuer's long
/// max-age does not stop a rotated set from being seen within the hour.
pub const MAX_REFRESH_SECS: u64 = 3600;
/// The first retry after a failed fetch, in seconds; each further failure doubles it.
pub const RETRY_MIN_SECS: u64 = 1;
/// The longest wait between retries, in seconds.
pub const RETRY_MAX_SECS: u64 = 300;
/// The least time between two fetches caused by `unknown_key` decisions, per URL.
pub const UNKNOWN_KEY_INTERVAL_SECS: u64 = 30;
/// The longest `jwks_url`.
pub const MAX_URL_BYTES: usize = 2048;

/// Checks a `jwks_url`: `https://`, or `http://` to a loopback host; an explicit host;
/// no user info, fragment, spaces or control characters. The message quotes no part of
/// the URL (its query may hold a token).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("a jwks_url is at most {MAX_URL_BYTES} bytes"));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("a jwks_url has no spaces or control characters".to_owned());
    }
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("a jwks_url starts with `https://` (or `http://` for an issuer on a loopback address)".to_owned());
    };
    if url.contains('#') {
        return Err("a jwks_url has no fragment (`#...`)".to_owned());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("a jwks_url carries no user name or password".to_owned());
    }
    let host = host_of(authority).ok_or_else(|| "a jwks_url names a host (`https://issuer.example/...`)".to_owned())?;
    if !secure && !is_loopback(host) {
        return Err(
            "a jwks_url uses `https://`; plain `http://` only to a loopback address (127.0.0.1, [::1], localhost)"
                .to_owned(),
        );
    }
    Ok(())
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`), `None` when empty or
/// when the port is not a number.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        (v6.get(..end)?, v6.get(end + 1..)?.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    (!host.is_empty()).then_some(host)
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
fn is_loopback(host: &str) -> bool {
    // Only the name itself: a subdomain of `localhost` is up to the resolver.
    if host == "localhost" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The freshness lifetime a `Cache-Control` value gives, in seconds: `s-maxage` or
/// `max-age`; 0 for `no-cache` or `no-store`; `None` when it says nothing about it.
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("s-maxage") || (name.eq_ignore_ascii_case("max-age") && age.is_none()) {
            if let Some(n) = value.and_then(|v| v.parse::<u64>().ok()) {
                age = Some(n);
            }
        }
    }
    age
}

/// Seconds from a good fetch to the next background refresh: 90% of the set's max-age
/// ([`DEFAULT_MAX_AGE`] without one), within [`MIN_REFRESH_SECS`] and
/// [`MAX_REFRESH_SECS`]. A host may take up to a tenth off at random (jitter), so that
/// replicas do not fetch in step.
pub fn refresh_after(cache_control: Option<&str>) -> u64 {
    let age = cache_control.and_then(max_age).unwrap_or(DEFAULT_MAX_AGE);
    (age.saturating_mul(9) / 10).clamp(MIN_REFRESH_SECS, MAX_REFRESH_SECS)
}

/// Seconds to wait after `failures` failed fetches in a row (1 or more):
/// [`RETRY_MIN_SECS`] doubled for each failure after the first, at most
/// [`RETRY_MAX_SECS`]. A host may wait anywhere in the upper half of it (jitter).
pub fn retry_after(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(32);
    RETRY_MIN_SECS.saturating_mul(1u64 << doublings).min(RETRY_MAX_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_https_or_loopback_http() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "https://issuer.example:8443/jwks?tenant=a",
            "http://127.0.0.1:8080/jwks.json",
            "http://127.9.9.9/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost:9000/jwks",
            "HTTPS://Issuer.Example/jwks",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "http://app.localhost/jwks",
            "ftp://issuer.example/jwks",
            "file:///etc/passwd",
            "/jwks.json",
            "https:///jwks",
            "https://user:pass@issuer.example/jwks",
            "https://issuer.example/jwks#frag",
            "https://issuer.example/a b",
            "https://issuer.example:abc/jwks",
            "https://[::1/jwks",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(MAX_URL_BYTES))).is_err());
        let e = check_url("https://user:secret-token@issuer.example/").unwrap_err();
        assert!(!e.contains("secret-token"));
    }

    #[test]
    fn cache_control() {
        assert_eq!(max_age("max-age=600"), Some(600));
        assert_eq!(max_age("public, max-age=\"120\", must-revalidate"), Some(120));
        assert_eq!(max_age("max-age=600, s-maxage=60"), Some(60));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("max-age=600, no-cache"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=-1"), None);
        assert_eq!(max_age("max-age=99999999999999999999999"), None);
        assert_eq!(refresh_after(None), 270);
        assert_eq!(refresh_after(Some("max-age=0")), MIN_REFRESH_SECS);
        assert_eq!(refresh_after(Some("max-age=1000")), 900);
        assert_eq!(refresh_after(Some("max-age=18446744073709551615")), MAX_REFRESH_SECS);
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        assert_eq!(retry_after(0), 1);
        assert_eq!(retry_after(1), 1);
        assert_eq!(retry_after(2), 2);
        assert_eq!(retry_after(5), 16);
        assert_eq!(retry_after(9), 256);
        assert_eq!(retry_after(10), RETRY_MAX_SECS);
        assert_eq!(retry_after(u32::MAX), RETRY_MAX_SECS);
    }
}
