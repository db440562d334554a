//! Credential sources: where an `api_key`, `bearer_token` or `jwt` authenticator finds
//! its credential (a header, with or without a prefix; a cookie; an opted-in query
//! parameter), and the cross-site check a cookie-borne credential needs.
//!
//! Every reader here answers `Ok(None)` when its place holds no credential, the
//! credential when it holds one, and `malformed_request` when what is there cannot be
//! read unambiguously. No message ever holds a credential or a cookie's value.

use std::borrow::Cow;

use super::{ByteClass, Denial, bearer_token, is_b64token, single_header};
use crate::request::Request;

/// One place a credential may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `Authorization: Bearer <token>`, parsed as RFC 6750 section 2.1 says.
    Bearer,
    /// A header; with a prefix, only a value that starts with it (ASCII
    /// case-insensitive) holds a credential, the rest after its spaces.
    Header { name: String, prefix: Option<String> },
    /// A cookie, by its case-sensitive name.
    Cookie(String),
    /// A query parameter of the request target, by its percent-decoded name.
    Query(String),
}

impl Source {
    /// How a message names the place (never its content).
    fn describe(&self) -> String {
        match self {
            Source::Bearer => "the Authorization header".to_owned(),
            Source::Header { name, .. } => format!("the {name} header"),
            Source::Cookie(name) => format!("cookie `{name}`"),
            Source::Query(name) => format!("query parameter `{name}`"),
        }
    }
}

/// What a credential must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Any text without control characters (an API key: it is hashed, never parsed).
    Text,
    /// RFC 6750 `b64token` (a bearer token or a JWT).
    Token,
}

/// An authenticator's sources, in the order written.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    pub list: Vec<Source>,
    /// True when one of them is a cookie.
    pub has_cookie: bool,
    /// The authenticator's id, for the two-places message.
    pub id: String,
}

/// A credential found, and whether it came from a cookie (the browser sends those on
/// its own, so they need the cross-site check).
#[derive(Debug)]
pub(crate) struct Found<'r> {
    pub value: Cow<'r, str>,
    pub from_cookie: bool,
}

impl Sources {
    pub(crate) fn new(id: &str, list: Vec<Source>) -> Self {
        let has_cookie = list.iter().any(|s| matches!(s, Source::Cookie(_)));
        Sources { list, has_cookie, id: id.to_owned() }
    }

    /// The credential in the request, if any. Credentials in two of the sources are
    /// `malformed_request`, equal or not. `bearer` remembers the parsed Bearer header
    /// for the other authenticators of the same request.
    pub(crate) fn find<'r>(
        &self,
        req: &Request<'r>,
        max_bytes: usize,
        syntax: Syntax,
        bearer: &mut Option<Option<&'r str>>,
    ) -> Result<Option<Found<'r>>, Denial> {
        let mut found: Option<(Found<'r>, &Source)> = None;
        for source in &self.list {
            let Some(value) = read(source, req, max_bytes, syntax, bearer)? else { continue };
            if let Some((_, first)) = &found {
                return Err(Denial::malformed(format!(
                    "credentials for `{}` in more than one place: {} and {}",
                    self.id,
                    first.describe(),
                    source.describe()
                )));
            }
            found = Some((Found { value, from_cookie: matches!(source, Source::Cookie(_)) }, source));
        }
        Ok(found.map(|(f, _)| f))
    }
}

