//! Nesting bounds for hostile text, checked before a recursive parser sees it.
//!
//! serde's derived deserializers, `serde_json::Value` and the policy tree recurse once
//! per level of nesting, and so does dropping what they built. serde_json's own limit
//! (128 levels) is too deep for a 32 KiB thread stack, and the TOML reader has none for
//! every shape. A linear scan bounds the depth first, so no input can exhaust a small
//! stack (docs/security.md, "CPU and stack bounds").

/// The deepest nesting a policy may have (its deepest legitimate shape, a condition
/// inside `all`/`any`/`not`, is far shallower).
pub const MAX_POLICY_DEPTH: usize = 16;

/// True when the JSON text's arrays and objects nest at most `max` deep. Brackets
/// inside strings do not count; the text need not be valid JSON (the parser says so).
pub(crate) fn json_within(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// True when the TOML text's tables and arrays nest at most `max` deep, counting a
/// table header's and a dotted key's parts as levels (`[a.b]` then `c.d = [[1]]` is
/// six). A conservative scan: a `.` outside strings and comments counts wherever it
/// stands, so `x = 1.5` counts one level too many, which no real policy comes near.
pub(crate) fn toml_within(text: &[u8], max: usize) -> bool {
    let mut header = 0usize; // levels opened by the last `[table]` header
    let mut line = 0usize; // dotted-key levels on this line
    let mut brackets = 0usize; // `[` and `{` open in a value
    let mut in_header = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'#' => {
                while text.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let triple = text.get(i..i + 3) == Some(&[b, b, b][..]);
                i = skip_toml_string(text, i, b, triple);
                continue;
            }
            b'\n' if brackets == 0 => {
                line = 0;
                in_header = false;
            }
            b'[' if brackets == 0 && line == 0 && !in_header && starts_line(text, i) => {
                in_header = true;
                header = 1;
                if text.get(i + 1) == Some(&b'[') {
                    i += 1;
                }
            }
            b']' if in_header => in_header = false,
            b'[' | b'{' => brackets += 1,
            b']' | b'}' => brackets = brackets.saturating_sub(1),
            b'.' if in_header => header += 1,
            b'.' => line += 1,
            _ => {}
        }
        if header + line + brackets + 1 > max {
            return false;
        }
        i += 1;
    }
    true
}

/// True when only spaces stand between the previous newline and `at`.
fn starts_line(text: &[u8], at: usize) -> bool {
    text.get(..at).unwrap_or_default().iter().rev().take_while(|&&c| c != b'\n').all(|&c| c == b' ' || c == b'\t')
}

/// The index just past the string that opens at `at`.
fn skip_toml_string(text: &[u8], at: usize, quote: u8, triple: bool) -> usize {
    let mut i = at + if triple { 3 } else { 1 };
    while let Some(&c) = text.get(i) {
        if c == b'\\' && quote == b'"' {
            i += 2;
            continue;
        }
        if c == quote && (!triple || text.get(i..i + 3) == Some(&[quote, quote, quote][..])) {
            return i + if triple { 3 } else { 1 };
        }
        if c == b'\n' && !triple {
            return i; // an unterminated string: the parser will say so
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth() {
        assert!(json_within(br#"{"a":[[1]]}"#, 3));
        assert!(!json_within(br#"{"a":[[1]]}"#, 2));
        assert!(json_within(br#"{"a":"[[[[[[[["}"#, 1));
        assert!(json_within(br#"{"a":"\"[[[[["}"#, 1));
        assert!(!json_within(&[b'['; 1000], 32));
    }

    #[test]
    fn toml_depth() {
        assert!(toml_within(b"a = 1\n[b.c]\nd.e = [[1]]\n", 6));
        assert!(!toml_within(b"a = 1\n[b.c]\nd.e = [[1]]\n", 5));
        assert!(toml_within(b"[[routes]]\npath = \"/a.b.c.d.e\" # x.y.z.w\n", 2));
        assert!(toml_within(b"k = '''\n[[[[[[\n'''\n", 1));
        assert!(toml_within(b"k = \"\\\"[[[[[[\"\n", 1));
        assert!(!toml_within(format!("{} = 1", vec!["a"; 40].join(".")).as_bytes(), 32));
        assert!(!toml_within(format!("[{}]", vec!["a"; 40].join(".")).as_bytes(), 32));
        assert!(!toml_within("x = {a = ".repeat(40).as_bytes(), 32));
    }
}
