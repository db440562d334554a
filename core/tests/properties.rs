//! Invariants over generated input: what must hold for every request, not just the
//! ones someone thought of.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code stops loudly"
)]

mod common;

use admit::{Decision, Engine, Format, MapResolver, Reason, Request, canonicalize};
use common::{NOW, fixture, token};
use proptest::prelude::*;

const SKILLMEAT: &str = include_str!("../../examples/policies/skillmeat.toml");
const FETCHML: &str = include_str!("../../examples/policies/fetchml.toml");
const FETCHML_KEYS: &str = include_str!("../../examples/policies/fetchml-keys.toml");
const RAG: &str = include_str!("../../examples/policies/rag-modulo.toml");
const PAT: &str = "test-only-enterprise-pat-secret-0123456789";
const API_KEY: &str = "sk-test-only-skillmeat-key";
const RAG_SECRET: &str = "test-only-rag-modulo-secret-0123456789abcdef";

/// SkillMeat with every mode on: API key, Clerk JWT, enterprise PAT.
fn skillmeat() -> Engine {
    let env = [
        ("SKILLMEAT_AUTH_ENABLED", "true".to_owned()),
        ("SKILLMEAT_API_KEY_ENABLED", "true".to_owned()),
        ("SKILLMEAT_API_KEY", API_KEY.to_owned()),
        ("SKILLMEAT_ENTERPRISE_PAT_SECRET", PAT.to_owned()),
        ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev".to_owned()),
        ("CLERK_JWKS_URL", "https://test-instance.clerk.accounts.dev/.well-known/jwks.json".to_owned()),
    ];
    let engine = Engine::from_toml(SKILLMEAT, &MapResolver::from_env(env)).unwrap();
    engine.set_jwks("clerk", &fixture("jwks.json")).unwrap();
    engine
}

fn decide(engine: &Engine, method: &str, path: &str, headers: &[(Vec<u8>, Vec<u8>)]) -> Decision {
    let pairs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
    common::decide(engine, &Request { method, path, headers: &pairs, peer: Some("198.51.100.7"), now: NOW })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("PATCH".to_owned()),
        Just("DELETE".to_owned()),
        Just("HEAD".to_owned()),
        Just("OPTIONS".to_owned()),
        "[A-Za-z]{1,8}",
        ".{0,6}",
    ]
}

/// Paths built from segments that tempt a canonicaliser.
/// Segments with every construct routers read differently: dot segments raw and
/// encoded, encoded slashes and backslashes, empty segments, `#`, NUL, double and
/// overlong encodings, `;`, non-ASCII.
fn router_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_owned()),
        Just("admin".to_owned()),
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just(".%2e".to_owned()),
        Just("a%2Fb".to_owned()),
        Just("a%2fb".to_owned()),
        Just("a%5Cb".to_owned()),
        Just("a%252Fb".to_owned()),
        Just("a#b".to_owned()),
        Just("a%23b".to_owned()),
        Just("a%00".to_owned()),
        Just("%C0%AF".to_owned()),
        Just("%C0%AE%C0%AE".to_owned()),
        Just("caf%C3%A9".to_owned()),
        Just("caf\u{e9}".to_owned()),
        Just("a;x".to_owned()),
        Just("%61".to_owned()),
        "[a-zA-Z0-9%._~;:@!$&'()*+,=-]{1,6}",
    ]
}

/// Percent-decodes what a router sees of a segment (escapes that are not two hex
/// digits are kept as they are).
fn percent_decode(seg: &str) -> Vec<u8> {
    let b = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("api".to_owned()),
        Just("v1".to_owned()),
        Just("artifacts".to_owned()),
        Just("collections".to_owned()),
        Just("admin".to_owned()),
        Just("users".to_owned()),
        Just("settings".to_owned()),
        Just("health".to_owned()),
        Just("version".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("%2e".to_owned()),
        "[a-z0-9%]{1,6}",
        "\\PC{1,4}",
    ];
    (proptest::collection::vec(seg, 0..7), prop_oneof![Just(""), Just("?x=1"), Just("#f"), Just("/")])
        .prop_map(|(segs, tail)| format!("/{}{tail}", segs.join("/")))
}

