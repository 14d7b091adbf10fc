//! The OpenAPI side of import: the document's operations, each as one endpoint item.

use std::rc::Rc;

use serde_json::Value;

use super::super::read::{is_header_name, too_large};
use super::super::tree::{Kind, Node};
use super::super::{Limits, Method, ParamType, PathPattern, yaml};
use super::schema::{Generator, Refs, Target, entries, get, get_text, schema_type};
use super::writer::{Item, Yaml};
use super::{Origin, Read};
use crate::Diagnostic;

// The operation keys of a path item, in the order OpenAPI lists them.
use super::super::openapi::OPERATIONS;

/// Which OpenAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// OpenAPI 3.x: `content` maps of media types.
    V3,
    /// Swagger 2.0: `produces`, `schema` and `examples` on responses.
    V2,
}

/// Reads the document and makes its items.
pub(super) fn read(text: &str, limits: &Limits) -> Result<Read, Vec<Diagnostic>> {
    if text.len() > limits.max_bytes {
        return Err(vec![too_large(text.len(), limits)]);
    }
    let root = match yaml::read(text, limits) {
        Ok(Some(root)) => root,
        Ok(None) => return Err(vec![Diagnostic::error(1, 1, "the document is empty")]),
        Err(diagnostic) => return Err(vec![diagnostic]),
    };
    let (dialect, title) = dialect(&root).map_err(|d| vec![d])?;
    let Some(paths) = get(&root, "paths").filter(|p| matches!(p.kind, Kind::Map(_))) else {
        let at = get(&root, "paths").map_or((root.line, root.column), |p| (p.line, p.column));
        return Err(vec![Diagnostic::error(
            at.0,
            at.1,
            "the document needs a `paths` map: its operations are what is imported",
        )]);
    };
    let mut walk = Walk {
        root: &root,
        dialect,
        refs: Refs::new(&root),
        items: Vec::new(),
        origins: Vec::new(),
        notes: Vec::new(),
    };
    walk.paths(paths, limits);
    let mut diagnostics = walk.notes;
    diagnostics.extend(walk.refs.diagnostics);
    Ok(Read {
        header: vec![title],
        items: walk.items,
        origins: walk.origins,
        diagnostics,
    })
}

/// The dialect, and the header line naming the document.
fn dialect(root: &Node) -> Result<(Dialect, String), Diagnostic> {
    match &root.kind {
        Kind::Map(_) => {}
        Kind::Seq(_) => {
            return Err(Diagnostic::error(
                root.line,
                root.column,
                "this is a list, not an OpenAPI document; a moclojer YAML spec needs no \
                 import: paste it into the editor as it is",
            ));
        }
        _ => {
            return Err(Diagnostic::error(
                root.line,
                root.column,
                "not an OpenAPI document: it must be a map with an `openapi` (or `swagger`) key",
            ));
        }
    }
    let (dialect, name, version_node) = if let Some(node) = get(root, "openapi") {
        (Dialect::V3, "OpenAPI", node)
    } else if let Some(node) = get(root, "swagger") {
        (Dialect::V2, "Swagger", node)
    } else {
        return Err(Diagnostic::error(
            root.line,
            root.column,
            "not an OpenAPI document: it has no `openapi` (or `swagger`) key",
        ));
    };
    let version = version_node.text().unwrap_or_default();
    let supported = match dialect {
        Dialect::V3 => version.starts_with("3."),
        Dialect::V2 => version == "2.0" || version == "2",
    };
    if !supported {
        return Err(Diagnostic::error(
            version_node.line,
            version_node.column,
            format!("{name} `{version}` is not supported: OpenAPI 3.x and Swagger 2.0 are"),
        ));
    }
    let info = get(root, "info");
    let title = info.and_then(|i| get_text(i, "title"));
    let api_version = info.and_then(|i| get_text(i, "version"));
    let mut header = format!("Imported from {name} {version}");
    if let Some(title) = title {
        header.push_str(&format!(": {title}"));
    }
    if let Some(api_version) = api_version {
        header.push_str(&format!(" ({api_version})"));
    }
    Ok((dialect, header))
}

/// A parameter as the import uses it.
#[derive(Debug, Clone)]
struct Param {
    name: String,
    location: String,
    required: bool,
    ty: Option<ParamType>,
}

