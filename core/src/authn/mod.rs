//! Authenticators: each recognises one kind of credential and turns it into a
//! [`Principal`], or refuses it.
//!
//! An authenticator answers one of four things (see [`Outcome`]). Only `Absent` and
//! `NotMine` let the engine try the next one; a credential that is presented and wrong
//! is a denial and never falls through to a weaker authenticator.

pub(crate) mod crypto;
mod curve;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod local;
mod material;
mod pem;
pub(crate) mod sources;
pub(crate) mod token_cache;

use std::borrow::Cow;
use std::sync::Arc;

use crate::decision::Principal;
use crate::reason::Reason;
use crate::request::Request;
use crate::scopes::ScopeSet;

/// A recognised principal with the declared scopes it holds.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub principal: Arc<Principal>,
    pub scopes: ScopeSet,
}

/// A refusal, with a message that never holds the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denial {
    pub reason: Reason,
    pub detail: Cow<'static, str>,
}

impl Denial {
    pub fn new(reason: Reason, detail: impl Into<Cow<'static, str>>) -> Self {
        Self { reason, detail: detail.into() }
    }
    pub fn malformed(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Reason::MalformedRequest, detail)
    }
    pub fn invalid(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Reason::InvalidCredentials, detail)
    }
}

/// What an authenticator makes of a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its credential is not in the request: try the next authenticator.
    Absent,
    /// A credential is in the place it reads, but in a form another authenticator handles
    /// (a Bearer value that is not a JWT). The next one is tried; if none takes it, the
    /// request is refused as `invalid_credentials`, not passed to a fallback.
    NotMine,
    /// Recognised.
    Authenticated(Identity),
    /// Presented and refused.
    Denied(Denial),
}

/// Reads a header that must appear at most once, as text without control characters.
pub(crate) fn single_header<'a>(req: &Request<'a>, name: &str, max_bytes: usize) -> Result<Option<&'a str>, Denial> {
    let mut values = req.header_values(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Denial::malformed(format!("more than one {name} header")));
    }
    if first.len() > max_bytes {
        return Err(Denial::malformed(format!("{name} header is longer than {max_bytes} bytes")));
    }
    let text = std::str::from_utf8(first).map_err(|_| Denial::malformed(format!("{name} header is not UTF-8")))?;
    if has_control(text) {
        return Err(Denial::malformed(format!("{name} header has a control character")));
    }
    Ok(Some(text.trim_matches([' ', '\t'])))
}

