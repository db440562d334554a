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

/// Each committed schema, the `admit schema` arguments that print it.
const SCHEMAS: &[(&str, &[&str])] =
    &[("docs/policy.schema.json", &["schema"]), ("docs/keys-file.schema.json", &["schema", "--keys-file"])];

fn printed(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_admit")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_committed_schemas_are_what_admit_schema_prints() {
    for (file, args) in SCHEMAS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            printed(args) == committed,
            "{file} is not what `admit {}` prints; regenerate it with `cargo run -p admit-cli -- {} > {file}`",
            args.join(" "),
            args.join(" ")
        );
    }
}

#[test]
fn the_schemas_are_draft_7_and_closed_at_every_level() {
    for (file, args) in SCHEMAS {
        let schema: serde_json::Value = serde_json::from_str(&printed(args)).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#", "{file}");
        assert_eq!(schema["additionalProperties"], false, "{file}");
        // Every object with properties refuses others, as every table of the parser does
        // (deny_unknown_fields); an authenticator is closed by its type's branch.
        let mut open = Vec::new();
        closed(&schema, "#", &mut open);
        assert!(open.is_empty(), "{file}: objects that accept unknown fields: {open:?}");
    }
}

#[test]
fn a_keys_file_schema_takes_literals_only_and_no_secret() {
    let schema: serde_json::Value = serde_json::from_str(&printed(&["schema", "--keys-file"])).unwrap();
    let key = &schema["definitions"]["CredentialSpec"]["properties"];
    assert!(key.get("secret").is_none());
    assert_eq!(schema["required"], serde_json::json!(["keys"]));
    let text = schema.to_string();
    for reference in ["#/definitions/Value", "#/definitions/Condition", "\"env\"", "\"file\""] {
        assert!(!text.contains(reference), "{reference} in the keys file's schema");
    }
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
