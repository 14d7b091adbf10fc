//! The positioned value tree both readers (YAML and EDN) produce, and the scalar rules that
//! give its leaves a meaning: YAML 1.1 resolution as the original's parser (SnakeYAML) does
//! it, Clojure's `str` for header values, and the JSON form of a structured body.
//!
//! Walkers over this tree may recurse: the readers refuse any tree deeper than
//! [`Limits::max_depth`](super::Limits) (aliases expanded), so recursion is bounded.

use std::rc::Rc;
use std::sync::LazyLock;

use regex::Regex;

/// The entries of a map: key and value nodes.
pub(super) type Entries = Vec<(Rc<Node>, Rc<Node>)>;

/// One value of a spec file with the place it starts at (1-based line and column).
#[derive(Debug)]
pub(super) struct Node {
    pub(super) line: u32,
    pub(super) column: u32,
    pub(super) kind: Kind,
    /// How the characters of a string value map back onto the source, for template errors.
    pub(super) shape: Shape,
}

/// What a node holds.
#[derive(Debug)]
pub(super) enum Kind {
    /// EDN `nil` (YAML nulls stay [`Kind::Plain`] until resolved).
    Null,
    /// EDN `true`/`false`.
    Bool(bool),
    /// EDN integer.
    Int(i64),
    /// EDN float.
    Float(f64),
    /// A string as written: EDN string or character, YAML quoted or block scalar, `!!str`.
    Str(String),
    /// A YAML plain scalar, resolved on use with the YAML 1.1 rules ([`resolve_plain`]).
    Plain(String),
    /// EDN keyword, without its colon.
    Keyword(String),
    /// EDN symbol.
    Symbol(String),
    /// YAML sequence; EDN vector, list or set.
    Seq(Vec<Rc<Node>>),
    /// YAML or EDN map, entries in source order (duplicates kept; the reader decides).
    Map(Entries),
}

/// Where the text of a string value sits in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Line `k` (1-based) of the value starts at source line `line + k - 1`: at `column` for the
    /// first line and at `next_column` for the others.
    Text {
        line: u32,
        column: u32,
        next_column: u32,
    },
    /// The value was folded or generated: report at the node.
    Approx,
}

impl Shape {
    /// The source position of `line`:`column` (1-based) of the value, if it can be known.
    pub(super) fn locate(self, line: u32, column: u32) -> Option<(u32, u32)> {
        match self {
            Shape::Text {
                line: first,
                column: first_column,
                next_column,
            } => {
                let line = line.max(1);
                let start = if line == 1 { first_column } else { next_column };
                Some((
                    first.saturating_add(line - 1),
                    start.saturating_add(column.max(1) - 1),
                ))
            }
            Shape::Approx => None,
        }
    }
}

/// A resolved scalar.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Keyword(&'a str),
}

impl Node {
    pub(super) fn new(line: u32, column: u32, kind: Kind) -> Self {
        Self {
            line,
            column,
            kind,
            shape: Shape::Approx,
        }
    }

