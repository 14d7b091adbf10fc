//! The web interface at `/`: its files, `index.html` for its own routes, the api's paths
//! untouched, and a hint when it is not built.

use crate::support::Api;

async fn get(api: &Api, path: &str) -> (u16, String, String) {
    let response = api
        .client
        .get(format!("{}{path}", api.base))
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
    (status, content_type, response.text().await.expect("text"))
}

#[tokio::test]
async fn unbuilt_the_root_says_how_to_build_it() {
    for web_dir in [None, Some(std::path::PathBuf::from("no-such-web-dist"))] {
        let api = Api::start_with_web(web_dir).await;
        let (status, content_type, body) = get(&api, "/").await;
        assert_eq!(status, 404);
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert!(body.contains("cargo xtask web"), "{body}");
        // Other paths stay the api's: the error envelope.
        let (status, _, body) = get(&api, "/mocks/abc").await;
        assert_eq!(status, 404);
        assert!(body.contains("\"error\""), "{body}");
    }
}

#[tokio::test]
async fn built_it_serves_the_files_and_index_for_its_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html><p>web</p>").expect("write");
    std::fs::write(dir.path().join("app.js"), "console.log(1)").expect("write");
    let api = Api::start_with_web(Some(dir.path().to_path_buf())).await;

    let (status, content_type, body) = get(&api, "/").await;
    assert_eq!((status, body.as_str()), (200, "<!doctype html><p>web</p>"));
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let (status, _, body) = get(&api, "/app.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log(1)"));
    for route in ["/signin", "/mocks/0190f0e0-0000-7000-8000-000000000000"] {
        let (status, _, body) = get(&api, route).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "<!doctype html><p>web</p>"),
            "{route}"
        );
    }

    // The api keeps its paths.
    let (status, _, _) = get(&api, "/livez").await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&api, "/api/v1/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");
    let (status, _, body) = get(&api, "/api/v1/mocks").await;
    assert_eq!(status, 401);
    assert!(body.contains("\"error\""), "{body}");
}

#[tokio::test]
async fn the_files_carry_a_content_security_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html><p>web</p>").expect("write");
    let api = Api::start_with_web(Some(dir.path().to_path_buf())).await;
    for path in ["/", "/signin"] {
        let response = api
            .client
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .expect("send");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let policy = header("content-security-policy");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(
            policy.contains("connect-src 'self' http://*.localhost:8080;"),
            "the try-it panel reaches the mock hosts: {policy}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
    }
    // The api's own answers are not pages: no policy there.
    let response = api
        .client
        .get(format!("{}/livez", api.base))
        .send()
        .await
        .expect("send");
    assert!(response.headers().get("content-security-policy").is_none());
}

#[test]
fn the_policy_lets_the_page_reach_supabase_when_configured() {
    let policy = moclojer_api::web::content_security_policy(
        "https://*.moclojer.com",
        Some("https://abc.supabase.co"),
    );
    assert!(
        policy.contains("connect-src 'self' https://*.moclojer.com https://abc.supabase.co;"),
        "{policy}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_time_them() {
    // With the web interface built, `/metrics` is still the api's.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("write");
    let api = Api::start_with_web(Some(dir.path().to_path_buf())).await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let made = api.mock(&alice, "alice", "hello").await;
    let id = made["id"].as_str().expect("id");
    for _ in 0..2 {
        assert_eq!(api.get(&format!("/api/v1/mocks/{id}"), token).await.0, 200);
    }
    assert_eq!(api.get("/api/v1/mocks/not-a-mock", token).await.0, 404);
    let scraped = reqwest::get(format!("{}/metrics", api.base))
        .await
        .expect("scrape");
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.expect("text");
    let route = r#"route="/api/v1/mocks/{id}",method="GET""#;
    for line in [
        format!(r#"moclojer_api_requests_total{{{route},status="200"}} 2"#),
        format!(r#"moclojer_api_requests_total{{{route},status="404"}} 1"#),
        format!(r#"moclojer_api_request_duration_seconds_count{{{route}}} 3"#),
        r#"moclojer_api_requests_total{route="/api/v1/mocks",method="POST",status="201"} 1"#
            .to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(!text.contains(id), "an id is never a label");
}
