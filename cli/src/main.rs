//! `admit`: decide about requests, check policies, make and hash keys, issue tokens.
//!
//! This is a host: unlike the core, it reads the environment, files and the clock.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command line prints")]
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the CLI is the host that does the I/O the core may not"
)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use admit::{Engine, Format, LoadError, OwnedRequest, Resolver, TokenRequest};
use base64::Engine as _;
use clap::{Parser, Subcommand};

/// An auth policy engine: one policy, one decision for every HTTP request.
#[derive(Parser)]
#[command(name = "admit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide about one request (JSON on stdin or --request); print the decision as JSON.
    /// Exit status: 0 allow, 1 deny, 2 error.
    Decide {
        /// The policy file (TOML, or JSON by its .json extension).
        #[arg(long)]
        policy: PathBuf,
        /// The request file; stdin when absent or `-`.
        #[arg(long)]
        request: Option<PathBuf>,
        /// Indent the JSON.
        #[arg(long)]
        pretty: bool,
    },
    /// Validate a policy: every error with its place; warnings too. Exit 0 when valid, 2 when not.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Print a new random API key and its SHA-256 (the value a policy stores).
    Keygen {
        /// Text put before the key, so secret scanners can spot it.
        #[arg(long, default_value = "admit_")]
        prefix: String,
        /// Random bytes in the key.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(16..=128))]
        bytes: u16,
    },
    /// Print the SHA-256 of a key. Use `-` to read the key from stdin (keeps it out of shell history).
    Hash {
        /// The key, or `-`.
        key: String,
    },
    /// Issue a token from a jwt authenticator that holds a signing key.
    Token {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// The id of the jwt authenticator.
        #[arg(long)]
        authenticator: String,
        /// The subject.
        #[arg(long)]
        sub: String,
        /// A role to carry (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A scope to carry (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in seconds (default: the authenticator's `lifetime`).
        #[arg(long)]
        lifetime: Option<i64>,
        /// Issue time in unix seconds (default: now).
        #[arg(long)]
        now: Option<i64>,
    },
}

/// Resolves references from this process's environment and files relative to the
/// policy's folder.
struct HostResolver {
    base: PathBuf,
}

impl Resolver for HostResolver {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        let p = Path::new(path);
        let full = if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) };
        std::fs::read_to_string(&full).map_err(|e| e.to_string())
    }
}

fn load(path: &Path) -> Result<Engine, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let format = Format::from_path(&path.to_string_lossy());
    Engine::from_text(&text, format, &HostResolver { base }).map_err(|e| report(path, &e))
}

fn report(path: &Path, e: &LoadError) -> String {
    e.errors.iter().map(|err| format!("{}: error: {err}", path.display())).collect::<Vec<_>>().join("\n")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn read_input(path: Option<&Path>) -> Result<String, String> {
    let mut text = String::new();
    match path {
        Some(p) if p != Path::new("-") => {
            text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        }
        _ => {
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
        }
    }
    Ok(text)
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Decide { policy, request, pretty } => {
            let engine = load(&policy)?;
            let text = read_input(request.as_deref())?;
            let req = OwnedRequest::from_json(&text).map_err(|e| format!("request: {e}"))?;
            let headers = req.header_bytes();
            let decision = engine.decide(&req.as_request(&headers));
            let out = if pretty {
                serde_json::to_string_pretty(&decision).map_err(|e| e.to_string())?
            } else {
                decision.to_json()
            };
            println!("{out}");
            Ok(if decision.allow { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Check { file } => {
            let engine = load(&file)?;
            for w in engine.warnings() {
                eprintln!("{}: warning: {w}", file.display());
            }
            let ids: Vec<String> = engine.authenticators().map(|(id, kind)| format!("{id} ({kind})")).collect();
            println!(
                "{}: ok; authenticators enabled: {}",
                file.display(),
                if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { prefix, bytes } => {
            let mut buf = vec![0u8; usize::from(bytes)];
            getrandom::getrandom(&mut buf).map_err(|e| format!("no randomness available: {e}"))?;
            let key = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf));
            println!("key:    {key}");
            println!("sha256: {}", admit::hash_key(&key));
            Ok(ExitCode::SUCCESS)
        }
        Command::Hash { key } => {
            let key = if key == "-" {
                let text = read_input(None)?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                key
            };
            println!("{}", admit::hash_key(&key));
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { policy, authenticator, sub, roles, scopes, lifetime, now: at } => {
            let engine = load(&policy)?;
            let request = TokenRequest {
                subject: &sub,
                roles: &roles,
                scopes: &scopes,
                lifetime,
                now: at.unwrap_or_else(now),
                extra: None,
            };
            let token = engine.issue_token(&authenticator, &request).map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            for line in message.lines() {
                eprintln!("admit: {line}");
            }
            ExitCode::from(2)
        }
    }
}
