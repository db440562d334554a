//! `admit_decision`: the answer for one request, read through accessors.

use std::ffi::c_char;

use admit_core::{Decision, Principal};

use crate::{admit_result, admit_str, give_string, guard, put};

/// The answer for one request. Owned by the caller, freed with `admit_decision_free`;
/// every string an accessor returns points into the decision and lives as long as it.
/// A decision owns all its data: it outlives the engine and the request that made it,
/// and may be read from any thread.
///
/// The host's rule: if `admit_decision_allow` is false, answer `admit_decision_status`
/// with the decision's headers and body; if true, call the handler and add the headers
/// to its response.
pub struct admit_decision {
    d: Decision,
}

impl admit_decision {
    pub(crate) fn boxed(d: Decision) -> *mut admit_decision {
        Box::into_raw(Box::new(admit_decision { d }))
    }
}

/// Reads the decision behind `d`, or answers `none` for NULL or a panic.
///
/// # Safety
/// `d` is NULL or a live decision.
unsafe fn read<T: Copy>(d: *const admit_decision, none: T, f: impl FnOnce(&Decision) -> T) -> T {
    // SAFETY: the caller promises `d` is NULL or a live decision.
    guard(|| none, || unsafe { d.as_ref() }.map_or(none, |h| f(&h.d)))
}

/// Reads the principal, or answers `none` when there is none.
///
/// # Safety
/// As for [`read`].
unsafe fn principal<T: Copy>(d: *const admit_decision, none: T, f: impl FnOnce(&Principal) -> T) -> T {
    // SAFETY: the caller's promise, passed on.
    unsafe { read(d, none, |d| d.principal.as_deref().map_or(none, f)) }
}

/// Slice `s` of length `len` as text, for a name argument.
///
/// # Safety
/// `s` is NULL or valid for `len` bytes.
unsafe fn name_arg<'a>(s: *const c_char, len: usize) -> Option<&'a str> {
    // SAFETY: the caller's promise, passed on.
    unsafe { crate::text(s, len) }.ok()
}

/// True: pass the request to the handler. False for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_allow(decision: *const admit_decision) -> bool {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, false, |d| d.allow) }
}

/// The status to answer when the request is not allowed (401, 403, 400, 204 for a
/// preflight...). 500 for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_status(decision: *const admit_decision) -> u16 {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, 500, |d| d.status) }
}

/// The reason code: `ok`, `public`, `preflight`, `missing_credentials`,
/// `invalid_credentials`, `expired`, `not_yet_valid`, `revoked`, `unknown_key`,
/// `insufficient_scope`, `origin_not_allowed`, `not_local`, `route_denied`, `no_route`,
/// `malformed_request`. A static NUL-terminated string; `{NULL, 0}` for NULL. As a
/// number: `admit_decision_reason_code`.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_reason(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| reason_str(d.reason)) }
}

/// A decision's reason as a number, for a `switch` (`admit_decision_reason_code`); each
/// is the code `admit_decision_reason` spells (`ADMIT_REASON_UNKNOWN_KEY` is
/// `unknown_key`). The values are stable: a new reason gets a new number.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum admit_reason {
    /// `ok`: a principal was authenticated and holds what the route requires.
    Ok = 0,
    /// `public`: the route is public.
    Public = 1,
    /// `preflight`: a CORS preflight, answered by admit.
    Preflight = 2,
    /// `missing_credentials`: no credential where one is required.
    MissingCredentials = 3,
    /// `invalid_credentials`: a credential was presented and is wrong.
    InvalidCredentials = 4,
    /// `expired`: the credential has expired.
    Expired = 5,
    /// `not_yet_valid`: the token's `nbf` lies in the future.
    NotYetValid = 6,
    /// `revoked`: the key or token was revoked.
    Revoked = 7,
    /// `unknown_key`: a JWT names a `kid` the key set lacks: fetch the JWKS again and
    /// call `admit_engine_set_jwks`.
    UnknownKey = 8,
    /// `insufficient_scope`: the principal lacks a scope the route requires.
    InsufficientScope = 9,
    /// `origin_not_allowed`: the request's `Origin` is not allowed.
    OriginNotAllowed = 10,
    /// `not_local`: the caller is not on this machine.
    NotLocal = 11,
    /// `route_denied`: the route is never served.
    RouteDenied = 12,
    /// `no_route`: no rule matches the request.
    NoRoute = 13,
    /// `malformed_request`: the request cannot be read (also a NULL decision's code).
    MalformedRequest = 14,
}

