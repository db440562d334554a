//! `explain`: a decision with the trace of how it was reached.
//!
//! The trace comes from the code that decides, not from a second copy of it: the
//! engine's decision steps are generic over an observer, told what each step found.
//! [`Engine::decide`](crate::Engine::decide) runs them with one whose hooks are empty
//! and compile away (each step is monomorphised for it), so a decision pays nothing for
//! the trace; [`Engine::explain`](crate::Engine::explain) runs the same steps with one
//! that writes the [`Trace`].
//!
//! A trace never holds a secret: no credential, no header value of one, no key digest,
//! no cookie, nothing from the policy's or the environment's secrets. It names ids,
//! kinds, reasons, patterns and scope names; its client-supplied words are the
//! canonical path and the `Origin`. The JSON form is documented in `docs/policy.md`
//! (section 14, "Explaining a decision"); its `version` changes when a field changes meaning or is
//! removed.

use serde::Serialize;

use crate::authn::crypto::deferred::{CredentialCheck, SignatureCheck};
use crate::authn::{Denial, Identity};
use crate::decision::{Decision, push_bool, push_json_str, push_opt_str, push_str_list};
use crate::engine::Authn;
use crate::reason::Reason;
use crate::routes::{Access, Requirement, RouteTable, Rule};

/// The version of the trace's JSON form.
pub const TRACE_VERSION: u32 = 1;

/// A decision and the trace of how it was reached: what
/// [`Engine::explain`](crate::Engine::explain) answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The decision, exactly as [`Engine::decide`](crate::Engine::decide) gives it.
    pub decision: Decision,
    /// How it was reached.
    pub trace: Trace,
}

impl Explanation {
    /// The explanation as JSON text (`{"decision": ..., "trace": ...}`): the same text as
    /// `serde_json::to_string` of its `Serialize` form, written by hand as
    /// [`Decision::to_json`] is. serde_json's generic writer, instantiated for every
    /// trace type, was about 8 KB of the .wasm for this one call.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("{\"decision\":");
        out.push_str(&self.decision.to_json());
        out.push_str(",\"trace\":");
        self.trace.write_json(&mut out);
        out.push('}');
        out
    }

    /// The explanation as indented JSON text.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("null"))
    }
}

/// What [`Engine::explain_step`](crate::Engine::explain_step) answers: the
/// explanation, or the checks the host makes first (as [`crate::Step`]).
#[derive(Debug, Clone)]
pub enum ExplainStep {
    /// The decision and its trace.
    Explained(Box<Explanation>),
    /// Verify these signatures, record each verdict, and ask again.
    Verify(Vec<SignatureCheck>),
    /// Check this credential with the host's check, record the verdict, and ask again.
    Check(CredentialCheck),
}

/// How a decision was reached, step by step. Every field is always present (`null` or
/// empty when its step was not reached), so a reader can rely on the shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The version of this JSON form ([`TRACE_VERSION`]).
    pub version: u32,
    /// The request target: its canonical path, or why it was refused before any rule.
    pub target: TargetTrace,
    /// What CORS made of the request.
    pub cors: CorsTrace,
    /// The rules considered, in policy order, up to and including the one that matched.
    pub rules: Vec<RuleTrace>,
    /// What the matched rule lets through: `public`, `deny` or `authenticated`.
    pub access: Option<&'static str>,
    /// Each authenticator tried, in the order tried, with its verdict.
    pub authenticators: Vec<AuthenticatorTrace>,
    /// The roles granted to the principal, with the roles they include.
    pub roles: Vec<String>,
    /// The scopes the rule requires and the principal holds.
    pub scopes: Option<ScopeTrace>,
    /// The rule's owner check.
    pub owner: Option<OwnerTrace>,
    /// When the policy or the rule only reports: what enforcement would have done.
    pub dry_run: Option<DryRunTrace>,
}

/// The request target (`trace.target`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TargetTrace {
    /// The canonical path rules are matched against (no query).
    pub canonical: Option<String>,
    /// Why the method or target was refused (`malformed_request`).
    pub refused: Option<String>,
}

/// What CORS made of a request (`trace.cors.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorsOutcome {
    /// The request was refused before CORS was looked at.
    NotReached,
    /// The policy has no `[cors]` table.
    NotConfigured,
    /// No `Origin` header: not a cross-origin browser request.
    NoOrigin,
    /// The `Origin` names the request's own host: not CORS.
    SameOrigin,
    /// An allowed origin; the response carries the CORS headers.
    Allowed,
    /// A preflight (`OPTIONS` with `Access-Control-Request-Method`) answered.
    Preflight,
    /// Refused: the origin, the preflight's method or a header is not allowed, or a
    /// CORS header is malformed.
    Refused,
}

