//! Fixtures shared by the core's integration tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `now` of every fixture token's validity.
pub const NOW: i64 = 1_790_000_000;

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture token by name (`tests/fixtures/tokens.json`).
pub fn token(name: &str) -> String {
    let tokens: BTreeMap<String, String> = serde_json::from_str(&fixture("tokens.json")).unwrap();
    tokens.get(name).unwrap_or_else(|| panic!("no token `{name}`")).clone()
}
