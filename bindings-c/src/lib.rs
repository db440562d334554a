//! # libadmit: admit for C
//!
//! The C binding of the admit policy engine: `libadmit.so`, `libadmit.a` and
//! `include/admit.h`, which cbindgen generates from this file (so the comments here are
//! the header's documentation).
//!
//! Rules every function keeps:
//!
//! - No panic crosses the boundary: each export runs inside [`guard`], and a panic
//!   becomes an error code, or for a decision the fallback deny (never an allow).
//! - Every pointer argument may be NULL; the function then does nothing harmful and says
//!   so in its return (an error code, a NULL/empty string, or a deny decision).
//! - Strings in carry a length and need no NUL terminator; a NULL pointer with length 0
//!   is the empty string. Strings out are `admit_str` views (pointer and length), valid
//!   while the handle they came from lives.

#![allow(unsafe_code, reason = "an FFI boundary: every unsafe block says why it is sound")]
#![allow(non_camel_case_types, reason = "the C names, as admit.h spells them")]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use admit_core::{
    Decision, Engine, EngineError, Format, LoadError, OwnedRequest, Reason, Request, Resolver, target_from_decoded,
};

mod error;
pub use error::*;
mod decision;
pub use decision::*;
mod check;
pub use check::*;

const _ENGINE_IS_SEND_AND_SYNC: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<admit_engine>();
    assert_send_sync::<admit_decision>();
};

// The header's version. `ADMIT_H_VERSION`, the same as text ("0.1.0"), is spelt from
// these three in cbindgen.toml's `after_includes`.
/// The header's major version.
pub const ADMIT_VERSION_MAJOR: u32 = 0;
/// The header's minor version.
pub const ADMIT_VERSION_MINOR: u32 = 1;
/// The header's patch version.
pub const ADMIT_VERSION_PATCH: u32 = 0;
/// The header's version as one number, `MAJOR * 1000000 + MINOR * 1000 + PATCH`, to
/// compare with `admit_version_number()` (the library's) when the program starts.
pub const ADMIT_VERSION_NUMBER: u32 =
    ADMIT_VERSION_MAJOR * 1_000_000 + ADMIT_VERSION_MINOR * 1_000 + ADMIT_VERSION_PATCH;

/// A decimal number in a version string, at compile time.
const fn decimal(s: &str) -> u32 {
    let mut b = s.as_bytes();
    let mut n = 0u32;
    while let [d, rest @ ..] = b {
        n = n * 10 + (*d - b'0') as u32;
        b = rest;
    }
    n
}

// The header's version is the crate's: a version bump that forgets them fails here.
const _: () = assert!(ADMIT_VERSION_MAJOR == decimal(env!("CARGO_PKG_VERSION_MAJOR")), "ADMIT_VERSION_MAJOR");
const _: () = assert!(ADMIT_VERSION_MINOR == decimal(env!("CARGO_PKG_VERSION_MINOR")), "ADMIT_VERSION_MINOR");
const _: () = assert!(ADMIT_VERSION_PATCH == decimal(env!("CARGO_PKG_VERSION_PATCH")), "ADMIT_VERSION_PATCH");

/// `admit_request.flags`: `path` is already percent-decoded, as the router matched it
/// (libmicrohttpd's `url` with its default unescaping, a framework's decoded path). admit
/// then encodes every byte that would otherwise be read as syntax or as an escape (`%`,
/// `?`, `#`, anything outside RFC 3986 `pchar`; `/` stays a separator) before deciding,
/// so the rule and the parameters it binds are those of the segments the router saw and
/// nothing is decoded twice (see `admit_target_from_decoded`). Without this flag `path`
/// is the raw request target, as it came on the request line.
pub const ADMIT_REQUEST_PATH_DECODED: u32 = 1;
/// `admit_request.flags`: take a `now` of 0 or less as a time (1970 or before). Without
/// this flag such a `now` is refused as `malformed_request`: a zeroed request would
/// otherwise decide as if in 1970, when no key has expired yet.
pub const ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW: u32 = 2;
/// Every flag this library knows; a request with another bit set is `malformed_request`
/// (a host built for a newer header than the library it runs with).
const KNOWN_FLAGS: u32 = ADMIT_REQUEST_PATH_DECODED | ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW;

/// What a function that can fail returns. `ADMIT_RESULT_OK` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum admit_result {
    /// Success.
    Ok = 0,
    /// A pointer that must not be NULL was NULL (or NULL with a non-zero length).
    NullArgument = 1,
    /// A string that must be UTF-8 was not.
    InvalidUtf8 = 2,
    /// An argument was out of range: an unknown format, an index past the end.
    InvalidArgument = 3,
    /// The policy did not load; the error lists each problem with its place.
    PolicyError = 4,
    /// An operation on a built engine failed (an unknown authenticator, a bad JWKS).
    EngineError = 5,
    /// The request JSON could not be read; the decision JSON written is a deny.
    InvalidRequest = 6,
    /// admit panicked (a bug): the call had no effect, and a decision made is a deny.
    Panic = 7,
}

/// A policy's text format, for `admit_engine_config.format`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum admit_format {
    /// TOML (the default: a zeroed config means TOML).
    Toml = 0,
    /// JSON.
    Json = 1,
}

/// A string view: `len` bytes at `ptr`. Not necessarily NUL-terminated (print it with
/// `"%.*s", (int)s.len, s.ptr`). `ptr` is NULL when the value is absent (a decision with
/// no body, no principal); an empty present value has a non-NULL `ptr` and `len` 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct admit_str {
    /// The first byte, or NULL when absent.
    pub ptr: *const c_char,
    /// The number of bytes.
    pub len: usize,
}

impl admit_str {
    const NONE: admit_str = admit_str { ptr: std::ptr::null(), len: 0 };

    fn of(s: &str) -> admit_str {
        admit_str { ptr: s.as_ptr().cast(), len: s.len() }
    }

    fn opt(s: Option<&str>) -> admit_str {
        s.map_or(admit_str::NONE, admit_str::of)
    }
}

