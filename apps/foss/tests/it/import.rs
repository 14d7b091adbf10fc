//! Imported documents, served: every operation of each OpenAPI fixture answers its
//! documented status with a body of the documented JSON type, and a mock exported to
//! OpenAPI and imported back answers every request as it did.
//!
//! The imports are checked in cloud mode; the engines serve them standalone, where an
//! item needs no host (the generator adds the mock's host before a cloud server sees it).

use moclojer_domain::spec::{self, ExportInfo, Format, Limits, Mode, Spec};
use moclojer_testkit::documents::{
    self, BodyKind, OPENAPI_DOCUMENTS, SHOP_SPEC, openapi_path, sample_target,
};

use crate::helpers::{Req, Res, engine_with, options, send};

/// Imports `document` and checks the YAML as the hosted service does.
fn imported(name: &str, document: &str) -> (String, Spec) {
    let limits = Limits::default();
    let (yaml, _) = spec::import_openapi(document, &limits)
        .unwrap_or_else(|d| panic!("{name} is refused: {d:#?}"));
    let (parsed, _) = spec::check(&yaml, Format::Yaml, Mode::Cloud, &limits)
        .unwrap_or_else(|d| panic!("{name} imports to an invalid spec:\n{yaml}\n{d:#?}"));
    (yaml, parsed)
}

#[track_caller]
fn assert_body(res: &Res, expected: BodyKind, what: &str) {
    let content_type = res.header("content-type").unwrap_or_default();
    match expected {
        BodyKind::Json(_) => {
            assert!(content_type.contains("json"), "{what}: {content_type}");
            assert_eq!(BodyKind::of(&res.json()), expected, "{what}: {}", res.body);
        }
        BodyKind::Text => {
            assert!(!content_type.contains("json"), "{what}: {content_type}");
            assert!(!res.body.is_empty(), "{what}: an empty body");
            assert!(
                serde_json::from_str::<serde_json::Value>(&res.body).is_err(),
                "{what}"
            );
        }
        BodyKind::Empty => {
            assert!(
                res.body.is_empty() || res.body == "null",
                "{what}: {}",
                res.body
            );
        }
    }
}

#[tokio::test]
async fn every_imported_operation_answers_as_documented() {
    let mut calls = 0;
    for (name, document) in OPENAPI_DOCUMENTS {
        let (yaml, parsed) = imported(name, document);
        let engine = engine_with(&yaml, options(Mode::Standalone));
        let documented = documents::documented(document);
        assert_eq!(parsed.endpoints.len(), documented.len(), "{name}:\n{yaml}");
        for operation in &documented {
            let endpoint = parsed
                .endpoints
                .iter()
                .find(|e| {
                    e.method.as_str() == operation.method && openapi_path(e) == operation.path
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: {} {} is not imported",
                        operation.method, operation.path
                    )
                });
            let target = sample_target(endpoint);
            let what = format!("{name}: {} {target}", operation.method);
            let res = send(&engine, Req::get(&target).method(&operation.method)).await;
            assert_eq!(res.status, operation.status, "{what}: {}", res.body);
            assert_body(&res, operation.body, &what);
            calls += 1;
        }
    }
    assert_eq!(calls, 8 + 9 + 6, "every operation of the three documents");
}

#[tokio::test]
async fn an_exported_mock_imported_back_answers_the_same() {
    let limits = Limits::default();
    let (original, _) =
        spec::check(SHOP_SPEC, Format::Yaml, Mode::Cloud, &limits).expect("the shop is valid");
    let info = ExportInfo {
        title: "shop",
        version: "1",
        server_url: Some("http://shop-alice.localhost:8080"),
    };
    let document = spec::export_openapi(&original, &info);
    let text = serde_json::to_string_pretty(&document).expect("JSON");
    let (yaml, back) = imported("the export", &text);
    assert_eq!(back.endpoints.len(), original.endpoints.len(), "{yaml}");
    let before = engine_with(SHOP_SPEC, options(Mode::Standalone));
    let after = engine_with(&yaml, options(Mode::Standalone));
    for endpoint in &original.endpoints {
        let target = sample_target(endpoint);
        let method = endpoint.method.as_str();
        let (want, got) = (
            send(&before, Req::get(&target).method(method)).await,
            send(&after, Req::get(&target).method(method)).await,
        );
        let what = format!("{method} {target}");
        assert_eq!(got.status, want.status, "{what}: {}", got.body);
        // Static JSON comes back compact: the same JSON, not the same spacing.
        match (
            serde_json::from_str::<serde_json::Value>(&want.body),
            serde_json::from_str::<serde_json::Value>(&got.body),
        ) {
            (Ok(want_json), Ok(got_json)) => assert_eq!(got_json, want_json, "{what}"),
            _ => assert_eq!(got.body, want.body, "{what}"),
        }
        for header in ["content-type", "location", "x-total-count"] {
            assert_eq!(got.header(header), want.header(header), "{what}: {header}");
        }
    }
}
