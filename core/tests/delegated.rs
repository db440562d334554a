//! `delegated` authenticators: the host's check names the principal (a session row, an
//! introspected token), the engine still selects by presence, refuses instead of falling
//! through, and applies roles, scopes, owner rules, CORS and responses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code stops loudly"
)]

use std::cell::Cell;

use admit::{CredentialVerdict, Decision, Engine, MapResolver, Reason, Request, Step, Verdicts};

const NOW: i64 = 1_790_000_000;

/// The shared vectors' fixture (tests/vectors/delegated-sessions.json): sessions in a
/// cookie or `Authorization: Session`, a guest fallback, an owner rule.
const POLICY: &str = include_str!("../../tests/fixtures/policies/delegated.toml");

/// The application's session table.
fn sessions(credential: &str) -> CredentialVerdict {
    let principal = |id: &str, roles: &[&str], scopes: &[&str]| CredentialVerdict::Principal {
        id: id.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    match credential {
        "s-alice" => principal("alice", &["writer"], &[]),
        "s-bob" => principal("bob", &["reader"], &["not-declared"]),
        "s-root" => principal("root", &[], &["admin", "notes:read"]),
        "s-old" => CredentialVerdict::Refused(Reason::Expired),
        "s-gone" => CredentialVerdict::Refused(Reason::Revoked),
        "s-odd" => CredentialVerdict::Refused(Reason::Public),
        "s-typo" => principal("carol", &["wirter"], &[]),
        "s-empty" => principal("", &["reader"], &[]),
        _ => CredentialVerdict::Refused(Reason::InvalidCredentials),
    }
}

fn engine() -> Engine {
    Engine::from_toml(POLICY, &MapResolver::default()).unwrap()
}

/// Decides as a host does, counting how often its check runs.
fn decide(engine: &Engine, method: &str, path: &str, headers: &[(&[u8], &[u8])], calls: &Cell<u32>) -> Decision {
    let req = Request { method, path, headers, peer: None, now: NOW };
    let mut verdicts = Verdicts::new();
    for _ in 0..4 {
        match engine.decide_step(&req, &verdicts) {
            Step::Decided(d) => return d,
            Step::Check(check) => {
                assert_eq!(&*check.authenticator, "sessions");
                calls.set(calls.get() + 1);
                let verdict = sessions(&check.credential);
                verdicts.record_credential(check, verdict);
            }
            Step::Verify(_) => panic!("no signature in this policy"),
        }
    }
    panic!("no decision after 4 rounds");
}

fn cookie(sid: &str) -> String {
    format!("theme=dark; sid={sid}")
}

#[test]
fn the_hosts_check_names_the_principal_and_the_policy_does_the_rest() {
    let e = engine();
    let calls = Cell::new(0);
    let c = cookie("s-alice");
    let d = decide(&e, "GET", "/notes/alice/1", &[(b"Cookie", c.as_bytes())], &calls);
    assert!(d.allow, "{d:?}");
    let p = d.principal.unwrap();
    assert_eq!((p.id.as_str(), p.authenticator.as_str(), p.kind), ("alice", "sessions", "delegated"));
    assert_eq!(p.roles, vec!["writer", "reader"]);
    assert_eq!(d.constraints.get("owner").map(String::as_str), Some("alice"));
    assert_eq!(calls.get(), 1, "one check per decision");

    // The owner rule applies to the host's principal.
    let d = decide(&e, "GET", "/notes/bob/1", &[(b"Cookie", c.as_bytes())], &Cell::new(0));
    assert_eq!(d.reason, Reason::InsufficientScope);
    // Scopes: roles' and declared direct ones; an undeclared one does not count.
    let b = cookie("s-bob");
    let d =
        decide(&e, "POST", "/notes", &[(b"Cookie", b.as_bytes()), (b"Sec-Fetch-Site", b"same-origin")], &Cell::new(0));
    assert_eq!((d.reason, d.status), (Reason::InsufficientScope, 403));
    let bob = decide(&e, "GET", "/notes/bob/1", &[(b"Cookie", b.as_bytes())], &Cell::new(0)).principal.unwrap();
    assert_eq!(bob.scopes, vec!["notes:read"]);
    // A direct scope that lifts the owner limit.
    let r = cookie("s-root");
    let d = decide(&e, "GET", "/notes/bob/1", &[(b"Cookie", r.as_bytes())], &Cell::new(0));
    assert!(d.allow && d.constraints.is_empty(), "{d:?}");
    // The prefixed header source.
    let d = decide(&e, "GET", "/notes/alice/1", &[(b"Authorization", b"Session s-alice")], &Cell::new(0));
    assert!(d.allow);
}

#[test]
fn a_refused_or_broken_verdict_is_a_refusal_never_a_fall_through() {
    let e = engine();
    for (sid, reason) in [
        ("s-old", Reason::Expired),
        ("s-gone", Reason::Revoked),
        ("s-odd", Reason::InvalidCredentials),
        ("nope", Reason::InvalidCredentials),
        ("s-typo", Reason::InvalidCredentials),
        ("s-empty", Reason::InvalidCredentials),
    ] {
        let c = cookie(sid);
        // `/feed` takes any authenticator: the anonymous fallback is not reached with a
        // refused credential.
        let d = decide(&e, "GET", "/feed", &[(b"Cookie", c.as_bytes())], &Cell::new(0));
        assert_eq!((d.allow, d.reason, d.status), (false, reason, 401), "{sid}: {d:?}");
        assert!(!d.message.contains(sid), "{}", d.message);
    }
    // No credential: the fallback, and the host's check is not called.
    let calls = Cell::new(0);
    let d = decide(&e, "GET", "/feed", &[], &calls);
    assert_eq!(d.principal.unwrap().id, "guest");
    assert_eq!(calls.get(), 0);
    let d = decide(&e, "GET", "/public", &[(b"Cookie", b"sid=s-alice")], &calls);
    assert_eq!(d.reason, Reason::Public);
    assert_eq!(calls.get(), 0, "a public route never asks");
}

#[test]
fn a_host_that_gives_no_verdict_gets_a_refusal() {
    let e = engine();
    let headers: &[(&[u8], &[u8])] = &[(b"Cookie", b"sid=s-alice")];
    let req = Request { method: "GET", path: "/notes/alice/1", headers, peer: None, now: NOW };
    let d = e.decide(&req);
    assert_eq!((d.allow, d.reason), (false, Reason::InvalidCredentials));
    let Step::Check(check) = e.decide_step(&req, &Verdicts::new()) else { panic!("no check asked") };
    assert_eq!(check.credential, "s-alice");
    assert!(!format!("{check:?}").contains("s-alice"), "Debug shows the credential");
    // A verdict for another credential does not answer this one.
    let mut other = Verdicts::new();
    let mut wrong = check.clone();
    wrong.credential = "s-root".into();
    other.record_credential(wrong, sessions("s-root"));
    assert!(matches!(e.decide_step(&req, &other), Step::Check(_)));
}

#[test]
fn cookie_sessions_need_a_same_origin_signal_on_unsafe_methods() {
    let e = engine();
    let c = cookie("s-alice");
    let d = decide(&e, "POST", "/notes", &[(b"Cookie", c.as_bytes())], &Cell::new(0));
    assert_eq!(d.reason, Reason::OriginNotAllowed);
    let d =
        decide(&e, "POST", "/notes", &[(b"Cookie", c.as_bytes()), (b"Sec-Fetch-Site", b"cross-site")], &Cell::new(0));
    assert_eq!(d.reason, Reason::OriginNotAllowed);
    let d =
        decide(&e, "POST", "/notes", &[(b"Cookie", c.as_bytes()), (b"Sec-Fetch-Site", b"same-origin")], &Cell::new(0));
    assert!(d.allow, "{d:?}");
    // Two credentials at once.
    let d =
        decide(&e, "GET", "/feed", &[(b"Cookie", c.as_bytes()), (b"Authorization", b"Session s-bob")], &Cell::new(0));
    assert_eq!(d.reason, Reason::MalformedRequest);
}
