//! Host checks of `delegated` authenticators: a C callback checks a credential only the
//! application can (a session row, RFC 7662 introspection) and fills an
//! `admit_check_result` through the setters below; the decision loops through
//! `decide_step`, giving the core each verdict, and the core decides.

use std::ffi::{c_char, c_void};
use std::sync::{PoisonError, RwLock};

use admit_core::{CredentialCheck, CredentialVerdict, Decision, Engine, Reason, Request, Step, Verdicts};

use crate::{admit_engine, admit_error, admit_reason, admit_result, admit_str, give_error, guard, put, text};

/// The host's check of a `delegated` authenticator's credential, registered with
/// `admit_engine_set_check`.
///
/// It receives the `user_data` given at registration, the authenticator's id, the
/// credential (a secret: use it for the check and nowhere else, never in a log), and a
/// result to fill with `admit_check_result_set_principal` (plus `_add_role`,
/// `_add_scope`) or `admit_check_result_refuse`. `authenticator` and `credential` are
/// views valid only during the call, NUL-terminated too (a credential is RFC 6750
/// token characters and holds no NUL); admit copies what a setter is given. A callback
/// that sets nothing refuses the credential.
///
/// It runs on the thread that called `admit_decide` or `admit_decide_json`, possibly on
/// several threads at once: it must be thread-safe, must not unwind (a C++ exception) or
/// `longjmp` out, and may call admit (decide, even on the same engine).
pub type admit_check_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        authenticator: admit_str,
        credential: admit_str,
        result: *mut admit_check_result,
    ),
>;

/// What a check callback answers, filled through `admit_check_result_*` during the call
/// (owned by admit; never kept, never freed by the callback). Refused when
/// `admit_check_result_refuse` was called, when a setter was given a NULL or non-UTF-8
/// string or the principal twice, or when no principal was set.
pub struct admit_check_result {
    id: Option<String>,
    roles: Vec<String>,
    scopes: Vec<String>,
    refused: Option<Reason>,
}

impl admit_check_result {
    fn new() -> Self {
        admit_check_result { id: None, roles: Vec::new(), scopes: Vec::new(), refused: None }
    }

    /// The verdict for the core: `None` when the callback reported nothing.
    fn verdict(self) -> Option<CredentialVerdict> {
        if let Some(reason) = self.refused {
            return Some(CredentialVerdict::Refused(reason));
        }
        let id = self.id?;
        Some(CredentialVerdict::Principal { id, roles: self.roles, scopes: self.scopes })
    }

    /// A setter's problem: the credential is refused, whatever else is set.
    fn spoil(&mut self, code: admit_result) -> admit_result {
        self.refused.get_or_insert(Reason::InvalidCredentials);
        code
    }
}

/// A registered check: the callback and the user data given with it.
#[derive(Clone, Copy)]
struct Registered {
    f: unsafe extern "C" fn(*mut c_void, admit_str, admit_str, *mut admit_check_result),
    user_data: *mut c_void,
}

// SAFETY: `user_data` is the host's pointer, only handed back to its own callback;
// `admit_engine_set_check` documents that callback and data must be usable from any
// thread that decides (the same contract as a `pthread_create` argument shared between
// threads).
unsafe impl Send for Registered {}
// SAFETY: as above: admit never reads or writes through `user_data`.
unsafe impl Sync for Registered {}

/// The checks of an engine's `delegated` authenticators.
pub(crate) struct Checks {
    /// True when the policy has an enabled `delegated` authenticator: only then does a
    /// decision go through `decide_step` (every other policy decides as before).
    delegated: bool,
    by_id: RwLock<Vec<(Box<str>, Registered)>>,
}

/// The most rounds one decision takes (a real one takes one per credential, so one).
const MAX_ROUNDS: u32 = 16;

impl Checks {
    pub(crate) fn new(engine: &Engine) -> Self {
        Checks {
            delegated: engine.authenticators().any(|(_, kind)| kind == "delegated"),
            by_id: RwLock::new(Vec::new()),
        }
    }

    fn get(&self, id: &str) -> Option<Registered> {
        let list = self.by_id.read().unwrap_or_else(PoisonError::into_inner);
        list.iter().find(|(k, _)| &**k == id).map(|(_, r)| *r)
    }

    fn set(&self, id: &str, check: Option<Registered>) {
        let mut list = self.by_id.write().unwrap_or_else(PoisonError::into_inner);
        list.retain(|(k, _)| &**k != id);
        if let Some(r) = check {
            list.push((Box::from(id), r));
        }
    }
}

