//! `admit`: decide about requests, check policies, make, hash and revoke keys, issue
//! tokens.
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

use admit::{Engine, Format, LoadError, OwnedRequest, TokenRequest};
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};

mod keys_file;
mod policy_tests;
mod schema;
mod serve;

use admit_server::fetch;

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
        /// Print the decision with the trace of how it was reached (`{"decision": ...,
        /// "trace": ...}`; see docs/policy.md, "Explaining a decision"). The exit status
        /// is the decision's, as without it.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        sets: KeySets,
        /// The verdicts of `delegated` authenticators' checks, for trying a policy
        /// offline: a JSON file `{"AUTHENTICATOR": {"CREDENTIAL": {"id": ..., "roles":
        /// [...]} or {"refuse": "expired"}}}`. A credential it lacks is refused.
        #[arg(long, value_name = "FILE")]
        checks: Option<PathBuf>,
    },
    /// Validate a policy: every error with its place; warnings too (a keys file any user
    /// can read, a key set that cannot be fetched). Exit 0 when valid, 2 when not.
    Check {
        /// The policy file.
        file: PathBuf,
        #[command(flatten)]
        sets: KeySets,
    },
    /// Print a new random API key and its SHA-256 (the value a policy stores); with
    /// --add, also add it to a keys file (created readable by its owner only).
    Keygen {
        /// Text put before the key, so secret scanners can spot it.
        #[arg(long, default_value = "admit_")]
        prefix: String,
        /// Random bytes in the key.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(16..=128))]
        bytes: u16,
        /// The keys file to add the new key's SHA-256 to (TOML, or JSON when it holds JSON).
        #[arg(long, value_name = "FILE", requires = "id")]
        add: Option<PathBuf>,
        /// With --add: the key's id, unique in the file.
        #[arg(long, requires = "add")]
        id: Option<String>,
        /// With --add: the principal the key stands for (default: its id).
        #[arg(long, requires = "add")]
        principal: Option<String>,
        /// With --add: a role (repeatable).
        #[arg(long = "role", requires = "add")]
        roles: Vec<String>,
        /// With --add: a scope beyond the roles' (repeatable).
        #[arg(long = "scope", requires = "add")]
        scopes: Vec<String>,
        /// With --add: when the key stops working (unix seconds or RFC 3339).
        #[arg(long, requires = "add")]
        expires: Option<String>,
        /// With --add: check the new file against this policy (role and scope names)
        /// before writing it.
        #[arg(long, requires = "add")]
        policy: Option<PathBuf>,
    },
    /// Revoke a key in a keys file: the key's entry gets `revoked = true` (kept, so logs
    /// keep naming it). Hosts watching the file refuse the key on their next decision.
    Revoke {
        /// The keys file.
        file: PathBuf,
        /// The id of the key to revoke.
        id: String,
        /// Check the new file against this policy before writing it.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Run a policy's test cases (docs/policy.md 13): one line per failure, coverage of
    /// rules, authenticators and roles, and `N passed, M failed`. Exit 1 on a failure or
    /// coverage under --min-coverage.
    Test {
        /// The policy file.
        policy: PathBuf,
        /// Test files (TOML, or JSON); default: the policy's name with `.test.toml`.
        tests: Vec<PathBuf>,
        /// Also write the results as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Fail when less than this percentage of rules, authenticators and roles is
        /// exercised.
        #[arg(long, value_name = "PERCENT")]
        min_coverage: Option<f64>,
    },
    /// Serve the policy over HTTP (and gRPC): forward auth for nginx, Caddy, Traefik and
    /// Envoy, a decision API, health, readiness and metrics (server/README.md). Reloads
    /// on change and on SIGHUP; stops gracefully on SIGTERM.
    Serve(serve::ServeArgs),
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
    /// Print the JSON Schema of a policy file (committed as docs/policy.schema.json), for
    /// editors and validators: `#:schema` in a TOML policy for taplo.
    Schema {
        /// The schema of a keys file instead (docs/keys-file.schema.json).
        #[arg(long)]
        keys_file: bool,
    },
}

