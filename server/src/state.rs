//! The engine in force and how it is replaced: load, reload, key sets carried over.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use admit::{Engine, Format, Resolver};
use arc_swap::ArcSwap;

use crate::config::Config;
use crate::log::{self, DecisionLog};
use crate::metrics::Metrics;
use crate::proxy::TrustedProxies;

/// An engine and its generation (1 for the first load, +1 per successful reload).
pub(crate) struct Loaded {
    pub engine: Engine,
    pub generation: u64,
}

/// What every request handler and background task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub current: ArcSwap<Loaded>,
    pub proxies: TrustedProxies,
    pub metrics: Metrics,
    pub log: Option<DecisionLog>,
    /// Fetched key sets by authenticator, carried over to every new engine.
    pub jwks: Mutex<HashMap<String, crate::jwks::SetState>>,
    /// Wakes the fetcher: a reload changed the URLs, or a decision said `unknown_key`.
    pub jwks_wake: tokio::sync::Notify,
    pub reload_status: Mutex<ReloadStatus>,
    /// Serialises reloads (watcher and SIGHUP).
    reloading: tokio::sync::Mutex<()>,
}

/// The outcome of the last reload.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReloadStatus {
    /// The error of the last reload, when it failed (the old engine stayed).
    pub last_error: Option<String>,
    /// By authenticator: why its changed keys file (or `--jwks` file) was refused, until
    /// a good one or a full reload replaces it.
    pub key_file_errors: BTreeMap<String, String>,
    /// Unix seconds of the last successful load.
    pub last_success: i64,
}

impl ReloadStatus {
    /// The error to report: the policy's, else the keys files'.
    pub fn error(&self) -> Option<String> {
        self.last_error.clone().or_else(|| {
            (!self.key_file_errors.is_empty())
                .then(|| self.key_file_errors.values().cloned().collect::<Vec<_>>().join("; "))
        })
    }
}

/// Locks a mutex; a panicked holder cannot have left these plain maps half-written in a
/// way that matters more than stopping the server would.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Resolves a policy's references from an environment (the process's, or a fixed one)
/// and files relative to the policy's folder.
#[derive(Debug, Clone)]
pub struct HostResolver {
    base: PathBuf,
    env: Option<BTreeMap<String, String>>,
}

impl HostResolver {
    /// A resolver for the policy at `policy`; `env` replaces the process environment.
    pub fn new(policy: &Path, env: Option<BTreeMap<String, String>>) -> Self {
        HostResolver { base: policy.parent().map(Path::to_path_buf).unwrap_or_default(), env }
    }

    /// Where a path the policy names is on disk.
    pub fn path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }
}

impl Resolver for HostResolver {
    fn env(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.path(path)).map_err(|e| e.to_string())
    }
}

/// Unix seconds now (or the configured fixed time).
pub(crate) fn now(config: &Config) -> i64 {
    config.fixed_now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Builds an engine from the files as they are now: the policy, then the `--keys` and
/// `--jwks` files. Key sets fetched earlier are not applied here.
pub(crate) fn build(config: &Config) -> Result<Engine, String> {
    let text = read(&config.policy)?;
    let resolver = HostResolver::new(&config.policy, config.env.clone());
    let format = Format::from_path(&config.policy.to_string_lossy());
    let shown = config.policy.display();
    let engine = Engine::from_text(&text, format, &resolver)
        .map_err(|e| e.errors.iter().map(|err| format!("{shown}: {err}")).collect::<Vec<_>>().join("; "))?;
    for (id, file) in &config.keys {
        let text = read(file)?;
        engine.set_keys(id, &text).map_err(|e| format!("--keys {id}={}: {e}", file.display()))?;
    }
    for (id, file) in &config.jwks {
        let text = read(file)?;
        engine.set_jwks(id, &text).map_err(|e| format!("--jwks {id}={}: {e}", file.display()))?;
    }
    Ok(engine)
}

/// What a watched file is to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watched {
    /// The policy: a change rebuilds the engine.
    Policy,
    /// An authenticator's keys file: a change replaces its keys (`Engine::set_keys`).
    Keys(String),
    /// A `--jwks` key set: a change replaces it (`Engine::set_jwks`).
    Jwks(String),
}

/// The files whose change is applied: the policy, its keys files, the `--keys` and
/// `--jwks` files.
pub(crate) fn watched_files(config: &Config, engine: &Engine) -> Vec<(PathBuf, Watched)> {
    let resolver = HostResolver::new(&config.policy, None);
    let mut files = vec![(config.policy.clone(), Watched::Policy)];
    let overridden: Vec<&str> = config.keys.iter().map(|(id, _)| id.as_str()).collect();
    for (id, path) in engine.keys_files() {
        if !overridden.contains(&id) {
            files.push((resolver.path(path), Watched::Keys(id.to_owned())));
        }
    }
    files.extend(config.keys.iter().map(|(id, f)| (f.clone(), Watched::Keys(id.clone()))));
    files.extend(config.jwks.iter().map(|(id, f)| (f.clone(), Watched::Jwks(id.clone()))));
    files
}

