//! Examples from an OpenAPI document: local `$ref`s resolved with their positions, and a
//! deterministic example generated from a JSON schema when the document gives none.
//!
//! The generated example is the same for the same schema, every time:
//!
//! - an explicit value first: `example`, the first of `examples` (OpenAPI 3.1), `const`,
//!   the first of `enum`, `default`;
//! - `allOf` merges its members' objects; `oneOf` and `anyOf` take their first member;
//! - objects have every property, required or optional, in document order (`writeOnly`
//!   ones left out, since the example is a response); without properties, a map
//!   (`additionalProperties`) has one entry, `key`;
//! - arrays have one item;
//! - strings follow `format` (`date-time`, `date`, `time`, `email`, `uuid`, `uri`,
//!   `hostname`, `ipv4`, `ipv6`, `byte`, `password`), else `"string"`, stretched or cut to
//!   `minLength`/`maxLength`;
//! - integers and numbers are 0 moved into `minimum`/`maximum` (exclusive bounds too),
//!   a multiple of an integer `multipleOf`, and within 32 bits for `int32`;
//! - booleans are `true`; a schema with no type and no hint is `{}`.
//!
//! `$ref`s are followed (local ones: `#/components/schemas/…`, `#/definitions/…`, any JSON
//! pointer into the document). A schema met again while it is being expanded (a cycle) is
//! cut: that property is left out, that array is empty. Nesting stops at
//! [`MAX_EXAMPLE_DEPTH`] the same way, and one example holds at most
//! [`MAX_EXAMPLE_VALUES`] values.

use serde_json::{Map, Value, json};

use super::super::tree::{Kind, Node};
use crate::Diagnostic;

/// The deepest nesting of objects and arrays a generated example reaches.
pub const MAX_EXAMPLE_DEPTH: usize = 12;

/// The most values (scalars and collections) in one generated example.
pub const MAX_EXAMPLE_VALUES: usize = 10_000;

/// How many `$ref`s in a row may lead from one to the next before the chain is refused.
const MAX_REF_HOPS: usize = 32;

/// The value of the last `name` entry of a map node (nulls included), if it is a map.
pub(super) fn get<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .rev()
        .find(|(key, _)| key.key_name().as_deref() == Some(name))
        .map(|(_, value)| value.as_ref())
}

/// The string at `name`, if there is one.
pub(super) fn get_text(node: &Node, name: &str) -> Option<String> {
    get(node, name).and_then(|value| match value.kind {
        Kind::Map(_) | Kind::Seq(_) => None,
        _ => value.text(),
    })
}

/// Whether `name` is `true`.
fn get_flag(node: &Node, name: &str) -> bool {
    get(node, name).is_some_and(|value| value.text().as_deref() == Some("true"))
}

fn get_number(node: &Node, name: &str) -> Option<f64> {
    get(node, name).and_then(Node::as_number)
}

/// The entries of a map node, as (name, key node, value node); empty for anything else.
pub(super) fn entries(node: &Node) -> Vec<(String, &Node, &Node)> {
    let Kind::Map(entries) = &node.kind else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(key, value)| Some((key.key_name()?, key.as_ref(), value.as_ref())))
        .collect()
}

/// Follows `$ref`s in one document, reporting what cannot be followed.
#[derive(Debug)]
pub(super) struct Refs<'d> {
    root: &'d Node,
    /// Findings, in the order met (the caller sorts them).
    pub(super) diagnostics: Vec<Diagnostic>,
}

/// Where a `$ref` leads.
#[derive(Debug)]
pub(super) enum Target<'d> {
    /// A node of this document.
    Found(&'d Node),
    /// Somewhere else (another file, a URL), or nowhere: reported already.
    Missing,
}

