//! `DigitalOceanDns` over the fake: the contract, ownership, pagination, retries, errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moclojer_digitalocean::{DigitalOceanConfig, DigitalOceanDns};
use moclojer_ports::{DnsProvider, DnsRecord, PortErrorKind, RecordKind};
use moclojer_testkit::contracts::dns_provider_contract;
use moclojer_testkit::expect_kind;
use serde_json::Value;

use crate::support::{TOKEN, ZONE, config, dns, fake, http};

fn record(name: &str, kind: RecordKind, content: &str) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind,
        content: content.to_owned(),
        proxied: false,
        ttl: 300,
    }
}

fn named<'a>(records: &'a [Value], name: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["name"] == name).collect()
}

#[tokio::test]
async fn the_dns_contract_holds() {
    let fake = fake().await;
    let foreign = fake.insert_foreign("CNAME", "www", "elsewhere.example.org");
    dns_provider_contract(Arc::new(dns(&fake)), ZONE, &format!("www.{ZONE}")).await;

    let records = fake.records();
    let www = records
        .iter()
        .find(|r| r["id"] == foreign)
        .expect("foreign");
    assert_eq!(
        www["data"], "elsewhere.example.org",
        "the foreign record is untouched"
    );
    assert!(
        !records.iter().any(|r| r["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("_moclojer"))),
        "no ownership marker is left once our records are gone: {records:?}"
    );
}

#[tokio::test]
async fn ownership_is_kept_in_a_companion_txt_record() {
    let fake = fake().await;
    let dns = dns(&fake);
    let host = format!("hello-alice.{ZONE}");
    let created = dns
        .ensure_record(&record(&host, RecordKind::Cname, "app.example.net"))
        .await
        .expect("create");

    let records = fake.records();
    let stored = named(&records, "hello-alice");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["type"], "CNAME");
    assert_eq!(stored[0]["data"], "app.example.net");
    assert_eq!(stored[0]["ttl"], 300);
    assert_eq!(stored[0]["id"].to_string(), created.id);
    let markers = named(&records, "_moclojer.hello-alice");
    assert_eq!(markers.len(), 1, "{records:?}");
    assert_eq!(markers[0]["type"], "TXT");
    assert_eq!(
        markers[0]["data"],
        "heritage=moclojer,owner=moclojer,type=CNAME"
    );

    let listed = dns.list_records().await.expect("list");
    assert!(
        listed
            .iter()
            .all(|r| !r.record.name.starts_with("_moclojer")),
        "markers are not listed"
    );
    let ours = listed.iter().find(|r| r.id == created.id).expect("listed");
    assert!(ours.ours);
    assert_eq!(ours.record.content, "app.example.net");
    let ns = listed
        .iter()
        .find(|r| r.record.name == ZONE)
        .map(|r| r.ours);
    assert_eq!(
        ns, None,
        "NS and SOA records have no kind in the port and are not listed"
    );

    // A second deployment with its own tag sees the record as someone else's.
    let other = crate::support::dns(&fake)
        .with_owner("staging")
        .expect("tag");
    expect_kind(
        other
            .ensure_record(&record(&host, RecordKind::Cname, "x.example.net"))
            .await,
        PortErrorKind::Conflict,
        "another owner's record",
    );
    expect_kind(
        other.delete_record(&created.id).await,
        PortErrorKind::Conflict,
        "deleting another owner's record",
    );
    assert!(
        !other
            .list_records()
            .await
            .expect("list")
            .iter()
            .any(|r| r.ours),
        "nothing is ours under another tag"
    );

    let marker_id = markers[0]["id"].to_string();
    expect_kind(
        dns.delete_record(&marker_id).await,
        PortErrorKind::Conflict,
        "deleting a marker by id",
    );
    dns.delete_record(&created.id).await.expect("delete");
    assert!(
        fake.records()
            .iter()
            .all(|r| r["name"] != "hello-alice" && r["name"] != "_moclojer.hello-alice"),
        "the record and its marker are gone"
    );
}

#[tokio::test]
async fn wildcard_and_apex_names_convert_both_ways() {
    let fake = fake().await;
    let dns = dns(&fake);
    let wildcard = format!("*.alice.{ZONE}");
    let created = dns
        .ensure_record(&record(&wildcard, RecordKind::A, "203.0.113.7"))
        .await
        .expect("wildcard");
    let apex = dns
        .ensure_record(&record(ZONE, RecordKind::Txt, "moclojer-verify=abc"))
        .await
        .expect("apex");
    let records = fake.records();
    assert_eq!(named(&records, "*.alice")[0]["data"], "203.0.113.7");
    assert_eq!(named(&records, "_moclojer._wildcard.alice").len(), 1);
    let apex_txt: Vec<_> = named(&records, "@")
        .into_iter()
        .filter(|r| r["type"] == "TXT")
        .collect();
    assert_eq!(apex_txt.len(), 1);
    assert_eq!(named(&records, "_moclojer").len(), 1, "the apex's marker");

    let listed = dns.list_records().await.expect("list");
    let find = |id: &str| listed.iter().find(|r| r.id == id).expect("listed");
    assert_eq!(find(&created.id).record.name, wildcard);
    assert!(find(&created.id).ours);
    assert_eq!(find(&apex.id).record.name, ZONE);
    assert_eq!(find(&apex.id).record.kind, RecordKind::Txt);
    assert!(find(&apex.id).ours);
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].record.name <= w[1].record.name)
    );

    dns.delete_record(&created.id)
        .await
        .expect("delete wildcard");
    dns.delete_record(&apex.id).await.expect("delete apex");
    let left = fake.records();
    assert!(
        left.iter()
            .all(|r| !r["name"].as_str().unwrap_or_default().contains("_moclojer")),
        "{left:?}"
    );
    assert_eq!(left.len(), 4, "only the zone's NS and SOA records remain");
}

