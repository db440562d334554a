//! `admit test`: the example policies' own test files pass with every rule exercised;
//! a failing case is reported with its place, the summary counts, JUnit is written,
//! and coverage under --min-coverage fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code stops loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn admit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_admit")).args(args).env_clear().current_dir(root()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_example_policy_passes_its_tests_with_every_rule_exercised() {
    for name in ["artifact-miner", "rag-modulo", "fetchml", "model-registry", "skillmeat"] {
        let policy = format!("examples/policies/{name}.toml");
        let out = admit(&["test", &policy]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}{}", text(&out.stderr));
        let rules = stdout.lines().find(|l| l.starts_with("coverage: rules")).unwrap();
        let (hit, all) = rules.trim_start_matches("coverage: rules ").split_once('/').unwrap();
        assert_eq!(hit, all.split(',').next().unwrap(), "{name}: {rules}");
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}

#[test]
fn a_failing_case_names_its_place_and_the_run_exits_1() {
    let dir = std::env::temp_dir().join(format!("admit-test-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tests = dir.join("fetchml.test.toml");
    std::fs::write(
        &tests,
        r#"now = 1790000000

[[cases]]
name = "bob lists his jobs"
request = { path = "/api/v1/jobs", headers = { X-API-Key = "demo-researcher-key" } }
expect = { allow = true, constraints = { owner = "bob" } }

[[cases]]
name = "a wrong expectation"
request = { path = "/api/v1/jobs", headers = { X-API-Key = "demo-researcher-key" } }
expect = { allow = false, principal = "alice", rule = "status" }
"#,
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let out =
        admit(&["test", "examples/policies/fetchml.toml", tests.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let place = format!("{}:8: a wrong expectation:", tests.display());
    assert!(stdout.contains(&format!("{place} allow: want false, got true")), "{stdout}");
    assert!(stdout.contains(&format!("{place} principal: want alice, got bob")), "{stdout}");
    assert!(stdout.contains(&format!("{place} rule: want status, got list-jobs")), "{stdout}");
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
    assert!(stdout.contains("coverage: rules 1/5, not exercised: "), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="2" failures="1""#) && xml.contains("<failure message="), "{xml}");

    // Coverage: 1 of 5 rules, 1 of 1 authenticator, 2 of 3 roles.
    std::fs::write(
        &tests,
        std::fs::read_to_string(&tests)
            .unwrap()
            .replace("allow = false, principal = \"alice\", rule = \"status\"", "allow = true"),
    )
    .unwrap();
    let out = admit(&["test", "examples/policies/fetchml.toml", tests.to_str().unwrap(), "--min-coverage", "90"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed") && stdout.contains("under --min-coverage 90"), "{stdout}");
    let out = admit(&["test", "examples/policies/fetchml.toml", tests.to_str().unwrap(), "--min-coverage", "40"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // A test file that does not read is an error (exit 2), with its name.
    std::fs::write(&tests, "[[cases]]\nname = 1\n").unwrap();
    let out = admit(&["test", "examples/policies/fetchml.toml", tests.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("fetchml.test.toml"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