impl<'d> Refs<'d> {
    pub(super) fn new(root: &'d Node) -> Self {
        Self {
            root,
            diagnostics: Vec::new(),
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        if !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    /// The `$ref` string of a node, with its value node, when it has one.
    pub(super) fn reference(node: &'d Node) -> Option<(String, &'d Node)> {
        let value = get(node, "$ref")?;
        Some((value.text()?, value))
    }

    /// `node` with every `$ref` followed: the node itself when it has none.
    pub(super) fn resolve(&mut self, node: &'d Node) -> Target<'d> {
        let mut current = node;
        for _ in 0..MAX_REF_HOPS {
            let Some((reference, at)) = Self::reference(current) else {
                return Target::Found(current);
            };
            match self.follow(&reference, at) {
                Target::Found(next) => current = next,
                Target::Missing => return Target::Missing,
            }
        }
        self.push(Diagnostic::error(
            node.line,
            node.column,
            format!("`$ref` chain longer than {MAX_REF_HOPS} steps (it may loop)"),
        ));
        Target::Missing
    }

    /// One `$ref`, found at `at`.
    pub(super) fn follow(&mut self, reference: &str, at: &Node) -> Target<'d> {
        let Some(pointer) = reference.strip_prefix('#') else {
            self.push(Diagnostic::warning(
                at.line,
                at.column,
                format!(
                    "`{reference}` points outside the document; only local references \
                     (`#/components/...`) are followed, so this part is left empty"
                ),
            ));
            return Target::Missing;
        };
        match pointer_target(self.root, pointer) {
            Some(found) => Target::Found(found),
            None => {
                self.push(Diagnostic::error(
                    at.line,
                    at.column,
                    format!("`{reference}` points to nothing in this document"),
                ));
                Target::Missing
            }
        }
    }
}

/// The node a JSON pointer (`/components/schemas/Pet`) names in `root`.
fn pointer_target<'d>(root: &'d Node, pointer: &str) -> Option<&'d Node> {
    let mut current = root;
    if pointer.is_empty() {
        return Some(current);
    }
    let rest = pointer.strip_prefix('/')?;
    for raw in rest.split('/') {
        let token = percent_decode(raw).replace("~1", "/").replace("~0", "~");
        current = match &current.kind {
            Kind::Map(_) => get(current, &token)?,
            Kind::Seq(items) => items.get(token.parse::<usize>().ok()?)?.as_ref(),
            _ => return None,
        };
    }
    Some(current)
}

/// `%7Bid%7D` → `{id}`; anything malformed stays as written.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// Generates examples from schemas (see the module docs).
#[derive(Debug)]
pub(super) struct Generator<'r, 'd> {
    refs: &'r mut Refs<'d>,
    /// The `$ref`s being expanded, outermost first.
    expanding: Vec<String>,
    budget: usize,
    truncated: bool,
}

impl<'r, 'd> Generator<'r, 'd> {
    pub(super) fn new(refs: &'r mut Refs<'d>) -> Self {
        Self {
            refs,
            expanding: Vec::new(),
            budget: MAX_EXAMPLE_VALUES,
            truncated: false,
        }
    }

    /// The example of `schema`, and whether it was cut short by the value budget.
    pub(super) fn example(mut self, schema: &'d Node) -> (Value, bool) {
        let value = self.value(schema, 0).unwrap_or(Value::Null);
        (value, self.truncated)
    }

    /// The example of `schema` at nesting `depth`; `None` when it is cut (a cycle, the
    /// depth cap, the budget).
    fn value(&mut self, schema: &'d Node, depth: usize) -> Option<Value> {
        if depth > MAX_EXAMPLE_DEPTH {
            return None;
        }
        if self.budget == 0 {
            self.truncated = true;
            return None;
        }
        if let Some((reference, at)) = Refs::reference(schema) {
            if self.expanding.contains(&reference) {
                return None;
            }
            let Target::Found(target) = self.refs.follow(&reference, at) else {
                return Some(Value::Null);
            };
            self.expanding.push(reference);
            let value = self.value(target, depth);
            self.expanding.pop();
            return value;
        }
        if !matches!(schema.kind, Kind::Map(_)) {
            // `true` or `{}`: anything goes.
            return Some(Value::Object(Map::new()));
        }
        self.budget -= 1;
        if let Some(explicit) = explicit(schema) {
            return Some(explicit);
        }
        if let Some(all) = get(schema, "allOf").filter(|n| matches!(n.kind, Kind::Seq(_))) {
            return Some(self.all_of(schema, all, depth));
        }
        for choice in ["oneOf", "anyOf"] {
            if let Some(first) = get(schema, choice).and_then(first_item) {
                return self.value(first, depth);
            }
        }
        Some(match schema_type(schema).as_str() {
            "object" => Value::Object(self.object(schema, depth)),
            "array" => self.array(schema, depth),
            "string" => Value::String(string_example(schema)),
            "integer" => Value::from(integer_example(schema)),
            "number" => number_example(schema),
            "boolean" => Value::Bool(true),
            "null" => Value::Null,
            _ => Value::Object(Map::new()),
        })
    }

