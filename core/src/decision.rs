//! The decision: what the host does with a request.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::reason::Reason;

/// Who made the request, once an authenticator has recognised them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    /// The principal's id: a user, a key's owner, a token's subject.
    pub id: String,
    /// The id of the authenticator that recognised the principal.
    pub authenticator: String,
    /// The authenticator's type: `anonymous`, `local`, `api_key`, `bearer_token`, `jwt`.
    pub kind: &'static str,
    /// The principal's roles, with the roles they include.
    pub roles: Vec<String>,
    /// The scopes granted: from the roles and straight from the key or token.
    pub scopes: Vec<String>,
    /// A JWT's claims; `None` for other kinds.
    pub claims: Option<serde_json::Value>,
}

/// The answer for one request. If `allow` is false the host answers `status` with
/// `headers` and `body`; if true it calls its handler and adds `headers` to the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Pass the request to the handler.
    pub allow: bool,
    /// The status to answer when `allow` is false.
    pub status: u16,
    /// Why.
    pub reason: Reason,
    /// Human-readable; the policy may override it per reason.
    pub message: Arc<str>,
    /// Headers for the response, in both cases.
    pub headers: Vec<(Arc<str>, Arc<str>)>,
    /// The body to send when `allow` is false.
    pub body: Option<Arc<str>>,
    /// The authenticated principal.
    pub principal: Option<Arc<Principal>>,
    /// The rule that decided.
    pub rule: Option<Arc<str>>,
    /// Limits on the grant, e.g. `{"owner": "bob"}`.
    pub constraints: BTreeMap<String, String>,
    /// True when the policy only reports: the request passes and `reason` says what
    /// enforcement would have done.
    pub dry_run: bool,
}

impl Decision {
    /// The first value of a response header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &**v)
    }

    /// The decision as the contract's JSON.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every key is a string and no value is a
        // map with non-string keys.
        // Sized for a typical decision (a deny with a challenge and a body is ~300 bytes),
        // so that the buffer is not regrown on the way: a measurable cost in WASM.
        let mut out = Vec::with_capacity(512);
        serde_json::to_writer(&mut out, self)
            .ok()
            .and_then(|()| String::from_utf8(out).ok())
            .unwrap_or_else(|| String::from("{\"allow\":false}"))
    }
}
