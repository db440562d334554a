//! The crypto seam seen from outside: the verified-token cache changes no decision, is
//! invalidated by a key rotation and never outlives a token's claims; a host build's
//! pause (`decide_step`) asks for each check once and fails closed; the engine decides
//! from many threads at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code reads fixtures and stops loudly"
)]

mod common;

use std::sync::Arc;

use admit::{Decision, Engine, MapResolver, Reason, Request, Step, Verdicts};
use common::{NOW, fixture, token};

fn policy(cache: Option<usize>) -> String {
    let cache = cache.map(|n| format!("verified_cache = {n}")).unwrap_or_default();
    format!(
        r#"
        [[authenticators]]
        type = "jwt"
        id = "idp"
        algorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
        jwks = {{ file = "jwks.json" }}
        issuer = "https://test-instance.clerk.accounts.dev"
        audience = ["skillmeat-api"]
        roles_claims = ["org_role", "o.rol"]
        role_map = {{ "org:admin" = "admin", "org:member" = "member" }}
        default_role = "viewer"
        {cache}

        [roles.admin]
        [roles.member]
        [roles.viewer]

        [[routes]]
        path = "/api/**"
        "#
    )
}

fn engine(cache: Option<usize>) -> Engine {
    let mut r = MapResolver::default();
    r.files.insert("jwks.json".into(), fixture("jwks.json"));
    Engine::from_toml(&policy(cache), &r).unwrap()
}

fn at(engine: &Engine, token: &str, now: i64) -> Decision {
    let value = format!("Bearer {token}");
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", value.as_bytes())];
    common::decide(engine, &Request { method: "GET", path: "/api/x", headers, peer: None, now })
}

/// What a decision says, for comparing two engines.
fn summary(d: &Decision) -> String {
    format!(
        "{} {} {:?} {:?} {:?}",
        d.allow,
        d.status,
        d.reason,
        d.message,
        d.principal.as_ref().map(|p| (&p.id, &p.roles, &p.scopes))
    )
}

/// Every fixture token, and each with its signature's last character changed, at
/// times before, inside and after its validity: decided twice each (the second a cache
/// hit when the first verified), by an engine with the cache and one without, in an
/// order that revisits tokens. The answers never differ.
#[test]
fn the_cache_changes_no_decision() {
    let tokens: std::collections::BTreeMap<String, String> = serde_json::from_str(&fixture("tokens.json")).unwrap();
    let mut family: Vec<String> = Vec::new();
    for t in tokens.values() {
        family.push(t.clone());
        let mut tampered = t.clone();
        let last = tampered.pop().unwrap_or('A');
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        family.push(tampered);
    }
    let (cached, uncached) = (engine(None), engine(Some(0)));
    let times = [NOW - 86_400 * 400, NOW - 3600, NOW, NOW + 3600, NOW + 86_400 * 400];
    let mut allowed = 0;
    for round in 0..3 {
        for (i, t) in family.iter().enumerate() {
            let now = times[(i + round) % times.len()];
            for _ in 0..2 {
                let (a, b) = (at(&cached, t, now), at(&uncached, t, now));
                assert_eq!(summary(&a), summary(&b), "token {i} at {now}");
                allowed += usize::from(a.allow);
            }
        }
    }
    assert!(allowed > 0, "some tokens were allowed, so some decisions were cache hits");
}

/// A token verified once, then past its `exp`: the cache holds its signature, not its
/// validity.
#[test]
fn a_cached_token_still_expires() {
    let e = engine(None);
    let t = token("clerk_org_admin");
    assert!(at(&e, &t, NOW).allow);
    assert!(at(&e, &t, NOW).allow);
    let later = at(&e, &t, NOW + 86_400 * 400);
    assert_eq!(later.reason, Reason::Expired, "{later:?}");
}

