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

    /// The decision as the contract's JSON: the same text as `serde_json::to_string`
    /// of this value (a property test holds them together), written by hand because
    /// it runs once per decision in every binding. serde_json's writer makes a call per
    /// punctuation byte and per escaped run; in WASM at opt-level "z" that was a third of
    /// a decision's time.
    pub fn to_json(&self) -> String {
        // Sized for a typical decision (a deny with a challenge and a body is ~300 bytes).
        let mut out = String::with_capacity(512);
        out.push_str("{\"allow\":");
        push_bool(&mut out, self.allow);
        out.push_str(",\"status\":");
        push_u16(&mut out, self.status);
        out.push_str(",\"reason\":");
        push_json_str(&mut out, self.reason.as_str());
        out.push_str(",\"message\":");
        push_json_str(&mut out, &self.message);
        out.push_str(",\"headers\":[");
        for (i, (name, value)) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            push_json_str(&mut out, name);
            out.push(',');
            push_json_str(&mut out, value);
            out.push(']');
        }
        out.push_str("],\"body\":");
        push_opt_str(&mut out, self.body.as_deref());
        out.push_str(",\"principal\":");
        match &self.principal {
            None => out.push_str("null"),
            Some(p) => p.write_json(&mut out),
        }
        out.push_str(",\"rule\":");
        push_opt_str(&mut out, self.rule.as_deref());
        out.push_str(",\"constraints\":{");
        for (i, (name, value)) in self.constraints.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(&mut out, name);
            out.push(':');
            push_json_str(&mut out, value);
        }
        out.push_str("},\"dry_run\":");
        push_bool(&mut out, self.dry_run);
        out.push('}');
        out
    }
}

impl Principal {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"id\":");
        push_json_str(out, &self.id);
        out.push_str(",\"authenticator\":");
        push_json_str(out, &self.authenticator);
        out.push_str(",\"kind\":");
        push_json_str(out, self.kind);
        out.push_str(",\"roles\":");
        push_str_list(out, &self.roles);
        out.push_str(",\"scopes\":");
        push_str_list(out, &self.scopes);
        out.push_str(",\"claims\":");
        match &self.claims {
            // Claims are arbitrary JSON (numbers included): serde_json writes them, as
            // it read them. Writing a `Value` into a String cannot fail.
            Some(claims) => out.push_str(&serde_json::to_string(claims).unwrap_or_else(|_| String::from("null"))),
            None => out.push_str("null"),
        }
        out.push('}');
    }
}

pub(crate) fn push_bool(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

pub(crate) fn push_u16(out: &mut String, n: u16) {
    let mut digits = [0u8; 5];
    let mut len = 0;
    let mut rest = n;
    loop {
        if let Some(d) = digits.get_mut(len) {
            // `rest % 10` is below 10: the cast cannot truncate.
            *d = b'0' + (rest % 10) as u8;
        }
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        out.push(char::from(*d));
    }
}

pub(crate) fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

pub(crate) fn push_str_list(out: &mut String, list: &[String]) {
    out.push('[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, s);
    }
    out.push(']');
}

/// A JSON string literal, escaped as serde_json escapes: `"`, `\` and control
/// characters only; everything else, non-ASCII included, is copied in runs.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut run_start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so both ends of the run are char boundaries.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        run_start = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
            out.push(char::from(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0')));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}