/// A string with a NUL after it, for a C callback that takes it as a C string.
fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// Runs the registered callback on `check`; `None` when there is none or it reported
/// nothing.
fn run(registered: Registered, check: &CredentialCheck) -> Option<CredentialVerdict> {
    let id = nul_terminated(&check.authenticator);
    let credential = nul_terminated(&check.credential);
    let view = |v: &Vec<u8>| admit_str { ptr: v.as_ptr().cast(), len: v.len().saturating_sub(1) };
    let mut result = admit_check_result::new();
    // SAFETY: the host registered `f` for this contract: it gets its own `user_data`,
    // two views valid for the call (the buffers outlive it) and a live result it only
    // passes to the setters below.
    unsafe { (registered.f)(registered.user_data, view(&id), view(&credential), &mut result) };
    result.verdict()
}

/// Decides about `req` with the engine's host checks: each credential a `delegated`
/// authenticator finds is checked by its callback and the core decides on the verdict.
/// A credential without a callback, or whose callback reported nothing, is refused.
pub(crate) fn decide(e: &admit_engine, req: &Request<'_>) -> Decision {
    if !e.checks.delegated {
        return e.engine.decide(req);
    }
    let mut verdicts = Verdicts::new();
    for _ in 0..MAX_ROUNDS {
        match e.engine.decide_step(req, &verdicts) {
            Step::Decided(d) => return d,
            Step::Check(check) => {
                let verdict = e.checks.get(&check.authenticator).and_then(|r| run(r, &check));
                match verdict {
                    Some(v) => verdicts.record_credential(check, v),
                    // No verdict: the decision without one, which the core refuses.
                    None => return e.engine.decide(req),
                }
            }
            // A native build checks every signature itself; were one deferred, the
            // decision without its verdict is a refusal.
            Step::Verify(_) => return e.engine.decide(req),
        }
    }
    e.engine.decide(req)
}

/// [`decide`] with the trace of how it was reached: the same rounds of host checks,
/// through `explain_step`.
pub(crate) fn explain(e: &admit_engine, req: &Request<'_>) -> admit_core::Explanation {
    if !e.checks.delegated {
        return e.engine.explain(req);
    }
    let mut verdicts = Verdicts::new();
    for _ in 0..MAX_ROUNDS {
        match e.engine.explain_step(req, &verdicts) {
            admit_core::ExplainStep::Explained(x) => return *x,
            admit_core::ExplainStep::Check(check) => {
                let verdict = e.checks.get(&check.authenticator).and_then(|r| run(r, &check));
                match verdict {
                    Some(v) => verdicts.record_credential(check, v),
                    None => return e.engine.explain(req),
                }
            }
            admit_core::ExplainStep::Verify(_) => return e.engine.explain(req),
        }
    }
    e.engine.explain(req)
}

/// Registers `check` as the credential check of the `delegated` authenticator
/// `authenticator` (replacing any before it; a NULL `check` removes it), called with
/// `user_data` each time a decision finds a credential of that authenticator. Without a
/// check, such a credential is refused (`invalid_credentials`).
///
/// `check` is called on whatever thread decides, possibly on several at once, and once
/// per decision that needs it (no verdict is kept between requests): it and `user_data`
/// must be safe to use from every such thread, and `user_data` must stay valid until the
/// engine is freed (or until the check is replaced and no decision that could still call
/// it is running). Safe to call while other threads decide; usually called once, after
/// `admit_engine_new`.
///
/// Returns `ADMIT_RESULT_OK`; `ADMIT_RESULT_NULL_ARGUMENT` (a NULL engine or a NULL id
/// with a length), `ADMIT_RESULT_INVALID_UTF8`, or `ADMIT_RESULT_ENGINE_ERROR` for an
/// enabled authenticator of another type, with an error in `*error_out` (when not NULL;
/// NULL on success) to free with `admit_error_free`. An id that no enabled authenticator
/// has (unknown, or disabled by the policy, which never asks) is kept and returns
/// `ADMIT_RESULT_OK`.
///
/// # Safety
/// `engine` is NULL or a live engine; `authenticator` is NULL or valid for its length;
/// `error_out` is NULL or writable; `check` follows `admit_check_fn`'s contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_set_check(
    engine: *const admit_engine,
    authenticator: *const c_char,
    authenticator_len: usize,
    check: admit_check_fn,
    user_data: *mut c_void,
    error_out: *mut *mut admit_error,
) -> admit_result {
    // SAFETY: the caller promises `error_out` is NULL or writable.
    unsafe { put(error_out, std::ptr::null_mut()) };
    let result = guard(
        || Err(admit_error::new(admit_result::Panic, "admit panicked while setting a check")),
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else {
                return Err(admit_error::new(admit_result::NullArgument, "engine is NULL"));
            };
            // SAFETY: the caller promises the string is valid for its length.
            let id =
                unsafe { text(authenticator, authenticator_len) }.map_err(|c| admit_error::arg(c, "authenticator"))?;
            if let Some((_, kind)) = e.engine.authenticators().find(|(a, _)| *a == id) {
                if kind != "delegated" {
                    return Err(admit_error::new(
                        admit_result::EngineError,
                        format!(
                            "authenticator `{id}` is a {kind} authenticator, not a delegated one: it has no host check"
                        ),
                    ));
                }
            }
            e.checks.set(id, check.map(|f| Registered { f, user_data }));
            Ok(())
        },
    );
    match result {
        Ok(()) => admit_result::Ok,
        Err(err) => {
            let code = err.code;
            // SAFETY: the caller promises `error_out` is NULL or writable.
            unsafe { give_error(err, error_out) };
            code
        }
    }
}

