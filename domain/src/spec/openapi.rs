//! OpenAPI mode: every operation of an OpenAPI (or Swagger 2.0) document becomes an
//! endpoint (`{id}` → `:id`) answering the response its `operationId` names in the mocks file.

use super::read::{self, Key, Parsed, Reader, suggest};
use super::tree::{Entries, Kind, Node};
use super::{Endpoint, Format, Limits, Method, PathPattern, Response, Spec, yaml};
use crate::Diagnostic;

/// The operation keys of an OpenAPI path item.
pub(super) const OPERATIONS: [Method; 8] = [
    Method::Get,
    Method::Put,
    Method::Post,
    Method::Delete,
    Method::Options,
    Method::Head,
    Method::Patch,
    Method::Trace,
];

fn in_mocks(mut diagnostic: Diagnostic) -> Diagnostic {
    diagnostic.message = format!("mocks file: {}", diagnostic.message);
    diagnostic
}

pub(super) fn parse(document: &str, mocks: &str, limits: &Limits) -> Parsed {
    if mocks.len() > limits.max_bytes {
        return Parsed::fatal(in_mocks(read::too_large(mocks.len(), limits)));
    }
    let mocks_root = match yaml::read(mocks, limits) {
        Ok(root) => root,
        Err(diagnostic) => return Parsed::fatal(in_mocks(diagnostic)),
    };
    let mocks_root = match mocks_root {
        Some(root) if matches!(root.kind, Kind::Seq(_)) => {
            // A list of items: the mocks file is itself a moclojer spec.
            return read::read_spec(Some(&root), Format::Yaml, limits);
        }
        Some(root) if matches!(&root.kind, Kind::Map(entries) if !entries.is_empty()) => root,
        Some(root) if !root.is_null() && !matches!(root.kind, Kind::Map(_)) => {
            return Parsed::fatal(in_mocks(Diagnostic::error(
                root.line,
                root.column,
                "the mocks file must be a map of operationId to response, or a moclojer spec list",
            )));
        }
        // No mocks: the document is read as a moclojer spec, as the original does.
        _ => return read::parse_text(document, Format::Yaml, limits),
    };
    if document.len() > limits.max_bytes {
        return Parsed::fatal(read::too_large(document.len(), limits));
    }
    let root = match yaml::read(document, limits) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Parsed::fatal(Diagnostic::error(1, 1, "the OpenAPI document is empty"));
        }
        Err(diagnostic) => return Parsed::fatal(diagnostic),
    };
    let mut parsed = Parsed::default();
    let spec = operations(&root, &mocks_root, limits, &mut parsed);
    parsed.spec = spec;
    parsed
}

/// The mocks by operationId, with their key nodes.
fn mock_entries(mocks: &Node) -> Vec<(String, &Node, &Node)> {
    let Kind::Map(entries) = &mocks.kind else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(key, value)| Some((key.key_name()?, key.as_ref(), value.as_ref())))
        .collect()
}

/// Every operation of the document's `paths` as an endpoint, in document order.
fn operations(root: &Node, mocks: &Node, limits: &Limits, parsed: &mut Parsed) -> Option<Spec> {
    let Some(path_entries) = paths(root) else {
        parsed.diagnostics.push(Diagnostic::error(
            root.line,
            root.column,
            "the OpenAPI document needs a `paths` map",
        ));
        return None;
    };
    let mut state = Operations::new(mocks);
    for (path_node, path_item) in path_entries {
        let Some(raw_path) = path_node.key_name() else {
            continue;
        };
        let Kind::Map(operations) = &path_item.kind else {
            continue;
        };
        for (method_node, operation) in operations {
            let Some(method) = operation_method(method_node) else {
                continue;
            };
            if state.item as usize >= limits.max_items {
                parsed.diagnostics.push(Diagnostic::error(
                    method_node.line,
                    method_node.column,
                    format!(
                        "the document has more than {} operations; larger specs are refused",
                        limits.max_items
                    ),
                ));
                return Some(state.spec);
            }
            let at = Operation {
                raw_path: &raw_path,
                path_node,
                method,
                method_node,
                node: operation,
            };
            state.add(&at, parsed);
        }
    }
    state.warn_unused(parsed);
    Some(state.spec)
}

/// The entries of the document's `paths` map (its last `paths` key); `None` when there is no
/// such map.
fn paths(root: &Node) -> Option<&Entries> {
    let Kind::Map(entries) = &root.kind else {
        return None;
    };
    let (_, paths) = entries
        .iter()
        .rev()
        .find(|(key, _)| key.key_name().as_deref() == Some("paths"))?;
    match &paths.kind {
        Kind::Map(path_entries) => Some(path_entries),
        _ => None,
    }
}

/// The method a key of a path item names, when it is an operation key (not `parameters`, …).
fn operation_method(method_node: &Node) -> Option<Method> {
    method_node
        .key_name()
        .and_then(|name| Method::parse(&name))
        .filter(|method| OPERATIONS.contains(method))
}

