//! Export: a spec described as an OpenAPI 3.0.3 document, one operation per endpoint.
//!
//! - Paths: `:id` → `{id}`; typed parameters get schema types (`int` → `integer`/`int64`,
//!   `float` and `double` → `number`, `bool` → `boolean`, `uuid` and `date` → `string`
//!   with that `format`). Declared `query:` parameters are listed as required, as moclojer
//!   requires them.
//! - One response per endpoint: what it answers first (the first of its `sequence`, else
//!   its `response`), with its status, its headers (`Content-Type` as the media type,
//!   `application/json` when none is set) and its body as the media type's `example`:
//!   parsed JSON when the body is static JSON (which comes back compact: the same JSON, not
//!   the same spacing), else the template text as a string. A body
//!   that is not plain static JSON is also given as `x-moclojer-body`, its exact text, which
//!   [`import_openapi`](super::import_openapi) reads back, so export → import gives the same
//!   answers. Response rules (`responses:`) are not exported: their answers depend on the
//!   request. An external body is named in the description, with no example.
//! - Left out: `CONNECT` endpoints (OpenAPI has no such operation), an endpoint whose
//!   route and method an earlier one already has, websockets and resources.

use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Method, ParamType, PathPattern, Response, Segment, Spec};
use crate::template::Template;

/// What the exported document says about the API as a whole.
#[derive(Debug, Clone, Copy)]
pub struct ExportInfo<'a> {
    /// `info.title`: the mock's name.
    pub title: &'a str,
    /// `info.version`, e.g. the mock's revision.
    pub version: &'a str,
    /// `servers[0].url`: where the mock answers, when known.
    pub server_url: Option<&'a str>,
}

/// The OpenAPI 3.0.3 document of `spec` (see the module docs).
pub fn export_openapi(spec: &Spec, info: &ExportInfo<'_>) -> Value {
    let mut paths = Map::new();
    let mut ids: Vec<String> = Vec::new();
    for endpoint in &spec.endpoints {
        if endpoint.method == Method::Connect {
            continue;
        }
        let path = openapi_path(&endpoint.path);
        let method = endpoint.method.as_str().to_ascii_lowercase();
        let item = paths
            .entry(path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(item) = item else {
            continue;
        };
        if item.contains_key(&method) {
            continue;
        }
        let id = unique_id(&mut ids, &method, &endpoint.path);
        item.insert(method, operation(endpoint, id));
    }
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {"title": info.title, "version": info.version},
    });
    if let Some(url) = info.server_url {
        document["servers"] = json!([{ "url": url }]);
    }
    document["paths"] = Value::Object(paths);
    document
}

/// `/pets/:id|int` → `/pets/{id}`; `/` for the root.
fn openapi_path(path: &PathPattern) -> String {
    if path.segments.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::new();
    for segment in &path.segments {
        out.push('/');
        match segment {
            Segment::Static(text) => out.push_str(text),
            Segment::Param { name, .. } => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
    }
    out
}

/// An operationId made of the method and the path's words (`get_pets_id`), unique.
fn unique_id(ids: &mut Vec<String>, method: &str, path: &PathPattern) -> String {
    let mut base = method.to_owned();
    for segment in &path.segments {
        let word = match segment {
            Segment::Static(text) => text.as_str(),
            Segment::Param { name, .. } => name.as_str(),
        };
        let word: String = word
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !word.is_empty() {
            base.push('_');
            base.push_str(&word);
        }
    }
    let mut id = base.clone();
    let mut n = 2;
    while ids.contains(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    ids.push(id.clone());
    id
}

/// The schema of a parameter type.
fn param_schema(ty: ParamType) -> Value {
    match ty {
        ParamType::String => json!({"type": "string"}),
        ParamType::Int => json!({"type": "integer", "format": "int64"}),
        ParamType::Bool => json!({"type": "boolean"}),
        ParamType::Float => json!({"type": "number", "format": "float"}),
        ParamType::Double => json!({"type": "number", "format": "double"}),
        ParamType::Uuid => json!({"type": "string", "format": "uuid"}),
        ParamType::Date => json!({"type": "string", "format": "date"}),
    }
}

fn operation(endpoint: &Endpoint, id: String) -> Value {
    let mut parameters: Vec<Value> = endpoint
        .path
        .params()
        .map(|(name, ty)| {
            json!({"name": name, "in": "path", "required": true, "schema": param_schema(ty)})
        })
        .collect();
    parameters.extend(endpoint.query.iter().map(|param| {
        json!({"name": param.name, "in": "query", "required": true, "schema": param_schema(param.ty)})
    }));
    let answer = endpoint
        .sequence
        .as_ref()
        .and_then(|sequence| sequence.responses.first())
        .unwrap_or(&endpoint.response);
    let mut operation = Map::new();
    operation.insert("operationId".to_owned(), Value::String(id));
    if let Some(tag) = &endpoint.tag {
        operation.insert("tags".to_owned(), json!([tag]));
    }
    if !parameters.is_empty() {
        operation.insert("parameters".to_owned(), Value::Array(parameters));
    }
    let mut responses = Map::new();
    responses.insert(answer.status.to_string(), response(answer));
    operation.insert("responses".to_owned(), Value::Object(responses));
    Value::Object(operation)
}

/// The text of a body that is static JSON, when it is.
fn static_json(text: &str) -> Option<Value> {
    let template = Template::compile(text).ok()?;
    serde_json::from_str(template.static_text()?).ok()
}

fn response(answer: &Response) -> Value {
    let media_type = answer
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("application/json", |(_, value)| value.as_str());
    let mut out = Map::new();
    let headers: Map<String, Value> = answer
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
        .map(|(name, value)| {
            (
                name.clone(),
                json!({"schema": {"type": "string"}, "example": value}),
            )
        })
        .collect();
    let description = match &answer.body {
        Body::External(external) => format!(
            "The mock's answer: read from `{}` on each request.",
            external.path
        ),
        _ => "The mock's answer.".to_owned(),
    };
    out.insert("description".to_owned(), Value::String(description));
    if !headers.is_empty() {
        out.insert("headers".to_owned(), Value::Object(headers));
    }
    if let Body::Text(text) = &answer.body {
        let mut media = Map::new();
        match static_json(text) {
            Some(value) => {
                let plain = serde_json::from_str::<Value>(text).is_ok();
                media.insert("example".to_owned(), value);
                if !plain {
                    media.insert("x-moclojer-body".to_owned(), Value::String(text.clone()));
                }
            }
            None => {
                media.insert("example".to_owned(), Value::String(text.clone()));
                media.insert("x-moclojer-body".to_owned(), Value::String(text.clone()));
            }
        }
        out.insert(
            "content".to_owned(),
            json!({ media_type: Value::Object(media) }),
        );
    }
    Value::Object(out)
}
