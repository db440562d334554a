//! `admit_error`: why a call failed, with each problem of a policy and its place.

use std::ffi::CString;

use admit_core::LoadError;

use crate::{admit_result, admit_str, c_string, guard};

/// One problem found in a policy.
struct Problem {
    place: CString,
    line: usize,
    column: usize,
    message: CString,
}

/// An error: a result code, a message (every problem, one per line, each with its
/// place), and for `ADMIT_RESULT_POLICY_ERROR` the problems one by one. Owned by the
/// caller, freed with `admit_error_free`. Its strings are NUL-terminated and live as
/// long as the error.
pub struct admit_error {
    pub(crate) code: admit_result,
    message: CString,
    problems: Vec<Problem>,
}

impl admit_error {
    pub(crate) fn new(code: admit_result, message: impl Into<String>) -> Self {
        admit_error { code, message: c_string(message.into()), problems: Vec::new() }
    }

    /// An argument that was NULL or not UTF-8.
    pub(crate) fn arg(code: admit_result, what: &str) -> Self {
        let message = match code {
            admit_result::InvalidUtf8 => format!("{what} is not UTF-8"),
            _ => format!("{what} is NULL"),
        };
        admit_error::new(code, message)
    }

    pub(crate) fn from_load(e: &LoadError) -> Self {
        let problems = e
            .errors
            .iter()
            .map(|p| Problem {
                place: c_string(p.place.clone()),
                line: p.line.unwrap_or(0),
                column: p.column.unwrap_or(0),
                message: c_string(p.message.clone()),
            })
            .collect();
        admit_error { code: admit_result::PolicyError, message: c_string(e.to_string()), problems }
    }

    fn problem(&self, index: usize) -> Option<&Problem> {
        self.problems.get(index)
    }
}

fn view(c: &CString) -> admit_str {
    admit_str { ptr: c.as_ptr(), len: c.as_bytes().len() }
}

/// The error's result code; `ADMIT_RESULT_NULL_ARGUMENT` for NULL.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_code(error: *const admit_error) -> admit_result {
    // SAFETY: the caller promises `error` is NULL or a live error.
    guard(|| admit_result::Panic, || unsafe { error.as_ref() }.map_or(admit_result::NullArgument, |e| e.code))
}

/// The whole message, NUL-terminated: for a policy, every problem on its own line as
/// `line L, column C: place: what is wrong`. `{NULL, 0}` for a NULL error.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_message(error: *const admit_error) -> admit_str {
    // SAFETY: the caller promises `error` is NULL or a live error.
    guard(|| admit_str::NONE, || unsafe { error.as_ref() }.map_or(admit_str::NONE, |e| view(&e.message)))
}

/// How many problems a policy error lists (0 for other errors and for NULL).
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_count(error: *const admit_error) -> usize {
    // SAFETY: the caller promises `error` is NULL or a live error.
    guard(|| 0, || unsafe { error.as_ref() }.map_or(0, |e| e.problems.len()))
}

/// Where problem `index` is: a path such as `authenticators[2].issuer`, empty for the
/// whole file. `{NULL, 0}` for NULL or an index out of range.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_place(error: *const admit_error, index: usize) -> admit_str {
    guard(
        || admit_str::NONE,
        // SAFETY: the caller promises `error` is NULL or a live error.
        || unsafe { error.as_ref() }.and_then(|e| e.problem(index)).map_or(admit_str::NONE, |p| view(&p.place)),
    )
}

/// What is wrong in problem `index`, without its place. `{NULL, 0}` for NULL or an
/// index out of range.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_detail(error: *const admit_error, index: usize) -> admit_str {
    guard(
        || admit_str::NONE,
        // SAFETY: the caller promises `error` is NULL or a live error.
        || unsafe { error.as_ref() }.and_then(|e| e.problem(index)).map_or(admit_str::NONE, |p| view(&p.message)),
    )
}

/// The 1-based line of problem `index` in the policy text; 0 when unknown, for NULL
/// or an index out of range.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_line(error: *const admit_error, index: usize) -> usize {
    // SAFETY: the caller promises `error` is NULL or a live error.
    guard(|| 0, || unsafe { error.as_ref() }.and_then(|e| e.problem(index)).map_or(0, |p| p.line))
}

/// The 1-based column of problem `index`; 0 when unknown, for NULL or out of range.
///
/// # Safety
/// `error` is NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_column(error: *const admit_error, index: usize) -> usize {
    // SAFETY: the caller promises `error` is NULL or a live error.
    guard(|| 0, || unsafe { error.as_ref() }.and_then(|e| e.problem(index)).map_or(0, |p| p.column))
}

/// Frees an error. NULL is a no-op.
///
/// # Safety
/// `error` is NULL or an error admit returned, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_error_free(error: *mut admit_error) {
    if error.is_null() {
        return;
    }
    guard(
        || (),
        || {
            // SAFETY: the caller promises `error` came from `Box::into_raw` here, once.
            drop(unsafe { Box::from_raw(error) });
        },
    );
}
