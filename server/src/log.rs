//! The decision log (JSON lines, no secrets) and operational events (JSON lines on
//! stderr).

use std::io::Write;
use std::sync::Mutex;

use admit::Decision;
use serde_json::{Map, Value};

use crate::config::LogTarget;
use crate::state::lock;

/// Where decisions are written, one JSON object per line.
pub(crate) struct DecisionLog {
    out: Mutex<Box<dyn Write + Send>>,
}

/// What the log says about one decision besides the decision itself.
pub(crate) struct Entry<'a> {
    pub ts: i64,
    pub method: &'a str,
    /// The canonical path, without the query (which may carry a key).
    pub path: &'a str,
    pub endpoint: &'static str,
    pub latency_us: u64,
}

impl DecisionLog {
    pub fn open(target: &LogTarget) -> Result<Self, String> {
        let out: Box<dyn Write + Send> = match target {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open the decision log {}: {e}", path.display()))?,
            ),
        };
        Ok(DecisionLog { out: Mutex::new(out) })
    }

    /// Writes one line. Names no header value, token or key: the principal's id, the
    /// authenticator, the rule and the reason are the policy's words or the id a key or
    /// token stands for.
    pub fn write(&self, entry: &Entry<'_>, decision: &Decision) {
        let mut line = Map::new();
        line.insert("ts".into(), entry.ts.into());
        line.insert("endpoint".into(), entry.endpoint.into());
        line.insert("method".into(), entry.method.into());
        line.insert("path".into(), entry.path.into());
        line.insert("status".into(), decision.status.into());
        line.insert("allow".into(), decision.allow.into());
        line.insert("reason".into(), decision.reason.as_str().into());
        line.insert("rule".into(), decision.rule.as_deref().map_or(Value::Null, Value::from));
        let principal = decision.principal.as_deref();
        line.insert("principal".into(), principal.map_or(Value::Null, |p| p.id.as_str().into()));
        line.insert("authenticator".into(), principal.map_or(Value::Null, |p| p.authenticator.as_str().into()));
        line.insert("dry_run".into(), decision.dry_run.into());
        line.insert("latency_us".into(), entry.latency_us.into());
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let mut out = lock(&self.out);
        // A full disk must not stop decisions; the metrics still count them.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// One operational event (`reload`, `jwks_fetch`, `shutdown`...) as a JSON line on stderr.
pub(crate) fn event(kind: &str, fields: &[(&str, Value)]) {
    let mut line = Map::new();
    line.insert("event".into(), kind.into());
    for (k, v) in fields {
        line.insert((*k).to_owned(), v.clone());
    }
    stderr_line(&Value::Object(line).to_string());
}

#[expect(clippy::print_stderr, reason = "the server reports to stderr")]
pub(crate) fn stderr_line(line: &str) {
    eprintln!("{line}");
}
