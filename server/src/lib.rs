//! `admit serve`: the policy engine as a server in front of any service.
//!
//! Forward-auth endpoints for nginx (`/auth/nginx`), Traefik and Caddy (`/auth/forward`)
//! and Envoy (`/auth/envoy/...` over HTTP, `envoy.service.auth.v3.Authorization/Check`
//! over gRPC), a decision API (`POST /v1/decide`), `/healthz`, `/readyz` and `/metrics`.
//! The policy and its keys files are reloaded on change and on SIGHUP; key sets named by
//! `jwks_url` are fetched and refreshed in the background.
//!
//! The server holds no decision logic: it turns a gateway's request into an
//! [`admit::Request`], asks [`admit::Engine::decide`], and turns the [`admit::Decision`]
//! into the gateway's answer. `server/README.md` is the reference.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the server is a host: it does the I/O the core may not"
)]

pub mod config;
pub mod fetch;
mod gateway;
mod grpc;
mod http;
mod jwks;
mod log;
mod metrics;
pub mod proxy;
mod state;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{Config, Limits, LogTarget};
pub use state::HostResolver;
use tokio::sync::watch as tokio_watch;

/// A started server: its bound addresses, and the handles to reload and stop it.
pub struct Running {
    /// The HTTP address it listens on (the port chosen when `--listen` had port 0).
    pub http: SocketAddr,
    /// The gRPC address, when `--grpc` was given.
    pub grpc: Option<SocketAddr>,
    shared: Arc<state::Shared>,
    stop: tokio_watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("http", &self.http).field("grpc", &self.grpc).finish_non_exhaustive()
    }
}

impl Running {
    /// Reloads the policy and every keys file now, as SIGHUP does.
    pub async fn reload(&self) {
        state::reload_now(&self.shared, "signal").await;
    }

    /// Stops accepting connections, lets requests in flight finish (at most
    /// [`Limits::shutdown_grace`]) and returns when the listeners are closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // The HTTP loop bounds its own wait; gRPC's is bounded here.
        let bound = self.shared.config.limits.shutdown_grace + std::time::Duration::from_secs(1);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(bound, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Loads the policy, binds the listeners and starts serving on the current tokio
/// runtime. Fails, with a message for the operator, when the policy does not load, a
/// `--keys` or `--jwks` file is unreadable or refused, or an address cannot be bound.
pub async fn start(config: Config) -> Result<Running, String> {
    // A bad --ca-file is a startup error, not a key set that never arrives.
    let fetcher = Arc::new(fetch::Fetcher::new(config.ca_file.as_deref())?);
    let shared = Arc::new(state::Shared::load(config)?);
    let (stop, stopped) = tokio_watch::channel(false);
    let listener = tokio::net::TcpListener::bind(shared.config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", shared.config.listen))?;
    let http = listener.local_addr().map_err(|e| e.to_string())?;
    let grpc_listener = match shared.config.grpc {
        Some(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?)
        }
        None => None,
    };
    let grpc = match &grpc_listener {
        Some(l) => Some(l.local_addr().map_err(|e| e.to_string())?),
        None => None,
    };
    let mut tasks = vec![tokio::spawn(http::serve(listener, Arc::clone(&shared), stopped.clone()))];
    if let Some(l) = grpc_listener {
        tasks.push(tokio::spawn(grpc::serve(l, Arc::clone(&shared), stopped.clone())));
    }
    // Background work that ends with the server; not awaited on shutdown.
    tokio::spawn(watch::run(Arc::clone(&shared), stopped.clone()));
    tokio::spawn(jwks::run(Arc::clone(&shared), fetcher, stopped));
    Ok(Running { http, grpc, shared, stop, tasks })
}

/// Runs `admit serve` until SIGTERM or SIGINT: starts the server on a new runtime,
/// prints `admit serve: listening on http://ADDR` (and `grpc on ADDR`) to stderr once it
/// accepts connections, reloads on SIGHUP, and shuts down gracefully.
pub fn run(config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let running = start(config).await?;
        // The handlers first: a SIGHUP sent as soon as the line is read would otherwise
        // meet the default action and end the process.
        let signals = Signals::listen()?;
        let mut line = format!("admit serve: listening on http://{}", running.http);
        if let Some(g) = running.grpc {
            line.push_str(&format!(", grpc on {g}"));
        }
        log::stderr_line(&line);
        signals.wait(&running).await;
        log::event("shutdown", &[("reason", "signal".into())]);
        running.shutdown().await;
        Ok(())
    })
}

#[cfg(unix)]
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn listen() -> Result<Signals, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |e: std::io::Error| format!("cannot listen for signals: {e}");
        Ok(Signals {
            hup: signal(SignalKind::hangup()).map_err(fail)?,
            term: signal(SignalKind::terminate()).map_err(fail)?,
            int: signal(SignalKind::interrupt()).map_err(fail)?,
        })
    }

    /// Reloads on SIGHUP; returns on SIGTERM or SIGINT.
    async fn wait(mut self, running: &Running) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => running.reload().await,
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn listen() -> Result<Signals, String> {
        Ok(Signals)
    }

    async fn wait(self, _running: &Running) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
