//! Fetching the key sets a policy names with `jwks_url`, by the rules of `admit::fetch`
//! (the same in every host; `docs/policy.md`, "Fetching a key set"): HTTPS, or HTTP to
//! a loopback address; a timeout; a size limit; no redirects. One client for every host
//! written in Rust: the CLI fetches once per run; `admit serve` fetches on tokio's
//! blocking pool and refreshes in the background (`crate::jwks`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use admit::fetch::{MAX_BYTES, TIMEOUT_SECS, check_url};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// A fetched key set: its text and the response's `Cache-Control`, which sets when the
/// next refresh is due ([`admit::fetch::refresh_after`]).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body.
    pub text: String,
    /// The `Cache-Control` header, if the issuer sent one.
    pub cache_control: Option<String>,
}

/// A blocking HTTPS client with the fetch rules applied.
#[derive(Debug)]
pub struct Fetcher {
    agent: ureq::Agent,
}

impl Fetcher {
    /// A fetcher trusting Mozilla's roots, or only the CA certificates of `ca_file` (PEM).
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let roots = match ca_file {
            None => RootCerts::WebPki,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?;
                let certs = parse_pem_certificates(&pem).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
                RootCerts::new_with_certs(&certs)
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(TIMEOUT_SECS)))
            // A redirect could leave HTTPS or the loopback address the URL was checked for.
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent("admit-jwks")
            .build();
        Ok(Fetcher { agent: config.into() })
    }

    /// Fetches one key set's text. The error names the URL without its query or user
    /// information (either may carry a token), never the body.
    pub fn fetch(&self, url: &str) -> Result<Fetched, String> {
        check_url(url)?;
        let shown = shown_url(url);
        let mut response = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("cannot fetch {shown}: {}", describe(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(format!("cannot fetch {shown}: HTTP status {status}"));
        }
        let cache_control = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let limit = u64::try_from(MAX_BYTES).unwrap_or(u64::MAX);
        let text = response.body_mut().with_config().limit(limit).read_to_string().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => format!("the key set at {shown} is larger than {MAX_BYTES} bytes"),
            other => format!("cannot read the key set at {shown}: {}", describe(&other)),
        })?;
        Ok(Fetched { text, cache_control })
    }
}

/// What went wrong, in words that hold no part of the URL's query.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer within {TIMEOUT_SECS} s"),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(_)) => {
                "TLS failed: the issuer's certificate is not trusted (see --ca-file)".to_owned()
            }
            Some(_) => "TLS failed".to_owned(),
            None => format!("connection failed ({})", io.kind()),
        },
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            "TLS failed (is the certificate trusted? see --ca-file)".to_owned()
        }
        other => {
            let text = other.to_string();
            if text.contains('?') || text.contains('@') { "the request failed".to_owned() } else { text }
        }
    }
}

/// `scheme://host[:port]/path`: a URL as errors and logs show it.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "<url>".to_owned() };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}/{path}")
}

/// The certificates of a PEM file.
fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).map_err(|_| "not PEM text".to_owned())?;
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b64 = body.take().ok_or_else(|| "an END line without BEGIN".to_owned())?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "a certificate is not base64".to_owned())?;
            certs.push(Certificate::from_der(&der).to_owned());
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err("no certificate (-----BEGIN CERTIFICATE-----) found".to_owned());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_drop_query_and_user_info() {
        assert_eq!(
            shown_url("https://u:secret@issuer.example:8443/jwks?token=t#f"),
            "https://issuer.example:8443/jwks"
        );
        assert_eq!(shown_url("https://issuer.example"), "https://issuer.example/");
        assert_eq!(shown_url("nonsense"), "<url>");
    }

    #[test]
    fn pem_without_certificates_is_an_error() {
        assert!(parse_pem_certificates(b"hello").is_err());
        assert!(parse_pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
        assert!(parse_pem_certificates(&[0xff, 0xfe]).is_err());
    }
}
