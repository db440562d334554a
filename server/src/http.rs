//! The HTTP listener: the accept loop with its limits, and the endpoints.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::gateway::{self, Answer, Endpoint, Original};
use crate::log;
use crate::state::{self, Shared};

type Body = Full<Bytes>;

/// The prefix of the Envoy HTTP `ext_authz` endpoint (Envoy's `path_prefix`).
const ENVOY_PREFIX: &str = "/auth/envoy";

/// Accepts connections until `stopped`, at most `max_connections` at once (the rest wait
/// in the listen queue), then lets requests in flight finish within the grace period.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let limits = shared.config.limits;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.header_bytes)
        .max_buf_size(limits.header_bytes.max(8192) + 8192);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    log::event("accept_error", &[("error", e.to_string().into())]);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let io = TokioIo::new(Tracked { inner: stream, activity: Arc::clone(&activity) });
        let service = {
            let shared = Arc::clone(&shared);
            let in_flight = Arc::clone(&in_flight);
            hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                let in_flight = Arc::clone(&in_flight);
                async move {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let response = handle(req, &shared, peer).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let conn = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let tick = (limits.idle_timeout / 4).max(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = &mut conn => break,
                    _ = tokio::time::sleep(tick) => {
                        // An idle kept-alive connection is closed; one with a request in
                        // flight is left to its own timeouts.
                        if in_flight.load(Ordering::SeqCst) == 0 && activity.idle_for() >= limits.idle_timeout {
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        log::event("shutdown", &[("result", "grace period over; connections closed".into())]);
    }
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A TCP stream that records its activity, for the idle timeout.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    r
}

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    text(status, "application/json", serde_json::json!({ "error": message }).to_string())
}

async fn handle(req: Request<Incoming>, shared: &Arc<Shared>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => readyz(shared),
        "/metrics" => {
            text(StatusCode::OK, "text/plain; version=0.0.4", shared.metrics.render(state::now(&shared.config)))
        }
        "/v1/decide" => decide_api(req, shared).await,
        "/auth/nginx" => forward(&req, shared, peer.ip(), Endpoint::Nginx),
        "/auth/forward" => forward(&req, shared, peer.ip(), Endpoint::Forward),
        p if p == ENVOY_PREFIX || p.starts_with("/auth/envoy/") => {
            forward(&req, shared, peer.ip(), Endpoint::EnvoyHttp)
        }
        _ => json_error(StatusCode::NOT_FOUND, "no such endpoint (see server/README.md)"),
    }
}

fn readyz(shared: &Shared) -> Response<Body> {
    let status = state::lock(&shared.reload_status).clone();
    let generation = shared.current.load().generation;
    let ready = shared.ready();
    let body = serde_json::json!({
        "ready": ready.is_ok(),
        "reason": ready.as_ref().err(),
        "generation": generation,
        "last_reload_error": status.error(),
        "last_reload_success": status.last_success,
    });
    let code = if ready.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    text(code, "application/json", body.to_string())
}

async fn decide_api(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    if req.method() != Method::POST {
        let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, "POST a request JSON to /v1/decide");
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let limit = shared.config.limits.body_bytes;
    let too_large =
        || json_error(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request JSON is larger than {limit} bytes"));
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        shared.metrics.bad_request("decide");
        return too_large();
    }
    let body = Limited::new(req.into_body(), limit);
    let collected = match tokio::time::timeout(shared.config.limits.header_timeout, body.collect()).await {
        Err(_) => {
            shared.metrics.bad_request("decide");
            return json_error(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time");
        }
        Ok(Err(e)) => {
            shared.metrics.bad_request("decide");
            return if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large()
            } else {
                json_error(StatusCode::BAD_REQUEST, "the request body could not be read")
            };
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    let Ok(text_body) = std::str::from_utf8(&collected) else {
        shared.metrics.bad_request("decide");
        return json_error(StatusCode::BAD_REQUEST, "the request JSON is not UTF-8");
    };
    let owned = match admit::OwnedRequest::from_json(text_body) {
        Ok(r) => r,
        Err(e) => {
            shared.metrics.bad_request("decide");
            return json_error(StatusCode::BAD_REQUEST, &format!("not a request JSON: {}", without_values(&e)));
        }
    };
    let headers = owned.header_bytes();
    let decision = gateway::decide_given(shared, &owned.as_request(&headers));
    text(StatusCode::OK, "application/json", decision.to_json())
}

/// A parser's message without the values it may quote (`invalid type: string "Bearer
/// ..."`): a request's header values are credentials.
fn without_values(message: &str) -> String {
    if message.contains("invalid type") || message.contains("invalid value") || message.contains("invalid length") {
        let place = message.rfind(" at line ").and_then(|at| message.get(at..)).unwrap_or("");
        format!("a field has the wrong type or value{place}")
    } else {
        message.to_owned()
    }
}

/// One header's single value as text; `Err` when repeated or not UTF-8.
fn single<'r>(req: &'r Request<Incoming>, name: &str) -> Result<Option<&'r str>, String> {
    let mut values = req.headers().get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(format!("`{name}` is given more than once"));
    }
    // nginx's `$request_uri` is the raw target: UTF-8 is passed on for the core to judge.
    std::str::from_utf8(first.as_bytes()).map(Some).map_err(|_| format!("`{name}` is not UTF-8"))
}