#[tokio::test]
async fn ensuring_again_sends_no_write_and_changes_update_in_place() {
    let fake = fake().await;
    let dns = dns(&fake);
    let host = format!("m-bob.{ZONE}");
    let first = dns
        .ensure_record(&record(&host, RecordKind::A, "198.51.100.1"))
        .await
        .expect("create");
    let before = fake.request_count();
    let again = dns
        .ensure_record(&record(&host, RecordKind::A, "198.51.100.1"))
        .await
        .expect("again");
    assert_eq!(again.id, first.id);
    let writes: Vec<_> = fake.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");

    let mut moved = record(&host, RecordKind::A, "198.51.100.2");
    moved.ttl = 10;
    let updated = dns.ensure_record(&moved).await.expect("update");
    assert_eq!(updated.id, first.id);
    assert_eq!(
        updated.record.ttl, 30,
        "a TTL under DigitalOcean's least is raised"
    );
    let records = fake.records();
    let stored = named(&records, "m-bob");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["data"], "198.51.100.2");
    assert_eq!(stored[0]["ttl"], 30);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with(&format!("PUT /v2/domains/{ZONE}/records/{}", first.id))),
        "an update is a PUT of the same record"
    );

    expect_kind(
        dns.ensure_record(&record("a.other-zone.test", RecordKind::A, "198.51.100.3"))
            .await,
        PortErrorKind::Invalid,
        "a name outside the zone",
    );
    expect_kind(
        dns.ensure_record(&record(
            &format!("m-carol.{ZONE}"),
            RecordKind::A,
            "not-an-ip",
        ))
        .await,
        PortErrorKind::Invalid,
        "data DigitalOcean refuses",
    );
    assert!(
        !fake
            .records()
            .iter()
            .any(|r| r["name"] == "_moclojer.m-carol"),
        "a refused record leaves no marker"
    );
}

#[tokio::test]
async fn foreign_records_are_never_changed() {
    let fake = fake().await;
    let dns = dns(&fake);
    let api_a = fake.insert_foreign("A", "api", "192.0.2.10");
    // A marker of another owner does not make it ours.
    fake.insert_foreign(
        "TXT",
        "_moclojer.api",
        "heritage=moclojer,owner=other,type=A",
    );
    fake.insert_foreign("MX", "mail", "mx.example.org");
    let before = fake.records();

    for attempt in [
        record(&format!("api.{ZONE}"), RecordKind::A, "198.51.100.9"),
        record(&format!("api.{ZONE}"), RecordKind::Cname, "app.example.net"),
        record(&format!("api.{ZONE}"), RecordKind::Txt, "hello"),
        record(&format!("mail.{ZONE}"), RecordKind::A, "198.51.100.9"),
    ] {
        expect_kind(
            dns.ensure_record(&attempt).await,
            PortErrorKind::Conflict,
            &format!("taking over {attempt:?}"),
        );
    }
    expect_kind(
        dns.delete_record(&api_a.to_string()).await,
        PortErrorKind::Conflict,
        "deleting a foreign record",
    );
    assert_eq!(fake.records(), before, "nothing changed");
    let listed = dns.list_records().await.expect("list");
    let api = listed
        .iter()
        .find(|r| r.id == api_a.to_string())
        .expect("listed");
    assert!(!api.ours);
    assert_eq!(api.record.name, format!("api.{ZONE}"));

    dns.delete_record("999999").await.expect("absent: fine");
    dns.delete_record("not-a-number").await.expect("no such id");
}

