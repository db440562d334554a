//! Python bindings for admit: the native module `admit._admit`.
//!
//! This crate only converts: Python values in, the core's decision out. Every decision
//! is made by [`admit::Engine`]; the GIL is released while it runs. The Python package
//! around it (`python/admit/`) adds the FastAPI integration and the JWKS fetcher.

#![allow(unsafe_code, reason = "pyo3 macro expansion; this crate's own code has no unsafe")]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use admit::{Format, LoadError, Resolver};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

create_exception!(
    admit,
    PolicyError,
    PyValueError,
    "A policy failed to load. `errors` lists every problem as a dict with `place`, `line`, \
     `column` and `message`; `place`, `line`, `column` and `message` repeat the first."
);
create_exception!(
    admit,
    EngineError,
    PyValueError,
    "An operation on a built engine failed (`set_jwks`, `set_keys`, `issue_token`); `kind` \
     is `unknown_authenticator`, `unsupported` or `invalid`."
);

/// The binding's host resolver: an environment copied from a Python mapping, and files
/// read relative to the policy's folder.
struct HostResolver {
    env: BTreeMap<String, String>,
    base: PathBuf,
}

impl Resolver for HostResolver {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    #[expect(clippy::disallowed_methods, reason = "the binding is a host: it reads the policy's files")]
    fn file(&self, path: &str) -> Result<String, String> {
        let p = Path::new(path);
        let full = if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) };
        std::fs::read_to_string(&full).map_err(|e| e.to_string())
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_owned())
}

/// The environment as a map: `env`, or `os.environ` when `None`.
fn env_map(py: Python<'_>, env: Option<&Bound<'_, PyAny>>) -> PyResult<BTreeMap<String, String>> {
    let environ;
    let env = match env {
        Some(e) if !e.is_none() => e,
        _ => {
            environ = py.import("os")?.getattr("environ")?;
            &environ
        }
    };
    if !env.hasattr("items")? {
        return Err(PyTypeError::new_err(format!(
            "env must be a mapping of str to str (like os.environ), not {}",
            type_name(env)
        )));
    }
    let mut out = BTreeMap::new();
    for item in env.call_method0("items")?.try_iter()? {
        let item = item?;
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        let key = k
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("env keys must be str, not {}", type_name(&k))))?;
        let value = v.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("env[{:?}] must be str, not {}", key.to_string_lossy(), type_name(&v)))
        })?;
        out.insert(key.to_cow()?.into_owned(), value.to_cow()?.into_owned());
    }
    Ok(out)
}

fn problems<'py>(py: Python<'py>, e: &LoadError) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for p in &e.errors {
        let d = PyDict::new(py);
        d.set_item("place", &p.place)?;
        d.set_item("line", p.line)?;
        d.set_item("column", p.column)?;
        d.set_item("message", &p.message)?;
        list.append(d)?;
    }
    Ok(list)
}

fn policy_error(py: Python<'_>, e: &LoadError, file: Option<&Path>) -> PyErr {
    let text = match file {
        Some(f) => e.errors.iter().map(|err| format!("{}: {err}", f.display())).collect::<Vec<_>>().join("\n"),
        None => e.to_string(),
    };
    let err = PolicyError::new_err(text);
    let fill = || -> PyResult<()> {
        let value = err.value(py);
        value.setattr("errors", problems(py, e)?)?;
        let first = e.errors.first();
        value.setattr("place", first.map(|p| p.place.as_str()))?;
        value.setattr("line", first.and_then(|p| p.line))?;
        value.setattr("column", first.and_then(|p| p.column))?;
        value.setattr("message", first.map(|p| p.message.as_str()))?;
        value.setattr("path", file.map(|f| f.display().to_string()))?;
        Ok(())
    };
    match fill() {
        Ok(()) => err,
        Err(other) => other,
    }
}

fn engine_error(e: &admit::EngineError) -> PyErr {
    let kind = match e {
        admit::EngineError::UnknownAuthenticator(_) => "unknown_authenticator",
        admit::EngineError::Unsupported(_) => "unsupported",
        _ => "invalid",
    };
    let err = EngineError::new_err(e.to_string());
    Python::attach(|py| match err.value(py).setattr("kind", kind) {
        Ok(()) => err,
        Err(other) => other,
    })
}

/// `json.dumps(obj)`, with a clear `TypeError` for what JSON cannot hold.
fn dumps(py: Python<'_>, what: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match py.import("json")?.call_method1("dumps", (obj,)) {
        Ok(s) => s.extract::<String>(),
        Err(e) if e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<PyValueError>(py) => {
            Err(PyTypeError::new_err(format!(
                "{what} must hold only JSON values (str keys; str, int, float, bool, None, list, dict): {}",
                e.value(py)
            )))
        }
        Err(e) => Err(e),
    }
}

fn is_mapping(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyDict>() {
        return Ok(true);
    }
    let abc = obj.py().import("collections.abc")?.getattr("Mapping")?;
    obj.is_instance(&abc)
}

fn text_arg<'a>(name: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<&'a Bound<'a, PyString>> {
    obj.cast::<PyString>().map_err(|_| PyTypeError::new_err(format!("{name} must be str, not {}", type_name(obj))))
}

/// A header's name and value, borrowed from Python `bytes` where they can be.
type HeaderBytes<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Text or bytes, borrowed when bytes.
fn header_part<'a>(what: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<Result<Cow<'a, [u8]>, String>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Ok(Cow::Borrowed(b.as_bytes())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(match s.to_cow() {
            Ok(Cow::Borrowed(t)) => Ok(Cow::Borrowed(t.as_bytes())),
            Ok(Cow::Owned(t)) => Ok(Cow::Owned(t.into_bytes())),
            Err(_) => Err(format!("a header {what} is not valid UTF-8")),
        });
    }
    Err(PyTypeError::new_err(format!("header {what}s must be str or bytes, not {}", type_name(obj))))
}

fn pair<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let bad = || {
        PyTypeError::new_err(format!(
            "each header must be a (name, value) pair of str or bytes, not {}",
            type_name(item)
        ))
    };
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(bad());
        }
        return Ok((t.get_item(0)?, t.get_item(1)?));
    }
    if let Ok(l) = item.cast::<PyList>() {
        if l.len() != 2 {
            return Err(bad());
        }
        return Ok((l.get_item(0)?, l.get_item(1)?));
    }
    Err(bad())
}

/// The header objects, as (name, value) pairs, from a list of pairs, a dict (values a
/// str, bytes, or a list of them), a Starlette `Headers` (its `.raw`) or any mapping.
fn header_objects<'py>(headers: &Bound<'py, PyAny>) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    if headers.is_none() {
        return Ok(out);
    }
    let push_mapping_item = |out: &mut Vec<_>, k: Bound<'py, PyAny>, v: Bound<'py, PyAny>| -> PyResult<()> {
        if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            for one in v.try_iter()? {
                out.push((k.clone(), one?));
            }
        } else {
            out.push((k, v));
        }
        Ok(())
    };
    if let Ok(d) = headers.cast::<PyDict>() {
        for (k, v) in d.iter() {
            push_mapping_item(&mut out, k, v)?;
        }
        return Ok(out);
    }
    if headers.is_instance_of::<PyString>() || headers.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "headers must be a list of (name, value) pairs, a dict or a Starlette Headers, not {}",
            type_name(headers)
        )));
    }
    let seq = if headers.is_instance_of::<PyList>() || headers.is_instance_of::<PyTuple>() {
        headers.clone()
    } else if let Ok(raw) = headers.getattr("raw")
        && raw.is_instance_of::<PyList>()
    {
        raw
    } else if is_mapping(headers)? {
        for item in headers.call_method0("items")?.try_iter()? {
            let (k, v) = pair(&item?)?;
            push_mapping_item(&mut out, k, v)?;
        }
        return Ok(out);
    } else {
        match headers.try_iter() {
            Ok(it) => it.into_any(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "headers must be a list of (name, value) pairs, a dict or a Starlette Headers, not {}",
                    type_name(headers)
                )));
            }
        }
    };
    for item in seq.try_iter()? {
        out.push(pair(&item?)?);
    }
    Ok(out)
}