/// The CORS step (`trace.cors`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorsTrace {
    /// The outcome.
    pub outcome: CorsOutcome,
    /// The request's `Origin`, when CORS looked at it.
    pub origin: Option<String>,
    /// Why it was refused.
    pub detail: Option<String>,
}

/// Why a rule did not match (`trace.rules[].mismatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMismatch {
    /// The rule does not list the request's method.
    Method,
    /// None of the rule's patterns matches the path.
    Path,
}

/// One rule considered (`trace.rules[]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// The rule's place in the policy's `routes`, from 0.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// The methods it applies to (`*` for any).
    pub methods: String,
    /// Its path patterns, as compiled.
    pub patterns: Vec<String>,
    /// True for the rule that decided.
    pub matched: bool,
    /// Why it did not match; `null` for the matched rule.
    pub mismatch: Option<RuleMismatch>,
    /// In words: the method not listed, or each pattern's first failing segment; for
    /// the matched rule, the pattern that matched.
    pub detail: String,
}

/// An authenticator's verdict on a request (`trace.authenticators[].verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticatorVerdict {
    /// The rule names other authenticators: this one was not asked.
    NotOnRule,
    /// Not responsible: no credential of its kind in the request.
    Absent,
    /// A credential in its place, but of a form another authenticator reads.
    NotMine,
    /// It recognised the principal.
    Matched,
    /// It refused the request (`reason`, `detail`).
    Refused,
}

/// Which pass of authentication an attempt belongs to (`trace.authenticators[].pass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticatorPass {
    /// Credential authenticators, in policy order: the first that answers decides.
    Credential,
    /// Fallbacks (`anonymous`, `local`), tried when no credential was presented.
    Fallback,
    /// A dry run that refused before authentication authenticates anyway, so the app
    /// sees the principal the credentials prove.
    DryRunIdentity,
}

/// One authenticator tried (`trace.authenticators[]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthenticatorTrace {
    /// The authenticator's id.
    pub id: String,
    /// Its type (`api_key`, `jwt`, ...).
    pub kind: &'static str,
    /// The pass it was tried in.
    pub pass: AuthenticatorPass,
    /// Its verdict.
    pub verdict: AuthenticatorVerdict,
    /// When refused: the reason.
    pub reason: Option<Reason>,
    /// When refused: why, in words (never the credential).
    pub detail: Option<String>,
    /// When matched: the principal's id.
    pub principal: Option<String>,
}

/// The scope check (`trace.scopes`): present once a principal is recognised on a rule
/// that requires authentication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeTrace {
    /// Scopes the rule requires, all of them (`require`).
    pub required_all: Vec<String>,
    /// Scopes of which the rule requires one (`require_any`).
    pub required_any: Vec<String>,
    /// Scopes the principal holds.
    pub held: Vec<String>,
    /// The required scopes it lacks (for `require_any`, all of them when none is held).
    pub missing: Vec<String>,
}

/// The owner check's outcome (`trace.owner.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerOutcome {
    /// The principal holds one of the `unless` scopes: no limit.
    Exempt,
    /// The path's parameter names the principal; the constraint is set.
    Owner,
    /// The path's parameter names someone else: refused.
    NotOwner,
    /// No path parameter to compare: the constraint is set for the app to apply.
    Constrained,
}

/// The owner check (`trace.owner`), when the matched rule has one and the scopes
/// passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerTrace {
    /// The path parameter compared with the principal's id.
    pub param: Option<String>,
    /// The parameter's value in the path.
    pub value: Option<String>,
    /// The principal's id.
    pub principal: String,
    /// The constraint's name in `decision.constraints`.
    pub constraint: String,
    /// Scopes that lift the limit.
    pub unless: Vec<String>,
    /// The outcome.
    pub outcome: OwnerOutcome,
}

/// Who put the decision in dry-run mode (`trace.dry_run.by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DryRunBy {
    /// The policy's top-level `dry_run`.
    Policy,
    /// The matched rule's `dry_run`.
    Rule,
}

/// A refusal that was only reported (`trace.dry_run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRunTrace {
    /// Who asked for a dry run.
    pub by: DryRunBy,
    /// The reason enforcement would have refused with.
    pub would_refuse: Reason,
    /// The status it would have answered.
    pub status: u16,
}