#[tokio::test]
async fn listing_reads_every_page() {
    let fake = fake().await;
    fake.set_max_per_page(2);
    for i in 0..7 {
        fake.insert_foreign("A", &format!("h{i}"), &format!("192.0.2.{i}"));
    }
    let listed = DigitalOceanDns::new(http(), &config(&fake, TOKEN), ZONE)
        .expect("dns")
        .list_records()
        .await
        .expect("list");
    let names: Vec<_> = listed
        .iter()
        .filter(|r| r.record.kind == RecordKind::A)
        .map(|r| r.record.name.clone())
        .collect();
    let wanted: Vec<_> = (0..7).map(|i| format!("h{i}.{ZONE}")).collect();
    assert_eq!(names, wanted, "all seven, by name");
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("GET /v2/domains/{ZONE}/records?")))
        .count();
    assert_eq!(pages, 6, "11 records, 2 a page: {:?}", fake.requests());
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let fake = fake().await;
    fake.insert_foreign("A", "one", "192.0.2.1");
    fake.fail_next_with(429, Some(1));
    let started = Instant::now();
    let listed = dns(&fake)
        .list_records()
        .await
        .expect("list after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_rate_limit_longer_than_allowed_fails_at_once() {
    let fake = fake().await;
    fake.fail_next_with(429, Some(3600));
    let started = Instant::now();
    expect_kind(
        dns(&fake).list_records().await,
        PortErrorKind::Unavailable,
        "an hour's rate limit",
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = fake().await;
    fake.fail_next_with(500, None);
    fake.fail_next_with(503, None);
    let host = format!("retry.{ZONE}");
    dns(&fake)
        .ensure_record(&record(&host, RecordKind::A, "198.51.100.4"))
        .await
        .expect("ensure after two failures");
    assert_eq!(named(&fake.records(), "retry").len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_are_unavailable_after_bounded_attempts() {
    let fake = fake().await;
    fake.fail_all_with(Some(502));
    let started = Instant::now();
    expect_kind(
        dns(&fake).list_records().await,
        PortErrorKind::Unavailable,
        "a server that keeps failing",
    );
    assert_eq!(fake.request_count(), 4, "max_attempts");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_bad_token_is_unauthenticated() {
    let fake = fake().await;
    let wrong = DigitalOceanDns::new(http(), &config(&fake, "dop_v1_wrong"), ZONE).expect("dns");
    expect_kind(
        wrong.list_records().await,
        PortErrorKind::Unauthenticated,
        "listing with a bad token",
    );
    expect_kind(
        wrong
            .ensure_record(&record(&format!("x.{ZONE}"), RecordKind::A, "198.51.100.5"))
            .await,
        PortErrorKind::Unauthenticated,
        "ensuring with a bad token",
    );
    assert_eq!(fake.request_count(), 2, "a 401 is not retried");
}

#[tokio::test]
async fn the_token_never_shows() {
    let fake = fake().await;
    let config: DigitalOceanConfig = config(&fake, TOKEN);
    let dns = dns(&fake);
    for text in [
        format!("{config:?}"),
        format!("{dns:?}"),
        format!("{:?}", crate::support::apps(&fake)),
    ] {
        assert!(!text.contains("secret"), "{text}");
    }
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let fake = fake().await;
    let mut bad = config(&fake, TOKEN);
    bad.base_url = "ftp://example.com".to_owned();
    assert!(DigitalOceanDns::new(http(), &bad, ZONE).is_err());
    assert!(DigitalOceanDns::new(http(), &config(&fake, TOKEN), "*.moclojer.test").is_err());
    assert!(DigitalOceanDns::new(http(), &config(&fake, TOKEN), "Bad Zone").is_err());
    assert!(dns(&fake).with_owner("Not OK").is_err());
}
