//! How a denial is answered: status, message, body and challenge for each reason,
//! precomputed at load so a decision only copies reference-counted text.

use std::sync::Arc;

use crate::decision::{push_json_str, push_u16};
use crate::error::PolicyError;
use crate::policy::ResponsesSpec;
use crate::reason::Reason;

/// The answer for one reason.
#[derive(Debug, Clone)]
pub(crate) struct ReasonResponse {
    pub status: u16,
    pub message: Arc<str>,
    /// True when the policy wrote the message: it then replaces the specific detail.
    pub message_fixed: bool,
    pub challenge: bool,
    /// The body rendered with the fixed message, when the message is fixed.
    pub body: Option<Arc<str>>,
}

/// The body format.
#[derive(Debug, Clone)]
pub(crate) enum BodyFormat {
    None,
    Text,
    /// A JSON template, split at load at its `{message}`, `{status}` and `{reason}`.
    Json(Vec<TemplatePart>),
}

/// A piece of a JSON body template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemplatePart {
    Text(String),
    Message,
    Reason,
    Status,
}

#[derive(Debug, Clone)]
pub(crate) struct Responses {
    by_reason: Vec<ReasonResponse>,
    pub body: BodyFormat,
    /// `Bearer`, another scheme, or `None` for no challenge.
    pub scheme: Option<String>,
    pub realm: String,
    pub content_type: Option<Arc<str>>,
}

/// Splits a template at its placeholders, left to right.
fn template_parts(template: &str) -> Vec<TemplatePart> {
    const PLACEHOLDERS: [(&str, TemplatePart); 3] =
        [("{message}", TemplatePart::Message), ("{reason}", TemplatePart::Reason), ("{status}", TemplatePart::Status)];
    let mut parts = Vec::new();
    let mut rest = template;
    loop {
        let next = PLACEHOLDERS
            .iter()
            .filter_map(|(name, part)| rest.find(name).map(|at| (at, *name, part)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, name, part)) = next else { break };
        let (before, after) = rest.split_at(at);
        if !before.is_empty() {
            parts.push(TemplatePart::Text(before.to_owned()));
        }
        parts.push(part.clone());
        rest = after.get(name.len()..).unwrap_or_default();
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    parts
}

impl BodyFormat {
    fn parse(text: Option<&str>) -> Result<Self, String> {
        Ok(match text {
            None | Some("none") => BodyFormat::None,
            Some("text") => BodyFormat::Text,
            Some("fastapi") => BodyFormat::Json(template_parts("{\"detail\": {message}}")),
            Some(t) => {
                let format = BodyFormat::Json(template_parts(t));
                let probe = format.render("m", 400, Reason::Ok).unwrap_or_default();
                serde_json::from_slice::<serde_json::Value>(probe.as_bytes())
                    .map_err(|e| format!("body must be `none`, `text`, `fastapi` or a JSON template ({e})"))?;
                format
            }
        })
    }

    /// The body for a denial. The template is filled in one pass: a message that itself
    /// holds `{reason}` or `{status}` (a host's detail, a request's CORS method) is
    /// written as text, never filled in, so the body stays the template's JSON.
    pub fn render(&self, message: &str, status: u16, reason: Reason) -> Option<Arc<str>> {
        match self {
            BodyFormat::None => None,
            BodyFormat::Text => Some(Arc::from(message)),
            BodyFormat::Json(parts) => {
                let mut out = String::with_capacity(64 + message.len());
                for part in parts {
                    match part {
                        TemplatePart::Text(t) => out.push_str(t),
                        TemplatePart::Message => push_json_str(&mut out, message),
                        TemplatePart::Reason => push_json_str(&mut out, reason.as_str()),
                        TemplatePart::Status => push_u16(&mut out, status),
                    }
                }
                Some(Arc::from(out))
            }
        }
    }
}

/// Keeps only what may stand in a quoted-string of a challenge (RFC 6750 section 3:
/// `error_description` is printable ASCII without `"` and `\`).
fn challenge_text(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii() && !c.is_ascii_control() && *c != '"' && *c != '\\').collect()
}

impl Responses {
    pub fn compile(spec: &ResponsesSpec, realm: Option<&str>, errors: &mut Vec<PolicyError>) -> Self {
        let body = BodyFormat::parse(spec.body.as_deref()).unwrap_or_else(|e| {
            errors.push(PolicyError::new("responses.body", e));
            BodyFormat::None
        });
        let scheme = match spec.challenge.as_deref() {
            None => Some("Bearer".to_owned()),
            Some("none") => None,
            Some(s) if !s.is_empty() && crate::routes::is_method_token(s) => Some(s.to_owned()),
            Some(s) => {
                errors.push(PolicyError::new("responses.challenge", format!("`{s}` is not a scheme name")));
                None
            }
        };
        for code in spec.reasons.keys() {
            if Reason::from_code(code).is_none() {
                errors.push(PolicyError::new(
                    format!("responses.reasons.{code}"),
                    format!("`{code}` is not a reason code"),
                ));
            }
        }
        let mut by_reason = Vec::new();
        for reason in Reason::ALL {
            let o = spec.reasons.get(reason.as_str());
            let status = o.and_then(|o| o.status).unwrap_or(reason.default_status());
            if !(100..=599).contains(&status) {
                errors.push(PolicyError::new(
                    format!("responses.reasons.{}.status", reason.as_str()),
                    format!("{status} is not an HTTP status"),
                ));
            }
            let fixed = o.and_then(|o| o.message.clone());
            let message: Arc<str> = Arc::from(fixed.as_deref().unwrap_or(reason.default_message()));
            let challenge = o.and_then(|o| o.challenge).unwrap_or(
                reason.challenge_error().is_some() && (status == 401 || reason.challenge_error() != Some("")),
            );
            let rendered = body.render(&message, status, reason);
            by_reason.push(ReasonResponse {
                status,
                message,
                message_fixed: fixed.is_some(),
                challenge,
                body: rendered,
            });
        }
        let content_type = match body {
            BodyFormat::None => None,
            BodyFormat::Text => Some(Arc::from("text/plain; charset=utf-8")),
            BodyFormat::Json(_) => Some(Arc::from("application/json")),
        };
        Responses { by_reason, body, scheme, realm: challenge_text(realm.unwrap_or("admit")), content_type }
    }

