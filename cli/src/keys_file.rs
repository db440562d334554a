//! An operator's edits of a keys file (`admit keygen --add`, `admit revoke`): FetchML's
//! admin steps, done in place. TOML files keep their comments and layout (toml_edit);
//! JSON files (`{"keys": [...]}`) are rewritten. The file is replaced atomically (a
//! host watching it never reads half a file), keeps its permissions, and a new file is
//! created readable by its owner only: a keys file is a secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

/// One key to add.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub sha256: &'a str,
    pub principal: Option<&'a str>,
    pub roles: &'a [String],
    pub scopes: &'a [String],
    pub expires: Option<&'a str>,
}

/// The text of `path` with the key added. The file may not exist yet.
pub fn with_key_added(path: &Path, key: &NewKey<'_>) -> Result<String, String> {
    if key.id.is_empty() || key.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a key id needs at least one character and no spaces".to_owned());
    }
    let text = read_if_exists(path)?;
    if is_json(&text) {
        let mut doc = parse_json(path, &text)?;
        let keys = json_keys(path, &mut doc)?;
        if keys.iter().any(|k| k.get("id").and_then(Json::as_str) == Some(key.id)) {
            return Err(duplicate(path, key.id));
        }
        let mut entry = serde_json::Map::new();
        entry.insert("id".into(), key.id.into());
        if let Some(p) = key.principal {
            entry.insert("principal".into(), p.into());
        }
        entry.insert("sha256".into(), key.sha256.into());
        entry.insert("roles".into(), key.roles.to_vec().into());
        if !key.scopes.is_empty() {
            entry.insert("scopes".into(), key.scopes.to_vec().into());
        }
        if let Some(e) = key.expires {
            entry.insert("expires".into(), e.into());
        }
        keys.push(Json::Object(entry));
        return serde_json::to_string_pretty(&doc).map(|t| t + "\n").map_err(|e| e.to_string());
    }
    let mut doc = parse_toml(path, &text)?;
    if toml_ids(&doc).iter().any(|id| id == key.id) {
        return Err(duplicate(path, key.id));
    }
    let list = |items: &[String]| items.iter().map(String::as_str).collect::<Array>();
    match doc.get_mut("keys") {
        Some(Item::Value(toml_edit::Value::Array(inline))) => {
            let mut t = InlineTable::new();
            t.insert("id", key.id.into());
            if let Some(p) = key.principal {
                t.insert("principal", p.into());
            }
            t.insert("sha256", key.sha256.into());
            t.insert("roles", toml_edit::Value::Array(list(key.roles)));
            if !key.scopes.is_empty() {
                t.insert("scopes", toml_edit::Value::Array(list(key.scopes)));
            }
            if let Some(e) = key.expires {
                t.insert("expires", e.into());
            }
            inline.push(t);
        }
        Some(Item::ArrayOfTables(_)) | None => {
            let mut t = Table::new();
            t.insert("id", value(key.id));
            if let Some(p) = key.principal {
                t.insert("principal", value(p));
            }
            t.insert("sha256", value(key.sha256));
            t.insert("roles", value(list(key.roles)));
            if !key.scopes.is_empty() {
                t.insert("scopes", value(list(key.scopes)));
            }
            if let Some(e) = key.expires {
                t.insert("expires", value(e));
            }
            match doc.get_mut("keys") {
                Some(Item::ArrayOfTables(tables)) => tables.push(t),
                _ => {
                    let mut tables = ArrayOfTables::new();
                    tables.push(t);
                    doc.insert("keys", Item::ArrayOfTables(tables));
                }
            }
        }
        Some(_) => return Err(format!("{}: `keys` is not a list of keys", path.display())),
    }
    Ok(doc.to_string())
}

/// The text of `path` with key `id` marked `revoked = true`, and whether it already was.
pub fn with_key_revoked(path: &Path, id: &str) -> Result<(String, bool), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let missing = || format!("{}: no key has the id `{id}`", path.display());
    if is_json(&text) {
        let mut doc = parse_json(path, &text)?;
        let keys = json_keys(path, &mut doc)?;
        let entry = keys
            .iter_mut()
            .find(|k| k.get("id").and_then(Json::as_str) == Some(id))
            .and_then(Json::as_object_mut)
            .ok_or_else(missing)?;
        let was = entry.get("revoked") == Some(&Json::Bool(true));
        entry.insert("revoked".into(), Json::Bool(true));
        let out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        return Ok((out + "\n", was));
    }
    let mut doc = parse_toml(path, &text)?;
    let was = match doc.get_mut("keys") {
        Some(Item::ArrayOfTables(tables)) => {
            let t = tables.iter_mut().find(|t| t.get("id").and_then(Item::as_str) == Some(id)).ok_or_else(missing)?;
            let was = t.get("revoked").and_then(Item::as_bool) == Some(true);
            t.insert("revoked", value(true));
            was
        }
        Some(Item::Value(toml_edit::Value::Array(inline))) => {
            let t = inline
                .iter_mut()
                .filter_map(toml_edit::Value::as_inline_table_mut)
                .find(|t| t.get("id").and_then(toml_edit::Value::as_str) == Some(id))
                .ok_or_else(missing)?;
            let was = t.get("revoked").and_then(toml_edit::Value::as_bool) == Some(true);
            t.insert("revoked", true.into());
            was
        }
        _ => return Err(missing()),
    };
    Ok((doc.to_string(), was))
}

/// Replaces `path` with `text` at once: a temporary file beside it, then a rename. The
/// file keeps its permissions; a new one is readable by its owner only.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.admit-{}.tmp", std::process::id()));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
        options.mode(mode);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// True when a keys file's text is JSON (it starts with `{`), as the core reads it.
fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn read_if_exists(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn parse_toml(path: &Path, text: &str) -> Result<DocumentMut, String> {
    // The parser's message may quote a line of the file, which holds digests.
    text.parse::<DocumentMut>()
        .map_err(|_| format!("{}: not a TOML keys file (run `admit check` on the policy)", path.display()))
}

fn parse_json(path: &Path, text: &str) -> Result<Json, String> {
    serde_json::from_str(text).map_err(|e| format!("{}: not a JSON keys file (line {})", path.display(), e.line()))
}

fn json_keys<'d>(path: &Path, doc: &'d mut Json) -> Result<&'d mut Vec<Json>, String> {
    let obj = doc.as_object_mut().ok_or_else(|| format!("{}: not a keys file", path.display()))?;
    obj.entry("keys")
        .or_insert_with(|| Json::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| format!("{}: `keys` is not a list of keys", path.display()))
}

fn toml_ids(doc: &DocumentMut) -> Vec<String> {
    match doc.get("keys") {
        Some(Item::ArrayOfTables(tables)) => {
            tables.iter().filter_map(|t| t.get("id").and_then(Item::as_str).map(str::to_owned)).collect()
        }
        Some(Item::Value(toml_edit::Value::Array(inline))) => inline
            .iter()
            .filter_map(toml_edit::Value::as_inline_table)
            .filter_map(|t| t.get("id").and_then(toml_edit::Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn duplicate(path: &Path, id: &str) -> String {
    format!(
        "{}: a key with the id `{id}` is already there; ids are unique (give the new key another id and `--principal {id}`)",
        path.display()
    )
}
