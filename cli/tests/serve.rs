//! `admit serve` as a process: the line it prints when ready, flag errors, SIGHUP and
//! graceful shutdown on SIGTERM with a request in flight. (The endpoints, reload and
//! limits are tested against the library in `server/tests/`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a test harness: a failed expectation should stop it loudly"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything open but `/closed/**` (shared with the other serve tests).
const POLICY: &str = include_str!("../../tests/fixtures/policies/open-except-closed.toml");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admit-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `admit serve` and the lines of its stderr so far.
struct Server {
    child: Child,
    http: SocketAddr,
    grpc: Option<SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(policy: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_admit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(policy)
        .args(extra)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("admit serve: listening on http://") {
                let _ = tx.send(line.clone());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no listening line: {:?}", lines.lock().unwrap()));
    let http = line.trim_start_matches("admit serve: listening on http://").split(',').next().unwrap().parse().unwrap();
    let grpc = line.split_once(", grpc on ").map(|(_, g)| g.parse().unwrap());
    Server { child, http, grpc, stderr: lines }
}

fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn get(addr: SocketAddr, path: &str) -> String {
    exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

fn eventually(mut probe: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn serve_prints_its_addresses_and_answers() {
    let dir = scratch("addresses");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let server = serve(&policy, &["--grpc", "127.0.0.1:0", "--identity-prefix", "X-Auth-"]);
    assert!(server.grpc.is_some(), "no gRPC address printed");
    assert!(get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    let reply = exchange(
        server.http,
        "GET /auth/forward HTTP/1.1\r\nHost: t\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("x-auth-subject: anonymous"), "{reply}");
}

#[test]
fn bad_flags_are_clear_startup_errors() {
    let dir = scratch("flags");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--ca-file", "/nonexistent/ca.pem"], "cannot read --ca-file"),
        (&["--trusted-proxy", "10.0.0.1/8"], "is not a CIDR block"),
        (&["--trusted-proxy", "ten"], "is not a CIDR block"),
        (&["--identity-prefix", "X Admit"], "--identity-prefix"),
        (&["--keys", "nothing"], "--keys takes ID=FILE"),
        (&["--listen", "nowhere"], "invalid value"),
        (&["--max-connections", "0"], "--max-connections"),
    ];
    for (args, text) in cases {
        let listen: &[&str] = if args.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let out = Command::new(env!("CARGO_BIN_EXE_admit"))
            .arg("serve")
            .args(listen)
            .arg("--policy")
            .arg(&policy)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
    // A policy that does not load is a startup error too, not a server refusing everything.
    std::fs::write(&policy, "[[routes]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_admit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy.toml"));
}

#[test]
fn sighup_reloads() {
    let dir = scratch("sighup");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let server = serve(&policy, &[]);
    assert!(get(server.http, "/metrics").contains("admit_policy_generation 1\n"));
    signal(&server.child, "HUP");
    assert!(
        eventually(|| get(server.http, "/metrics").contains("admit_policy_generation 2\n")),
        "SIGHUP did not reload"
    );
    let lines = server.stderr.lock().unwrap().clone();
    let event = lines.iter().find(|l| l.contains("\"event\":\"reload\"")).expect("no reload event");
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    assert_eq!((event["result"].as_str(), event["trigger"].as_str()), (Some("ok"), Some("signal")));
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let dir = scratch("sigterm");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let mut server = serve(&policy, &[]);
    let body = r#"{"method":"GET","path":"/closed/x","now":1}"#;
    let (head, tail) = body.split_at(10);
    // A request in flight: its head and half its body sent.
    let mut in_flight = TcpStream::connect(server.http).unwrap();
    write!(in_flight, "POST /v1/decide HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{head}", body.len()).unwrap();
    in_flight.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(&server.child, "TERM");
    // New connections are refused once the listener is closed.
    assert!(eventually(|| TcpStream::connect(server.http).is_err()), "still accepting after SIGTERM");
    // The request in flight completes.
    in_flight.write_all(tail.as_bytes()).unwrap();
    let mut reply = String::new();
    in_flight.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = in_flight.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "the request in flight was cut: {reply:?}");
    assert!(reply.contains("\"reason\":\"route_denied\""), "{reply}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn relaxed_path_rules_are_reported_at_start_and_at_each_reload() {
    // Behind a gateway the service routes the raw target; relaxed [paths] rules make
    // admit decide on a normalised one. The default rules say nothing.
    let warnings = |server: &Server| {
        server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"event\":\"policy_warning\"") && l.contains("[paths]"))
            .count()
    };
    let dir = scratch("paths");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let strict = serve(&policy, &[]);
    assert!(get(strict.http, "/healthz").starts_with("HTTP/1.1 200"));
    assert_eq!(warnings(&strict), 0);
    drop(strict);
    std::fs::write(&policy, format!("{POLICY}\n[paths]\ndot_segments = \"resolve\"\n")).unwrap();
    let relaxed = serve(&policy, &[]);
    assert!(eventually(|| warnings(&relaxed) == 1), "no warning at start");
    let reloads = |server: &Server| {
        server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"event\":\"reload\"") && l.contains("\"ok\""))
            .count()
    };
    signal(&relaxed.child, "HUP");
    // One more per reload (the file watcher may add a reload of its own).
    assert!(
        eventually(|| reloads(&relaxed) >= 1 && warnings(&relaxed) == reloads(&relaxed) + 1),
        "no warning at reload: {:?}",
        relaxed.stderr.lock().unwrap()
    );
}

#[test]
fn a_delegated_authenticator_is_reported_as_refusing_everything() {
    // The server has no host check: a delegated credential is refused, and said so.
    let dir = scratch("delegated");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[authenticators]]\ntype = \"delegated\"\nid = \"sessions\"\nsources = [{ cookie = \"session\" }]\n\n[[routes]]\npath = \"/**\"\n",
    )
    .unwrap();
    let server = serve(&policy, &[]);
    let lines = server.stderr.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"policy_warning\"") && l.contains("`sessions` is delegated")),
        "{lines:?}"
    );
    let reply = exchange(
        server.http,
        "GET /auth/forward HTTP/1.1\r\nHost: t\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /x\r\nCookie: session=s1\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
}
