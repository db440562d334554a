//! The native figure for `bench/bench.py`: the same decisions as the Python timing,
//! made straight on `admit::Engine`. Prints one JSON line: nanoseconds per decision.
//!
//! cargo run --release -p admit-python --example native_decide -- ROOT TOKEN

#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a timing program: it reads files, the clock, and prints"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use admit::{Engine, Format, MapResolver, Request};

fn per_call(engine: &Engine, headers: &[(&[u8], &[u8])], path: &str, now: i64) -> f64 {
    let req = Request { method: "GET", path, headers, peer: Some("127.0.0.1"), now };
    for _ in 0..20_000 {
        black_box(engine.decide(black_box(&req)));
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let n = 200_000;
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
    let token = &args[2];
    let skillmeat = std::fs::read_to_string(root.join("examples/policies/skillmeat.toml")).unwrap();
    let rag = std::fs::read_to_string(root.join("examples/policies/rag-modulo.toml")).unwrap();
    let key = "sk-test-only-skillmeat-key";
    let env = MapResolver::from_env([
        ("SKILLMEAT_AUTH_ENABLED", "true"),
        ("SKILLMEAT_API_KEY_ENABLED", "true"),
        ("SKILLMEAT_API_KEY", key),
    ]);
    let api = Engine::from_text(&skillmeat, Format::Toml, &env).unwrap();
    let env = MapResolver::from_env([("JWT_SECRET_KEY", "test-only-rag-modulo-secret-0123456789abcdef")]);
    let jwt = Engine::from_text(&rag, Format::Toml, &env).unwrap();
    let bearer = format!("Bearer {token}");
    let api_ns = per_call(&api, &[(b"x-api-key", key.as_bytes())], "/api/v1/artifacts", 1_790_000_000);
    let jwt_ns = per_call(&jwt, &[(b"authorization", bearer.as_bytes())], "/api/search", 1_790_000_000);
    println!("{{\"api_key_ns\": {api_ns:.1}, \"jwt_hs256_ns\": {jwt_ns:.1}}}");
}
