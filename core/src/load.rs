//! Reading a policy from TOML or JSON text, with every error placed in the file.

use crate::depth::MAX_POLICY_DEPTH;
use crate::error::{LoadError, PolicyError};
use crate::policy::Policy;
use crate::tree::{Tree, from_tree};

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
///
/// Both formats take one path: the text becomes a plain JSON tree (duplicate keys are an
/// error in both), and the policy is read from that tree. One reader means one set of
/// messages and places whatever the format, and one copy of the generated deserializers
/// instead of two (the WASM package is 16% smaller for it).
pub(crate) fn parse(text: &str, format: Format) -> Result<(Policy, SourceMap), LoadError> {
    parse_as::<Policy>(text, format)
}

/// Parses a document of the policy's family (a policy, a keys file) the same way.
pub(crate) fn parse_as<T: serde::de::DeserializeOwned>(
    text: &str,
    format: Format,
) -> Result<(T, SourceMap), LoadError> {
    let (tree, map) = parse_tree(text, format)?;
    let policy = from_tree::<T>(tree.0).map_err(|e| placed(&e, &map))?;
    Ok((policy, map))
}

/// The part of [`parse_as`] that does not depend on the type read: one copy of it in
/// the build, not one per document type.
fn parse_tree(text: &str, format: Format) -> Result<(Tree, SourceMap), LoadError> {
    let within = match format {
        Format::Toml => crate::depth::toml_within(text.as_bytes(), MAX_POLICY_DEPTH),
        Format::Json => crate::depth::json_within(text.as_bytes(), MAX_POLICY_DEPTH),
    };
    if !within {
        return Err(LoadError::one(PolicyError::new(
            "",
            format!("the policy nests deeper than {MAX_POLICY_DEPTH} levels"),
        )));
    }
    Ok(match format {
        Format::Toml => {
            let tree = crate::tree::from_toml(text).map_err(|e| LoadError::one(toml_error(text, &e)))?;
            (tree, SourceMap::Toml(text.to_owned()))
        }
        Format::Json => {
            // `from_slice`, as a JWT's payload is read: one instantiation of serde_json's
            // parser (`from_str` would add a second, ~6 KB of .wasm).
            let tree = serde_json::from_slice::<Tree>(text.as_bytes()).map_err(|e| {
                let mut err = PolicyError::new("", strip_json_position(&e.to_string()));
                if e.line() > 0 {
                    err.line = Some(e.line());
                    err.column = Some(e.column());
                }
                LoadError::one(err)
            })?;
            (tree, SourceMap::Json(text.to_owned()))
        }
    })
}

/// A model error from the tree, with its line and column.
fn placed(e: &crate::tree::PlacedError, map: &SourceMap) -> LoadError {
    let mut err = PolicyError::new(e.place(), e.message());
    map.locate(&mut err);
    LoadError::one(err)
}

fn toml_error(text: &str, e: &crate::tree::TomlError) -> PolicyError {
    let mut err = PolicyError::new("", first_line(&e.message));
    if let Some(span) = e.span.clone() {
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
    fn both_formats_give_one_place_and_message() {
        let toml = "[[routes]]\npath = \"/a\"\npublic = \"yes\"\n";
        let json = r#"{"routes": [{"path": "/a", "public": "yes"}]}"#;
        let t = &parse(toml, Format::Toml).unwrap_err().errors[0];
        let j = &parse(json, Format::Json).unwrap_err().errors[0];
        assert_eq!((t.place.as_str(), t.message.as_str()), (j.place.as_str(), j.message.as_str()));
        assert_eq!(t.place, "routes[0].public");
        assert_eq!((t.line, j.line), (Some(3), Some(1)), "{t} / {j}");
    }

    #[test]
    fn json_duplicate_key_is_an_error_as_in_toml() {
        let err = parse("{\"realm\": \"a\",\n \"realm\": \"b\"}", Format::Json).unwrap_err();
        let e = &err.errors[0];
        assert!(e.message.contains("duplicate key `realm`"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(parse("realm = \"a\"\nrealm = \"b\"\n", Format::Toml).is_err());
    }

    #[test]
    fn toml_datetime_is_refused_by_name() {
        let err = parse("realm = 2026-01-01T00:00:00Z\n", Format::Toml).unwrap_err();
        assert!(err.errors[0].message.contains("date-time"), "{}", err.errors[0]);
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
