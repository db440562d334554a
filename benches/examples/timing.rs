//! A statistical timing check of the secret comparisons, after dudect (Reparaz,
//! Balasch, Verbauwhede, 2017): time many decisions for two classes of wrong credentials,
//! interleaved at random, and test whether the two timing distributions differ (Welch's
//! t). Class A shares a long prefix with the real secret; class B is random. A leak of
//! how much of a guess is right would show as |t| well above 4.5.
//!
//! Run: `cargo run --release -p admit-benches --example timing [-- MEASUREMENTS]`.
//! Not a test: the machine's noise decides how sharp it can be; see docs/security.md.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::string_slice,
    missing_docs,
    reason = "a measuring tool: it reads the clock and prints"
)]

use std::hint::black_box;
use std::time::Instant;

use admit::{Engine, MapResolver, Request};
use admit_benches::{API_KEY, NOW, RAG_SECRET, example, token};

/// A small xorshift generator: reproducible, and no dependency for a tool.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self, alphabet: &[u8]) -> u8 {
        alphabet[(self.next() % alphabet.len() as u64) as usize]
    }
}

/// Welford's running mean and variance.
#[derive(Default)]
struct Stats {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Stats {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
    fn var(&self) -> f64 {
        self.m2 / (self.n - 1.0)
    }
}

fn welch_t(a: &Stats, b: &Stats) -> f64 {
    (a.mean - b.mean) / (a.var() / a.n + b.var() / b.n).sqrt()
}

/// Times `decide` on class A (`near`) and class B (`far`) inputs, interleaved at random.
/// Every input is made before timing starts and copied into the same buffer before its
/// measurement, so the two classes differ in content only, not in where they live.
/// Keeps measurements below the 90th percentile, as dudect does, to cut interrupts.
fn check(
    name: &str,
    engine: &Engine,
    header: &str,
    near: &dyn Fn(&mut Rng) -> String,
    far: &dyn Fn(&mut Rng) -> String,
    n: usize,
) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<(bool, Vec<u8>)> = (0..n)
        .map(|_| {
            let class_a = rng.next() & 1 == 0;
            let value = if class_a { near(&mut rng) } else { far(&mut rng) };
            (class_a, value.into_bytes())
        })
        .collect();
    let len = inputs[0].1.len();
    assert!(inputs.iter().all(|(_, v)| v.len() == len), "{name}: both classes must have one length");
    let mut buf = vec![0u8; len];
    let mut samples: Vec<(bool, f64)> = Vec::with_capacity(n);
    for (class_a, value) in &inputs {
        buf.copy_from_slice(value);
        let headers: [(&[u8], &[u8]); 1] = [(header.as_bytes(), buf.as_slice())];
        let req = Request { method: "GET", path: "/api/v1/artifacts", headers: &headers, peer: None, now: NOW };
        let start = Instant::now();
        let d = engine.decide(black_box(&req));
        let ns = start.elapsed().as_nanos() as f64;
        assert!(!black_box(d).allow, "{name}: a wrong credential was accepted");
        samples.push((*class_a, ns));
    }
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.1).collect();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted[sorted.len() * 9 / 10];
    let (mut a, mut b) = (Stats::default(), Stats::default());
    for (class_a, ns) in samples.into_iter().filter(|s| s.1 <= cut) {
        if class_a { a.push(ns) } else { b.push(ns) }
    }
    let t = welch_t(&a, &b);
    let verdict = if t.abs() < 4.5 { "no evidence of a leak" } else { "DIFFERENT: investigate" };
    println!(
        "{name:<40} n={:>7}  mean A {:>7.1} ns  mean B {:>7.1} ns  t = {t:>6.2}  {verdict}",
        a.n as usize + b.n as usize,
        a.mean,
        b.mean
    );
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(400_000);
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    // Class A keeps all but the last 8 characters of the real secret and randomises those;
    // class B does the same with a decoy of the same length and alphabet. Both classes are
    // equally random and equally repetitive (so branch predictors and caches cannot tell
    // them apart by that), and differ only in whether their fixed part is the secret's.
    fn near_secret(secret: &str, r: &mut Rng, alphabet: &[u8]) -> String {
        loop {
            let keep = secret.len() - 8;
            let tail: String = (0..8).map(|_| char::from(r.byte(alphabet))).collect();
            let guess = format!("{}{tail}", &secret[..keep]);
            if guess != secret {
                return guess;
            }
        }
    }
    let skillmeat = example(
        "skillmeat",
        &[("SKILLMEAT_AUTH_ENABLED", "true"), ("SKILLMEAT_API_KEY_ENABLED", "true"), ("SKILLMEAT_API_KEY", API_KEY)],
    );
    let mut seed = Rng(0x2545_f491_4f6c_dd1d);
    // A decoy keeps each character's class (lower-case letter, upper-case letter, digit,
    // punctuation as is), so the syntax checks do the same work on it as on the secret.
    let decoy = |secret: &str, seed: &mut Rng| -> String {
        secret
            .bytes()
            .map(|b| {
                char::from(match b {
                    b'a'..=b'z' => seed.byte(b"abcdefghijklmnopqrstuvwxyz"),
                    b'A'..=b'Z' => seed.byte(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                    b'0'..=b'9' => seed.byte(b"0123456789"),
                    other => other,
                })
            })
            .collect()
    };
    let key_decoy = decoy(API_KEY, &mut seed);
    let near_key = |r: &mut Rng| near_secret(API_KEY, r, ALNUM);
    let far_key = move |r: &mut Rng| near_secret(&key_decoy, r, ALNUM);
    check("API key (X-API-Key, SHA-256 lookup)", &skillmeat, "X-API-Key", &near_key, &far_key, n);

    // Static bearer token (enterprise PAT).
    let pat = "test-only-enterprise-pat-secret-0123456789";
    let skillmeat_pat =
        example("skillmeat", &[("SKILLMEAT_AUTH_ENABLED", "true"), ("SKILLMEAT_ENTERPRISE_PAT_SECRET", pat)]);
    let near_pat = move |r: &mut Rng| format!("Bearer {}", near_secret(pat, r, ALNUM));
    let pat_decoy = decoy(pat, &mut seed);
    let far_pat = move |r: &mut Rng| format!("Bearer {}", near_secret(&pat_decoy, r, ALNUM));
    check("static bearer token (PAT)", &skillmeat_pat, "Authorization", &near_pat, &far_pat, n);

    // HS256 signature: the real signature with its last character changed vs a random one.
    let rag = Engine::from_toml(
        &admit_benches::read("examples/policies/rag-modulo.toml"),
        &MapResolver::from_env([("JWT_SECRET_KEY", RAG_SECRET)]),
    )
    .unwrap();
    let valid = token("rag_valid");
    let (body, sig) = valid.rsplit_once('.').unwrap();
    let (body, sig) = (body.to_owned(), sig.to_owned());
    let (body2, sig2) = (body.clone(), sig.clone());

    // The real signature with its last 8 characters randomised, vs a random signature.
    let near_sig = move |r: &mut Rng| format!("Bearer {body}.{}", near_secret(&sig, r, B64));
    let sig_decoy = decoy(&sig2, &mut seed);
    let far_sig = move |r: &mut Rng| format!("Bearer {body2}.{}", near_secret(&sig_decoy, r, B64));
    check("HS256 signature (HMAC verify)", &rag, "Authorization", &near_sig, &far_sig, n);
}
