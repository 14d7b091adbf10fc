//! Documents for the import and export tests: three OpenAPI documents written for them
//! (nothing copied from elsewhere), a moclojer spec to export, and what a test needs to
//! call every operation and know what it must answer, read from the document itself, not
//! from the importer.

use moclojer_domain::spec::{Endpoint, ParamType, Segment};
use serde_json::Value;

/// A pet clinic (OpenAPI 3.0.3, YAML): `$ref`s to schemas, parameters and responses,
/// typed path parameters, a required query parameter, 201 and 204 answers.
pub const PET_CLINIC: &str = include_str!("fixtures/openapi/pet-clinic.yaml");

/// A product catalog (OpenAPI 3.1.0, YAML): `allOf`, `oneOf`, arrays, enums, `2XX`, a
/// recursive schema, uuid and date parameters, a text/plain answer.
pub const CATALOG: &str = include_str!("fixtures/openapi/catalog.yaml");

/// A warehouse (Swagger 2.0, JSON): `definitions`, `produces`, examples by media type.
pub const WAREHOUSE: &str = include_str!("fixtures/openapi/warehouse.swagger.json");

/// Every OpenAPI document, by name.
pub const OPENAPI_DOCUMENTS: [(&str, &str); 3] = [
    ("pet-clinic", PET_CLINIC),
    ("catalog", CATALOG),
    ("warehouse", WAREHOUSE),
];

/// A moclojer spec of a shop, to export and import back: static JSON, templates, typed
/// path and query parameters, a text body, headers, an empty answer, a sequence.
pub const SHOP_SPEC: &str = include_str!("fixtures/openapi/shop.yml");

/// What a body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON of this type: `object`, `array`, `string`, `number` (integers too), `boolean`.
    Json(&'static str),
    /// Text that is not JSON (a non-JSON media type).
    Text,
    /// Nothing: the response has no content.
    Empty,
}

impl BodyKind {
    /// The JSON type name of `value`.
    pub fn of(value: &Value) -> Self {
        Self::Json(match value {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
        })
    }
}

/// One operation as its document describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documented {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as written in the document (`/pets/{petId}`).
    pub path: String,
    /// The status it answers first: 200, else the first 2xx (`2XX` is 200).
    pub status: u16,
    /// What its body is.
    pub body: BodyKind,
}

/// Every operation of an OpenAPI document (YAML or JSON), in document order.
///
/// # Panics
/// When the document does not read, or an operation has no success response.
pub fn documented(document: &str) -> Vec<Documented> {
    let root = moclojer_domain::spec::yaml_to_json(document).expect("the document reads");
    let paths = root["paths"].as_object().expect("paths");
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut out = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            if !methods.contains(&method.as_str()) {
                continue;
            }
            let responses = operation["responses"].as_object().expect("responses");
            let (status, response) = success(responses)
                .unwrap_or_else(|| panic!("{method} {path} has no success response"));
            let response = resolve(&root, response);
            out.push(Documented {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                status,
                body: body_kind(&root, operation, response),
            });
        }
    }
    out
}

fn success(responses: &serde_json::Map<String, Value>) -> Option<(u16, &Value)> {
    if let Some(ok) = responses.get("200") {
        return Some((200, ok));
    }
    responses
        .iter()
        .find_map(|(code, response)| match code.as_str() {
            "2XX" | "2xx" => Some((200, response)),
            _ => code
                .parse::<u16>()
                .ok()
                .filter(|s| (200..300).contains(s))
                .map(|s| (s, response)),
        })
}

/// `value` with its `$ref`s (local JSON pointers) followed.
fn resolve<'v>(root: &'v Value, mut value: &'v Value) -> &'v Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        value = root
            .pointer(pointer)
            .expect("the reference leads somewhere");
    }
    value
}

fn body_kind(root: &Value, operation: &Value, response: &Value) -> BodyKind {
    if root.get("swagger").is_some() {
        let produces = operation
            .get("produces")
            .or_else(|| root.get("produces"))
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .find(|m| m.contains("json"))
                    .or(list.first().and_then(Value::as_str))
            })
            .unwrap_or("application/json");
        if let Some(example) = response.get("examples").and_then(|e| e.get(produces)) {
            return BodyKind::of(example);
        }
        return match response.get("schema") {
            None => BodyKind::Empty,
            Some(_) if !produces.contains("json") => BodyKind::Text,
            Some(schema) => schema_kind(root, schema),
        };
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return BodyKind::Empty;
    };
    let Some((_, media)) = content.iter().find(|(m, _)| m.contains("json")) else {
        return BodyKind::Text;
    };
    match media.get("example") {
        Some(example) => BodyKind::of(example),
        None => schema_kind(root, &media["schema"]),
    }
}

/// The JSON type of a schema's examples: its `type` (the first that is not `null`), else
/// an object for `allOf` or `properties`, an array for `items`.
fn schema_kind(root: &Value, schema: &Value) -> BodyKind {
    let schema = resolve(root, schema);
    let name = match &schema["type"] {
        Value::String(name) => name.as_str(),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|n| *n != "null")
            .unwrap_or("null"),
        _ if schema.get("allOf").is_some() || schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => panic!("the fixtures type every answer: {schema}"),
    };
    BodyKind::Json(match name {
        "object" => "object",
        "array" => "array",
        "string" => "string",
        "integer" | "number" => "number",
        "boolean" => "boolean",
        other => panic!("unexpected type {other}"),
    })
}

/// The endpoint's path in OpenAPI form (`/pets/{petId}`).
pub fn openapi_path(endpoint: &Endpoint) -> String {
    if endpoint.path.segments.is_empty() {
        return "/".to_owned();
    }
    endpoint
        .path
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Static(text) => format!("/{text}"),
            Segment::Param { name, .. } => format!("/{{{name}}}"),
        })
        .collect()
}

/// A value of `ty` a request may carry.
pub fn sample(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "abc",
        ParamType::Int => "7",
        ParamType::Bool => "true",
        ParamType::Float | ParamType::Double => "2.5",
        ParamType::Uuid => "9f1c2a4e-3b5d-4c6e-8f70-a1b2c3d4e5f6",
        ParamType::Date => "2025-03-14",
    }
}

/// A request target that the endpoint answers: every path parameter and every declared
/// query parameter given a [`sample`] of its type.
pub fn sample_target(endpoint: &Endpoint) -> String {
    let mut target: String = endpoint
        .path
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Static(text) => format!("/{text}"),
            Segment::Param { ty, .. } => format!("/{}", sample(*ty)),
        })
        .collect();
    if target.is_empty() {
        target.push('/');
    }
    for (index, param) in endpoint.query.iter().enumerate() {
        target.push(if index == 0 { '?' } else { '&' });
        target.push_str(&param.name);
        target.push('=');
        target.push_str(sample(param.ty));
    }
    target
}
