//! What a host hands the engine at run time, as hostile text: a keys file for
//! `set_keys` (first field) and a `delegated` check's verdict (second field, NUL after
//! the first). Never a panic. A refused keys file keeps the working keys and quotes no
//! 64-hex-digit run of the input; a taken one holds exactly the keys its entries name. A
//! verdict that does not read as a principal never lets a request through, and one that
//! does admits only with a role the policy defines, or a declared scope, that reads.
#![no_main]

use admit::{CredentialVerdict, Engine, MapResolver, Reason, Request, Step, Verdicts};
use libfuzzer_sys::fuzz_target;

mod common;

const KEYS: &str = include_str!("../../examples/policies/fetchml-keys.toml");

const POLICY: &str = r#"
scopes = ["jobs:read"]
[roles.researcher]
scopes = ["jobs:read"]
[roles.admin]
scopes = ["jobs:read"]
[roles.analyst]

[[authenticators]]
type = "api_key"
id = "keys"
keys = { file = "keys.toml" }

[[authenticators]]
type = "delegated"
id = "sessions"
sources = [{ header = "X-Session" }]

[[routes]]
path = "/**"
require = ["jobs:read"]
"#;

fn engine() -> Engine {
    let mut r = MapResolver::default();
    r.files.insert("keys.toml".into(), KEYS.into());
    Engine::from_toml(POLICY, &r).unwrap_or_else(|e| panic!("fixture policy: {e}"))
}

fn key_reason(engine: &Engine, key: &[u8]) -> Reason {
    let headers: &[(&[u8], &[u8])] = &[(b"X-API-Key", key)];
    engine.decide(&Request { method: "GET", path: "/jobs", headers, peer: None, now: common::NOW }).reason
}

/// Every run of exactly 64 hex digits in the text.
fn digests(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..=b.len() {
        let hex = b.get(i).is_some_and(u8::is_ascii_hexdigit);
        if !hex {
            if i - start == 64 {
                out.push(text.get(start..i).unwrap_or(""));
            }
            start = i + 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(2, |b| *b == 0);
    let file = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let verdict = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();

    let engine = engine();
    match engine.set_keys("keys", &file) {
        Err(e) => {
            let message = e.to_string();
            for d in digests(&file) {
                assert!(!message.contains(d), "a refused keys file was quoted: {message}");
            }
            assert_eq!(key_reason(&engine, b"demo-researcher-key"), Reason::Ok, "a refused file changed the keys");
        }
        Ok(n) => {
            // The table holds what the file says: bob's key works only if the file has
            // bob's digest, not revoked, with a role that reads.
            let bob = admit::hash_key("demo-researcher-key");
            if key_reason(&engine, b"demo-researcher-key") == Reason::Ok {
                assert!(file.to_ascii_lowercase().contains(&bob), "a key the file does not hold was accepted");
            }
            assert!(n <= file.len(), "more keys than bytes");
        }
    }

    // The verdict, as a host's check answers it.
    let headers: &[(&[u8], &[u8])] = &[(b"X-Session", b"session-1")];
    let req = Request { method: "GET", path: "/jobs", headers, peer: None, now: common::NOW };
    let Step::Check(check) = engine.decide_step(&req, &Verdicts::new()) else {
        panic!("a delegated credential was decided without its check")
    };
    let parsed = CredentialVerdict::from_json(&verdict);
    let mut verdicts = Verdicts::new();
    verdicts.record_credential(check, parsed.clone().unwrap_or(CredentialVerdict::Refused(Reason::InvalidCredentials)));
    let d = match engine.decide_step(&req, &verdicts) {
        Step::Decided(d) => d,
        other => panic!("a recorded verdict asked again: {other:?}"),
    };
    if d.allow {
        let Ok(CredentialVerdict::Principal { roles, scopes, .. }) = parsed else {
            panic!("a verdict that is not a principal let the request through")
        };
        // A verdict's own scopes count only as exact declared names.
        let reads = roles.iter().any(|r| r == "researcher" || r == "admin") || scopes.iter().any(|s| s == "jobs:read");
        assert!(reads, "allowed without a role or scope that reads");
    }
});
