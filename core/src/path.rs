//! One canonical form for request paths, so that a rule cannot be stepped around with
//! `..`, `//`, `%2e` or case games in percent-encoding, and so that the path admit
//! decides on is the path the host's router matches.
//!
//! Targets that routers read differently are refused by default (`[paths]` in the
//! policy chooses otherwise; `docs/policy.md` 6.3): an encoded `/` or `\`, a `.` or `..`
//! segment (raw or encoded), an empty segment, a trailing `/`, a `#`. Always refused: a
//! raw control character or backslash, an encoded control character (`%00`), and
//! percent-escapes that do not spell UTF-8 (overlong forms included), since routers
//! disagree on every one of them and no browser sends them.
//!
//! The canonical form of what is left (RFC 3986, section 6.2.2):
//! - the query string is dropped;
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every
//!   other escape is kept with upper-case hex, so `%2F` never splits a segment;
//! - bytes outside the URI character set (spaces, non-ASCII) are percent-encoded.

use std::borrow::Cow;

use crate::policy::{DotSegments, EmptySegments, EscapedSlashes, Fragment, PathsSpec, TrailingSlash};

/// Why a path cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// Not an absolute path (`*`, `http://...`, empty).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A raw control character or backslash.
    BadCharacter,
    /// `..` climbs above the root (when dot segments are resolved).
    AboveRoot,
    /// Longer than the policy allows.
    TooLong,
    /// `%2F` or `%5C`: an encoded `/` or `\`.
    EscapedSlash,
    /// A `.` or `..` segment, raw or encoded.
    DotSegment,
    /// An empty segment (`//`).
    EmptySegment,
    /// The path ends with `/`.
    TrailingSlash,
    /// A `#` in the target.
    Fragment,
    /// An encoded control character (`%00` to `%1F`, `%7F`).
    EncodedControl,
    /// Percent-escapes whose bytes are not UTF-8 (overlong forms included).
    NotUtf8,
}

impl PathError {
    /// A short message for the decision.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "request path must start with `/`",
            PathError::BadEscape => "request path has a malformed percent-escape",
            PathError::BadCharacter => "request path has a control character or backslash",
            PathError::AboveRoot => "request path climbs above the root",
            PathError::TooLong => "request path is too long",
            PathError::EscapedSlash => "request path has an encoded `/` or `\\` (`%2F`, `%5C`)",
            PathError::DotSegment => "request path has a `.` or `..` segment",
            PathError::EmptySegment => "request path has an empty segment (`//`)",
            PathError::TrailingSlash => "request path ends with `/`",
            PathError::Fragment => "request target has a fragment (`#`)",
            PathError::EncodedControl => "request path has an encoded control character",
            PathError::NotUtf8 => "request path has percent-escapes that are not UTF-8",
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters that may stand unencoded in a canonical segment (RFC 3986 `pchar`
/// without `%`).
fn is_pchar_plain(b: u8) -> bool {
    is_unreserved(b)
        || matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut String, b: u8) {
    use crate::authn::keys::hex_digit;
    out.push('%');
    out.push(hex_digit(b >> 4).to_ascii_uppercase());
    out.push(hex_digit(b & 15).to_ascii_uppercase());
}

/// True when the path is already canonical, so the common case costs one scan and no
/// allocation.
fn is_canonical(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    if bytes.len() > 1 && bytes.last() == Some(&b'/') {
        return false;
    }
    let mut seg_start = 1;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == b'/' {
            if !segment_is_plain(bytes.get(seg_start..i).unwrap_or_default()) {
                return false;
            }
            seg_start = i + 1;
        } else if !is_pchar_plain(b) {
            return false;
        }
    }
    bytes.len() == 1 || segment_is_plain(bytes.get(seg_start..).unwrap_or_default())
}

fn segment_is_plain(seg: &[u8]) -> bool {
    !seg.is_empty() && seg != b"." && seg != b".."
}

/// Normalises one segment's escapes and characters.
fn canonical_segment(seg: &str, rules: &PathsSpec) -> Result<String, PathError> {
    let bytes = seg.as_bytes();
    let mut out = String::with_capacity(seg.len());
    // Decoded bytes at or above 0x80, checked as UTF-8 at the end of the segment.
    let mut high = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            let decoded = hi << 4 | lo;
            if decoded < 0x20 || decoded == 0x7f {
                return Err(PathError::EncodedControl);
            }
            if matches!(decoded, b'/' | b'\\') && rules.escaped_slashes == EscapedSlashes::Reject {
                return Err(PathError::EscapedSlash);
            }
            high |= decoded >= 0x80;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                push_escaped(&mut out, decoded);
            }
            i += 3;
            continue;
        }
        if b < 0x20 || b == 0x7f || b == b'\\' {
            return Err(PathError::BadCharacter);
        }
        if is_pchar_plain(b) {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
        i += 1;
    }
    if high && decode_bytes(&out).is_err() {
        return Err(PathError::NotUtf8);
    }
    Ok(out)
}

