//! A small YAML writer for imported specs: block maps and lists, keys and strings quoted
//! only when a plain scalar would read back as something else, line breaks and control
//! characters escaped in double quotes. What it writes reads back, with the spec's own
//! YAML 1.1 rules, as exactly the values it was given.

use super::super::tree::{Scalar, resolve_plain};

/// A value to write.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Yaml {
    /// A block map, entries in order.
    Map(Vec<(String, Yaml)>),
    /// A block list.
    Seq(Vec<Yaml>),
    /// A string, written plain when that reads back as the same string.
    Str(String),
    /// A string, always quoted (bodies: a JSON text stays visibly a string).
    Quoted(String),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// One top-level item: comment lines above it, and the item.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    /// Lines written as `# …` before the item (line breaks inside are flattened).
    pub(super) comments: Vec<String>,
    /// The item, usually a map such as `{endpoint: {...}}`.
    pub(super) value: Yaml,
}

/// The document: `header` comment lines, then every item as an entry of the top-level list
/// (`[]` when there is none).
pub(super) fn document(header: &[String], items: &[Item]) -> String {
    let mut out = String::new();
    for line in header {
        comment(&mut out, 0, line);
    }
    if items.is_empty() {
        out.push_str("[]\n");
        return out;
    }
    for item in items {
        for line in &item.comments {
            comment(&mut out, 0, line);
        }
        out.push('-');
        seq_item(&mut out, &item.value, 0);
    }
    out
}

fn comment(out: &mut String, indent: usize, text: &str) {
    pad(out, indent);
    out.push('#');
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim_end();
    if !flat.is_empty() {
        out.push(' ');
        out.push_str(flat);
    }
    out.push('\n');
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// The value of a key or a list entry whose `key:` (or `-`) is written at `indent`.
fn entry_value(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            map_block(out, entries, indent + 2);
        }
        Yaml::Seq(items) if !items.is_empty() => {
            out.push('\n');
            seq_block(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn map_block(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (name, value) in entries {
        pad(out, indent);
        out.push_str(&key(name));
        out.push(':');
        entry_value(out, value, indent);
    }
}

fn seq_block(out: &mut String, items: &[Yaml], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        seq_item(out, item, indent);
    }
}

/// A list entry after its `-` (written at `indent`): a map starts on the dash's line.
fn seq_item(out: &mut String, item: &Yaml, indent: usize) {
    match item {
        Yaml::Map(entries) if !entries.is_empty() => {
            let (first_name, first_value) = &entries[0];
            out.push(' ');
            out.push_str(&key(first_name));
            out.push(':');
            entry_value(out, first_value, indent + 2);
            map_block(out, &entries[1..], indent + 2);
        }
        other => entry_value(out, other, indent),
    }
}

fn scalar_text(value: &Yaml) -> String {
    match value {
        Yaml::Map(_) => "{}".to_owned(),
        Yaml::Seq(_) => "[]".to_owned(),
        Yaml::Str(text) => string(text),
        Yaml::Quoted(text) => quoted(text),
        Yaml::Int(number) => number.to_string(),
        Yaml::Float(number) => float(*number),
        Yaml::Bool(flag) => flag.to_string(),
        Yaml::Null => "null".to_owned(),
    }
}

fn float(number: f64) -> String {
    if number.is_nan() {
        ".nan".to_owned()
    } else if number.is_infinite() {
        if number > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        // Debug keeps a `.0` or an exponent, so it reads back as a float, not an integer.
        format!("{number:?}")
    }
}

/// A map key: plain when that reads back as the same name.
pub(super) fn key(name: &str) -> String {
    string(name)
}

/// A string: plain when safe, quoted otherwise.
pub(super) fn string(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        quoted(text)
    }
}

/// Whether `text` may be written as a plain scalar: letters, digits and `_ . / : | + -`,
/// starting with a letter, a digit, `/` or `_`, not ending with `:`, and read back (YAML
/// 1.1) as a string, not a number, a boolean or a null.
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    (first.is_ascii_alphanumeric() || matches!(first, '/' | '_'))
        && !text.ends_with(':')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '|' | '+' | '-')
        })
        && matches!(resolve_plain(text), Scalar::Str(_))
}

/// A quoted string: single quotes (`'` doubled), or double quotes with escapes when the
/// text has a line break, a tab or another character YAML does not print.
pub(super) fn quoted(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFF {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that a single-quoted scalar cannot hold as they are: line breaks (which it
/// folds), tabs, controls, and the non-characters and byte-order mark YAML does not print.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        )
}
