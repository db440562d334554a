//! `admit test POLICY [TESTS...]`: a policy's own test cases, run like a test runner,
//! with rule, authenticator and role coverage.
//!
//! A test file (TOML, or JSON by its `.json` extension) holds cases: a request and what
//! its decision must say. Its environment is only what the file and each case give (a
//! test does not depend on the shell that runs it); a case may ask for a token minted on
//! the spot by a `jwt` authenticator that holds a signing key, so no long-lived token is
//! written in a test file. The format is in `docs/policy.md`, section 13.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use admit::{Decision, Engine, Format, OwnedRequest, Resolver, TokenRequest};
use serde::Deserialize;
use serde_json::Value as Json;

/// A test file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    /// The default `now` of requests; default: the clock.
    now: Option<i64>,
    /// The environment of every case.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Key sets for `jwt` authenticators with a `jwks_url`: file paths, relative to the
    /// test file (nothing is fetched).
    #[serde(default)]
    jwks: BTreeMap<String, String>,
    /// Verdicts of `delegated` authenticators' checks, by authenticator and credential.
    #[serde(default)]
    checks: serde_json::Map<String, Json>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Variables added to (or, with "", taken from) the file's environment.
    #[serde(default)]
    env: BTreeMap<String, String>,
    request: CaseRequest,
    /// A token minted for this case, sent as `Authorization: Bearer`.
    token: Option<Mint>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRequest {
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    peer: Option<String>,
    now: Option<i64>,
}

fn get() -> String {
    "GET".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mint {
    authenticator: String,
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    lifetime: Option<i64>,
    /// When the token was issued; default: the request's `now`.
    issued: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    allow: Option<bool>,
    status: Option<u16>,
    reason: Option<String>,
    message: Option<String>,
    rule: Option<String>,
    /// The principal's id, or `""` for none.
    principal: Option<String>,
    authenticator: Option<String>,
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    constraints: Option<BTreeMap<String, String>>,
    /// Response headers that must be present with these values (names case-insensitive).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    dry_run: Option<bool>,
}

/// Resolves the case's environment only, and files beside the policy.
struct CaseResolver<'a> {
    env: &'a BTreeMap<String, String>,
    base: &'a Path,
}

impl Resolver for CaseResolver<'_> {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.base.join(path)).map_err(|e| e.to_string())
    }
}

/// What a run found.
#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<Failure>,
    pub coverage: Coverage,
    /// JUnit XML of every case.
    pub junit: String,
}

/// One failed case.
pub struct Failure {
    pub place: String,
    pub name: String,
    pub problems: Vec<String>,
}

/// What the cases exercised, against what the policy has.
#[derive(Default)]
pub struct Coverage {
    pub rules: (BTreeSet<String>, BTreeSet<String>),
    pub authenticators: (BTreeSet<String>, BTreeSet<String>),
    pub roles: (BTreeSet<String>, BTreeSet<String>),
}

impl Coverage {
    /// The share of rules, authenticators and roles exercised, in percent.
    pub fn percent(&self) -> f64 {
        let parts = [&self.rules, &self.authenticators, &self.roles];
        let all: usize = parts.iter().map(|(a, _)| a.len()).sum();
        let hit: usize = parts.iter().map(|(a, h)| a.intersection(h).count()).sum();
        if all == 0 { 100.0 } else { 100.0 * hit as f64 / all as f64 }
    }

    /// One line per kind: `rules 9/9`, then what was missed.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (kind, (all, hit)) in
            [("rules", &self.rules), ("authenticators", &self.authenticators), ("roles", &self.roles)]
        {
            let missed: Vec<&str> = all.difference(hit).map(String::as_str).collect();
            let mut line = format!("{kind} {}/{}", all.len() - missed.len(), all.len());
            if !missed.is_empty() {
                let _ = write!(line, ", not exercised: {}", missed.join(", "));
            }
            out.push(line);
        }
        out
    }
}

