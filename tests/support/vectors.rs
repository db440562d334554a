//! The shared vectors' reader (`tests/README.md`): placeholders, the comparison of a
//! decision with a case's `expect`, and the list of vector files. One reader for every
//! Rust runner: `cli/tests/vectors.rs` (`admit decide`) and `server/tests/vectors.rs`
//! (`admit serve`) include it with `#[path]`.

#![allow(dead_code, reason = "each runner uses the parts it needs")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root (the including crate sits one folder below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixtures placeholders read.
pub struct Fixtures {
    tokens: BTreeMap<String, String>,
}

impl Fixtures {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(root().join("tests/fixtures/tokens.json")).unwrap();
        Fixtures { tokens: serde_json::from_str(&text).unwrap() }
    }

    /// Replaces `${token:NAME}`, `${file:PATH}` and `${repeat:N:TEXT}` in a string.
    pub fn expand(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("unclosed placeholder") + start;
            let inner = &rest[start + 2..end];
            let (kind, arg) = inner.split_once(':').expect("placeholder needs a kind");
            match kind {
                "token" => out.push_str(self.tokens.get(arg).unwrap_or_else(|| panic!("no token `{arg}`"))),
                "file" => out.push_str(&std::fs::read_to_string(root().join(arg)).unwrap()),
                "repeat" => {
                    let (n, text) = arg.split_once(':').unwrap();
                    out.push_str(&text.repeat(n.parse().unwrap()));
                }
                other => panic!("unknown placeholder kind `{other}`"),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Replaces placeholders everywhere in a JSON value.
    pub fn expand_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.expand(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.expand_value(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.expand_value(x)),
            _ => {}
        }
    }
}

/// One vector file, its placeholders replaced.
pub struct VectorFile {
    /// The file name.
    pub name: String,
    /// The document.
    pub doc: Value,
    /// The policy file.
    pub policy: PathBuf,
    /// The environment, exactly.
    pub env: BTreeMap<String, String>,
}

/// Every vector file, sorted by name.
pub fn vector_files() -> Vec<VectorFile> {
    let fixtures = Fixtures::load();
    let dir = root().join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
        .iter()
        .map(|file| {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let mut doc: Value =
                serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
            fixtures.expand_value(&mut doc);
            let policy = root().join(doc["policy"].as_str().unwrap_or_else(|| panic!("{name}: no policy")));
            let env: BTreeMap<String, String> =
                serde_json::from_value(doc.get("env").cloned().unwrap_or(Value::Null)).unwrap_or_default();
            VectorFile { name, doc, policy, env }
        })
        .collect()
}

/// Writes a vector's `jwks` and `keys` texts to files in `scratch`: `(field, id, file)`,
/// field being `jwks` or `keys`.
pub fn key_files(file: &VectorFile, scratch: &Path) -> Vec<(&'static str, String, PathBuf)> {
    let mut out = Vec::new();
    for field in ["jwks", "keys"] {
        for (id, text) in file.doc.get(field).and_then(Value::as_object).into_iter().flatten() {
            std::fs::create_dir_all(scratch).unwrap();
            let path = scratch.join(format!("{field}-{id}"));
            let text = text.as_str().unwrap_or_else(|| panic!("{}: {field}.{id} is not text", file.name));
            std::fs::write(&path, text).unwrap();
            out.push((field, id.clone(), path));
        }
    }
    out
}

/// Compares the keys `expect` has; returns what differs.
pub fn check(expect: &Value, got: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let exp = expect.as_object().expect("expect is an object");
    for (k, want) in exp {
        match k.as_str() {
            "allow" | "status" | "reason" | "message" | "body" | "rule" | "dry_run" | "constraints" => {
                if got.get(k) != Some(want) {
                    errors.push(format!("{k}: want {want}, got {}", got.get(k).unwrap_or(&Value::Null)));
                }
            }
            "principal" => {
                let g = got.get("principal").unwrap_or(&Value::Null);
                if want.is_null() || g.is_null() {
                    if want != g {
                        errors.push(format!("principal: want {want}, got {g}"));
                    }
                    continue;
                }
                for (pk, pv) in want.as_object().unwrap() {
                    let gv = g.get(pk).unwrap_or(&Value::Null);
                    let ok = if pk == "claims" { subset(pv, gv) } else { gv == pv };
                    if !ok {
                        errors.push(format!("principal.{pk}: want {pv}, got {gv}"));
                    }
                }
            }
            "headers" => {
                let have = got["headers"].as_array().unwrap();
                for pair in want.as_array().unwrap() {
                    let (n, v) = (pair[0].as_str().unwrap(), &pair[1]);
                    if !have.iter().any(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(n) && &h[1] == v) {
                        errors.push(format!("header {n}: {v} missing from {}", got["headers"]));
                    }
                }
            }
            "absent_headers" => {
                let have = got["headers"].as_array().unwrap();
                for n in want.as_array().unwrap() {
                    let n = n.as_str().unwrap();
                    if have.iter().any(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(n)) {
                        errors.push(format!("header {n} should be absent from {}", got["headers"]));
                    }
                }
            }
            other => errors.push(format!("unknown expectation `{other}`")),
        }
    }
    errors
}

pub fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        _ => want == got,
    }
}
