//! Values a policy may write literally or take from the host: `{ env = "NAME" }`,
//! `{ file = "PATH" }`, and switches (`enabled`) that depend on the environment.
//!
//! The core never reads the environment or a file itself: the host hands it a
//! [`Resolver`] when the policy is compiled.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where the host looks up `{ env = ... }` and `{ file = ... }` references.
///
/// The CLI reads its process environment and files relative to the policy's folder;
/// a binding may hand in a dictionary. Tests use [`MapResolver`].
pub trait Resolver {
    /// The value of environment variable `name`, or `None` when it is unset.
    fn env(&self, name: &str) -> Option<String>;
    /// The text of the file at `path` (relative to the policy's folder), or a
    /// human-readable reason why it cannot be read.
    fn file(&self, path: &str) -> Result<String, String>;
}

/// A resolver with a fixed environment and fixed files, for tests and hosts that
/// pass their configuration in explicitly. An empty one resolves nothing.
#[derive(Debug, Clone, Default)]
pub struct MapResolver {
    /// Environment variables by name.
    pub env: BTreeMap<String, String>,
    /// File contents by path.
    pub files: BTreeMap<String, String>,
}

impl MapResolver {
    /// A resolver with these environment variables and no files.
    pub fn from_env<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { env: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), files: BTreeMap::new() }
    }
}

impl Resolver for MapResolver {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        self.files.get(path).cloned().ok_or_else(|| format!("no file `{path}` was provided"))
    }
}

/// A scalar written in a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn to_text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Str(v) => s.serialize_str(v),
            Scalar::Int(v) => s.serialize_i64(*v),
            Scalar::Bool(v) => s.serialize_bool(*v),
        }
    }
}

/// A value in a policy: written literally, or a reference the host resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Written in the policy itself.
    Literal(Scalar),
    /// `{ env = "NAME", default = ..., split = "," }`: an environment variable.
    Env {
        /// The variable's name.
        name: String,
        /// Used when the variable is unset (an empty variable counts as unset).
        default: Option<Scalar>,
        /// For lists: the separator the variable's text is split on.
        split: Option<String>,
    },
    /// `{ file = "PATH" }`: a file's text, relative to the policy's folder.
    File {
        /// The file's path.
        path: String,
    },
}

impl Value {
    /// A literal string value.
    pub fn text(s: impl Into<String>) -> Self {
        Value::Literal(Scalar::Str(s.into()))
    }

    /// True when the value is written in the policy rather than referenced.
    pub fn is_literal(&self) -> bool {
        matches!(self, Value::Literal(_))
    }

    /// The text the policy itself writes for this value: a literal's, or an environment
    /// reference's `default`. A secret there is a secret in the policy file.
    pub fn written_text(&self) -> Option<String> {
        match self {
            Value::Literal(s) | Value::Env { default: Some(s), .. } => Some(s.to_text()),
            _ => None,
        }
    }

    /// How the value is named in an error: `` `ENV_NAME` `` or the file path. Never the
    /// resolved value, which may be a secret.
    pub fn describe(&self) -> String {
        match self {
            Value::Literal(_) => "a literal value".to_owned(),
            Value::Env { name, .. } => format!("environment variable `{name}`"),
            Value::File { path } => format!("file `{path}`"),
        }
    }

    /// Resolves the value to text. `Ok(None)` means an environment variable that is
    /// unset (or empty) and has no default.
    pub fn resolve(&self, resolver: &dyn Resolver) -> Result<Option<String>, String> {
        match self {
            Value::Literal(s) => Ok(Some(s.to_text())),
            Value::Env { name, default, .. } => match resolver.env(name) {
                Some(v) if !v.is_empty() => Ok(Some(v)),
                _ => Ok(default.as_ref().map(Scalar::to_text)),
            },
            Value::File { path } => resolver
                .file(path)
                .map(|text| Some(text.trim_end_matches(['\n', '\r']).to_owned()))
                .map_err(|e| format!("cannot read file `{path}`: {e}")),
        }
    }

    /// Resolves a value that must be present.
    pub fn require(&self, resolver: &dyn Resolver) -> Result<String, String> {
        self.resolve(resolver)?.ok_or_else(|| format!("{} is not set and has no default", self.describe()))
    }