/// What the decision steps tell an observer. Every hook is empty by default: the
/// decision's own observer, [`Silent`], overrides none, so in `decide` each call is
/// inlined to nothing.
pub(crate) trait Observer {
    /// The method or target was refused before any rule.
    fn target_refused(&mut self, _denial: &Denial) {}
    /// The canonical path.
    fn canonical(&mut self, _path: &str) {}
    /// The CORS step's outcome.
    fn cors(&mut self, _outcome: CorsOutcome, _origin: Option<&str>, _detail: Option<&str>) {}
    /// The route table was asked; `found` is the rule it answered.
    fn route(&mut self, _table: &RouteTable, _method: &str, _path: &str, _found: Option<&Rule>) {}
    /// An authenticator's verdict.
    fn authenticator(&mut self, _a: &Authn, _pass: AuthenticatorPass, _verdict: Attempt<'_>) {}
    /// The scope check, with the scopes found missing.
    fn scopes(&mut self, _requirement: &Requirement, _identity: &Identity, _missing: &[String]) {}
    /// The owner check.
    fn owner(&mut self, _trace: impl FnOnce() -> OwnerTrace) {}
    /// The decision is a dry run's.
    fn dry_run(&mut self, _by: DryRunBy) {}
    /// A dry run authenticates for the principal: later attempts belong to that pass.
    fn dry_run_identity(&mut self) {}
}

/// An authenticator's verdict, as the decision step has it.
pub(crate) enum Attempt<'a> {
    NotOnRule,
    Absent,
    NotMine,
    Matched(&'a Identity),
    Refused(&'a Denial),
}

/// The observer of a plain decision: hears nothing.
pub(crate) struct Silent;

impl Observer for Silent {}

/// The observer of `explain`: writes the trace.
pub(crate) struct Recorder {
    trace: Trace,
    dry_run_pass: bool,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            trace: Trace {
                version: TRACE_VERSION,
                target: TargetTrace::default(),
                cors: CorsTrace { outcome: CorsOutcome::NotReached, origin: None, detail: None },
                rules: Vec::new(),
                access: None,
                authenticators: Vec::new(),
                roles: Vec::new(),
                scopes: None,
                owner: None,
                dry_run: None,
            },
            dry_run_pass: false,
        }
    }

    /// The trace, completed with what only the decision knows.
    pub(crate) fn finish(mut self, decision: &Decision) -> Trace {
        if let Some(d) = &mut self.trace.dry_run {
            d.would_refuse = decision.reason;
            d.status = decision.status;
        }
        self.trace
    }
}

impl Observer for Recorder {
    fn target_refused(&mut self, denial: &Denial) {
        self.trace.target.refused = Some(denial.detail.to_string());
    }

    fn canonical(&mut self, path: &str) {
        self.trace.target.canonical = Some(path.to_owned());
    }

    fn cors(&mut self, outcome: CorsOutcome, origin: Option<&str>, detail: Option<&str>) {
        self.trace.cors = CorsTrace { outcome, origin: origin.map(str::to_owned), detail: detail.map(str::to_owned) };
    }

    fn route(&mut self, table: &RouteTable, method: &str, path: &str, found: Option<&Rule>) {
        for (index, rule) in table.rules.iter().enumerate() {
            let matched = found.is_some_and(|f| std::ptr::eq(f, rule));
            let patterns: Vec<String> = rule.patterns.iter().map(|p| p.text()).collect();
            let (mismatch, detail) = if matched {
                let which = rule.patterns.iter().find(|p| p.matches(path)).map(|p| p.text()).unwrap_or_default();
                (None, format!("`{method}` on pattern `{which}`"))
            } else if !rule.methods.contains(method) {
                (Some(RuleMismatch::Method), format!("method `{method}` is not one of `{}`", rule.methods.label()))
            } else {
                let why: Vec<String> = rule
                    .patterns
                    .iter()
                    .map(|p| format!("`{}`: {}", p.text(), p.mismatch(path).unwrap_or_default()))
                    .collect();
                (Some(RuleMismatch::Path), why.join("; "))
            };
            self.trace.rules.push(RuleTrace {
                index,
                name: rule.name.to_string(),
                methods: rule.methods.label(),
                patterns,
                matched,
                mismatch,
                detail,
            });
            if matched {
                self.trace.access = Some(match rule.access {
                    Access::Public => "public",
                    Access::Deny => "deny",
                    Access::Authenticated(_) => "authenticated",
                });
                break;
            }
        }
    }