    /// The node as a scalar, `None` for collections.
    pub(super) fn scalar(&self) -> Option<Scalar<'_>> {
        Some(match &self.kind {
            Kind::Null => Scalar::Null,
            Kind::Bool(b) => Scalar::Bool(*b),
            Kind::Int(i) => Scalar::Int(*i),
            Kind::Float(f) => Scalar::Float(*f),
            Kind::Str(s) | Kind::Symbol(s) => Scalar::Str(s),
            Kind::Keyword(k) => Scalar::Keyword(k),
            Kind::Plain(p) => resolve_plain(p),
            Kind::Seq(_) | Kind::Map(_) => return None,
        })
    }

    /// Whether the node is absent in effect: a null.
    pub(super) fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    /// The text of a scalar as written, for fields that expect a string: YAML plain scalars
    /// stay as their source text (`tag: yes` is `"yes"`), keywords lose their colon.
    /// `None` for nulls and collections.
    pub(super) fn text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) | Kind::Symbol(s) | Kind::Keyword(s) => Some(s.clone()),
            Kind::Plain(p) => match resolve_plain(p) {
                Scalar::Null => None,
                _ => Some(p.clone()),
            },
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(java_double(*f)),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The name of a map key: its text, or `None` for a collection or null key.
    pub(super) fn key_name(&self) -> Option<String> {
        self.text()
    }

    /// The value as an integer (YAML 1.1 forms: `0x1F`, `017`, `1_000`, `1:30`).
    pub(super) fn as_int(&self) -> Option<i64> {
        match self.scalar()? {
            Scalar::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The value as a number, integer or float.
    pub(super) fn as_number(&self) -> Option<f64> {
        match self.scalar()? {
            #[expect(clippy::cast_precision_loss, reason = "rates are small numbers")]
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }

    /// Whether the value is a string once resolved (so a body is used as its text).
    pub(super) fn as_string(&self) -> Option<&str> {
        match self.scalar()? {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn is_collection(&self) -> bool {
        matches!(self.kind, Kind::Seq(_) | Kind::Map(_))
    }

    /// Clojure's `str` of the value, as the original applies to header values. `None` for
    /// collections.
    pub(super) fn clojure_str(&self) -> Option<String> {
        Some(match self.scalar()? {
            Scalar::Null => String::new(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => java_double(f),
            Scalar::Str(s) => s.to_owned(),
            Scalar::Keyword(k) => format!(":{k}"),
        })
    }

    /// The JSON form of the value, as the original's JSON encoder writes a structured body:
    /// keywords and symbols become strings, sets and lists arrays, map keys their text.
    pub(super) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Seq(items) => Value::Array(items.iter().map(|item| item.to_json()).collect()),
            Kind::Map(entries) => {
                let mut object = serde_json::Map::new();
                for (key, value) in entries {
                    // Keys resolve like values (SnakeYAML makes `on:` a boolean key, written
                    // `"true"` by the JSON encoder), keywords lose their colon.
                    let name = match key.scalar() {
                        Some(Scalar::Null) => "null".to_owned(),
                        Some(Scalar::Bool(b)) => b.to_string(),
                        Some(Scalar::Int(i)) => i.to_string(),
                        Some(Scalar::Float(f)) => java_double(f),
                        Some(Scalar::Str(s) | Scalar::Keyword(s)) => s.to_owned(),
                        None => key.to_json().to_string(),
                    };
                    object.insert(name, value.to_json());
                }
                Value::Object(object)
            }
            _ => match self.scalar() {
                Some(Scalar::Null) | None => Value::Null,
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(i)) => Value::from(i),
                Some(Scalar::Float(f)) => {
                    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
                Some(Scalar::Str(s) | Scalar::Keyword(s)) => Value::String(s.to_owned()),
            },
        }
    }
}

/// YAML 1.1 plain-scalar resolution, as SnakeYAML 1.x resolves implicit tags (booleans
/// `yes/no/on/off/true/false` in three casings, ints in base 2/8/10/16/60, floats, nulls);
/// anything else, timestamps included, is a string.
pub(super) fn resolve_plain(text: &str) -> Scalar<'_> {
    static INT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .expect("a valid int pattern")
    });
    static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9_]+(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        )
        .expect("a valid float pattern")
    });
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar::Bool(false);
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Scalar::Str(text);
    }
    if INT.is_match(text) {
        if let Some(value) = yaml_int(text) {
            return Scalar::Int(value);
        }
        // Larger than an i64: SnakeYAML makes a BigInteger; a double is close enough here.
        if let Some(value) = yaml_float(text) {
            return Scalar::Float(value);
        }
    }
    if FLOAT.is_match(text)
        && let Some(value) = yaml_float(text)
    {
        return Scalar::Float(value);
    }
    Scalar::Str(text)
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn yaml_int(text: &str) -> Option<i64> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = split_sign(&cleaned);
    let magnitude: i128 = if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.contains(':') {
        i128::from(sexagesimal(digits)?)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i128::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

fn sexagesimal(digits: &str) -> Option<u64> {
    digits.split(':').try_fold(0_u64, |total, part| {
        total
            .checked_mul(60)?
            .checked_add(part.parse::<u64>().ok()?)
    })
}

fn yaml_float(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, body) = split_sign(&cleaned);
    let magnitude = match body {
        ".inf" | ".Inf" | ".INF" => f64::INFINITY,
        ".nan" | ".NaN" | ".NAN" => f64::NAN,
        _ if body.contains(':') => {
            let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
            #[expect(clippy::cast_precision_loss, reason = "as SnakeYAML does")]
            let whole = sexagesimal(whole)? as f64;
            let fraction: f64 = if fraction.is_empty() {
                0.0
            } else {
                format!("0.{fraction}").parse().ok()?
            };
            whole + fraction
        }
        _ => body.parse::<f64>().ok()?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Java's `Double.toString`, which the original's `str` uses: `2.5`, `10.0`, `1.0E10`.
pub(super) fn java_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = value.to_string();
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}
