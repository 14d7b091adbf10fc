//! `CloudflareDns` against the fake Cloudflare API, through the egress guard; and the
//! fake itself, refusing what the real API refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_cloudflare::{ApiToken, CloudflareConfig, CloudflareDns, DEFAULT_TAG, RetryPolicy};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_ports::{
    DnsProvider, DnsRecord, HttpClient, HttpRequest, HttpResponse, PortErrorKind, PortResult,
    RecordKind,
};
use moclojer_testkit::contracts::dns_provider_contract;
use moclojer_testkit::fakes::cloudflare::FakeCloudflare;
use serde_json::{Value, json};

const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ZONE: &str = "moclojer.test";
const TOKEN: &str = "cf-test-token-Zx9q";

fn egress() -> Arc<dyn HttpClient> {
    Arc::new(Egress::new(EgressConfig::open()).expect("an egress guard"))
}

/// Quick retries, so the tests stay short.
fn config(fake: &FakeCloudflare, token: &str) -> CloudflareConfig {
    let mut config = CloudflareConfig::new(fake.zone_id(), ApiToken::new(token));
    config.api_base = fake.base_url();
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    config
}

async fn setup() -> (FakeCloudflare, CloudflareDns) {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let dns = CloudflareDns::new(config(&fake, TOKEN), egress()).expect("a provider");
    (fake, dns)
}

fn record(name: &str, kind: RecordKind, content: &str) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind,
        content: content.to_owned(),
        proxied: false,
        ttl: 300,
    }
}

fn kind_of<T: std::fmt::Debug>(result: PortResult<T>) -> PortErrorKind {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.kind(),
    }
}

#[tokio::test]
async fn the_dns_contract_holds() {
    let (fake, dns) = setup().await;
    let foreign = format!("foreign.{ZONE}");
    fake.insert_foreign(&record(&foreign, RecordKind::A, "192.0.2.10"));
    let before = fake.records();

    dns_provider_contract(Arc::new(dns), ZONE, &foreign).await;

    assert_eq!(
        fake.records(),
        before,
        "only the foreign record is left, untouched"
    );
}

#[tokio::test]
async fn listing_reads_every_page_and_sorts_by_name() {
    let (fake, _) = setup().await;
    for i in (0..12).rev() {
        fake.insert_foreign(&record(
            &format!("h{i:02}.{ZONE}"),
            RecordKind::A,
            "192.0.2.1",
        ));
    }
    let mut small_pages = config(&fake, TOKEN);
    small_pages.page_size = 5;
    let dns = CloudflareDns::new(small_pages, egress()).expect("a provider");

    let listed = dns.list_records().await.expect("list");

    let names: Vec<_> = listed.iter().map(|r| r.record.name.clone()).collect();
    let expected: Vec<_> = (0..12).map(|i| format!("h{i:02}.{ZONE}")).collect();
    assert_eq!(names, expected, "all 12 records over 3 pages, by name");
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET "))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (i, request) in pages.iter().enumerate() {
        assert!(
            request.contains(&format!("page={}&per_page=5", i + 1)),
            "{request}"
        );
    }
}

