//! The native figure of the bindings' timing scripts (bindings-c/bench/run.sh,
//! bindings-python/bench/bench.py, bindings-wasm/bench/bench.mjs): `Engine::decide` on the
//! requests a script names, in ns per decision. Each script describes its own requests, so
//! the native and the binding's figures are the same policy, environment and request.
//!
//! ```text
//! cargo run --release -p admit-benches --example native_decide -- CASE...
//! CASE:  --case NAME --policy FILE [--env NAME=VALUE]... [--env-file NAME=FILE]...
//!        [--jwks AUTHENTICATOR=FILE]...
//!        [--method GET] [--path /] [--header 'Name: value']... [--peer IP]
//!        [--now 1790000000] [--expect allow|deny] [--iterations 200000]
//!        [--time decide|explain]
//! ```
//!
//! `--env-file` sets the variable to the file's contents; `--jwks` hands a key set to
//! `set_jwks`, as a host does after fetching a `jwks_url`; `{ file = ... }` references
//! (a keys file) are read beside the policy. The decision is
//! checked once against `--expect` (default `allow`), then timed: a warm-up of a tenth of
//! the iterations, then the best of 5 rounds. Prints one JSON line, `{"NAME": ns, ...}`.
//! `--time explain` times `Engine::explain` (the decision and its trace) instead.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "a timing program: it reads its arguments, files and the clock, and prints"
)]

use std::hint::black_box;
use std::process::exit;
use std::time::Instant;

use admit::{Engine, Format, MapResolver, Request, Resolver};

/// One timed request, as the command line gives it.
struct Case {
    name: String,
    policy: String,
    env: Vec<(String, String)>,
    jwks: Vec<(String, String)>,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    peer: Option<String>,
    now: i64,
    allow: bool,
    iterations: u32,
    /// Time `explain` instead of `decide`.
    explain: bool,
}

impl Case {
    fn new(name: String) -> Self {
        Case {
            name,
            policy: String::new(),
            env: Vec::new(),
            jwks: Vec::new(),
            method: "GET".to_owned(),
            path: "/".to_owned(),
            headers: Vec::new(),
            peer: None,
            now: 1_790_000_000,
            allow: true,
            iterations: 200_000,
            explain: false,
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("native_decide: {message}");
    eprintln!("usage: native_decide --case NAME --policy FILE [--env N=V] [--env-file N=FILE] [--method M] [--path P]");
    eprintln!("         [--header 'Name: value'] [--peer IP] [--now SECS] [--expect allow|deny] [--iterations N] ...");
    exit(2)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}

fn split<'a>(arg: &'a str, at: char, what: &str) -> (&'a str, &'a str) {
    arg.split_once(at).unwrap_or_else(|| fail(&format!("{what}: `{arg}` has no `{at}`")))
}

fn parse(mut args: impl Iterator<Item = String>) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        if flag == "--case" {
            cases.push(Case::new(value));
            continue;
        }
        let Some(case) = cases.last_mut() else { fail(&format!("{flag} before the first --case")) };
        match flag.as_str() {
            "--policy" => case.policy = value,
            "--env" => {
                let (k, v) = split(&value, '=', "--env");
                case.env.push((k.to_owned(), v.to_owned()));
            }
            "--env-file" => {
                let (k, file) = split(&value, '=', "--env-file");
                case.env.push((k.to_owned(), read(file)));
            }
            "--jwks" => {
                let (k, file) = split(&value, '=', "--jwks");
                case.jwks.push((k.to_owned(), read(file)));
            }
            "--method" => case.method = value,
            "--path" => case.path = value,
            "--header" => {
                let (n, v) = split(&value, ':', "--header");
                case.headers.push((n.to_owned(), v.trim_start().to_owned()));
            }
            "--peer" => case.peer = Some(value),
            "--now" => case.now = value.parse().unwrap_or_else(|_| fail(&format!("--now {value}"))),
            "--expect" => {
                case.allow = match value.as_str() {
                    "allow" => true,
                    "deny" => false,
                    _ => fail(&format!("--expect {value}: allow or deny")),
                }
            }
            "--iterations" => {
                case.iterations =
                    value.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| fail(&format!("--iterations {value}")))
            }
            "--time" => {
                case.explain = match value.as_str() {
                    "decide" => false,
                    "explain" => true,
                    _ => fail(&format!("--time {value}: decide or explain")),
                }
            }
            _ => fail(&format!("unknown option {flag}")),
        }
    }
    if cases.is_empty() {
        fail("no --case");
    }
    cases
}

/// The case's environment, and files beside its policy.
struct PolicyResolver {
    env: MapResolver,
    base: std::path::PathBuf,
}

impl Resolver for PolicyResolver {
    fn env(&self, name: &str) -> Option<String> {
        self.env.env(name)
    }
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.base.join(path)).map_err(|e| e.to_string())
    }
}

/// Nanoseconds per decision: the best of 5 rounds, after a warm-up.
fn time(case: &Case) -> f64 {
    if case.policy.is_empty() {
        fail(&format!("{}: no --policy", case.name));
    }
    let env = PolicyResolver {
        env: MapResolver::from_env(case.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        base: std::path::Path::new(&case.policy).parent().map(std::path::Path::to_path_buf).unwrap_or_default(),
    };
    let engine = Engine::from_text(&read(&case.policy), Format::from_path(&case.policy), &env)
        .unwrap_or_else(|e| fail(&format!("{}: {}: {e}", case.name, case.policy)));
    for (id, set) in &case.jwks {
        engine.set_jwks(id, set).unwrap_or_else(|e| fail(&format!("{}: --jwks {id}: {e}", case.name)));
    }
    let headers: Vec<(&[u8], &[u8])> = case.headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    let req = Request {
        method: &case.method,
        path: &case.path,
        headers: &headers,
        peer: case.peer.as_deref(),
        now: case.now,
    };
    let d = engine.decide(&req);
    if d.allow != case.allow {
        fail(&format!(
            "{}: expected {}, the engine says {:?}",
            case.name,
            if case.allow { "allow" } else { "deny" },
            d.reason
        ));
    }
    if case.explain {
        if engine.explain(&req).decision != d {
            fail(&format!("{}: explain and decide disagree", case.name));
        }
        return best_of(case.iterations, || engine.explain(black_box(&req)));
    }
    for _ in 0..case.iterations / 10 {
        black_box(engine.decide(black_box(&req)));
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..case.iterations {
            black_box(engine.decide(black_box(&req)));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(case.iterations));
    }
    best
}

/// Nanoseconds per call of `f`: the best of 5 rounds, after a warm-up.
fn best_of<R>(iterations: u32, f: impl Fn() -> R) -> f64 {
    for _ in 0..iterations / 10 {
        black_box(f());
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(f());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(iterations));
    }
    best
}

fn main() {
    let cases = parse(std::env::args().skip(1));
    let figures: Vec<String> =
        cases.iter().map(|c| format!("{}: {:.1}", serde_json::Value::from(c.name.as_str()), time(c))).collect();
    println!("{{{}}}", figures.join(", "));
}