/// A name and a value, each with its length: a request header, or an environment
/// variable for the policy's `{ env = ... }` references. Header bytes may be anything;
/// environment names and values must be UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct admit_pair {
    /// The name (`len` bytes; NULL only when `name_len` is 0).
    pub name: *const c_char,
    /// The name's length in bytes.
    pub name_len: usize,
    /// The value (NULL only when `value_len` is 0).
    pub value: *const c_char,
    /// The value's length in bytes.
    pub value_len: usize,
}

/// One HTTP request, borrowed for the length of an `admit_decide` call: admit copies
/// nothing it does not need and keeps no pointer after the call returns.
///
/// `flags` is last, so `admit_request r = {0}` and positional initialisers of the other
/// fields leave it 0. A zero `now` is refused (see `now`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct admit_request {
    /// The method (`GET`), case-sensitive, UTF-8.
    pub method: *const c_char,
    /// The method's length in bytes.
    pub method_len: usize,
    /// The path your router routes on, UTF-8. By default the raw request target as it
    /// came on the request line (a path, optionally with a query string, which admit
    /// ignores): pass it when the router matches undecoded bytes. When the router
    /// matches a percent-decoded path (libmicrohttpd's `url`), pass that path and set
    /// `ADMIT_REQUEST_PATH_DECODED` in `flags`: never a decoded path without the flag,
    /// which would decode it a second time.
    pub path: *const c_char,
    /// The path's length in bytes.
    pub path_len: usize,
    /// Header pairs in the order received (names case-insensitive, duplicates kept).
    pub headers: *const admit_pair,
    /// The number of headers.
    pub headers_len: usize,
    /// The client's IP address (UTF-8 text), or NULL when unknown: a NULL `peer` is an
    /// unknown peer whatever `peer_len` says (not a malformed request), and counts as
    /// not local.
    pub peer: *const c_char,
    /// The peer's length in bytes.
    pub peer_len: usize,
    /// The current time, unix seconds: `admit_now()` reads the clock. 0 or less is
    /// refused as `malformed_request` (a forgotten `now` would turn expiry off) unless
    /// `flags` has `ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW`.
    pub now: i64,
    /// `ADMIT_REQUEST_*` bits, or 0: `ADMIT_REQUEST_PATH_DECODED`,
    /// `ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW`. An unknown bit is `malformed_request`.
    pub flags: u32,
}

/// How to build an engine. A zeroed config (or a NULL pointer) means: TOML, no
/// environment, `{ file = ... }` references refused.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct admit_engine_config {
    /// An `admit_format` value: `ADMIT_FORMAT_TOML` or `ADMIT_FORMAT_JSON`.
    pub format: u32,
    /// The environment the policy's `{ env = "NAME" }` references see, and nothing else
    /// (admit never reads the process environment). NULL when `env_len` is 0.
    pub env: *const admit_pair,
    /// The number of environment pairs.
    pub env_len: usize,
    /// The folder that relative `{ file = "PATH" }` references are read from, usually
    /// the policy file's folder (UTF-8). NULL: file references are not read and the
    /// policy fails to load if it needs one.
    pub base_dir: *const c_char,
    /// The base folder's length in bytes.
    pub base_dir_len: usize,
}

/// A compiled policy. Immutable once built, except for key sets replaced by
/// `admit_engine_set_jwks` and `admit_engine_set_keys` and the checks registered with
/// `admit_engine_set_check`: it is safe to share one engine between threads and to call
/// `admit_decide`, `admit_decide_json`, `admit_engine_set_jwks`, `admit_engine_set_keys`
/// and `admit_engine_set_check` on it concurrently.
/// Only `admit_engine_free` must not run while another call uses the engine.
pub struct admit_engine {
    engine: Engine,
    checks: check::Checks,
}

/// Runs `body`, turning a panic into `fallback()`: no unwinding crosses into C.
fn guard<T>(fallback: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| fallback())
}

/// The bytes at `ptr`, or `None` when `ptr` is NULL with a non-zero length (or the
/// length is impossible). NULL with length 0 is the empty slice.
///
/// # Safety
/// When `ptr` is not NULL it must be valid for reads of `len` bytes for `'a`.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 { Some(&[]) } else { None };
    }
    if len > isize::MAX.unsigned_abs() {
        return None;
    }
    // SAFETY: `ptr` is not NULL and the caller promises `len` readable bytes for 'a.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Like [`bytes`], for an array of `T`.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` initialised `T`s, valid for `'a`.
unsafe fn items<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if ptr.is_null() {
        return if len == 0 { Some(&[]) } else { None };
    }
    if len > isize::MAX.unsigned_abs() / std::mem::size_of::<T>().max(1) {
        return None;
    }
    // SAFETY: `ptr` is not NULL and the caller promises `len` initialised items for 'a.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A string argument: `Err(NullArgument)` for NULL with a length, `Err(InvalidUtf8)`.
///
/// # Safety
/// As for [`bytes`].
unsafe fn text<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, admit_result> {
    // SAFETY: the caller's promise, passed on.
    let b = unsafe { bytes(ptr, len) }.ok_or(admit_result::NullArgument)?;
    std::str::from_utf8(b).map_err(|_| admit_result::InvalidUtf8)
}

/// Writes `value` through `out` when `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: `out` is not NULL, and the caller promises it is writable.
        unsafe { out.write(value) };
    }
}

/// An owned C string for the caller, freed with `admit_string_free`.
fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut v = e.into_vec();
        v.retain(|&b| b != 0);
        CString::new(v).unwrap_or_default()
    })
}

/// Hands a string to C: `*out` owns it, `*len_out` (when not NULL) its length.
///
/// # Safety
/// `out` and `len_out` are each NULL or writable.
unsafe fn give_string(s: String, out: *mut *mut c_char, len_out: *mut usize) {
    let c = c_string(s);
    let len = c.as_bytes().len();
    // SAFETY: the caller's promise about `len_out`.
    unsafe { put(len_out, len) };
    if out.is_null() {
        return;
    }
    // SAFETY: `out` is not NULL and the caller promises it is writable.
    unsafe { out.write(c.into_raw()) };
}

