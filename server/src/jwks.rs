//! Fetching and refreshing the key sets a policy names with `jwks_url`, by the rules of
//! [`admit::fetch`]: refresh before the set's max-age runs out, back off after failures,
//! keep the last good set, and refetch on `unknown_key` at most once per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use admit::fetch::{UNKNOWN_KEY_INTERVAL_SECS, refresh_after, retry_after};
use tokio::sync::watch;

use crate::fetch::{Fetcher, shown_url};
use crate::log;
use crate::state::{self, Shared, lock};

/// One authenticator's key set.
#[derive(Debug)]
pub(crate) struct SetState {
    /// The URL it was fetched from (a reload may change it).
    pub url: String,
    /// The last good set, carried over to every new engine.
    pub text: Option<String>,
    /// When the next fetch is due.
    next: Instant,
    /// Failed fetches in a row.
    failures: u32,
    /// The last fetch caused by an `unknown_key` decision.
    last_unknown_key_fetch: Option<Instant>,
}

/// A decision said `unknown_key`: wake the fetcher, which refetches the sets whose
/// interval allows.
pub(crate) fn unknown_key(shared: &Shared) {
    let now = Instant::now();
    let interval = Duration::from_secs(UNKNOWN_KEY_INTERVAL_SECS);
    let mut woke = false;
    for set in lock(&shared.jwks).values_mut() {
        let allowed = set.last_unknown_key_fetch.is_none_or(|at| now.duration_since(at) >= interval);
        if allowed && set.next > now {
            set.last_unknown_key_fetch = Some(now);
            set.next = now;
            woke = true;
        }
    }
    if woke {
        shared.jwks_wake.notify_one();
    }
}

/// The fetch loop: wakes when a fetch is due, a reload happened or a decision said
/// `unknown_key`.
pub(crate) async fn run(shared: Arc<Shared>, fetcher: Arc<Fetcher>, mut stopped: watch::Receiver<bool>) {
    loop {
        let due = due_sets(&shared);
        let fetched = !due.fetch.is_empty();
        for (id, url) in due.fetch {
            let f = Arc::clone(&fetcher);
            let u = url.clone();
            let result = tokio::task::spawn_blocking(move || f.fetch(&u))
                .await
                .unwrap_or_else(|e| Err(format!("the fetch task failed: {e}")));
            record(&shared, &id, &url, result);
        }
        if fetched {
            // The fetches set new due times: look again before sleeping.
            continue;
        }
        let wait = due.next_in.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(10));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.jwks_wake.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

struct Due {
    fetch: Vec<(String, String)>,
    next_in: Option<Duration>,
}

/// The sets to fetch now, and the time until the next one is due. Tracks the URLs of
/// the engine in force: a new authenticator or URL is due at once.
fn due_sets(shared: &Shared) -> Due {
    let current = shared.current.load();
    let given: Vec<&str> = shared.config.jwks.iter().map(|(id, _)| id.as_str()).collect();
    let now = Instant::now();
    let mut sets = lock(&shared.jwks);
    let mut due = Due { fetch: Vec::new(), next_in: None };
    for (id, url) in current.engine.jwks_urls() {
        if given.contains(&id) {
            continue;
        }
        let set = sets.entry(id.to_owned()).or_insert_with(|| SetState {
            url: url.to_owned(),
            text: None,
            next: now,
            failures: 0,
            last_unknown_key_fetch: None,
        });
        if set.url != url {
            *set = SetState { url: url.to_owned(), text: None, next: now, failures: 0, last_unknown_key_fetch: None };
        }
        if set.next <= now {
            due.fetch.push((id.to_owned(), url.to_owned()));
        } else {
            let wait = set.next.duration_since(now);
            due.next_in = Some(due.next_in.map_or(wait, |w| w.min(wait)));
        }
    }
    due
}

fn record(shared: &Shared, id: &str, url: &str, result: Result<crate::fetch::Fetched, String>) {
    let shown = shown_url(url);
    let now = Instant::now();
    let mut sets = lock(&shared.jwks);
    let Some(set) = sets.get_mut(id).filter(|s| s.url == url) else { return };
    let outcome = result.and_then(|fetched| {
        // Under the lock, so a reload that swaps engines meanwhile carries this set over.
        let current = shared.current.load();
        let n = current.engine.set_jwks(id, &fetched.text).map_err(|e| format!("the key set at {shown}: {e}"))?;
        Ok((n, fetched))
    });
    match outcome {
        Ok((n, fetched)) => {
            set.text = Some(fetched.text);
            set.failures = 0;
            set.next = now + Duration::from_secs(refresh_after(fetched.cache_control.as_deref()));
            // Counted before the set shows as ready (`/readyz` reads it under this lock).
            shared.metrics.jwks_fetched(id, "ok");
            shared.metrics.jwks_set(id, n, state::now(&shared.config));
            drop(sets);
            log::event(
                "jwks_fetch",
                &[("authenticator", id.into()), ("result", "ok".into()), ("url", shown.into()), ("keys", n.into())],
            );
        }
        Err(error) => {
            set.failures = set.failures.saturating_add(1);
            set.next = now + Duration::from_secs(retry_after(set.failures));
            let failures = set.failures;
            drop(sets);
            shared.metrics.jwks_fetched(id, "error");
            log::event(
                "jwks_fetch",
                &[
                    ("authenticator", id.into()),
                    ("result", "error".into()),
                    ("error", error.into()),
                    ("failures", failures.into()),
                ],
            );
        }
    }
}
