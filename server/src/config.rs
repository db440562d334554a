//! What `admit serve` is started with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::proxy::Cidr;

/// The server's configuration: the flags of `admit serve`, and two things only a
/// program embedding the server (a test) sets: a fixed environment and a fixed clock.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy file (TOML, or JSON by its `.json` extension).
    pub policy: PathBuf,
    /// The HTTP address (`127.0.0.1:9000`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The gRPC (Envoy `ext_authz`) address, if any.
    pub grpc: Option<SocketAddr>,
    /// Peers whose forwarded headers (`X-Forwarded-*`, `X-Original-*`, `Forwarded`) are
    /// believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Keys files given on the command line, in place of the policy's, by authenticator.
    pub keys: Vec<(String, PathBuf)>,
    /// Key sets given as files, in place of fetching the authenticator's `jwks_url`.
    pub jwks: Vec<(String, PathBuf)>,
    /// Trust only these CA certificates (PEM) when fetching key sets.
    pub ca_file: Option<PathBuf>,
    /// Where decisions are logged, one JSON line each.
    pub decision_log: Option<LogTarget>,
    /// The prefix of the identity headers (`X-Admit-`).
    pub identity_prefix: String,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Timeouts and sizes.
    pub limits: Limits,
    /// The environment the policy's `{ env = ... }` references read; `None` for the
    /// process's own.
    pub env: Option<BTreeMap<String, String>>,
    /// Decide as at this unix time instead of the clock (tests of fixed vectors).
    pub fixed_now: Option<i64>,
    /// How often watched files are checked for changes.
    pub poll_interval: Duration,
}

/// Where the decision log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (`--decision-log -`).
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request head (request line and headers), in bytes: more is answered 431.
    pub header_bytes: usize,
    /// How long a client may take to send a request's head (slowloris).
    pub header_timeout: Duration,
    /// How long a kept-alive connection may sit idle.
    pub idle_timeout: Duration,
    /// The largest `/v1/decide` body, in bytes: more is answered 413.
    pub body_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_bytes: 1 << 20,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The default `--listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
/// The default `--identity-prefix`.
pub const DEFAULT_IDENTITY_PREFIX: &str = "X-Admit-";
/// The default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Config {
    /// A configuration with the defaults of `admit serve` for `policy`.
    pub fn new(policy: PathBuf) -> Self {
        Config {
            policy,
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            grpc: None,
            trusted_proxies: Vec::new(),
            keys: Vec::new(),
            jwks: Vec::new(),
            ca_file: None,
            decision_log: None,
            identity_prefix: DEFAULT_IDENTITY_PREFIX.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            limits: Limits::default(),
            env: None,
            fixed_now: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}