/// After `set_jwks` replaces the keys, a token verified by the old set is checked
/// again, and refused when the new set lacks its key.
#[test]
fn a_key_rotation_empties_the_cache() {
    let e = engine(None);
    let t = token("clerk_org_admin");
    assert!(at(&e, &t, NOW).allow);
    e.set_jwks("idp", &fixture("jwks-rotated.json")).unwrap();
    let d = at(&e, &t, NOW);
    assert!(!d.allow, "{d:?}");
    e.set_jwks("idp", &fixture("jwks.json")).unwrap();
    assert!(at(&e, &t, NOW).allow);
}

#[test]
fn the_cache_size_is_checked_at_load() {
    let mut r = MapResolver::default();
    r.files.insert("jwks.json".into(), fixture("jwks.json"));
    let text = policy(None).replace("default_role", "verified_cache = -1\n        default_role");
    let e = Engine::from_toml(&text, &r).unwrap_err().to_string();
    assert!(e.contains("verified_cache must be between 0 (off) and"), "{e}");
    let text = policy(None).replace("default_role", "verified_cache = 99999999999\n        default_role");
    assert!(Engine::from_toml(&text, &r).is_err());
}

/// Many threads, one engine: fresh and repeated RS256, ES256 and EdDSA tokens, valid
/// and tampered, all decided right.
#[test]
fn many_threads_decide_at_once() {
    let e = Arc::new(engine(None));
    let cases: Vec<(String, bool)> = ["clerk_org_admin", "clerk_es256", "clerk_eddsa", "clerk_v2_member"]
        .iter()
        .flat_map(|n| {
            let t = token(n);
            let mut bad = t.clone();
            bad.insert(t.rfind('.').unwrap() + 3, 'x');
            [(t, true), (bad, false)]
        })
        .collect();
    let cases = Arc::new(cases);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (e, cases) = (Arc::clone(&e), Arc::clone(&cases));
            std::thread::spawn(move || {
                for round in 0..50 {
                    let (t, ok) = &cases[(i + round) % cases.len()];
                    assert_eq!(at(&e, t, NOW).allow, *ok, "thread {i} round {round}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The pause, seen as a host sees it. A native build never pauses. A host build asks
/// for the token's one check; a host that answers "invalid" gets a denial, one that
/// never answers gets a denial from `decide`, and once a check passed, the cache lets
/// the same token through without asking again.
#[test]
fn a_host_build_asks_for_each_check_once_and_fails_closed() {
    let e = engine(None);
    let value = format!("Bearer {}", token("clerk_org_admin"));
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", value.as_bytes())];
    let req = Request { method: "GET", path: "/api/x", headers, peer: None, now: NOW };
    let first = e.decide_step(&req, &Verdicts::new());
    if admit::CRYPTO_BACKEND != "host" {
        assert!(matches!(first, Step::Decided(ref d) if d.allow), "{first:?}");
        return;
    }
    let Step::Verify(checks) = first else { panic!("a host build decided an RS256 token alone: {first:?}") };
    assert_eq!(checks.len(), 1, "one key names the token's kid");
    let check = checks[0].clone();
    assert_eq!(check.algorithm, "RS256");
    assert!(check.jwk.contains(r#""kty":"RSA""#) && !check.jwk.contains(r#""d""#));
    // No verdict: `decide` denies; a "no": denied.
    assert!(!e.decide(&req).allow);
    let mut no = Verdicts::new();
    no.record(check.clone(), false);
    assert!(
        matches!(e.decide_step(&req, &no), Step::Decided(ref d) if !d.allow && d.reason == Reason::InvalidCredentials)
    );
    // A "yes" allows; from then on the token is a cache hit, decided in one step.
    let mut yes = Verdicts::new();
    yes.record(check, true);
    assert!(matches!(e.decide_step(&req, &yes), Step::Decided(ref d) if d.allow));
    assert!(matches!(e.decide_step(&req, &Verdicts::new()), Step::Decided(ref d) if d.allow));
    assert!(e.decide(&req).allow);
}
