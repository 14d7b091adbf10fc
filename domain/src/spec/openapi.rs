//! OpenAPI mode: every operation of an OpenAPI (or Swagger 2.0) document becomes an
//! endpoint (`{id}` → `:id`) answering the response its `operationId` names in the mocks file.

use super::read::{self, Key, Parsed, Reader, suggest};
use super::tree::{Kind, Node};
use super::{Endpoint, Format, Limits, Method, PathPattern, Response, Spec, yaml};
use crate::Diagnostic;

/// The operation keys of an OpenAPI path item.
const OPERATIONS: [Method; 8] = [
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

fn operations(root: &Node, mocks: &Node, limits: &Limits, parsed: &mut Parsed) -> Option<Spec> {
    let paths = match &root.kind {
        Kind::Map(entries) => entries
            .iter()
            .rev()
            .find(|(key, _)| key.key_name().as_deref() == Some("paths"))
            .map(|(_, value)| value.as_ref()),
        _ => None,
    };
    let Some(paths) = paths.filter(|paths| matches!(paths.kind, Kind::Map(_))) else {
        parsed.diagnostics.push(Diagnostic::error(
            root.line,
            root.column,
            "the OpenAPI document needs a `paths` map",
        ));
        return None;
    };
    let Kind::Map(path_entries) = &paths.kind else {
        return None;
    };
    let mocks = mock_entries(mocks);
    let mut used = vec![false; mocks.len()];
    let mut operation_ids: Vec<String> = Vec::new();
    let mut spec = Spec::default();
    let mut item = 0_u32;
    for (path_node, path_item) in path_entries {
        let Some(raw_path) = path_node.key_name() else {
            continue;
        };
        let Kind::Map(operations) = &path_item.kind else {
            continue;
        };
        for (method_node, operation) in operations {
            let Some(method) = method_node
                .key_name()
                .and_then(|name| Method::parse(&name))
                .filter(|method| OPERATIONS.contains(method))
            else {
                continue;
            };
            if item as usize >= limits.max_items {
                parsed.diagnostics.push(Diagnostic::error(
                    method_node.line,
                    method_node.column,
                    format!(
                        "the document has more than {} operations; larger specs are refused",
                        limits.max_items
                    ),
                ));
                return Some(spec);
            }
            let display = format!(
                "paths[{raw_path:?}].{}",
                method.as_str().to_ascii_lowercase()
            );
            let mut no_patterns = 0;
            let mut reader = Reader {
                diagnostics: &mut parsed.diagnostics,
                places: &mut parsed.places,
                item,
                patterns_left: &mut no_patterns,
            };
            let endpoint_key = Key::new("endpoint", &display);
            reader.place(&endpoint_key, method_node);
            let path_text = braces_to_colons(&raw_path);
            let path_key = Key::new("endpoint.path", &format!("paths[{raw_path:?}]"));
            let path = match PathPattern::parse(&path_text) {
                Ok(path) => {
                    reader.place(&path_key, path_node);
                    path
                }
                Err(error) => {
                    reader.error(path_node, &path_key, error.message);
                    item += 1;
                    continue;
                }
            };
            let operation_id = match &operation.kind {
                Kind::Map(fields) => fields
                    .iter()
                    .rev()
                    .find(|(key, _)| key.key_name().as_deref() == Some("operationId"))
                    .and_then(|(_, value)| value.text()),
                _ => None,
            };
            let response = match &operation_id {
                None => {
                    reader.warning(
                        method_node,
                        &endpoint_key,
                        format!(
                            "{method} {raw_path} has no `operationId`, so no mock: it answers 200 \
                             with an empty body"
                        ),
                    );
                    Some(Response::default())
                }
                Some(id) => {
                    operation_ids.push(id.clone());
                    match mocks.iter().rposition(|(name, _, _)| name == id) {
                        Some(index) => {
                            used[index] = true;
                            let mock = mocks[index].2;
                            let key = Key::new("endpoint.response", &format!("mocks[{id:?}]"));
                            if mock.is_null() {
                                Some(Response::default())
                            } else {
                                reader.response(mock, &key)
                            }
                        }
                        None => {
                            reader.warning(
                                method_node,
                                &endpoint_key,
                                format!(
                                    "no mock for operationId `{id}` in the mocks file: {method} \
                                     {raw_path} answers 200 with an empty body"
                                ),
                            );
                            Some(Response::default())
                        }
                    }
                }
            };
            if let Some(response) = response {
                spec.endpoints.push(Endpoint {
                    item,
                    line: method_node.line,
                    host: None,
                    method,
                    path,
                    query: Vec::new(),
                    body_example: None,
                    response,
                    webhook: None,
                    rate_limit: None,
                    latency: None,
                    tag: None,
                });
            }
            item += 1;
        }
    }
    let ids: Vec<&str> = operation_ids.iter().map(String::as_str).collect();
    for ((name, key, _), used) in mocks.iter().zip(used) {
        if used {
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
    Some(spec)
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
