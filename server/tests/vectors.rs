//! Every shared vector (`tests/vectors/`) through the real server on 127.0.0.1: the
//! decision API, the three HTTP forward-auth endpoints and gRPC `ext_authz`. `/v1/decide`
//! must give the vector's decision; each gateway endpoint must give the answer its
//! convention makes of that decision (status, headers, body, identity headers).
//!
//! Counted, not silent: vectors with `checks` (a host's check of `delegated`
//! credentials; the server has no check hook) are skipped, and so are the endpoint runs
//! of cases no gateway can send (control characters in a header, a target that is not
//! an origin-form path). A case whose head is over the server's header limit must be
//! answered 431 by the HTTP endpoints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "a test harness: a failed expectation should stop it loudly"
)]

mod common;
#[path = "../../tests/support/vectors.rs"]
mod vectors;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::{Reply, exchange, request_bytes};
use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::Address as CoreAddress;
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request as AttrRequest};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::Value;
use vectors::{check, key_files, vector_files};

const PREFIX: &str = "x-admit-";

#[derive(Default)]
struct Tally {
    cases: usize,
    endpoint_runs: usize,
    skipped_checks: usize,
    not_sendable: usize,
    needs_no_peer: usize,
    oversize: usize,
    failures: Vec<String>,
}

/// A header name a gateway can send: an HTTP token.
fn token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value a gateway can send: no control characters but tab.
fn field_value(s: &str) -> bool {
    !s.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f)
}