/// Hands an error to C through `out`; drops it when `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn give_error(e: admit_error, out: *mut *mut admit_error) {
    if !out.is_null() {
        // SAFETY: `out` is not NULL, and the caller promises it is writable.
        unsafe { out.write(Box::into_raw(Box::new(e))) };
    }
}

/// Resolves a policy's references from what the host passed in: a fixed environment,
/// and files under a base folder when one was given.
struct HostResolver {
    env: BTreeMap<String, String>,
    base: Option<PathBuf>,
}

impl Resolver for HostResolver {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn file(&self, path: &str) -> Result<String, String> {
        let Some(base) = &self.base else {
            return Err(format!("`{path}` cannot be read: no base_dir was given to admit_engine_new"));
        };
        let p = Path::new(path);
        let full = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        #[expect(
            clippy::disallowed_methods,
            reason = "the host side reads the files a policy names; the core never does"
        )]
        std::fs::read_to_string(&full).map_err(|e| format!("cannot read `{}`: {e}", full.display()))
    }
}

/// The current time in unix seconds, from the system clock: what `admit_request.now`
/// usually holds. 0 if the clock is before 1970, which `admit_decide` then refuses.
#[unsafe(no_mangle)]
pub extern "C" fn admit_now() -> i64 {
    guard(|| 0, unix_now)
}

fn unix_now() -> i64 {
    #[expect(clippy::disallowed_methods, reason = "the binding supplies the clock the core does not have")]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The library's version, a static NUL-terminated string (never freed); the header it
/// was built with has the same text in `ADMIT_H_VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn admit_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as `ADMIT_VERSION_NUMBER` spells a version
/// (`MAJOR * 1000000 + MINOR * 1000 + PATCH`). A program checks at start that the
/// library it runs with is the one its header describes, e.g.
/// `admit_version_number() / 1000 == ADMIT_VERSION_NUMBER / 1000` (same major and
/// minor: before 1.0 a minor version may change the interface).
#[unsafe(no_mangle)]
pub extern "C" fn admit_version_number() -> u32 {
    ADMIT_VERSION_NUMBER
}

/// Compiles a policy into an engine.
///
/// `policy` is `policy_len` bytes of UTF-8 text; `config` says its format and what its
/// `{ env = ... }` and `{ file = ... }` references resolve to (NULL: TOML, nothing).
///
/// On success returns `ADMIT_RESULT_OK` and sets `*engine_out` to a new engine, which
/// the caller owns and frees with `admit_engine_free`. On failure `*engine_out` is set
/// to NULL and, when `error_out` is not NULL, `*error_out` to an error the caller frees
/// with `admit_error_free` (`ADMIT_RESULT_POLICY_ERROR`: every problem, with its place).
/// `*error_out` is set to NULL on success.
///
/// # Safety
/// Each pointer is NULL or valid for its length; `engine_out` and `error_out` are NULL or
/// writable. admit keeps no pointer to the arguments after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_new(
    policy: *const c_char,
    policy_len: usize,
    config: *const admit_engine_config,
    engine_out: *mut *mut admit_engine,
    error_out: *mut *mut admit_error,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe {
        put(engine_out, std::ptr::null_mut());
    }
    // SAFETY: as above.
    unsafe {
        put(error_out, std::ptr::null_mut());
    }
    let result = guard(
        || Err(admit_error::new(admit_result::Panic, "admit panicked while loading the policy")),
        || {
            if engine_out.is_null() {
                return Err(admit_error::new(admit_result::NullArgument, "engine_out is NULL"));
            }
            // SAFETY: the caller promises `policy` is valid for `policy_len` bytes.
            let policy_text = unsafe { text(policy, policy_len) }.map_err(|c| admit_error::arg(c, "policy"))?;
            // SAFETY: the caller promises `config` is NULL or a valid config.
            let config = unsafe { config.as_ref() };
            let resolver;
            let format;
            match config {
                None => {
                    format = Format::Toml;
                    resolver = HostResolver { env: BTreeMap::new(), base: None };
                }
                Some(c) => {
                    format = match c.format {
                        0 => Format::Toml,
                        1 => Format::Json,
                        _ => return Err(admit_error::new(admit_result::InvalidArgument, "config.format is unknown")),
                    };
                    // SAFETY: the caller promises `env` holds `env_len` pairs.
                    let pairs = unsafe { items(c.env, c.env_len) }
                        .ok_or_else(|| admit_error::new(admit_result::NullArgument, "config.env is NULL"))?;
                    let mut env = BTreeMap::new();
                    for p in pairs {
                        // SAFETY: the caller promises each pair's pointers are valid.
                        let name =
                            unsafe { text(p.name, p.name_len) }.map_err(|c| admit_error::arg(c, "an env name"))?;
                        // SAFETY: as above.
                        let value =
                            unsafe { text(p.value, p.value_len) }.map_err(|c| admit_error::arg(c, "an env value"))?;
                        env.insert(name.to_owned(), value.to_owned());
                    }
                    let base = if c.base_dir.is_null() && c.base_dir_len == 0 {
                        None
                    } else {
                        // SAFETY: the caller promises `base_dir` is valid for its length.
                        let dir = unsafe { text(c.base_dir, c.base_dir_len) }
                            .map_err(|c| admit_error::arg(c, "config.base_dir"))?;
                        Some(PathBuf::from(dir))
                    };
                    resolver = HostResolver { env, base };
                }
            }
            Engine::from_text(policy_text, format, &resolver).map_err(|e: LoadError| admit_error::from_load(&e))
        },
    );
    match result {
        Ok(engine) => {
            let checks = check::Checks::new(&engine);
            let handle = Box::into_raw(Box::new(admit_engine { engine, checks }));
            // SAFETY: `engine_out` was checked not NULL above and is writable.
            unsafe { put(engine_out, handle) };
            admit_result::Ok
        }
        Err(e) => {
            let code = e.code;
            // SAFETY: the caller promises `error_out` is NULL or writable.
            unsafe { give_error(e, error_out) };
            code
        }
    }
}

