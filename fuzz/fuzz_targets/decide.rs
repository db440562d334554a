//! Arbitrary method, path and headers against SkillMeat with every mode on: never a
//! panic; the same answer twice; and nothing but a public route passes without a
//! credential the engine knows.
#![no_main]

use std::sync::OnceLock;

use admit::{Engine, Reason};
use libfuzzer_sys::fuzz_target;

mod common;

static ENGINE: OnceLock<Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(common::skillmeat);
    let (method, path, headers) = common::split(data);
    let d = common::decide(engine, &method, &path, &headers, None);
    assert_eq!(d, common::decide(engine, &method, &path, &headers, None));
    if d.allow {
        assert!(
            d.reason == Reason::Public || common::carries_known_credential(&headers),
            "allowed without a known credential: {method:?} {path:?} {d:?}"
        );
    }
});