    pub fn get(&self, reason: Reason) -> Option<&ReasonResponse> {
        // `by_reason` is built in the order of `Reason::ALL`, which is declaration order.
        self.by_reason.get(reason as usize)
    }

    /// The `WWW-Authenticate` value for a denial, if it gets one.
    pub fn challenge(&self, reason: Reason, detail: &str, scopes: &[String]) -> Option<String> {
        let scheme = self.scheme.as_deref()?;
        let error = reason.challenge_error()?;
        let mut v = format!("{scheme} realm=\"{}\"", self.realm);
        if !error.is_empty() {
            v.push_str(&format!(", error=\"{error}\""));
            let d = challenge_text(detail);
            if !d.is_empty() {
                v.push_str(&format!(", error_description=\"{d}\""));
            }
        }
        if reason == Reason::InsufficientScope && !scopes.is_empty() {
            v.push_str(&format!(", scope=\"{}\"", challenge_text(&scopes.join(" "))));
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ReasonResponseSpec;

    #[test]
    fn fastapi_bodies_and_overrides() {
        let mut spec = ResponsesSpec { body: Some("fastapi".into()), ..Default::default() };
        spec.reasons.insert(
            "invalid_credentials".into(),
            ReasonResponseSpec {
                status: Some(403),
                message: Some("Invalid \"authentication\" credentials".into()),
                challenge: Some(false),
            },
        );
        let mut errors = vec![];
        let r = Responses::compile(&spec, None, &mut errors);
        assert!(errors.is_empty());
        let ic = r.get(Reason::InvalidCredentials).unwrap();
        assert_eq!(ic.status, 403);
        assert!(!ic.challenge);
        assert_eq!(ic.body.as_deref(), Some(r#"{"detail": "Invalid \"authentication\" credentials"}"#));
        let mc = r.get(Reason::MissingCredentials).unwrap();
        assert_eq!(mc.status, 401);
        assert!(mc.challenge);
    }

    #[test]
    fn templates_are_validated() {
        let mut errors = vec![];
        Responses::compile(
            &ResponsesSpec { body: Some("{\"detail\": {message}".into()), ..Default::default() },
            None,
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        let mut spec = ResponsesSpec::default();
        spec.reasons.insert("nope".into(), ReasonResponseSpec::default());
        let mut errors = vec![];
        Responses::compile(&spec, None, &mut errors);
        assert!(errors[0].to_string().contains("not a reason code"));
    }

    #[test]
    fn templates_are_filled_in_one_pass() {
        let body = BodyFormat::parse(Some(r#"{"error": {reason}, "message": {message}, "code": {status}}"#)).unwrap();
        // Placeholders inside the message (a host's detail, a request's CORS method) are
        // text: before, a second `replace` pass filled them in and broke the JSON.
        let out = body.render("bad {reason} {status} {message} \"q\"", 400, Reason::MalformedRequest).unwrap();
        assert_eq!(
            &*out,
            r#"{"error": "malformed_request", "message": "bad {reason} {status} {message} \"q\"", "code": 400}"#
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["message"], "bad {reason} {status} {message} \"q\"");
        assert_eq!(
            template_parts("{status}{status}x{message"),
            vec![TemplatePart::Status, TemplatePart::Status, TemplatePart::Text("x{message".into())]
        );
        let fastapi = BodyFormat::parse(Some("fastapi")).unwrap();
        assert_eq!(fastapi.render("a\u{1}b", 401, Reason::Ok).as_deref(), Some(r#"{"detail": "a\u0001b"}"#));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let r = Responses::compile(&ResponsesSpec::default(), Some("api \"x\""), &mut vec![]);
        assert_eq!(r.challenge(Reason::MissingCredentials, "x", &[]).unwrap(), "Bearer realm=\"api x\"");
        assert_eq!(
            r.challenge(Reason::Expired, "token expired", &[]).unwrap(),
            "Bearer realm=\"api x\", error=\"invalid_token\", error_description=\"token expired\""
        );
        assert_eq!(
            r.challenge(Reason::InsufficientScope, "", &["a:read".into(), "b".into()]).unwrap(),
            "Bearer realm=\"api x\", error=\"insufficient_scope\", scope=\"a:read b\""
        );
        assert!(r.challenge(Reason::RouteDenied, "", &[]).is_none());
    }
}