/// Applies `f` to the result behind `result` (a NULL result: `ADMIT_RESULT_NULL_ARGUMENT`).
///
/// # Safety
/// `result` is NULL or the result a check callback was given, during its call.
unsafe fn with_result(
    result: *mut admit_check_result,
    f: impl FnOnce(&mut admit_check_result) -> admit_result,
) -> admit_result {
    guard(
        || admit_result::Panic,
        || {
            // SAFETY: the caller promises `result` is NULL or the live result of a call.
            match unsafe { result.as_mut() } {
                Some(r) => f(r),
                None => admit_result::NullArgument,
            }
        },
    )
}

/// Adds a string to one of the result's lists, or spoils the result.
///
/// # Safety
/// As [`with_result`]; `s` is NULL or valid for `len` bytes.
unsafe fn push(
    result: *mut admit_check_result,
    s: *const c_char,
    len: usize,
    list: fn(&mut admit_check_result) -> &mut Vec<String>,
) -> admit_result {
    // SAFETY: the caller promises `s` is NULL or valid for `len` bytes.
    let value = unsafe { text(s, len) };
    // SAFETY: the caller's promise about `result`, passed on.
    unsafe {
        with_result(result, |r| match value {
            Ok(v) => {
                list(r).push(v.to_owned());
                admit_result::Ok
            }
            Err(code) => r.spoil(code),
        })
    }
}

/// Sets the principal the credential names: its id (`id_len` bytes of UTF-8, not empty,
/// no control character, else the core refuses it). Roles and scopes are added with
/// `admit_check_result_add_role` and `_add_scope`. Returns `ADMIT_RESULT_OK`; a NULL or
/// non-UTF-8 id, or a second principal, returns an error code and refuses the credential.
///
/// # Safety
/// `result` is NULL or the result the callback was given, during its call; `id` is NULL
/// or valid for `id_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_check_result_set_principal(
    result: *mut admit_check_result,
    id: *const c_char,
    id_len: usize,
) -> admit_result {
    // SAFETY: the caller promises `id` is NULL or valid for `id_len` bytes.
    let value = unsafe { text(id, id_len) };
    // SAFETY: the caller's promise about `result`, passed on.
    unsafe {
        with_result(result, |r| {
            if r.id.is_some() {
                return r.spoil(admit_result::InvalidArgument);
            }
            match value {
                Ok(v) => {
                    r.id = Some(v.to_owned());
                    admit_result::Ok
                }
                Err(code) => r.spoil(code),
            }
        })
    }
}

/// Adds a role of the principal: a role the policy defines (one it does not refuses the
/// credential). A NULL or non-UTF-8 role returns an error code and refuses the credential.
///
/// # Safety
/// As `admit_check_result_set_principal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_check_result_add_role(
    result: *mut admit_check_result,
    role: *const c_char,
    role_len: usize,
) -> admit_result {
    // SAFETY: the caller's promises, passed on.
    unsafe { push(result, role, role_len, |r| &mut r.roles) }
}

/// Adds a scope of the principal beyond its roles' (one the policy does not declare
/// does not count). A NULL or non-UTF-8 scope returns an error code and refuses the
/// credential.
///
/// # Safety
/// As `admit_check_result_set_principal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_check_result_add_scope(
    result: *mut admit_check_result,
    scope: *const c_char,
    scope_len: usize,
) -> admit_result {
    // SAFETY: the caller's promises, passed on.
    unsafe { push(result, scope, scope_len, |r| &mut r.scopes) }
}

/// Refuses the credential, whatever else was set, with `reason`:
/// `ADMIT_REASON_INVALID_CREDENTIALS` (no such session), `ADMIT_REASON_EXPIRED` or
/// `ADMIT_REASON_REVOKED`. Any other value refuses it as `invalid_credentials` and
/// returns `ADMIT_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
/// `result` is NULL or the result the callback was given, during its call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_check_result_refuse(result: *mut admit_check_result, reason: u32) -> admit_result {
    let (reason, code) = match reason {
        r if r == admit_reason::Expired as u32 => (Reason::Expired, admit_result::Ok),
        r if r == admit_reason::Revoked as u32 => (Reason::Revoked, admit_result::Ok),
        r if r == admit_reason::InvalidCredentials as u32 => (Reason::InvalidCredentials, admit_result::Ok),
        _ => (Reason::InvalidCredentials, admit_result::InvalidArgument),
    };
    // SAFETY: the caller's promise, passed on.
    unsafe {
        with_result(result, |r| {
            // The first refusal stands: a later one does not change its reason.
            r.refused.get_or_insert(reason);
            code
        })
    }
}