fn now_arg(now: Option<&Bound<'_, PyAny>>) -> PyResult<i64> {
    let Some(now) = now.filter(|n| !n.is_none()) else {
        return Ok(clock());
    };
    if now.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("now must be an int (unix seconds), not bool"));
    }
    if now.is_instance_of::<PyInt>() {
        return now.extract::<i64>().map_err(|_| PyValueError::new_err("now is out of range for unix seconds"));
    }
    if let Ok(f) = now.cast::<PyFloat>() {
        let v = f.value();
        if !v.is_finite() || v.abs() > 9.0e15 {
            return Err(PyValueError::new_err("now must be a finite number of unix seconds"));
        }
        #[expect(clippy::cast_possible_truncation, reason = "checked finite and in range just above")]
        return Ok(v.floor() as i64);
    }
    Err(PyTypeError::new_err(format!("now must be an int (unix seconds) or None, not {}", type_name(now))))
}

#[expect(clippy::disallowed_methods, reason = "the binding is a host: it lends the engine its clock")]
fn clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        J::String(s) => PyString::new(py, s).into_any(),
        J::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(json_to_py(py, x)?)?;
            }
            list.into_any()
        }
        J::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// Who made the request.
#[pyclass(frozen, module = "admit", name = "Principal")]
pub struct Principal {
    inner: Arc<admit::Principal>,
}

#[pymethods]
impl Principal {
    /// The principal's id.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// The id of the authenticator that recognised the principal.
    #[getter]
    fn authenticator(&self) -> &str {
        &self.inner.authenticator
    }
    /// `anonymous`, `local`, `api_key`, `bearer_token` or `jwt`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind
    }
    /// Roles, with the roles they include.
    #[getter]
    fn roles(&self) -> Vec<String> {
        self.inner.roles.clone()
    }
    /// Scopes granted.
    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.inner.scopes.clone()
    }
    /// A JWT's claims, or `None`.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.claims {
            Some(c) => json_to_py(py, c),
            None => Ok(py.None().into_bound(py)),
        }
    }
    /// True when the principal was granted `scope`.
    fn has_scope(&self, scope: Cow<'_, str>) -> bool {
        self.inner.scopes.iter().any(|s| *s == scope)
    }
    /// The principal as the contract's dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", &self.inner.id)?;
        d.set_item("authenticator", &self.inner.authenticator)?;
        d.set_item("kind", self.inner.kind)?;
        d.set_item("roles", &self.inner.roles)?;
        d.set_item("scopes", &self.inner.scopes)?;
        d.set_item("claims", self.claims(py)?)?;
        Ok(d)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Principal>().is_ok_and(|o| *o.get().inner == *self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "Principal(id={:?}, authenticator={:?}, kind={:?}, roles={:?}, scopes={:?})",
            self.inner.id, self.inner.authenticator, self.inner.kind, self.inner.roles, self.inner.scopes
        )
    }
    /// pydantic's hook, so a `Principal` can be a field of a model, a handler's return
    /// type or a FastAPI `response_model`: it serializes as `to_dict()`. The schema is
    /// built in Python (`admit/_pydantic.py`), where pydantic is.
    #[classmethod]
    fn __get_pydantic_core_schema__<'py>(
        cls: &Bound<'py, PyType>,
        source: &Bound<'py, PyAny>,
        handler: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        cls.py().import("admit._pydantic")?.call_method1("principal_core_schema", (cls, source, handler))
    }
}

/// The answer for one request. If `allow` is false, answer `status` with `headers` and
/// `body`; if true, call the handler and add `headers` to its response.
#[pyclass(frozen, module = "admit", name = "Decision")]
pub struct Decision {
    inner: admit::Decision,
}

#[pymethods]
impl Decision {
    /// Pass the request to the handler.
    #[getter]
    fn allow(&self) -> bool {
        self.inner.allow
    }
    /// The status to answer when `allow` is false.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }
    /// The stable reason code.
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.as_str()
    }
    /// Human-readable.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }
    /// Response headers, in both cases.
    #[getter]
    fn headers(&self) -> Vec<(&str, &str)> {
        self.inner.headers.iter().map(|(n, v)| (&**n, &**v)).collect()
    }
    /// The body to send when `allow` is false.
    #[getter]
    fn body(&self) -> Option<&str> {
        self.inner.body.as_deref()
    }
    /// The authenticated principal.
    #[getter]
    fn principal(&self) -> Option<Principal> {
        self.inner.principal.as_ref().map(|p| Principal { inner: Arc::clone(p) })
    }
    /// The rule that decided.
    #[getter]
    fn rule(&self) -> Option<&str> {
        self.inner.rule.as_deref()
    }
    /// Limits on the grant.
    #[getter]
    fn constraints(&self) -> BTreeMap<String, String> {
        self.inner.constraints.clone()
    }
    /// True when the policy only reports.
    #[getter]
    fn dry_run(&self) -> bool {
        self.inner.dry_run
    }
    /// For the ASGI middleware: the request passes as it is (allowed, not a dry-run
    /// refusal, no headers to add), so the app is called with nothing around it. One
    /// read instead of `allow`, `dry_run` and `headers`.
    #[getter]
    fn _plain(&self) -> bool {
        decision_is_plain(&self.inner)
    }
    /// The first value of a response header (case-insensitive), or `None`.
    fn header(&self, name: Cow<'_, str>) -> Option<&str> {
        self.inner.header(&name)
    }
    /// The decision as the contract's dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("allow", self.inner.allow)?;
        d.set_item("status", self.inner.status)?;
        d.set_item("reason", self.inner.reason.as_str())?;
        d.set_item("message", &*self.inner.message)?;
        let headers = PyList::empty(py);
        for (n, v) in &self.inner.headers {
            headers.append(PyList::new(py, [&**n, &**v])?)?;
        }
        d.set_item("headers", headers)?;
        d.set_item("body", self.inner.body.as_deref())?;
        match self.principal() {
            Some(p) => d.set_item("principal", p.to_dict(py)?)?,
            None => d.set_item("principal", py.None())?,
        }
        d.set_item("rule", self.inner.rule.as_deref())?;
        d.set_item("constraints", &self.inner.constraints)?;
        d.set_item("dry_run", self.inner.dry_run)?;
        Ok(d)
    }
    /// The decision as the contract's JSON text.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }
    fn __repr__(&self) -> String {
        let py_str = |v: Option<&str>| v.map_or_else(|| "None".to_owned(), |s| format!("{s:?}"));
        format!(
            "Decision(allow={}, status={}, reason={:?}, rule={}, principal={})",
            if self.inner.allow { "True" } else { "False" },
            self.inner.status,
            self.inner.reason.as_str(),
            py_str(self.inner.rule.as_deref()),
            py_str(self.inner.principal.as_ref().map(|p| p.id.as_str())),
        )
    }
}