/// The answer an endpoint must give for decision `d`: checks `reply` and returns what differs.
fn compare_http(endpoint: &str, d: &Value, expect: &Value, reply: &Reply, head_request: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let allow = d["allow"] == Value::Bool(true);
    let status = d["status"].as_u64().unwrap() as u16;
    let pairs: Vec<(String, String)> = d["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
        .collect();
    let want_status = if allow {
        200
    } else if endpoint == "nginx" && !matches!(status, 401 | 403) {
        if reply.header("x-admit-status") != Some(&status.to_string()) {
            errors.push(format!("X-Admit-Status: want {status}, got {:?}", reply.header("x-admit-status")));
        }
        403
    } else {
        status
    };
    if reply.status != want_status {
        errors.push(format!("status: want {want_status}, got {} ({})", reply.status, reply.body));
    }
    for (n, v) in &pairs {
        if !reply.has(n, v) {
            errors.push(format!("header {n}: {v} missing"));
        }
    }
    for n in expect.get("absent_headers").and_then(Value::as_array).into_iter().flatten() {
        if reply.header(n.as_str().unwrap()).is_some() {
            errors.push(format!("header {n} should be absent"));
        }
    }
    if allow {
        errors.extend(compare_identity(d, &reply.headers));
    } else {
        let body = if head_request { "" } else { d["body"].as_str().unwrap_or("") };
        if reply.body != body {
            errors.push(format!("body: want {body:?}, got {:?}", reply.body));
        }
        if reply.headers.iter().any(|(n, _)| n.starts_with(PREFIX) && n != "x-admit-status") {
            errors.push("identity headers on a refusal".to_owned());
        }
    }
    errors
}

/// The identity headers an allowed decision `d` must carry, and no others.
fn compare_identity(d: &Value, headers: &[(String, String)]) -> Vec<String> {
    let mut want: Vec<(String, String)> = Vec::new();
    if let Some(p) = d["principal"].as_object() {
        let join = |k: &str| p[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(",");
        want.push(("x-admit-subject".into(), p["id"].as_str().unwrap().into()));
        want.push(("x-admit-authenticator".into(), p["authenticator"].as_str().unwrap().into()));
        want.push(("x-admit-roles".into(), join("roles")));
        want.push(("x-admit-scopes".into(), join("scopes")));
    }
    for (k, v) in d["constraints"].as_object().unwrap() {
        let name: Vec<String> = k.split(['_', '-']).filter(|w| !w.is_empty()).map(str::to_ascii_lowercase).collect();
        want.push((format!("x-admit-constraint-{}", name.join("-")), v.as_str().unwrap().into()));
    }
    if d["dry_run"] == Value::Bool(true) {
        want.push(("x-admit-dry-run".into(), "true".into()));
    }
    let mut got: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with(PREFIX))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    got.sort();
    want.sort();
    if got != want { vec![format!("identity headers: want {want:?}, got {got:?}")] } else { Vec::new() }
}

fn grpc_request(req: &Value, peer: &str) -> CheckRequest {
    let headers: Vec<(String, String)> = req["headers"]
        .as_array()
        .map(|a| a.iter().map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned())).collect())
        .or_else(|| {
            req["headers"].as_object().map(|o| {
                o.iter()
                    .flat_map(|(k, v)| match v {
                        Value::Array(vs) => vs.iter().map(|x| (k.clone(), x.as_str().unwrap().to_owned())).collect(),
                        other => vec![(k.clone(), other.as_str().unwrap().to_owned())],
                    })
                    .collect()
            })
        })
        .unwrap_or_default();
    let method = req["method"].as_str().unwrap().to_owned();
    let path = req["path"].as_str().unwrap().to_owned();
    let host = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone());
    // Envoy's map: lowercase names, pseudo-headers (the first Host is `:authority`); with
    // repeated names, the raw list.
    let mut lower: Vec<(String, String)> = Vec::new();
    let mut first_host = true;
    for (n, v) in &headers {
        if n.eq_ignore_ascii_case("host") && first_host {
            first_host = false;
            lower.push((":authority".into(), v.clone()));
        } else {
            lower.push((n.to_ascii_lowercase(), v.clone()));
        }
    }
    lower.push((":method".into(), method.clone()));
    lower.push((":path".into(), path.clone()));
    let mut names: Vec<&String> = lower.iter().map(|(n, _)| n).collect();
    names.sort();
    let repeated = names.windows(2).any(|w| w[0] == w[1]);
    let mut http =
        HttpRequest { method, path, host: host.unwrap_or_default(), protocol: "HTTP/1.1".into(), ..Default::default() };
    if repeated {
        http.header_map = Some(HeaderMap {
            headers: lower
                .into_iter()
                .map(|(key, value)| HeaderValue { key, raw_value: value.into_bytes(), ..Default::default() })
                .collect(),
        });
    } else {
        http.headers = lower.into_iter().collect::<HashMap<_, _>>();
    }
    let source = Peer {
        address: Some(CoreAddress {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: peer.to_owned(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(40000)),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(source),
            request: Some(AttrRequest { http: Some(http), ..Default::default() }),
            ..Default::default()
        }),
    }
}