/// The parts of one operation.
#[derive(Debug, Clone, Copy)]
struct Operation<'o, 'd> {
    raw_path: &'o str,
    path_node: &'d Node,
    path_item: &'d Node,
    method: Method,
    method_node: &'d Node,
    node: &'d Node,
}

/// What one operation answers.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// The walk over the document's operations.
#[derive(Debug)]
struct Walk<'d> {
    root: &'d Rc<Node>,
    dialect: Dialect,
    refs: Refs<'d>,
    items: Vec<Item>,
    origins: Vec<Origin>,
    notes: Vec<Diagnostic>,
}

impl<'d> Walk<'d> {
    fn note(&mut self, diagnostic: Diagnostic, key: &str) {
        let item = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.notes.push(diagnostic.in_item(item, key));
    }

    fn paths(&mut self, paths: &'d Node, limits: &Limits) {
        for (raw_path, path_node, path_item) in entries(paths) {
            if raw_path.starts_with("x-") {
                continue;
            }
            if !raw_path.starts_with('/') {
                self.notes.push(Diagnostic::error(
                    path_node.line,
                    path_node.column,
                    format!("the path `{raw_path}` must start with `/`"),
                ));
                continue;
            }
            let Target::Found(path_item) = self.refs.resolve(path_item) else {
                continue;
            };
            for (name, method_node, node) in entries(path_item) {
                let Some(method) = Method::parse(&name).filter(|m| OPERATIONS.contains(m)) else {
                    continue;
                };
                if self.items.len() >= limits.max_items {
                    self.notes.push(Diagnostic::error(
                        method_node.line,
                        method_node.column,
                        format!(
                            "the document has more than {} operations; larger specs are refused",
                            limits.max_items
                        ),
                    ));
                    return;
                }
                let operation = Operation {
                    raw_path: &raw_path,
                    path_node,
                    path_item,
                    method,
                    method_node,
                    node,
                };
                self.operation(&operation);
            }
        }
    }
}

impl<'d> Walk<'d> {
    /// One operation as an endpoint item.
    fn operation(&mut self, at: &Operation<'_, 'd>) {
        let lower = at.method.as_str().to_ascii_lowercase();
        let key = format!("paths[{:?}].{lower}", at.raw_path);
        let params = self.parameters(at);
        let path = self.route(at, &params, &key);
        let Some(path) = path else {
            return;
        };
        let mut endpoint = vec![
            (
                "method".to_owned(),
                Yaml::Str(at.method.as_str().to_owned()),
            ),
            ("path".to_owned(), Yaml::Str(path)),
        ];
        if let Some(tag) = get(at.node, "tags").and_then(|tags| match &tags.kind {
            Kind::Seq(tags) => tags.first().and_then(|t| t.text()),
            _ => None,
        }) {
            endpoint.push(("tag".to_owned(), Yaml::Str(tag)));
        }
        let query: Vec<(String, Yaml)> = params
            .iter()
            .filter(|p| p.location == "query" && p.required)
            .filter_map(|p| Some((p.name.clone(), Yaml::Str(p.ty?.as_str().to_owned()))))
            .collect();
        if !query.is_empty() {
            endpoint.push(("query".to_owned(), Yaml::Map(query)));
        }
        let answer = self.answer(at, &key);
        let mut response = vec![("status".to_owned(), Yaml::Int(i64::from(answer.status)))];
        if !answer.headers.is_empty() {
            let headers = answer
                .headers
                .into_iter()
                .map(|(name, value)| (name, Yaml::Str(value)))
                .collect();
            response.push(("headers".to_owned(), Yaml::Map(headers)));
        }
        if let Some(body) = answer.body {
            response.push(("body".to_owned(), Yaml::Quoted(body)));
        }
        endpoint.push(("response".to_owned(), Yaml::Map(response)));
        self.items.push(Item {
            comments: comments(at.node),
            value: Yaml::Map(vec![("endpoint".to_owned(), Yaml::Map(endpoint))]),
        });
        self.origins.push(Origin {
            line: at.method_node.line,
            column: at.method_node.column,
            key,
        });
    }