/// The `operationId` of an operation (its last one), as text.
fn operation_id(operation: &Node) -> Option<String> {
    match &operation.kind {
        Kind::Map(fields) => fields
            .iter()
            .rev()
            .find(|(key, _)| key.key_name().as_deref() == Some("operationId"))
            .and_then(|(_, value)| value.text()),
        _ => None,
    }
}

/// One operation of the document: its path (as written and its key node), its method (and
/// key node) and the operation object.
#[derive(Debug, Clone, Copy)]
struct Operation<'n> {
    raw_path: &'n str,
    path_node: &'n Node,
    method: Method,
    method_node: &'n Node,
    node: &'n Node,
}

/// The endpoints made so far, the next item index, and what is known about the mocks:
/// which were used and which operationIds the document has.
#[derive(Debug)]
struct Operations<'m> {
    /// The mocks by operationId, with their key and value nodes.
    mocks: Vec<(String, &'m Node, &'m Node)>,
    used: Vec<bool>,
    operation_ids: Vec<String>,
    spec: Spec,
    item: u32,
}

impl<'m> Operations<'m> {
    fn new(mocks: &'m Node) -> Self {
        let mocks = mock_entries(mocks);
        Self {
            used: vec![false; mocks.len()],
            mocks,
            operation_ids: Vec::new(),
            spec: Spec::default(),
            item: 0,
        }
    }

    /// Adds the endpoint of one operation, which takes the next item index; an operation
    /// whose path or mock has an error gets its diagnostics and no endpoint.
    fn add(&mut self, at: &Operation<'_>, parsed: &mut Parsed) {
        let item = self.item;
        self.item += 1;
        let mut no_patterns = 0;
        let mut reader = Reader {
            diagnostics: &mut parsed.diagnostics,
            places: &mut parsed.places,
            item,
            patterns_left: &mut no_patterns,
        };
        let display = format!(
            "paths[{:?}].{}",
            at.raw_path,
            at.method.as_str().to_ascii_lowercase()
        );
        let endpoint_key = Key::new("endpoint", &display);
        reader.place(&endpoint_key, at.method_node);
        let path_key = Key::new("endpoint.path", &format!("paths[{:?}]", at.raw_path));
        let path = match PathPattern::parse(&braces_to_colons(at.raw_path)) {
            Ok(path) => {
                reader.place(&path_key, at.path_node);
                path
            }
            Err(error) => {
                reader.error(at.path_node, &path_key, error.message);
                return;
            }
        };
        let Some(response) = self.response(at, &mut reader, &endpoint_key) else {
            return;
        };
        self.spec.endpoints.push(Endpoint {
            item,
            line: at.method_node.line,
            host: None,
            method: at.method,
            path,
            query: Vec::new(),
            body_example: None,
            response,
            webhook: None,
            rate_limit: None,
            latency: None,
            tag: None,
            secret_headers: Vec::new(),
            rules: Vec::new(),
            sequence: None,
            scenario: None,
        });
    }

    /// The response of an operation: its mock's, or an empty 200 (with a warning) when it
    /// has no operationId or no mock; `None` when the mock has errors.
    fn response(
        &mut self,
        at: &Operation<'_>,
        reader: &mut Reader<'_>,
        endpoint_key: &Key,
    ) -> Option<Response> {
        let (method, raw_path) = (at.method, at.raw_path);
        let Some(id) = operation_id(at.node) else {
            reader.warning(
                at.method_node,
                endpoint_key,
                format!(
                    "{method} {raw_path} has no `operationId`, so no mock: it answers 200 with \
                     an empty body"
                ),
            );
            return Some(Response::default());
        };
        self.operation_ids.push(id.clone());
        let Some(index) = self.mocks.iter().rposition(|(name, _, _)| *name == id) else {
            reader.warning(
                at.method_node,
                endpoint_key,
                format!(
                    "no mock for operationId `{id}` in the mocks file: {method} {raw_path} \
                     answers 200 with an empty body"
                ),
            );
            return Some(Response::default());
        };
        self.used[index] = true;
        let mock = self.mocks[index].2;
        if mock.is_null() {
            return Some(Response::default());
        }
        reader.response(
            mock,
            &Key::new("endpoint.response", &format!("mocks[{id:?}]")),
        )
    }

    /// Warns about every mock no operation asked for, suggesting a near operationId.
    fn warn_unused(&self, parsed: &mut Parsed) {
        let ids: Vec<&str> = self.operation_ids.iter().map(String::as_str).collect();
        for ((name, key, _), used) in self.mocks.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let hint = suggest(name, &ids)
                .map(|near| format!("; did you mean `{near}`?"))
                .unwrap_or_default();
            parsed.diagnostics.push(in_mocks(Diagnostic::warning(
                key.line,
                key.column,
                format!("mock `{name}` matches no operationId in the document{hint}"),
            )));
        }
    }
}

/// `/pets/{id}` → `/pets/:id`, as the original rewrites every `{x}`.
fn braces_to_colons(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push(':');
                out.push_str(&rest[open + 1..open + close]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}