/// The arguments of `decide`, `decide_step` and `decide_async`, as Python gave them.
struct RequestArgs<'a, 'py> {
    method: &'a Bound<'py, PyAny>,
    path: &'a Bound<'py, PyAny>,
    headers: Option<&'a Bound<'py, PyAny>>,
    peer: Option<&'a Bound<'py, PyAny>>,
    now: Option<&'a Bound<'py, PyAny>>,
    decoded: bool,
}

/// Converts `decide`'s arguments and hands the request to `decide`; what a client sent
/// that cannot be read is handed to `malformed` as this policy's malformed decision.
/// Raises `TypeError` for arguments of the wrong type.
fn with_request<R>(
    args: &RequestArgs<'_, '_>,
    decide: impl FnOnce(&admit::Request<'_>) -> PyResult<R>,
    malformed: impl Fn(&str) -> R,
) -> PyResult<R> {
    let method = text_arg("method", args.method)?;
    let path = text_arg("path", args.path)?;
    let peer = match args.peer {
        Some(p) if !p.is_none() => Some(text_arg("peer", p)?),
        _ => None,
    };
    let now = now_arg(args.now)?;
    let objects = match args.headers {
        Some(h) => header_objects(h)?,
        None => Vec::new(),
    };
    let mut owned: Vec<HeaderBytes<'_>> = Vec::with_capacity(objects.len());
    let mut unreadable: Option<String> = None;
    for (n, v) in &objects {
        let name = header_part("name", n)?;
        let value = header_part("value", v)?;
        match (name, value) {
            (Ok(n), Ok(v)) => owned.push((n, v)),
            (Err(e), _) | (_, Err(e)) => {
                unreadable.get_or_insert(e);
            }
        }
    }
    let (method, path, peer) = match (method.to_cow(), path.to_cow(), peer.map(|p| p.to_cow()).transpose()) {
        (Ok(m), Ok(p), Ok(peer)) => (m, p, peer),
        _ => return Ok(malformed("the method, path or peer is not valid UTF-8")),
    };
    if let Some(detail) = unreadable {
        return Ok(malformed(&detail));
    }
    let encoded;
    let path: &str = if args.decoded {
        encoded = admit::target_from_decoded(&path);
        &encoded
    } else {
        &path
    };
    let pairs: Vec<(&[u8], &[u8])> = owned.iter().map(|(n, v)| (&**n, &**v)).collect();
    decide(&admit::Request { method: &method, path, headers: &pairs, peer: peer.as_deref(), now })
}

/// A request kept for the rounds of a decision that waits for a host's check.
struct OwnedRequest {
    method: String,
    path: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    peer: Option<String>,
    now: i64,
}

impl OwnedRequest {
    fn new(req: &admit::Request<'_>) -> Self {
        OwnedRequest {
            method: req.method.to_owned(),
            path: req.path.to_owned(),
            headers: req.headers.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
            peer: req.peer.map(str::to_owned),
            now: req.now,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&admit::Request<'_>) -> R) -> R {
        let pairs: Vec<(&[u8], &[u8])> = self.headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        f(&admit::Request {
            method: &self.method,
            path: &self.path,
            headers: &pairs,
            peer: self.peer.as_deref(),
            now: self.now,
        })
    }
}

/// The most checks one decision asks for. Each round records a verdict the engine had
/// not had, so a decision ends long before; this bounds a host whose verdicts the
/// engine would not take.
const MAX_CHECKS: u32 = 8;

/// A step of a decision: the decision, or a credential for the host to check.
#[derive(IntoPyObject)]
pub enum Stepped {
    /// The decision.
    Decided(Decision),
    /// Check this, and resume.
    Pending(PendingCheck),
    /// `explain`'s answer: the explanation as a dict.
    Explained(Py<PyAny>),
}

/// An explanation as a dict of plain values (`{"decision": ..., "trace": ...}`).
fn explanation_dict(py: Python<'_>, e: &admit::Explanation) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(e).map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok(json_to_py(py, &value)?.unbind())
}

/// `next_step` for `explain`: the explanation, or the credential to check next.
fn next_explain_step(
    py: Python<'_>,
    engine: &Bound<'_, Engine>,
    req: &admit::Request<'_>,
    kept: Option<Arc<OwnedRequest>>,
    verdicts: admit::Verdicts,
    round: u32,
) -> PyResult<Stepped> {
    let e = &engine.get().inner;
    let explanation = match py.detach(|| e.explain_step(req, &verdicts)) {
        admit::ExplainStep::Explained(x) => *x,
        admit::ExplainStep::Check(check) if round < MAX_CHECKS => {
            return Ok(Stepped::Pending(PendingCheck {
                engine: engine.clone().unbind(),
                request: kept.unwrap_or_else(|| Arc::new(OwnedRequest::new(req))),
                verdicts,
                check,
                round: round + 1,
                explaining: true,
            }));
        }
        _ => py.detach(|| e.explain(req)),
    };
    Ok(Stepped::Explained(explanation_dict(py, &explanation)?))
}

/// What `Engine.decide` answers: the decision, made here or after the checks ran.
#[derive(IntoPyObject)]
pub enum Decided {
    /// Made in one call.
    Made(Decision),
    /// Made by `admit._checks.decide_sync`.
    Checked(Py<PyAny>),
}

/// The engine's next step on `req` with the `verdicts` so far: the decision, or the
/// credential the host must check next. A signature check (never asked natively) or
/// a decision past `MAX_CHECKS` is the plain decision, which refuses a credential it
/// has no verdict for.
fn next_step(
    py: Python<'_>,
    engine: &Bound<'_, Engine>,
    req: &admit::Request<'_>,
    kept: Option<Arc<OwnedRequest>>,
    verdicts: admit::Verdicts,
    round: u32,
    detach: bool,
) -> Stepped {
    let e = &engine.get().inner;
    let step = if detach { py.detach(|| e.decide_step(req, &verdicts)) } else { e.decide_step(req, &verdicts) };
    match step {
        admit::Step::Decided(inner) => Stepped::Decided(Decision { inner }),
        admit::Step::Check(check) if round < MAX_CHECKS => Stepped::Pending(PendingCheck {
            engine: engine.clone().unbind(),
            request: kept.unwrap_or_else(|| Arc::new(OwnedRequest::new(req))),
            verdicts,
            check,
            round: round + 1,
            explaining: false,
        }),
        _ => Stepped::Decided(Decision { inner: if detach { py.detach(|| e.decide(req)) } else { e.decide(req) } }),
    }
}

/// A decision that waits for the host's check of a credential (a `delegated`
/// authenticator's): run the check registered for `authenticator` on `credential`, then
/// `resume(verdict)` for the next step. The credential is a secret: it is in no repr.
#[pyclass(frozen, module = "admit", name = "PendingCheck")]
pub struct PendingCheck {
    engine: Py<Engine>,
    request: Arc<OwnedRequest>,
    verdicts: admit::Verdicts,
    check: admit::CredentialCheck,
    round: u32,
    /// The paused call is `explain`: `resume` answers its next step.
    explaining: bool,
}

#[pymethods]
impl PendingCheck {
    /// The id of the `delegated` authenticator whose check decides the credential.
    #[getter]
    fn authenticator(&self) -> &str {
        &self.check.authenticator
    }
    /// The credential, as it arrived (its source's prefix taken off): for the check only.
    #[getter]
    fn credential(&self) -> &str {
        &self.check.credential
    }
    /// The engine deciding.
    #[getter]
    fn engine(&self, py: Python<'_>) -> Py<Engine> {
        self.engine.clone_ref(py)
    }
    /// No principal yet (the middleware reads it like a decision's).
    #[getter]
    fn principal(&self) -> Option<Principal> {
        None
    }
    /// Never plain: the middleware resolves it first.
    #[getter]
    fn _plain(&self) -> bool {
        false
    }
    /// Records the check's verdict (an `admit.Verdict`) and answers the next step: the
    /// `Decision`, or another `PendingCheck`.
    fn resume(&self, py: Python<'_>, verdict: &Bound<'_, PyAny>) -> PyResult<Stepped> {
        let verdict = verdict.cast::<Verdict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "verdict must be an admit.Verdict (Verdict.principal, Verdict.refuse, Verdict.from_dict), not {}",
                type_name(verdict)
            ))
        })?;
        let mut verdicts = self.verdicts.clone();
        verdicts.record_credential(self.check.clone(), verdict.get().inner.clone());
        let engine = self.engine.bind(py);
        let kept = Arc::clone(&self.request);
        if self.explaining {
            return self.request.with(|req| next_explain_step(py, engine, req, Some(kept), verdicts, self.round));
        }
        Ok(self.request.with(|req| next_step(py, engine, req, Some(kept), verdicts, self.round, false)))
    }
    fn __repr__(&self) -> String {
        format!("PendingCheck(authenticator={:?}, credential=<hidden>)", &*self.check.authenticator)
    }
}