    /// The path item's parameters, then the operation's (which replace a path item's of
    /// the same name and place).
    fn parameters(&mut self, at: &Operation<'_, 'd>) -> Vec<Param> {
        let mut params: Vec<Param> = Vec::new();
        for owner in [at.path_item, at.node] {
            let Some(Kind::Seq(list)) = get(owner, "parameters").map(|p| &p.kind) else {
                continue;
            };
            for entry in list {
                let Target::Found(param) = self.refs.resolve(entry) else {
                    continue;
                };
                let (Some(name), Some(location)) = (get_text(param, "name"), get_text(param, "in"))
                else {
                    continue;
                };
                let ty = self.param_type(param);
                let required =
                    get_text(param, "required").as_deref() == Some("true") || location == "path";
                params.retain(|p| !(p.name == name && p.location == location));
                params.push(Param {
                    name,
                    location,
                    required,
                    ty,
                });
            }
        }
        params
    }

    /// The moclojer type of a parameter (its `schema`'s in 3.x, its own in 2.0); `None`
    /// for arrays and objects, which a moclojer parameter cannot be.
    fn param_type(&mut self, param: &'d Node) -> Option<ParamType> {
        let schema = match (self.dialect, get(param, "schema")) {
            (Dialect::V3, Some(schema)) => match self.refs.resolve(schema) {
                Target::Found(schema) => schema,
                Target::Missing => return Some(ParamType::String),
            },
            _ => param,
        };
        let format = get_text(schema, "format").unwrap_or_default();
        Some(match (schema_type(schema).as_str(), format.as_str()) {
            ("integer", _) => ParamType::Int,
            ("number", "float") => ParamType::Float,
            ("number", _) => ParamType::Double,
            ("boolean", _) => ParamType::Bool,
            ("string", "uuid") => ParamType::Uuid,
            ("string", "date") => ParamType::Date,
            ("array" | "object", _) => return None,
            _ => ParamType::String,
        })
    }