/// The canonical form of a request target's path under the default `[paths]` rules,
/// borrowed when it is already canonical.
pub fn canonicalize(target: &str) -> Result<Cow<'_, str>, PathError> {
    canonicalize_with(target, &PathsSpec::default())
}

/// The canonical form of a request target's path under a policy's `[paths]` rules.
pub fn canonicalize_with<'t>(target: &'t str, rules: &PathsSpec) -> Result<Cow<'t, str>, PathError> {
    let target = match target.find('#') {
        Some(_) if rules.fragment == Fragment::Reject => return Err(PathError::Fragment),
        Some(at) => target.get(..at).unwrap_or(target),
        None => target,
    };
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_canonical(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut segments: Vec<String> = Vec::new();
    // `/` itself is canonical, so an empty segment here is `//` or a trailing `/`.
    let mut raw_segments = path.split('/').skip(1).peekable();
    while let Some(raw) = raw_segments.next() {
        if raw.is_empty() {
            if raw_segments.peek().is_none() {
                if rules.trailing_slash == TrailingSlash::Reject {
                    return Err(PathError::TrailingSlash);
                }
            } else if rules.empty_segments == EmptySegments::Reject {
                return Err(PathError::EmptySegment);
            }
            continue;
        }
        let seg = canonical_segment(raw, rules)?;
        match seg.as_str() {
            "." | ".." if rules.dot_segments == DotSegments::Reject => return Err(PathError::DotSegment),
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            _ => segments.push(seg),
        }
    }
    if segments.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    Ok(Cow::Owned(out))
}

/// The request target for a path that a router has already percent-decoded (ASGI's
/// `scope["path"]`, libmicrohttpd's `url`): every byte that would otherwise be read as
/// syntax or as an escape (`%`, `?`, `#`, and anything outside `pchar`) is encoded, so
/// the engine decides on exactly the segments the router matches, and nothing is
/// decoded twice. `/` stays a separator. The result carries no query.
pub fn target_from_decoded(path: &str) -> Cow<'_, str> {
    if path.bytes().all(|b| b == b'/' || is_pchar_plain(b)) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for &b in path.as_bytes() {
        if b == b'/' || is_pchar_plain(b) {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
    }
    Cow::Owned(out)
}

/// The segments of a canonical path (none for `/`).
pub fn segments(canonical: &str) -> impl Iterator<Item = &str> {
    canonical.split('/').skip(1).filter(|s| !s.is_empty())
}

/// Percent-decodes text whose escapes are well-formed (a canonical segment).
fn decode_bytes(seg: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex_value), bytes.get(i + 2).copied().and_then(hex_value))
            {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out)
}

/// Fully percent-decodes a canonical segment, for comparing a path parameter with a
/// principal's id. Invalid UTF-8 after decoding is kept as the encoded text.
pub fn decode_segment(seg: &str) -> Cow<'_, str> {
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
    match decode_bytes(seg) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(seg),
    }
}