/// `roles` or `scopes`: a list (or tuple) of str, or None.
fn str_list(name: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(v) if v.is_none() => Ok(Vec::new()),
        Some(v) if v.is_instance_of::<PyString>() => {
            Err(PyTypeError::new_err(format!("{name} must be a list of str, not a str")))
        }
        Some(v) => v
            .extract::<Vec<String>>()
            .map_err(|_| PyTypeError::new_err(format!("{name} must be a list of str, not {}", type_name(v)))),
    }
}

/// A check's verdict on a credential: a principal (`Verdict.principal(id, roles=...,
/// scopes=...)`) or a refusal (`Verdict.refuse("expired")`).
#[pyclass(frozen, module = "admit", name = "Verdict")]
pub struct Verdict {
    inner: admit::CredentialVerdict,
}

#[pymethods]
impl Verdict {
    /// The credential is good: this principal, with these roles (names the policy
    /// defines) and scopes (names the policy declares; others do not count).
    #[staticmethod]
    #[pyo3(signature = (id, *, roles = None, scopes = None))]
    fn principal(
        id: &Bound<'_, PyAny>,
        roles: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let id = text_arg("id", id)?.to_cow()?.into_owned();
        let roles = str_list("roles", roles)?;
        let scopes = str_list("scopes", scopes)?;
        Ok(Verdict { inner: admit::CredentialVerdict::Principal { id, roles, scopes } })
    }
    /// The credential is refused: `"invalid_credentials"` (the default), `"expired"` or
    /// `"revoked"`.
    #[staticmethod]
    #[pyo3(signature = (reason = None))]
    fn refuse(reason: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let reason = match reason {
            Some(r) if !r.is_none() => text_arg("reason", r)?.to_cow()?.into_owned(),
            _ => "invalid_credentials".to_owned(),
        };
        let reason = match reason.as_str() {
            "invalid_credentials" => admit::Reason::InvalidCredentials,
            "expired" => admit::Reason::Expired,
            "revoked" => admit::Reason::Revoked,
            _ => {
                return Err(PyValueError::new_err(
                    "a check refuses with \"invalid_credentials\", \"expired\" or \"revoked\"",
                ));
            }
        };
        Ok(Verdict { inner: admit::CredentialVerdict::Refused(reason) })
    }
    /// Reads the verdict shape every binding's check answers: `{"id": ..., "roles":
    /// [...], "scopes": [...]}` or `{"refuse": reason}`. Raises `ValueError` (or
    /// `TypeError` for what JSON cannot hold) for anything else, quoting none of it.
    #[staticmethod]
    fn from_dict(py: Python<'_>, verdict: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !is_mapping(verdict)? {
            return Err(PyTypeError::new_err(format!("a verdict must be a dict, not {}", type_name(verdict))));
        }
        let text = dumps(py, "a verdict", verdict)?;
        admit::CredentialVerdict::from_json(&text).map(|inner| Verdict { inner }).map_err(PyValueError::new_err)
    }
    /// The principal's id, or `None` for a refusal.
    #[getter]
    fn id(&self) -> Option<&str> {
        match &self.inner {
            admit::CredentialVerdict::Principal { id, .. } => Some(id),
            admit::CredentialVerdict::Refused(_) => None,
        }
    }
    /// The principal's roles.
    #[getter]
    fn roles(&self) -> Vec<String> {
        match &self.inner {
            admit::CredentialVerdict::Principal { roles, .. } => roles.clone(),
            admit::CredentialVerdict::Refused(_) => Vec::new(),
        }
    }
    /// The principal's scopes.
    #[getter]
    fn scopes(&self) -> Vec<String> {
        match &self.inner {
            admit::CredentialVerdict::Principal { scopes, .. } => scopes.clone(),
            admit::CredentialVerdict::Refused(_) => Vec::new(),
        }
    }
    /// The refusal's reason, or `None` for a principal.
    #[getter]
    fn refused(&self) -> Option<&'static str> {
        match &self.inner {
            admit::CredentialVerdict::Refused(r) => Some(r.as_str()),
            admit::CredentialVerdict::Principal { .. } => None,
        }
    }
    /// The verdict in the shared JSON shape.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        match &self.inner {
            admit::CredentialVerdict::Principal { id, roles, scopes } => {
                d.set_item("id", id)?;
                d.set_item("roles", roles)?;
                d.set_item("scopes", scopes)?;
            }
            admit::CredentialVerdict::Refused(r) => d.set_item("refuse", r.as_str())?,
        }
        Ok(d)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Verdict>().is_ok_and(|o| o.get().inner == self.inner)
    }
    fn __repr__(&self) -> String {
        match &self.inner {
            admit::CredentialVerdict::Principal { id, roles, scopes } => {
                format!("Verdict.principal({id:?}, roles={roles:?}, scopes={scopes:?})")
            }
            admit::CredentialVerdict::Refused(r) => format!("Verdict.refuse({:?})", r.as_str()),
        }
    }
}

/// A compiled policy. Immutable and thread-safe: share one across threads; to reload,
/// build a new one and swap the reference.
#[pyclass(frozen, module = "admit", name = "Engine")]
pub struct Engine {
    inner: admit::Engine,
    /// The folder the policy's `{file = ...}` references were read from, absolute: where
    /// `keys_files()` resolves the keys files the host watches.
    base: PathBuf,
    /// True when the policy has an enabled `delegated` authenticator: only then can a
    /// decision wait for a host's check, and only then do the entry points step.
    delegated: bool,
    /// The host's checks of the `delegated` authenticators, by authenticator id
    /// (`set_check`): a dict of callables, read and written with the GIL held.
    checks: Py<PyDict>,
}