/// Frees an engine. NULL is a no-op. No other call may be using the engine, and the
/// decisions made with it stay valid (they own their data).
///
/// # Safety
/// `engine` is NULL or came from `admit_engine_new` and was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_free(engine: *mut admit_engine) {
    if engine.is_null() {
        return;
    }
    guard(
        || (),
        || {
            // SAFETY: the caller promises `engine` came from `Box::into_raw` in
            // `admit_engine_new` and is freed once.
            drop(unsafe { Box::from_raw(engine) });
        },
    );
}

/// Replaces the key set of the `jwt` authenticator `authenticator` with a JWKS (JSON
/// text), e.g. after fetching it again because a decision said `unknown_key`. Safe to
/// call while other threads decide with the engine.
///
/// Returns `ADMIT_RESULT_OK` and sets `*keys_out` (when not NULL) to the number of keys
/// loaded; otherwise an error code and, when `error_out` is not NULL, an error to free
/// with `admit_error_free` (`*error_out` is NULL on success). On failure the old key set
/// stays in place.
///
/// # Safety
/// Each pointer is NULL or valid for its length; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_set_jwks(
    engine: *const admit_engine,
    authenticator: *const c_char,
    authenticator_len: usize,
    jwks: *const c_char,
    jwks_len: usize,
    keys_out: *mut usize,
    error_out: *mut *mut admit_error,
) -> admit_result {
    // SAFETY: the caller's promises are `replace_keys`'s.
    unsafe {
        replace_keys(
            engine,
            (authenticator, authenticator_len),
            (jwks, jwks_len, "jwks"),
            "admit panicked while loading the key set",
            (keys_out, error_out),
            Engine::set_jwks,
        )
    }
}

/// Replaces the keys of the `api_key` or `bearer_token` authenticator `authenticator`
/// with those of a keys file's text (`keys_file`, `keys_file_len` bytes of UTF-8: TOML
/// `[[keys]]` entries with `id`, `sha256`, `roles`, `scopes`, `expires`, `revoked`,
/// `principal`, or JSON `{"keys": [...]}`), whole and at once: the next decision on any
/// thread sees the new set, e.g. after the operator revoked a key in the file
/// (`admit_engine_keys_file` says which file). Safe to call while other threads decide.
///
/// Returns `ADMIT_RESULT_OK` and sets `*keys_out` (when not NULL) to the number of keys
/// taken. Otherwise the old keys stay in force and the result is
/// `ADMIT_RESULT_NULL_ARGUMENT` (a NULL engine, or a NULL string with a length),
/// `ADMIT_RESULT_INVALID_UTF8` or `ADMIT_RESULT_ENGINE_ERROR` (an unknown authenticator,
/// one that is not `api_key` or `bearer_token`, or a file with any problem: its message
/// names each place and line, never a value of the file, which is a secret), with an
/// error to free with `admit_error_free` in `*error_out` when it is not NULL (`*error_out`
/// is NULL on success).
///
/// # Safety
/// Each pointer is NULL or valid for its length; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_set_keys(
    engine: *const admit_engine,
    authenticator: *const c_char,
    authenticator_len: usize,
    keys_file: *const c_char,
    keys_file_len: usize,
    keys_out: *mut usize,
    error_out: *mut *mut admit_error,
) -> admit_result {
    // SAFETY: the caller's promises are `replace_keys`'s.
    unsafe {
        replace_keys(
            engine,
            (authenticator, authenticator_len),
            (keys_file, keys_file_len, "keys_file"),
            "admit panicked while loading the keys file",
            (keys_out, error_out),
            Engine::set_keys,
        )
    }
}

/// What `admit_engine_set_jwks` and `admit_engine_set_keys` share: read the engine, the
/// authenticator id and the text, hand them to `apply`, and report the count or the error.
///
/// # Safety
/// `engine` is NULL or a live engine; each string is NULL or valid for its length; the
/// out-pointers are NULL or writable.
unsafe fn replace_keys(
    engine: *const admit_engine,
    (authenticator, authenticator_len): (*const c_char, usize),
    (input, input_len, input_name): (*const c_char, usize, &'static str),
    on_panic: &'static str,
    (keys_out, error_out): (*mut usize, *mut *mut admit_error),
    apply: fn(&Engine, &str, &str) -> Result<usize, EngineError>,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(keys_out, 0) };
    // SAFETY: as above.
    unsafe { put(error_out, std::ptr::null_mut()) };
    let result = guard(
        || Err(admit_error::new(admit_result::Panic, on_panic)),
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else {
                return Err(admit_error::new(admit_result::NullArgument, "engine is NULL"));
            };
            // SAFETY: the caller promises the strings are valid for their lengths.
            let id =
                unsafe { text(authenticator, authenticator_len) }.map_err(|c| admit_error::arg(c, "authenticator"))?;
            // SAFETY: as above.
            let input = unsafe { text(input, input_len) }.map_err(|c| admit_error::arg(c, input_name))?;
            apply(&e.engine, id, input)
                .map_err(|err: EngineError| admit_error::new(admit_result::EngineError, err.to_string()))
        },
    );
    match result {
        Ok(n) => {
            // SAFETY: the caller promises `keys_out` is NULL or writable.
            unsafe { put(keys_out, n) };
            admit_result::Ok
        }
        Err(e) => {
            let code = e.code;
            // SAFETY: the caller promises `error_out` is NULL or writable.
            unsafe { give_error(e, error_out) };
            code
        }
    }
}

/// Entry `index` of a list of `(authenticator id, text)` pairs, as views.
///
/// # Safety
/// The out-pointers are NULL or writable.
unsafe fn list_entry(
    list: &[(&str, &str)],
    index: usize,
    id_out: *mut admit_str,
    value_out: *mut admit_str,
) -> admit_result {
    match list.get(index) {
        Some((id, value)) => {
            // SAFETY: the caller promises the out-pointers are NULL or writable.
            unsafe { put(id_out, admit_str::of(id)) };
            // SAFETY: as above.
            unsafe { put(value_out, admit_str::of(value)) };
            admit_result::Ok
        }
        None => admit_result::InvalidArgument,
    }
}