fn compare_grpc(d: &Value, reply: &envoy_types::ext_authz::v3::pb::CheckResponse) -> Vec<String> {
    let mut errors = Vec::new();
    let pairs: Vec<(String, String)> = d["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
        .collect();
    let flat = |opts: &[envoy_types::ext_authz::v3::pb::HeaderValueOption]| -> Vec<(String, String)> {
        opts.iter().filter_map(|o| o.header.as_ref()).map(|h| (h.key.clone(), h.value.clone())).collect()
    };
    match (&reply.http_response, d["allow"] == Value::Bool(true)) {
        (Some(HttpResponse::OkResponse(ok)), true) => {
            if reply.status.as_ref().map(|s| s.code) != Some(0) {
                errors.push("allowed with a status other than OK".into());
            }
            let to_client = flat(&ok.response_headers_to_add);
            for (n, v) in &pairs {
                if !to_client.iter().any(|(gn, gv)| gn.eq_ignore_ascii_case(n) && gv == v) {
                    errors.push(format!("response header {n}: {v} missing"));
                }
            }
            errors.extend(compare_identity(d, &flat(&ok.headers)));
        }
        (Some(HttpResponse::DeniedResponse(denied)), false) => {
            let status = d["status"].as_u64().unwrap() as i32;
            if denied.status.as_ref().map(|s| s.code) != Some(status) {
                errors.push(format!("status: want {status}, got {:?}", denied.status));
            }
            let got = flat(&denied.headers);
            for (n, v) in &pairs {
                if !got.iter().any(|(gn, gv)| gn.eq_ignore_ascii_case(n) && gv == v) {
                    errors.push(format!("header {n}: {v} missing"));
                }
            }
            let body = d["body"].as_str().unwrap_or("");
            if denied.body != body {
                errors.push(format!("body: want {body:?}, got {:?}", denied.body));
            }
        }
        (other, allow) => errors.push(format!("allow {allow}, but the reply is {other:?}")),
    }
    errors
}

fn case_headers(req: &Value) -> Vec<(String, String)> {
    match &req["headers"] {
        Value::Array(a) => {
            a.iter().map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned())).collect()
        }
        Value::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match v {
                Value::Array(vs) => vs.iter().map(|x| (k.clone(), x.as_str().unwrap().to_owned())).collect(),
                other => vec![(k.clone(), other.as_str().unwrap().to_owned())],
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_vectors_through_every_endpoint() {
    let mut tally = Tally::default();
    let limit = admit_server::Limits::default().header_bytes;
    for vector in vector_files() {
        let name = &vector.name;
        let scratch = common::scratch(&format!("vectors-{name}"));
        let mut config = common::config(&vector.policy);
        config.env = Some(vector.env.clone());
        config.grpc = Some("127.0.0.1:0".parse().unwrap());
        // The test's own address is the trusted proxy: a case's `peer` travels in
        // X-Forwarded-For (and gRPC's source address).
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        for (field, id, file) in key_files(&vector, &scratch) {
            if field == "jwks" { config.jwks.push((id, file)) } else { config.keys.push((id, file)) }
        }
        if let Some(text) = vector.doc.get("expect_load_error").and_then(Value::as_str) {
            tally.cases += 1;
            match admit_server::start(config).await {
                Ok(_) => tally.failures.push(format!("{name}: the server started; want a load error with `{text}`")),
                Err(e) if !e.contains(text) => tally.failures.push(format!("{name}: load error `{e}` lacks `{text}`")),
                Err(_) => {}
            }
            continue;
        }
        let cases = vector.doc["cases"].as_array().unwrap();
        if vector.doc.get("checks").is_some() {
            tally.skipped_checks += cases.len();
            continue;
        }
        let now = cases.first().map_or(0, |c| c["request"]["now"].as_i64().unwrap());
        assert!(cases.iter().all(|c| c["request"]["now"].as_i64() == Some(now)), "{name}: one `now` per file");
        config.fixed_now = Some(now);
        let running = admit_server::start(config).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let (http, grpc): (SocketAddr, SocketAddr) = (running.http, running.grpc.unwrap());
        let mut client = AuthorizationClient::connect(format!("http://{grpc}")).await.unwrap();
        for case in cases {
            tally.cases += 1;
            let cname = format!("{name} / {}", case["name"].as_str().unwrap_or("?"));
            let req = &case["request"];
            let expect = &case["expect"];
            // The decision API: the vector's request as it is.
            let reply = common::post_decide(http, &req.to_string()).await;
            let got: Value = match serde_json::from_str(&reply.body) {
                Ok(v) if reply.status == 200 => v,
                _ => {
                    tally.failures.push(format!("{cname}: /v1/decide {} {}", reply.status, reply.body));
                    continue;
                }
            };
            let errors = check(expect, &got);
            if !errors.is_empty() {
                tally.failures.push(format!("{cname}: /v1/decide:\n    {}", errors.join("\n    ")));
                continue;
            }
            // Through a gateway the server always knows a peer: the case's, or the TCP
            // peer (127.0.0.1). The decision for that peer must still be the vector's.
            let peer = req["peer"].as_str().unwrap_or("127.0.0.1").to_owned();
            let mut with_peer = req.clone();
            with_peer["peer"] = Value::String(peer.clone());
            let d: Value = serde_json::from_str(&common::post_decide(http, &with_peer.to_string()).await.body).unwrap();
            let errors = check(expect, &d);
            if !errors.is_empty() {
                if req.get("peer").is_none() {
                    // A decision about a request with no peer at all, which no gateway sends.
                    tally.needs_no_peer += 1;
                } else {
                    tally.failures.push(format!("{cname}: with peer {peer}:\n    {}", errors.join("\n    ")));
                }
                continue;
            }
            let method = req["method"].as_str().unwrap();
            let path = req["path"].as_str().unwrap();
            let headers = case_headers(req);
            let sendable =
                token(method) && field_value(path) && headers.iter().all(|(n, v)| token(n) && field_value(v));
            if !sendable {
                tally.not_sendable += 1;
                continue;
            }
            let mut runs: Vec<(&str, Vec<u8>)> = Vec::new();
            let forwarded = |extra: [(&str, &str); 2]| {
                let mut h: Vec<(String, String)> =
                    extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
                h.push(("X-Forwarded-For".into(), peer.clone()));
                h.extend(headers.iter().cloned());
                h
            };
            runs.push((
                "forward",
                request_bytes(
                    "GET",
                    "/auth/forward",
                    &forwarded([("X-Forwarded-Method", method), ("X-Forwarded-Uri", path)]),
                    None,
                ),
            ));
            runs.push((
                "nginx",
                request_bytes(
                    "GET",
                    "/auth/nginx",
                    &forwarded([("X-Original-Method", method), ("X-Original-URI", path)]),
                    None,
                ),
            ));
            // Envoy sends the original path after its prefix: only an origin-form target
            // (no fragment: clients do not send one).
            if path.starts_with('/') && !path.contains('#') && path.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                let mut h = vec![("X-Forwarded-For".to_owned(), peer.clone())];
                h.extend(headers.iter().cloned());
                runs.push(("envoy", request_bytes(method, &format!("/auth/envoy{path}"), &h, None)));
            } else {
                tally.not_sendable += 1;
            }
            for (endpoint, bytes) in runs {
                tally.endpoint_runs += 1;
                let reply = exchange(http, &bytes).await;
                let head = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(bytes.len());
                let errors = if head > limit {
                    tally.oversize += 1;
                    if reply.status == 431 {
                        Vec::new()
                    } else {
                        vec![format!("a {head}-byte head: want 431, got {}", reply.status)]
                    }
                } else {
                    // A reply to HEAD has no body (the Envoy endpoint answers the method itself).
                    let head_request = endpoint == "envoy" && method == "HEAD";
                    compare_http(endpoint, &d, expect, &reply, head_request)
                };
                if !errors.is_empty() {
                    tally.failures.push(format!("{cname}: /auth/{endpoint}:\n    {}", errors.join("\n    ")));
                }
            }
            tally.endpoint_runs += 1;
            match client.check(grpc_request(req, &peer)).await {
                Ok(reply) => {
                    let errors = compare_grpc(&d, reply.get_ref());
                    if !errors.is_empty() {
                        tally.failures.push(format!("{cname}: gRPC:\n    {}", errors.join("\n    ")));
                    }
                }
                Err(status) => tally.failures.push(format!("{cname}: gRPC error {status}")),
            }
        }
        running.shutdown().await;
        let _ = std::fs::remove_dir_all(&scratch);
    }
    eprintln!(
        "{} vector cases; {} endpoint answers compared; skipped: {} cases of vectors with `checks` (no check hook in the server), {} cases about a request without a peer (a gateway always has one), {} endpoint runs of requests no gateway can send; {} oversize heads answered 431",
        tally.cases, tally.endpoint_runs, tally.skipped_checks, tally.needs_no_peer, tally.not_sendable, tally.oversize
    );
    assert!(tally.failures.is_empty(), "{} failures:\n{}", tally.failures.len(), tally.failures.join("\n"));
    assert!(tally.endpoint_runs > 1000, "too few endpoint runs: {}", tally.endpoint_runs);
}
