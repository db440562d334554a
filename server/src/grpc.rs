//! Envoy `ext_authz` over gRPC: `envoy.service.auth.v3.Authorization/Check`.
//!
//! The original request is `attributes.request.http` (method, path with its query,
//! headers with `:authority`); the client address is `attributes.source`, believed only
//! when Envoy's own address is a trusted proxy, as with forwarded HTTP headers.

use std::net::IpAddr;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{
    Address, Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::rpc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::{self, Endpoint, Original};
use crate::log;
use crate::state::Shared;

/// gRPC status codes (google.rpc.Code).
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;

struct Service {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Authorization for Service {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let tcp_peer = request.remote_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        Ok(tonic::Response::new(check(&self.shared, tcp_peer, request.get_ref())))
    }
}

/// The reply to one `CheckRequest`.
fn check(shared: &Arc<Shared>, tcp_peer: IpAddr, request: &CheckRequest) -> CheckResponse {
    let attributes = request.attributes.as_ref();
    let http = attributes.and_then(|a| a.request.as_ref()).and_then(|r| r.http.as_ref());
    let reported_client = attributes
        .and_then(|a| a.source.as_ref())
        .and_then(|s| s.address.as_ref())
        .and_then(|a| a.address.as_ref())
        .and_then(|a| match a {
            Address::SocketAddress(s) => Some(s.address.as_str()),
            _ => None,
        });
    let prefix = shared.config.identity_prefix.as_str();
    let (decision, client_names) = match http {
        Some(http) => {
            // Envoy puts the headers in `headers`, or in `header_map` when asked to send
            // raw values; pseudo-headers are not the client's, except `:authority` (Host).
            let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
            for (name, value) in &http.headers {
                pairs.push((name.as_bytes(), value.as_bytes()));
            }
            if let Some(map) = &http.header_map {
                for h in &map.headers {
                    let value = if h.raw_value.is_empty() { h.value.as_bytes() } else { h.raw_value.as_slice() };
                    pairs.push((h.key.as_bytes(), value));
                }
            }
            // `:authority` is the Host; any other pseudo-header is Envoy's, not the client's.
            for (name, _) in &mut pairs {
                if *name == b":authority" {
                    *name = b"host";
                }
            }
            pairs.retain(|(n, _)| !n.starts_with(b":"));
            let names: Vec<String> = pairs.iter().map(|(n, _)| String::from_utf8_lossy(n).into_owned()).collect();
            let original =
                Original { method: &http.method, target: &http.path, headers: pairs, tcp_peer, reported_client };
            (gateway::decide_original(shared, Endpoint::EnvoyGrpc, original), names)
        }
        _ => {
            shared.metrics.bad_request(Endpoint::EnvoyGrpc.name());
            let d = shared.current.load().engine.malformed("the CheckRequest has no attributes.request.http");
            (d, Vec::new())
        }
    };
    let answer = gateway::answer(Endpoint::EnvoyGrpc, prefix, &decision);
    let own: Vec<HeaderValueOption> = decision.headers.iter().map(|(n, v)| option(n, v)).collect();
    if decision.allow && answer.status == 200 {
        let identity = gateway::identity_headers(prefix, &decision);
        // Client-sent copies of identity headers that this decision does not set are
        // removed; those it sets are overwritten.
        let lower = prefix.to_ascii_lowercase();
        let headers_to_remove = client_names
            .into_iter()
            .filter(|n| n.to_ascii_lowercase().starts_with(&lower))
            .filter(|n| !identity.iter().any(|(i, _)| i.eq_ignore_ascii_case(n)))
            .collect();
        let ok = OkHttpResponse {
            headers: identity.iter().map(|(n, v)| option(n, v)).collect(),
            headers_to_remove,
            response_headers_to_add: own,
            ..Default::default()
        };
        return CheckResponse {
            status: Some(rpc::Status { code: OK, ..Default::default() }),
            http_response: Some(HttpResponse::OkResponse(ok)),
            ..Default::default()
        };
    }
    let code = if answer.status == 401 { UNAUTHENTICATED } else { PERMISSION_DENIED };
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: i32::from(answer.status) }),
        headers: answer.headers.iter().map(|(n, v)| option(n, v)).collect(),
        body: answer.body,
    };
    CheckResponse {
        status: Some(rpc::Status { code, message: decision.reason.as_str().to_owned(), ..Default::default() }),
        http_response: Some(HttpResponse::DeniedResponse(denied)),
        ..Default::default()
    }
}

fn option(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key: name.to_owned(), value: value.to_owned(), ..Default::default() }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// Serves gRPC until `stopped`; requests in flight finish.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let service = AuthorizationServer::new(Service { shared: Arc::clone(&shared) });
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let limits = shared.config.limits;
    let server = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(256)
        .timeout(limits.header_timeout)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopped.changed().await;
        });
    if let Err(e) = server.await {
        log::event("grpc_error", &[("error", e.to_string().into())]);
    }
}
