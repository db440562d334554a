//! The native figure for `bench/run.sh`: `Engine::decide` on the request the C timing
//! program uses, in ns per decision. Usage: native_decide POLICY [ITERATIONS]

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a timing program: it reads a file, the clock and prints"
)]

use std::hint::black_box;
use std::time::Instant;

use admit_core::{Engine, MapResolver, Request};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: native_decide POLICY [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let engine = match Engine::from_toml(&text, &MapResolver::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let headers: &[(&[u8], &[u8])] = &[
        (b"Host", b"127.0.0.1:8080"),
        (b"User-Agent", b"curl/8.0"),
        (b"Accept", b"*/*"),
        (b"X-API-Key", b"demo-researcher-key"),
    ];
    let req = Request { method: "GET", path: "/api/v1/jobs", headers, peer: Some("127.0.0.1"), now: 1_790_000_000 };
    assert!(engine.decide(&req).allow, "the timed request must be allowed");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iterations {
            let d = engine.decide(black_box(&req));
            black_box(d.allow);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        best = best.min(ns);
    }
    println!("native Engine::decide: {best:.0} ns/decision");
}