/// Applies a changed keys file or `--jwks` file to the engine in force, without a
/// rebuild: the keys are replaced whole, or, when the file is refused, kept (and the
/// error reported). Returns true on success.
pub(crate) fn apply_key_file(shared: &Shared, path: &Path, what: &Watched) -> bool {
    let (id, kind) = match what {
        Watched::Keys(id) => (id, "keys_file"),
        Watched::Jwks(id) => (id, "jwks_file"),
        Watched::Policy => return false,
    };
    let current = shared.current.load();
    let applied = read(path).and_then(|text| {
        let set = match what {
            Watched::Jwks(_) => current.engine.set_jwks(id, &text),
            _ => current.engine.set_keys(id, &text),
        };
        set.map_err(|e| format!("{}: {e}", path.display()))
    });
    match applied {
        Ok(n) => {
            shared.metrics.key_file_loaded(id, Some(n));
            lock(&shared.reload_status).key_file_errors.remove(id);
            log::event(kind, &[("authenticator", id.as_str().into()), ("result", "ok".into()), ("keys", n.into())]);
            true
        }
        Err(error) => {
            shared.metrics.key_file_loaded(id, None);
            lock(&shared.reload_status).key_file_errors.insert(id.clone(), error.clone());
            log::event(
                kind,
                &[("authenticator", id.as_str().into()), ("result", "error".into()), ("error", error.into())],
            );
            false
        }
    }
}

impl Shared {
    /// The first load: any problem is a startup error.
    pub fn load(config: Config) -> Result<Shared, String> {
        let engine = build(&config)?;
        let log = match &config.decision_log {
            Some(target) => Some(DecisionLog::open(target)?),
            None => None,
        };
        let metrics = Metrics::default();
        metrics.reloaded(1, true);
        let status = ReloadStatus { last_success: now(&config), ..ReloadStatus::default() };
        report_warnings(&engine);
        Ok(Shared {
            proxies: TrustedProxies::new(config.trusted_proxies.clone()),
            current: ArcSwap::from_pointee(Loaded { engine, generation: 1 }),
            config,
            metrics,
            log,
            jwks: Mutex::new(HashMap::new()),
            jwks_wake: tokio::sync::Notify::new(),
            reload_status: Mutex::new(status),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// True when every `jwks_url` of the engine in force has a key set (fetched, or
    /// given with `--jwks`); the reason when not.
    pub fn ready(&self) -> Result<(), String> {
        let current = self.current.load();
        let given: Vec<&str> = self.config.jwks.iter().map(|(id, _)| id.as_str()).collect();
        let sets = lock(&self.jwks);
        let missing: Vec<String> = current
            .engine
            .jwks_urls()
            .into_iter()
            .filter(|(id, url)| {
                !given.contains(id) && !sets.get(*id).is_some_and(|s| s.url == *url && s.text.is_some())
            })
            .map(|(id, _)| format!("`{id}`"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("the key set of {} has not been fetched yet", missing.join(", ")))
        }
    }
}

/// The policy's warnings, at load and at each reload, and one of the server's own: relaxed
/// `[paths]` rules make the engine decide on a normalised path while the gateway passes
/// the service the raw target, which its router may read as another path.
fn report_warnings(engine: &Engine) {
    for w in engine.warnings() {
        log::event("policy_warning", &[("warning", w.to_string().into())]);
    }
    for (id, kind) in engine.authenticators() {
        if kind == "delegated" {
            let warning = format!(
                "authenticator `{id}` is delegated, and admit serve has no check to delegate to: every credential \
                 it finds is refused (invalid_credentials)"
            );
            log::event("policy_warning", &[("warning", warning.into())]);
        }
    }
    if engine.path_rules() != admit::policy::PathsSpec::default() {
        log::event(
            "policy_warning",
            &[(
                "warning",
                "[paths] relaxes the default rules: admit decides on the normalised path, while the gateway sends \
                 the service the raw target, which its router may read as another path (docs/deploy.md, \
                 \"The path admit decides on\")"
                    .into(),
            )],
        );
    }
}

/// Reloads now: builds a new engine from the files, gives it the key sets fetched so
/// far, and swaps it in. A failure keeps the engine in force and is reported (stderr,
/// `/readyz`, metrics). Returns true on success.
pub(crate) async fn reload_now(shared: &Arc<Shared>, trigger: &str) -> bool {
    let _one_at_a_time = shared.reloading.lock().await;
    let config = shared.config.clone();
    let built = tokio::task::spawn_blocking(move || build(&config))
        .await
        .unwrap_or_else(|e| Err(format!("the reload task failed: {e}")));
    let old = shared.current.load().generation;
    match built {
        Ok(engine) => {
            // Under the key-set lock, so a fetch that lands meanwhile reaches the new engine.
            let sets = lock(&shared.jwks);
            let urls: Vec<(String, String)> =
                engine.jwks_urls().into_iter().map(|(i, u)| (i.to_owned(), u.to_owned())).collect();
            for (id, url) in &urls {
                if let Some(text) = sets.get(id).filter(|s| &s.url == url).and_then(|s| s.text.as_deref()) {
                    // The set was taken by an engine of the same authenticator and URL; the
                    // new policy may have changed its algorithms, and then it waits for a fetch.
                    let _ = engine.set_jwks(id, text);
                }
            }
            report_warnings(&engine);
            let generation = old + 1;
            shared.current.store(Arc::new(Loaded { engine, generation }));
            drop(sets);
            shared.metrics.reloaded(generation, true);
            {
                let mut status = lock(&shared.reload_status);
                status.last_error = None;
                status.key_file_errors.clear();
                status.last_success = now(&shared.config);
            }
            log::event(
                "reload",
                &[("result", "ok".into()), ("trigger", trigger.into()), ("generation", generation.into())],
            );
            shared.jwks_wake.notify_one();
            true
        }
        Err(error) => {
            shared.metrics.reloaded(old, false);
            lock(&shared.reload_status).last_error = Some(error.clone());
            log::event(
                "reload",
                &[
                    ("result", "error".into()),
                    ("trigger", trigger.into()),
                    ("error", error.into()),
                    ("kept_generation", old.into()),
                ],
            );
            false
        }
    }
}
