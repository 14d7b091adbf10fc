//! The fake refuses what the real DigitalOcean API refuses.

use http::Method;
use serde_json::{Value, json};

use crate::support::{APP_ID, TOKEN, ZONE, fake, raw};

fn records_path() -> String {
    format!("/domains/{ZONE}/records")
}

#[tokio::test]
async fn the_token_is_required() {
    let fake = fake().await;
    for token in [None, Some("dop_v1_wrong")] {
        let (status, body) = raw(&fake, Method::GET, &records_path(), token, None).await;
        assert_eq!(status, 401);
        assert_eq!(
            body,
            json!({"id": "unauthorized", "message": "Unable to authenticate you"})
        );
    }
    let (status, _) = raw(&fake, Method::GET, &records_path(), Some(TOKEN), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_records_are_refused() {
    let fake = fake().await;
    let create = |body: Value| {
        let fake = &fake;
        async move { raw(fake, Method::POST, &records_path(), Some(TOKEN), Some(body)).await }
    };
    for bad in [
        json!({"type": "CNAME", "name": "a", "data": "app.example.net", "ttl": 300}),
        json!({"type": "BOGUS", "name": "a", "data": "x"}),
        json!({"type": "A", "name": "a", "data": "not-an-ip"}),
        json!({"type": "AAAA", "name": "a", "data": "192.0.2.1"}),
        json!({"type": "A", "data": "192.0.2.1"}),
        json!({"type": "A", "name": "a b", "data": "192.0.2.1"}),
        json!({"type": "TXT", "name": "a", "data": ""}),
        json!({"type": "A", "name": "a", "data": "192.0.2.1", "ttl": 10}),
    ] {
        let (status, body) = create(bad.clone()).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(body["id"], "unprocessable_entity", "{bad}");
    }

    let (status, body) =
        create(json!({"type": "CNAME", "name": "a", "data": "app.example.net.", "ttl": 300})).await;
    assert_eq!(status, 201);
    assert_eq!(
        body["domain_record"]["data"], "app.example.net",
        "returned without the dot"
    );
    assert!(body["domain_record"]["id"].is_u64());
    for clash in [
        json!({"type": "CNAME", "name": "a", "data": "other.example.net."}),
        json!({"type": "A", "name": "a", "data": "192.0.2.1"}),
    ] {
        let (status, _) = create(clash.clone()).await;
        assert_eq!(status, 422, "a CNAME shares its name with nothing: {clash}");
    }
    let (status, _) = create(json!({"type": "A", "name": "*.w", "data": "192.0.2.1"})).await;
    assert_eq!(status, 201, "wildcards are names too");
    assert_eq!(fake.records().len(), 6);
}

#[tokio::test]
async fn records_update_and_delete_by_id() {
    let fake = fake().await;
    let id = fake.insert_foreign("A", "a", "192.0.2.1");
    let path = format!("{}/{id}", records_path());
    let (status, body) = raw(
        &fake,
        Method::PUT,
        &path,
        Some(TOKEN),
        Some(json!({"data": "192.0.2.2"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["domain_record"]["data"], "192.0.2.2");
    let (status, _) = raw(
        &fake,
        Method::PUT,
        &path,
        Some(TOKEN),
        Some(json!({"data": "nope"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = raw(&fake, Method::DELETE, &path, Some(TOKEN), None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = raw(&fake, Method::DELETE, &path, Some(TOKEN), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["id"], "not_found");
    let (status, _) = raw(
        &fake,
        Method::GET,
        "/domains/other.test/records",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 404, "an unknown domain");
}

#[tokio::test]
async fn listings_are_paginated_with_links_and_a_total() {
    let fake = fake().await;
    for i in 0..5 {
        fake.insert_foreign("A", &format!("h{i}"), "192.0.2.1");
    }
    let (status, body) = raw(
        &fake,
        Method::GET,
        &format!("{}?per_page=4", records_path()),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"]["total"], 9);
    assert_eq!(body["domain_records"].as_array().map(Vec::len), Some(4));
    let next = body["links"]["pages"]["next"].as_str().expect("next");
    assert!(
        next.starts_with("http://127.0.0.1:") && next.contains("page=2"),
        "{next}"
    );
    assert!(
        body["links"]["pages"]["last"]
            .as_str()
            .expect("last")
            .contains("page=3")
    );
    let (_, last) = raw(
        &fake,
        Method::GET,
        &format!("{}?per_page=4&page=3", records_path()),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(last["domain_records"].as_array().map(Vec::len), Some(1));
    assert!(last["links"]["pages"].get("next").is_none());
    assert!(last["links"]["pages"]["prev"].as_str().is_some());
    let (_, filtered) = raw(
        &fake,
        Method::GET,
        &format!("{}?name=h3.{ZONE}&type=A", records_path()),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(filtered["meta"]["total"], 1);
    assert_eq!(filtered["links"], json!({}));
}

#[tokio::test]
async fn bad_app_specs_are_refused() {
    let fake = fake().await;
    let path = format!("/apps/{APP_ID}");
    let (status, body) = raw(&fake, Method::GET, &path, Some(TOKEN), None).await;
    assert_eq!(status, 200);
    let spec = body["app"]["spec"].clone();
    let with_domains = |domains: Value| {
        let mut spec = spec.clone();
        spec["domains"] = domains;
        json!({"spec": spec})
    };
    for bad in [
        with_domains(json!([{"domain": "a.example.com"}, {"domain": "A.example.com"}])),
        with_domains(json!([{"domain": "*.example.com", "type": "ALIAS"}])),
        with_domains(json!([{"domain": "*.example.com", "type": "ALIAS", "wildcard": true}])),
        with_domains(json!([{"domain": "a.example.com", "wildcard": "yes"}])),
        with_domains(json!([{"domain": "a_b.example.com"}])),
        with_domains(json!([{"domain": "a.example.c"}])),
        with_domains(json!([{"domain": "-a.example.com"}])),
        with_domains(json!([{"domain": "a.example.com", "type": "SECONDARY"}])),
        with_domains(
            json!([{"domain": "a.example.com", "type": "PRIMARY"}, {"domain": "b.example.com", "type": "PRIMARY"}]),
        ),
        with_domains(json!([{"domain": "not a domain"}])),
        with_domains(json!("a.example.com")),
        json!({"nospec": true}),
        json!({"spec": {"region": "ams"}}),
    ] {
        let (status, body) = raw(&fake, Method::PUT, &path, Some(TOKEN), Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["id"], "invalid_argument");
    }
    assert_eq!(fake.app_spec(), spec, "nothing refused was stored");
    let good = with_domains(
        json!([{"domain": "example.com", "type": "ALIAS", "wildcard": true}, {"domain": "xn--bcher-kva.example.com."}, {"domain": "a--b.example.com"}]),
    );
    let (status, body) = raw(&fake, Method::PUT, &path, Some(TOKEN), Some(good.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(body["app"]["spec"], good["spec"]);
    let (status, _) = raw(&fake, Method::GET, "/apps/other", Some(TOKEN), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn injected_rate_limits_carry_their_headers() {
    let fake = fake().await;
    fake.fail_next_with(429, Some(7));
    let response = moclojer_ports::HttpClient::send(
        crate::support::http().as_ref(),
        moclojer_ports::HttpRequest {
            method: Method::GET,
            url: format!("{}{}", fake.base_url(), records_path()),
            headers: vec![("authorization".to_owned(), format!("Bearer {TOKEN}"))],
            body: Default::default(),
        },
    )
    .await
    .expect("answer");
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("7"));
    assert_eq!(response.header("ratelimit-remaining"), Some("0"));
    assert!(response.header("ratelimit-reset").is_some());
    let (status, _) = raw(&fake, Method::GET, &records_path(), Some(TOKEN), None).await;
    assert_eq!(status, 200, "one failure only");
}
