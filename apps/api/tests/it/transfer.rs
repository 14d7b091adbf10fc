//! Import and export: documents in, moclojer YAML out; a mock's content out as YAML or
//! OpenAPI, and back in.

use moclojer_testkit::documents::{PET_CLINIC, SHOP_SPEC, WAREHOUSE};
use serde_json::{Value, json};

use crate::support::{Api, assert_error};

/// Sends `body` as the raw body of `POST /api/v1/mocks/import{query}`, with
/// `content_type` when given; the status and the JSON reply.
async fn import(
    api: &Api,
    token: Option<&str>,
    query: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut request = api
        .client
        .post(format!("{}/api/v1/mocks/import{query}", api.base))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}")),
    )
}

/// `GET /api/v1/mocks/{id}/export{query}`: the status, the content type and the text.
async fn export(api: &Api, token: &str, id: &str, query: &str) -> (u16, String, String) {
    let response = api
        .client
        .get(format!("{}/api/v1/mocks/{id}/export{query}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn imports_need_a_signed_in_caller_and_at_most_a_mebibyte() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    assert_error(
        &import(&api, None, "", None, PET_CLINIC).await,
        401,
        "unauthenticated",
    );
    assert_error(
        &import(&api, Some("mcj_forged"), "", None, PET_CLINIC).await,
        401,
        "unauthenticated",
    );
    let oversize = format!("openapi: 3.0.0\n#{}\n", "x".repeat(1024 * 1024));
    assert_error(
        &import(&api, token, "", None, oversize).await,
        413,
        "payload_too_large",
    );
    let bad = import(&api, token, "?format=wsdl", None, PET_CLINIC).await;
    assert_error(&bad, 400, "bad_request");
    assert_eq!(bad.1["error"]["details"]["field"], "format");
    assert_error(
        &import(&api, token, "", None, vec![0xff_u8, 0xfe, 0x00]).await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn broken_documents_answer_422_with_positions_in_them() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let broken = "openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n  /pets/{id}:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Pet'}\n";
    let refused = import(&api, token, "", Some("application/yaml"), broken).await;
    assert_error(&refused, 422, "invalid_spec");
    let diagnostics = &refused.1["error"]["details"]["diagnostics"];
    assert_eq!(
        diagnostics,
        &json!([{
            "line": 11, "column": 30, "severity": "error",
            "message": "`#/components/schemas/Pet` points to nothing in this document",
        }])
    );
    let syntax = import(
        &api,
        token,
        "",
        None,
        "{\"openapi\": \"3.0.0\",\n \"paths\": {\"/x\" {}}}",
    )
    .await;
    assert_error(&syntax, 422, "invalid_spec");
    let first = &syntax.1["error"]["details"]["diagnostics"][0];
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(2), Some(17))
    );
    let edn = import(
        &api,
        token,
        "?format=edn",
        None,
        "{:endpoint {:path \"/x\"\n  :response {:status 999}}}",
    )
    .await;
    assert_error(&edn, 422, "invalid_spec");
    let first = &edn.1["error"]["details"]["diagnostics"][0];
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(2), Some(22))
    );
}

#[tokio::test]
async fn documents_import_to_content_a_mock_takes() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    for (document, content_type) in [
        (PET_CLINIC, Some("application/yaml")),
        (WAREHOUSE, Some("application/json")),
        (PET_CLINIC, None),
        (PET_CLINIC, Some("application/x-www-form-urlencoded")),
    ] {
        let (status, reply) = import(&api, token, "", content_type, document).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["format"], "openapi");
        assert!(reply["diagnostics"].is_array(), "{reply}");
        let (status, checked) = api
            .post(
                "/api/v1/validate",
                token,
                json!({"content": reply["content"]}),
            )
            .await;
        assert_eq!(
            (status, &checked["valid"]),
            (200, &json!(true)),
            "{checked}"
        );
    }
    let (_, reply) = import(&api, token, "", None, PET_CLINIC).await;
    let content = reply["content"].as_str().expect("content");
    assert!(
        content.starts_with("# Imported from OpenAPI 3.0.3: Pet Clinic (2.4.0)\n"),
        "{content}"
    );
    assert!(
        content.contains("    path: /pets/:petId|int\n"),
        "{content}"
    );
    let (status, made) = api
        .post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "clinic", "content": content}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["content"], content);

    let edn = "; shop\n{:endpoint {:method :get :path \"/hi\" :host \"x.example.com\"\n :response {:body {:hi 1}}}}";
    for query in ["", "?format=edn", "?format=EDN"] {
        let (status, reply) = import(&api, token, query, Some("application/edn"), edn).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["format"], "edn");
        assert_eq!(
            reply["content"],
            "# Imported from EDN\n- endpoint:\n    method: GET\n    path: /hi\n    response:\n      body: '{\"hi\":1}'\n"
        );
        assert_eq!(
            reply["diagnostics"],
            json!([{
                "line": 2, "column": 44, "severity": "warning", "item": 0, "key": "endpoint.host",
                "message": "`host` is dropped: the hosted service answers every item on the mock's own host",
            }])
        );
    }
}

#[tokio::test]
async fn exports_give_the_content_or_an_openapi_document_that_imports_back() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let (status, made) = api
        .post(
            "/api/v1/mocks",
            Some(&alice.token),
            json!({"workspace": "alice", "name": "shop", "content": SHOP_SPEC}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id");

    for query in ["", "?format=yaml"] {
        let (status, content_type, text) = export(&api, &alice.token, id, query).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/yaml; charset=utf-8")
        );
        assert_eq!(text, SHOP_SPEC);
    }
    let (status, content_type, text) = export(&api, &alice.token, id, "?format=openapi").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json"),
        "{text}"
    );
    let document: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(document["openapi"], "3.0.3");
    assert_eq!(document["info"], json!({"title": "shop", "version": "1"}));
    assert_eq!(
        document["servers"][0]["url"],
        "http://shop-alice.localhost:8080"
    );
    assert_eq!(
        document["paths"]["/orders/{id}"]["get"]["parameters"][1],
        json!({"name": "expand", "in": "query", "required": true, "schema": {"type": "boolean"}})
    );

    let (status, reply) =
        import(&api, Some(&alice.token), "", Some("application/json"), text).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["diagnostics"], json!([]));
    let (status, again) = api
        .post(
            "/api/v1/mocks",
            Some(&alice.token),
            json!({"workspace": "alice", "name": "shop2", "content": reply["content"]}),
        )
        .await;
    assert_eq!(status, 201, "{again}");

    let (status, _, text) = export(&api, &bob.token, id, "?format=openapi").await;
    assert_eq!(status, 404, "{text}");
    let (status, _, text) = export(&api, &bob.token, id, "").await;
    assert_eq!(status, 404, "{text}");
    let (status, _, text) = export(&api, &alice.token, "not-a-uuid", "").await;
    assert_eq!(status, 404, "{text}");
    let (status, _, text) = export(&api, &alice.token, id, "?format=xml").await;
    assert_eq!(status, 400, "{text}");
    let unauthenticated = api.get(&format!("/api/v1/mocks/{id}/export"), None).await;
    assert_error(&unauthenticated, 401, "unauthenticated");
}
