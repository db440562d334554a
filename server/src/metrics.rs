//! Prometheus text metrics, written by hand: a few counters and one histogram do not
//! need a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::lock;

/// Upper bounds of the decision latency histogram, in seconds.
const BUCKETS: [f64; 12] =
    [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25];

#[derive(Default)]
pub(crate) struct Metrics {
    /// By (reason, authenticator, allow).
    decisions: Mutex<BTreeMap<(&'static str, String, bool), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    generation: AtomicU64,
    reload_ok: AtomicU64,
    reload_error: AtomicU64,
    last_reload_success: AtomicU64,
    /// By (authenticator, result).
    jwks_fetches: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// By authenticator: (keys in the set, unix time it was fetched).
    jwks_sets: Mutex<BTreeMap<String, (usize, i64)>>,
    /// By endpoint: requests refused before a decision (unreadable input).
    bad_requests: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn decided(&self, reason: &'static str, authenticator: &str, allow: bool, nanos: u64) {
        *lock(&self.decisions).entry((reason, authenticator.to_owned(), allow)).or_default() += 1;
        let seconds = nanos as f64 / 1e9;
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn reloaded(&self, generation: u64, ok: bool) {
        self.generation.store(generation, Ordering::Relaxed);
        if ok {
            self.reload_ok.fetch_add(1, Ordering::Relaxed);
            self.last_reload_success.store(1, Ordering::Relaxed);
        } else {
            self.reload_error.fetch_add(1, Ordering::Relaxed);
            self.last_reload_success.store(0, Ordering::Relaxed);
        }
    }

    pub fn jwks_fetched(&self, authenticator: &str, result: &'static str) {
        *lock(&self.jwks_fetches).entry((authenticator.to_owned(), result)).or_default() += 1;
    }

    pub fn jwks_set(&self, authenticator: &str, keys: usize, at: i64) {
        lock(&self.jwks_sets).insert(authenticator.to_owned(), (keys, at));
    }

    pub fn bad_request(&self, endpoint: &'static str) {
        *lock(&self.bad_requests).entry(endpoint).or_default() += 1;
    }

    /// The Prometheus text exposition; `now` for the key sets' ages.
    pub fn render(&self, now: i64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP admit_decisions_total Decisions by reason, authenticator and outcome.");
        let _ = writeln!(out, "# TYPE admit_decisions_total counter");
        for ((reason, authn, allow), n) in lock(&self.decisions).iter() {
            let _ = writeln!(
                out,
                "admit_decisions_total{{reason=\"{reason}\",authenticator=\"{}\",allow=\"{allow}\"}} {n}",
                escape(authn)
            );
        }
        let _ = writeln!(out, "# HELP admit_decision_seconds Time to decide, from request to answer.");
        let _ = writeln!(out, "# TYPE admit_decision_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(out, "admit_decision_seconds_bucket{{le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "admit_decision_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ =
            writeln!(out, "admit_decision_seconds_sum {}", self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "admit_decision_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP admit_policy_generation The generation of the engine in force (1 at start, +1 per reload)."
        );
        let _ = writeln!(out, "# TYPE admit_policy_generation gauge");
        let _ = writeln!(out, "admit_policy_generation {}", self.generation.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP admit_policy_reload_total Loads of the policy and its keys files, by result.");
        let _ = writeln!(out, "# TYPE admit_policy_reload_total counter");
        let _ = writeln!(out, "admit_policy_reload_total{{result=\"ok\"}} {}", self.reload_ok.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "admit_policy_reload_total{{result=\"error\"}} {}",
            self.reload_error.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP admit_policy_last_reload_success 1 when the last load of the policy and keys files succeeded."
        );
        let _ = writeln!(out, "# TYPE admit_policy_last_reload_success gauge");
        let _ = writeln!(out, "admit_policy_last_reload_success {}", self.last_reload_success.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP admit_jwks_fetch_total Key set fetches by authenticator and result.");
        let _ = writeln!(out, "# TYPE admit_jwks_fetch_total counter");
        for ((authn, result), n) in lock(&self.jwks_fetches).iter() {
            let _ =
                writeln!(out, "admit_jwks_fetch_total{{authenticator=\"{}\",result=\"{result}\"}} {n}", escape(authn));
        }
        let sets = lock(&self.jwks_sets);
        let _ = writeln!(out, "# HELP admit_jwks_keys Keys in the key set in force, by authenticator.");
        let _ = writeln!(out, "# TYPE admit_jwks_keys gauge");
        for (authn, (keys, _)) in sets.iter() {
            let _ = writeln!(out, "admit_jwks_keys{{authenticator=\"{}\"}} {keys}", escape(authn));
        }
        let _ = writeln!(out, "# HELP admit_jwks_age_seconds Seconds since the key set in force was fetched.");
        let _ = writeln!(out, "# TYPE admit_jwks_age_seconds gauge");
        for (authn, (_, at)) in sets.iter() {
            let _ = writeln!(
                out,
                "admit_jwks_age_seconds{{authenticator=\"{}\"}} {}",
                escape(authn),
                now.saturating_sub(*at).max(0)
            );
        }
        drop(sets);
        let _ = writeln!(
            out,
            "# HELP admit_bad_requests_total Requests answered 400/413 before any decision, by endpoint."
        );
        let _ = writeln!(out, "# TYPE admit_bad_requests_total counter");
        for (endpoint, n) in lock(&self.bad_requests).iter() {
            let _ = writeln!(out, "admit_bad_requests_total{{endpoint=\"{endpoint}\"}} {n}");
        }
        out
    }
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