/// How many enabled `jwt` authenticators of the policy take their key set from a
/// `jwks_url` (0 for NULL). Their URLs: `admit_engine_jwks_url`.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_jwks_url_count(engine: *const admit_engine) -> usize {
    // SAFETY: the caller promises `engine` is NULL or a live engine.
    guard(|| 0, || unsafe { engine.as_ref() }.map_or(0, |e| e.engine.jwks_urls().len()))
}

/// The `index`-th `jwks_url` of the policy (`0 <= index < admit_engine_jwks_url_count`):
/// the authenticator's id in `*authenticator_out` and the URL in `*url_out` (each when
/// not NULL), views into the engine, valid until it is freed. This is what the host
/// fetches, by the rules of `docs/policy.md` ("Fetching a key set": `admit_fetch_*`
/// below), and hands to `admit_engine_set_jwks`; until then the authenticator accepts no
/// token (`unknown_key`). Returns `ADMIT_RESULT_OK`, `ADMIT_RESULT_NULL_ARGUMENT` for a
/// NULL engine, or `ADMIT_RESULT_INVALID_ARGUMENT` for an index past the end (the views
/// are then `{NULL, 0}`).
///
/// # Safety
/// `engine` is NULL or a live engine; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_jwks_url(
    engine: *const admit_engine,
    index: usize,
    authenticator_out: *mut admit_str,
    url_out: *mut admit_str,
) -> admit_result {
    // SAFETY: the caller's promises are `listed_pair`'s.
    unsafe { listed_pair(engine, index, authenticator_out, url_out, Engine::jwks_urls) }
}

/// How many enabled `api_key` or `bearer_token` authenticators of the policy keep their
/// keys in a keys file (`keys = { file = "..." }`); 0 for NULL. Their files:
/// `admit_engine_keys_file`.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_keys_file_count(engine: *const admit_engine) -> usize {
    // SAFETY: the caller promises `engine` is NULL or a live engine.
    guard(|| 0, || unsafe { engine.as_ref() }.map_or(0, |e| e.engine.keys_files().len()))
}

/// The `index`-th keys file of the policy: the authenticator's id in
/// `*authenticator_out` and the path as the policy gave it in `*path_out` (relative paths
/// are relative to the `base_dir` the engine was built with), views into the engine,
/// valid until it is freed. The engine read the file when it was built; the host watches
/// it (stat, inotify, SIGHUP) and hands its new text to `admit_engine_set_keys`. Returns
/// as `admit_engine_jwks_url` does.
///
/// # Safety
/// `engine` is NULL or a live engine; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_keys_file(
    engine: *const admit_engine,
    index: usize,
    authenticator_out: *mut admit_str,
    path_out: *mut admit_str,
) -> admit_result {
    // SAFETY: the caller's promises are `listed_pair`'s.
    unsafe { listed_pair(engine, index, authenticator_out, path_out, Engine::keys_files) }
}

/// What `admit_engine_jwks_url` and `admit_engine_keys_file` share: the `index`-th pair
/// of `list` as two views into the engine, or `{NULL, 0}` views and an error result.
///
/// # Safety
/// `engine` is NULL or a live engine; the out-pointers are NULL or writable.
unsafe fn listed_pair(
    engine: *const admit_engine,
    index: usize,
    first_out: *mut admit_str,
    second_out: *mut admit_str,
    list: for<'e> fn(&'e Engine) -> Vec<(&'e str, &'e str)>,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(first_out, admit_str::NONE) };
    // SAFETY: as above.
    unsafe { put(second_out, admit_str::NONE) };
    guard(
        || admit_result::Panic,
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else { return admit_result::NullArgument };
            // SAFETY: the caller promises the out-pointers are NULL or writable.
            unsafe { list_entry(&list(&e.engine), index, first_out, second_out) }
        },
    )
}

// The fetch rules every host follows for a `jwks_url` (the core's `admit::fetch`;
// `docs/policy.md`, "Fetching a key set"), for a C host that fetches (examples/c).
/// How long one fetch of a key set may take, connection included, in seconds.
pub const ADMIT_FETCH_TIMEOUT_SECS: u64 = 5;
/// The largest key set body a host takes, in bytes (1 MiB).
pub const ADMIT_FETCH_MAX_BYTES: usize = 1_048_576;
/// The least time between two fetches caused by `unknown_key` decisions, per URL, in
/// seconds: a flood of forged `kid`s is not a flood of fetches.
pub const ADMIT_FETCH_UNKNOWN_KEY_INTERVAL_SECS: u64 = 30;
const _: () = assert!(ADMIT_FETCH_TIMEOUT_SECS == admit_core::fetch::TIMEOUT_SECS);
const _: () = assert!(ADMIT_FETCH_MAX_BYTES == admit_core::fetch::MAX_BYTES);
const _: () = assert!(ADMIT_FETCH_UNKNOWN_KEY_INTERVAL_SECS == admit_core::fetch::UNKNOWN_KEY_INTERVAL_SECS);

/// Checks a URL by the fetch rules before fetching it (the policy's `jwks_url`s already
/// passed at load; a host checks again, e.g. a redirect's target): `https://`, or
/// `http://` to a loopback address; no user info, no fragment. Returns `ADMIT_RESULT_OK`,
/// or `ADMIT_RESULT_INVALID_ARGUMENT` with an error whose message quotes no part of the
/// URL, or `ADMIT_RESULT_NULL_ARGUMENT`/`ADMIT_RESULT_INVALID_UTF8`.
///
/// # Safety
/// `url` is NULL or valid for `url_len` bytes; `error_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_fetch_check_url(
    url: *const c_char,
    url_len: usize,
    error_out: *mut *mut admit_error,
) -> admit_result {
    // SAFETY: the caller promises `error_out` is NULL or writable.
    unsafe { put(error_out, std::ptr::null_mut()) };
    let result = guard(
        || Err(admit_error::new(admit_result::Panic, "admit panicked while checking a URL")),
        || {
            // SAFETY: the caller promises `url` is valid for its length.
            let url = unsafe { text(url, url_len) }.map_err(|c| admit_error::arg(c, "url"))?;
            admit_core::fetch::check_url(url).map_err(|m| admit_error::new(admit_result::InvalidArgument, m))
        },
    );
    match result {
        Ok(()) => admit_result::Ok,
        Err(e) => {
            let code = e.code;
            // SAFETY: the caller promises `error_out` is NULL or writable.
            unsafe { give_error(e, error_out) };
            code
        }
    }
}