fn read<'r>(
    source: &Source,
    req: &Request<'r>,
    max_bytes: usize,
    syntax: Syntax,
    bearer: &mut Option<Option<&'r str>>,
) -> Result<Option<Cow<'r, str>>, Denial> {
    let value: Cow<'r, str> = match source {
        Source::Bearer => {
            let b = match bearer {
                Some(b) => *b,
                None => {
                    let b = bearer_token(req, max_bytes)?;
                    *bearer = Some(b);
                    b
                }
            };
            // RFC 6750 parsing has checked the token syntax already.
            return Ok(b.map(Cow::Borrowed));
        }
        Source::Header { name, prefix } => {
            let Some(v) = single_header(req, name, max_bytes)? else { return Ok(None) };
            match prefix {
                None if v.is_empty() => return Err(Denial::malformed(format!("empty {name} header"))),
                None => Cow::Borrowed(v),
                Some(p) => {
                    // The header's value has lost its trailing spaces (RFC 9110 section
                    // 5.5): `Token ` arrives as `Token`, the prefix with nothing after it.
                    let rest = match strip_prefix_ignore_case(v, p) {
                        Some(rest) => rest,
                        None if v.eq_ignore_ascii_case(p.trim_end()) => "",
                        None => return Ok(None),
                    };
                    let rest = rest.trim_start_matches([' ', '\t']);
                    if rest.is_empty() {
                        return Err(Denial::malformed(format!("{name} header has its prefix and no credential")));
                    }
                    Cow::Borrowed(rest)
                }
            }
        }
        Source::Cookie(name) => match cookie(req, name, max_bytes)? {
            None => return Ok(None),
            Some(v) => Cow::Borrowed(v),
        },
        Source::Query(name) => match query_param(req.path, name)? {
            None => return Ok(None),
            Some(v) if v.is_empty() => return Err(Denial::malformed(format!("empty query parameter `{name}`"))),
            Some(v) => v,
        },
    };
    if syntax == Syntax::Token && !is_b64token(&value) {
        return Err(Denial::malformed(format!("{} has characters outside the token syntax", source.describe())));
    }
    Ok(Some(value))
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { value.get(prefix.len()..) } else { None }
}

/// RFC 6265 `cookie-octet`: printable US-ASCII except DQUOTE, comma, semicolon and
/// backslash (no space either).
static COOKIE_OCTET: ByteClass = ByteClass::alphanumeric_and(b"!#$%&'()*+-./:<=>?@[]^_`{|}~");

/// True for a byte that ends a header value's text: controls other than TAB, and DEL.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 section
/// 5.4: `name=value` pairs separated by `;`, spaces around them ignored; HTTP/2 may
/// send several `Cookie` headers, read as one). A pair without `=` or with an empty
/// name is skipped. `Ok(None)` when the cookie is absent or empty (a cleared cookie is
/// no credential). The cookie twice, an oversize or control-bearing `Cookie` header, or
/// a value outside the `cookie-value` grammar (one pair of double quotes allowed
/// around it) is `malformed_request`.
pub(crate) fn cookie<'r>(req: &Request<'r>, name: &str, max_bytes: usize) -> Result<Option<&'r str>, Denial> {
    let mut found: Option<&'r [u8]> = None;
    for header in req.header_values("Cookie") {
        if header.len() > max_bytes {
            return Err(Denial::malformed(format!("Cookie header is longer than {max_bytes} bytes")));
        }
        if header.iter().fold(false, |c, &b| c | is_control(b)) {
            return Err(Denial::malformed("Cookie header has a control character"));
        }
        for pair in header.split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else { continue };
            let (Some(n), Some(v)) = (pair.get(..eq), pair.get(eq + 1..)) else { continue };
            if trim(n) != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(Denial::malformed(format!("cookie `{name}` is sent more than once")));
            }
            found = Some(trim(v));
        }
    }
    let Some(raw) = found else { return Ok(None) };
    let value = match raw {
        [b'"', inner @ .., b'"'] => inner,
        v => v,
    };
    if !value.iter().fold(true, |ok, &b| ok & COOKIE_OCTET.has(b)) {
        return Err(Denial::malformed(format!("cookie `{name}` has characters outside the cookie-value syntax")));
    }
    if value.is_empty() {
        return Ok(None);
    }
    // Cookie octets are ASCII, so this never fails.
    Ok(std::str::from_utf8(value).ok())
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b' ' && c != b'\t').map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

