//! `admit serve`: the flags, turned into the server's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use admit_server::config::{DEFAULT_IDENTITY_PREFIX, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS};
use admit_server::proxy::Cidr;
use admit_server::{Config, LogTarget};
use clap::Args;

use crate::id_and_file;

/// The flags of `admit serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The policy file (TOML, or JSON by its .json extension); reloaded when it changes.
    #[arg(long)]
    policy: PathBuf,
    /// The HTTP address; port 0 picks a free port (printed to stderr).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Also serve Envoy ext_authz over gRPC on this address.
    #[arg(long)]
    grpc: Option<SocketAddr>,
    /// A proxy whose forwarded headers (X-Forwarded-*, X-Original-*, Forwarded) are
    /// believed, as a CIDR block (repeatable): `--trusted-proxy 10.0.0.0/8`.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<String>,
    /// A keys file for an api_key or bearer_token authenticator, in place of the policy's
    /// (repeatable): `--keys fetchml-keys=keys.toml`. Reloaded when it changes.
    #[arg(long = "keys", value_name = "ID=FILE")]
    keys: Vec<String>,
    /// A key set for a jwt authenticator, in place of fetching its jwks_url
    /// (repeatable): `--jwks clerk=jwks.json`. Reloaded when it changes.
    #[arg(long = "jwks", value_name = "ID=FILE")]
    jwks: Vec<String>,
    /// Trust only the CA certificates of this PEM file when fetching key sets.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Log every decision as a JSON line to this file (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    decision_log: Option<String>,
    /// The prefix of the identity headers sent to the gateway on allow.
    #[arg(long, default_value = DEFAULT_IDENTITY_PREFIX)]
    identity_prefix: String,
    /// Connections served at once; more wait in the listen queue.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
}

impl ServeArgs {
    /// The server configuration, or what is wrong with the flags.
    pub fn into_config(self) -> Result<Config, String> {
        let mut config = Config::new(self.policy);
        config.listen = self.listen;
        config.grpc = self.grpc;
        config.trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|c| c.parse::<Cidr>().map_err(|e| format!("--trusted-proxy: {e}")))
            .collect::<Result<_, _>>()?;
        config.keys = self.keys.iter().map(|a| id_and_file(a, "--keys")).collect::<Result<_, _>>()?;
        config.jwks = self.jwks.iter().map(|a| id_and_file(a, "--jwks")).collect::<Result<_, _>>()?;
        config.ca_file = self.ca_file;
        config.decision_log =
            self.decision_log.map(|p| if p == "-" { LogTarget::Stdout } else { LogTarget::File(p.into()) });
        let prefix = self.identity_prefix;
        let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if prefix.is_empty() || !prefix.bytes().all(token_char) {
            return Err(format!(
                "--identity-prefix `{prefix}` is not the start of a header name (letters, digits, `-`)"
            ));
        }
        config.identity_prefix = prefix;
        config.max_connections = usize::try_from(self.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS);
        Ok(config)
    }
}