#[tokio::test]
async fn listing_follows_the_pages_the_server_chose() {
    let (fake, dns) = setup().await;
    fake.set_max_per_page(5);
    for i in 0..13 {
        fake.insert_foreign(&record(&format!("s{i:02}.{ZONE}"), RecordKind::Txt, "hi"));
    }
    let listed = dns.list_records().await.expect("list");
    assert_eq!(
        listed.len(),
        13,
        "a server-side cap on per_page loses nothing"
    );
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn a_429_waits_out_retry_after() {
    let (fake, dns) = setup().await;
    fake.fail_next_with(429, Some(1));
    let started = Instant::now();

    let made = dns
        .ensure_record(&record(&format!("r.{ZONE}"), RecordKind::A, "192.0.2.2"))
        .await
        .expect("succeeds after the wait");

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After is honoured"
    );
    assert!(made.ours);
    assert_eq!(fake.records().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (fake, dns) = setup().await;
    fake.fail_next_with(500, None);
    fake.fail_next_with(503, None);

    let made = dns
        .ensure_record(&record(
            &format!("r.{ZONE}"),
            RecordKind::Cname,
            "app.example.net",
        ))
        .await
        .expect("succeeds after two failures");

    assert_eq!(made.record.content, "app.example.net");
    assert_eq!(fake.records().len(), 1);
    // two failures, then the name lookup and the create
    assert_eq!(fake.request_count(), 4, "{:?}", fake.requests());
}

#[tokio::test]
async fn persistent_server_errors_are_unavailable_after_bounded_attempts() {
    let (fake, dns) = setup().await;
    for _ in 0..10 {
        fake.fail_next_with(502, None);
    }
    let started = Instant::now();

    assert_eq!(
        kind_of(dns.list_records().await),
        PortErrorKind::Unavailable
    );
    assert_eq!(fake.request_count(), 4, "max_attempts calls, no more");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn persistent_rate_limits_are_unavailable_after_bounded_attempts() {
    let (fake, dns) = setup().await;
    for _ in 0..10 {
        fake.fail_next_with(429, Some(0));
    }
    let error = dns
        .list_records()
        .await
        .expect_err("rate limited throughout");
    assert_eq!(error.kind(), PortErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable());
    assert_eq!(fake.request_count(), 4, "max_attempts calls, no more");
}

#[tokio::test]
async fn records_not_ours_are_never_changed_or_removed() {
    let (fake, dns) = setup().await;
    let www = format!("www.{ZONE}");
    let person = fake.insert_foreign(&record(&www, RecordKind::Cname, "site.example.net"));
    let other_tool = fake.insert_with_comment(
        &record(&format!("api.{ZONE}"), RecordKind::A, "192.0.2.3"),
        Some("managed-by:someone-else"),
    );
    let before = fake.records();

    let same = record(&www, RecordKind::Cname, "site.example.net");
    assert_eq!(
        kind_of(dns.ensure_record(&same).await),
        PortErrorKind::Conflict
    );
    let moved = record(&www, RecordKind::Cname, "mine.example.net");
    assert_eq!(
        kind_of(dns.ensure_record(&moved).await),
        PortErrorKind::Conflict
    );
    let beside = record(&www, RecordKind::Txt, "hello");
    assert_eq!(
        kind_of(dns.ensure_record(&beside).await),
        PortErrorKind::Conflict
    );
    let api = record(&format!("api.{ZONE}"), RecordKind::A, "192.0.2.4");
    assert_eq!(
        kind_of(dns.ensure_record(&api).await),
        PortErrorKind::Conflict
    );
    assert_eq!(
        kind_of(dns.delete_record(&person).await),
        PortErrorKind::Conflict
    );
    assert_eq!(
        kind_of(dns.delete_record(&other_tool).await),
        PortErrorKind::Conflict
    );

    assert_eq!(fake.records(), before, "nothing changed");
    assert!(
        !fake.requests().iter().any(|r| r.starts_with("PATCH")
            || r.starts_with("PUT")
            || r.starts_with("DELETE")
            || r.starts_with("POST")),
        "no write was even tried: {:?}",
        fake.requests()
    );
    let listed = dns.list_records().await.expect("list");
    assert!(listed.iter().all(|r| !r.ours));
}

#[tokio::test]
async fn a_bad_token_is_unauthenticated_and_never_shown() {
    let (fake, _) = setup().await;
    let id = fake.insert_with_comment(
        &record(&format!("x.{ZONE}"), RecordKind::A, "192.0.2.5"),
        Some(DEFAULT_TAG),
    );
    let wrong = "wrong-token-Qq7";
    let dns = CloudflareDns::new(config(&fake, wrong), egress()).expect("a provider");

    let list = dns.list_records().await;
    let ensure = dns
        .ensure_record(&record(&format!("y.{ZONE}"), RecordKind::A, "192.0.2.6"))
        .await;
    let delete = dns.delete_record(&id).await;

    for (what, error) in [
        ("list", list.map(|_| ())),
        ("ensure", ensure.map(|_| ())),
        ("delete", delete),
    ] {
        let error = error.expect_err(what);
        assert_eq!(
            error.kind(),
            PortErrorKind::Unauthenticated,
            "{what}: {error}"
        );
        assert!(!format!("{error} {error:?}").contains(wrong));
    }
    assert_eq!(fake.records().len(), 1, "nothing changed");
    let shown = format!("{dns:?} {dns:#?} {:?}", config(&fake, wrong));
    assert!(
        !shown.contains(wrong),
        "the token is never formatted: {shown}"
    );
    assert!(!shown.contains(TOKEN));
}

/// Forwards to the egress guard, but loses the answer to the first POST (the record is
/// made; the caller sees a 502), as a dropped connection would.
#[derive(Debug)]
struct LosesFirstPostAnswer {
    inner: Arc<dyn HttpClient>,
    lost: AtomicBool,
}

#[async_trait]
impl HttpClient for LosesFirstPostAnswer {
    async fn send(&self, request: HttpRequest) -> PortResult<HttpResponse> {
        let is_post = request.method == http::Method::POST;
        let response = self.inner.send(request).await?;
        if is_post && !self.lost.swap(true, Ordering::SeqCst) {
            return Ok(HttpResponse {
                status: 502,
                headers: Vec::new(),
                body: Bytes::from_static(b"<html>bad gateway</html>"),
            });
        }
        Ok(response)
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_read_back() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let http = Arc::new(LosesFirstPostAnswer {
        inner: egress(),
        lost: AtomicBool::new(false),
    });
    let dns = CloudflareDns::new(config(&fake, TOKEN), http).expect("a provider");
    let wanted = record(&format!("lost.{ZONE}"), RecordKind::A, "192.0.2.7");

    let made = dns.ensure_record(&wanted).await.expect("ensure");

    assert_eq!(made.record, wanted);
    assert!(made.ours);
    let records = fake.records();
    assert_eq!(records.len(), 1, "one record, not two");
    assert_eq!(made.id, records[0].id);
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(
        posts, 2,
        "the retried POST met 'identical record already exists'"
    );
}

#[tokio::test]
async fn proxied_records_keep_cloudflares_automatic_ttl() {
    let (fake, dns) = setup().await;
    let mut wanted = record(&format!("p.{ZONE}"), RecordKind::Cname, "app.example.net");
    wanted.proxied = true;

    let made = dns.ensure_record(&wanted).await.expect("create");
    assert_eq!(made.record, wanted, "reported as asked");
    assert_eq!(fake.records()[0].ttl, 1, "stored as automatic");
    let again = dns.ensure_record(&wanted).await.expect("again");
    assert_eq!(again.id, made.id);
    assert!(
        !fake.requests().iter().any(|r| r.starts_with("PATCH")),
        "an unchanged proxied record is not rewritten"
    );

    let mut plain = wanted.clone();
    plain.proxied = false;
    plain.ttl = 120;
    let updated = dns.ensure_record(&plain).await.expect("update");
    assert_eq!(updated.id, made.id);
    assert_eq!(updated.record, plain);
    assert_eq!(fake.records()[0].ttl, 120);
    assert!(!fake.records()[0].proxied);
}

#[tokio::test]
async fn names_outside_the_zone_are_invalid_and_leave_nothing() {
    let (fake, dns) = setup().await;
    let outside = record("a.other.net", RecordKind::A, "192.0.2.8");
    assert_eq!(
        kind_of(dns.ensure_record(&outside).await),
        PortErrorKind::Invalid
    );
    assert!(fake.records().is_empty(), "{:?}", fake.records());
    let bad_ttl = DnsRecord {
        ttl: 5,
        ..record(&format!("t.{ZONE}"), RecordKind::A, "192.0.2.8")
    };
    assert_eq!(
        kind_of(dns.ensure_record(&bad_ttl).await),
        PortErrorKind::Invalid
    );
    let bad_ip = record(&format!("t.{ZONE}"), RecordKind::A, "not-an-address");
    assert_eq!(
        kind_of(dns.ensure_record(&bad_ip).await),
        PortErrorKind::Invalid
    );
}

#[tokio::test]
async fn deleting_absent_or_impossible_ids_succeeds() {
    let (fake, dns) = setup().await;
    dns.delete_record("0123456789abcdef0123456789abcdef")
        .await
        .expect("absent");
    let before = fake.request_count();
    dns.delete_record("../../zones").await.expect("not an id");
    dns.delete_record("").await.expect("empty");
    assert_eq!(
        fake.request_count(),
        before,
        "impossible ids never reach a URL"
    );
}

#[tokio::test]
async fn a_bad_configuration_is_refused() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let mut bad = config(&fake, TOKEN);
    bad.zone_id = "zone/../x".to_owned();
    assert_eq!(
        kind_of(CloudflareDns::new(bad, egress())),
        PortErrorKind::Invalid
    );
}

// --- the fake on its own -------------------------------------------------------------

async fn raw(
    fake: &FakeCloudflare,
    method: http::Method,
    rest: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = Vec::new();
    if let Some(auth) = auth {
        headers.push(("authorization".to_owned(), auth.to_owned()));
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let response = egress()
        .send(HttpRequest {
            method,
            url: format!(
                "{}/zones/{}/dns_records{rest}",
                fake.base_url(),
                fake.zone_id()
            ),
            headers,
            body,
        })
        .await
        .expect("the fake answers");
    let json = serde_json::from_slice(&response.body).expect("a JSON envelope");
    (response.status, json)
}

fn bearer() -> Option<&'static str> {
    Some("Bearer cf-test-token-Zx9q")
}

fn first_code(body: &Value) -> (i64, Option<i64>) {
    assert_eq!(body["success"], json!(false), "{body}");
    let error = &body["errors"][0];
    (
        error["code"].as_i64().expect("a code"),
        error["error_chain"][0]["code"].as_i64(),
    )
}

#[tokio::test]
async fn the_fake_requires_the_bearer_token() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let (status, body) = raw(&fake, http::Method::GET, "", None, None).await;
    assert_eq!((status, first_code(&body).0), (400, 9106));
    let (status, body) = raw(&fake, http::Method::GET, "", Some("Basic abc"), None).await;
    assert_eq!((status, first_code(&body)), (400, (6003, Some(6111))));
    let (status, body) = raw(&fake, http::Method::GET, "", Some("Bearer nope"), None).await;
    assert_eq!((status, first_code(&body).0), (403, 10000));
    assert_eq!(body["errors"][0]["message"], "Authentication error");
    let (status, body) = raw(&fake, http::Method::GET, "", bearer(), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["result"], json!([]));
}

#[tokio::test]
async fn the_fake_validates_records() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let post = |body: Value| raw(&fake, http::Method::POST, "", bearer(), Some(body));
    let cases = [
        (json!({"type": "BOGUS", "name": "a", "content": "x"}), 9020),
        (json!({"name": "a", "content": "x"}), 9020),
        (
            json!({"type": "A", "name": "bad name!", "content": "192.0.2.1"}),
            9000,
        ),
        (json!({"type": "A", "content": "192.0.2.1"}), 9000),
        (json!({"type": "A", "name": "a"}), 9021),
        (
            json!({"type": "A", "name": "a", "content": "example.net"}),
            9005,
        ),
        (
            json!({"type": "AAAA", "name": "a", "content": "192.0.2.1"}),
            9006,
        ),
        (
            json!({"type": "CNAME", "name": "a", "content": "not a host"}),
            9007,
        ),
        (
            json!({"type": "TXT", "name": "a", "content": "x", "proxied": true}),
            9004,
        ),
        (
            json!({"type": "A", "name": "a", "content": "192.0.2.1", "ttl": 10}),
            9003,
        ),
        (
            json!({"type": "TXT", "name": "a", "content": "x", "comment": "c".repeat(101)}),
            9102,
        ),
    ];
    for (body, inner) in cases {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(
            (status, first_code(&answer)),
            (400, (1004, Some(inner))),
            "{body} -> {answer}"
        );
    }
    let (status, answer) = raw(
        &fake,
        http::Method::POST,
        "",
        bearer(),
        Some(json!(["not", "an", "object"])),
    )
    .await;
    assert_eq!((status, first_code(&answer).0), (400, 9207));
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn the_fake_places_names_as_the_real_api_does() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    for (given, stored) in [
        ("www", "www.moclojer.test"),
        ("@", "moclojer.test"),
        ("API.Moclojer.Test.", "api.moclojer.test"),
        ("a.other.net", "a.other.net.moclojer.test"),
    ] {
        let (status, answer) = raw(
            &fake,
            http::Method::POST,
            "",
            bearer(),
            Some(json!({"type": "TXT", "name": given, "content": "v", "ttl": 1})),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"]["name"], stored);
        assert_eq!(answer["result"]["zone_id"], ZONE_ID);
    }
}

#[tokio::test]
async fn the_fake_refuses_clashing_and_identical_records() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let post = |body: Value| raw(&fake, http::Method::POST, "", bearer(), Some(body));
    let (status, _) = post(json!({"type": "CNAME", "name": "c", "content": "a.example.net"})).await;
    assert_eq!(status, 200);
    for (body, code) in [
        (
            json!({"type": "CNAME", "name": "c", "content": "a.example.net"}),
            81058,
        ),
        (
            json!({"type": "CNAME", "name": "c", "content": "b.example.net"}),
            81053,
        ),
        (
            json!({"type": "A", "name": "c", "content": "192.0.2.1"}),
            81053,
        ),
        (json!({"type": "TXT", "name": "c", "content": "x"}), 81054),
    ] {
        let (status, answer) = post(body.clone()).await;
        assert_eq!((status, first_code(&answer).0), (400, code), "{body}");
    }
    let (status, _) = post(json!({"type": "A", "name": "d", "content": "192.0.2.1"})).await;
    assert_eq!(status, 200);
    let (status, answer) =
        post(json!({"type": "CNAME", "name": "d", "content": "x.example.net"})).await;
    assert_eq!(
        (status, first_code(&answer).0),
        (400, 81053),
        "a CNAME beside an A"
    );
    assert_eq!(fake.records().len(), 2);
}