    /// `allOf`: the members' objects merged in order (a later member's property replaces
    /// an earlier one's), with the schema's own properties; a member that is not an object
    /// is the example when no member is.
    fn all_of(&mut self, schema: &'d Node, all: &'d Node, depth: usize) -> Value {
        let Kind::Seq(members) = &all.kind else {
            return Value::Null;
        };
        let mut merged = Map::new();
        let mut other = None;
        for member in members {
            match self.value(member, depth) {
                Some(Value::Object(fields)) => merged.extend(fields),
                Some(value) if other.is_none() => other = Some(value),
                _ => {}
            }
        }
        merged.extend(self.object(schema, depth));
        match other {
            Some(value) if merged.is_empty() => value,
            _ => Value::Object(merged),
        }
    }

    fn object(&mut self, schema: &'d Node, depth: usize) -> Map<String, Value> {
        let mut object = Map::new();
        if let Some(properties) = get(schema, "properties") {
            for (name, _, property) in entries(properties) {
                if self.write_only(property) {
                    continue;
                }
                if let Some(value) = self.value(property, depth + 1) {
                    object.insert(name, value);
                }
            }
        }
        if object.is_empty()
            && let Some(extra) = get(schema, "additionalProperties")
            && matches!(extra.kind, Kind::Map(_))
            && let Some(value) = self.value(extra, depth + 1)
        {
            object.insert("key".to_owned(), value);
        }
        object
    }

    fn write_only(&mut self, property: &'d Node) -> bool {
        match self.refs.resolve(property) {
            Target::Found(found) => get_flag(found, "writeOnly"),
            Target::Missing => false,
        }
    }

    fn array(&mut self, schema: &'d Node, depth: usize) -> Value {
        if get_number(schema, "maxItems") == Some(0.0) {
            return json!([]);
        }
        let item = get(schema, "items").and_then(|items| match &items.kind {
            // Tuple form (`items: [a, b]`, Swagger/draft 4): its first.
            Kind::Seq(_) => first_item(items),
            _ => Some(items),
        });
        match item.and_then(|item| self.value(item, depth + 1)) {
            Some(value) => Value::Array(vec![value]),
            None => json!([]),
        }
    }
}

fn first_item(node: &Node) -> Option<&Node> {
    match &node.kind {
        Kind::Seq(items) => items.first().map(AsRef::as_ref),
        _ => None,
    }
}

/// `example`, the first of `examples`, `const`, the first of `enum`, `default`.
fn explicit(schema: &Node) -> Option<Value> {
    if let Some(example) = get(schema, "example") {
        return Some(example.to_json());
    }
    if let Some(first) = get(schema, "examples").and_then(first_item) {
        return Some(first.to_json());
    }
    if let Some(constant) = get(schema, "const") {
        return Some(constant.to_json());
    }
    if let Some(first) = get(schema, "enum").and_then(first_item) {
        return Some(first.to_json());
    }
    get(schema, "default").map(Node::to_json)
}

/// The schema's type: `type` (the first that is not `null` of a list), else what its
/// keys imply (`properties` an object, `items` an array), else empty.
pub(super) fn schema_type(schema: &Node) -> String {
    match get(schema, "type") {
        Some(node) if matches!(node.kind, Kind::Seq(_)) => {
            let Kind::Seq(types) = &node.kind else {
                return String::new();
            };
            let names: Vec<String> = types.iter().filter_map(|t| t.text()).collect();
            names
                .iter()
                .find(|name| name.as_str() != "null")
                .or(names.first())
                .cloned()
                .unwrap_or_default()
        }
        Some(node) => match node.text().as_deref() {
            // Swagger 2.0 file uploads.
            Some("file") => "string".to_owned(),
            Some(name) => name.to_owned(),
            None => String::new(),
        },
        None if get(schema, "properties").is_some()
            || get(schema, "additionalProperties").is_some() =>
        {
            "object".to_owned()
        }
        None if get(schema, "items").is_some() => "array".to_owned(),
        None => String::new(),
    }
}

