//! `admit schema` and the committed docs/policy.schema.json: the file editors and CI read
//! must be what the command prints today.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code stops loudly and reads the committed file"
)]

use std::path::Path;
use std::process::Command;

const REGENERATE: &str = "cargo run -p admit-cli -- schema > docs/policy.schema.json";

#[test]
fn the_committed_schema_is_what_admit_schema_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_admit")).arg("schema").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        printed == committed,
        "docs/policy.schema.json is not what `admit schema` prints; regenerate it with `{REGENERATE}`"
    );
}

#[test]
fn the_schema_is_draft_7_and_closed_at_every_level() {
    let out = Command::new(env!("CARGO_BIN_EXE_admit")).arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    // Every object with properties refuses others, as every table of the parser does
    // (deny_unknown_fields); an authenticator is closed by its type's branch.
    let mut open = Vec::new();
    closed(&schema, "#", &mut open);
    assert!(open.is_empty(), "objects that accept unknown fields: {open:?}");
}

fn closed(schema: &serde_json::Value, place: &str, open: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties")
                && !map.contains_key("oneOf")
                && map.get("additionalProperties") != Some(&false.into())
            {
                open.push(place.to_owned());
            }
            for (k, v) in map {
                closed(v, &format!("{place}/{k}"), open);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                closed(v, &format!("{place}/{i}"), open);
            }
        }
        _ => {}
    }
}