#[tokio::test]
async fn the_fake_paginates_and_caps_per_page() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    for i in 0..12 {
        fake.insert_foreign(&record(&format!("n{i}.{ZONE}"), RecordKind::Txt, "v"));
    }
    let (_, page) = raw(
        &fake,
        http::Method::GET,
        "?page=3&per_page=1",
        bearer(),
        None,
    )
    .await;
    assert_eq!(
        page["result_info"],
        json!({"page": 3, "per_page": 5, "count": 2, "total_count": 12, "total_pages": 3})
    );
    assert_eq!(page["result"].as_array().map(Vec::len), Some(2));
    let (_, all) = raw(&fake, http::Method::GET, "?per_page=9000", bearer(), None).await;
    assert_eq!(all["result_info"]["per_page"], 5000);
    assert_eq!(all["result"].as_array().map(Vec::len), Some(12));
    let (_, named) = raw(
        &fake,
        http::Method::GET,
        "?name=n3.moclojer.test&type=TXT",
        bearer(),
        None,
    )
    .await;
    assert_eq!(named["result_info"]["total_count"], 1);
    let (status, answer) = raw(&fake, http::Method::GET, "?page=0", bearer(), None).await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn the_fake_answers_unknown_records_and_zones_as_the_api_does() {
    let fake = FakeCloudflare::start(ZONE_ID, ZONE, TOKEN).await;
    let absent = "/0123456789abcdef0123456789abcdef";
    for method in [http::Method::GET, http::Method::DELETE, http::Method::PATCH] {
        let body = (method == http::Method::PATCH).then(|| json!({"content": "x"}));
        let (status, answer) = raw(&fake, method, absent, bearer(), body).await;
        assert_eq!((status, first_code(&answer).0), (404, 81044));
    }
    let response = egress()
        .send(HttpRequest {
            method: http::Method::GET,
            url: format!(
                "{}/zones/ffffffffffffffffffffffffffffffff/dns_records",
                fake.base_url()
            ),
            headers: vec![("authorization".to_owned(), format!("Bearer {TOKEN}"))],
            body: Bytes::new(),
        })
        .await
        .expect("an answer");
    let answer: Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!((response.status, first_code(&answer).0), (400, 7003));
    fake.fail_next_with(429, Some(7));
    let response = egress()
        .send(HttpRequest {
            method: http::Method::GET,
            url: format!("{}/zones/{ZONE_ID}/dns_records", fake.base_url()),
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .expect("an answer");
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("7"));
}
