//! Every failure leaves in the one envelope; the documents and health routes answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, HELLO, assert_error};

async fn raw(
    api: &Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: reqwest::Body,
) -> (u16, Value) {
    let mut request = api
        .client
        .request(method, format!("{}{path}", api.base))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let text = response.text().await.expect("text");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}")),
    )
}

#[tokio::test]
async fn failures_before_the_handler_use_the_envelope() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());

    assert_error(&api.get("/api/v1/me", None).await, 401, "unauthenticated");
    assert_error(
        &api.get("/api/v1/me", Some("garbage")).await,
        401,
        "unauthenticated",
    );
    let forged = format!("mcj_{}", "0".repeat(64));
    assert_error(
        &api.get("/api/v1/me", Some(&forged)).await,
        401,
        "unauthenticated",
    );
    assert_error(
        &raw(
            &api,
            Method::POST,
            "/api/v1/mocks",
            token,
            Some("application/json"),
            "{\"workspace\": ".into(),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &raw(
            &api,
            Method::POST,
            "/api/v1/mocks",
            token,
            Some("text/plain"),
            "hello".into(),
        )
        .await,
        415,
        "unsupported_media_type",
    );
    assert_error(
        &api.get("/api/v1/nothing-here", token).await,
        404,
        "not_found",
    );
    assert_error(&api.get("/nothing", None).await, 404, "not_found");
    assert_error(
        &api.call(Method::PATCH, "/api/v1/me", token, None).await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &api.post("/api/v1/mocks", token, json!({"workspace": "alice"}))
            .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn oversize_bodies_get_413_declared_or_streamed_and_nothing_is_stored() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let huge = format!(
        "{{\"workspace\": \"alice\", \"name\": \"big\", \"content\": \"{}\"}}",
        "x".repeat(moclojer_api::MAX_BODY_BYTES)
    );
    assert_error(
        &raw(
            &api,
            Method::POST,
            "/api/v1/mocks",
            token,
            Some("application/json"),
            huge.clone().into(),
        )
        .await,
        413,
        "payload_too_large",
    );
    // The same without a Content-Length: chunked.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = huge
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    assert_error(
        &raw(
            &api,
            Method::POST,
            "/api/v1/mocks",
            token,
            Some("application/json"),
            streamed,
        )
        .await,
        413,
        "payload_too_large",
    );
    // Over the spec's own limit (1 MiB) but under the body limit.
    let spec = format!("# {}\n{HELLO}", "x".repeat(1 << 20));
    assert_error(
        &api.post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "big", "content": spec}),
        )
        .await,
        413,
        "payload_too_large",
    );
    let (_, list) = api.get("/api/v1/mocks", token).await;
    assert_eq!(
        list["workspaces"][0]["mocks"],
        json!([]),
        "nothing stored: {list}"
    );
}

#[tokio::test]
async fn documents_health_and_request_ids() {
    let api = Api::start().await;
    let (status, spec) = api.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/mocks",
        "/api/v1/mocks/{id}/publish",
        "/api/v1/orgs/{handle}/members",
        "/api/v1/validate",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
    assert!(
        spec["paths"]["/api/v1/mocks"]["post"]["responses"]["422"].is_object(),
        "error responses are documented"
    );
    let docs = api
        .client
        .get(format!("{}/api/v1/docs", api.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.text().await.expect("text").contains("openapi"));

    assert_eq!(
        api.get("/livez", None).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        api.get("/readyz", None).await,
        (200, json!({"status": "ok"}))
    );
    api.database.close().await;
    assert_error(&api.get("/readyz", None).await, 503, "unavailable");
    assert_eq!(
        api.get("/livez", None).await.0,
        200,
        "alive while not ready"
    );
    let down = api
        .client
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        down.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..]),
        "a 503 says when to come back"
    );

    let response = api
        .client
        .get(format!("{}/livez", api.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("livez");
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"trace-me-42"[..])
    );
}