/// The value of query parameter `name` in a request target (`/path?a=1&b=2`): the part
/// after the first `?` up to a `#`, split on `&`, names and values percent-decoded
/// with `+` as a space (as `application/x-www-form-urlencoded`, which routers use for
/// queries). `Ok(None)` when absent. The parameter twice, a bad escape in its value, or
/// a value that is not UTF-8 text without control characters is `malformed_request`.
pub(crate) fn query_param<'r>(target: &'r str, name: &str) -> Result<Option<Cow<'r, str>>, Denial> {
    let Some((_, query)) = target.split_once('?') else { return Ok(None) };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut found = None;
    for pair in query.split('&') {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        // A name that does not decode cannot be this one.
        if decode(n).as_deref() != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(Denial::malformed(format!("query parameter `{name}` appears more than once")));
        }
        let Some(value) = decode(v) else {
            return Err(Denial::malformed(format!("query parameter `{name}` is not valid percent-encoding")));
        };
        if value.chars().any(char::is_control) {
            return Err(Denial::malformed(format!("query parameter `{name}` has a control character")));
        }
        found = Some(value);
    }
    Ok(found)
}

/// Percent-decodes form-encoded text (`+` is a space); `None` for a bad escape or
/// bytes that are not UTF-8.
fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// True when a name is an RFC 9110 `token` (header and cookie names).
pub(crate) fn is_token(name: &str) -> bool {
    static TCHAR: ByteClass = ByteClass::alphanumeric_and(b"!#$%&'*+-.^_`|~");
    !name.is_empty() && name.bytes().all(|b| TCHAR.has(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    fn req<'a>(path: &'a str, headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
        Request { method: "GET", path, headers, peer: None, now: 0 }
    }

    fn c<'a>(headers: &'a [(&'a [u8], &'a [u8])], name: &str) -> Result<Option<&'a str>, Denial> {
        cookie(&req("/", headers), name, 100)
    }

    #[test]
    fn cookies_are_read_per_rfc_6265() {
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"a=1; s=tok; b=2")];
        assert_eq!(c(h, "s").unwrap(), Some("tok"));
        assert_eq!(c(h, "S").unwrap(), None, "names are case-sensitive");
        let h: &[(&[u8], &[u8])] = &[(b"cookie", b"a=1"), (b"COOKIE", b"s=\"tok\"")];
        assert_eq!(c(h, "s").unwrap(), Some("tok"), "several headers, a quoted value");
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"s ; =x; ;;s2=1;  s = tok  ")];
        assert_eq!(c(h, "s").unwrap(), Some("tok"), "no `=`, empty names and spaces");
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"s=; a=1")];
        assert_eq!(c(h, "s").unwrap(), None, "empty is absent");
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"s=\"\"")];
        assert_eq!(c(h, "s").unwrap(), None);
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"s=a=b")];
        assert_eq!(c(h, "s").unwrap(), Some("a=b"), "the first `=` splits");
        let h: &[(&[u8], &[u8])] = &[(b"Cookie", b"x=\xff\xfe; s=tok")];
        assert_eq!(c(h, "s").unwrap(), Some("tok"), "another cookie's bytes are not read");
        assert_eq!(c(&[], "s").unwrap(), None);
    }

    #[test]
    fn hostile_cookies_are_malformed() {
        let big = [b"s=".as_slice(), &[b'a'; 200]].concat();
        for (h, why) in [
            (&[(&b"Cookie"[..], &b"s=1; s=2"[..])][..], "more than once"),
            (&[(b"Cookie", b"s=1"), (b"Cookie", b"s=1")], "more than once"),
            (&[(b"Cookie", b"s=a b")], "cookie-value"),
            (&[(b"Cookie", b"s=a,b")], "cookie-value"),
            (&[(b"Cookie", b"s=a\\b")], "cookie-value"),
            (&[(b"Cookie", b"s=\"ab")], "cookie-value"),
            (&[(b"Cookie", b"s=\"a\"b\"")], "cookie-value"),
            (&[(b"Cookie", b"s=\xc3\xa9")], "cookie-value"),
            (&[(b"Cookie", b"s=a\x01b")], "control"),
            (&[(b"Cookie", b"x=\x7f; s=a")], "control"),
            (&[(b"Cookie", b"x=\r\n; s=a")], "control"),
            (&[(b"Cookie", &big)], "longer"),
        ] {
            let d = c(h, "s").unwrap_err();
            assert_eq!(d.reason, Reason::MalformedRequest);
            assert!(d.detail.contains(why), "{why}: {}", d.detail);
        }
    }

    #[test]
    fn cookie_octets_are_the_grammar() {
        for b in 0u8..=255 {
            let want = matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
            assert_eq!(COOKIE_OCTET.has(b), want, "{b:#x}");
            // A b64token is always a cookie value.
            assert!(!super::super::B64TOKEN.has(b) || COOKIE_OCTET.has(b), "{b:#x}");
        }
    }

    #[test]
    fn query_parameters() {
        assert_eq!(query_param("/a?t=x", "t").unwrap().as_deref(), Some("x"));
        assert_eq!(query_param("/a?b=1&t=x&c", "t").unwrap().as_deref(), Some("x"));
        assert_eq!(query_param("/a?%74=x%2Dy", "t").unwrap().as_deref(), Some("x-y"));
        assert_eq!(query_param("/a?t=a+b", "t").unwrap().as_deref(), Some("a b"));
        assert_eq!(query_param("/a?t=x#t=y", "t").unwrap().as_deref(), Some("x"));
        assert_eq!(query_param("/a?t", "t").unwrap().as_deref(), Some(""));
        assert_eq!(query_param("/a?tt=x&%zz=1", "t").unwrap(), None);
        assert_eq!(query_param("/a", "t").unwrap(), None);
        assert_eq!(query_param("/a/t=x", "t").unwrap(), None);
        for (target, why) in [
            ("/a?t=1&t=1", "more than once"),
            ("/a?t=1&%74=2", "more than once"),
            ("/a?t=%zz", "percent-encoding"),
            ("/a?t=%f", "percent-encoding"),
            ("/a?t=%ff", "percent-encoding"),
            ("/a?t=%00", "control"),
        ] {
            let d = query_param(target, "t").unwrap_err();
            assert!(d.detail.contains(why), "{target}: {}", d.detail);
        }
    }

    #[test]
    fn two_places_are_malformed_and_never_quote_the_credential() {
        let sources = Sources::new(
            "k",
            vec![
                Source::Header { name: "X-Key".into(), prefix: None },
                Source::Cookie("k".into()),
                Source::Query("k".into()),
            ],
        );
        let h: &[(&[u8], &[u8])] = &[(b"X-Key", b"secret-1"), (b"Cookie", b"k=secret-1")];
        let d = sources.find(&req("/", h), 100, Syntax::Text, &mut None).unwrap_err();
        assert_eq!(d.detail, "credentials for `k` in more than one place: the X-Key header and cookie `k`");
        let d = sources.find(&req("/?k=secret-2", &h[1..]), 100, Syntax::Text, &mut None).unwrap_err();
        assert!(!d.detail.contains("secret"), "{}", d.detail);
        let f = sources.find(&req("/?k=secret-2", &[]), 100, Syntax::Text, &mut None).unwrap().unwrap();
        assert_eq!((&*f.value, f.from_cookie), ("secret-2", false));
        let f = sources.find(&req("/", &h[1..]), 100, Syntax::Text, &mut None).unwrap().unwrap();
        assert_eq!((&*f.value, f.from_cookie), ("secret-1", true));
    }

    #[test]
    fn prefixed_headers() {
        let sources = Sources::new("k", vec![Source::Header { name: "X-Auth".into(), prefix: Some("Token ".into()) }]);
        let find = |v: &'static [u8]| {
            let h: &[(&[u8], &[u8])] = &[(b"X-Auth", v)];
            sources.find(&req("/", h), 100, Syntax::Token, &mut None).map(|f| f.map(|f| f.value.into_owned()))
        };
        assert_eq!(find(b"Token abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(find(b"token   abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(find(b"Bearer abc").unwrap(), None);
        assert_eq!(find(b"Tok").unwrap(), None);
        assert!(find(b"Token ").unwrap_err().detail.contains("no credential"));
        assert!(find(b"Token a b").unwrap_err().detail.contains("token syntax"));
        assert_eq!(find("Tökenabc".as_bytes()).unwrap(), None, "a prefix never splits a character");
    }

    #[test]
    fn names() {
        assert!(is_token("__session"));
        assert!(is_token("X-API-Key"));
        for bad in ["", "a b", "a;b", "a=b", "a\"b", "a,b", "é", "a\tb"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
