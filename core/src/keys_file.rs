//! Keys files: the credentials of an `api_key` or `bearer_token` authenticator kept apart
//! from the policy (`keys = { file = "..." }`), read at load and again whenever the host
//! hands a new one to `Engine::set_keys`.
//!
//! A keys file is a secret (the digests are as sensitive as the keys, FetchML's document
//! says), so nothing here quotes it back: an error names a place (`keys[2].sha256`) and a
//! line, never a value.

use crate::authn::keys::KeyTable;
use crate::compile::{Ctx, KeyKind, key_table};
use crate::error::PolicyError;
use crate::load::{Format, parse_as};
use crate::policy::KeysFile;
use crate::roles::RoleTable;
use crate::scopes::ScopeTable;
use crate::value::{Condition, MapResolver, Value};

/// The largest keys file read: 16 MiB, some 50,000 keys.
pub const MAX_KEYS_FILE_BYTES: usize = 16 << 20;

/// The format of a keys file's text: JSON when it starts with `{`, TOML otherwise.
fn format_of(text: &str) -> Format {
    if text.trim_start().starts_with('{') { Format::Json } else { Format::Toml }
}

/// Reads a keys file into a key table, or every problem in it.
pub(crate) fn read(
    text: &str,
    kinds: KeyKind<'_>,
    roles: &RoleTable,
    scopes: &ScopeTable,
) -> Result<KeyTable, Vec<PolicyError>> {
    if text.len() > MAX_KEYS_FILE_BYTES {
        return Err(vec![PolicyError::new("", format!("a keys file is at most {MAX_KEYS_FILE_BYTES} bytes"))]);
    }
    let (file, map) = parse_as::<KeysFile>(text, format_of(text))
        .map_err(|e| e.errors.into_iter().map(redact).collect::<Vec<_>>())?;
    let resolver = MapResolver::default();
    let mut cx = Ctx { resolver: &resolver, errors: Vec::new(), warnings: Vec::new() };
    for (k, key) in file.keys.iter().enumerate() {
        let kp = format!("keys[{k}]");
        if key.secret.is_some() {
            cx.err(format!("{kp}.secret"), "a keys file holds digests (`sha256`), never a key itself");
        }
        if !matches!(key.enabled, Condition::Always(_)) {
            cx.err(format!("{kp}.enabled"), "a keys file holds values, not conditions on the environment");
        }
        let values = [("sha256", &key.sha256), ("principal", &key.principal), ("expires", &key.expires)];
        for (field, v) in values {
            if v.as_ref().is_some_and(|v| !matches!(v, Value::Literal(_))) {
                cx.err(format!("{kp}.{field}"), "a keys file holds values, not references");
            }
        }
        let mut role_errors = Vec::new();
        roles.resolve(&key.roles, &format!("{kp}.roles"), &mut role_errors);
        cx.errors.extend(role_errors);
    }
    let table = if cx.errors.is_empty() {
        key_table(&mut cx, &file.keys, "keys", kinds, roles, scopes)
    } else {
        KeyTable::default()
    };
    if cx.errors.is_empty() {
        return Ok(table);
    }
    Err(cx
        .errors
        .into_iter()
        .map(|mut e| {
            map.locate(&mut e);
            redact(e)
        })
        .collect())
}

/// Keeps a value of the file out of a parser's message: serde quotes what it could not
/// read (`invalid type: string "ab12...", expected a boolean`), which in a keys file may
/// be a digest. What is kept is the message up to the quote, and what was expected.
fn redact(mut e: PolicyError) -> PolicyError {
    let quotes_a_value = e.message.contains("invalid type:") || e.message.contains("invalid value:");
    if let Some(start) = e.message.find(['"', '`', '\'']).filter(|_| quotes_a_value) {
        let expected = e.message.rfind(", expected ").and_then(|i| e.message.get(i..)).unwrap_or("");
        let head = e.message.get(..start).unwrap_or("").trim_end();
        e.message = format!("{head} (value not shown){expected}");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_the_kind_of_problem_and_drops_the_value() {
        let e = redact(PolicyError::new(
            "keys[0].revoked",
            "invalid type: string \"ba0fd156826bd8b9d591c4dde23be07e3fe78a0d9946b7a2c362e8a996d5c60d\", expected a boolean",
        ));
        assert_eq!(e.message, "invalid type: string (value not shown), expected a boolean");
        let plain = redact(PolicyError::new("keys[0]", "a key needs sha256"));
        assert_eq!(plain.message, "a key needs sha256");
    }
}
