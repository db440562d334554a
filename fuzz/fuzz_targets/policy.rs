//! Policy text, TOML and JSON: loading never panics, and a loaded policy decides the
//! same question the same way twice.
#![no_main]

use admit::{Engine, Format, MapResolver};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = MapResolver::from_env([("S", "test-only-secret-0123456789abcdef0123456789"), ("E", "x")]);
    for format in [Format::Toml, Format::Json] {
        if let Ok(engine) = Engine::from_text(text, format, &env) {
            let headers: &[(&[u8], &[u8])] = &[(b"Authorization", b"Bearer x.y.z"), (b"X-API-Key", b"k")];
            let a = common::decide(&engine, "GET", "/api/v1/x", headers, Some("127.0.0.1"));
            let b = common::decide(&engine, "GET", "/api/v1/x", headers, Some("127.0.0.1"));
            assert_eq!(a, b);
        }
    }
});
