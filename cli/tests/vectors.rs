//! Runs every shared vector in `tests/vectors/` through `admit decide`, as a user would:
//! one process per request, the environment set as the vector says and nothing else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "a test harness: a failed expectation should stop it loudly"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Fixtures {
    tokens: BTreeMap<String, String>,
}

impl Fixtures {
    fn load() -> Self {
        let text = std::fs::read_to_string(root().join("tests/fixtures/tokens.json")).unwrap();
        Fixtures { tokens: serde_json::from_str(&text).unwrap() }
    }

    /// Replaces `${token:NAME}`, `${file:PATH}` and `${repeat:N:TEXT}` in a string.
    fn expand(&self, s: &str) -> String {
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

    fn expand_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.expand(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.expand_value(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.expand_value(x)),
            _ => {}
        }
    }
}

fn admit(policy: &Path, env: &BTreeMap<String, String>, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_admit"));
    if args.first() == Some(&"check") {
        cmd.args(args).arg(policy);
    } else {
        cmd.args(args).arg("--policy").arg(policy);
    }
    cmd.env_clear().envs(env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // A command that fails before reading its input closes the pipe: its output says why.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares the keys `expect` has; returns what differs.
fn check(expect: &Value, got: &Value) -> Vec<String> {
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

/// The `explain` expectation against a trace: objects by the keys given, lists item by
/// item with the same length, other values equal (tests/README.md).
fn trace_matches(want: &Value, got: &Value, place: &str, errors: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => trace_matches(v, gv, &format!("{place}.{k}"), errors),
                    None => errors.push(format!("{place}.{k}: missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                trace_matches(wv, gv, &format!("{place}[{i}]"), errors);
            }
        }
        _ if want == got => {}
        _ => errors.push(format!("{place}: want {want}, got {got}")),
    }
}

fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        _ => want == got,
    }
}

#[test]
fn shared_vectors_through_the_cli() {
    let fixtures = Fixtures::load();
    let dir = root().join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let (mut cases, mut failures) = (0, Vec::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        fixtures.expand_value(&mut doc);
        let policy = root().join(doc["policy"].as_str().unwrap_or_else(|| panic!("{name}: no policy")));
        let env: BTreeMap<String, String> =
            serde_json::from_value(doc.get("env").cloned().unwrap_or(Value::Null)).unwrap_or_default();
        // The key sets a host fetched (`jwks`) and keys files it handed over (`keys`), as
        // `--jwks ID=FILE` and `--keys ID=FILE`; nothing is fetched.
        let scratch = std::env::temp_dir().join(format!("admit-vectors-{}-{name}", std::process::id()));
        let mut sets: Vec<String> = vec!["--offline".to_owned()];
        for (field, flag) in [("jwks", "--jwks"), ("keys", "--keys")] {
            for (id, text) in doc.get(field).and_then(Value::as_object).into_iter().flatten() {
                std::fs::create_dir_all(&scratch).unwrap();
                let file = scratch.join(format!("{field}-{id}"));
                std::fs::write(&file, text.as_str().unwrap_or_else(|| panic!("{name}: {field}.{id} is not text")))
                    .unwrap();
                sets.push(flag.to_owned());
                sets.push(format!("{id}={}", file.display()));
            }
        }
        // A host's checks of `delegated` credentials, as a table (`--checks FILE`).
        let mut decide_only: Vec<String> = Vec::new();
        if let Some(checks) = doc.get("checks") {
            std::fs::create_dir_all(&scratch).unwrap();
            let file = scratch.join("checks.json");
            std::fs::write(&file, checks.to_string()).unwrap();
            decide_only = vec!["--checks".to_owned(), file.display().to_string()];
        }
        let with_sets = |command: &str| -> Vec<String> {
            std::iter::once(command.to_owned()).chain(sets.iter().cloned()).collect()
        };
        let check_args = with_sets("check");
        let mut decide_args = with_sets("decide");
        decide_args.extend(decide_only);
        let check_args: Vec<&str> = check_args.iter().map(String::as_str).collect();
        let decide_args: Vec<&str> = decide_args.iter().map(String::as_str).collect();
        if let Some(text) = doc.get("expect_load_error").and_then(Value::as_str) {
            cases += 1;
            let (code, _, stderr) = admit(&policy, &env, &check_args, "");
            if code != 2 || !stderr.contains(text) {
                failures.push(format!("{name}: load error: want exit 2 with `{text}`, got {code}: {stderr}"));
            }
            continue;
        }
        for case in doc["cases"].as_array().unwrap_or_else(|| panic!("{name}: no cases")) {
            cases += 1;
            let cname = case["name"].as_str().unwrap_or("?");
            let request = serde_json::to_string(&case["request"]).unwrap();
            // A case with an `explain` expectation runs `decide --explain`: its decision
            // is held to `expect`, its trace to `explain`.
            let explain = case.get("explain");
            let mut args = decide_args.clone();
            if explain.is_some() {
                args.push("--explain");
            }
            let (code, stdout, stderr) = admit(&policy, &env, &args, &request);
            let got: Value = match serde_json::from_str(&stdout) {
                Ok(v) => v,
                Err(_) => {
                    failures.push(format!("{name} / {cname}: exit {code}, no decision; stderr: {stderr}"));
                    continue;
                }
            };
            let (got, trace) = match explain {
                Some(_) => (got["decision"].clone(), got["trace"].clone()),
                None => (got, Value::Null),
            };
            let want_code = if got["allow"] == Value::Bool(true) { 0 } else { 1 };
            let mut errors = check(&case["expect"], &got);
            if let Some(want) = explain {
                trace_matches(want, &trace, "trace", &mut errors);
            }
            if code != want_code {
                errors.push(format!("exit status {code}, want {want_code}"));
            }
            if !errors.is_empty() {
                failures.push(format!("{name} / {cname}:\n    {}", errors.join("\n    ")));
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    assert!(failures.is_empty(), "{} of {cases} vector cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{cases} vector cases passed in {} files", files.len());
}
