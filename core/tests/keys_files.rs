//! Keys kept where operators keep them: keys files that `set_keys` replaces at run time
//! (revocation on the next decision, a bad file keeps the old keys, no value of the file
//! in an error), and `jwks_url`, which the engine lists for the host to fetch.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use admit::{Engine, EngineError, MapResolver, Reason, Request, hash_key};

const NOW: i64 = 1_790_000_000;

fn policy(keys: &str) -> String {
    format!(
        r#"
        scopes = ["jobs:read", "jobs:all"]
        [roles.researcher]
        scopes = ["jobs:read"]
        [roles.admin]
        scopes = ["jobs:*"]

        [[authenticators]]
        type = "api_key"
        id = "keys"
        keys = {keys}

        [[routes]]
        path = "/jobs/**"
        require = ["jobs:read"]
        "#
    )
}

fn keys_file(entries: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("# TEST FIXTURE\n");
    for (id, key, extra) in entries {
        out.push_str(&format!(
            "[[keys]]\nid = \"{id}\"\nsha256 = \"{}\"\nroles = [\"researcher\"]\n{extra}\n",
            hash_key(key)
        ));
    }
    out
}

fn engine_with_file(file: &str) -> Engine {
    let mut r = MapResolver::default();
    r.files.insert("keys.toml".into(), file.into());
    Engine::from_toml(&policy("{ file = \"keys.toml\" }"), &r).unwrap()
}

fn reason(engine: &Engine, key: &str) -> Reason {
    let headers: &[(&[u8], &[u8])] = &[(b"X-API-Key", key.as_bytes())];
    engine.decide(&Request { method: "GET", path: "/jobs/1", headers, peer: None, now: NOW }).reason
}

#[test]
fn a_keys_file_is_read_at_load_and_listed_for_the_host() {
    let engine = engine_with_file(&keys_file(&[("bob", "bob-key", ""), ("gone", "gone-key", "revoked = true")]));
    assert_eq!(reason(&engine, "bob-key"), Reason::Ok);
    assert_eq!(reason(&engine, "gone-key"), Reason::Revoked);
    assert_eq!(reason(&engine, "other"), Reason::InvalidCredentials);
    assert_eq!(engine.keys_files(), vec![("keys", "keys.toml")]);
    assert!(engine.jwks_urls().is_empty());
}

#[test]
fn an_environment_variable_names_the_keys_file() {
    let mut r = MapResolver::from_env([("KEYS_FILE", "/etc/admit/keys.toml")]);
    r.files.insert("/etc/admit/keys.toml".into(), keys_file(&[("bob", "bob-key", "")]));
    let engine = Engine::from_toml(&policy("{ env = \"KEYS_FILE\" }"), &r).unwrap();
    assert_eq!(reason(&engine, "bob-key"), Reason::Ok);
    assert_eq!(engine.keys_files(), vec![("keys", "/etc/admit/keys.toml")]);

    // Unset: a warning, no key accepted until set_keys.
    let engine = Engine::from_toml(&policy("{ env = \"KEYS_FILE\" }"), &MapResolver::default()).unwrap();
    assert!(engine.warnings().iter().any(|w| w.message.contains("set_keys")));
    assert_eq!(reason(&engine, "bob-key"), Reason::InvalidCredentials);
    engine.set_keys("keys", &keys_file(&[("bob", "bob-key", "")])).unwrap();
    assert_eq!(reason(&engine, "bob-key"), Reason::Ok);
}

