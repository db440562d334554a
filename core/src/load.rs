//! Reading a policy from TOML or JSON text, with every error placed in the file.

use serde::de::DeserializeOwned;

use crate::error::{LoadError, PolicyError};
use crate::policy::Policy;

/// The text format of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file name suggests: `.json` is JSON, anything else TOML.
    pub fn from_path(path: &str) -> Self {
        if path.to_ascii_lowercase().ends_with(".json") { Format::Json } else { Format::Toml }
    }

    /// `"toml"` or `"json"`, as bindings spell it.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Where the places of a policy's errors are found in its text.
#[derive(Debug)]
pub(crate) enum SourceMap {
    /// No text (a policy built in code).
    None,
    /// TOML text, whose spans the parser keeps.
    Toml(String),
    /// JSON text; places inside it are found by a light scan.
    Json(String),
}

impl SourceMap {
    /// Fills in the line and column of an error from its place.
    pub(crate) fn locate(&self, e: &mut PolicyError) {
        if e.line.is_some() {
            return;
        }
        let (text, offset) = match self {
            SourceMap::None => return,
            SourceMap::Toml(text) => (text, toml_offset(text, &e.place)),
            SourceMap::Json(text) => (text, json_offset(text, &e.place)),
        };
        if let Some(offset) = offset {
            let (line, column) = line_col(text, offset);
            e.line = Some(line);
            e.column = Some(column);
        }
    }
}

/// Parses a policy, keeping the text to place later errors.
pub(crate) fn parse(text: &str, format: Format) -> Result<(Policy, SourceMap), LoadError> {
    match format {
        Format::Toml => {
            let de = toml::Deserializer::parse(text).map_err(|e| LoadError::one(toml_error(text, "", &e)))?;
            let policy = deserialize_placed(de, |place, e: toml::de::Error| toml_error(text, place, &e))?;
            Ok((policy, SourceMap::Toml(text.to_owned())))
        }
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let policy: Policy = deserialize_placed(&mut de, |place, e: serde_json::Error| {
                let mut err = PolicyError::new(place, strip_json_position(&e.to_string()));
                if e.line() > 0 {
                    err.line = Some(e.line());
                    err.column = Some(e.column());
                }
                err
            })?;
            de.end().map_err(|e| LoadError::one(PolicyError::new("", strip_json_position(&e.to_string()))))?;
            Ok((policy, SourceMap::Json(text.to_owned())))
        }
    }
}

fn deserialize_placed<'de, D, T, F>(de: D, make: F) -> Result<T, LoadError>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
    F: Fn(&str, D::Error) -> PolicyError,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut place = e.path().to_string();
        if place == "." {
            place.clear();
        }
        let inner = e.into_inner();
        // Inside a tagged enum the path stops at the item; an unknown field's name is in
        // the message, so put it in the place too.
        let message = inner.to_string();
        if let Some(field) = unknown_field_name(&message) {
            if !place.ends_with(field) {
                place = if place.is_empty() { field.to_owned() } else { format!("{place}.{field}") };
            }
        }
        LoadError::one(make(&place, inner))
    })
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.split("unknown field `").nth(1)?;
    rest.split('`').next()
}

fn toml_error(text: &str, place: &str, e: &toml::de::Error) -> PolicyError {
    let mut err = PolicyError::new(place, first_line(e.message()));
    if let Some(span) = e.span() {
        let (line, col) = line_col(text, span.start);
        err.line = Some(line);
        err.column = Some(col);
    }
    err
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

fn strip_json_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(s).to_owned(),
        None => s.to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Splits `authenticators[2].keys[0].sha256` into its steps.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(place: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in place.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (part.get(..i)?, part.get(i..)?),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            out.push(Step::Index(after.get(..end)?.parse().ok()?));
            rest = after.get(end + 1..)?;
        }
    }
    Some(out)
}

fn toml_offset(text: &str, place: &str) -> Option<usize> {
    use toml::de::DeTable;
    let root = DeTable::parse(text).ok()?;
    let mut steps = steps(place)?.into_iter();
    let Some(Step::Key(first)) = steps.next() else {
        return None;
    };
    let mut node = root.get_ref().get(first)?;
    let mut best = node.span().start;
    for step in steps {
        let next = match step {
            Step::Key(k) => node.get_ref().get(k),
            Step::Index(i) => node.get_ref().get(i),
        };
        match next {
            Some(n) => {
                node = n;
                best = n.span().start;
            }
            None => break,
        }
    }
    Some(best)
}

/// A light locator for JSON: finds each key of the place in turn, in order, so that
/// `routes[1].require` points at the second `"require"` after `"routes"`. Good enough to
/// put an operator on the right line; syntax errors carry serde_json's exact position.
fn json_offset(text: &str, place: &str) -> Option<usize> {
    let mut from = 0;
    let mut found = None;
    for step in steps(place)? {
        match step {
            Step::Key(k) => {
                let needle = format!("\"{k}\"");
                let at = text.get(from..)?.find(&needle)? + from;
                found = Some(at);
                from = at + needle.len();
            }
            Step::Index(i) => {
                // Skip to the i-th object after the current point.
                let mut seen = 0;
                let mut pos = from;
                for (j, ch) in text.get(from..)?.char_indices() {
                    if ch == '{' {
                        if seen == i {
                            pos = from + j;
                            break;
                        }
                        seen += 1;
                    }
                }
                found = Some(pos);
                from = pos;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_unknown_field_is_placed() {
        let text = "realm = \"x\"\n\n[[authenticators]]\ntype = \"anonymous\"\nid = \"a\"\nprincipl = \"me\"\n";
        let err = parse(text, Format::Toml).unwrap_err();
        let e = &err.errors[0];
        assert_eq!(e.place, "authenticators[0].principl", "{e}");
        assert!(e.message.contains("unknown field `principl`"), "{e}");
        assert!(e.line.is_some());
    }

    #[test]
    fn toml_syntax_error_has_line_and_column() {
        let err = parse("realm = \n", Format::Toml).unwrap_err();
        assert_eq!(err.errors[0].line, Some(1));
    }

    #[test]
    fn json_type_error_is_placed() {
        let err = parse(r#"{"routes": [{"path": "/a", "public": "yes"}]}"#, Format::Json).unwrap_err();
        let e = &err.errors[0];
        assert_eq!(e.place, "routes[0].public", "{e}");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn later_errors_are_located_in_toml() {
        let text = "[[routes]]\npath = \"/a\"\n\n[[routes]]\npath = \"/b\"\nrequire = [\"x\"]\n";
        let (_, map) = parse(text, Format::Toml).unwrap();
        let mut e = PolicyError::new("routes[1].require", "scope `x` is not declared");
        map.locate(&mut e);
        assert_eq!(e.line, Some(6), "{e}");
        let mut e = PolicyError::new("routes[1].require", "scope `x` is not declared");
        SourceMap::Json(
            r#"{"routes":[{"path":"/a"},
{"path":"/b","require":["x"]}]}"#
                .to_owned(),
        )
        .locate(&mut e);
        assert_eq!(e.line, Some(2), "{e}");
    }
}