fn compile(
    py: Python<'_>,
    text: &str,
    format: Format,
    env: Option<&Bound<'_, PyAny>>,
    base: PathBuf,
    file: Option<&Path>,
) -> PyResult<Engine> {
    // Absolute now, so that the keys files `keys_files()` names are the files this load
    // read even if the process changes its working directory later.
    // (`Path::parent` of a bare file name is "", which `absolute` refuses: that is ".".)
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let base = std::path::absolute(&base).unwrap_or(base);
    let resolver = HostResolver { env: env_map(py, env)?, base };
    let result = py.detach(|| admit::Engine::from_text(text, format, &resolver));
    match result {
        Ok(inner) => {
            let delegated = inner.authenticators().any(|(_, kind)| kind == "delegated");
            Ok(Engine { inner, base: resolver.base, delegated, checks: PyDict::new(py).unbind() })
        }
        Err(e) => Err(policy_error(py, &e, file)),
    }
}

fn base_dir(base: Option<PathBuf>) -> PathBuf {
    base.unwrap_or_else(|| PathBuf::from("."))
}

/// Text from a `str` or UTF-8 `bytes` argument.
fn text_or_bytes(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| PyValueError::new_err(format!("{name} is not valid UTF-8")));
    }
    Err(PyTypeError::new_err(format!("{name} must be str or bytes, not {}", type_name(obj))))
}

fn format_arg(format: &str) -> PyResult<Format> {
    match format.to_ascii_lowercase().as_str() {
        "toml" => Ok(Format::Toml),
        "json" => Ok(Format::Json),
        other => Err(PyValueError::new_err(format!("format must be \"toml\" or \"json\", not {other:?}"))),
    }
}

/// An unreadable policy file as Python's `open` reports it: `OSError(errno, strerror,
/// filename)`, which Python turns into `FileNotFoundError`, `PermissionError`,
/// `IsADirectoryError`... with the path in `filename` and in the message. A file that is
/// not UTF-8 is a `ValueError` naming the file (never its bytes).
fn file_error(path: &Path, e: &std::io::Error) -> PyErr {
    let text = e.to_string();
    let strerror = text.split(" (os error").next().unwrap_or(&text).to_owned();
    match e.raw_os_error() {
        Some(code) => PyOSError::new_err((code, strerror, path.display().to_string())),
        None if e.kind() == std::io::ErrorKind::InvalidData => {
            PyValueError::new_err(format!("policy file {} is not UTF-8 text", path.display()))
        }
        None => PyOSError::new_err(format!("{}: {strerror}", path.display())),
    }
}