/// A literal segment of a route pattern, put in canonical form. `None` when the segment
/// could never equal a canonical request segment (`.`, `..`, empty, bad escape).
pub fn canonical_pattern_segment(seg: &str, rules: &PathsSpec) -> Option<String> {
    let c = canonical_segment(seg, rules).ok()?;
    if c.is_empty() || c == "." || c == ".." { None } else { Some(c) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of a host whose router normalises (what admit did before `[paths]`).
    const LENIENT: PathsSpec = PathsSpec {
        escaped_slashes: EscapedSlashes::Keep,
        dot_segments: DotSegments::Resolve,
        empty_segments: EmptySegments::Merge,
        trailing_slash: TrailingSlash::Strip,
        fragment: Fragment::Drop,
    };

    fn canon(p: &str) -> Result<String, PathError> {
        canonicalize(p).map(Cow::into_owned)
    }

    fn lenient(p: &str) -> Result<String, PathError> {
        canonicalize_with(p, &LENIENT).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        assert!(matches!(canonicalize("/api/v1/jobs"), Ok(Cow::Borrowed("/api/v1/jobs"))));
        assert!(matches!(canonicalize("/"), Ok(Cow::Borrowed("/"))));
        assert!(matches!(canonicalize("/a?x=1"), Ok(Cow::Borrowed("/a"))));
        assert!(matches!(canonicalize("/?x=/../"), Ok(Cow::Borrowed("/"))));
    }

    #[test]
    fn targets_routers_read_differently_are_refused_by_default() {
        use PathError::*;
        for (p, e) in [
            ("/api/admin%2Fusers", EscapedSlash),
            ("/api/admin%2fusers", EscapedSlash),
            ("/api/admin%5Cusers", EscapedSlash),
            ("/api/admin%5cusers", EscapedSlash),
            ("/api/v1/public/../admin", DotSegment),
            ("/api/v1/jobs/alice/..", DotSegment),
            ("/./a", DotSegment),
            ("/a/.", DotSegment),
            ("/health/%2e%2e/env", DotSegment),
            ("/a/.%2E/b", DotSegment),
            ("/a/%2e", DotSegment),
            ("/..", DotSegment),
            ("/api//admin", EmptySegment),
            ("//", EmptySegment),
            ("/api/admin/", TrailingSlash),
            ("/api/public#/../admin", Fragment),
            ("/a?x=1#f", Fragment),
            ("/a%00b", EncodedControl),
            ("/a%0Ab", EncodedControl),
            ("/a%7f", EncodedControl),
            ("/a%C0%AF", NotUtf8),
            ("/a%C0%AE%C0%AE/b", NotUtf8),
            ("/a%FF", NotUtf8),
            ("/a%E2%82", NotUtf8),
        ] {
            assert_eq!(canon(p), Err(e), "{p}");
        }
    }

    #[test]
    fn always_refused_whatever_the_rules() {
        for p in ["/a\u{0}b", "/a\\b", "/a%00", "/a%1f", "/a%C0%AF", "/a%zz", "api", ""] {
            assert!(canon(p).is_err(), "{p}");
            assert!(lenient(p).is_err(), "{p}");
        }
    }

    #[test]
    fn lenient_rules_resolve_dots_and_merge_slashes() {
        assert_eq!(lenient("/api/v1/public/../admin").unwrap(), "/api/v1/admin");
        assert_eq!(lenient("/api//v1///jobs/").unwrap(), "/api/v1/jobs");
        assert_eq!(lenient("/./a/./b/.").unwrap(), "/a/b");
        assert_eq!(lenient("/a/b/..").unwrap(), "/a");
        assert_eq!(lenient("//").unwrap(), "/");
        assert_eq!(lenient("/a/..").unwrap(), "/");
        assert_eq!(lenient("/health/%2e%2e/api/v1/artifacts").unwrap(), "/api/v1/artifacts");
        assert_eq!(lenient("/a/.%2e/b").unwrap(), "/b");
        assert_eq!(lenient("/jobs/bob%2falice").unwrap(), "/jobs/bob%2Falice");
        assert_eq!(lenient("/a/%2e%2e%2fenv").unwrap(), "/a/..%2Fenv");
        assert_eq!(lenient("/a#frag").unwrap(), "/a");
        assert_eq!(lenient("/.."), Err(PathError::AboveRoot));
        assert_eq!(lenient("/a/../.."), Err(PathError::AboveRoot));
        assert_eq!(lenient("/%2e%2e/etc"), Err(PathError::AboveRoot));
    }

    #[test]
    fn unreserved_escapes_are_decoded_others_normalised() {
        assert_eq!(canon("/%61pi/%7e%41").unwrap(), "/api/~A");
        assert_eq!(canon("/a%3ab").unwrap(), "/a%3Ab");
        assert_eq!(canon("/caf\u{e9}").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/a b").unwrap(), "/a%20b");
        assert_eq!(canon("/100%25").unwrap(), "/100%25");
        assert_eq!(canon("/a%252Fb").unwrap(), "/a%252Fb");
        assert_eq!(canon("/a%23b").unwrap(), "/a%23b");
    }

    #[test]
    fn hostile_paths_are_errors() {
        assert_eq!(canon("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(canon("/a%4"), Err(PathError::BadEscape));
        assert_eq!(canon("/a\u{0}b"), Err(PathError::BadCharacter));
        assert_eq!(canon("/a\\..\\b"), Err(PathError::BadCharacter));
        assert_eq!(canon("api"), Err(PathError::NotAbsolute));
        assert_eq!(canon("*"), Err(PathError::NotAbsolute));
        assert_eq!(canon(""), Err(PathError::NotAbsolute));
        assert_eq!(canon("http://evil/a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn canonicalisation_is_idempotent() {
        for p in ["/a/../b//c/", "/%2e/x%2fy", "/caf\u{e9}/%7e", "/a%3ab/./c"] {
            let once = lenient(p).unwrap();
            assert_eq!(lenient(&once).unwrap(), once);
            assert_eq!(canon(&once).unwrap_or_else(|_| once.clone()), once);
        }
    }

    #[test]
    fn decoded_paths_become_targets_with_the_same_segments() {
        assert!(matches!(target_from_decoded("/api/v1/jobs"), Cow::Borrowed(_)));
        for (decoded, target) in [
            ("/api/admin/users", "/api/admin/users"),
            ("/files/100%", "/files/100%25"),
            ("/a%2Fb", "/a%252Fb"),
            ("/a?b", "/a%3Fb"),
            ("/a#b", "/a%23b"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/a b", "/a%20b"),
            ("/a\\b", "/a%5Cb"),
            ("/a\u{0}b", "/a%00b"),
        ] {
            assert_eq!(target_from_decoded(decoded), target, "{decoded:?}");
        }
        // What the router matched on is what the engine decides on, or it is refused.
        assert_eq!(canon(&target_from_decoded("/a?b")).unwrap(), "/a%3Fb");
        assert_eq!(canon(&target_from_decoded("/files/100%")).unwrap(), "/files/100%25");
        assert_eq!(decode_segment("100%25"), "100%");
        assert_eq!(canon(&target_from_decoded("/a\\b")), Err(PathError::EscapedSlash));
        assert_eq!(canon(&target_from_decoded("/a\u{0}b")), Err(PathError::EncodedControl));
        assert_eq!(canon(&target_from_decoded("/jobs/alice/..")), Err(PathError::DotSegment));
    }

    #[test]
    fn parameters_decode_fully() {
        assert_eq!(decode_segment("alice%40example.com"), "alice@example.com");
        assert_eq!(decode_segment("bob"), "bob");
        assert_eq!(decode_segment("%FF"), "%FF");
    }
}