#[test]
fn revocation_takes_effect_on_the_next_decision() {
    let engine = engine_with_file(&keys_file(&[("bob", "bob-key", ""), ("carol", "carol-key", "")]));
    assert_eq!(reason(&engine, "bob-key"), Reason::Ok);
    let n = engine
        .set_keys("keys", &keys_file(&[("bob", "bob-key", "revoked = true"), ("frank", "frank-key", "")]))
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(reason(&engine, "bob-key"), Reason::Revoked);
    assert_eq!(reason(&engine, "frank-key"), Reason::Ok);
    // Replaced whole: a key left out of the new file is unknown.
    assert_eq!(reason(&engine, "carol-key"), Reason::InvalidCredentials);
    // JSON works too.
    let json = format!(r#"{{"keys": [{{"id": "carol", "sha256": "{}", "roles": ["admin"]}}]}}"#, hash_key("carol-key"));
    assert_eq!(engine.set_keys("keys", &json).unwrap(), 1);
    assert_eq!(reason(&engine, "carol-key"), Reason::Ok);
    assert_eq!(reason(&engine, "frank-key"), Reason::InvalidCredentials);
}

/// Every kind of bad keys file is refused, names its place, quotes no value of the file,
/// and leaves the working keys in force.
#[test]
fn a_bad_keys_file_keeps_the_old_keys_and_quotes_nothing() {
    let engine = engine_with_file(&keys_file(&[("bob", "bob-key", "")]));
    let digest = hash_key("bob-key");
    let secretish = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let cases: Vec<(String, &str)> = vec![
        ("[[keys]\nid = ".to_owned(), ""),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{}\"\n", &digest[..63]), "keys[0].sha256"),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nroles = [\"nope\"]\n"), "keys[0].roles"),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nscopes = [\"jobs:write\"]\n"), "keys[0].scopes"),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nrevoked = \"{secretish}\"\n"), "keys[0].revoked"),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nexpires = \"soon\"\n"), "keys[0].expires"),
        ("[[keys]]\nid = \"x\"\nsha256 = { env = \"H\" }\n".to_owned(), "keys[0].sha256"),
        ("[[keys]]\nid = \"x\"\nsecret = { env = \"K\" }\n".to_owned(), "keys[0].secret"),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nenabled = {{ env = \"E\" }}\n"), "keys[0].enabled"),
        (
            format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\n[[keys]]\nid = \"y\"\nsha256 = \"{digest}\"\n"),
            "keys[1]",
        ),
        (
            format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\n[[keys]]\nid = \"x\"\nsha256 = \"{secretish}\"\n"),
            "keys[1].id",
        ),
        (format!("[[keys]]\nid = \"x\"\nsha256 = \"{digest}\"\nextra = \"{secretish}\"\n"), "keys[0]"),
        (
            format!("{{\"keys\": [{{\"id\": \"x\", \"sha256\": \"{digest}\", \"revoked\": \"{secretish}\"}}]}}"),
            "keys[0].revoked",
        ),
        ("{\"keys\": 7}".to_owned(), "keys"),
        (String::new(), "keys"),
        ("# keys cut short\n".to_owned(), "keys"),
        ("\u{0}\u{1}".to_owned(), ""),
        ("a".repeat(admit::MAX_KEYS_FILE_BYTES + 1), ""),
    ];
    for (text, place) in cases {
        let err = engine.set_keys("keys", &text).expect_err(&text);
        let message = err.to_string();
        assert!(message.contains(place), "{message} should name {place}");
        assert!(!message.contains(&digest) && !message.contains(secretish), "{message} quotes the file");
        assert_eq!(reason(&engine, "bob-key"), Reason::Ok, "the old keys stay after {message}");
    }
}

#[test]
fn set_keys_on_the_wrong_authenticator_is_an_error() {
    let engine = engine_with_file(&keys_file(&[("bob", "bob-key", "")]));
    assert!(matches!(engine.set_keys("nope", "keys = []"), Err(EngineError::UnknownAuthenticator(_))));
    let jwt = Engine::from_toml(
        r#"
        [[authenticators]]
        type = "jwt"
        id = "idp"
        algorithms = ["RS256"]
        jwks_url = "https://issuer.example/.well-known/jwks.json"
        "#,
        &MapResolver::default(),
    )
    .unwrap();
    assert!(matches!(jwt.set_keys("idp", "keys = []"), Err(EngineError::Unsupported(_))));
}

