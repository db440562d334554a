//! Signature checks a host makes for the engine: the pause in a decision, without I/O.
//!
//! A build without asymmetric crypto of its own (WASM, where the host has WebCrypto)
//! cannot finish a decision that needs an RSA, ECDSA or Ed25519 signature checked.
//! [`Engine::decide_step`](crate::Engine::decide_step) then answers
//! [`Step::Verify`] with the checks it needs; the host makes each one, records each
//! verdict in [`Verdicts`], and asks again with them. The engine takes the whole decision
//! again each time (it is a pure function of the request, the policy and the verdicts);
//! a check is asked for once, so each round records at least one new verdict and the
//! rounds end. A host that never answers only ever gets a denial: a check with no
//! verdict never passes.
//!
//! Native builds check every signature themselves and always answer `Step::Decided`.
//!
//! The same pause serves `delegated` authenticators, whose credentials only the host's
//! application can check (a session row, RFC 7662 token introspection): the engine
//! answers [`Step::Check`] with the credential, the host records its
//! [`CredentialVerdict`], and asks again. A credential with no verdict is refused.

use std::sync::Arc;

use crate::decision::Decision;

/// One signature for the host to verify: `signature` over `message` with `algorithm`,
/// under the public key `jwk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The key's handle, unique among the keys this process has loaded: a host may keep
    /// its imported key under it. A key set replaced by `set_jwks` gets new handles.
    pub key: u64,
    /// The public key as a JWK (`kty` with `n`/`e`, or `crv` with `x`/`y`): what
    /// WebCrypto's `importKey("jwk", ...)` takes. Never a secret: HMAC is never deferred.
    pub jwk: Arc<str>,
    /// The JWS algorithm (`RS256`, `PS384`, `ES256`, `EdDSA`, ...).
    pub algorithm: &'static str,
    /// The JWS signing input (`header.payload`, as sent).
    pub message: Vec<u8>,
    /// The signature (for ECDSA, `R || S` as in JWS and WebCrypto).
    pub signature: Vec<u8>,
}

/// A credential for the host to check: what a `delegated` authenticator found in the
/// request. Its `Debug` never shows the credential.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialCheck {
    /// The id of the `delegated` authenticator that found it.
    pub authenticator: Arc<str>,
    /// The credential, as it arrived (its source's prefix taken off). A secret: a host
    /// hands it to its own check and nowhere else.
    pub credential: String,
}

impl std::fmt::Debug for CredentialCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCheck")
            .field("authenticator", &self.authenticator)
            .field("credential", &format_args!("<{} bytes>", self.credential.len()))
            .finish()
    }
}

/// What the host's check made of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialVerdict {
    /// The credential is good: this principal, with these roles (names the policy
    /// defines) and scopes (names the policy declares; others do not count).
    Principal {
        /// The principal's id.
        id: String,
        /// Roles of the principal.
        roles: Vec<String>,
        /// Scopes beyond its roles'.
        scopes: Vec<String>,
    },
    /// The credential is refused: `invalid_credentials`, `expired` or `revoked` (any
    /// other reason is taken as `invalid_credentials`).
    Refused(crate::reason::Reason),
}

impl CredentialVerdict {
    /// Reads a verdict written as JSON, the form every binding's check can return:
    /// `{"id": "alice", "roles": ["writer"], "scopes": ["notes:read"]}` (`roles` and
    /// `scopes` optional), or `{"refuse": "expired"}` (`invalid_credentials`, `expired`
    /// or `revoked`). Anything else is an error, which a host turns into a refusal. The
    /// message never quotes the text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Written {
            id: Option<String>,
            #[serde(default)]
            roles: Vec<String>,
            #[serde(default)]
            scopes: Vec<String>,
            refuse: Option<String>,
        }
        let shape = "a check answers `{\"id\": ..., \"roles\": [...], \"scopes\": [...]}` or `{\"refuse\": \"invalid_credentials\" | \"expired\" | \"revoked\"}`";
        let w: Written = serde_json::from_slice(text.as_bytes()).map_err(|_| shape.to_owned())?;
        match (w.id, w.refuse) {
            (Some(id), None) => Ok(CredentialVerdict::Principal { id, roles: w.roles, scopes: w.scopes }),
            (None, Some(reason)) if w.roles.is_empty() && w.scopes.is_empty() => match reason.as_str() {
                "invalid_credentials" => Ok(CredentialVerdict::Refused(crate::reason::Reason::InvalidCredentials)),
                "expired" => Ok(CredentialVerdict::Refused(crate::reason::Reason::Expired)),
                "revoked" => Ok(CredentialVerdict::Refused(crate::reason::Reason::Revoked)),
                _ => Err(shape.to_owned()),
            },
            _ => Err(shape.to_owned()),
        }
    }
}

/// The host's verdicts on the checks it was asked for.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    done: Vec<(SignatureCheck, bool)>,
    credentials: Vec<(CredentialCheck, CredentialVerdict)>,
}