    fn authenticator(&mut self, a: &Authn, pass: AuthenticatorPass, attempt: Attempt<'_>) {
        let pass = if self.dry_run_pass { AuthenticatorPass::DryRunIdentity } else { pass };
        let (verdict, reason, detail, principal) = match attempt {
            Attempt::NotOnRule => (AuthenticatorVerdict::NotOnRule, None, None, None),
            Attempt::Absent => (AuthenticatorVerdict::Absent, None, None, None),
            Attempt::NotMine => (AuthenticatorVerdict::NotMine, None, None, None),
            Attempt::Matched(identity) => {
                self.trace.roles.clone_from(&identity.principal.roles);
                (AuthenticatorVerdict::Matched, None, None, Some(identity.principal.id.clone()))
            }
            Attempt::Refused(d) => {
                let detail = if d.detail.is_empty() { None } else { Some(d.detail.to_string()) };
                (AuthenticatorVerdict::Refused, Some(d.reason), detail, None)
            }
        };
        self.trace.authenticators.push(AuthenticatorTrace {
            id: a.id.to_string(),
            kind: a.kind_name(),
            pass,
            verdict,
            reason,
            detail,
            principal,
        });
    }

    fn scopes(&mut self, requirement: &Requirement, identity: &Identity, missing: &[String]) {
        self.trace.scopes = Some(ScopeTrace {
            required_all: requirement.all_names.clone(),
            required_any: requirement.any_names.clone(),
            held: identity.principal.scopes.clone(),
            missing: missing.to_vec(),
        });
    }

    fn owner(&mut self, trace: impl FnOnce() -> OwnerTrace) {
        self.trace.owner = Some(trace());
    }

    fn dry_run(&mut self, by: DryRunBy) {
        // The reason and status are the decision's, filled in by `finish`.
        self.trace.dry_run = Some(DryRunTrace { by, would_refuse: Reason::Ok, status: 0 });
    }

    fn dry_run_identity(&mut self) {
        self.dry_run_pass = true;
    }
}

/// The JSON writers of the trace (`Explanation::to_json`): fields in declaration order,
/// names and enum words as the `Serialize` derives spell them (a test compares the two).
impl Trace {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"version\":");
        push_u64(out, u64::from(self.version));
        out.push_str(",\"target\":{\"canonical\":");
        push_opt_str(out, self.target.canonical.as_deref());
        out.push_str(",\"refused\":");
        push_opt_str(out, self.target.refused.as_deref());
        out.push_str("},\"cors\":{\"outcome\":");
        push_json_str(out, self.cors.outcome.as_str());
        out.push_str(",\"origin\":");
        push_opt_str(out, self.cors.origin.as_deref());
        out.push_str(",\"detail\":");
        push_opt_str(out, self.cors.detail.as_deref());
        out.push_str("},\"rules\":[");
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            rule.write_json(out);
        }
        out.push_str("],\"access\":");
        push_opt_str(out, self.access);
        out.push_str(",\"authenticators\":[");
        for (i, attempt) in self.authenticators.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            attempt.write_json(out);
        }
        out.push_str("],\"roles\":");
        push_str_list(out, &self.roles);
        out.push_str(",\"scopes\":");
        match &self.scopes {
            Some(s) => {
                out.push_str("{\"required_all\":");
                push_str_list(out, &s.required_all);
                out.push_str(",\"required_any\":");
                push_str_list(out, &s.required_any);
                out.push_str(",\"held\":");
                push_str_list(out, &s.held);
                out.push_str(",\"missing\":");
                push_str_list(out, &s.missing);
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"owner\":");
        match &self.owner {
            Some(o) => {
                out.push_str("{\"param\":");
                push_opt_str(out, o.param.as_deref());
                out.push_str(",\"value\":");
                push_opt_str(out, o.value.as_deref());
                out.push_str(",\"principal\":");
                push_json_str(out, &o.principal);
                out.push_str(",\"constraint\":");
                push_json_str(out, &o.constraint);
                out.push_str(",\"unless\":");
                push_str_list(out, &o.unless);
                out.push_str(",\"outcome\":");
                push_json_str(out, o.outcome.as_str());
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"dry_run\":");
        match &self.dry_run {
            Some(d) => {
                out.push_str("{\"by\":");
                push_json_str(out, d.by.as_str());
                out.push_str(",\"would_refuse\":");
                push_json_str(out, d.would_refuse.as_str());
                out.push_str(",\"status\":");
                push_u64(out, u64::from(d.status));
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push('}');
    }
}

impl RuleTrace {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"index\":");
        push_u64(out, self.index as u64);
        out.push_str(",\"name\":");
        push_json_str(out, &self.name);
        out.push_str(",\"methods\":");
        push_json_str(out, &self.methods);
        out.push_str(",\"patterns\":");
        push_str_list(out, &self.patterns);
        out.push_str(",\"matched\":");
        push_bool(out, self.matched);
        out.push_str(",\"mismatch\":");
        push_opt_str(out, self.mismatch.map(RuleMismatch::as_str));
        out.push_str(",\"detail\":");
        push_json_str(out, &self.detail);
        out.push('}');
    }
}

