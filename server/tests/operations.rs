//! The server's operations against the real server on 127.0.0.1: trusted proxies,
//! reload (edit, broken file, deleted file, keys file rotation), the JWKS fetcher (an
//! issuer going down and rotating), and bad input and abusive clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "a test harness: a failed expectation should stop it loudly"
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Reply, config, eventually, exchange, get, metric, post_decide, request_bytes, root, scratch};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NOW: i64 = 1_790_000_000;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

async fn forward(addr: SocketAddr, method: &str, uri: &str, extra: &[(&str, &str)]) -> Reply {
    let mut headers = h(&[("X-Forwarded-Method", method), ("X-Forwarded-Uri", uri)]);
    headers.extend(h(extra));
    exchange(addr, &request_bytes("GET", "/auth/forward", &headers, None)).await
}

async fn decide(addr: SocketAddr, request: Value) -> Value {
    let reply = post_decide(addr, &request.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

fn local_policy_config(trusted: &[&str]) -> admit_server::Config {
    let mut c = config(&root().join("examples/policies/artifact-miner.toml"));
    c.env = Some([("ARTIFACT_MINER_EMAIL".to_owned(), "dev@example.com".to_owned())].into());
    c.fixed_now = Some(NOW);
    c.trusted_proxies = trusted.iter().map(|t| t.parse().unwrap()).collect();
    c
}

/// `local` mode passes requests from this machine only. The test client is on
/// 127.0.0.1, so it is local as itself; what matters is what X-Forwarded-For can do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let host = [("Host", "127.0.0.1:8000")];
    // No trusted proxy: the TCP peer (127.0.0.1) decides; a forged X-Forwarded-For
    // naming another machine changes nothing, and neither does one naming 127.0.0.1.
    let untrusting = admit_server::start(local_policy_config(&[])).await.unwrap();
    let a = untrusting.http;
    assert_eq!(forward(a, "GET", "/questions", &host).await.status, 200);
    let spoofed = forward(a, "GET", "/questions", &[host[0], ("X-Forwarded-For", "203.0.113.7")]).await;
    assert_eq!(spoofed.status, 200, "an untrusted X-Forwarded-For was believed");
    untrusting.shutdown().await;

    // A trusted block that excludes 127.0.0.1: the same, the header is ignored.
    let elsewhere = admit_server::start(local_policy_config(&["10.0.0.0/8"])).await.unwrap();
    let spoofed = forward(elsewhere.http, "GET", "/questions", &[host[0], ("X-Forwarded-For", "203.0.113.7")]).await;
    assert_eq!(spoofed.status, 200);
    elsewhere.shutdown().await;

    // 127.0.0.1 trusted (the gateway on this machine): now the header names the client.
    let trusting = admit_server::start(local_policy_config(&["127.0.0.0/8"])).await.unwrap();
    let t = trusting.http;
    let remote = forward(t, "GET", "/questions", &[host[0], ("X-Forwarded-For", "203.0.113.7")]).await;
    assert_eq!(remote.status, 403, "a remote client passed local mode: {}", remote.body);
    let chain = forward(t, "GET", "/questions", &[host[0], ("X-Forwarded-For", "127.0.0.1, 203.0.113.7")]).await;
    assert_eq!(chain.status, 403, "the client's own left-most entry was believed");
    // Malformed forwarded headers from the trusted proxy: never local.
    for bad in ["localhost", "unknown", "", "999.1.1.1", "127.0.0.1:abc", "[::1", "127.0.0.1 127.0.0.2"] {
        let r = forward(t, "GET", "/questions", &[host[0], ("X-Forwarded-For", bad)]).await;
        assert_eq!(r.status, 403, "X-Forwarded-For {bad:?}: {}", r.body);
    }
    let r = forward(t, "GET", "/questions", &[host[0], ("Forwarded", "for=203.0.113.7")]).await;
    assert_eq!(r.status, 403);
    let r = forward(t, "GET", "/questions", &[host[0], ("Forwarded", "for=127.0.0.1")]).await;
    assert_eq!(r.status, 200);
    // X-Forwarded-Host replaces Host only from a trusted proxy: the local policy checks
    // Host against DNS rebinding.
    let r = forward(t, "GET", "/questions", &[host[0], ("X-Forwarded-Host", "evil.example")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = forward(t, "GET", "/questions", &[("Host", "evil.example"), ("X-Forwarded-Host", "127.0.0.1:8000")]).await;
    assert_eq!(r.status, 200, "the proxy's X-Forwarded-Host is the Host: {}", r.body);
    // Two forwarded Hosts are ambiguous: refused (400), whichever a router would take.
    for two in [
        &[("X-Forwarded-Host", "127.0.0.1:8000, evil.example")][..],
        &[("X-Forwarded-Host", "127.0.0.1:8000"), ("X-Forwarded-Host", "evil.example")][..],
    ] {
        let mut extra = vec![host[0]];
        extra.extend_from_slice(two);
        let r = forward(t, "GET", "/questions", &extra).await;
        assert_eq!(r.status, 400, "{two:?}: {}", r.body);
    }
    trusting.shutdown().await;
    let untrusting = admit_server::start(local_policy_config(&[])).await.unwrap();
    let r = forward(untrusting.http, "GET", "/questions", &[host[0], ("X-Forwarded-Host", "evil.example")]).await;
    assert_eq!(r.status, 200, "an untrusted X-Forwarded-Host was believed");
    untrusting.shutdown().await;
}

/// Everything open but `/closed/**` (shared with the other serve tests).
const OPEN_POLICY: &str = include_str!("../../tests/fixtures/policies/open-except-closed.toml");

/// Replaces a file as editors and deploy tools do: a new file renamed over the old.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn readyz(addr: SocketAddr) -> (u16, Value) {
    let r = get(addr, "/readyz").await;
    (r.status, serde_json::from_str(&r.body).unwrap())
}

async fn metrics(addr: SocketAddr) -> String {
    get(addr, "/metrics").await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_edits_and_keeps_the_old_engine_on_a_broken_or_deleted_file() {
    let dir = scratch("reload");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, OPEN_POLICY).unwrap();
    let running = admit_server::start(config(&policy)).await.unwrap();
    let a = running.http;
    let closed = |a| async move { forward(a, "GET", "/closed/x", &[]).await.status };
    assert_ne!(closed(a).await, 200);
    assert_eq!(metric(&metrics(a).await, "admit_policy_generation"), Some(1.0));

    // An edit: the closed route goes; the new rule applies once the watcher sees it.
    replace(&policy, &OPEN_POLICY.replace("path = \"/closed/**\"", "path = \"/shut/**\""));
    assert!(eventually(|| async { closed(a).await == 200 }).await, "the edited policy never applied");
    assert_ne!(forward(a, "GET", "/shut/x", &[]).await.status, 200);
    let m = metrics(a).await;
    assert_eq!(metric(&m, "admit_policy_generation"), Some(2.0));
    assert_eq!(metric(&m, "admit_policy_reload_total{result=\"ok\"}"), Some(2.0));

    // A broken policy: the old engine stays, ready, and the error is reported.
    replace(&policy, "realm = \"serve-test\"\n[[routes]\nthis is not TOML");
    assert!(
        eventually(|| async { readyz(a).await.1["last_reload_error"].is_string() }).await,
        "the broken policy was not reported"
    );
    let (status, body) = readyz(a).await;
    assert_eq!(status, 200, "a failed reload made the server unready: {body}");
    assert!(body["last_reload_error"].as_str().unwrap().contains("policy.toml"), "{body}");
    let m = metrics(a).await;
    assert_eq!(metric(&m, "admit_policy_last_reload_success"), Some(0.0));
    assert_eq!(metric(&m, "admit_policy_reload_total{result=\"error\"}"), Some(1.0));
    assert_eq!(metric(&m, "admit_policy_generation"), Some(2.0));
    assert_eq!(closed(a).await, 200, "the old engine was dropped");
    assert_ne!(forward(a, "GET", "/shut/x", &[]).await.status, 200);

    // Fixed again: reloads, and the error is cleared.
    replace(&policy, OPEN_POLICY);
    assert!(eventually(|| async { closed(a).await != 200 }).await);
    assert!(readyz(a).await.1["last_reload_error"].is_null());
    assert_eq!(metric(&metrics(a).await, "admit_policy_last_reload_success"), Some(1.0));

    // Deleted: the old engine stays.
    std::fs::remove_file(&policy).unwrap();
    assert!(eventually(|| async { readyz(a).await.1["last_reload_error"].is_string() }).await);
    assert_ne!(closed(a).await, 200);
    assert_eq!(forward(a, "GET", "/open", &[]).await.status, 200);
    assert_eq!(readyz(a).await.0, 200);

    // Reload on demand (what SIGHUP calls) with the file back.
    std::fs::write(&policy, OPEN_POLICY.replace("/closed/**", "/other/**")).unwrap();
    running.reload().await;
    assert_eq!(closed(a).await, 200);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_keys_file_applies_and_a_broken_one_keeps_the_old_keys() {
    let dir = scratch("keys");
    let policy = dir.join("fetchml.toml");
    std::fs::copy(root().join("examples/policies/fetchml.toml"), &policy).unwrap();
    let keys = dir.join("fetchml-keys.toml");
    std::fs::copy(root().join("examples/policies/fetchml-keys.toml"), &keys).unwrap();
    let mut c = config(&policy);
    c.fixed_now = Some(NOW);
    let running = admit_server::start(c).await.unwrap();
    let a = running.http;
    let jobs = |key: &'static str| async move { forward(a, "GET", "/api/v1/jobs", &[("X-API-Key", key)]).await };
    let bob = jobs("demo-researcher-key").await;
    assert_eq!(bob.status, 200);
    assert_eq!(bob.header("x-admit-subject"), Some("bob"));
    assert_eq!(bob.header("x-admit-constraint-owner"), Some("bob"));
    assert_eq!(jobs("demo-frank-key").await.status, 401);

    // The admin revokes bob's key and adds frank's.
    let rotated = std::fs::read_to_string(root().join("tests/fixtures/fetchml-keys-rotated.toml")).unwrap();
    replace(&keys, &rotated);
    assert!(eventually(|| async { jobs("demo-frank-key").await.status == 200 }).await, "the new key never applied");
    assert_eq!(jobs("demo-researcher-key").await.status, 401);

    // A broken keys file: refused, the keys in force stay.
    replace(&keys, "[[keys]]\nid = 3\n");
    assert!(eventually(|| async { readyz(a).await.1["last_reload_error"].is_string() }).await);
    assert_eq!(jobs("demo-frank-key").await.status, 200);
    assert_eq!(jobs("demo-researcher-key").await.status, 401);
    let error = readyz(a).await.1["last_reload_error"].as_str().unwrap().to_owned();
    assert!(!error.contains("demo-"), "the error quotes the keys file: {error}");
    assert!(error.contains("fetchml-keys.toml"), "{error}");
    // Keys files are applied to the engine in force (no rebuild), and counted.
    let m = metrics(a).await;
    assert_eq!(metric(&m, "admit_policy_generation"), Some(1.0));
    assert_eq!(metric(&m, "admit_keys_file_reload_total{authenticator=\"fetchml-keys\",result=\"ok\"}"), Some(1.0));
    assert_eq!(metric(&m, "admit_keys_file_reload_total{authenticator=\"fetchml-keys\",result=\"error\"}"), Some(1.0));
    assert!(metric(&m, "admit_keys_file_keys{authenticator=\"fetchml-keys\"}").unwrap() >= 1.0);
    // Deleted: the keys in force stay. Fixed: applied, and the error is cleared.
    std::fs::remove_file(&keys).unwrap();
    assert!(
        eventually(|| async {
            metric(&metrics(a).await, "admit_keys_file_reload_total{authenticator=\"fetchml-keys\",result=\"error\"}")
                == Some(2.0)
        })
        .await
    );
    assert_eq!(jobs("demo-frank-key").await.status, 200);
    replace(&keys, &rotated);
    assert!(eventually(|| async { readyz(a).await.1["last_reload_error"].is_null() }).await);
    assert_eq!(jobs("demo-frank-key").await.status, 200);
    running.shutdown().await;
}

/// A JWKS issuer on 127.0.0.1 whose answer the test changes: a key set, or 503.
struct Issuer {
    addr: SocketAddr,
    body: Arc<Mutex<Option<String>>>,
    fetches: Arc<AtomicUsize>,
}

async fn issuer() -> Issuer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (b, f) = (Arc::clone(&body), Arc::clone(&fetches));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let (b, f) = (Arc::clone(&b), Arc::clone(&f));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                f.fetch_add(1, Ordering::SeqCst);
                let answer = match b.lock().unwrap().clone() {
                    Some(jwks) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jwks}",
                        jwks.len()
                    ),
                    None => {
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                    }
                };
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    Issuer { addr, body, fetches }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_issuer_going_down_keeps_the_old_keys_and_a_rotation_is_fetched() {
    let tokens: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/tokens.json")).unwrap()).unwrap();
    let old_token = tokens["clerk_org_admin"].as_str().unwrap().to_owned();
    let new_token = tokens["clerk_rotated_kid"].as_str().unwrap().to_owned();
    let jwks = std::fs::read_to_string(root().join("tests/fixtures/jwks.json")).unwrap();
    let rotated = std::fs::read_to_string(root().join("tests/fixtures/jwks-rotated.json")).unwrap();
    let issuer = issuer().await;
    let mut c = config(&root().join("examples/policies/skillmeat.toml"));
    c.fixed_now = Some(NOW);
    c.env = Some(
        [
            ("SKILLMEAT_AUTH_ENABLED", "true"),
            ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev"),
            ("CLERK_AUDIENCE", "skillmeat-api"),
            ("CLERK_JWKS_URL", &format!("http://{}/.well-known/jwks.json", issuer.addr)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    // The issuer is down at start: not ready, and the reason names the authenticator.
    let running = admit_server::start(c).await.unwrap();
    let a = running.http;
    assert!(eventually(|| async { issuer.fetches.load(Ordering::SeqCst) >= 1 }).await);
    let (status, body) = readyz(a).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("`clerk`"), "{body}");
    let artifacts = |token: String| async move {
        let auth = format!("Bearer {token}");
        decide(a, serde_json::json!({"method": "GET", "path": "/api/v1/artifacts", "headers": [["Authorization", auth]], "now": NOW})).await
    };
    // (No token is tried now: its `unknown_key` would spend the refetch that the rule
    // allows once per 30 s, which the test spends below.)

    // Up: the retry (backing off from 1 s) fetches the set; ready; the token passes.
    *issuer.body.lock().unwrap() = Some(jwks);
    assert!(eventually(|| async { readyz(a).await.0 == 200 }).await, "never ready");
    assert_eq!(artifacts(old_token.clone()).await["allow"], true);
    let m = metrics(a).await;
    assert_eq!(metric(&m, "admit_jwks_keys{authenticator=\"clerk\"}"), Some(4.0));
    assert!(metric(&m, "admit_jwks_fetch_total{authenticator=\"clerk\",result=\"error\"}").unwrap() >= 1.0);

    // Down again. A token with a kid the set lacks makes the server refetch (the
    // unknown_key rule); that fails, and the keys in force stay.
    *issuer.body.lock().unwrap() = None;
    let before = issuer.fetches.load(Ordering::SeqCst);
    assert_eq!(artifacts(new_token.clone()).await["reason"], "unknown_key");
    assert!(eventually(|| async { issuer.fetches.load(Ordering::SeqCst) > before }).await, "no refetch on unknown_key");
    assert_eq!(artifacts(old_token.clone()).await["allow"], true, "a failed fetch dropped the keys");
    assert_eq!(readyz(a).await.0, 200);

    // The issuer comes back rotated: the next fetch (the retry) brings the new kid.
    let ok_before = metric(&metrics(a).await, "admit_jwks_fetch_total{authenticator=\"clerk\",result=\"ok\"}").unwrap();
    *issuer.body.lock().unwrap() = Some(rotated);
    assert!(
        eventually(|| async { artifacts(new_token.clone()).await["allow"] == true }).await,
        "the rotated key never applied"
    );
    let ok_after = metric(&metrics(a).await, "admit_jwks_fetch_total{authenticator=\"clerk\",result=\"ok\"}").unwrap();
    assert_eq!(ok_after, ok_before + 1.0, "the rotation took more than one fetch");
    assert_eq!(artifacts(old_token).await["reason"], "unknown_key");

    // A policy reload carries the fetched set over: no fetch needed, the new kid still passes.
    let fetches = issuer.fetches.load(Ordering::SeqCst);
    running.reload().await;
    assert_eq!(artifacts(new_token).await["allow"], true, "the reload dropped the fetched keys");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), fetches);
    running.shutdown().await;
}

fn open_config() -> admit_server::Config {
    let dir = scratch("faults");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, OPEN_POLICY).unwrap();
    config(&policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_decide_bodies_get_their_answers() {
    let running = admit_server::start(open_config()).await.unwrap();
    let a = running.http;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", "{bad".into(), 400, "not a request JSON"),
        ("empty", String::new(), 400, "not a request JSON"),
        ("a list", "[1,2]".into(), 400, "not a request JSON"),
        ("no now", r#"{"method":"GET","path":"/"}"#.into(), 400, "now"),
        ("unknown field", r#"{"method":"GET","path":"/","now":1,"nwo":2}"#.into(), 400, "nwo"),
        ("deep", format!("{}{}", "[".repeat(100), "]".repeat(100)), 400, "deeper"),
        (
            "a secret in a wrong type",
            r#"{"method":"GET","path":"/","now":"Bearer s3cr3t-token"}"#.into(),
            400,
            "wrong type",
        ),
        ("headers of numbers", r#"{"method":"GET","path":"/","now":1,"headers":[[1,2]]}"#.into(), 400, "wrong type"),
        (
            "too large",
            format!(r#"{{"method":"GET","path":"/","now":1,"x":"{}"}}"#, "a".repeat(2 << 20)),
            413,
            "larger than",
        ),
    ];
    for (what, body, status, text) in cases {
        let r = post_decide(a, &body).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        let error: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("{what}: not JSON: {}", r.body));
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(text), "{what}: {message}");
        assert!(!message.contains("s3cr3t"), "{what}: the error quotes the request: {message}");
    }
    // Not UTF-8.
    let mut bytes = request_bytes("POST", "/v1/decide", &[("Content-Length".into(), "3".into())], None);
    bytes.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    assert_eq!(exchange(a, &bytes).await.status, 400);
    // Wrong method, unknown endpoint.
    assert_eq!(get(a, "/v1/decide").await.status, 405);
    assert_eq!(get(a, "/v2/nothing").await.status, 404);
    // A good one still works, and the bad ones were counted.
    let d = decide(a, serde_json::json!({"method": "GET", "path": "/x", "now": 1})).await;
    assert_eq!(d["allow"], true);
    let m = metrics(a).await;
    assert_eq!(metric(&m, "admit_bad_requests_total{endpoint=\"decide\"}"), Some(10.0));
    // Only the one decision was made, and it is counted with its latency.
    assert_eq!(metric(&m, "admit_decisions_total{reason=\"ok\",authenticator=\"open\",allow=\"true\"}"), Some(1.0));
    assert_eq!(metric(&m, "admit_decision_seconds_count"), Some(1.0));
    assert_eq!(metric(&m, "admit_decision_seconds_bucket{le=\"+Inf\"}"), Some(1.0));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forward_requests_are_refused_not_allowed() {
    let running = admit_server::start(open_config()).await.unwrap();
    let a = running.http;
    let send = |headers: Vec<(String, String)>, endpoint: &'static str| async move {
        exchange(a, &request_bytes("GET", endpoint, &headers, None)).await
    };
    // Missing original method or URI: the gateway is misconfigured; refused as malformed.
    for endpoint in ["/auth/forward", "/auth/nginx"] {
        let r = send(Vec::new(), endpoint).await;
        assert_ne!(r.status, 200, "{endpoint} without the original request");
    }
    let r = send(h(&[("X-Forwarded-Method", "GET")]), "/auth/forward").await;
    assert_eq!(r.status, 400, "{}", r.body);
    // nginx gets 403 with the real status to re-emit.
    let r = send(h(&[("X-Original-Method", "GET")]), "/auth/nginx").await;
    assert_eq!((r.status, r.header("x-admit-status")), (403, Some("400")));
    // Two copies of the original URI: which one would the upstream see? Refused.
    let r = send(
        h(&[("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/closed/x"), ("X-Forwarded-Uri", "/open")]),
        "/auth/forward",
    )
    .await;
    assert_eq!(r.status, 400);
    // Targets routers read differently are the core's to refuse (it does, 400).
    for target in ["/closed/../open", "/closed%2fx", "*", "http://evil/", "/open#frag", "", "/a\\b"] {
        let r = send(h(&[("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", target)]), "/auth/forward").await;
        assert_ne!(r.status, 200, "target {target:?} was allowed");
    }
    // Forged identity headers do not come back as if the server had set them.
    let r = send(
        h(&[("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/open"), ("X-Admit-Subject", "admin")]),
        "/auth/forward",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-admit-subject"), Some("anonymous"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_slow_clients_and_too_many_connections() {
    let mut c = open_config();
    c.limits.header_timeout = Duration::from_millis(500);
    c.limits.idle_timeout = Duration::from_millis(800);
    c.max_connections = 2;
    let running = admit_server::start(c).await.unwrap();
    let a = running.http;

    // A head over the limit: 431, and the server carries on.
    let huge = h(&[("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/open"), ("X-Big", &"a".repeat(100 * 1024))]);
    assert_eq!(exchange(a, &request_bytes("GET", "/auth/forward", &huge, None)).await.status, 431);
    let many: Vec<(String, String)> = (0..5000).map(|i| (format!("X-H{i}"), "v".to_owned())).collect();
    let r = exchange(a, &request_bytes("GET", "/auth/forward", &many, None)).await;
    assert!(matches!(r.status, 431 | 400), "{}", r.status);
    assert_eq!(get(a, "/healthz").await.status, 200);

    // Slowloris: half a head, then nothing. The server closes the connection.
    let mut slow = TcpStream::connect(a).await.unwrap();
    slow.write_all(b"GET /auth/forward HTTP/1.1\r\nX-Forwarded-Method: GET\r\n").await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a half-sent head kept its connection");
    drop(slow);

    // A /v1/decide body that stops coming: 408 once the time is up.
    let mut stalled = TcpStream::connect(a).await.unwrap();
    stalled.write_all(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"method\"").await.unwrap();
    let reply = common::read_reply(&mut stalled).await;
    assert_eq!(reply.status, 408, "{}", reply.body);
    // A chunked body over the limit (no Content-Length to refuse up front): 413.
    let mut chunked = TcpStream::connect(a).await.unwrap();
    chunked
        .write_all(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..20 {
        let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
        piece.extend_from_slice(&chunk);
        piece.extend_from_slice(b"\r\n");
        if chunked.write_all(&piece).await.is_err() {
            break;
        }
    }
    let _ = chunked.write_all(b"0\r\n\r\n").await;
    assert_eq!(common::read_reply(&mut chunked).await.status, 413);

    // An idle kept-alive connection is closed too, after its answer.
    let mut idle = TcpStream::connect(a).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), idle.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "an idle connection was kept");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    drop(idle);

    // More connections than the bound: the third waits until one of two closes.
    let keep_alive = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(a).await.unwrap();
    let mut second = TcpStream::connect(a).await.unwrap();
    for s in [&mut first, &mut second] {
        s.write_all(keep_alive).await.unwrap();
        let mut b = [0u8; 256];
        let n = s.read(&mut b).await.unwrap();
        assert!(b[..n].starts_with(b"HTTP/1.1 200"));
    }
    let mut third = TcpStream::connect(a).await.unwrap();
    third.write_all(&request_bytes("GET", "/healthz", &[], None)).await.unwrap();
    let mut b = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut b)).await;
    assert!(early.is_err(), "a third connection was served beyond the bound of 2");
    drop(first);
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), third.read_to_end(&mut reply)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"), "the waiting connection was not served");
    drop(second);
    assert_eq!(get(a, "/healthz").await.status, 200);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_log_names_no_secret_and_flags_dry_run_refusals() {
    let dir = scratch("log");
    let log = dir.join("decisions.jsonl");
    let mut c = config(&root().join("examples/policies/skillmeat.toml"));
    // SkillMeat in dry run: refusals pass, flagged.
    c.env = Some(
        [
            ("SKILLMEAT_AUTH_ENABLED", "true"),
            ("SKILLMEAT_API_KEY_ENABLED", "true"),
            ("SKILLMEAT_API_KEY", "sk-test-only-skillmeat-key"),
            ("SKILLMEAT_AUTH_DRY_RUN", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    c.fixed_now = Some(NOW);
    c.decision_log = Some(admit_server::LogTarget::File(log.clone()));
    let running = match admit_server::start(c).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let a = running.http;
    let secret = "Bearer wrong-secret-token-value";
    let r = forward(a, "GET", "/api/v1/artifacts?api_key=query-secret", &[("X-API-Key", secret)]).await;
    assert_eq!(r.status, 200, "a dry run lets the refusal pass");
    let dry = r.header("x-admit-dry-run").map(str::to_owned);
    let _ = forward(a, "GET", "/api/v1/../v1/artifacts", &[]).await;
    running.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for secret in ["wrong-secret-token-value", "query-secret", "sk-test-only"] {
        assert!(!text.contains(secret), "the log holds `{secret}`: {text}");
    }
    let first = &lines[0];
    for field in [
        "ts",
        "endpoint",
        "method",
        "path",
        "status",
        "allow",
        "reason",
        "rule",
        "principal",
        "authenticator",
        "dry_run",
        "latency_us",
    ] {
        assert!(first.get(field).is_some(), "no `{field}` in {first}");
    }
    assert_eq!(first["path"], "/api/v1/artifacts");
    assert_eq!(first["endpoint"], "forward");
    assert_eq!((first["dry_run"].clone(), first["allow"].clone()), (Value::Bool(true), Value::Bool(true)));
    assert_eq!(first["reason"], "invalid_credentials");
    assert_eq!(first["status"], 401);
    assert_eq!(dry.as_deref(), Some("true"), "a dry-run pass without X-Admit-Dry-Run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_log_names_the_path_as_the_policy_read_it() {
    // Under relaxed `[paths]` rules `..` is resolved, not refused: the log must name the
    // path that was decided (the default rules would refuse it and log `-`).
    let dir = scratch("log-lenient");
    let log = dir.join("decisions.jsonl");
    let mut c = config(&root().join("tests/fixtures/policies/routing-lenient.toml"));
    c.fixed_now = Some(NOW);
    c.decision_log = Some(admit_server::LogTarget::File(log.clone()));
    let running = match admit_server::start(c).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let r = forward(running.http, "GET", "/api/v1/jobs/alice/../bob//7/?x=1", &[("X-API-Key", "demo-researcher-key")])
        .await;
    running.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["path"], "/api/v1/jobs/bob/7", "{text}");
    assert_eq!(entry["rule"], "jobs-owner", "{text}");
    assert_eq!(r.status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_believes_the_source_address_only_from_a_trusted_envoy_and_strips_forged_identity() {
    use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
    use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;

    let check = |source: &str, extra: &[(&str, &str)]| {
        let mut headers: std::collections::HashMap<String, String> =
            [(":authority", "127.0.0.1:8000"), (":method", "GET"), (":path", "/questions")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        headers.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        CheckRequest {
            attributes: Some(AttributeContext {
                source: Some(Peer {
                    address: Some(Address {
                        address: Some(address::Address::SocketAddress(SocketAddress {
                            address: source.to_owned(),
                            ..Default::default()
                        })),
                    }),
                    ..Default::default()
                }),
                request: Some(Request {
                    http: Some(HttpRequest {
                        method: "GET".into(),
                        path: "/questions".into(),
                        headers,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    };
    let allowed = |r: &envoy_types::ext_authz::v3::pb::CheckResponse| {
        matches!(r.http_response, Some(HttpResponse::OkResponse(_)))
    };
    for (trusted, remote_allowed) in [(&[][..], true), (&["127.0.0.0/8"][..], false)] {
        let mut c = local_policy_config(trusted);
        c.grpc = Some("127.0.0.1:0".parse().unwrap());
        let running = admit_server::start(c).await.unwrap();
        let mut client = AuthorizationClient::connect(format!("http://{}", running.grpc.unwrap())).await.unwrap();
        // Envoy reports a remote client. Untrusted, the report is ignored (the TCP peer,
        // loopback, decides); trusted, it is believed and local mode refuses.
        let r = client.check(check("203.0.113.7", &[])).await.unwrap().into_inner();
        assert_eq!(allowed(&r), remote_allowed, "trusted {trusted:?}: {r:?}");
        let r = client
            .check(check("127.0.0.1", &[("x-admit-roles", "admin"), ("x-admit-constraint-owner", "eve")]))
            .await
            .unwrap()
            .into_inner();
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else { panic!("refused: {r:?}") };
        let set: Vec<(&str, &str)> =
            ok.headers.iter().filter_map(|h| h.header.as_ref()).map(|h| (h.key.as_str(), h.value.as_str())).collect();
        assert!(set.contains(&("X-Admit-Roles", "")), "a forged role header is not overwritten: {set:?}");
        assert_eq!(ok.headers_to_remove, vec!["x-admit-constraint-owner".to_owned()]);
        // A CheckRequest without the HTTP request: refused as malformed.
        let r = client.check(CheckRequest::default()).await.unwrap().into_inner();
        let Some(HttpResponse::DeniedResponse(denied)) = r.http_response else { panic!("allowed: {r:?}") };
        assert_eq!(denied.status.map(|s| s.code), Some(400));
        running.shutdown().await;
    }
}

/// Reload under load: clients keep asking while the policy changes under them. Every
/// answer is one of the two policies' (never an error or a dropped connection), and the
/// new rule is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_request() {
    let dir = scratch("load");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, OPEN_POLICY).unwrap();
    let running = admit_server::start(config(&policy)).await.unwrap();
    let a = running.http;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let stop = Arc::clone(&stop);
        clients.push(tokio::spawn(async move {
            let (mut answers, mut opened) = (0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                let r = forward(a, "GET", "/closed/x", &[]).await;
                match r.status {
                    200 => opened += 1,
                    404 | 403 => {}
                    other => panic!("an answer from neither policy: {other} {}", r.body),
                }
                answers += 1;
            }
            (answers, opened)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..4 {
        let text = if round % 2 == 0 { OPEN_POLICY.replace("/closed/**", "/shut/**") } else { OPEN_POLICY.to_owned() };
        replace(&policy, &text);
        let want_open = round % 2 == 0;
        assert!(
            eventually(|| async { (forward(a, "GET", "/closed/x", &[]).await.status == 200) == want_open }).await,
            "round {round}: the edit never applied"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for c in clients {
        let (answers, opened) = c.await.unwrap();
        assert!(answers > 0);
        total += answers;
        let _ = opened;
    }
    assert!(total > 20, "too few requests under load: {total}");
    assert_eq!(metric(&metrics(a).await, "admit_policy_generation"), Some(5.0));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_carry_utf8_and_refuse_control_characters() {
    let dir = scratch("identity");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        r#"
realm = "identity-test"

[[authenticators]]
type = "bearer_token"
id = "tokens"
tokens = [
  { id = "jose", secret = { env = "JOSE_TOKEN" }, principal = "José" },
  { id = "crlf", secret = { env = "CRLF_TOKEN" }, principal = { env = "CRLF_PRINCIPAL" } },
]

[[routes]]
id = "all"
path = "/**"
"#,
    )
    .unwrap();
    let mut c = config(&policy);
    c.env = Some(
        [
            ("JOSE_TOKEN", "test-only-jose-token-0123456789abcdef"),
            ("CRLF_TOKEN", "test-only-crlf-token-0123456789abcdef"),
            ("CRLF_PRINCIPAL", "eve\r\nX-Admit-Roles: admin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let running = match admit_server::start(c).await {
        Ok(r) => r,
        Err(e) => {
            // The core may refuse a control character in a principal at load: then no
            // decision can carry one, which is the point.
            assert!(e.contains("CRLF") || e.contains("principal"), "{e}");
            return;
        }
    };
    let a = running.http;
    let r = forward(a, "GET", "/x", &[("Authorization", "Bearer test-only-jose-token-0123456789abcdef")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-admit-subject"), Some("José"));
    let r = forward(a, "GET", "/x", &[("Authorization", "Bearer test-only-crlf-token-0123456789abcdef")]).await;
    assert_ne!(r.status, 200, "an identity with a line break was let through");
    assert!(r.header("x-admit-roles").is_none());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_that_cannot_be_a_header_is_not_let_through() {
    // The upstream filters by X-Admit-Constraint-*: a constraint it would never receive
    // (a name no header can have) is a refusal, never an allow without its filter.
    for constraints in [&["owner id"][..], &["tëam"], &["own:er"]] {
        let dir = scratch("constraint-name");
        let policy = dir.join("policy.toml");
        let mut rules = String::new();
        for name in constraints {
            rules.push_str(&format!(
                "\n[[routes]]\nid = \"r-{}\"\npath = \"/x\"\nowner = {{ constraint = \"{name}\" }}\n",
                rules.len()
            ));
        }
        std::fs::write(
            &policy,
            format!(
                r#"
[[authenticators]]
type = "bearer_token"
id = "tokens"
tokens = [{{ id = "bob", secret = {{ env = "BOB_TOKEN" }} }}]
{rules}"#
            ),
        )
        .unwrap();
        let mut c = config(&policy);
        c.env =
            Some([("BOB_TOKEN".to_owned(), "test-only-bob-token-0123456789abcdef".to_owned())].into_iter().collect());
        let running = match admit_server::start(c).await {
            Ok(r) => r,
            // Refused at load is as good: no decision can carry it.
            Err(e) => {
                assert!(e.contains("constraint") || e.contains("route"), "{e}");
                continue;
            }
        };
        let a = running.http;
        let r = forward(a, "GET", "/x", &[("Authorization", "Bearer test-only-bob-token-0123456789abcdef")]).await;
        assert_ne!(r.status, 200, "{constraints:?}: allowed without a constraint the upstream can read");
        assert!(r.header("x-admit-subject").is_none(), "{constraints:?}");
        running.shutdown().await;
    }
}