/// Seconds from a good fetch to the next refresh, from the response's `Cache-Control`
/// value (`cache_control` NULL, or not UTF-8: none): 90% of its max-age (300 s without
/// one), between 60 s and 3600 s.
///
/// # Safety
/// `cache_control` is NULL or valid for `cache_control_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_fetch_refresh_after(cache_control: *const c_char, cache_control_len: usize) -> u64 {
    guard(
        || admit_core::fetch::DEFAULT_MAX_AGE,
        || {
            let value = if cache_control.is_null() {
                None
            } else {
                // SAFETY: the caller promises `cache_control` is valid for its length.
                unsafe { text(cache_control, cache_control_len) }.ok()
            };
            admit_core::fetch::refresh_after(value)
        },
    )
}

/// Seconds to wait after `failures` failed fetches in a row: 1, 2, 4, ... up to 300.
#[unsafe(no_mangle)]
pub extern "C" fn admit_fetch_retry_after(failures: u32) -> u64 {
    guard(|| admit_core::fetch::RETRY_MAX_SECS, || admit_core::fetch::retry_after(failures))
}

/// The decision used when there is no engine to ask, or admit panicked: a deny with
/// status 500 and reason `malformed_request`, never an allow.
fn fallback_decision(message: &str) -> Decision {
    Decision {
        allow: false,
        status: 500,
        reason: Reason::MalformedRequest,
        message: Arc::from(message),
        headers: Vec::new(),
        body: None,
        principal: None,
        rule: None,
        constraints: BTreeMap::new(),
        dry_run: false,
    }
}

/// How many headers a request may have before they are gathered on the heap.
const INLINE_HEADERS: usize = 24;

/// Decides about a C request.
///
/// # Safety
/// The request's pointers are NULL or valid for their lengths.
unsafe fn decide_request(e: &admit_engine, r: &admit_request) -> Decision {
    let engine = &e.engine;
    if r.flags & !KNOWN_FLAGS != 0 {
        return engine.malformed("admit_request.flags has a bit this library does not know");
    }
    if r.now <= 0 && r.flags & ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW == 0 {
        return engine.malformed(
            "admit_request.now is 0 or negative: set it to admit_now() \
             (or set ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW to mean it)",
        );
    }
    // SAFETY: the caller's promise about the request's pointers, passed on.
    let method = match unsafe { text(r.method, r.method_len) } {
        Ok(m) => m,
        Err(admit_result::NullArgument) => return engine.malformed("method is NULL"),
        Err(_) => return engine.malformed("method is not UTF-8"),
    };
    // SAFETY: as above.
    let path = match unsafe { text(r.path, r.path_len) } {
        Ok(p) => p,
        Err(admit_result::NullArgument) => return engine.malformed("path is NULL"),
        Err(_) => return engine.malformed("path is not UTF-8"),
    };
    let peer = if r.peer.is_null() {
        None
    } else {
        // SAFETY: as above.
        match unsafe { text(r.peer, r.peer_len) } {
            Ok(p) => Some(p),
            Err(_) => return engine.malformed("peer is not UTF-8"),
        }
    };
    // SAFETY: as above: `headers` holds `headers_len` pairs.
    let Some(pairs) = (unsafe { items(r.headers, r.headers_len) }) else {
        return engine.malformed("headers is NULL");
    };
    let empty: &[u8] = &[];
    let mut inline = [(empty, empty); INLINE_HEADERS];
    let mut heap = Vec::new();
    let headers: &[(&[u8], &[u8])] = if pairs.len() <= INLINE_HEADERS {
        for (slot, p) in inline.iter_mut().zip(pairs) {
            // SAFETY: the caller promises each header's pointers are valid.
            let (Some(n), Some(v)) = (unsafe { bytes(p.name, p.name_len) }, unsafe { bytes(p.value, p.value_len) })
            else {
                return engine.malformed("a header name or value is NULL");
            };
            *slot = (n, v);
        }
        inline.get(..pairs.len()).unwrap_or_default()
    } else {
        heap.reserve_exact(pairs.len());
        for p in pairs {
            // SAFETY: as above.
            let (Some(n), Some(v)) = (unsafe { bytes(p.name, p.name_len) }, unsafe { bytes(p.value, p.value_len) })
            else {
                return engine.malformed("a header name or value is NULL");
            };
            heap.push((n, v));
        }
        &heap
    };
    let path = if r.flags & ADMIT_REQUEST_PATH_DECODED == 0 { Cow::Borrowed(path) } else { target_from_decoded(path) };
    check::decide(e, &Request { method, path: &path, headers, peer, now: r.now })
}

/// Decides about one request. Returns a new decision the caller owns and frees with
/// `admit_decision_free`; never NULL (unless memory runs out, which aborts anyway).
///
/// A request admit cannot read (a NULL or non-UTF-8 method or path, a peer that is not
/// UTF-8, a NULL header, a `now` of 0 or less without
/// `ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW`, an unknown flag) is answered as the policy
/// answers `malformed_request`; a NULL `peer` is an unknown peer. A NULL `engine`, and
/// a panic inside admit, give the fallback decision: a deny, status 500, reason
/// `malformed_request`, no headers and no body. No fallback is ever an allow.
///
/// A credential of a `delegated` authenticator is checked by the callback registered
/// with `admit_engine_set_check`, on this thread, before this call returns.
///
/// Thread-safe: any number of threads may decide with one engine at once.
///
/// # Safety
/// `engine` is NULL or a live engine; `request` is NULL or a request whose pointers are
/// NULL or valid for their lengths for the length of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decide(
    engine: *const admit_engine,
    request: *const admit_request,
) -> *mut admit_decision {
    let d = guard(
        || fallback_decision("admit panicked while deciding"),
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else {
                return fallback_decision("admit_decide: engine is NULL");
            };
            // SAFETY: the caller promises `request` is NULL or a valid request.
            let Some(r) = (unsafe { request.as_ref() }) else {
                return e.engine.malformed("request is NULL");
            };
            // SAFETY: the caller promises the request's pointers are valid.
            unsafe { decide_request(e, r) }
        },
    );
    admit_decision::boxed(d)
}

