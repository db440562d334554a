//! The request a decision is made about.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One request, borrowed from the host. Header names and values are bytes because a
/// hostile client can send anything; admit checks the headers it reads.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, case-sensitive (`GET`).
    pub method: &'a str,
    /// The request target: a path, optionally with a query string.
    pub path: &'a str,
    /// Header pairs in the order received; names are case-insensitive, duplicates kept.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The client's IP address, if the host knows it.
    pub peer: Option<&'a str>,
    /// The current time in unix seconds: the engine has no clock of its own.
    pub now: i64,
}

impl<'a> Request<'a> {
    /// All values of a header (name compared case-insensitively).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v)
    }
}

/// The deepest nesting a request's JSON may have: the contract needs 3 (the request
/// object, `headers`, a pair).
pub const MAX_REQUEST_DEPTH: usize = 8;

/// A request as the JSON contract spells it, owned: what `admit decide` reads and the
/// bindings accept. `headers` is a list of `[name, value]` pairs or an object whose
/// values are strings or lists of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OwnedRequest {
    /// The method.
    pub method: String,
    /// The path, optionally with a query string.
    pub path: String,
    /// Header pairs.
    #[serde(default, deserialize_with = "deserialize_headers")]
    pub headers: Vec<(String, String)>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Unix seconds.
    pub now: i64,
}

impl OwnedRequest {
    /// Reads a request from the contract's JSON. Nesting deeper than the contract's own
    /// (an object of lists of pairs) is refused before parsing, so hostile input cannot
    /// exhaust a small thread stack.
    pub fn from_json(text: &str) -> Result<OwnedRequest, String> {
        if !crate::depth::json_within(text.as_bytes(), MAX_REQUEST_DEPTH) {
            return Err(format!("request JSON nests deeper than {MAX_REQUEST_DEPTH} levels"));
        }
        serde_json::from_slice(text.as_bytes()).map_err(|e| e.to_string())
    }

    /// Header pairs as bytes, for [`Request::headers`].
    pub fn header_bytes(&self) -> Vec<(&[u8], &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect()
    }

    /// Borrows this request for a decision, with headers from [`Self::header_bytes`].
    pub fn as_request<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
        Request { method: &self.method, path: &self.path, headers, peer: self.peer.as_deref(), now: self.now }
    }
}

fn deserialize_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct HeadersVisitor;
    impl<'de> Visitor<'de> for HeadersVisitor {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of [name, value] pairs or an object of name: value")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((n, v)) = seq.next_element::<(String, String)>()? {
                out.push((n, v));
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum OneOrMany {
                One(String),
                Many(Vec<String>),
            }
            let mut out = Vec::new();
            while let Some((n, v)) = map.next_entry::<String, OneOrMany>()? {
                match v {
                    OneOrMany::One(v) => out.push((n, v)),
                    OneOrMany::Many(vs) => out.extend(vs.into_iter().map(|v| (n.clone(), v))),
                }
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(HeadersVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_accept_pairs_and_objects() {
        let a: OwnedRequest =
            serde_json::from_str(r#"{"method":"GET","path":"/","headers":[["A","1"],["a","2"]],"now":0}"#).unwrap();
        assert_eq!(a.headers.len(), 2);
        let b: OwnedRequest =
            serde_json::from_str(r#"{"method":"GET","path":"/","headers":{"A":["1","2"],"B":"3"},"now":0}"#).unwrap();
        assert_eq!(b.headers.len(), 3);
        let hb = b.header_bytes();
        let r = b.as_request(&hb);
        assert_eq!(r.header_values("a").count(), 2);
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        assert!(serde_json::from_str::<OwnedRequest>(r#"{"method":"GET","path":"/","now":0,"nwo":1}"#).is_err());
        assert!(serde_json::from_str::<OwnedRequest>(r#"{"method":"GET","path":"/"}"#).is_err());
    }
}
