//! A mock's text as the store holds it: its items as JSON, each `endpoint`, `websocket`
//! and `resource` with the mock's host, rendered one item per line.

use moclojer_domain::spec;
use serde_json::Value;

/// Why a spec's text could not be turned into items with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemsError {
    /// The text does not read (a diagnostic of the YAML reader).
    Read(moclojer_domain::Diagnostic),
    /// The text reads, but not as a list of items.
    NotAList,
}

/// The spec `source` as JSON items, with `host` set in every `endpoint` and `websocket`
/// map (first among its keys; the author's `host` is dropped). An empty document is no
/// items.
pub(crate) fn items_with_host(source: &str, host: &str) -> Result<Vec<Value>, ItemsError> {
    let items = match spec::yaml_to_json(source).map_err(ItemsError::Read)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(ItemsError::NotAList),
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut fields) => {
                for kind in ["endpoint", "websocket", "resource"] {
                    if let Some(Value::Object(inner)) = fields.get_mut(kind) {
                        let mut hosted = serde_json::Map::with_capacity(inner.len() + 1);
                        hosted.insert("host".to_owned(), Value::String(host.to_owned()));
                        hosted.extend(
                            std::mem::take(inner)
                                .into_iter()
                                .filter(|(name, _)| name != "host"),
                        );
                        *inner = hosted;
                    }
                }
                Value::Object(fields)
            }
            other => other,
        })
        .collect())
}

/// Items as the store writes them: a JSON array, one item per line, ending with a newline.
pub(crate) fn render<'a>(items: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::from("[");
    let mut first = true;
    for item in items {
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        out.push_str(&item.to_string());
    }
    out.push_str(if first { "]\n" } else { "\n]\n" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_injected_first_and_replace_the_authors() {
        let source = "- endpoint:\n    path: /a\n    host: evil.example.com\n- websocket:\n    path: /ws\n- other: 1\n";
        let items = items_with_host(source, "a-b.test").unwrap();
        assert_eq!(
            render(&items),
            "[\n{\"endpoint\":{\"host\":\"a-b.test\",\"path\":\"/a\"}},\n{\"websocket\":{\"host\":\"a-b.test\",\"path\":\"/ws\"}},\n{\"other\":1}\n]\n"
        );
    }

    #[test]
    fn empty_and_odd_documents() {
        assert_eq!(items_with_host("", "h.test"), Ok(vec![]));
        assert_eq!(render(&[]), "[]\n");
        assert_eq!(
            items_with_host("endpoint: {}", "h.test"),
            Err(ItemsError::NotAList)
        );
        assert!(matches!(
            items_with_host("- [", "h.test"),
            Err(ItemsError::Read(_))
        ));
    }

    #[test]
    fn yaml_1_1_scalars_are_kept() {
        let items = items_with_host(
            "- endpoint:\n    path: /a\n    response:\n      body: {on: yes, n: 0x10, f: 1e3}\n",
            "h.test",
        )
        .unwrap();
        assert_eq!(
            items[0]["endpoint"]["response"]["body"],
            serde_json::json!({"true": true, "n": 16, "f": 1000.0})
        );
    }
}