/// Headers that carry no credential SkillMeat reads.
fn unrelated_headers() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    let name = prop_oneof![
        Just(b"Accept".to_vec()),
        Just(b"Cookie".to_vec()),
        Just(b"X-Forwarded-For".to_vec()),
        Just(b"Content-Type".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12).prop_filter("not a credential header", |n| {
            !n.eq_ignore_ascii_case(b"authorization")
                && !n.eq_ignore_ascii_case(b"x-api-key")
                && !n.eq_ignore_ascii_case(b"origin")
        }),
    ];
    proptest::collection::vec((name, proptest::collection::vec(any::<u8>(), 0..40)), 0..5)
}

fn flip_case(bytes: &[u8], mask: u64) -> Vec<u8> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| if mask >> (i % 64) & 1 == 1 { b.to_ascii_uppercase() } else { b.to_ascii_lowercase() })
        .collect()
}

fn is_public(d: &Decision) -> bool {
    d.reason == Reason::Public
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Without a credential nothing but a public route is ever allowed, whatever the
    /// method, path and other headers.
    #[test]
    fn no_credential_no_entry(m in method(), p in path(), h in unrelated_headers()) {
        let engine = skillmeat();
        let d = decide(&engine, &m, &p, &h);
        prop_assert!(!d.allow || is_public(&d), "{} {} -> {:?}", m, p, d);
        // And the same question gets the same answer.
        prop_assert_eq!(d, decide(&engine, &m, &p, &h));
    }

    /// The case of header names and unrelated extra headers never change a decision.
    #[test]
    fn header_case_and_extra_headers_do_not_matter(
        m in method(),
        p in path(),
        extra in unrelated_headers(),
        mask in any::<u64>(),
        which in 0usize..3,
    ) {
        let engine = skillmeat();
        let cred: (Vec<u8>, Vec<u8>) = match which {
            0 => (b"X-API-Key".to_vec(), API_KEY.as_bytes().to_vec()),
            1 => (b"Authorization".to_vec(), format!("Bearer {PAT}").into_bytes()),
            _ => (b"Authorization".to_vec(), format!("Bearer {}", token("clerk_org_member")).into_bytes()),
        };
        let base = decide(&engine, &m, &p, std::slice::from_ref(&cred));
        let mut headers = extra;
        headers.push((flip_case(&cred.0, mask), cred.1.clone()));
        let n = headers.len();
        headers.rotate_right(mask as usize % n);
        prop_assert_eq!(base, decide(&engine, &m, &p, &headers));
    }

    /// Any one changed byte of a valid credential never lets a request through.
    #[test]
    fn a_changed_byte_never_allows(which in 0usize..4, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let engine = skillmeat();
        let (name, mut value, route) = match which {
            0 => ("X-API-Key", API_KEY.as_bytes().to_vec(), "/api/v1/artifacts"),
            1 => ("Authorization", format!("Bearer {PAT}").into_bytes(), "/api/v1/admin/users"),
            2 => ("Authorization", format!("Bearer {}", token("clerk_org_admin")).into_bytes(), "/api/v1/admin/users"),
            _ => ("Authorization", format!("Bearer {}", token("clerk_v2_member")).into_bytes(), "/api/v1/artifacts"),
        };
        let valid = decide(&engine, "GET", route, &[(name.as_bytes().to_vec(), value.clone())]);
        prop_assert!(valid.allow);
        // Change a byte of the credential itself (not the `Bearer ` scheme).
        let start = if name == "Authorization" { 7 } else { 0 };
        let i = start + at.index(value.len() - start);
        prop_assume!(value[i] != byte);
        value[i] = byte;
        let d = decide(&engine, "GET", route, &[(name.as_bytes().to_vec(), value)]);
        // Base64url has padding bits: a change there may decode to the same signature.
        // Such a token is the same token; anything else must be refused.
        if d.allow {
            prop_assert_eq!(which >= 2, true, "a changed key was accepted");
            prop_assert_eq!(&d.principal, &valid.principal);
        }
    }

    /// The canonical form is stable, never climbs, and never leaves dot or empty segments.
    #[test]
    fn canonical_paths_are_canonical(p in path()) {
        if let Ok(c) = canonicalize(&p) {
            prop_assert!(c.starts_with('/'));
            prop_assert!(!c.contains("//"));
            prop_assert!(c == "/" || !c.ends_with('/'));
            for seg in c.split('/').skip(1) {
                prop_assert!(seg != "." && seg != "..", "{}", c);
            }
            prop_assert_eq!(canonicalize(&c).unwrap(), c.clone());
        }
    }

    /// The segments admit decides on are the segments a router splits the target into:
    /// when a target is accepted, its canonical path has as many segments as the target
    /// has between its `/`s, and each one decodes to the same text as the router's
    /// (which percent-decodes the path, then splits it: Starlette on uvicorn's path,
    /// libmicrohttpd on its URL). Anything else is refused.
    #[test]
    fn accepted_targets_keep_the_routers_segments(
        segs in proptest::collection::vec(router_segment(), 0..6),
        query in proptest::option::of("[a-z=/.%#]{0,8}"),
    ) {
        let mut target = String::new();
        for s in &segs {
            target.push('/');
            target.push_str(s);
        }
        if target.is_empty() {
            target.push('/');
        }
        let path_part = target.clone();
        if let Some(q) = &query {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(c) = canonicalize(&target) {
            // Starlette and libmicrohttpd decode the whole path, then split it.
            let decoded = percent_decode(&path_part);
            let router: Vec<Vec<u8>> =
                if path_part == "/" { Vec::new() } else { decoded.split(|&b| b == b'/').skip(1).map(<[u8]>::to_vec).collect() };
            let ours: Vec<Vec<u8>> =
                if c == "/" { Vec::new() } else { c.split('/').skip(1).map(percent_decode).collect() };
            prop_assert_eq!(ours, router, "{} -> {}", target, c);
        }
    }

    /// A damaged PEM key (bytes of its DER changed, or cut short) is refused at load or
    /// loads as a key; never a panic, and a refused private key is never quoted back.
    #[test]
    fn damaged_pem_keys_never_panic_or_leak(
        which in 0usize..8,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let names = [
            "rsa-public.pem", "ec256-public.pem", "ec384-public.pem", "ed25519-public.pem",
            "rsa-private.pem", "ec256-private.pem", "ec384-private.pem", "ed25519-private.pem",
        ];
        let original = fixture(&format!("keys/{}", names[which]));
        let label = original.lines().next().unwrap().trim_start_matches("-----BEGIN ").trim_end_matches("-----");
        let body: String = original.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = b64.decode(body).unwrap();
        for (at, byte) in &edits {
            let i = at.index(der.len());
            der[i] = *byte;
        }
        if truncate {
            der.truncate(cut.index(der.len()));
        }
        let damaged_body = b64.encode(&der);
        let pem = format!("-----BEGIN {label}-----\n{damaged_body}\n-----END {label}-----\n");
        // A damaged private key goes beside the undamaged public key of its family.
        let keys = if which >= 4 {
            "public_key = { file = \"pub.pem\" }\nsigning_key = { file = \"k.pem\" }"
        } else {
            "public_key = { file = \"k.pem\" }"
        };
        let policy = format!(
            "[[authenticators]]\ntype = \"jwt\"\nid = \"k\"\nalgorithms = [\"RS256\", \"ES256\", \"ES384\", \"EdDSA\"]\n{keys}\n[[routes]]\npath = \"/**\"\n"
        );
        let mut resolver = MapResolver::default();
        resolver.files.insert("k.pem".to_owned(), pem);
        resolver.files.insert("pub.pem".to_owned(), fixture(&format!("keys/{}", names[which % 4])));
        if let Err(e) = Engine::from_toml(&policy, &resolver) {
            let text = e.to_string();
            for chunk in damaged_body.as_bytes().chunks(16).filter(|c| c.len() == 16) {
                prop_assert!(!text.contains(std::str::from_utf8(chunk).unwrap()), "key material in: {}", text);
            }
        }
    }

    /// Wildcard grants agree with a reference model: a pattern ending in `*` grants the
    /// declared scopes it prefixes, any other pattern the scope it names.
    #[test]
    fn wildcard_scopes_agree_with_the_model(
        declared in proptest::collection::btree_set("[a-c]{1,2}:[a-c]{1,2}", 1..8),
        pattern in prop_oneof!["[a-c]{0,2}:?[a-c]{0,2}\\*", "[a-c]{1,2}:[a-c]{1,2}", Just("*".to_owned())],
        pick in any::<prop::sample::Index>(),
    ) {
        let declared: Vec<String> = declared.into_iter().collect();
        let probe = pick.get(&declared).clone();
        let grants = |scope: &str| match pattern.strip_suffix('*') {
            Some(prefix) => scope.starts_with(prefix),
            None => pattern == scope,
        };
        let policy = format!(
            "scopes = {declared:?}\n[roles.r]\nscopes = [{pattern:?}]\n[[authenticators]]\ntype = \"anonymous\"\nid = \"a\"\nroles = [\"r\"]\n[[routes]]\npath = \"/**\"\nrequire = [{probe:?}]\n"
        );
        match Engine::from_toml(&policy, &MapResolver::default()) {
            Ok(engine) => {
                let d = decide(&engine, "GET", "/x", &[]);
                prop_assert_eq!(d.allow, grants(&probe), "{} vs {}: {:?}", pattern, probe, d);
            }
            // A role scope that grants no declared scope is a typo, refused at load.
            Err(e) => prop_assert!(!declared.iter().any(|d| grants(d)), "{}", e),
        }
    }
}

/// Any text at all, control characters, quotes, backslashes and non-ASCII included.
const SOURCES: &str = include_str!("../../tests/fixtures/policies/sources.toml");

/// The credential-sources fixture: a Clerk JWT in Authorization or the `__session`
/// cookie, API keys in headers or the `api_key` cookie (docs/policy.md 5.9).
fn sources() -> Engine {
    let env = [("CLERK_JWKS", fixture("jwks.json")), ("PAT", "test-only-pat-token-value".to_owned())];
    Engine::from_toml(SOURCES, &MapResolver::from_env(env)).unwrap()
}

/// Cookie pairs that are not the session: well-formed, without `=`, empty, or bytes.
fn cookie_junk() -> impl Strategy<Value = Vec<u8>> {
    let pair = prop_oneof![
        "[a-z_]{1,8}=[A-Za-z0-9]{0,8}".prop_map(String::into_bytes),
        "[a-z]{0,6}".prop_map(String::into_bytes),
        Just(b"=".to_vec()),
        Just(b"".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(pair, 0..4).prop_map(|ps| ps.join(&b"; "[..]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A credential from a cookie never admits a state-changing request that lacks a
    /// same-origin signal, whatever else the Cookie header holds and however the
    /// cookies are split over Cookie headers.
    #[test]
    fn cookie_credentials_need_a_same_origin_signal(
        m in method(),
        before in cookie_junk(),
        after in cookie_junk(),
        split in any::<bool>(),
        signal in 0usize..6,
        api_key in any::<bool>(),
    ) {
        let engine = sources();
        let session = if api_key { b"api_key=demo-admin-key".to_vec() } else {
            format!("__session={}", token("clerk_org_admin")).into_bytes()
        };
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"Host".to_vec(), b"api.example.com".to_vec())];
        if split {
            headers.push((b"Cookie".to_vec(), before));
            headers.push((b"Cookie".to_vec(), [session, b"; ".to_vec(), after].concat()));
        } else {
            headers.push((b"Cookie".to_vec(), [before, b"; ".to_vec(), session, b"; ".to_vec(), after].concat()));
        }
        let same_origin = match signal {
            1 => { headers.push((b"Sec-Fetch-Site".to_vec(), b"same-origin".to_vec())); true }
            2 => { headers.push((b"Origin".to_vec(), b"https://api.example.com".to_vec())); true }
            3 => { headers.push((b"Origin".to_vec(), b"https://evil.example".to_vec())); false }
            4 => {
                headers.push((b"Origin".to_vec(), b"https://api.example.com".to_vec()));
                headers.push((b"Sec-Fetch-Site".to_vec(), b"same-site".to_vec()));
                false
            }
            5 => { headers.push((b"Origin".to_vec(), b"null".to_vec())); false }
            _ => false,
        };
        let d = decide(&engine, &m, "/items", &headers);
        let safe = matches!(m.as_str(), "GET" | "HEAD" | "OPTIONS");
        prop_assert!(!d.allow || safe || same_origin, "{} {:?} -> {:?}", m, headers, d);
        if d.allow {
            prop_assert_eq!(d.reason, Reason::Ok);
        }
    }

    /// Whatever bytes the Cookie headers hold, they alone never admit anyone, and the
    /// engine answers without panicking.
    #[test]
    fn arbitrary_cookies_never_admit(
        m in method(),
        cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..3),
    ) {
        let engine = sources();
        let headers: Vec<(Vec<u8>, Vec<u8>)> = cookies.into_iter().map(|c| (b"Cookie".to_vec(), c)).collect();
        let d = decide(&engine, &m, "/items", &headers);
        prop_assert!(!d.allow, "{} {:?} -> {:?}", m, headers, d);
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\x00-\\x1f\"\\\\a-z\u{7f}\u{e9}\u{1f600}]{0,12}"]
}

fn generated_decision() -> impl Strategy<Value = Decision> {
    let principal = (
        text(),
        text(),
        prop::sample::select(vec!["anonymous", "local", "api_key", "bearer_token", "jwt"]),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(text(), 0..3),
        prop::option::of(prop::collection::btree_map(
            text(),
            prop_oneof![
                text().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
            ],
            0..3,
        )),
    )
        .prop_map(|(id, authenticator, kind, roles, scopes, claims)| admit::Principal {
            id,
            authenticator,
            kind,
            roles,
            scopes,
            claims: claims.map(|m| serde_json::Value::Object(m.into_iter().collect())),
        });
    (
        (any::<bool>(), any::<u16>(), prop::sample::select(Reason::ALL.to_vec()), text()),
        prop::collection::vec((text(), text()), 0..4),
        (prop::option::of(text()), prop::option::of(principal), prop::option::of(text())),
        (prop::collection::btree_map(text(), text(), 0..3), any::<bool>()),
    )
        .prop_map(
            |((allow, status, reason, message), headers, (body, principal, rule), (constraints, dry_run))| Decision {
                allow,
                status,
                reason,
                message: message.into(),
                headers: headers.into_iter().map(|(n, v)| (n.into(), v.into())).collect(),
                body: body.map(Into::into),
                principal: principal.map(std::sync::Arc::new),
                rule: rule.map(Into::into),
                constraints,
                dry_run,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The hand-written `Decision::to_json` writes exactly what serde_json writes for
    /// the derived `Serialize`: one contract, whichever way a host asks for it.
    #[test]
    fn decision_json_is_serde_json(d in generated_decision()) {
        prop_assert_eq!(d.to_json(), serde_json::to_string(&d).unwrap());
    }
}

/// A policy written back out (as JSON) and read again decides the same.
#[test]
fn policies_round_trip_and_decide_the_same() {
    let mut env = MapResolver::from_env([("JWT_SECRET_KEY", RAG_SECRET)]);
    env.files.insert("fetchml-keys.toml".to_owned(), FETCHML_KEYS.to_owned());
    for text in [FETCHML, RAG, SKILLMEAT] {
        let policy = admit::parse_policy(text, Format::Toml).unwrap();
        let json = serde_json::to_string_pretty(&policy).unwrap();
        let a = Engine::from_toml(text, &env).unwrap();
        let b = Engine::from_json(&json, &env).unwrap();
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(method(), path(), any::<u8>()), |(m, p, k)| {
                let key: &[u8] = [&b"demo-admin-key"[..], b"demo-analyst-key", b"nope", b""][usize::from(k) % 4];
                let rag = format!("Bearer {}", token("rag_valid"));
                let headers =
                    vec![(b"X-API-Key".to_vec(), key.to_vec()), (b"Authorization".to_vec(), rag.into_bytes())];
                prop_assert_eq!(decide(&a, &m, &p, &headers), decide(&b, &m, &p, &headers));
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn credential_sources_round_trip_through_json() {
    let policy = admit::parse_policy(SOURCES, Format::Toml).unwrap();
    let json = serde_json::to_string_pretty(&policy).unwrap();
    assert!(json.contains("\"allow_query\": true"), "{json}");
    let env =
        MapResolver::from_env([("CLERK_JWKS", fixture("jwks.json")), ("PAT", "test-only-pat-token-value".to_owned())]);
    let (a, b) = (sources(), Engine::from_json(&json, &env).unwrap());
    let session = format!("__session={}", token("clerk_org_admin"));
    for (m, p, h) in [
        ("GET", "/items", vec![(b"Cookie".to_vec(), session.clone().into_bytes())]),
        ("POST", "/items", vec![(b"Cookie".to_vec(), session.into_bytes())]),
        ("GET", "/items", vec![(b"X-Auth".to_vec(), b"Token demo-admin-key".to_vec())]),
        ("GET", "/items?access_token=test-only-pat-token-value", vec![]),
    ] {
        let d = decide(&a, m, p, &h);
        assert_eq!(d, decide(&b, m, p, &h), "{m} {p}");
    }
}