/// True when the text holds a control character other than TAB. Header values are
/// nearly always ASCII, scanned as bytes without an early exit (so the loop
/// vectorizes); other text by character, for the C1 controls (U+0080 to U+009F).
fn has_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_ascii() {
        bytes.iter().fold(false, |found, &b| found | ((b < 0x20 && b != b'\t') | (b == 0x7f)))
    } else {
        text.chars().any(|c| c.is_control() && c != '\t')
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 section 2.1). `Ok(None)`
/// when there is no Authorization header or it carries another scheme. The scheme and
/// the token are separated by spaces only (RFC 9110 section 11.4: `1*SP`); a tab there is
/// malformed, not a separator another reader might not see.
pub(crate) fn bearer_token<'a>(req: &Request<'a>, max_bytes: usize) -> Result<Option<&'a str>, Denial> {
    let Some(value) = single_header(req, "Authorization", max_bytes)? else {
        return Ok(None);
    };
    let (scheme, separator, rest) = match value.find([' ', '\t']).and_then(|i| value.split_at_checked(i)) {
        Some((scheme, after)) => {
            let rest = after.trim_start_matches([' ', '\t']);
            (scheme, after.get(..after.len() - rest.len()).unwrap_or_default(), rest)
        }
        None => (value, "", ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    if separator.contains('\t') {
        return Err(Denial::malformed("Bearer and its token must be separated by spaces, not a tab"));
    }
    if rest.is_empty() {
        return Err(Denial::malformed("Bearer with no token"));
    }
    if !is_b64token(rest) {
        return Err(Denial::malformed("Bearer token has characters outside the token syntax"));
    }
    Ok(Some(rest))
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().fold(true, |ok, b| ok & B64TOKEN.has(b))
}

/// The bytes of an RFC 6750 `b64token` before its `=` padding.
static B64TOKEN: ByteClass = ByteClass::alphanumeric_and(b"-._~+/");

/// A set of bytes as a table: one load per byte, for scans over every token of every
/// request.
pub(crate) struct ByteClass([bool; 256]);

impl ByteClass {
    /// ASCII letters and digits, and `extra`.
    #[expect(clippy::indexing_slicing, reason = "the loops keep their indexes in bounds")]
    pub(crate) const fn alphanumeric_and(extra: &[u8]) -> Self {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = (i as u8).is_ascii_alphanumeric();
            i += 1;
        }
        let mut j = 0;
        while j < extra.len() {
            t[extra[j] as usize] = true;
            j += 1;
        }
        ByteClass(t)
    }

    /// True when the byte is in the set.
    pub(crate) fn has(&self, b: u8) -> bool {
        self.0.get(usize::from(b)).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
        Request { method: "GET", path: "/", headers, peer: None, now: 0 }
    }

    #[test]
    fn control_characters_are_found_in_ascii_and_beyond() {
        for c in (0u32..0x100).filter_map(char::from_u32) {
            let text = format!("ab{c}cd");
            assert_eq!(has_control(&text), c.is_control() && c != '\t', "U+{:04X}", c as u32);
        }
        assert!(!has_control("Bearer eyJ.eyJ.sig"));
        assert!(!has_control("caf\u{e9}"));
    }

    #[test]
    fn b64token_table_is_the_grammar() {
        for b in 0u8..=255 {
            let want = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(B64TOKEN.has(b), want, "{b}");
        }
        assert!(is_b64token("abc=="));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("a=b"));
    }

    #[test]
    fn bearer_parsing() {
        let h: &[(&[u8], &[u8])] = &[(b"authorization", b"Bearer abc.def-ghi")];
        assert_eq!(bearer_token(&req(h), 100).unwrap(), Some("abc.def-ghi"));
        let h: &[(&[u8], &[u8])] = &[(b"Authorization", b"bearer   x==")];
        assert_eq!(bearer_token(&req(h), 100).unwrap(), Some("x=="));
        let h: &[(&[u8], &[u8])] = &[(b"Authorization", b"Basic dXNlcjpwYXNz")];
        assert_eq!(bearer_token(&req(h), 100).unwrap(), None);
        assert_eq!(bearer_token(&req(&[]), 100).unwrap(), None);
    }

    #[test]
    fn bad_bearer_headers_are_malformed() {
        for (h, why) in [
            (&[(&b"Authorization"[..], &b"Bearer"[..])][..], "no token"),
            (&[(b"Authorization", b"Bearer ")], "no token"),
            (&[(b"Authorization", b"Bearer a b")], "syntax"),
            (&[(b"Authorization", b"Bearer a"), (b"authorization", b"Bearer a")], "more than one"),
            (&[(b"Authorization", b"Bearer \xff\xfe")], "UTF-8"),
            (&[(b"Authorization", b"Bearer a\x01b")], "control"),
            (&[(b"Authorization", b"Bearer\ta")], "not a tab"),
            (&[(b"Authorization", b"bearer \ta")], "not a tab"),
            (&[(b"Authorization", b"BEARER\t a")], "not a tab"),
            (&[(b"Authorization", b"Bearer a\tb")], "syntax"),
        ] {
            let d = bearer_token(&req(h), 100).unwrap_err();
            assert_eq!(d.reason, Reason::MalformedRequest);
            assert!(d.detail.contains(why), "{why}: {}", d.detail);
        }
        let big = vec![b'a'; 200];
        let h: &[(&[u8], &[u8])] = &[(b"Authorization", &big)];
        assert!(bearer_token(&req(h), 100).unwrap_err().detail.contains("longer"));
    }
}
