//! `explain`: its decision is `decide`'s on every shared vector, its trace agrees with
//! that decision, and no credential, key or secret ever appears in it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::string_slice,
    reason = "test code stops loudly"
)]

mod common;
#[path = "../../tests/support/vectors.rs"]
mod vectors;

use std::collections::BTreeMap;
use std::path::PathBuf;

use admit::explain::{AuthenticatorPass, AuthenticatorVerdict, CorsOutcome, Trace};
use admit::{
    CredentialVerdict, Decision, Engine, ExplainStep, Format, OwnedRequest, Reason, Request, Resolver, Step, Verdicts,
};
use common::{NOW, fixture, token};
use proptest::prelude::*;
use serde_json::Value;
use vectors::vector_files;

/// The vectors' environment, and files relative to the policy's folder.
struct VectorResolver {
    env: BTreeMap<String, String>,
    base: PathBuf,
}

impl Resolver for VectorResolver {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.base.join(path))
            .map(|t| t.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| e.to_string())
    }
}

/// The host's check as the vectors' `checks` table: a verdict by authenticator and
/// credential; none, or one that does not read, refuses.
fn table_verdict(checks: &Value, authenticator: &str, credential: &str) -> CredentialVerdict {
    checks
        .get(authenticator)
        .and_then(|t| t.get(credential))
        .and_then(|v| CredentialVerdict::from_json(&v.to_string()).ok())
        .unwrap_or(CredentialVerdict::Refused(Reason::InvalidCredentials))
}

/// `decide_step` to the end, checks answered from the table.
fn decide_hosted(engine: &Engine, req: &Request<'_>, checks: &Value) -> Decision {
    let mut verdicts = Verdicts::new();
    for _ in 0..16 {
        match engine.decide_step(req, &verdicts) {
            Step::Decided(d) => return d,
            Step::Check(c) => {
                let v = table_verdict(checks, &c.authenticator, &c.credential);
                verdicts.record_credential(c, v);
            }
            // A host-crypto build (WASM's) defers signatures: the host checks them.
            Step::Verify(checks) => checks.into_iter().for_each(|c| {
                let valid = common::host_verify(&c);
                verdicts.record(c, valid);
            }),
        }
    }
    panic!("no decision after 16 rounds");
}

/// `explain_step` to the end, the same way.
fn explain_hosted(engine: &Engine, req: &Request<'_>, checks: &Value) -> admit::Explanation {
    let mut verdicts = Verdicts::new();
    for _ in 0..16 {
        match engine.explain_step(req, &verdicts) {
            ExplainStep::Explained(e) => return *e,
            ExplainStep::Check(c) => {
                let v = table_verdict(checks, &c.authenticator, &c.credential);
                verdicts.record_credential(c, v);
            }
            ExplainStep::Verify(checks) => checks.into_iter().for_each(|c| {
                let valid = common::host_verify(&c);
                verdicts.record(c, valid);
            }),
        }
    }
    panic!("no explanation after 16 rounds");
}

/// What a trace must say about the decision it comes with.
fn consistent(trace: &Trace, d: &Decision) -> Result<(), String> {
    let matched: Vec<&str> = trace.rules.iter().filter(|r| r.matched).map(|r| r.name.as_str()).collect();
    if matched.len() > 1 {
        return Err(format!("more than one rule matched: {matched:?}"));
    }
    if let Some(rule) = &d.rule {
        if matched != [&**rule] {
            return Err(format!("the decision's rule is `{rule}`, the trace matched {matched:?}"));
        }
        if trace.rules.last().is_none_or(|r| !r.matched) {
            return Err("the matched rule is not the last one considered".into());
        }
    } else if !matched.is_empty() {
        return Err(format!("no rule decided, the trace matched {matched:?}"));
    }
    if trace.rules.iter().any(|r| r.matched != r.mismatch.is_none()) {
        return Err("a rule is matched and has a mismatch, or neither".into());
    }
    if trace.target.canonical.is_some() == trace.target.refused.is_some() {
        return Err("the target has both or neither of canonical and refused".into());
    }
    if trace.target.refused.is_some()
        && (d.reason != Reason::MalformedRequest || trace.cors.outcome != CorsOutcome::NotReached)
    {
        return Err("a refused target is malformed_request, before CORS".into());
    }
    if d.reason == Reason::Preflight && trace.cors.outcome != CorsOutcome::Preflight {
        return Err("a preflight decision without a preflight in the trace".into());
    }
    // The principal: the one the last matched authenticator names.
    let winner = trace.authenticators.iter().rev().find(|a| a.verdict == AuthenticatorVerdict::Matched);
    match (&d.principal, winner) {
        (Some(p), Some(a)) => {
            if a.principal.as_deref() != Some(p.id.as_str()) || a.id != p.authenticator {
                return Err(format!("the principal is {}/{}, the trace matched {a:?}", p.authenticator, p.id));
            }
            if trace.roles != p.roles {
                return Err(format!("roles {:?} in the trace, {:?} in the decision", trace.roles, p.roles));
            }
        }
        (None, None) => {}
        (p, a) => return Err(format!("principal {p:?} but matched authenticator {a:?}")),
    }
    // A credential authenticator's refusal decides the reason, unless a dry run's own
    // pass refused after the decision's reason was set.
    let main: Vec<_> = trace.authenticators.iter().filter(|a| a.pass != AuthenticatorPass::DryRunIdentity).collect();
    if let Some(last) = main.last() {
        if last.pass == AuthenticatorPass::Credential
            && last.verdict == AuthenticatorVerdict::Refused
            && last.reason != Some(d.reason)
        {
            return Err(format!("`{}` refused with {:?}, the decision says {:?}", last.id, last.reason, d.reason));
        }
    }
    if let Some(s) = &trace.scopes {
        let missing_decides = !s.missing.is_empty();
        if missing_decides && d.reason != Reason::InsufficientScope {
            return Err(format!("scopes {:?} missing, the decision says {:?}", s.missing, d.reason));
        }
    }
    match (&trace.dry_run, d.dry_run) {
        (Some(dr), true) if dr.would_refuse == d.reason && dr.status == d.status => {}
        (None, false) => {}
        (dr, flag) => return Err(format!("dry run {dr:?} in the trace, {flag} in the decision")),
    }
    Ok(())
}

