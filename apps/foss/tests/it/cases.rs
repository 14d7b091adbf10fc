//! Runs every `tests/cases/*.yml`: a spec, and requests with the responses they must get.
//!
//! ```yaml
//! name: what the case shows
//! format: yaml | edn | openapi      # default yaml; openapi takes `mocks:` too
//! mode: standalone | cloud          # default standalone
//! spec: |
//!   - endpoint: ...
//! exchanges:
//!   - request: {method: GET, path: /x?a=1, host: h, headers: {k: v}, body: "..."}
//!     response:
//!       status: 200
//!       headers: {content-type: application/json, x-absent: null}
//!       body: exact text
//!       json: {parsed: and compared}
//!       contains: [substrings]
//! ```

use std::path::Path;

use bytes::Bytes;
use moclojer_domain::spec::{self, Limits, Mode};
use moclojer_foss::Engine;
use serde_json::Value;

use crate::helpers::{Req, options, send};

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn build(case: &Value, name: &str) -> Engine {
    let mode = match text(case, "mode") {
        Some("cloud") => Mode::Cloud,
        _ => Mode::Standalone,
    };
    let source = text(case, "spec").unwrap_or_else(|| panic!("{name}: no spec"));
    let limits = Limits::default();
    let parsed = match text(case, "format") {
        Some("edn") => spec::parse_edn(source, &limits),
        Some("openapi") => spec::parse_openapi(source, text(case, "mocks").unwrap_or(""), &limits),
        _ => spec::parse_yaml(source, &limits),
    };
    let spec = parsed.unwrap_or_else(|d| panic!("{name}: spec refused: {d:#?}"));
    Engine::build(spec, options(mode)).unwrap_or_else(|d| panic!("{name}: engine refused: {d:#?}"))
}

fn request(value: &Value) -> Req {
    let mut req = Req::get(text(value, "path").unwrap_or("/"));
    if let Some(method) = text(value, "method") {
        req = req.method(method);
    }
    if let Some(host) = text(value, "host") {
        req = req.host(host);
    }
    if let Some(headers) = value.get("headers").and_then(Value::as_object) {
        for (name, v) in headers {
            req = req.header(name, v.as_str().unwrap_or(&v.to_string()));
        }
    }
    if let Some(body) = value.get("body") {
        req.body = Bytes::from(
            body.as_str()
                .map_or_else(|| body.to_string(), str::to_owned),
        );
    }
    if let Some(remote) = text(value, "remote") {
        req.remote = remote.parse().expect("remote address");
    }
    req
}

async fn run_case(path: &Path) -> Vec<String> {
    let source = std::fs::read_to_string(path).expect("read case");
    let case = spec::yaml_to_json(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = format!(
        "{} ({})",
        text(&case, "name").unwrap_or("unnamed"),
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    let engine = build(&case, &name);
    let mut failures = Vec::new();
    let exchanges = case
        .get("exchanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(!exchanges.is_empty(), "{name}: no exchanges");
    for (i, exchange) in exchanges.iter().enumerate() {
        let req = request(exchange.get("request").unwrap_or(&Value::Null));
        let label = format!("{name} #{i} {} {}", req.method, req.target);
        let res = send(&engine, req).await;
        let expected = exchange.get("response").unwrap_or(&Value::Null);
        if let Some(status) = expected.get("status").and_then(Value::as_u64)
            && u64::from(res.status) != status
        {
            failures.push(format!(
                "{label}: status {} instead of {status}; body {:?}",
                res.status, res.body
            ));
        }
        if let Some(headers) = expected.get("headers").and_then(Value::as_object) {
            for (header, want) in headers {
                let got = res.header(header);
                let ok = match want {
                    Value::Null => got.is_none(),
                    want => {
                        got == Some(
                            want.as_str()
                                .map_or_else(|| want.to_string(), str::to_owned)
                                .as_str(),
                        )
                    }
                };
                if !ok {
                    failures.push(format!(
                        "{label}: header {header} is {got:?}, expected {want}"
                    ));
                }
            }
        }
        if let Some(body) = text(expected, "body")
            && res.body != body
        {
            failures.push(format!("{label}: body {:?}, expected {body:?}", res.body));
        }
        if let Some(json) = expected.get("json") {
            match serde_json::from_str::<Value>(&res.body) {
                Ok(got) if got == *json => {}
                Ok(got) => failures.push(format!("{label}: JSON {got}, expected {json}")),
                Err(e) => failures.push(format!("{label}: body is not JSON ({e}): {:?}", res.body)),
            }
        }
        for needle in expected
            .get("contains")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let needle = needle.as_str().unwrap_or_default();
            if !res.body.contains(needle) {
                failures.push(format!("{label}: body {:?} lacks {needle:?}", res.body));
            }
        }
    }
    failures
}

#[tokio::test]
async fn spec_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "expected the case files, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for path in &paths {
        failures.extend(run_case(path).await);
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