    /// The moclojer path: `{id}` → `:id` (with its type); a segment that mixes text and a
    /// parameter (`{name}.json`) becomes that parameter, with a warning.
    fn route(&mut self, at: &Operation<'_, 'd>, params: &[Param], key: &str) -> Option<String> {
        let mut out = String::new();
        for segment in at.raw_path.split('/').skip(1) {
            out.push('/');
            let Some(open) = segment.find('{') else {
                out.push_str(segment);
                continue;
            };
            let name = segment[open + 1..]
                .split('}')
                .next()
                .unwrap_or_default()
                .to_owned();
            if open != 0 || !segment.ends_with('}') || segment.matches('{').count() > 1 {
                self.note(
                    Diagnostic::warning(
                        at.path_node.line,
                        at.path_node.column,
                        format!(
                            "the segment `{segment}` mixes text and parameters; moclojer \
                             matches whole segments, so it becomes `:{name}`"
                        ),
                    ),
                    key,
                );
            }
            out.push(':');
            out.push_str(&name);
            let ty = params
                .iter()
                .find(|p| p.location == "path" && p.name == name)
                .and_then(|p| p.ty);
            if let Some(ty) = ty.filter(|ty| *ty != ParamType::String) {
                out.push('|');
                out.push_str(ty.as_str());
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        match PathPattern::parse(&out) {
            Ok(_) => Some(out),
            Err(error) => {
                self.notes.push(Diagnostic::error(
                    at.path_node.line,
                    at.path_node.column,
                    format!("the path `{}` cannot be imported: {error}", at.raw_path),
                ));
                None
            }
        }
    }
}

/// The comment above an imported endpoint: its operationId and summary.
fn comments(operation: &Node) -> Vec<String> {
    let id = get_text(operation, "operationId");
    let summary = get_text(operation, "summary");
    let line = match (id, summary) {
        (Some(id), Some(summary)) => format!("{id}: {summary}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => return Vec::new(),
    };
    vec![line]
}

/// The status a response key stands for: `200`, `2XX` (200), `default` (200).
fn status_of(name: &str) -> Option<u16> {
    match name {
        "default" => Some(200),
        _ if name.len() == 3 && name[1..].eq_ignore_ascii_case("xx") => {
            name[..1].parse::<u16>().ok().map(|hundreds| hundreds * 100)
        }
        _ => name.parse::<u16>().ok(),
    }
    .filter(|status| (100..=599).contains(status))
}

/// The response an operation answers with: `200`, else the first 2xx, else `2XX`, else
/// `default`, else the first listed; with its status.
fn chosen_response(responses: &Node) -> Option<(u16, &Node, &Node)> {
    let listed: Vec<(String, &Node, &Node)> = entries(responses)
        .into_iter()
        .filter(|(name, _, _)| status_of(name).is_some())
        .collect();
    let pick = |wanted: &dyn Fn(&str) -> bool| {
        listed
            .iter()
            .find(|(name, _, _)| wanted(name))
            .map(|(name, key, value)| (status_of(name).unwrap_or(200), *key, *value))
    };
    pick(&|name| name == "200")
        .or_else(|| {
            pick(&|name| {
                name.parse::<u16>()
                    .is_ok_and(|status| (200..300).contains(&status))
            })
        })
        .or_else(|| pick(&|name| name.eq_ignore_ascii_case("2xx")))
        .or_else(|| pick(&|name| name == "default"))
        .or_else(|| pick(&|_| true))
}

/// Whether a media type is JSON (`application/json`, `application/problem+json`, …).
fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

/// The media type to answer with among `names`: `application/json`, else the first JSON
/// one, else the first.
fn chosen_media(names: &[String]) -> Option<&str> {
    let essence = |name: &str| name.split(';').next().unwrap_or_default().trim().to_owned();
    names
        .iter()
        .find(|name| essence(name).eq_ignore_ascii_case("application/json"))
        .or_else(|| names.iter().find(|name| is_json(name)))
        .or(names.first())
        .map(String::as_str)
}

/// The `Content-Type` an answer is sent with (`*/*` is sent as JSON).
fn content_type(media_type: &str) -> String {
    if media_type.trim() == "*/*" {
        "application/json".to_owned()
    } else {
        media_type.to_owned()
    }
}

/// A body's text: JSON for a JSON media type, a string as it is otherwise; a literal `{{`,
/// `{%` or `{#` is kept literal (the body is a template).
fn body_text(value: &Value, json: bool) -> String {
    let text = match value {
        Value::String(text) if !json => text.clone(),
        other => other.to_string(),
    };
    literal(text)
}

/// Text that renders as itself: wrapped in `{% verbatim %}` when it holds a template's
/// `{{`, `{%` or `{#`.
fn literal(text: String) -> String {
    if ["{{", "{%", "{#"].iter().any(|open| text.contains(open)) {
        format!("{{% verbatim %}}{text}{{% endverbatim %}}")
    } else {
        text
    }
}

impl<'d> Walk<'d> {
    /// What the operation answers (see the module docs of `import`).
    fn answer(&mut self, at: &Operation<'_, 'd>, key: &str) -> Answer {
        let described = format!("{} {}", at.method, at.raw_path);
        let chosen = get(at.node, "responses").and_then(chosen_response);
        let Some((status, status_node, response)) = chosen else {
            self.note(
                Diagnostic::warning(
                    at.method_node.line,
                    at.method_node.column,
                    format!("{described} lists no responses: it answers 200 with an empty body"),
                ),
                key,
            );
            return Answer {
                status: 200,
                ..Answer::default()
            };
        };
        if !(200..300).contains(&status) && status_node.key_name().as_deref() != Some("default") {
            self.note(
                Diagnostic::warning(
                    status_node.line,
                    status_node.column,
                    format!("{described} lists no success response; it answers {status}"),
                ),
                key,
            );
        }
        let mut answer = Answer {
            status,
            ..Answer::default()
        };
        let Target::Found(response) = self.refs.resolve(response) else {
            return answer;
        };
        match self.dialect {
            Dialect::V3 => self.v3_body(response, &mut answer),
            Dialect::V2 => self.v2_body(at, response, &mut answer),
        }
        self.response_headers(response, &mut answer);
        answer
    }

    /// OpenAPI 3: the chosen media type of `content`, its example or its schema's.
    fn v3_body(&mut self, response: &'d Node, answer: &mut Answer) {
        let Some(content) = get(response, "content") else {
            return;
        };
        let media = entries(content);
        let names: Vec<String> = media.iter().map(|(name, _, _)| name.clone()).collect();
        let Some(chosen) = chosen_media(&names) else {
            return;
        };
        let Some((_, _, object)) = media.iter().find(|(name, _, _)| name == chosen) else {
            return;
        };
        let json = is_json(chosen);
        answer
            .headers
            .push(("Content-Type".to_owned(), content_type(chosen)));
        if let Some(raw) = get(object, "x-moclojer-body").and_then(Node::as_string) {
            answer.body = Some(raw.to_owned());
            return;
        }
        let value = match get(object, "example") {
            Some(example) => Some(example.to_json()),
            None => self
                .first_example(object)
                .or_else(|| get(object, "schema").map(|schema| self.generate(schema))),
        };
        answer.body = value.map(|value| body_text(&value, json));
    }

    /// The `value` of the first of a media type's `examples` that has one.
    fn first_example(&mut self, object: &'d Node) -> Option<Value> {
        let examples = get(object, "examples")?;
        for (_, _, example) in entries(examples) {
            if let Target::Found(example) = self.refs.resolve(example)
                && let Some(value) = get(example, "value")
            {
                return Some(value.to_json());
            }
        }
        None
    }

    /// Swagger 2.0: `examples` by media type, else the schema's example, sent as the
    /// operation's (or the document's) first JSON `produces`.
    fn v2_body(&mut self, at: &Operation<'_, 'd>, response: &'d Node, answer: &mut Answer) {
        let produces = |node: &Node| match get(node, "produces").map(|p| &p.kind) {
            Some(Kind::Seq(list)) => Some(list.iter().filter_map(|n| n.text()).collect()),
            _ => None,
        };
        let names: Vec<String> = produces(at.node)
            .or_else(|| produces(self.root))
            .unwrap_or_default();
        let examples = get(response, "examples").map(entries).unwrap_or_default();
        let schema = get(response, "schema");
        if examples.is_empty() && schema.is_none() {
            return;
        }
        let chosen = chosen_media(&names)
            .unwrap_or("application/json")
            .to_owned();
        let json = is_json(&chosen);
        answer
            .headers
            .push(("Content-Type".to_owned(), content_type(&chosen)));
        let example = examples
            .iter()
            .find(|(name, _, _)| *name == chosen)
            .or(examples.first())
            .map(|(_, _, value)| value.to_json());
        let value = example.or_else(|| schema.map(|schema| self.generate(schema)));
        answer.body = value.map(|value| body_text(&value, json));
    }

    /// The generated example of a schema, with a warning when it was cut short.
    fn generate(&mut self, schema: &'d Node) -> Value {
        let (value, truncated) = Generator::new(&mut self.refs).example(schema);
        if truncated {
            self.notes.push(Diagnostic::warning(
                schema.line,
                schema.column,
                format!(
                    "the example generated from this schema has more than {} values; the \
                     rest is left out",
                    super::MAX_EXAMPLE_VALUES
                ),
            ));
        }
        value
    }

    /// Response headers that have an explicit example (`example`, or their schema's
    /// `example`, `enum` or `default`), as text.
    fn response_headers(&mut self, response: &'d Node, answer: &mut Answer) {
        let Some(headers) = get(response, "headers") else {
            return;
        };
        for (name, _, header) in entries(headers) {
            if name.eq_ignore_ascii_case("content-type") || !is_header_name(&name) {
                continue;
            }
            let Target::Found(header) = self.refs.resolve(header) else {
                continue;
            };
            let schema = match get(header, "schema") {
                Some(schema) => match self.refs.resolve(schema) {
                    Target::Found(schema) => Some(schema),
                    Target::Missing => None,
                },
                None => None,
            };
            let explicit = ["example", "x-example", "default"]
                .iter()
                .find_map(|k| get(header, k))
                .or_else(|| {
                    schema.and_then(|s| ["example", "default"].iter().find_map(|k| get(s, k)))
                })
                .map(Node::to_json)
                .or_else(|| {
                    [Some(header), schema]
                        .into_iter()
                        .flatten()
                        .find_map(|node| match get(node, "enum").map(|e| &e.kind) {
                            Some(Kind::Seq(values)) => values.first().map(|v| v.to_json()),
                            _ => None,
                        })
                });
            let Some(value) = explicit else {
                continue;
            };
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            if !text.contains(['\r', '\n']) {
                answer.headers.push((name, literal(text)));
            }
        }
    }
}