    /// Resolves the value as a list: a literal string is one item; an environment
    /// variable with `split` is split on the separator (items trimmed, empties dropped).
    fn resolve_items(&self, resolver: &dyn Resolver) -> Result<Vec<String>, String> {
        let Some(text) = self.resolve(resolver)? else {
            return Ok(Vec::new());
        };
        match self {
            Value::Env { split: Some(sep), .. } => {
                Ok(text.split(sep.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            }
            _ => Ok(vec![text]),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::text(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a number, a boolean, `{ env = \"NAME\" }` or `{ file = \"PATH\" }`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Literal(Scalar::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Literal(Scalar::Str(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Literal(Scalar::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v).map(|v| Value::Literal(Scalar::Int(v))).map_err(|_| E::custom("number too large"))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Literal(Scalar::Bool(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut env = None;
        let mut file = None;
        let mut default = None;
        let mut split = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "env" => env = Some(map.next_value::<String>()?),
                "file" => file = Some(map.next_value::<String>()?),
                "default" => default = Some(map.next_value::<ScalarDe>()?.0),
                "split" => split = Some(map.next_value::<String>()?),
                other => {
                    return Err(de::Error::unknown_field(other, &["env", "file", "default", "split"]));
                }
            }
        }
        match (env, file) {
            (Some(name), None) => {
                if name.is_empty() {
                    return Err(de::Error::custom("`env` needs a variable name"));
                }
                if split.as_deref() == Some("") {
                    return Err(de::Error::custom("`split` cannot be empty"));
                }
                Ok(Value::Env { name, default, split })
            }
            (None, Some(path)) => {
                if default.is_some() || split.is_some() {
                    return Err(de::Error::custom("`default` and `split` go with `env`, not `file`"));
                }
                Ok(Value::File { path })
            }
            (Some(_), Some(_)) => Err(de::Error::custom("a reference has either `env` or `file`, not both")),
            (None, None) => Err(de::Error::custom("a reference needs `env = \"NAME\"` or `file = \"PATH\"`")),
        }
    }
}

struct ScalarDe(Scalar);

impl<'de> Deserialize<'de> for ScalarDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(ValueVisitor)? {
            Value::Literal(s) => Ok(ScalarDe(s)),
            _ => Err(de::Error::custom("a default must be a string, a number or a boolean")),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Literal(v) => v.serialize(s),
            Value::Env { name, default, split } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("env", name)?;
                if let Some(d) = default {
                    m.serialize_entry("default", d)?;
                }
                if let Some(sp) = split {
                    m.serialize_entry("split", sp)?;
                }
                m.end()
            }
            Value::File { path } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", path)?;
                m.end()
            }
        }
    }
}

/// A list in a policy: an array of values, or one value that resolves to a list
/// (`{ env = "ALLOWED_ORIGINS", split = "," }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueList(pub Vec<Value>);

impl ValueList {
    /// Resolves every item; unset environment references contribute nothing.
    pub fn resolve(&self, resolver: &dyn Resolver) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for v in &self.0 {
            out.extend(v.resolve_items(resolver)?);
        }
        Ok(out)
    }
    /// The first reference of the list that is set (an environment variable with text,
    /// or a file) yet resolves to no item: `{ env = "AUD", split = "," }` with `AUD=","`.
    /// Where an empty list switches a check off, that is an error, not an absent list.
    pub fn set_but_empty(&self, resolver: &dyn Resolver) -> Option<&Value> {
        self.0.iter().find(|v| {
            let set = match v {
                Value::Literal(_) => true,
                Value::Env { name, .. } => resolver.env(name).is_some_and(|t| !t.is_empty()),
                Value::File { .. } => true,
            };
            set && v.resolve_items(resolver).is_ok_and(|items| items.iter().all(|i| i.trim().is_empty()))
        })
    }

    /// True when the list has no items written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for ValueList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ValueList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list, a string, or `{ env = \"NAME\", split = \",\" }`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueList, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    items.push(v);
                }
                Ok(ValueList(items))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueList, E> {
                Ok(ValueList(vec![Value::text(v)]))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ValueList, A::Error> {
                let v = ValueVisitor.visit_map(map)?;
                Ok(ValueList(vec![v]))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

impl Serialize for ValueList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Whether a part of the policy is switched on: `true`, `false`, or a test of the
/// host's environment.
///
/// - `{ env = "NAME", default = false }`: the variable read as a boolean
///   (`true/1/yes/on`, `false/0/no/off`; anything else is a load error);
/// - `{ set = "NAME" }` / `{ unset = "NAME" }`: whether the variable has a non-empty value;
/// - `{ all = [...] }`, `{ any = [...] }`, `{ not = ... }`: combinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A fixed answer.
    Always(bool),
    /// An environment variable read as a boolean.
    Env {
        /// The variable's name.
        name: String,
        /// The answer when it is unset.
        default: bool,
    },
    /// True when the variable is set to a non-empty value.
    Set(String),
    /// True when the variable is unset or empty.
    Unset(String),
    /// True when every condition is.
    All(Vec<Condition>),
    /// True when at least one condition is.
    Any(Vec<Condition>),
    /// True when the condition is not.
    Not(Box<Condition>),
}

impl Default for Condition {
    fn default() -> Self {
        Condition::Always(true)
    }
}

impl Condition {
    /// True for the default, `true`: lets serialization leave it out.
    pub fn is_always_true(&self) -> bool {
        *self == Condition::Always(true)
    }

    /// True for `false`: lets serialization leave a default-off switch out.
    pub fn is_always_false(&self) -> bool {
        *self == Condition::Always(false)
    }

    /// Evaluates the condition against the host's environment.
    pub fn evaluate(&self, resolver: &dyn Resolver) -> Result<bool, String> {
        let set = |name: &str| resolver.env(name).is_some_and(|v| !v.is_empty());
        match self {
            Condition::Always(b) => Ok(*b),
            Condition::Env { name, default } => match resolver.env(name) {
                None => Ok(*default),
                Some(v) if v.is_empty() => Ok(*default),
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    format!("environment variable `{name}` must be true or false (or 1/0, yes/no, on/off)")
                }),
            },
            Condition::Set(name) => Ok(set(name)),
            Condition::Unset(name) => Ok(!set(name)),
            Condition::All(cs) => {
                for c in cs {
                    if !c.evaluate(resolver)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Any(cs) => {
                for c in cs {
                    if c.evaluate(resolver)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(c) => Ok(!c.evaluate(resolver)?),
        }
    }
}

/// Reads a boolean the way environment variables usually spell it.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CondVisitor;
        impl<'de> Visitor<'de> for CondVisitor {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, `{ env = \"NAME\" }`, `{ set = \"NAME\" }`, `{ unset = \"NAME\" }`, `{ all = [...] }`, `{ any = [...] }` or `{ not = ... }`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Condition, E> {
                Ok(Condition::Always(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Condition, A::Error> {
                let mut found: Option<Condition> = None;
                let mut env_name: Option<String> = None;
                let mut default: Option<bool> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let c = match key.as_str() {
                        "env" => {
                            env_name = Some(map.next_value()?);
                            continue;
                        }
                        "default" => {
                            default = Some(map.next_value()?);
                            continue;
                        }
                        "set" => Condition::Set(map.next_value()?),
                        "unset" => Condition::Unset(map.next_value()?),
                        "all" => Condition::All(map.next_value()?),
                        "any" => Condition::Any(map.next_value()?),
                        "not" => Condition::Not(Box::new(map.next_value()?)),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["env", "default", "set", "unset", "all", "any", "not"],
                            ));
                        }
                    };
                    if found.is_some() {
                        return Err(de::Error::custom("a condition has exactly one test"));
                    }
                    found = Some(c);
                }
                match (found, env_name) {
                    (None, Some(name)) => Ok(Condition::Env { name, default: default.unwrap_or(false) }),
                    (Some(c), None) if default.is_none() => Ok(c),
                    (Some(_), _) => Err(de::Error::custom("a condition has exactly one test")),
                    (None, None) => Err(de::Error::custom("an empty condition")),
                }
            }
        }
        d.deserialize_any(CondVisitor)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Condition::Always(b) => s.serialize_bool(*b),
            Condition::Env { name, default } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("env", name)?;
                m.serialize_entry("default", default)?;
                m.end()
            }
            Condition::Set(n) => one_entry(s, "set", n),
            Condition::Unset(n) => one_entry(s, "unset", n),
            Condition::All(c) => one_entry(s, "all", c),
            Condition::Any(c) => one_entry(s, "any", c),
            Condition::Not(c) => one_entry(s, "not", c),
        }
    }
}

