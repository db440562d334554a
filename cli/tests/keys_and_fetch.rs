//! Keys where operators keep them, through the command line: `jwks_url` fetched from a
//! real HTTPS endpoint on 127.0.0.1 (a certificate made by the test) that can rotate,
//! fail, stall and send garbage; keys files edited by `keygen --add` and `revoke`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "test code stops loudly and does I/O"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admit-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn token(name: &str) -> String {
    let all: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/tokens.json")).unwrap()).unwrap();
    all[name].clone()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(name)).unwrap()
}

/// What the test issuer answers next.
#[derive(Clone)]
enum Answer {
    Set { body: String, cache_control: &'static str },
    Status(u16),
    Stall(Duration),
    Bytes(Vec<u8>),
}

/// A JWKS endpoint on 127.0.0.1, over TLS with a CA the test made, or plain HTTP.
struct Issuer {
    port: u16,
    answer: Arc<Mutex<Answer>>,
    fetches: Arc<AtomicUsize>,
    ca: PathBuf,
}

impl Issuer {
    fn start(dir: &Path, tls: bool) -> Issuer {
        let ca = dir.join("ca.pem");
        let config = tls.then(|| Arc::new(server_config(dir)));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(Answer::Set { body: fixture("jwks.json"), cache_control: "max-age=600" }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (a, f) = (Arc::clone(&answer), Arc::clone(&fetches));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (a, f, config) = (Arc::clone(&a), Arc::clone(&f), config.clone());
                std::thread::spawn(move || {
                    let answer = a.lock().unwrap().clone();
                    match config {
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            serve(rustls::StreamOwned::new(conn, stream), &answer, &f);
                        }
                        None => serve(stream, &answer, &f),
                    }
                });
            }
        });
        Issuer { port, answer, fetches, ca }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/.well-known/jwks.json?tenant=secret-query-value", self.port)
    }

    fn answer(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }
}

fn serve<S: Read + Write>(mut s: S, answer: &Answer, fetches: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    fetches.fetch_add(1, Ordering::SeqCst);
    let response = match answer {
        Answer::Set { body, cache_control } => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: {cache_control}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        Answer::Status(code) => {
            format!("HTTP/1.1 {code} Oops\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!").into_bytes()
        }
        Answer::Stall(d) => {
            std::thread::sleep(*d);
            return;
        }
        Answer::Bytes(b) => {
            let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).into_bytes();
            r.extend_from_slice(b);
            r
        }
    };
    let _ = s.write_all(&response);
    let _ = s.flush();
}

/// A test CA and a server certificate for 127.0.0.1 it signed, made with openssl.
fn server_config(dir: &Path) -> rustls::ServerConfig {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=admit test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

const POLICY: &str = "examples/policies/skillmeat.toml";

fn clerk_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SKILLMEAT_AUTH_ENABLED", "true".to_owned()),
        ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev".to_owned()),
        ("CLERK_AUDIENCE", "skillmeat-api".to_owned()),
        ("CLERK_JWKS_URL", url.to_owned()),
    ]
}

fn decide_with(url: &str, extra: &[&str], token_name: &str) -> Output {
    let env = clerk_env(url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let request = format!(
        r#"{{"method":"GET","path":"/api/v1/artifacts","headers":{{"Authorization":"Bearer {}"}},"now":1790000000}}"#,
        token(token_name)
    );
    let mut args = vec!["decide", "--policy", POLICY];
    args.extend_from_slice(extra);
    admit(&args, &env, &request)
}

#[test]
fn decide_fetches_the_key_set_over_https_and_follows_a_rotation() {
    let dir = tempdir("fetch-https");
    let issuer = Issuer::start(&dir, true);
    let ca = issuer.ca.to_str().unwrap().to_owned();
    let url = issuer.url("https");

    let out = decide_with(&url, &["--ca-file", &ca], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"reason\":\"ok\""));
    // A token signed with the key the issuer will rotate to is unknown to this set.
    let out = decide_with(&url, &["--ca-file", &ca], "clerk_rotated_kid");
    assert!(text(&out.stdout).contains("\"reason\":\"unknown_key\""), "{}", text(&out.stdout));

    issuer.answer(Answer::Set { body: fixture("jwks-rotated.json"), cache_control: "max-age=60" });
    let out = decide_with(&url, &["--ca-file", &ca], "clerk_rotated_kid");
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 3);

    // check fetches too, and says what it fetched without the URL's query.
    let env = clerk_env(&url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = admit(&["check", POLICY, "--ca-file", &ca], &env, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("fetched") && err.contains("/.well-known/jwks.json"), "{err}");
    assert!(!err.contains("secret-query-value"), "{err}");
}

