//! Arbitrary Origin and preflight headers against the Model Registry policy: never a
//! panic, and an allow-origin header only ever names an allowed origin.
#![no_main]

use std::sync::OnceLock;

use admit::{Engine, MapResolver};
use libfuzzer_sys::fuzz_target;

mod common;

static ENGINE: OnceLock<Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(|| {
        let env = MapResolver::from_env([("ALLOWED_ORIGINS", "https://app.example.com,https://*.example.org")]);
        Engine::from_toml(include_str!("../../examples/policies/model-registry.toml"), &env)
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let mut parts = data.splitn(3, |b| *b == 0);
    let origin = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let requested = parts.next().unwrap_or_default();
    let headers: &[(&[u8], &[u8])] = &[
        (b"Origin", origin),
        (b"Access-Control-Request-Method", method),
        (b"Access-Control-Request-Headers", requested),
    ];
    for m in ["OPTIONS", "GET"] {
        let d = common::decide(engine, m, "/api/artifact/model", headers, None);
        if let Some(acao) = d.header("Access-Control-Allow-Origin") {
            assert_eq!(acao.as_bytes(), origin.trim_ascii(), "the echoed origin is the one sent");
            let rest = acao.split_once("://").map_or("", |(_, r)| r).to_ascii_lowercase();
            let host = rest.rsplit_once(':').map_or(rest.as_str(), |(h, _)| h);
            assert!(
                acao.to_ascii_lowercase().starts_with("https://")
                    && (host == "app.example.com" || host.ends_with(".example.org")),
                "allowed origin {acao:?}"
            );
        }
    }
});
