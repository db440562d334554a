//! A parsed policy document, and a serde deserializer over it that knows where it is.
//!
//! Both policy formats are parsed into one plain tree ([`Tree`], a `serde_json::Value`
//! read strictly), and the policy model is deserialized from the tree by [`from_tree`],
//! whose errors carry their place (`routes[2].require`). Doing the place tracking here,
//! on the one deserializer there is, rather than wrapping every visitor generically,
//! keeps the generated code small (it matters for the WASM build).

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A policy document as a plain tree, read strictly: a key given twice in one table or
/// object is an error (JSON parsers commonly keep the last one silently), and a TOML
/// date-time, which no policy field takes, is refused by name.
pub(crate) struct Tree(pub Value);

/// The key under which the `toml` crate hands a date-time to a visitor.
const TOML_DATETIME: &str = "$__toml_private_datetime";

impl<'de> de::Deserialize<'de> for Tree {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor).map(Tree)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities (TOML has them) have no JSON form: a null, refused later by
        // whichever field it was given to.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Tree(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == TOML_DATETIME {
                return Err(de::Error::custom("a TOML date-time is not a policy value; quote it as a string"));
            }
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let Tree(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A TOML document as a tree, read from toml's own parse (`DeTable`) without going
/// through its serde deserializer and [`TreeVisitor`] a second time: the same tree, the
/// same errors, less generated code (it matters for the WASM build). What the serde path
/// gave, kept here: an integer that does not fit an `i64` is a `u64`, or the error
/// serde gives for an `i128`/`u128` (no policy value is one), or "integer number
/// overflowed"; a float is a number, NaN and infinities a null; a date-time is refused
/// by name; every error carries the span of its value.
pub(crate) fn from_toml(text: &str) -> Result<Tree, TomlError> {
    let root =
        toml::de::DeTable::parse(text).map_err(|e| TomlError { message: e.message().to_owned(), span: e.span() })?;
    let span = root.span();
    toml_table(root.into_inner(), span).map(Tree)
}

/// Why a TOML document did not read: toml's message and the span it points at.
pub(crate) struct TomlError {
    pub message: String,
    pub span: Option<std::ops::Range<usize>>,
}

type Spanned<T> = toml::Spanned<T>;

/// A table; an error about the table itself (a key named as toml names a date-time to
/// serde) is placed at the table's `span`, as toml placed the tree reader's.
fn toml_table(table: toml::de::DeTable<'_>, span: std::ops::Range<usize>) -> Result<Value, TomlError> {
    let mut out = Map::new();
    for (key, value) in table {
        let key = key.into_inner().into_owned();
        if key == TOML_DATETIME {
            let message = "a TOML date-time is not a policy value; quote it as a string".to_owned();
            return Err(TomlError { message, span: Some(span) });
        }
        // (A key given twice is a TOML syntax error, refused by the parser.)
        let v = toml_value(value)?;
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}

fn toml_value(value: Spanned<toml::de::DeValue<'_>>) -> Result<Value, TomlError> {
    use toml::de::DeValue;
    let span = value.span();
    let refuse = |message: String| TomlError { message, span: Some(span.clone()) };
    let expected = "a policy value";
    Ok(match value.into_inner() {
        DeValue::String(s) => Value::String(s.into_owned()),
        DeValue::Integer(n) => {
            let (digits, radix) = (n.as_str(), n.radix());
            if let Ok(i) = i64::from_str_radix(digits, radix) {
                i.into()
            } else if let Ok(u) = u64::from_str_radix(digits, radix) {
                u.into()
            } else if let Ok(i) = i128::from_str_radix(digits, radix) {
                return Err(refuse(format!("invalid type: integer `{i}` as i128, expected {expected}")));
            } else if let Ok(u) = u128::from_str_radix(digits, radix) {
                return Err(refuse(format!("invalid type: integer `{u}` as u128, expected {expected}")));
            } else {
                return Err(refuse("integer number overflowed".to_owned()));
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str();
            match text.parse::<f64>() {
                Ok(v) if !v.is_infinite() || text.contains("inf") => {
                    // NaN and infinities (TOML has them) have no JSON form: a null,
                    // refused later by whichever field it was given to.
                    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
                }
                _ => return Err(refuse("floating-point number overflowed".to_owned())),
            }
        }
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(_) => {
            return Err(refuse("a TOML date-time is not a policy value; quote it as a string".to_owned()));
        }
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(toml_value(item)?);
            }
            Value::Array(out)
        }
        DeValue::Table(table) => toml_table(table, span)?,
    })
}

/// An error while reading the model from a tree, with its place.
#[derive(Debug)]
pub(crate) struct PlacedError {
    /// Steps from the innermost out; reversed when displayed.
    steps: Vec<Step>,
    /// The place inside the value where a nested reader (a type that reads part of
    /// itself with [`from_tree`], as an authenticator does) raised the error.
    inner: String,
    message: String,
}

#[derive(Debug)]
enum Step {
    Key(String),
    Index(usize),
}

impl PlacedError {
    fn at(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// The place, as `authenticators[1].keys[0].sha256`; empty at the top.
    pub(crate) fn place(&self) -> String {
        let mut out = String::new();
        for step in self.steps.iter().rev() {
            match step {
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        if !self.inner.is_empty() {
            if !out.is_empty() && !self.inner.starts_with('[') {
                out.push('.');
            }
            out.push_str(&self.inner);
        }
        out
    }

    /// The message, without the place.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PlacedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place();
        if place.is_empty() { f.write_str(&self.message) } else { write!(f, "`{place}`: {}", self.message) }
    }
}

impl std::error::Error for PlacedError {}

impl de::Error for PlacedError {
    /// A message in the form this type displays itself (`` `place`: message ``) comes from
    /// a nested reader, whose error passed through a generic `Deserialize` as text: its
    /// place is taken back out of the message.
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        match text.strip_prefix('`').and_then(|m| m.split_once("`: ")) {
            Some((inner, message)) => {
                PlacedError { steps: Vec::new(), inner: inner.to_owned(), message: message.to_owned() }
            }
            None => PlacedError { steps: Vec::new(), inner: String::new(), message: text },
        }
    }
}

/// Reads a model type from a tree; an error knows its place.
pub(crate) fn from_tree<T: DeserializeOwned>(tree: Value) -> Result<T, PlacedError> {
    T::deserialize(Placed(tree))
}

/// A deserializer over one node of the tree.
struct Placed(Value);

impl<'de> de::Deserializer<'de> for Placed {
    type Error = PlacedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => visitor.visit_seq(Items { items: items.into_iter(), index: 0 }),
            Value::Object(map) => visitor.visit_map(Entries { entries: map.into_iter(), key: None, value: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Placed(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PlacedError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PlacedError> {
        // The model's enums are unit variants written as strings.
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(&other), &"a string")),
        }
    }

    // What a type asks for by name is read without `deserialize_any`'s other arms: a
    // derived struct's visitor, instantiated once per model type, carries only its map
    // reading and one error path, not also a positional (sequence) reading and an error
    // path per value kind. The errors are serde's defaults, word for word.

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries { entries: map.into_iter(), key: None, value: None }),
            other => Err(wrong_type(&other, &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries { entries: map.into_iter(), key: None, value: None }),
            other => Err(wrong_type(&other, &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items { items: items.into_iter(), index: 0 }),
            other => Err(wrong_type(&other, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::String(s) => visitor.visit_string(s),
            other => Err(wrong_type(&other, &visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PlacedError> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(b),
            other => Err(wrong_type(&other, &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// The error serde's default `visit_*` gives for a value of the wrong kind:
/// `invalid type: integer `5`, expected a string`. Not generic, apart from the visitor
/// passed as `Expected`.
fn wrong_type(v: &Value, expected: &dyn de::Expected) -> PlacedError {
    let unexpected = match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => de::Unexpected::Unsigned(u),
            (None, Some(i)) => de::Unexpected::Signed(i),
            (None, None) => de::Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    };
    de::Error::invalid_type(unexpected, expected)
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Items {
    items: std::vec::IntoIter<Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Items {
    type Error = PlacedError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, PlacedError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(Placed(item)).map(Some).map_err(|e| e.at(Step::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries {
    entries: serde_json::map::IntoIter,
    key: Option<String>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = PlacedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, PlacedError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        // An unknown field is refused while its name is read: place it at the name.
        let read =
            seed.deserialize(key.as_str().into_deserializer()).map_err(|e: PlacedError| e.at(Step::Key(key.clone())));
        self.key = Some(key);
        self.value = Some(value);
        read.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, PlacedError> {
        let key = self.key.take().unwrap_or_default();
        let value = self.value.take().unwrap_or(Value::Null);
        seed.deserialize(Placed(value)).map_err(|e| e.at(Step::Key(key)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only read")]
    struct Outer {
        items: Vec<Inner>,
        #[serde(default)]
        map: BTreeMap<String, u8>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only read")]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Strict,
    }

    fn place_of(json: &str) -> (String, String) {
        let tree: Tree = serde_json::from_str(json).unwrap();
        let e = from_tree::<Outer>(tree.0).unwrap_err();
        (e.place(), e.message().to_owned())
    }

    #[test]
    fn every_error_knows_its_place() {
        let (place, message) = place_of(r#"{"items": [{"name": "a"}, {"name": 5}]}"#);
        assert_eq!(place, "items[1].name");
        assert!(message.contains("invalid type: integer `5`, expected a string"), "{message}");
        let (place, message) = place_of(r#"{"items": [{"name": "a", "nmae": "b"}]}"#);
        assert_eq!(place, "items[0].nmae");
        assert!(message.contains("unknown field `nmae`"), "{message}");
        assert_eq!(place_of(r#"{"items": [], "map": {"x": 300}}"#).0, "map.x");
        assert_eq!(place_of(r#"{"items": [], "kind": "loose"}"#).0, "kind");
        assert_eq!(place_of(r#"{"items": [], "kind": 1}"#).0, "kind");
        let (place, message) = place_of(r#"{}"#);
        assert_eq!((place.as_str(), message.as_str()), ("", "missing field `items`"));
    }

    #[test]
    fn a_nested_readers_place_is_kept() {
        // What a type that reads its own fields with from_tree hands back through serde.
        let tree: Tree = serde_json::from_str(r#"{"items": [{"name": 5}]}"#).unwrap();
        let nested = from_tree::<Outer>(tree.0).unwrap_err();
        let outer = <PlacedError as de::Error>::custom(&nested).at(Step::Index(2)).at(Step::Key("list".into()));
        assert_eq!(outer.place(), "list[2].items[0].name");
        assert_eq!(outer.message(), nested.message());
    }

    /// `from_toml` gives what toml's serde deserializer gave through `TreeVisitor`: the
    /// same tree, or the same message at the same span.
    #[test]
    fn toml_reads_as_through_serde() {
        let docs = [
            "a = 1\nb = \"x\"\n[t]\nc = [1, 2.5, true, \"s\", { d = -3 }]\n[[r]]\ne = 0x1F\n[[r]]\ne = 0o17\n",
            "big = 18446744073709551615\nneg = -9223372036854775808\nbin = 0b101\nf = 1e400\n",
            "n = nan\np = +inf\nm = -inf\nz = -0.0\nu = 1_000\n",
            "i = 170141183460469231731687303715884105727\n",
            "u = 340282366920938463463374607431768211455\n",
            "o = 340282366920938463463374607431768211456\n",
            "[a]\nx = 1\n[a.b]\ny = 2021-01-01\n",
            "t = 07:32:00\n",
            "arr = [[1, 2], [\"a\"], []]\nempty = {}\n",
            "dup = 1\ndup = 2\n",
            "x = \n",
            "[t]\n[t]\n",
            "s = '''multi\nline'''\nq = \"\\u00e9\"\n",
            "\"$__toml_private_datetime\" = 1\n",
            "[a]\nb = 1\n[a.c]\n\"$__toml_private_datetime\" = 1\n",
            "",
        ];
        for doc in docs {
            let ours = from_toml(doc).map(|t| t.0).map_err(|e| (e.message, e.span));
            let serde = toml::from_str::<Tree>(doc).map(|t| t.0).map_err(|e| (e.message().to_owned(), e.span()));
            assert_eq!(ours, serde, "{doc:?}");
        }
    }

    #[test]
    fn a_table_is_not_read_from_a_list() {
        // A struct given as a list is refused where it is, not read field by field in
        // declaration order (serde's positional reading, never documented).
        let tree: Tree = serde_json::from_str(r#"{"items": [["a"]]}"#).unwrap();
        let e = from_tree::<Outer>(tree.0).unwrap_err();
        assert_eq!(e.place(), "items[0]");
        assert_eq!(e.message(), "invalid type: sequence, expected struct Inner");
        let tree: Tree = serde_json::from_str(r#"{"items": [5]}"#).unwrap();
        let e = from_tree::<Outer>(tree.0).unwrap_err();
        assert_eq!(e.message(), "invalid type: integer `5`, expected struct Inner");
        let tree: Tree = serde_json::from_str(r#"{"items": [{"name": "a"}], "map": [1]}"#).unwrap();
        assert_eq!(from_tree::<Outer>(tree.0).unwrap_err().message(), "invalid type: sequence, expected a map");
        let tree: Tree = serde_json::from_str(r#"{"items": {"name": "a"}}"#).unwrap();
        assert_eq!(from_tree::<Outer>(tree.0).unwrap_err().message(), "invalid type: map, expected a sequence");
    }

    #[test]
    fn a_good_tree_reads() {
        let tree: Tree =
            serde_json::from_str(r#"{"items": [{"name": "a"}], "map": {"x": 1}, "kind": "strict", "extra": null}"#)
                .unwrap();
        let e = from_tree::<Outer>(tree.0).unwrap_err();
        assert_eq!(e.place(), "extra", "deny_unknown_fields holds for a null value too");
        let tree: Tree =
            serde_json::from_str(r#"{"items": [{"name": "a"}], "map": {"x": 1}, "kind": "strict"}"#).unwrap();
        assert!(from_tree::<Outer>(tree.0).is_ok());
    }
}