/// Key sets for `decide` and `check`: given on the command line, or fetched.
#[derive(Args, Default)]
struct KeySets {
    /// A key set for a jwt authenticator, as fetched from its jwks_url (repeatable):
    /// `--jwks clerk=jwks.json`. That authenticator's URL is then not fetched.
    #[arg(long = "jwks", value_name = "ID=FILE")]
    jwks: Vec<String>,
    /// A keys file for an api_key or bearer_token authenticator, in place of the one the
    /// policy names (repeatable): `--keys fetchml-keys=keys.toml`.
    #[arg(long = "keys", value_name = "ID=FILE")]
    keys: Vec<String>,
    /// Fetch nothing: a jwks_url without --jwks is reported, and its authenticator
    /// accepts no token.
    #[arg(long)]
    offline: bool,
    /// Trust only the CA certificates of this PEM file when fetching (a private issuer).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

/// Splits `ID=FILE`.
fn id_and_file(arg: &str, flag: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((id, file)) if !id.is_empty() && !file.is_empty() => Ok((id.to_owned(), PathBuf::from(file))),
        _ => Err(format!("{flag} takes ID=FILE, as in `{flag} clerk=jwks.json`")),
    }
}

/// Loads a policy and gives it its key sets: `--keys` and `--jwks` first, then a fetch
/// of every `jwks_url` not given (unless offline). Returns the engine and notes for
/// stderr. A fetch that fails is an error: a decision without the issuer's keys would
/// not be the one the policy means.
fn load_with_sets(path: &Path, sets: &KeySets) -> Result<(Engine, Vec<String>), String> {
    let engine = load(path)?;
    let mut notes = Vec::new();
    for arg in &sets.keys {
        let (id, file) = id_and_file(arg, "--keys")?;
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        engine.set_keys(&id, &text).map_err(|e| format!("--keys {id}={}: {e}", file.display()))?;
    }
    let mut given = Vec::new();
    for arg in &sets.jwks {
        let (id, file) = id_and_file(arg, "--jwks")?;
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        engine.set_jwks(&id, &text).map_err(|e| format!("--jwks {id}={}: {e}", file.display()))?;
        given.push(id);
    }
    let wanted: Vec<(String, String)> = engine
        .jwks_urls()
        .into_iter()
        .filter(|(id, _)| !given.iter().any(|g| g == id))
        .map(|(id, url)| (id.to_owned(), url.to_owned()))
        .collect();
    if wanted.is_empty() {
        return Ok((engine, notes));
    }
    if sets.offline {
        for (id, url) in &wanted {
            notes.push(format!(
                "`{id}`: the key set at {} was not fetched (--offline): it accepts no token",
                fetch::shown_url(url)
            ));
        }
        return Ok((engine, notes));
    }
    let fetcher = fetch::Fetcher::new(sets.ca_file.as_deref())?;
    for (id, url) in &wanted {
        let text = fetcher.fetch(url).map_err(|e| format!("`{id}`: {e}"))?.text;
        let n =
            engine.set_jwks(id, &text).map_err(|e| format!("`{id}`: the key set at {}: {e}", fetch::shown_url(url)))?;
        notes.push(format!("`{id}`: fetched {n} key(s) from {}", fetch::shown_url(url)));
    }
    Ok((engine, notes))
}