#[test]
fn a_keys_file_that_cannot_be_read_or_is_bad_fails_the_load_with_its_place() {
    let err = Engine::from_toml(&policy("{ file = \"missing.toml\" }"), &MapResolver::default()).unwrap_err();
    assert_eq!(err.errors[0].place, "authenticators[0].keys");
    assert!(err.to_string().contains("cannot read keys file `missing.toml`"), "{err}");

    let mut r = MapResolver::default();
    r.files.insert("keys.toml".into(), "[[keys]]\nid = \"x\"\nsha256 = \"zz\"\n".into());
    let err = Engine::from_toml(&policy("{ file = \"keys.toml\" }"), &r).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("keys file `keys.toml`") && text.contains("keys[0].sha256") && text.contains("line 3"),
        "{text}"
    );
    assert!(!text.contains("zz"), "{text}");
}

#[test]
fn decisions_racing_set_keys_see_one_whole_table_or_the_other() {
    let engine = Arc::new(engine_with_file(&keys_file(&[("a", "key-a", "")])));
    let with_a = keys_file(&[("a", "key-a", "")]);
    let with_b = keys_file(&[("b", "key-b", "")]);
    let writer = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            for i in 0..200 {
                engine.set_keys("keys", if i % 2 == 0 { &with_b } else { &with_a }).unwrap();
            }
        })
    };
    for _ in 0..2000 {
        let a = reason(&engine, "key-a");
        assert!(matches!(a, Reason::Ok | Reason::InvalidCredentials));
    }
    writer.join().unwrap();
}

#[test]
fn jwks_url_is_listed_checked_and_exclusive_with_jwks() {
    let jwt = |field: &str| {
        format!(
            r#"
            [[authenticators]]
            type = "jwt"
            id = "clerk"
            algorithms = ["RS256"]
            {field}

            [[routes]]
            path = "/**"
            "#
        )
    };
    let env = MapResolver::from_env([("CLERK_JWKS_URL", "https://x.clerk.accounts.dev/.well-known/jwks.json")]);
    let engine = Engine::from_toml(&jwt("jwks_url = { env = \"CLERK_JWKS_URL\" }"), &env).unwrap();
    assert_eq!(engine.jwks_urls(), vec![("clerk", "https://x.clerk.accounts.dev/.well-known/jwks.json")]);
    // No set yet: no token passes.
    let headers: &[(&[u8], &[u8])] = &[(b"Authorization", b"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln")];
    let d = engine.decide(&Request { method: "GET", path: "/a", headers, peer: None, now: NOW });
    assert!(!d.allow);

    let unset = Engine::from_toml(&jwt("jwks_url = { env = \"CLERK_JWKS_URL\" }"), &MapResolver::default()).unwrap();
    assert!(unset.jwks_urls().is_empty());
    assert!(unset.warnings().iter().any(|w| w.place.ends_with("jwks_url") && w.message.contains("CLERK_JWKS_URL")));

    for (bad, why) in [
        ("jwks_url = \"http://issuer.example/jwks\"", "https"),
        ("jwks_url = \"https://user:tok@issuer.example/jwks\"", "user name"),
        ("jwks_url = \"https://a.example/jwks\"\njwks = \"{}\"", "one of"),
    ] {
        let err = Engine::from_toml(&jwt(bad), &MapResolver::default()).unwrap_err();
        assert!(err.errors.iter().any(|e| e.place.ends_with("jwks_url") && e.message.contains(why)), "{err}");
        assert!(!err.to_string().contains("tok@"), "{err}");
    }
    let loopback =
        Engine::from_toml(&jwt("jwks_url = \"http://127.0.0.1:8080/jwks\""), &MapResolver::default()).unwrap();
    assert_eq!(loopback.jwks_urls().len(), 1);
}