/// The original method and target of a forward-auth request, by endpoint convention.
fn original_line(req: &Request<Incoming>, endpoint: Endpoint) -> Result<(String, String), String> {
    let from_headers = |method: &str, uri: &str| -> Result<(String, String), String> {
        // Missing is the gateway's misconfiguration; an empty value is the core's to judge.
        let m = single(req, method)?.ok_or_else(|| format!("`{method}` is missing"))?;
        let u = single(req, uri)?.ok_or_else(|| format!("`{uri}` is missing"))?;
        Ok((m.to_owned(), u.to_owned()))
    };
    match endpoint {
        // ingress-nginx sends only `X-Original-URL` (`$scheme://$http_host$request_uri`):
        // where the client's Host ends and the target begins cannot be told for sure, so
        // it is not read; its auth-snippet adds `X-Original-URI` (docs/deploy.md).
        Endpoint::Nginx if req.headers().contains_key("x-original-url") && !req.headers().contains_key("x-original-uri") => {
            Err("`x-original-uri` is missing (X-Original-URL is not read: set X-Original-URI to $request_uri, docs/deploy.md)".to_owned())
        }
        Endpoint::Nginx => from_headers("x-original-method", "x-original-uri"),
        Endpoint::Forward => from_headers("x-forwarded-method", "x-forwarded-uri"),
        _ => {
            let raw = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let rest = raw.get(ENVOY_PREFIX.len()..).unwrap_or("");
            let target = if rest.starts_with('/') { rest.to_owned() } else { format!("/{rest}") };
            Ok((req.method().as_str().to_owned(), target))
        }
    }
}

fn forward(req: &Request<Incoming>, shared: &Arc<Shared>, peer: IpAddr, endpoint: Endpoint) -> Response<Body> {
    let prefix = &shared.config.identity_prefix;
    let decision = match original_line(req, endpoint) {
        Ok((method, target)) => {
            let headers: Vec<(&[u8], &[u8])> =
                req.headers().iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect();
            let original =
                Original { method: &method, target: &target, headers, tcp_peer: peer, reported_client: None };
            gateway::decide_original(shared, endpoint, original)
        }
        Err(why) => {
            shared.metrics.bad_request(endpoint.name());
            shared.current.load().engine.malformed(&why)
        }
    };
    respond(gateway::answer(endpoint, prefix, &decision))
}

fn respond(answer: Answer) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(answer.body)));
    *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FORBIDDEN);
    for (name, value) in &answer.headers {
        // from_bytes, not from_str: a UTF-8 subject (`José`) is a valid header value.
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_bytes())) {
            r.headers_mut().append(n, v);
        }
    }
    r
}