/// Runs the cases of `tests` against `policy`.
pub fn run(policy: &Path, tests: &[PathBuf], clock: i64) -> Result<Report, String> {
    let policy_text = std::fs::read_to_string(policy).map_err(|e| format!("cannot read {}: {e}", policy.display()))?;
    let format = Format::from_path(&policy.to_string_lossy());
    let parsed = admit::parse_policy(&policy_text, format).map_err(|e| format!("{}: {e}", policy.display()))?;
    let base = policy.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut report = Report::default();
    report.coverage.roles.0 = parsed.roles.keys().cloned().collect();
    report.coverage.authenticators.0 = parsed.authenticators.iter().map(|a| a.id().to_owned()).collect();
    let mut junit_cases = String::new();
    let mut engines: BTreeMap<String, Engine> = BTreeMap::new();
    for test in tests {
        let text = std::fs::read_to_string(test).map_err(|e| format!("cannot read {}: {e}", test.display()))?;
        let file: TestFile = if test.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", test.display()))?
        } else {
            toml::from_str(&text).map_err(|e| format!("{}: {}", test.display(), e.message()))?
        };
        let test_dir = test.parent().map(Path::to_path_buf).unwrap_or_default();
        let lines = case_lines(&text);
        for (i, case) in file.cases.iter().enumerate() {
            let place = format!("{}:{}", test.display(), lines.get(i).copied().unwrap_or(1));
            let mut env = file.env.clone();
            for (k, v) in &case.env {
                if v.is_empty() {
                    env.remove(k);
                } else {
                    env.insert(k.clone(), v.clone());
                }
            }
            let key = serde_json::to_string(&env).unwrap_or_default();
            if !engines.contains_key(&key) {
                let engine = Engine::from_text(&policy_text, format, &CaseResolver { env: &env, base: &base })
                    .map_err(|e| format!("{place}: case `{}`: the policy does not load: {e}", case.name))?;
                for (id, path) in &file.jwks {
                    let set = std::fs::read_to_string(test_dir.join(path))
                        .map_err(|e| format!("{}: jwks {id}: cannot read {path}: {e}", test.display()))?;
                    // An authenticator switched off in this environment has no set to take.
                    if engine.jwks_urls().iter().any(|(a, _)| a == id) {
                        engine.set_jwks(id, &set).map_err(|e| format!("{}: jwks {id}: {e}", test.display()))?;
                    }
                }
                for rule in engine.rules() {
                    report.coverage.rules.0.insert(rule.name.to_owned());
                }
                engines.insert(key.clone(), engine);
            }
            let Some(engine) = engines.get(&key) else { continue };
            let now = case.request.now.or(file.now).unwrap_or(clock);
            let problems = match run_case(engine, case, now, &file.checks) {
                Ok(d) => {
                    if let Some(rule) = &d.rule {
                        report.coverage.rules.1.insert(rule.to_string());
                    }
                    if let Some(p) = &d.principal {
                        report.coverage.authenticators.1.insert(p.authenticator.clone());
                        report.coverage.roles.1.extend(p.roles.iter().cloned());
                    }
                    compare(&case.expect, &d)
                }
                Err(e) => vec![e],
            };
            let name = xml_escape(&case.name);
            if problems.is_empty() {
                report.passed += 1;
                let _ = writeln!(junit_cases, r#"    <testcase classname="{}" name="{name}"/>"#, xml_escape(&place));
            } else {
                let _ = writeln!(
                    junit_cases,
                    r#"    <testcase classname="{}" name="{name}"><failure message="{}"/></testcase>"#,
                    xml_escape(&place),
                    xml_escape(&problems.join("; "))
                );
                report.failures.push(Failure { place, name: case.name.clone(), problems });
            }
        }
    }
    let total = report.passed + report.failures.len();
    report.junit = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{total}\" failures=\"{}\">\n{junit_cases}  </testsuite>\n</testsuites>\n",
        xml_escape(&policy.display().to_string()),
        report.failures.len()
    );
    Ok(report)
}

fn run_case(
    engine: &Engine,
    case: &Case,
    now: i64,
    checks: &serde_json::Map<String, Json>,
) -> Result<Decision, String> {
    let mut headers: Vec<(String, String)> = case.request.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(m) = &case.token {
        let request = TokenRequest {
            subject: &m.sub,
            roles: &m.roles,
            scopes: &m.scopes,
            lifetime: m.lifetime,
            now: m.issued.unwrap_or(now),
            extra: None,
        };
        let token = engine.issue_token(&m.authenticator, &request).map_err(|e| format!("token: {e}"))?;
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let req = OwnedRequest {
        method: case.request.method.clone(),
        path: case.request.path.clone(),
        headers,
        peer: case.request.peer.clone(),
        now,
    };
    let bytes = req.header_bytes();
    Ok(crate::decide_with_checks(engine, &req.as_request(&bytes), checks))
}

/// What differs between the expectation and the decision.
fn compare(want: &Expect, d: &Decision) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, want: String, got: String| {
        if want != got {
            out.push(format!("{what}: want {want}, got {got}"));
        }
    };
    if let Some(v) = want.allow {
        check("allow", v.to_string(), d.allow.to_string());
    }
    if let Some(v) = want.status {
        check("status", v.to_string(), d.status.to_string());
    }
    if let Some(v) = &want.reason {
        check("reason", v.clone(), d.reason.as_str().to_owned());
    }
    if let Some(v) = &want.message {
        check("message", format!("{v:?}"), format!("{:?}", &*d.message));
    }
    if let Some(v) = &want.rule {
        check("rule", v.clone(), d.rule.as_deref().unwrap_or("(none)").to_owned());
    }
    if let Some(v) = want.dry_run {
        check("dry_run", v.to_string(), d.dry_run.to_string());
    }
    let p = d.principal.as_deref();
    if let Some(v) = &want.principal {
        let shown = |s: &str| if s.is_empty() { "(none)".to_owned() } else { s.to_owned() };
        check("principal", shown(v), shown(p.map_or("", |p| p.id.as_str())));
    }
    if let Some(v) = &want.authenticator {
        check("authenticator", v.clone(), p.map_or("(none)", |p| p.authenticator.as_str()).to_owned());
    }
    if let Some(v) = &want.roles {
        check("roles", format!("{v:?}"), format!("{:?}", p.map(|p| p.roles.clone()).unwrap_or_default()));
    }
    if let Some(v) = &want.scopes {
        check("scopes", format!("{v:?}"), format!("{:?}", p.map(|p| p.scopes.clone()).unwrap_or_default()));
    }
    if let Some(v) = &want.constraints {
        check("constraints", format!("{v:?}"), format!("{:?}", d.constraints));
    }
    for (name, value) in &want.headers {
        let got: Vec<&str> =
            d.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &**v).collect();
        if !got.contains(&value.as_str()) {
            out.push(format!("header {name}: want {value:?}, got {got:?}"));
        }
    }
    out
}

/// The line of each case in a test file: of each `[[cases]]` (TOML), or each `"name"`
/// (JSON), in order.
fn case_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("[[cases]]") || t.starts_with("\"name\"")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            c if c.is_control() => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
