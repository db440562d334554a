//! Reload on change: the policy, its keys files and the `--keys`/`--jwks` files are
//! checked every `poll_interval` (modification time, size and inode). Polling one stat
//! per file per second costs nothing, sees a file replaced by rename (how editors,
//! `admit keygen --add` and Kubernetes' ConfigMap volumes update files) and needs no
//! platform notification API.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::state::{self, Shared};

/// What identifies a version of a file; `None` when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Option<(std::time::SystemTime, u64, u64)>);

fn fingerprint(path: &PathBuf) -> Fingerprint {
    let Ok(meta) = std::fs::metadata(path) else { return Fingerprint(None) };
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Fingerprint(meta.modified().ok().map(|m| (m, meta.len(), inode)))
}

fn snapshot(shared: &Shared) -> Vec<(PathBuf, Fingerprint)> {
    let current = shared.current.load();
    state::watched_files(&shared.config, &current.engine)
        .into_iter()
        .map(|p| {
            let f = fingerprint(&p);
            (p, f)
        })
        .collect()
}

/// Polls the watched files and reloads when one changed. A failed reload is reported
/// once per change: the same broken files are not reloaded again every second.
pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut seen = snapshot(&shared);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = stopped.changed() => return,
        }
        let now: Vec<(PathBuf, Fingerprint)> = seen.iter().map(|(p, _)| (p.clone(), fingerprint(p))).collect();
        if now == seen {
            continue;
        }
        let changed: Vec<String> =
            now.iter().zip(&seen).filter(|(a, b)| a != b).map(|((p, _), _)| p.display().to_string()).collect();
        let ok = state::reload_now(&shared, &format!("change of {}", changed.join(", "))).await;
        // After a success the new engine may watch other keys files.
        seen = if ok { snapshot(&shared) } else { now };
    }
}
