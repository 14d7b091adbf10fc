//! Route paths: `/users/:id|int/posts`, parsed into segments the router can compile.

use std::fmt;

/// The type of a path or query parameter; a request value that does not parse is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// Any text (the default).
    String,
    /// A 64-bit integer (`007` is 7, `+5` is 5).
    Int,
    /// Exactly `true` or `false`.
    Bool,
    /// A floating-point number.
    Float,
    /// A floating-point number (same as [`ParamType::Float`]).
    Double,
    /// A UUID in its hyphenated form.
    Uuid,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

impl ParamType {
    /// Every type with its canonical spelling.
    pub const ALL: [ParamType; 7] = [
        ParamType::String,
        ParamType::Int,
        ParamType::Bool,
        ParamType::Float,
        ParamType::Double,
        ParamType::Uuid,
        ParamType::Date,
    ];

    /// Parses a type name, both spellings accepted (`bool`/`boolean`, `int`/`integer`),
    /// ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" | "str" => ParamType::String,
            "int" | "integer" | "long" => ParamType::Int,
            "bool" | "boolean" => ParamType::Bool,
            "float" => ParamType::Float,
            "double" => ParamType::Double,
            "uuid" => ParamType::Uuid,
            "date" => ParamType::Date,
            _ => return None,
        })
    }

    /// The canonical name: `string`, `int`, `bool`, `float`, `double`, `uuid`, `date`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Float => "float",
            ParamType::Double => "double",
            ParamType::Uuid => "uuid",
            ParamType::Date => "date",
        }
    }

    /// The names accepted, for messages.
    pub(super) const NAMES: &'static str =
        "string, int, bool (or boolean), float, double, uuid, date";
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `/`-separated piece of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matched exactly and case-sensitively (may be empty for `//` in the middle of a path).
    Static(String),
    /// Matches one non-empty segment, percent-decoded, coerced to `ty`.
    Param {
        /// The name templates use: `{{path-params.<name>}}`.
        name: String,
        /// The type the value is coerced to.
        ty: ParamType,
    },
}

/// A route path as written (`raw`) and its segments. `/` has no segments; a trailing slash is
/// dropped as the original drops it (`/slashy/` routes `/slashy`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// The path as written in the spec.
    pub raw: String,
    /// Its segments after the leading `/`.
    pub segments: Vec<Segment>,
}

/// Why a path does not parse: a message and the character offset in the path it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    /// 0-based character offset in the path.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl PathPattern {
    /// Parses a route path: segments split on `/`; a segment `:name` or `:name|type` (or
    /// reitit's `{name}`) is a parameter; anything else is static.
    ///
    /// # Errors
    /// A [`PathError`] when the path does not start with `/`, a parameter has no name, or a
    /// type is unknown (`:id|uuidd`).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(PathError {
                offset: 0,
                message: format!("a path must start with `/`, `{raw}` does not"),
            });
        };
        let mut pieces: Vec<(usize, &str)> = Vec::new();
        let mut offset = 1;
        for piece in rest.split('/') {
            pieces.push((offset, piece));
            offset += piece.chars().count() + 1;
        }
        while pieces.last().is_some_and(|(_, piece)| piece.is_empty()) {
            pieces.pop();
        }
        let mut segments = Vec::with_capacity(pieces.len());
        for (offset, piece) in pieces {
            segments.push(segment(offset, piece)?);
        }
        Ok(Self {
            raw: raw.to_owned(),
            segments,
        })
    }

    /// The parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, ParamType)> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param { name, ty } => Some((name.as_str(), *ty)),
            Segment::Static(_) => None,
        })
    }

    /// Whether two patterns match the same requests (parameter names and types aside).
    pub fn same_route(&self, other: &PathPattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Static(a), Segment::Static(b)) => a == b,
                    (Segment::Param { .. }, Segment::Param { .. }) => true,
                    _ => false,
                })
    }
}

/// The route form: `/users/:id|int/posts` (types other than `string` shown), `/` for the root.
impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Static(text) => write!(f, "/{text}")?,
                Segment::Param {
                    name,
                    ty: ParamType::String,
                } => write!(f, "/:{name}")?,
                Segment::Param { name, ty } => write!(f, "/:{name}|{ty}")?,
            }
        }
        Ok(())
    }
}

fn segment(offset: usize, piece: &str) -> Result<Segment, PathError> {
    let (name, ty, type_offset) = if let Some(param) = piece.strip_prefix(':') {
        match param.split_once('|') {
            Some((name, ty)) => (name, Some(ty), offset + 2 + name.chars().count()),
            None => (param, None, 0),
        }
    } else if let Some(name) = piece.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        (name, None, 0)
    } else {
        return Ok(Segment::Static(piece.to_owned()));
    };
    if name.is_empty() {
        return Err(PathError {
            offset,
            message: format!("the parameter `{piece}` has no name"),
        });
    }
    let ty = match ty {
        None => ParamType::String,
        Some(ty) => ParamType::parse(ty).ok_or_else(|| PathError {
            offset: type_offset,
            message: unknown_type_message(ty),
        })?,
    };
    Ok(Segment::Param {
        name: name.to_owned(),
        ty,
    })
}

pub(super) fn unknown_type_message(ty: &str) -> String {
    let known: Vec<&str> = ParamType::ALL
        .iter()
        .map(|ty| ty.as_str())
        .chain(["boolean"])
        .collect();
    let hint = super::read::suggest(ty, &known)
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    format!(
        "unknown parameter type `{ty}` (expected one of {}){hint}",
        ParamType::NAMES
    )
}
