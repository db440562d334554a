//! The `admit` subcommands as a user runs them: exit codes, output, error places.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code stops loudly"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn admit(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_admit"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that does not read its input (a missing policy, `--request FILE`) may
    // exit before the write: a broken pipe then is the command's business, not a failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_reports_every_error_with_its_place_and_exits_2() {
    let dir = tempdir("check");
    let policy = dir.join("bad.toml");
    std::fs::write(
        &policy,
        "scopes = [\"a\"]\n\n[[routes]]\npath = \"/x\"\nrequire = [\"b\"]\n\n[[routes]]\npath = \"nope\"\n",
    )
    .unwrap();
    let out = admit(&["check", policy.to_str().unwrap()], &[], "");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("line 5, column 12: routes[0].require[0]: scope `b` is not declared"), "{err}");
    assert!(err.contains("line 8, column 8: routes[1].path: pattern `nope` must start with `/`"), "{err}");
}

#[test]
fn check_accepts_the_examples_and_prints_warnings() {
    let out = admit(&["check", "examples/policies/fetchml.toml"], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("fetchml-keys (api_key)"));
    let out = admit(
        &["check", "examples/policies/skillmeat.toml"],
        &[("SKILLMEAT_AUTH_ENABLED", "true"), ("CLERK_ISSUER", "https://x.clerk.accounts.dev")],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: line"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("CLERK_JWKS"), "{}", text(&out.stderr));
}

#[test]
fn keygen_prints_a_fresh_key_and_its_digest() {
    let a = text(&admit(&["keygen", "--prefix", "sk-"], &[], "").stdout);
    let b = text(&admit(&["keygen", "--prefix", "sk-"], &[], "").stdout);
    assert_ne!(a, b);
    let key = a.lines().next().unwrap().strip_prefix("key:    ").unwrap();
    let sha = a.lines().nth(1).unwrap().strip_prefix("sha256: ").unwrap();
    assert!(key.starts_with("sk-") && key.len() > 40, "{key}");
    let hashed = text(&admit(&["hash", key], &[], "").stdout);
    assert_eq!(hashed.trim(), sha);
}

#[test]
fn hash_reads_the_key_from_stdin_with_a_dash() {
    let out = admit(&["hash", "-"], &[], "demo-admin-key\n");
    assert_eq!(text(&out.stdout).trim(), "ac5bb3526d3be432ba19fb1fc0712d350c160bd2169cd24401c9fcaeaac2d860");
}

#[test]
fn a_token_from_admit_token_is_accepted_by_admit_decide() {
    let env = [("JWT_SECRET_KEY", "test-only-rag-modulo-secret-0123456789abcdef")];
    let out = admit(
        &[
            "token",
            "--policy",
            "examples/policies/rag-modulo.toml",
            "--authenticator",
            "rag-jwt",
            "--sub",
            "user@example.com",
            "--now",
            "1790000000",
        ],
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let request = format!(
        r#"{{"method":"POST","path":"/api/search","headers":{{"Authorization":"Bearer {token}"}},"now":1790000100}}"#
    );
    let out = admit(&["decide", "--policy", "examples/policies/rag-modulo.toml"], &env, &request);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["principal"]["id"], "user@example.com");
    // One hour later (JWT_EXPIRATION's default) it has expired.
    let request = request.replace("1790000100", "1790003600");
    let out = admit(&["decide", "--policy", "examples/policies/rag-modulo.toml"], &env, &request);
    assert_eq!(out.status.code(), Some(1));
    let out = admit(
        &["token", "--policy", "examples/policies/rag-modulo.toml", "--authenticator", "nope", "--sub", "u"],
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no authenticator has the id `nope`"));
}

#[test]
fn decide_reads_a_request_file_and_refuses_bad_requests() {
    let dir = tempdir("decide");
    let req = dir.join("req.json");
    std::fs::write(
        &req,
        r#"{"method":"GET","path":"/api/v1/status","headers":{"X-API-Key":"demo-analyst-key"},"now":1}"#,
    )
    .unwrap();
    let out =
        admit(&["decide", "--policy", "examples/policies/fetchml.toml", "--request", req.to_str().unwrap()], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for bad in ["", "{", r#"{"method":"GET","path":"/"}"#, r#"{"method":"GET","path":"/","now":1,"extra":1}"#, "[]"] {
        let out = admit(&["decide", "--policy", "examples/policies/fetchml.toml"], &[], bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out.stderr).starts_with("admit: request:"), "{bad}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    let out = admit(&["decide", "--policy", "no/such/policy.toml"], &[], "{}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn decide_explain_prints_the_decision_and_its_trace_with_decides_exit_status() {
    let policy = "examples/policies/fetchml.toml";
    let allow = r#"{"method":"GET","path":"/api/v1/jobs/bob/7?k=demo-researcher-key","headers":{"X-API-Key":"demo-researcher-key"},"now":1}"#;
    let deny =
        r#"{"method":"GET","path":"/api/v1/jobs/alice/7","headers":{"X-API-Key":"demo-researcher-key"},"now":1}"#;
    for (request, code) in [(allow, 0), (deny, 1)] {
        let plain = admit(&["decide", "--policy", policy], &[], request);
        for flags in [&["--explain"][..], &["--explain", "--pretty"]] {
            let args: Vec<&str> = ["decide", "--policy", policy].iter().chain(flags).copied().collect();
            let out = admit(&args, &[], request);
            assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let decision: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
            assert_eq!(got["decision"], decision);
            assert_eq!(got["trace"]["version"], 1);
            assert_eq!(
                got["trace"]["target"]["canonical"],
                "/api/v1/jobs/bob/7".replace("bob", if code == 0 { "bob" } else { "alice" })
            );
            assert_eq!(got["trace"]["owner"]["outcome"], if code == 0 { "owner" } else { "not_owner" });
            assert_eq!(text(&out.stdout).contains("\n  "), flags.contains(&"--pretty"));
            // Neither the key nor the query that repeats it.
            assert!(!text(&out.stdout).contains("demo-researcher-key"));
        }
    }
    // A request that does not read is an error (2) with --explain too.
    let out = admit(&["decide", "--explain", "--policy", policy], &[], "{");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_load_error_never_prints_the_secret() {
    let out = admit(&["check", "examples/policies/rag-modulo.toml"], &[("JWT_SECRET_KEY", "short-secret-value")], "");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`JWT_SECRET_KEY` is 18 bytes; HS256 needs at least 32"), "{err}");
    assert!(!err.contains("short-secret-value"), "{err}");
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admit-cli-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