#[test]
fn explain_is_decide_with_a_consistent_trace_on_every_shared_vector() {
    let (mut cases, mut failures) = (0, Vec::new());
    for vector in vector_files() {
        let (name, doc, policy) = (&vector.name, &vector.doc, &vector.policy);
        if doc.get("expect_load_error").is_some() {
            continue;
        }
        let format = if policy.extension().is_some_and(|e| e == "json") { Format::Json } else { Format::Toml };
        let resolver = VectorResolver { env: vector.env.clone(), base: policy.parent().unwrap().to_path_buf() };
        let engine = Engine::from_text(&std::fs::read_to_string(policy).unwrap(), format, &resolver)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (id, text) in doc.get("jwks").and_then(Value::as_object).into_iter().flatten() {
            engine.set_jwks(id, text.as_str().unwrap()).unwrap();
        }
        for (id, text) in doc.get("keys").and_then(Value::as_object).into_iter().flatten() {
            engine.set_keys(id, text.as_str().unwrap()).unwrap();
        }
        let checks = doc.get("checks").cloned().unwrap_or(Value::Null);
        for case in doc["cases"].as_array().unwrap() {
            cases += 1;
            let cname = case["name"].as_str().unwrap_or("?");
            let owned = OwnedRequest::from_json(&case["request"].to_string()).unwrap();
            let headers = owned.header_bytes();
            let req = owned.as_request(&headers);
            let decided = decide_hosted(&engine, &req, &checks);
            let explained = explain_hosted(&engine, &req, &checks);
            if explained.decision != decided {
                failures
                    .push(format!("{name} / {cname}: explain decided {:?}, decide {decided:?}", explained.decision));
                continue;
            }
            if checks.is_null() && admit::CRYPTO_BACKEND != "host" {
                // Without host checks, the one-call forms agree too (a host-crypto build's
                // one-call forms have no host to check a signature, and deny).
                let plain = engine.explain(&req);
                if plain.decision != engine.decide(&req) || plain != explained {
                    failures.push(format!("{name} / {cname}: explain and explain_step disagree"));
                }
            }
            if let Err(e) = consistent(&explained.trace, &explained.decision) {
                failures.push(format!("{name} / {cname}: {e}\n    {}", explained.to_json()));
            }
            // The JSON form: the hand-written writer gives serde's text, byte for byte.
            if explained.to_json() != serde_json::to_string(&explained).unwrap() {
                failures.push(format!(
                    "{name} / {cname}: to_json differs from the Serialize form\n    {}\n    {}",
                    explained.to_json(),
                    serde_json::to_string(&explained).unwrap()
                ));
            }
            // Every field present, the decision's fields as `to_json` writes them.
            let json: Value = serde_json::from_str(&explained.to_json()).unwrap();
            let decision: Value = serde_json::from_str(&explained.decision.to_json()).unwrap();
            if json["decision"] != decision {
                failures.push(format!("{name} / {cname}: the explanation's decision is not the decision's JSON"));
            }
            for field in [
                "version",
                "target",
                "cors",
                "rules",
                "access",
                "authenticators",
                "roles",
                "scopes",
                "owner",
                "dry_run",
            ] {
                if json["trace"].get(field).is_none() {
                    failures.push(format!("{name} / {cname}: trace lacks `{field}`"));
                }
            }
        }
    }
    assert!(cases > 500, "only {cases} cases");
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_host_check_pauses_explain_as_it_pauses_decide() {
    let policy = fixture("policies/delegated.toml");
    let engine = Engine::from_toml(&policy, &admit::MapResolver::default()).unwrap();
    let (id, _) = engine.authenticators().find(|(_, kind)| *kind == "delegated").unwrap();
    let id = id.to_owned();
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", b"Session session-value-not-in-any-trace")];
    let req = Request { method: "GET", path: "/notes/ann/1", headers, peer: None, now: NOW };
    let ExplainStep::Check(check) = engine.explain_step(&req, &Verdicts::new()) else {
        panic!("explain did not ask for the host's check");
    };
    assert_eq!(&*check.authenticator, id);
    let Step::Check(same) = engine.decide_step(&req, &Verdicts::new()) else { panic!("decide did not ask") };
    assert_eq!(check, same);
    // Unanswered, explain (like decide) refuses, and says the check gave no verdict.
    let unanswered = engine.explain(&req);
    assert_eq!(unanswered.decision, engine.decide(&req));
    let refused = unanswered.trace.authenticators.iter().find(|a| a.id == id).unwrap();
    assert_eq!(refused.verdict, AuthenticatorVerdict::Refused);
    assert!(refused.detail.as_deref().unwrap().contains("no verdict"));
    assert!(!unanswered.to_json().contains("session-value-not-in-any-trace"));
    // Answered, the trace names the principal the host's check gave, and its roles.
    let mut verdicts = Verdicts::new();
    let verdict = CredentialVerdict::Principal { id: "ann".into(), roles: vec!["reader".into()], scopes: vec![] };
    verdicts.record_credential(check, verdict);
    let ExplainStep::Explained(e) = engine.explain_step(&req, &verdicts) else { panic!("no explanation") };
    let Step::Decided(d) = engine.decide_step(&req, &verdicts) else { panic!("no decision") };
    assert_eq!(e.decision, d);
    assert!(e.decision.allow);
    let matched = &e.trace.authenticators[0];
    assert_eq!((matched.verdict, matched.principal.as_deref()), (AuthenticatorVerdict::Matched, Some("ann")));
    assert_eq!(e.trace.roles, ["reader"]);
    assert_eq!(e.trace.owner.as_ref().map(|o| o.outcome), Some(admit::explain::OwnerOutcome::Owner));
    assert!(!e.to_json().contains("session-value-not-in-any-trace"));
}

// --- no secret in a trace, over generated requests ---------------------------------

const SKILLMEAT: &str = include_str!("../../examples/policies/skillmeat.toml");
const SOURCES: &str = include_str!("../../tests/fixtures/policies/sources.toml");
const FETCHML: &str = include_str!("../../examples/policies/fetchml.toml");
const FETCHML_KEYS: &str = include_str!("../../examples/policies/fetchml-keys.toml");
const API_KEY: &str = "sk-test-only-skillmeat-key";
const PAT: &str = "test-only-enterprise-pat-secret-0123456789";
const SOURCES_PAT: &str = "test-only-pat-token-value";

struct Engines {
    all: Vec<Engine>,
    /// Every secret the policies or their environment hold, and every key digest.
    secrets: Vec<String>,
}

fn engines() -> Engines {
    let skillmeat_env = [
        ("SKILLMEAT_AUTH_ENABLED", "true".to_owned()),
        ("SKILLMEAT_API_KEY_ENABLED", "true".to_owned()),
        ("SKILLMEAT_API_KEY", API_KEY.to_owned()),
        ("SKILLMEAT_ENTERPRISE_PAT_SECRET", PAT.to_owned()),
        ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev".to_owned()),
        ("CLERK_JWKS_URL", "https://test-instance.clerk.accounts.dev/.well-known/jwks.json".to_owned()),
    ];
    let skillmeat = Engine::from_toml(SKILLMEAT, &admit::MapResolver::from_env(skillmeat_env)).unwrap();
    skillmeat.set_jwks("clerk", &fixture("jwks.json")).unwrap();
    let sources_env = [("CLERK_JWKS", fixture("jwks.json")), ("PAT", SOURCES_PAT.to_owned())];
    let sources = Engine::from_toml(SOURCES, &admit::MapResolver::from_env(sources_env)).unwrap();
    let mut files = admit::MapResolver::default();
    files.files.insert("fetchml-keys.toml".into(), FETCHML_KEYS.into());
    let fetchml = Engine::from_toml(FETCHML, &files).unwrap();
    let mut secrets = vec![API_KEY.to_owned(), PAT.to_owned(), SOURCES_PAT.to_owned()];
    for text in [SKILLMEAT, SOURCES, FETCHML_KEYS] {
        // Every 64-hex-digit digest written in the policies and keys files.
        for word in text.split(|c: char| !c.is_ascii_hexdigit()) {
            if word.len() == 64 {
                secrets.push(word.to_owned());
            }
        }
    }
    for s in [API_KEY, PAT, SOURCES_PAT] {
        secrets.push(admit::hash_key(s));
    }
    Engines { all: vec![skillmeat, sources, fetchml], secrets }
}

/// Keys that some policy takes, tokens it verifies, and the fixture tokens.
fn good_credentials() -> Vec<String> {
    let mut v: Vec<String> = vec![API_KEY.into(), PAT.into(), SOURCES_PAT.into(), "demo-admin-key".into()];
    for name in ["clerk_org_admin", "clerk_org_member"] {
        v.push(token(name));
    }
    v
}

/// A credential: a good one, one damaged at a byte, or random text.
fn credential() -> impl Strategy<Value = String> {
    let good = good_credentials();
    prop_oneof![
        prop::sample::select(good.clone()),
        (prop::sample::select(good), any::<prop::sample::Index>(), b'A'..=b'z').prop_map(|(g, at, b)| {
            let mut bytes = g.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i] == b { b'0' } else { b };
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        "[A-Za-z0-9_.-]{12,48}".prop_map(|s| format!("zz{s}")),
    ]
}

/// Where a credential goes: headers of each source the policies read, a cookie, the query.
type Headers = Vec<(Vec<u8>, Vec<u8>)>;

fn placed(place: usize, cred: &str) -> (String, Headers) {
    let h = |n: &str, v: String| (n.as_bytes().to_vec(), v.into_bytes());
    match place {
        0 => ("/items".into(), vec![h("X-API-Key", cred.into())]),
        1 => ("/items".into(), vec![h("Authorization", format!("Bearer {cred}"))]),
        2 => ("/items".into(), vec![h("X-Auth", format!("Token {cred}"))]),
        3 => ("/items".into(), vec![h("Cookie", format!("api_key={cred}"))]),
        4 => ("/items".into(), vec![h("Cookie", format!("__session={cred}"))]),
        _ => (format!("/items?access_token={cred}"), vec![]),
    }
}

fn paths() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "/items",
        "/health",
        "/api/v1/artifacts",
        "/api/v1/artifacts/a1",
        "/api/v1/jobs",
        "/api/v1/jobs/alice/7",
        "/api/v1/admin/users",
        "/nowhere",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the request carries, and wherever, the explanation's JSON holds no
    /// credential from it (nor a part of a token that is not its claims), no secret from
    /// the policy or its environment, and no key digest.
    #[test]
    fn no_credential_or_secret_in_a_trace(
        creds in proptest::collection::vec((credential(), 0usize..6), 1..3),
        path in paths(),
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "OPTIONS"]),
        origin in prop::sample::select(vec![None, Some("https://evil.example"), Some("https://app.example")]),
        which in 0usize..3,
    ) {
        static ENGINES: std::sync::OnceLock<Engines> = std::sync::OnceLock::new();
        let engines = ENGINES.get_or_init(engines);
        let mut target = path.clone();
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"Host".to_vec(), b"api.example.com".to_vec())];
        for (cred, place) in &creds {
            let (p, h) = placed(*place, cred);
            if let Some(q) = p.split_once('?').map(|(_, q)| q) {
                target = format!("{target}?{q}");
            }
            headers.extend(h);
        }
        if let Some(o) = origin {
            headers.push((b"Origin".to_vec(), o.as_bytes().to_vec()));
        }
        let pairs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let req = Request { method, path: &target, headers: &pairs, peer: Some("10.0.0.1"), now: NOW };
        let engine = &engines.all[which];
        let explained = engine.explain(&req);
        prop_assert_eq!(&explained.decision, &engine.decide(&req));
        let json = explained.to_json();
        prop_assert_eq!(&json, &serde_json::to_string(&explained).unwrap());
        for (cred, _) in &creds {
            prop_assert!(!json.contains(cred.as_str()), "credential in the trace: {}", json);
            // A JWT's signature and header never appear (its claims may, as the decision's).
            if let [header, _, signature] = cred.split('.').collect::<Vec<_>>()[..] {
                prop_assert!(signature.len() < 8 || !json.contains(signature), "signature in: {}", json);
                prop_assert!(header.len() < 8 || !json.contains(header), "JOSE header in: {}", json);
            }
        }
        for secret in &engines.secrets {
            prop_assert!(!json.contains(secret.as_str()), "secret in the trace: {}", json);
        }
        prop_assert!(consistent(&explained.trace, &explained.decision).is_ok(), "{:?}", consistent(&explained.trace, &explained.decision));
    }
}