fn load(path: &Path) -> Result<Engine, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = Format::from_path(&path.to_string_lossy());
    // The process's environment, files beside the policy: as `admit serve` resolves them.
    let resolver = admit_server::HostResolver::new(path, None);
    Engine::from_text(&text, format, &resolver).map_err(|e| report(path, &e))
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
        Command::Decide { policy, request, pretty, explain, sets, checks } => {
            let (engine, notes) = load_with_sets(&policy, &sets)?;
            for n in notes.iter().filter(|n| n.contains("not fetched")) {
                eprintln!("admit: warning: {n}");
            }
            let text = read_input(request.as_deref())?;
            let req = OwnedRequest::from_json(&text).map_err(|e| format!("request: {e}"))?;
            let headers = req.header_bytes();
            let checks = match &checks {
                Some(path) => read_checks(path)?,
                None => serde_json::Map::new(),
            };
            if explain {
                let explanation = explain_with_checks(&engine, &req.as_request(&headers), &checks);
                let out = if pretty { explanation.to_json_pretty() } else { explanation.to_json() };
                println!("{out}");
                return Ok(if explanation.decision.allow { ExitCode::SUCCESS } else { ExitCode::from(1) });
            }
            let decision = decide_with_checks(&engine, &req.as_request(&headers), &checks);
            let out = if pretty {
                serde_json::to_string_pretty(&decision).map_err(|e| e.to_string())?
            } else {
                decision.to_json()
            };
            println!("{out}");
            Ok(if decision.allow { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Check { file, sets } => {
            let (engine, notes) = load_with_sets(&file, &sets)?;
            for w in engine.warnings() {
                eprintln!("{}: warning: {w}", file.display());
            }
            for n in &notes {
                eprintln!("{}: note: {n}", file.display());
            }
            let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
            for (id, keys) in engine.keys_files() {
                if let Some(w) = exposed_keys_file(&base.join(keys)) {
                    eprintln!("{}: warning: `{id}`: keys file {keys} {w}", file.display());
                }
            }
            let ids: Vec<String> = engine.authenticators().map(|(id, kind)| format!("{id} ({kind})")).collect();
            println!(
                "{}: ok; authenticators enabled: {}",
                file.display(),
                if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { prefix, bytes, add, id, principal, roles, scopes, expires, policy } => {
            let mut buf = vec![0u8; usize::from(bytes)];
            getrandom::getrandom(&mut buf).map_err(|e| format!("no randomness available: {e}"))?;
            let key = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf));
            let sha256 = admit::hash_key(&key);
            if let (Some(file), Some(id)) = (add, id) {
                let new = keys_file::NewKey {
                    id: &id,
                    sha256: &sha256,
                    principal: principal.as_deref(),
                    roles: &roles,
                    scopes: &scopes,
                    expires: expires.as_deref(),
                };
                let text = keys_file::with_key_added(&file, &new)?;
                if let Some(policy) = policy {
                    check_keys_file(&policy, &file, &text)?;
                }
                keys_file::write_atomically(&file, &text)?;
                eprintln!("admit: added key `{id}` to {}; the key is shown once, below", file.display());
            }
            println!("key:    {key}");
            println!("sha256: {sha256}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { file, id, policy } => {
            let (text, was) = keys_file::with_key_revoked(&file, &id)?;
            if let Some(policy) = policy {
                check_keys_file(&policy, &file, &text)?;
            }
            keys_file::write_atomically(&file, &text)?;
            let already = if was { " (it already was)" } else { "" };
            println!("revoked key `{id}` in {}{already}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { policy, tests, junit, min_coverage } => {
            let tests = if tests.is_empty() {
                let stem = policy.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                vec![policy.with_file_name(format!("{stem}.test.toml"))]
            } else {
                tests
            };
            let report = policy_tests::run(&policy, &tests, now())?;
            for f in &report.failures {
                for problem in &f.problems {
                    println!("{}: {}: {problem}", f.place, f.name);
                }
            }
            for line in report.coverage.lines() {
                println!("coverage: {line}");
            }
            let percent = report.coverage.percent();
            println!("{} passed, {} failed; coverage {percent:.0}%", report.passed, report.failures.len());
            if let Some(path) = junit {
                std::fs::write(&path, &report.junit).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            let short = min_coverage.is_some_and(|min| percent + 1e-9 < min);
            if short {
                println!("coverage {percent:.0}% is under --min-coverage {}", min_coverage.unwrap_or_default());
            }
            Ok(if report.failures.is_empty() && !short { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Serve(args) => {
            admit_server::run(args.into_config()?)?;
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
        Command::Schema { keys_file } => {
            print!("{}", if keys_file { schema::keys_file_schema_text() } else { schema::policy_schema_text() });
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

/// Reads a `--checks` file: verdicts by authenticator and credential.
fn read_checks(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => {
            Err(format!("{}: --checks takes a JSON object of verdicts by authenticator and credential", path.display()))
        }
    }
}

/// Decides as a host with checks does: each credential a `delegated` authenticator
/// finds is looked up in `checks` (the host's check, as a table); one missing from it,
/// or a verdict that does not read, is refused.
pub(crate) fn decide_with_checks(
    engine: &Engine,
    req: &admit::Request<'_>,
    checks: &serde_json::Map<String, serde_json::Value>,
) -> admit::Decision {
    let mut verdicts = admit::Verdicts::new();
    // Each round records one new verdict; a decision needs at most one per authenticator.
    for _ in 0..=engine.authenticators().count() {
        match engine.decide_step(req, &verdicts) {
            admit::Step::Decided(d) => return d,
            admit::Step::Check(check) => {
                let verdict = table_verdict(checks, &check);
                verdicts.record_credential(check, verdict);
            }
            // The CLI's backend checks every signature itself.
            admit::Step::Verify(_) => break,
        }
    }
    engine.decide(req)
}

/// [`decide_with_checks`] for `--explain`: the same rounds, through `explain_step`.
fn explain_with_checks(
    engine: &Engine,
    req: &admit::Request<'_>,
    checks: &serde_json::Map<String, serde_json::Value>,
) -> admit::Explanation {
    let mut verdicts = admit::Verdicts::new();
    for _ in 0..=engine.authenticators().count() {
        match engine.explain_step(req, &verdicts) {
            admit::ExplainStep::Explained(e) => return *e,
            admit::ExplainStep::Check(check) => {
                let verdict = table_verdict(checks, &check);
                verdicts.record_credential(check, verdict);
            }
            admit::ExplainStep::Verify(_) => break,
        }
    }
    engine.explain(req)
}

/// The verdict the `--checks` table holds for a credential; a refusal when it has
/// none, or one that does not read.
fn table_verdict(
    checks: &serde_json::Map<String, serde_json::Value>,
    check: &admit::CredentialCheck,
) -> admit::CredentialVerdict {
    let written = checks.get(&*check.authenticator).and_then(|t| t.get(&check.credential));
    written
        .and_then(|v| admit::CredentialVerdict::from_json(&v.to_string()).ok())
        .unwrap_or(admit::CredentialVerdict::Refused(admit::Reason::InvalidCredentials))
}

/// Why a keys file is exposed: readable or writable by every user of the machine.
#[cfg(unix)]
fn exposed_keys_file(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o002 != 0 {
        Some("can be written by every user of this machine: anyone can add a key (chmod 600)")
    } else if mode & 0o004 != 0 {
        Some("can be read by every user of this machine, and its digests are secrets (chmod 600)")
    } else {
        None
    }
}

#[cfg(not(unix))]
fn exposed_keys_file(_path: &Path) -> Option<&'static str> {
    None
}

/// Checks an edited keys file against a policy before it is written: the policy's
/// authenticator that reads `file` must take the new text.
fn check_keys_file(policy: &Path, file: &Path, text: &str) -> Result<(), String> {
    let engine = load(policy)?;
    let base = policy.parent().map(Path::to_path_buf).unwrap_or_default();
    let same = |p: &Path| match (std::fs::canonicalize(p), std::fs::canonicalize(file)) {
        (Ok(a), Ok(b)) => a == b,
        _ => p == file,
    };
    let id = engine
        .keys_files()
        .into_iter()
        .find(|(_, path)| same(&base.join(path)))
        .map(|(id, _)| id.to_owned())
        .ok_or_else(|| format!("{}: no authenticator of {} reads this keys file", file.display(), policy.display()))?;
    engine.set_keys(&id, text).map(|_| ()).map_err(|e| format!("{}: not written: {e}", file.display()))
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
