//! # admit
//!
//! An auth policy engine with no I/O. A [`Policy`] (TOML or JSON) is compiled once
//! into an [`Engine`]; [`Engine::decide`] then answers, for one HTTP request, whether it
//! may pass, as a pure function of the policy and the [`Request`], the request's `now`
//! included. The same decision is exposed to Python, WASM and C by thin bindings.
//!
//! ```
//! use admit::{Engine, MapResolver, Request};
//!
//! # fn main() -> Result<(), admit::LoadError> {
//! let policy = r#"
//!     scopes = ["jobs:read"]
//!     [roles.reader]
//!     scopes = ["jobs:read"]
//!
//!     [[authenticators]]
//!     type = "api_key"
//!     id = "keys"
//!     keys = [{ id = "ci", sha256 = "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5", roles = ["reader"] }]
//!
//!     [[routes]]
//!     methods = ["GET"]
//!     path = "/jobs/**"
//!     require = ["jobs:read"]
//! "#;
//! let engine = Engine::from_toml(policy, &MapResolver::default())?;
//! let headers: &[(&[u8], &[u8])] = &[(b"x-api-key", b"12345")];
//! let d = engine.decide(&Request { method: "GET", path: "/jobs/7", headers, peer: None, now: 0 });
//! assert!(d.allow);
//! assert_eq!(d.principal.as_ref().map(|p| p.id.as_str()), Some("ci"));
//! # Ok(())
//! # }
//! ```
//!
//! The policy language is documented in `docs/policy.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authn;
mod compile;
mod cors;
mod decision;
pub(crate) mod depth;
pub mod describe;
mod engine;
mod error;
pub mod explain;
pub mod fetch;
mod keys_file;
mod load;
mod path;
pub mod policy;
mod reason;
mod request;
mod response;
mod roles;
mod routes;
#[cfg(feature = "schema")]
pub mod schema;
mod scopes;
mod time;
mod tree;
pub mod value;

pub use authn::crypto::BACKEND as CRYPTO_BACKEND;
pub use authn::crypto::deferred::{CredentialCheck, CredentialVerdict, SignatureCheck, Step, Verdicts};
pub use authn::jwt::TokenRequest;
pub use authn::keys::{sha256, to_hex};
pub use decision::{Decision, Principal};
pub use depth::MAX_POLICY_DEPTH;
pub use engine::Engine;
pub use error::{EngineError, LoadError, PolicyError, PolicyWarning};
pub use explain::{ExplainStep, Explanation, Trace};
pub use keys_file::MAX_KEYS_FILE_BYTES;
pub use load::Format;
pub use path::{PathError, canonicalize, canonicalize_with, target_from_decoded};
pub use policy::{KeysFile, Policy};
pub use reason::Reason;
pub use request::{MAX_REQUEST_DEPTH, OwnedRequest, Request};
pub use value::{MapResolver, Resolver};

/// Parses a policy's text without compiling it (no references are resolved).
pub fn parse_policy(text: &str, format: Format) -> Result<Policy, LoadError> {
    load::parse(text, format).map(|(p, _)| p)
}

/// The SHA-256 of a key as lower-case hex: what a policy stores for an API key.
pub fn hash_key(key: &str) -> String {
    to_hex(&sha256(key.as_bytes()))
}