/// Reads a request in the contract's JSON; a missing `now` is the clock.
///
/// The core reads it ([`OwnedRequest::from_json`]: nesting deeper than
/// [`admit_core::MAX_REQUEST_DEPTH`] is refused before parsing, so hostile input cannot
/// exhaust a small thread stack). Only a request that lacks nothing but `now`, which the
/// core has therefore parsed, is read a second time. An error names where the JSON is
/// wrong, not what it holds (the message goes back to the client and must not echo a
/// header).
fn read_request_json(text: &[u8]) -> Result<OwnedRequest, String> {
    let text =
        std::str::from_utf8(text).map_err(|e| format!("request JSON is not UTF-8 (at byte {})", e.valid_up_to()))?;
    let first = match OwnedRequest::from_json(text) {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    if first.starts_with("missing field `now`") {
        if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(text) {
            map.insert("now".into(), unix_now().into());
            if let Ok(r) = serde_json::from_value(serde_json::Value::Object(map)) {
                return Ok(r);
            }
        }
    }
    // serde_json's message ends with " at line L column C": keep the place, drop the rest
    Err(match first.rsplit_once(" at line ").and_then(|(_, at)| at.split_once(" column ")) {
        Some((line, column)) => format!("request JSON is invalid at line {line}, column {column}"),
        None => first,
    })
}

/// Decides about a request given as the contract's JSON (`method`, `path`, `headers` as
/// pairs or an object, `peer`, `now`; a missing `now` means the clock), and writes the
/// decision as the contract's JSON: a new NUL-terminated string in `*decision_out`, freed
/// with `admit_string_free`, its length in `*decision_len_out` (when not NULL).
///
/// A `delegated` authenticator's credential is checked as in `admit_decide`.
///
/// The JSON's `path` is the raw request target (the contract has no flags): a host whose
/// router matches a decoded path passes `admit_target_from_decoded` of it. A `now` given
/// in the JSON is taken as it is, 0 included (unlike `admit_request.now`): the contract
/// carries the time as data, and leaving it out already means the clock.
///
/// Whenever `decision_out` is not NULL it receives a decision, also on failure, and on
/// failure it is a deny: `ADMIT_RESULT_INVALID_REQUEST` (unreadable JSON, or JSON nested
/// deeper than the contract's 8 levels, refused before it is parsed; answered as the
/// policy answers `malformed_request`), `ADMIT_RESULT_NULL_ARGUMENT` (NULL engine or
/// request: the fallback deny, status 500) or `ADMIT_RESULT_PANIC` (the fallback deny).
///
/// # Safety
/// `engine` is NULL or a live engine; `request_json` is NULL or valid for
/// `request_json_len` bytes; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_decide_json(
    engine: *const admit_engine,
    request_json: *const c_char,
    request_json_len: usize,
    decision_out: *mut *mut c_char,
    decision_len_out: *mut usize,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(decision_out, std::ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { put(decision_len_out, 0) };
    let (code, json) = guard(
        || (admit_result::Panic, fallback_decision("admit panicked while deciding").to_json()),
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else {
                return (admit_result::NullArgument, fallback_decision("admit_decide_json: engine is NULL").to_json());
            };
            if request_json.is_null() {
                return (admit_result::NullArgument, e.engine.malformed("request JSON is NULL").to_json());
            }
            // SAFETY: the caller promises `request_json` is valid for its length.
            let Some(text) = (unsafe { bytes(request_json, request_json_len) }) else {
                return (admit_result::NullArgument, e.engine.malformed("request JSON is NULL").to_json());
            };
            match read_request_json(text) {
                Ok(req) => {
                    let headers = req.header_bytes();
                    (admit_result::Ok, check::decide(e, &req.as_request(&headers)).to_json())
                }
                Err(detail) => (admit_result::InvalidRequest, e.engine.malformed(&detail).to_json()),
            }
        },
    );
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { give_string(json, decision_out, decision_len_out) };
    code
}

