//! The native figure for `bench/bench.mjs`: the same decisions made straight on
//! `admit::Engine`. Prints one JSON line: nanoseconds per decision.
//!
//! cargo run --release --config profile.release.opt-level=3 --example native -- ROOT HS256_TOKEN RS256_TOKEN ORDINARY_HEADERS_JSON
//! (bench.mjs runs it so: native at opt-level 3, as the other bindings ship it)

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::disallowed_methods,
    missing_docs,
    reason = "a timing program: it reads files, the clock, and prints"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use admit::{Engine, MapResolver, Request};

const NOW: i64 = 1_790_000_000;

fn per_call(engine: &Engine, path: &str, headers: &[(&str, &str)], allow: bool, n: u32) -> f64 {
    let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    let req = Request { method: "GET", path, headers: &headers, peer: Some("127.0.0.1"), now: NOW };
    assert_eq!(engine.decide(&req).allow, allow, "the timed decision");
    for _ in 0..n / 10 {
        black_box(engine.decide(black_box(&req)));
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(engine.decide(black_box(&req)));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(n));
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(&args[1]);
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let rag = Engine::from_toml(
        &read("examples/policies/rag-modulo.toml"),
        &MapResolver::from_env([("JWT_SECRET_KEY", "test-only-rag-modulo-secret-0123456789abcdef")]),
    )
    .unwrap();
    let clerk = Engine::from_toml(
        &read("examples/policies/skillmeat.toml"),
        &MapResolver::from_env([
            ("SKILLMEAT_AUTH_ENABLED", "true".to_owned()),
            ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev".to_owned()),
            ("CLERK_AUDIENCE", "skillmeat-api".to_owned()),
            ("CLERK_JWKS", read("tests/fixtures/jwks.json")),
        ]),
    )
    .unwrap();
    let fetchml = Engine::from_toml(&read("examples/policies/fetchml.toml"), &MapResolver::default()).unwrap();
    let deny = per_call(&rag, "/api/collections", &[], false, 200_000);
    let key_header = ("X-API-Key", "demo-researcher-key");
    let key = per_call(&fetchml, "/api/v1/jobs/bob/7", &[key_header], true, 200_000);
    // The same API key among the ordinary headers of a Worker's request (bench.mjs's list).
    let ordinary: Vec<(String, String)> = serde_json::from_str(&args[4]).unwrap();
    let mut worker: Vec<(&str, &str)> = ordinary.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    worker.push(key_header);
    let key_worker = per_call(&fetchml, "/api/v1/jobs/bob/7", &worker, true, 200_000);
    let hs = per_call(&rag, "/api/collections", &[("Authorization", &format!("Bearer {}", args[2]))], true, 100_000);
    let rs = per_call(&clerk, "/api/v1/artifacts", &[("Authorization", &format!("Bearer {}", args[3]))], true, 5_000);
    println!(
        "{{\"deny_ns\": {deny:.1}, \"api_key_ns\": {key:.1}, \"api_key_worker_ns\": {key_worker:.1}, \"hs256_ns\": {hs:.1}, \"rs256_ns\": {rs:.1}}}"
    );
}