#[pymethods]
impl Engine {
    /// Compiles a policy file (`.json` is JSON, anything else TOML). `{env=...}`
    /// references read `env` (default `os.environ`); `{file=...}` paths are relative to
    /// the policy's folder.
    #[staticmethod]
    #[pyo3(signature = (path, env = None))]
    fn from_file(py: Python<'_>, path: &Bound<'_, PyAny>, env: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        if path.is_none() || path.is_instance_of::<PyInt>() || path.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!("path must be str or os.PathLike, not {}", type_name(path))));
        }
        let path: PathBuf = path.extract()?;
        #[expect(clippy::disallowed_methods, reason = "the binding is a host: it reads the policy file")]
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, &e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let format = Format::from_path(&path.to_string_lossy());
        compile(py, &text, format, env, base, Some(&path))
    }

    /// Compiles a TOML policy. `{file=...}` paths are relative to `base_dir` (default:
    /// the working directory).
    #[staticmethod]
    #[pyo3(signature = (text, env = None, base_dir = None))]
    fn from_toml(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        env: Option<&Bound<'_, PyAny>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let text = text_arg("text", text)?.to_cow()?;
        compile(py, &text, Format::Toml, env, self::base_dir(base_dir), None)
    }

    /// Compiles a JSON policy.
    #[staticmethod]
    #[pyo3(signature = (text, env = None, base_dir = None))]
    fn from_json(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        env: Option<&Bound<'_, PyAny>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let text = text_arg("text", text)?.to_cow()?;
        compile(py, &text, Format::Json, env, self::base_dir(base_dir), None)
    }

    /// Compiles a policy given as text in `format` (`"toml"` or `"json"`).
    #[staticmethod]
    #[pyo3(signature = (text, format = "toml", env = None, base_dir = None))]
    fn from_string(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        format: &str,
        env: Option<&Bound<'_, PyAny>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let format = format_arg(format)?;
        let text = text_arg("text", text)?.to_cow()?;
        compile(py, &text, format, env, self::base_dir(base_dir), None)
    }

    /// Compiles a policy given as a dict (the JSON form of the policy).
    #[staticmethod]
    #[pyo3(signature = (policy, env = None, base_dir = None))]
    fn from_dict(
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        env: Option<&Bound<'_, PyAny>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        if !is_mapping(policy)? {
            return Err(PyTypeError::new_err(format!("policy must be a dict, not {}", type_name(policy))));
        }
        let text = dumps(py, "policy", policy)?;
        compile(py, &text, Format::Json, env, self::base_dir(base_dir), None)
    }

    /// Decides about one request. `path`: the request target as the client sent it
    /// (percent-encoded, may carry a query); with `decoded=True`, a path a router already
    /// percent-decoded (Starlette's route path), re-encoded with `target_from_decoded` so
    /// the engine sees the router's segments and nothing is decoded twice. `headers`: a
    /// list of (name, value) pairs, a dict or a Starlette `Headers`; names and values str
    /// or bytes. `now`: unix seconds, default the clock. Never raises for what a client
    /// sent: unreadable input is a `malformed_request` decision. Raises `TypeError` for
    /// arguments of the wrong type.
    #[pyo3(signature = (method, path, headers = None, peer = None, now = None, *, decoded = false))]
    #[expect(clippy::too_many_arguments, reason = "positional and keyword arguments of a Python method")]
    fn decide(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        decoded: bool,
    ) -> PyResult<Decided> {
        let this = slf.get();
        let engine = &this.inner;
        let args = RequestArgs { method, path, headers, peer, now, decoded };
        if !this.delegated {
            return with_request(
                &args,
                |req| Ok(Decided::Made(Decision { inner: py.detach(|| engine.decide(req)) })),
                |detail| Decided::Made(Decision { inner: engine.malformed(detail) }),
            );
        }
        // A delegated credential: the registered checks run, synchronously, in
        // `admit._checks.decide_sync` (which logs what a check did wrong, never the
        // credential), each verdict handed back through `PendingCheck.resume`.
        with_request(
            &args,
            |req| match next_step(py, slf, req, None, admit::Verdicts::new(), 0, true) {
                Stepped::Decided(d) => Ok(Decided::Made(d)),
                Stepped::Pending(p) => {
                    let out = py.import("admit._checks")?.call_method1("decide_sync", (p,))?;
                    Ok(Decided::Checked(out.unbind()))
                }
                // `next_step` never explains.
                Stepped::Explained(x) => Ok(Decided::Checked(x)),
            },
            |detail| Decided::Made(Decision { inner: engine.malformed(detail) }),
        )
    }

    /// Explains the decision about one request: a dict `{"decision": ..., "trace": ...}`,
    /// `decision` the fields of the `Decision` that `decide` gives and `trace` how it was
    /// reached (docs/policy.md, "Explaining a decision"). Arguments as `decide`; a
    /// `delegated` authenticator's check runs as in `decide`. The trace never holds a
    /// credential or a secret. It is for people and tools, not for every request:
    /// `decide` does not pay for it.
    #[pyo3(signature = (method, path, headers = None, peer = None, now = None, *, decoded = false))]
    #[expect(clippy::too_many_arguments, reason = "positional and keyword arguments of a Python method")]
    fn explain(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        decoded: bool,
    ) -> PyResult<Py<PyAny>> {
        let engine = &slf.get().inner;
        let args = RequestArgs { method, path, headers, peer, now, decoded };
        let first = with_request(
            &args,
            |req| Ok(next_explain_step(py, slf, req, None, admit::Verdicts::new(), 0)),
            |detail| explanation_dict(py, &engine.explain_malformed(detail)).map(Stepped::Explained),
        )??;
        match first {
            Stepped::Explained(dict) => Ok(dict),
            // The registered checks run as for `decide`, in `admit._checks.decide_sync`.
            pending => Ok(py.import("admit._checks")?.call_method1("decide_sync", (pending,))?.unbind()),
        }
    }

    /// One step of a decision: the `Decision`, or a `PendingCheck` when the request
    /// carries the credential of a `delegated` authenticator. The host runs its check on
    /// `pending.credential` and calls `pending.resume(verdict)`, which answers the next
    /// step. Arguments as `decide`.
    #[pyo3(signature = (method, path, headers = None, peer = None, now = None, *, decoded = false))]
    #[expect(clippy::too_many_arguments, reason = "positional and keyword arguments of a Python method")]
    fn decide_step(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        decoded: bool,
    ) -> PyResult<Stepped> {
        let args = RequestArgs { method, path, headers, peer, now, decoded };
        with_request(
            &args,
            |req| Ok(next_step(py, slf, req, None, admit::Verdicts::new(), 0, true)),
            |detail| Stepped::Decided(Decision { inner: slf.get().inner.malformed(detail) }),
        )
    }

    /// `decide` for async code: a coroutine answering the `Decision`, after awaiting the
    /// registered check of a `delegated` authenticator when the request carries its
    /// credential (an `async def` check is awaited, a plain one called). Arguments as
    /// `decide`.
    #[pyo3(signature = (method, path, headers = None, peer = None, now = None, *, decoded = false))]
    #[expect(clippy::too_many_arguments, reason = "positional and keyword arguments of a Python method")]
    fn decide_async<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        decoded: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = RequestArgs { method, path, headers, peer, now, decoded };
        let first = with_request(
            &args,
            |req| Ok(next_step(py, slf, req, None, admit::Verdicts::new(), 0, false)),
            |detail| Stepped::Decided(Decision { inner: slf.get().inner.malformed(detail) }),
        )?;
        py.import("admit._checks")?.call_method1("decide_async", (first,))
    }

    /// Registers the host's check of the `delegated` authenticator `authenticator_id`: a
    /// callable taking the credential (str) and answering a verdict (a dict
    /// `{"id", "roles", "scopes"}` or `{"refuse": reason}`, an `admit.Verdict`, or `None`
    /// for an unknown credential); `None` removes it. Raises `EngineError` for an
    /// authenticator that is not an enabled `delegated` one.
    fn set_check(&self, py: Python<'_>, authenticator_id: Cow<'_, str>, check: &Bound<'_, PyAny>) -> PyResult<()> {
        match self.inner.authenticators().find(|(id, _)| *id == authenticator_id) {
            Some((_, "delegated")) => {}
            Some((_, kind)) => {
                return Err(engine_error(&admit::EngineError::Unsupported(format!(
                    "authenticator `{authenticator_id}` is a `{kind}` authenticator: only a `delegated` one takes a check"
                ))));
            }
            None => return Err(engine_error(&admit::EngineError::UnknownAuthenticator(authenticator_id.into_owned()))),
        }
        let checks = self.checks.bind(py);
        if check.is_none() {
            if checks.contains(&*authenticator_id)? {
                checks.del_item(&*authenticator_id)?;
            }
            return Ok(());
        }
        if !check.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "check must be a callable taking the credential (str), or None, not {}",
                type_name(check)
            )));
        }
        checks.set_item(&*authenticator_id, check)
    }

    /// The check registered for `authenticator_id`, or `None`.
    fn get_check(&self, py: Python<'_>, authenticator_id: Cow<'_, str>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.checks.bind(py).get_item(&*authenticator_id)?.map(Bound::unbind))
    }

    /// The ASGI middleware's entry point (`admit.fastapi.AdmitMiddleware`): the same
    /// decision as `Admit.decide_scope(scope)`, read from the scope in one call. `path`
    /// is the route path the caller computed (`admit.fastapi.route_path`); method,
    /// headers and client come from the scope.
    /// With a `delegated` authenticator in the policy, a `PendingCheck` when the request
    /// carries its credential.
    #[pyo3(name = "_decide_asgi")]
    fn decide_asgi(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        scope: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
    ) -> PyResult<Stepped> {
        let this = slf.get();
        let engine = &this.inner;
        if !this.delegated {
            return decide_asgi_scope(engine, py, scope, path, |req| engine.decide(req), |d| d)
                .map(|inner| Stepped::Decided(Decision { inner }));
        }
        decide_asgi_scope(
            engine,
            py,
            scope,
            path,
            |req| next_step(py, slf, req, None, admit::Verdicts::new(), 0, false),
            |inner| Stepped::Decided(Decision { inner }),
        )
    }

    /// The decision for a request the host could not read (say a path that is not
    /// UTF-8), answered the way this policy answers malformed requests.
    fn malformed(&self, detail: Cow<'_, str>) -> Decision {
        Decision { inner: self.inner.malformed(&detail) }
    }

    /// Replaces the key set of a `jwt` authenticator with a JWKS (JSON text, bytes or a
    /// dict). Returns the number of usable keys. Raises `EngineError`.
    fn set_jwks(&self, py: Python<'_>, authenticator_id: Cow<'_, str>, jwks: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text: String = if let Ok(s) = jwks.cast::<PyString>() {
            s.to_cow()?.into_owned()
        } else if let Ok(b) = jwks.cast::<PyBytes>() {
            String::from_utf8(b.as_bytes().to_vec()).map_err(|_| PyValueError::new_err("jwks is not valid UTF-8"))?
        } else if is_mapping(jwks)? {
            dumps(py, "jwks", jwks)?
        } else {
            return Err(PyTypeError::new_err(format!("jwks must be str, bytes or a dict, not {}", type_name(jwks))));
        };
        let engine = &self.inner;
        py.detach(|| engine.set_jwks(&authenticator_id, &text)).map_err(|e| engine_error(&e))
    }

    /// The key set URL of each enabled `jwt` authenticator with a `jwks_url`, as
    /// `(authenticator id, url)` pairs in policy order: what a host fetches and hands to
    /// `set_jwks` (`admit.fastapi.Admit` does). Until then that authenticator accepts no
    /// token (`unknown_key`).
    fn jwks_urls(&self) -> Vec<(&str, &str)> {
        self.inner.jwks_urls()
    }

    /// The keys file of each enabled `api_key` or `bearer_token` authenticator that keeps
    /// its keys in one, as `(authenticator id, path)` pairs in policy order. The path is
    /// absolute: the policy's reference resolved against the policy's folder
    /// (`from_file`) or `base_dir` (the text constructors; default the working directory
    /// at load), exactly the file the load read. A host watches it and hands its new text
    /// to `set_keys`.
    fn keys_files(&self) -> Vec<(&str, String)> {
        self.inner
            .keys_files()
            .into_iter()
            .map(|(id, path)| {
                let p = Path::new(path);
                let full = if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) };
                (id, full.to_string_lossy().into_owned())
            })
            .collect()
    }

    /// Replaces the keys of an `api_key` or `bearer_token` authenticator with those of a
    /// keys file's text (`str` or UTF-8 `bytes`; TOML `[[keys]]`, or JSON `{"keys": [...]}`)
    /// whole and at once: the next decision, in every thread, sees the new set. Returns
    /// the number of keys taken. A file with any problem raises `EngineError` and the old
    /// keys stay; the message names places, never a value of the file.
    fn set_keys(
        &self,
        py: Python<'_>,
        authenticator_id: Cow<'_, str>,
        keys_file: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let text = text_or_bytes("keys_file", keys_file)?;
        let engine = &self.inner;
        py.detach(|| engine.set_keys(&authenticator_id, &text)).map_err(|e| engine_error(&e))
    }

    /// Issues a token that the `jwt` authenticator `authenticator_id` accepts (it needs
    /// a signing key). Raises `EngineError`.
    #[pyo3(signature = (authenticator_id, subject, *, roles = None, scopes = None, lifetime = None, now = None, claims = None))]
    #[expect(clippy::too_many_arguments, reason = "keyword arguments of a Python method")]
    fn issue_token(
        &self,
        py: Python<'_>,
        authenticator_id: Cow<'_, str>,
        subject: &Bound<'_, PyAny>,
        roles: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        lifetime: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        claims: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let subject = text_arg("subject", subject)?.to_cow()?;
        let roles = str_list("roles", roles)?;
        let scopes = str_list("scopes", scopes)?;
        let lifetime = match lifetime {
            Some(l) if !l.is_none() => {
                if l.is_instance_of::<PyBool>() || !l.is_instance_of::<PyInt>() {
                    return Err(PyTypeError::new_err(format!(
                        "lifetime must be an int (seconds), not {}",
                        type_name(l)
                    )));
                }
                Some(l.extract::<i64>().map_err(|_| PyValueError::new_err("lifetime is out of range"))?)
            }
            _ => None,
        };
        let now = now_arg(now)?;
        let extra = match claims {
            Some(c) if !c.is_none() => {
                if !is_mapping(c)? {
                    return Err(PyTypeError::new_err(format!("claims must be a dict, not {}", type_name(c))));
                }
                let text = dumps(py, "claims", c)?;
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(m)) => Some(m),
                    _ => return Err(PyTypeError::new_err("claims must be a dict of JSON values")),
                }
            }
            _ => None,
        };
        let request = admit::TokenRequest { subject: &subject, roles: &roles, scopes: &scopes, lifetime, now, extra };
        let engine = &self.inner;
        py.detach(|| engine.issue_token(&authenticator_id, &request)).map_err(|e| engine_error(&e))
    }

    /// The enabled authenticators, in the order they are tried: (id, type) pairs.
    fn authenticators(&self) -> Vec<(String, &'static str)> {
        self.inner.authenticators().map(|(id, kind)| (id.to_owned(), kind)).collect()
    }

    /// The header an enabled `api_key` authenticator reads, or `None`.
    fn api_key_header(&self, authenticator_id: Cow<'_, str>) -> Option<String> {
        self.inner.api_key_header(&authenticator_id).map(str::to_owned)
    }

    /// Things in the policy that are legal but probably unintended.
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for w in self.inner.warnings() {
            let d = PyDict::new(py);
            d.set_item("place", &w.place)?;
            d.set_item("line", w.line)?;
            d.set_item("column", w.column)?;
            d.set_item("message", &w.message)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The route rules, in policy order (the first that matches decides): a list of
    /// dicts with `index`, `name`, `methods` (upper case, `None` for every method),
    /// `patterns` (canonical form), `catch_all` (a pattern ends in `**`), `access`
    /// (`"public"`, `"deny"` or `"authenticated"`), `require`, `require_any`,
    /// `authenticators` (ids, `None` for all) and `dry_run`.
    fn rules<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        describe_rules(py, &self.inner)
    }

    /// The rule that decides `method` on `path`, as a dict with `index`, `name`,
    /// `pattern` and `catch_all`; `None` when no rule matches (`no_route`). `path` is a
    /// request target (percent-encoded), or with `decoded=True` a router's decoded path.
    /// A path the policy refuses raises `ValueError` with the reason a decision gives.
    #[pyo3(signature = (method, path, *, decoded = false))]
    fn match_route<'py>(
        &self,
        py: Python<'py>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        decoded: bool,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        describe_match(py, &self.inner, method, path, decoded)
    }

    /// True when the policy has a `[cors]` table (the engine answers CORS itself).
    fn has_cors(&self) -> bool {
        self.inner.has_cors()
    }

    /// The enabled `jwt` authenticators in policy order: dicts with `id`, `issuer`
    /// (`None` when not configured) and `audience` (a list).
    fn jwt_authenticators<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        describe_jwts(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        let ids: Vec<String> = self.inner.authenticators().map(|(id, kind)| format!("{id} ({kind})")).collect();
        format!("Engine(authenticators=[{}])", ids.join(", "))
    }
}