fn string_example(schema: &Node) -> String {
    let format = get_text(schema, "format").unwrap_or_default();
    let base = match format.as_str() {
        "date-time" => "2024-01-01T00:00:00Z",
        "date" => "2024-01-01",
        "time" => "00:00:00",
        "email" | "idn-email" => "user@example.com",
        "uuid" => "123e4567-e89b-42d3-a456-426614174000",
        "uri" | "url" | "uri-reference" | "iri" => "https://example.com",
        "hostname" | "idn-hostname" => "example.com",
        "ipv4" => "192.0.2.1",
        "ipv6" => "2001:db8::1",
        "byte" => "ZXhhbXBsZQ==",
        "password" => "password",
        _ => "string",
    };
    let mut text = base.to_owned();
    let length = |name| {
        get_number(schema, name)
            .filter(|n| *n >= 0.0)
            .map(|n| n.min(1_000.0) as usize)
    };
    if let Some(min) = length("minLength") {
        while text.chars().count() < min {
            text.push('x');
        }
    }
    if let Some(max) = length("maxLength") {
        text = text.chars().take(max).collect();
    }
    text
}

/// A bound of a number, and whether it is exclusive.
type Bound = Option<(f64, bool)>;

/// The bounds of a number: `minimum` and `maximum`, with OpenAPI 3.0's boolean
/// `exclusiveMinimum` and 3.1's numeric one.
fn bounds(schema: &Node) -> (Bound, Bound) {
    let bound = |plain: &str, exclusive: &str| {
        let exclusive_number = get_number(schema, exclusive);
        match (get_number(schema, plain), exclusive_number) {
            (_, Some(value)) => Some((value, true)),
            (Some(value), None) => Some((value, get_flag(schema, exclusive))),
            (None, None) => None,
        }
    };
    (
        bound("minimum", "exclusiveMinimum"),
        bound("maximum", "exclusiveMaximum"),
    )
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "bounds are clamped into i64 by the float-to-int cast"
)]
fn integer_example(schema: &Node) -> i64 {
    let (min, max) = bounds(schema);
    let low = min.map(|(value, exclusive)| {
        if exclusive {
            value.floor() as i64 + 1
        } else {
            value.ceil() as i64
        }
    });
    let high = max.map(|(value, exclusive)| {
        if exclusive {
            value.ceil() as i64 - 1
        } else {
            value.floor() as i64
        }
    });
    let mut value = 0_i64;
    if let Some(step) = get_number(schema, "multipleOf")
        .filter(|step| *step >= 1.0 && step.fract() == 0.0)
        .map(|step| step as i64)
        && let Some(low) = low
        && low > 0
    {
        value = low.div_euclid(step) * step;
        if value < low {
            value += step;
        }
    }
    if let Some(low) = low {
        value = value.max(low);
    }
    if let Some(high) = high {
        value = value.min(high);
    }
    if get_text(schema, "format").as_deref() == Some("int32") {
        value = value.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    }
    value
}

fn number_example(schema: &Node) -> Value {
    let (min, max) = bounds(schema);
    let fits = |value: f64| {
        min.is_none_or(|(low, exclusive)| if exclusive { value > low } else { value >= low })
            && max.is_none_or(|(high, exclusive)| {
                if exclusive {
                    value < high
                } else {
                    value <= high
                }
            })
    };
    let candidates = [
        Some(0.0),
        min.map(|(low, exclusive)| if exclusive { low + 1.0 } else { low }),
        max.map(|(high, exclusive)| if exclusive { high - 1.0 } else { high }),
        min.zip(max).map(|((low, _), (high, _))| (low + high) / 2.0),
    ];
    let value = candidates
        .into_iter()
        .flatten()
        .find(|value| fits(*value))
        .unwrap_or(0.0);
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}