fn one_entry<S: Serializer, T: Serialize + ?Sized>(s: S, key: &str, v: &T) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry(key, v)?;
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> MapResolver {
        MapResolver::from_env(pairs.iter().copied())
    }

    #[test]
    fn env_reference_uses_default_when_unset_or_empty() {
        let v: Value = serde_json::from_str(r#"{"env":"ALG","default":"HS256"}"#).unwrap();
        assert_eq!(v.resolve(&env(&[])).unwrap().as_deref(), Some("HS256"));
        assert_eq!(v.resolve(&env(&[("ALG", "")])).unwrap().as_deref(), Some("HS256"));
        assert_eq!(v.resolve(&env(&[("ALG", "HS512")])).unwrap().as_deref(), Some("HS512"));
    }

    #[test]
    fn required_reference_names_the_variable_not_a_value() {
        let v: Value = serde_json::from_str(r#"{"env":"JWT_SECRET_KEY"}"#).unwrap();
        let err = v.require(&env(&[])).unwrap_err();
        assert!(err.contains("`JWT_SECRET_KEY`"), "{err}");
    }

    #[test]
    fn list_splits_environment_text() {
        let l: ValueList = serde_json::from_str(r#"{"env":"ORIGINS","split":",","default":"https://a"}"#).unwrap();
        assert_eq!(l.resolve(&env(&[])).unwrap(), vec!["https://a"]);
        assert_eq!(l.resolve(&env(&[("ORIGINS", " https://b , ,https://c")])).unwrap(), vec!["https://b", "https://c"]);
    }

    #[test]
    fn a_set_reference_with_no_item_is_told_apart_from_an_unset_one() {
        let l: ValueList = serde_json::from_str(r#"{"env":"AUD","split":","}"#).unwrap();
        assert!(l.set_but_empty(&env(&[])).is_none());
        assert!(l.set_but_empty(&env(&[("AUD", "")])).is_none());
        assert!(l.set_but_empty(&env(&[("AUD", "api")])).is_none());
        for blank in [",", " , ,", " "] {
            assert!(l.set_but_empty(&env(&[("AUD", blank)])).is_some(), "{blank:?}");
        }
        let l: ValueList = serde_json::from_str(r#"["a", ""]"#).unwrap();
        assert!(l.set_but_empty(&env(&[])).is_some());
    }

    #[test]
    fn reference_rejects_unknown_keys_and_both_kinds() {
        assert!(serde_json::from_str::<Value>(r#"{"evn":"X"}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"env":"X","file":"y"}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{}"#).is_err());
    }

    #[test]
    fn conditions_read_the_environment() {
        let c: Condition = serde_json::from_str(r#"{"env":"ON"}"#).unwrap();
        assert!(!c.evaluate(&env(&[])).unwrap());
        assert!(c.evaluate(&env(&[("ON", "Yes")])).unwrap());
        assert!(c.evaluate(&env(&[("ON", "maybe")])).is_err());
        let c: Condition = serde_json::from_str(r#"{"all":[{"set":"A"},{"not":{"env":"B"}}]}"#).unwrap();
        assert!(c.evaluate(&env(&[("A", "x")])).unwrap());
        assert!(!c.evaluate(&env(&[("A", "x"), ("B", "true")])).unwrap());
        assert!(!c.evaluate(&env(&[("A", "")])).unwrap());
        let c: Condition = serde_json::from_str(r#"{"unset":"AUTH_TOKEN"}"#).unwrap();
        assert!(c.evaluate(&env(&[])).unwrap());
        assert!(!c.evaluate(&env(&[("AUTH_TOKEN", "t")])).unwrap());
    }

    #[test]
    fn values_round_trip_through_json() {
        for text in [r#""x""#, r#"3"#, r#"true"#, r#"{"env":"A","default":"d","split":","}"#, r#"{"file":"k.json"}"#] {
            let v: Value = serde_json::from_str(text).unwrap();
            let back: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(v, back);
        }
    }
}