fn describe_rules<'py>(py: Python<'py>, engine: &admit::Engine) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for r in engine.rules() {
        let d = PyDict::new(py);
        d.set_item("index", r.index)?;
        d.set_item("name", r.name)?;
        d.set_item("methods", r.methods)?;
        d.set_item("patterns", &r.patterns)?;
        d.set_item("catch_all", r.catch_all)?;
        d.set_item("access", r.access.as_str())?;
        d.set_item("require", r.require)?;
        d.set_item("require_any", r.require_any)?;
        d.set_item("authenticators", r.authenticators)?;
        d.set_item("dry_run", r.dry_run)?;
        list.append(d)?;
    }
    Ok(list)
}

fn describe_match<'py>(
    py: Python<'py>,
    engine: &admit::Engine,
    method: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    decoded: bool,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let method = text_arg("method", method)?.to_cow()?;
    let path = text_arg("path", path)?.to_cow()?;
    let target = if decoded { admit::target_from_decoded(&path) } else { path };
    let found = engine.match_route(&method, &target).map_err(|e| PyValueError::new_err(e.message()))?;
    let Some(m) = found else { return Ok(None) };
    let d = PyDict::new(py);
    d.set_item("index", m.index)?;
    d.set_item("name", m.name)?;
    d.set_item("pattern", &m.pattern)?;
    d.set_item("catch_all", m.catch_all)?;
    Ok(Some(d))
}

fn describe_jwts<'py>(py: Python<'py>, engine: &admit::Engine) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for j in engine.jwt_authenticators() {
        let d = PyDict::new(py);
        d.set_item("id", j.id)?;
        d.set_item("issuer", j.issuer)?;
        d.set_item("audience", j.audience)?;
        list.append(d)?;
    }
    Ok(list)
}

/// What the middleware does with an allowed request that needs nothing else: no
/// headers to add, not a dry-run refusal to report.
fn decision_is_plain(d: &admit::Decision) -> bool {
    d.allow && !d.dry_run && d.headers.is_empty()
}

/// `scope.get(key)` for an ASGI scope: a dict (every server's), or any mapping.
fn scope_get<'py>(scope: &Bound<'py, PyAny>, key: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Ok(d) = scope.cast::<PyDict>() {
        return d.get_item(key);
    }
    let v = scope.call_method1(pyo3::intern!(scope.py(), "get"), (key,))?;
    Ok(if v.is_none() { None } else { Some(v) })
}

