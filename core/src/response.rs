//! How a denial is answered: status, message, body and challenge for each reason,
//! precomputed at load so a decision only copies reference-counted text.

use std::sync::Arc;

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
    /// A JSON template with `{message}`, `{status}`, `{reason}`.
    Json(String),
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

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

impl BodyFormat {
    fn parse(text: Option<&str>) -> Result<Self, String> {
        Ok(match text {
            None | Some("none") => BodyFormat::None,
            Some("text") => BodyFormat::Text,
            Some("fastapi") => BodyFormat::Json("{\"detail\": {message}}".to_owned()),
            Some(t) => {
                let probe = t.replace("{message}", "\"m\"").replace("{reason}", "\"r\"").replace("{status}", "400");
                serde_json::from_str::<serde_json::Value>(&probe)
                    .map_err(|e| format!("body must be `none`, `text`, `fastapi` or a JSON template ({e})"))?;
                BodyFormat::Json(t.to_owned())
            }
        })
    }

    pub fn render(&self, message: &str, status: u16, reason: Reason) -> Option<Arc<str>> {
        match self {
            BodyFormat::None => None,
            BodyFormat::Text => Some(Arc::from(message)),
            BodyFormat::Json(t) => Some(Arc::from(
                t.replace("{message}", &json_string(message))
                    .replace("{reason}", &json_string(reason.as_str()))
                    .replace("{status}", &status.to_string()),
            )),
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
