//! Helpers for the server's tests: a raw HTTP/1.1 client (it sends exactly the bytes a
//! test means, duplicates and oversize headers included), and starting the server.

#![allow(dead_code, reason = "each test file uses the helpers it needs")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
    }
}

/// The bytes of a request with `Connection: close`.
pub fn request_bytes(method: &str, target: &str, headers: &[(String, String)], body: Option<&str>) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(b) = body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b.as_bytes());
    }
    out
}

/// Sends `bytes` on a new connection and reads the reply to the end of the connection.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (431, 413) and close before it has read everything.
    let _ = stream.write_all(bytes).await;
    read_reply(&mut stream).await
}

/// Reads one reply until the server closes the connection.
pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await;
    parse_reply(&raw).unwrap_or_else(|| panic!("not an HTTP reply: {:?}", String::from_utf8_lossy(&raw)))
}

/// Parses a reply with a Content-Length (or none) body.
pub fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = raw.get(split + 4..)?;
    let len = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match len {
        Some(n) => rest.get(..n.min(rest.len()))?,
        None => rest,
    };
    Some(Reply { status, headers, body: String::from_utf8_lossy(body).into_owned() })
}

/// A GET without extra headers.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(addr, &request_bytes("GET", path, &[], None)).await
}

/// A POST of a body to `/v1/decide`.
pub async fn post_decide(addr: SocketAddr, body: &str) -> Reply {
    exchange(addr, &request_bytes("POST", "/v1/decide", &[], Some(body))).await
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admit-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A configuration on ephemeral ports that polls files every 100 ms.
pub fn config(policy: &Path) -> admit_server::Config {
    let mut c = admit_server::Config::new(policy.to_path_buf());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.poll_interval = Duration::from_millis(100);
    c.env = Some(Default::default());
    c
}

/// Polls `probe` until it returns true (every 50 ms, at most 20 s); false when it never did.
pub async fn eventually<F, Fut>(mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The value of a metric line (`name{labels}` exactly as printed), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}