/// The C code of a core reason and its text. Exhaustive, with no wildcard: a reason
/// added to the core does not compile here until it has a C value.
fn reason_of(r: admit_core::Reason) -> (admit_reason, &'static str) {
    use admit_core::Reason as R;
    use admit_reason as C;
    match r {
        R::Ok => (C::Ok, "ok\0"),
        R::Public => (C::Public, "public\0"),
        R::Preflight => (C::Preflight, "preflight\0"),
        R::MissingCredentials => (C::MissingCredentials, "missing_credentials\0"),
        R::InvalidCredentials => (C::InvalidCredentials, "invalid_credentials\0"),
        R::Expired => (C::Expired, "expired\0"),
        R::NotYetValid => (C::NotYetValid, "not_yet_valid\0"),
        R::Revoked => (C::Revoked, "revoked\0"),
        R::UnknownKey => (C::UnknownKey, "unknown_key\0"),
        R::InsufficientScope => (C::InsufficientScope, "insufficient_scope\0"),
        R::OriginNotAllowed => (C::OriginNotAllowed, "origin_not_allowed\0"),
        R::NotLocal => (C::NotLocal, "not_local\0"),
        R::RouteDenied => (C::RouteDenied, "route_denied\0"),
        R::NoRoute => (C::NoRoute, "no_route\0"),
        R::MalformedRequest => (C::MalformedRequest, "malformed_request\0"),
    }
}

/// A reason's code as a NUL-terminated static string.
fn reason_str(r: admit_core::Reason) -> admit_str {
    let s = reason_of(r).1;
    admit_str { ptr: s.as_ptr().cast(), len: s.len().saturating_sub(1) }
}

/// The reason as an `admit_reason` value, to `switch` on instead of comparing
/// `admit_decision_reason`'s text (e.g. `ADMIT_REASON_UNKNOWN_KEY`: refresh the key
/// set). `ADMIT_REASON_MALFORMED_REQUEST` for NULL, the fallback decision's reason.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_reason_code(decision: *const admit_decision) -> admit_reason {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_reason::MalformedRequest, |d| reason_of(d.reason).0) }
}

/// The human-readable message (the policy may override it per reason). `{NULL, 0}` for
/// NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_message(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| admit_str::of(&d.message)) }
}

/// The body to send when the request is not allowed; `{NULL, 0}` when there is none
/// (and for NULL).
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_body(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| admit_str::opt(d.body.as_deref())) }
}

/// The id of the route rule that decided; `{NULL, 0}` when none did (and for NULL).
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_rule(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| admit_str::opt(d.rule.as_deref())) }
}

/// True when the policy only reports: the request passes and the reason says what
/// enforcement would have done. False for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_dry_run(decision: *const admit_decision) -> bool {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, false, |d| d.dry_run) }
}

/// How many headers to add to the response (in both cases). 0 for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_header_count(decision: *const admit_decision) -> usize {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, 0, |d| d.headers.len()) }
}

/// Header `index` (from 0): its name in `*name_out` and value in `*value_out` (either
/// out-pointer may be NULL). `ADMIT_RESULT_NULL_ARGUMENT` for a NULL decision,
/// `ADMIT_RESULT_INVALID_ARGUMENT` past the end; the outputs are then `{NULL, 0}`.
///
/// # Safety
/// `decision` is NULL or a live decision; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_header(
    decision: *const admit_decision,
    index: usize,
    name_out: *mut admit_str,
    value_out: *mut admit_str,
) -> admit_result {
    let none = (admit_result::NullArgument, admit_str::NONE, admit_str::NONE);
    // SAFETY: the caller promises `decision` is NULL or live.
    let (code, n, v) = unsafe {
        read(decision, none, |d| match d.headers.get(index) {
            Some((n, v)) => (admit_result::Ok, admit_str::of(n), admit_str::of(v)),
            None => (admit_result::InvalidArgument, admit_str::NONE, admit_str::NONE),
        })
    };
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(name_out, n) };
    // SAFETY: as above.
    unsafe { put(value_out, v) };
    code
}

/// The first value of the response header `name` (case-insensitive); `{NULL, 0}` when
/// absent, for NULL arguments, or a name that is not UTF-8.
///
/// # Safety
/// `decision` is NULL or a live decision; `name` is NULL or valid for `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_header_get(
    decision: *const admit_decision,
    name: *const c_char,
    name_len: usize,
) -> admit_str {
    // SAFETY: the caller promises `name` is valid for its length.
    let Some(name) = (unsafe { name_arg(name, name_len) }) else { return admit_str::NONE };
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| admit_str::opt(d.header(name))) }
}

/// The principal's id (a user, a key's owner, a token's subject); `{NULL, 0}` when no
/// one was authenticated (and for NULL).
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_principal_id(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, admit_str::NONE, |p| admit_str::of(&p.id)) }
}

/// The id of the authenticator that recognised the principal; `{NULL, 0}` without one.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_principal_authenticator(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, admit_str::NONE, |p| admit_str::of(&p.authenticator)) }
}

/// The principal's kind: `anonymous`, `local`, `api_key`, `bearer_token` or `jwt`;
/// `{NULL, 0}` without a principal.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_principal_kind(decision: *const admit_decision) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, admit_str::NONE, |p| admit_str::of(p.kind)) }
}

/// How many roles the principal has (with the roles they include); 0 without one.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_role_count(decision: *const admit_decision) -> usize {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, 0, |p| p.roles.len()) }
}

/// Role `index` (from 0); `{NULL, 0}` past the end, without a principal, or for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_role(decision: *const admit_decision, index: usize) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, admit_str::NONE, |p| admit_str::opt(p.roles.get(index).map(String::as_str))) }
}