/// The decision `Admit.decide_scope` makes for an ASGI scope, with `path` the route
/// path: method `scope.get("method") or "GET"`, headers `scope.get("headers") or ()`,
/// peer `scope["client"][0]` when the client is set and that is a str. Arguments are
/// converted as `Engine.decide(..., decoded=True)` converts them; a `path` that is not
/// a str is the malformed decision "the request has no path"; `""` (the root_path
/// itself) is decided as `/`.
fn decide_asgi_scope<R>(
    engine: &admit::Engine,
    py: Python<'_>,
    scope: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    decide: impl FnOnce(&admit::Request<'_>) -> R,
    malformed: impl Fn(admit::Decision) -> R,
) -> PyResult<R> {
    let Ok(path) = path.cast::<PyString>() else {
        return Ok(malformed(engine.malformed("the request has no path")));
    };
    let method_obj = scope_get(scope, pyo3::intern!(py, "method"))?;
    let method = match &method_obj {
        Some(m) if m.is_truthy()? => Some(text_arg("method", m)?),
        _ => None,
    };
    let client = scope_get(scope, pyo3::intern!(py, "client"))?;
    let peer_obj = match client {
        Some(c) if c.is_truthy()? => Some(c.get_item(0)?),
        _ => None,
    };
    let peer = peer_obj.as_ref().and_then(|p| p.cast::<PyString>().ok());
    let headers = match scope_get(scope, pyo3::intern!(py, "headers"))? {
        Some(h) if h.is_truthy()? => header_objects(&h)?,
        _ => Vec::new(),
    };
    let mut pairs: Vec<HeaderBytes<'_>> = Vec::with_capacity(headers.len());
    let mut unreadable: Option<String> = None;
    for (n, v) in &headers {
        match (header_part("name", n)?, header_part("value", v)?) {
            (Ok(n), Ok(v)) => pairs.push((n, v)),
            (Err(e), _) | (_, Err(e)) => {
                unreadable.get_or_insert(e);
            }
        }
    }
    let method = match method.map(|m| m.to_cow()).transpose() {
        Ok(m) => m.unwrap_or(Cow::Borrowed("GET")),
        Err(_) => return Ok(malformed(engine.malformed("the method, path or peer is not valid UTF-8"))),
    };
    let (path, peer) = match (path.to_cow(), peer.map(|p| p.to_cow()).transpose()) {
        (Ok(p), Ok(peer)) => (p, peer),
        _ => return Ok(malformed(engine.malformed("the method, path or peer is not valid UTF-8"))),
    };
    if let Some(detail) = unreadable {
        return Ok(malformed(engine.malformed(&detail)));
    }
    let target = admit::target_from_decoded(if path.is_empty() { "/" } else { &path });
    let borrowed: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (&**n, &**v)).collect();
    // Decided with the GIL held, unlike `decide`: the caller is the event loop's thread,
    // the decision takes microseconds, and a GIL handed to a busy worker thread (a sync
    // endpoint) could keep the event loop waiting for it for the switch interval (5 ms).
    Ok(decide(&admit::Request {
        method: &method,
        path: &target,
        headers: &borrowed,
        peer: peer.as_deref(),
        now: clock(),
    }))
}

/// The SHA-256 of an API key as lower-case hex: what a policy stores.
#[pyfunction]
fn hash_key(key: &Bound<'_, PyAny>) -> PyResult<String> {
    let key = text_arg("key", key)?.to_cow()?;
    Ok(admit::hash_key(&key))
}

/// A percent-decoded path (what a router such as Starlette matches on) as a request
/// target for the engine: `%`, `?`, `#` and every byte outside RFC 3986 `pchar` are
/// percent-encoded, `/` stays a separator. `decide(..., decoded=True)` applies it.
#[pyfunction]
fn target_from_decoded(path: &Bound<'_, PyAny>) -> PyResult<String> {
    let path = text_arg("path", path)?.to_cow()?;
    Ok(admit::target_from_decoded(&path).into_owned())
}

/// Checks a `jwks_url` as every host does before fetching it (`admit::fetch::check_url`):
/// `https://`, or `http://` to a loopback address; a host; no user info or fragment.
/// Raises `ValueError` with a message that quotes no part of the URL.
#[pyfunction]
fn check_jwks_url(url: &Bound<'_, PyAny>) -> PyResult<()> {
    let url = text_arg("url", url)?.to_cow()?;
    admit::fetch::check_url(&url).map_err(PyValueError::new_err)
}

/// The freshness lifetime a `Cache-Control` value gives, in seconds (`s-maxage` or
/// `max-age`; 0 for `no-cache` or `no-store`); `None` when it says nothing about it.
#[pyfunction]
fn fetch_max_age(cache_control: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    Ok(admit::fetch::max_age(&text_arg("cache_control", cache_control)?.to_cow()?))
}

/// Seconds from a good fetch to the next background refresh: 90% of the set's max-age
/// (the default max-age without one), within the refresh bounds.
#[pyfunction]
#[pyo3(signature = (cache_control = None))]
fn fetch_refresh_after(cache_control: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    let text = match cache_control {
        Some(c) if !c.is_none() => Some(text_arg("cache_control", c)?.to_cow()?),
        _ => None,
    };
    Ok(admit::fetch::refresh_after(text.as_deref()))
}

/// Seconds to wait after `failures` failed fetches in a row: 1 s doubled per failure
/// after the first, at most the retry cap.
#[pyfunction]
fn fetch_retry_after(failures: &Bound<'_, PyAny>) -> PyResult<u64> {
    if failures.is_instance_of::<PyBool>() || !failures.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("failures must be an int, not {}", type_name(failures))));
    }
    let n: i64 = failures.extract().map_err(|_| PyValueError::new_err("failures is out of range"))?;
    Ok(admit::fetch::retry_after(u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
}

/// The fetch rules' numbers, by the names of `admit::fetch` (and the keys file's size
/// limit), for `admit.fetch_rules`.
fn fetch_constants<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    use admit::fetch as f;
    let d = PyDict::new(py);
    d.set_item("TIMEOUT_SECS", f::TIMEOUT_SECS)?;
    d.set_item("MAX_BYTES", f::MAX_BYTES)?;
    d.set_item("DEFAULT_MAX_AGE", f::DEFAULT_MAX_AGE)?;
    d.set_item("MIN_REFRESH_SECS", f::MIN_REFRESH_SECS)?;
    d.set_item("MAX_REFRESH_SECS", f::MAX_REFRESH_SECS)?;
    d.set_item("RETRY_MIN_SECS", f::RETRY_MIN_SECS)?;
    d.set_item("RETRY_MAX_SECS", f::RETRY_MAX_SECS)?;
    d.set_item("UNKNOWN_KEY_INTERVAL_SECS", f::UNKNOWN_KEY_INTERVAL_SECS)?;
    d.set_item("MAX_URL_BYTES", f::MAX_URL_BYTES)?;
    d.set_item("MAX_KEYS_FILE_BYTES", admit::MAX_KEYS_FILE_BYTES)?;
    Ok(d)
}

/// The native module.
#[pymodule]
fn _admit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Engine>()?;
    m.add_class::<Decision>()?;
    m.add_class::<Principal>()?;
    m.add_class::<Verdict>()?;
    m.add_class::<PendingCheck>()?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add_function(wrap_pyfunction!(hash_key, m)?)?;
    m.add_function(wrap_pyfunction!(target_from_decoded, m)?)?;
    m.add_function(wrap_pyfunction!(check_jwks_url, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_max_age, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_refresh_after, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_retry_after, m)?)?;
    m.add("FETCH_RULES", fetch_constants(py)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