#[test]
fn a_bad_issuer_is_an_error_that_quotes_neither_the_body_nor_the_query() {
    let dir = tempdir("fetch-bad");
    let issuer = Issuer::start(&dir, true);
    let ca = issuer.ca.to_str().unwrap().to_owned();
    let url = issuer.url("https");
    let cases: Vec<(Answer, &str)> = vec![
        (Answer::Status(500), "HTTP status 500"),
        (Answer::Status(302), "HTTP status 302"),
        (Answer::Bytes(b"{\"keys\": [{\"kty\": \"garbage-marker\"}]}".to_vec()), "key set"),
        (Answer::Bytes(b"garbage-marker <html>".to_vec()), "key set"),
        (Answer::Bytes(vec![b' '; admit::fetch::MAX_BYTES + 10]), "larger than"),
        (Answer::Stall(Duration::from_secs(admit::fetch::TIMEOUT_SECS + 2)), "no answer within"),
    ];
    for (answer, why) in cases {
        issuer.answer(answer);
        let out = decide_with(&url, &["--ca-file", &ca], "clerk_org_admin");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{why}: {err}");
        assert!(text(&out.stdout).is_empty(), "no decision without the keys");
        assert!(err.contains(why), "want `{why}` in {err}");
        assert!(!err.contains("garbage-marker") && !err.contains("secret-query-value"), "{err}");
    }
    // A certificate the client does not trust.
    issuer.answer(Answer::Set { body: fixture("jwks.json"), cache_control: "max-age=60" });
    let out = decide_with(&url, &[], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = decide_with(&format!("https://127.0.0.1:{closed}/jwks"), &["--ca-file", &ca], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("connection failed"), "{}", text(&out.stderr));
}

#[test]
fn plain_http_only_to_loopback_and_offline_fetches_nothing() {
    let dir = tempdir("fetch-http");
    let issuer = Issuer::start(&dir, false);
    let out = decide_with(&issuer.url("http"), &[], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let before = issuer.fetches.load(Ordering::SeqCst);
    let out = decide_with(&issuer.url("http"), &["--offline"], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("\"reason\":\"unknown_key\""), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("--offline"), "{}", text(&out.stderr));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), before, "--offline opened a connection");

    // A set given by hand is not fetched.
    let jwks = root().join("tests/fixtures/jwks.json");
    let given = format!("clerk={}", jwks.display());
    let out = decide_with(&issuer.url("http"), &["--jwks", &given], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), before);

    let out = decide_with("http://issuer.example/jwks", &[], "clerk_org_admin");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("jwks_url"), "{}", text(&out.stderr));
}

fn fetchml_request(key: &str) -> String {
    format!(r#"{{"method":"GET","path":"/api/v1/status","headers":{{"X-API-Key":"{key}"}},"now":1790000000}}"#)
}

#[test]
fn keygen_add_and_revoke_do_fetchmls_admin_steps() {
    let dir = tempdir("keys");
    std::fs::copy(root().join("examples/policies/fetchml.toml"), dir.join("fetchml.toml")).unwrap();
    let keys = dir.join("fetchml-keys.toml");
    std::fs::copy(root().join("examples/policies/fetchml-keys.toml"), &keys).unwrap();
    let (policy, keys_s) = (dir.join("fetchml.toml"), keys.to_str().unwrap().to_owned());
    let policy_s = policy.to_str().unwrap().to_owned();

    let out =
        admit(&["keygen", "--add", &keys_s, "--id", "frank", "--role", "researcher", "--policy", &policy_s], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let key = printed.lines().find_map(|l| l.strip_prefix("key:")).unwrap().trim().to_owned();
    let file = std::fs::read_to_string(&keys).unwrap();
    assert!(file.contains("TEST FIXTURES ONLY"), "the operator's comments are kept");
    assert!(file.contains(&admit::hash_key(&key)) && !file.contains(&key), "the file holds the digest only");

    let decide = |key: &str| admit(&["decide", "--policy", &policy_s], &[], &fetchml_request(key));
    assert_eq!(decide(&key).status.code(), Some(0));
    let out = admit(&["revoke", &keys_s, "frank", "--policy", &policy_s], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&decide(&key).stdout).contains("\"reason\":\"revoked\""));
    assert!(text(&admit(&["revoke", &keys_s, "frank"], &[], "").stdout).contains("already"));

    // Refused edits leave the file as it was.
    let before = std::fs::read_to_string(&keys).unwrap();
    let refused: Vec<Vec<&str>> = vec![
        vec!["keygen", "--add", &keys_s, "--id", "frank", "--role", "researcher"],
        vec!["keygen", "--add", &keys_s, "--id", "gina", "--role", "reseacher", "--policy", &policy_s],
        vec!["keygen", "--add", &keys_s, "--id", "has space"],
        vec!["revoke", &keys_s, "nobody"],
    ];
    for args in refused {
        let out = admit(&args, &[], "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stdout));
        assert!(!text(&out.stderr).contains(&admit::hash_key(&key)), "{}", text(&out.stderr));
    }
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn a_new_keys_file_is_private_and_check_warns_about_an_exposed_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("perms");
    let keys = dir.join("new-keys.json");
    std::fs::write(&keys, "{\"keys\": []}").unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&keys).unwrap();
    let out = admit(&["keygen", "--add", keys.to_str().unwrap(), "--id", "bob", "--role", "admin"], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);

    std::fs::copy(root().join("examples/policies/fetchml.toml"), dir.join("fetchml.toml")).unwrap();
    let file = dir.join("fetchml-keys.toml");
    std::fs::copy(root().join("examples/policies/fetchml-keys.toml"), &file).unwrap();
    let policy = dir.join("fetchml.toml");
    for (mode, warned) in [(0o600, None), (0o640, None), (0o644, Some("read")), (0o666, Some("written"))] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = admit(&["check", policy.to_str().unwrap()], &[], "");
        assert_eq!(out.status.code(), Some(0));
        let err = text(&out.stderr);
        match warned {
            None => assert!(!err.contains("every user"), "{mode:o}: {err}"),
            Some(w) => assert!(err.contains("every user") && err.contains(w), "{mode:o}: {err}"),
        }
    }
}