/// How many scopes the principal was granted; 0 without one.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_scope_count(decision: *const admit_decision) -> usize {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, 0, |p| p.scopes.len()) }
}

/// Scope `index` (from 0); `{NULL, 0}` past the end, without a principal, or for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_scope(decision: *const admit_decision, index: usize) -> admit_str {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { principal(decision, admit_str::NONE, |p| admit_str::opt(p.scopes.get(index).map(String::as_str))) }
}

/// A JWT principal's claims as JSON, a new NUL-terminated string for
/// `admit_string_free` in `*claims_out` (NULL when the principal has no claims: not a
/// JWT, or no principal), its length in `*claims_len_out` (when not NULL).
/// `ADMIT_RESULT_NULL_ARGUMENT` for a NULL decision or `claims_out`.
///
/// # Safety
/// `decision` is NULL or a live decision; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_claims_json(
    decision: *const admit_decision,
    claims_out: *mut *mut c_char,
    claims_len_out: *mut usize,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(claims_out, std::ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { put(claims_len_out, 0) };
    guard(
        || admit_result::Panic,
        || {
            // SAFETY: the caller promises `decision` is NULL or live.
            let Some(h) = (unsafe { decision.as_ref() }) else { return admit_result::NullArgument };
            if claims_out.is_null() {
                return admit_result::NullArgument;
            }
            if let Some(claims) = h.d.principal.as_ref().and_then(|p| p.claims.as_ref()) {
                // SAFETY: the caller promises the out-pointers are NULL or writable.
                unsafe { give_string(claims.to_string(), claims_out, claims_len_out) };
            }
            admit_result::Ok
        },
    )
}

/// How many constraints limit the grant (e.g. `owner`: the handler must only return the
/// principal's own resources); 0 when unrestricted, and for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_constraint_count(decision: *const admit_decision) -> usize {
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, 0, |d| d.constraints.len()) }
}

/// Constraint `index` (from 0, in name order), as for `admit_decision_header`.
///
/// # Safety
/// `decision` is NULL or a live decision; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_constraint(
    decision: *const admit_decision,
    index: usize,
    name_out: *mut admit_str,
    value_out: *mut admit_str,
) -> admit_result {
    let none = (admit_result::NullArgument, admit_str::NONE, admit_str::NONE);
    // SAFETY: the caller promises `decision` is NULL or live.
    let (code, n, v) = unsafe {
        read(decision, none, |d| match d.constraints.iter().nth(index) {
            Some((n, v)) => (admit_result::Ok, admit_str::of(n), admit_str::of(v)),
            None => (admit_result::InvalidArgument, admit_str::NONE, admit_str::NONE),
        })
    };
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(name_out, n) };
    // SAFETY: as above.
    unsafe { put(value_out, v) };
    code
}

/// The value of constraint `name` (e.g. `owner`); `{NULL, 0}` when absent or for NULL.
///
/// # Safety
/// `decision` is NULL or a live decision; `name` is NULL or valid for `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_constraint_get(
    decision: *const admit_decision,
    name: *const c_char,
    name_len: usize,
) -> admit_str {
    // SAFETY: the caller promises `name` is valid for its length.
    let Some(name) = (unsafe { name_arg(name, name_len) }) else { return admit_str::NONE };
    // SAFETY: the caller promises `decision` is NULL or live.
    unsafe { read(decision, admit_str::NONE, |d| admit_str::opt(d.constraints.get(name).map(String::as_str))) }
}

/// The whole decision as the contract's JSON, a new NUL-terminated string for
/// `admit_string_free` in `*json_out`, its length in `*json_len_out` (when not NULL).
/// `ADMIT_RESULT_NULL_ARGUMENT` (and `*json_out` NULL) for a NULL decision or `json_out`.
///
/// # Safety
/// `decision` is NULL or a live decision; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_to_json(
    decision: *const admit_decision,
    json_out: *mut *mut c_char,
    json_len_out: *mut usize,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(json_out, std::ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { put(json_len_out, 0) };
    guard(
        || admit_result::Panic,
        || {
            // SAFETY: the caller promises `decision` is NULL or live.
            let Some(h) = (unsafe { decision.as_ref() }) else { return admit_result::NullArgument };
            if json_out.is_null() {
                return admit_result::NullArgument;
            }
            // SAFETY: the caller promises the out-pointers are NULL or writable.
            unsafe { give_string(h.d.to_json(), json_out, json_len_out) };
            admit_result::Ok
        },
    )
}

/// Frees a decision. NULL is a no-op.
///
/// # Safety
/// `decision` is NULL or a decision admit returned, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decision_free(decision: *mut admit_decision) {
    if decision.is_null() {
        return;
    }
    guard(
        || (),
        || {
            // SAFETY: the caller promises `decision` came from `Box::into_raw` here, once.
            drop(unsafe { Box::from_raw(decision) });
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_c_code_and_text() {
        for (i, r) in admit_core::Reason::ALL.into_iter().enumerate() {
            let (code, text) = reason_of(r);
            assert_eq!(code as usize, i, "{r:?}: the C values follow the contract's order");
            assert_eq!(text.strip_suffix('\0'), Some(r.as_str()), "{r:?}");
        }
    }
}