impl AuthenticatorTrace {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"id\":");
        push_json_str(out, &self.id);
        out.push_str(",\"kind\":");
        push_json_str(out, self.kind);
        out.push_str(",\"pass\":");
        push_json_str(out, self.pass.as_str());
        out.push_str(",\"verdict\":");
        push_json_str(out, self.verdict.as_str());
        out.push_str(",\"reason\":");
        push_opt_str(out, self.reason.map(Reason::as_str));
        out.push_str(",\"detail\":");
        push_opt_str(out, self.detail.as_deref());
        out.push_str(",\"principal\":");
        push_opt_str(out, self.principal.as_deref());
        out.push('}');
    }
}

/// A number in decimal (the trace's counts and statuses).
fn push_u64(out: &mut String, n: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            // `rest % 10` is below 10: the cast cannot truncate.
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || start == 0 {
            break;
        }
    }
    for d in digits.get(start..).unwrap_or_default() {
        out.push(char::from(*d));
    }
}

impl CorsOutcome {
    /// The outcome's word in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CorsOutcome::NotReached => "not_reached",
            CorsOutcome::NotConfigured => "not_configured",
            CorsOutcome::NoOrigin => "no_origin",
            CorsOutcome::SameOrigin => "same_origin",
            CorsOutcome::Allowed => "allowed",
            CorsOutcome::Preflight => "preflight",
            CorsOutcome::Refused => "refused",
        }
    }

    /// Every outcome, for the tests that compare the words with the `Serialize` form.
    #[cfg(test)]
    const ALL: [CorsOutcome; 7] = [
        CorsOutcome::NotReached,
        CorsOutcome::NotConfigured,
        CorsOutcome::NoOrigin,
        CorsOutcome::SameOrigin,
        CorsOutcome::Allowed,
        CorsOutcome::Preflight,
        CorsOutcome::Refused,
    ];
}

impl RuleMismatch {
    /// The mismatch's word in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMismatch::Method => "method",
            RuleMismatch::Path => "path",
        }
    }
}

impl AuthenticatorVerdict {
    /// The verdict's word in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticatorVerdict::NotOnRule => "not_on_rule",
            AuthenticatorVerdict::Absent => "absent",
            AuthenticatorVerdict::NotMine => "not_mine",
            AuthenticatorVerdict::Matched => "matched",
            AuthenticatorVerdict::Refused => "refused",
        }
    }
}

impl AuthenticatorPass {
    /// The pass's word in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticatorPass::Credential => "credential",
            AuthenticatorPass::Fallback => "fallback",
            AuthenticatorPass::DryRunIdentity => "dry_run_identity",
        }
    }
}

impl OwnerOutcome {
    /// The outcome's word in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerOutcome::Exempt => "exempt",
            OwnerOutcome::Owner => "owner",
            OwnerOutcome::NotOwner => "not_owner",
            OwnerOutcome::Constrained => "constrained",
        }
    }
}

impl DryRunBy {
    /// Who, in the trace's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DryRunBy::Policy => "policy",
            DryRunBy::Rule => "rule",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    /// Each enum's hand-written word is the one its `Serialize` derive writes.
    #[test]
    fn words_match_serde() {
        fn same<T: Serialize>(v: T, word: &str) {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{word}\""));
        }
        for v in CorsOutcome::ALL {
            same(v, v.as_str());
        }
        for v in [RuleMismatch::Method, RuleMismatch::Path] {
            same(v, v.as_str());
        }
        for v in [
            AuthenticatorVerdict::NotOnRule,
            AuthenticatorVerdict::Absent,
            AuthenticatorVerdict::NotMine,
            AuthenticatorVerdict::Matched,
            AuthenticatorVerdict::Refused,
        ] {
            same(v, v.as_str());
        }
        for v in [AuthenticatorPass::Credential, AuthenticatorPass::Fallback, AuthenticatorPass::DryRunIdentity] {
            same(v, v.as_str());
        }
        for v in [OwnerOutcome::Exempt, OwnerOutcome::Owner, OwnerOutcome::NotOwner, OwnerOutcome::Constrained] {
            same(v, v.as_str());
        }
        for v in [DryRunBy::Policy, DryRunBy::Rule] {
            same(v, v.as_str());
        }
    }

    #[test]
    fn numbers_are_decimal() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
}