/// Explains the decision about a request given as the contract's JSON (as
/// `admit_decide_json` reads it): writes `{"decision": ..., "trace": ...}` as JSON, a new
/// NUL-terminated string in `*explanation_out` freed with `admit_string_free`, its
/// length in `*explanation_len_out` (when not NULL). `decision` is the decision
/// `admit_decide_json` gives; `trace` is how it was reached (docs/policy.md, "Explaining
/// a decision"): the canonical path, CORS, the rules considered, each authenticator's
/// verdict, scopes, the owner check, a dry run's effect. It never holds a credential or
/// a secret. A `delegated` authenticator's credential is checked as in `admit_decide`.
/// For people and tools, not for every request: `admit_decide` does not pay for it.
///
/// Whenever `explanation_out` is not NULL it receives an explanation, also on failure,
/// and on failure its decision is a deny: `ADMIT_RESULT_INVALID_REQUEST` (unreadable
/// JSON: the target refused as `malformed_request`), `ADMIT_RESULT_NULL_ARGUMENT` (a
/// NULL engine: the fallback deny, status 500, with an empty trace; a NULL request: a
/// refused target) or `ADMIT_RESULT_PANIC` (the fallback deny).
///
/// # Safety
/// `engine` is NULL or a live engine; `request_json` is NULL or valid for
/// `request_json_len` bytes; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_engine_explain(
    engine: *const admit_engine,
    request_json: *const c_char,
    request_json_len: usize,
    explanation_out: *mut *mut c_char,
    explanation_len_out: *mut usize,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(explanation_out, std::ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { put(explanation_len_out, 0) };
    let fallback = |detail: &str| {
        let decision = fallback_decision(detail);
        format!("{{\"decision\":{},\"trace\":null}}", decision.to_json())
    };
    let (code, json) = guard(
        || (admit_result::Panic, fallback("admit panicked while explaining")),
        || {
            // SAFETY: the caller promises `engine` is NULL or a live engine.
            let Some(e) = (unsafe { engine.as_ref() }) else {
                return (admit_result::NullArgument, fallback("admit_engine_explain: engine is NULL"));
            };
            if request_json.is_null() {
                return (admit_result::NullArgument, e.engine.explain_malformed("request JSON is NULL").to_json());
            }
            // SAFETY: the caller promises `request_json` is valid for its length.
            let Some(text) = (unsafe { bytes(request_json, request_json_len) }) else {
                return (admit_result::NullArgument, e.engine.explain_malformed("request JSON is NULL").to_json());
            };
            match read_request_json(text) {
                Ok(req) => {
                    let headers = req.header_bytes();
                    (admit_result::Ok, check::explain(e, &req.as_request(&headers)).to_json())
                }
                Err(detail) => (admit_result::InvalidRequest, e.engine.explain_malformed(&detail).to_json()),
            }
        },
    );
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { give_string(json, explanation_out, explanation_len_out) };
    code
}

/// The request target admit decides on for a path a router has already percent-decoded
/// (what `ADMIT_REQUEST_PATH_DECODED` does inside `admit_decide`), for a host that builds
/// the contract's JSON itself: `%`, `?`, `#` and every byte outside RFC 3986 `pchar` are
/// percent-encoded, `/` stays a separator, and the result has no query. A new
/// NUL-terminated string for `admit_string_free` in `*target_out`, its length in
/// `*target_len_out` (when not NULL).
///
/// `decoded` may hold any bytes, NUL included (it becomes `%00`, which the engine
/// refuses), but must be UTF-8: `ADMIT_RESULT_INVALID_UTF8` otherwise,
/// `ADMIT_RESULT_NULL_ARGUMENT` for a NULL `decoded` with a length or a NULL
/// `target_out`; `*target_out` is then NULL.
///
/// # Safety
/// `decoded` is NULL or valid for `decoded_len` bytes; the out-pointers are NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_target_from_decoded(
    decoded: *const c_char,
    decoded_len: usize,
    target_out: *mut *mut c_char,
    target_len_out: *mut usize,
) -> admit_result {
    // SAFETY: the caller promises the out-pointers are NULL or writable.
    unsafe { put(target_out, std::ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { put(target_len_out, 0) };
    guard(
        || admit_result::Panic,
        || {
            if target_out.is_null() {
                return admit_result::NullArgument;
            }
            // SAFETY: the caller promises `decoded` is valid for its length.
            let path = match unsafe { text(decoded, decoded_len) } {
                Ok(p) => p,
                Err(code) => return code,
            };
            // SAFETY: the caller promises the out-pointers are NULL or writable.
            unsafe { give_string(target_from_decoded(path).into_owned(), target_out, target_len_out) };
            admit_result::Ok
        },
    )
}

/// Frees a string admit returned (`admit_decide_json`, `admit_engine_explain`, `admit_decision_to_json`,
/// `admit_decision_claims_json`, `admit_target_from_decoded`). NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string admit returned, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn admit_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    guard(
        || (),
        || {
            // SAFETY: the caller promises `s` came from `CString::into_raw` here, once.
            drop(unsafe { CString::from_raw(s) });
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback_deny() {
        let d = guard(|| fallback_decision("panicked"), || -> Decision { panic!("boom") });
        assert!(!d.allow);
        assert_eq!(d.status, 500);
        assert_eq!(d.reason, Reason::MalformedRequest);
    }

    #[test]
    fn a_missing_now_is_the_clock() {
        let r = read_request_json(br#"{"method":"GET","path":"/"}"#).unwrap();
        assert!(r.now > 1_700_000_000);
        assert!(read_request_json(br#"{"method":"GET","path":"/","now":"x"}"#).is_err());
        assert!(read_request_json(b"{").is_err());
        assert!(read_request_json(br#"{"path":"/","now":1}"#).is_err(), "only `now` may be left out");
    }

    #[test]
    fn errors_name_the_place_not_the_content() {
        let e = read_request_json(br#"{"method":"GET","path":"/","now":"secret-token"}"#).unwrap_err();
        assert_eq!(e, "request JSON is invalid at line 1, column 47");
        let e = read_request_json(br#"{"method":"GET","path":"/","headers":{"Authorization":5},"now":1}"#).unwrap_err();
        assert!(e.starts_with("request JSON is invalid at line 1, column "), "{e}");
        assert!(read_request_json(b"{\"method\":\"\xff\"}").unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn deep_request_json_is_refused_without_being_read_into_a_tree() {
        for deep in [
            "[".repeat(100_000),
            format!("{{\"method\":\"GET\",\"path\":\"/\",\"headers\":{}", "[".repeat(100_000)),
            format!("{{\"method\":\"GET\",\"path\":\"/\",\"x\":{}", "{\"a\":".repeat(100_000)),
            format!("{{\"method\":\"GET\",\"path\":\"/\",\"now\":1,\"headers\":{}1", "{\"a\":".repeat(100_000)),
            format!("{{\"method\":\"GET\",\"path\":\"/\",\"headers\":{}1", "{\"a\":".repeat(100_000)),
        ] {
            // on a thread smaller than the 42 KB a JSON tree of 128 levels takes
            let r = std::thread::Builder::new()
                .stack_size(32 * 1024)
                .spawn(move || read_request_json(deep.as_bytes()).is_err())
                .map(|t| t.join());
            assert!(matches!(r, Ok(Ok(true))), "refused");
        }
    }
}