impl Verdicts {
    /// No verdicts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the host's verdict on a check it was asked for.
    pub fn record(&mut self, check: SignatureCheck, valid: bool) {
        self.done.push((check, valid));
    }

    /// Records the host's verdict on a credential it was asked to check.
    pub fn record_credential(&mut self, check: CredentialCheck, verdict: CredentialVerdict) {
        self.credentials.push((check, verdict));
    }

    /// The number of verdicts recorded.
    pub fn len(&self) -> usize {
        self.done.len() + self.credentials.len()
    }

    /// True when no verdict is recorded.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.credentials.is_empty()
    }

    /// The verdict on this authenticator's credential, if the host gave one.
    pub(crate) fn credential(&self, authenticator: &str, credential: &str) -> Option<&CredentialVerdict> {
        self.credentials
            .iter()
            .find(|(c, _)| &*c.authenticator == authenticator && c.credential == credential)
            .map(|(_, v)| v)
    }

    /// The verdict on this exact check, if the host gave one.
    pub(crate) fn lookup(&self, key: u64, algorithm: &str, message: &[u8], signature: &[u8]) -> Option<bool> {
        self.done
            .iter()
            .find(|(c, _)| c.key == key && c.algorithm == algorithm && c.signature == signature && c.message == message)
            .map(|(_, v)| *v)
    }
}

/// What [`Engine::decide_step`](crate::Engine::decide_step) answers.
#[derive(Debug, Clone)]
pub enum Step {
    /// The decision.
    Decided(Decision),
    /// Verify these, record each verdict, and ask again.
    Verify(Vec<SignatureCheck>),
    /// Check this credential with the host's check for its authenticator, record the
    /// verdict ([`Verdicts::record_credential`]), and ask again.
    Check(CredentialCheck),
}

/// No verdicts: what a native decision, which defers nothing, looks up in.
static NO_VERDICTS: Verdicts = Verdicts { done: Vec::new(), credentials: Vec::new() };

/// The verdicts one decision may use, and the checks it found it needs.
pub(crate) struct HostChecks<'v> {
    verdicts: &'v Verdicts,
    asked: std::cell::RefCell<Vec<SignatureCheck>>,
    asked_credential: std::cell::RefCell<Option<CredentialCheck>>,
}

impl<'v> HostChecks<'v> {
    pub fn new(verdicts: &'v Verdicts) -> Self {
        HostChecks {
            verdicts,
            asked: std::cell::RefCell::new(Vec::new()),
            asked_credential: std::cell::RefCell::new(None),
        }
    }

    /// The host's verdict on a credential, if it gave one.
    pub fn credential(&self, authenticator: &str, credential: &str) -> Option<&'v CredentialVerdict> {
        self.verdicts.credential(authenticator, credential)
    }

    /// Asks the host to check a credential (the first one asked for in a decision).
    pub fn ask_credential(&self, check: CredentialCheck) {
        self.asked_credential.borrow_mut().get_or_insert(check);
    }

    /// For a decision taken in one step: nothing is deferred, or what is stays a denial.
    pub fn none() -> HostChecks<'static> {
        HostChecks::new(&NO_VERDICTS)
    }

    pub fn lookup(&self, key: u64, algorithm: &str, message: &[u8], signature: &[u8]) -> Option<bool> {
        self.verdicts.lookup(key, algorithm, message, signature)
    }

    /// Asks the host for a check (once: a check already asked is not repeated).
    pub fn ask(&self, check: SignatureCheck) {
        let mut asked = self.asked.borrow_mut();
        if !asked.contains(&check) {
            asked.push(check);
        }
    }

    /// What the decision needs from the host before it can be taken: signature checks
    /// first, then a credential check; `None` when it needs nothing.
    pub fn into_step(self) -> Option<Step> {
        let asked = self.asked.into_inner();
        if !asked.is_empty() {
            return Some(Step::Verify(asked));
        }
        self.asked_credential.into_inner().map(Step::Check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    #[test]
    fn verdicts_read_from_json() {
        let principal = CredentialVerdict::from_json(r#"{"id": "alice", "roles": ["writer"]}"#);
        assert_eq!(
            principal,
            Ok(CredentialVerdict::Principal { id: "alice".into(), roles: vec!["writer".into()], scopes: vec![] })
        );
        assert_eq!(
            CredentialVerdict::from_json(r#"{"refuse": "revoked"}"#),
            Ok(CredentialVerdict::Refused(Reason::Revoked))
        );
        for bad in [
            "",
            "null",
            "[]",
            r#"{}"#,
            r#"{"id": 7}"#,
            r#"{"id": "a", "refuse": "expired"}"#,
            r#"{"refuse": "ok"}"#,
            r#"{"refuse": "expired", "roles": ["admin"]}"#,
            r#"{"id": "a", "roles": "admin"}"#,
            r#"{"id": "a", "admin": true}"#,
            r#"{"id": "secret-session-value", "roles": [1]}"#,
        ] {
            let e = CredentialVerdict::from_json(bad).unwrap_err();
            assert!(!e.contains("secret-session-value"), "{e}");
        }
    }
}
