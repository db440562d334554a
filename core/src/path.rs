//! One canonical form for request paths, so that a rule cannot be stepped around with
//! `..`, `//`, `%2e` or case games in percent-encoding.
//!
//! The canonical form (RFC 3986, section 6.2.2, plus two gateway rules):
//! - the query string and fragment are dropped;
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every
//!   other escape is kept with upper-case hex, so `%2F` never splits a segment;
//! - bytes outside the URI character set (spaces, non-ASCII) are percent-encoded;
//! - `.` segments are removed and `..` removes the previous segment; a `..` above the
//!   root is malformed;
//! - empty segments (`//`) are removed, and so is a trailing `/`;
//! - a raw control character or backslash is malformed: servers disagree on them.

use std::borrow::Cow;

/// Why a path cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path (`*`, `http://...`, empty).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A control character or backslash.
    BadCharacter,
    /// `..` climbs above the root.
    AboveRoot,
    /// Longer than the policy allows.
    TooLong,
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

/// The path part of a request target: before `?` or `#`.
fn strip_query(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    target.get(..end).unwrap_or(target)
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
fn canonical_segment(seg: &str) -> Result<String, PathError> {
    let bytes = seg.as_bytes();
    let mut out = String::with_capacity(seg.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            let decoded = hi << 4 | lo;
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
    Ok(out)
}

/// The canonical form of a request target's path, borrowed when it is already canonical.
pub fn canonicalize(target: &str) -> Result<Cow<'_, str>, PathError> {
    let path = strip_query(target);
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_canonical(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut segments: Vec<String> = Vec::new();
    for raw in path.split('/').skip(1) {
        if raw.is_empty() {
            continue;
        }
        let seg = canonical_segment(raw)?;
        match seg.as_str() {
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

/// The segments of a canonical path (none for `/`).
pub fn segments(canonical: &str) -> impl Iterator<Item = &str> {
    canonical.split('/').skip(1).filter(|s| !s.is_empty())
}

/// Fully percent-decodes a canonical segment, for comparing a path parameter with a
/// principal's id. Invalid UTF-8 after decoding is kept as the encoded text.
pub fn decode_segment(seg: &str) -> Cow<'_, str> {
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
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
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(seg),
    }
}

/// A literal segment of a route pattern, put in canonical form. `None` when the segment
/// could never equal a canonical request segment (`.`, `..`, empty, bad escape).
pub fn canonical_pattern_segment(seg: &str) -> Option<String> {
    let c = canonical_segment(seg).ok()?;
    if c.is_empty() || c == "." || c == ".." { None } else { Some(c) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(p: &str) -> Result<String, PathError> {
        canonicalize(p).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        assert!(matches!(canonicalize("/api/v1/jobs"), Ok(Cow::Borrowed("/api/v1/jobs"))));
        assert!(matches!(canonicalize("/"), Ok(Cow::Borrowed("/"))));
        assert!(matches!(canonicalize("/a?x=1"), Ok(Cow::Borrowed("/a"))));
    }

    #[test]
    fn dot_segments_and_repeated_slashes_are_resolved() {
        assert_eq!(canon("/api/v1/public/../admin").unwrap(), "/api/v1/admin");
        assert_eq!(canon("/api//v1///jobs/").unwrap(), "/api/v1/jobs");
        assert_eq!(canon("/./a/./b/.").unwrap(), "/a/b");
        assert_eq!(canon("/a/b/..").unwrap(), "/a");
        assert_eq!(canon("//").unwrap(), "/");
        assert_eq!(canon("/a/..").unwrap(), "/");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        assert_eq!(canon("/health/%2e%2e/api/v1/artifacts").unwrap(), "/api/v1/artifacts");
        assert_eq!(canon("/health/%2E%2e/env").unwrap(), "/env");
        assert_eq!(canon("/a/.%2e/b").unwrap(), "/b");
    }

    #[test]
    fn encoded_slash_never_splits_a_segment() {
        assert_eq!(canon("/jobs/bob%2falice").unwrap(), "/jobs/bob%2Falice");
        assert_eq!(canon("/a/%2e%2e%2fenv").unwrap(), "/a/..%2Fenv");
    }

    #[test]
    fn unreserved_escapes_are_decoded_others_normalised() {
        assert_eq!(canon("/%61pi/%7e%41").unwrap(), "/api/~A");
        assert_eq!(canon("/a%3ab").unwrap(), "/a%3Ab");
        assert_eq!(canon("/caf\u{e9}").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/a b").unwrap(), "/a%20b");
    }

    #[test]
    fn hostile_paths_are_errors() {
        assert_eq!(canon("/.."), Err(PathError::AboveRoot));
        assert_eq!(canon("/a/../.."), Err(PathError::AboveRoot));
        assert_eq!(canon("/%2e%2e/etc"), Err(PathError::AboveRoot));
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
            let once = canon(p).unwrap();
            assert_eq!(canon(&once).unwrap(), once);
        }
    }

    #[test]
    fn parameters_decode_fully() {
        assert_eq!(decode_segment("alice%40example.com"), "alice@example.com");
        assert_eq!(decode_segment("bob"), "bob");
        assert_eq!(decode_segment("%FF"), "%FF");
    }
}
