//! Every parser the core runs on hostile input is bounded in depth, so no input can
//! overflow a small thread stack. musl gives a thread 128 KiB; C hosts' threads often
//! less. Each call here runs on a thread of `STACK` bytes; a stack overflow would abort
//! the whole test binary, so a pass means no overflow.

#![allow(clippy::unwrap_used, reason = "test code stops loudly")]

use admit::{Engine, Format, MapResolver, OwnedRequest};

const STACK: usize = 128 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(STACK).spawn(f).unwrap().join().unwrap()
}

/// Depths up to the bounds (which must parse or fail on their own terms without
/// overflowing) and far beyond them (which must be refused by the bound).
const DEPTHS: [usize; 11] = [2, 7, 8, 9, 15, 16, 17, 33, 200, 1_000, 100_000];

fn assert_refused<E: std::fmt::Display>(r: Result<(), E>, depth: usize, bound: usize) {
    if depth > bound + 2 {
        let e = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("nests deeper"), "depth {depth}: {e}");
    }
}

fn nested_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_json_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

#[test]
fn deeply_nested_json_policies_are_errors_not_overflows() {
    for depth in DEPTHS {
        for text in [nested_json(depth), nested_json_objects(depth), format!("{{\"scopes\":{}}}", nested_json(depth))] {
            let r = on_small_stack(move || Engine::from_text(&text, Format::Json, &MapResolver::default()).map(|_| ()));
            assert_refused(r, depth, admit::MAX_POLICY_DEPTH);
        }
    }
}

#[test]
fn deeply_nested_toml_policies_are_errors_not_overflows() {
    for depth in DEPTHS {
        let arrays = format!("scopes = {}{}", "[".repeat(depth), "]".repeat(depth));
        let tables = format!("dry_run = {}true{}", "{ not = ".repeat(depth), " }".repeat(depth));
        let dotted = format!("{} = 1", vec!["a"; depth].join("."));
        let headers = format!("[{}]\nx = 1", vec!["a"; depth].join("."));
        for text in [arrays, tables, dotted, headers] {
            let r = on_small_stack(move || Engine::from_text(&text, Format::Toml, &MapResolver::default()).map(|_| ()));
            assert_refused(r, depth, admit::MAX_POLICY_DEPTH);
        }
    }
}

#[test]
fn deeply_nested_request_json_is_an_error_not_an_overflow() {
    for depth in DEPTHS {
        let texts = [
            nested_json(depth),
            format!(r#"{{"method":"GET","path":"/","now":1,"headers":{}}}"#, nested_json(depth)),
            format!(r#"{{"method":"GET","path":"/","now":1,"headers":{{"a":{}}}}}"#, nested_json(depth)),
        ];
        for text in texts {
            let r = on_small_stack(move || OwnedRequest::from_json(&text).map(|_| ()));
            assert_refused(r, depth, admit::MAX_REQUEST_DEPTH);
        }
    }
}

#[test]
fn a_token_with_deeply_nested_header_or_claims_is_refused_not_an_overflow() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let policy = r#"
        [[authenticators]]
        type = "jwt"
        id = "t"
        algorithms = ["HS256"]
        secret = { env = "K" }
        [[routes]]
        path = "/**"
    "#;
    let resolver = MapResolver::from_env([("K", "k".repeat(32))]);
    let engine = std::sync::Arc::new(Engine::from_toml(policy, &resolver).unwrap());
    for depth in [100, 127, 128, 129, 2_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let header = b64.encode(format!(r#"{{"alg":"HS256","x":{nested}}}"#));
        let claims = b64.encode(format!(r#"{{"sub":"u","exp":1,"x":{nested}}}"#));
        let plain_header = b64.encode(r#"{"alg":"HS256"}"#);
        for token in [format!("{header}.{claims}.c2ln"), format!("{plain_header}.{claims}.c2ln")] {
            let engine = std::sync::Arc::clone(&engine);
            let allow = on_small_stack(move || {
                let value = format!("Bearer {token}");
                let headers: Vec<(&[u8], &[u8])> = vec![(b"authorization", value.as_bytes())];
                let req = admit::Request { method: "GET", path: "/", headers: &headers, peer: None, now: 0 };
                engine.decide(&req).allow
            });
            assert!(!allow, "depth {depth}");
        }
    }
}
