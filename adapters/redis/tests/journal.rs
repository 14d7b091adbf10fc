//! `RedisJournal` against a real Redis: the shared `RequestJournal` contract, one journal
//! for two replicas, the TTL of a host's key, reading past the first chunk, entries that
//! hold no record, and an unreachable Redis.
//!
//! The server comes from `MOCLOJER_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`). When it
//! is unset, each test prints one line to stderr and passes, except under `CI=true`, where
//! it fails naming the variable. Every test keys its journal under a prefix of its own
//! (a [`TestStream`]'s name) and deletes its keys afterwards.

mod common;

use common::{raw, raw_client};
use std::sync::Arc;
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::Value;
use moclojer_domain::Timestamp;
use moclojer_domain::journal::{JournalFilter, RequestRecord, Retention};
use moclojer_ports::{Clock, JournalQuery, PortErrorKind, RequestJournal, SystemClock};
use moclojer_redis::{RedisConfig, RedisJournal};
use moclojer_testkit::services::{TestStream, redis_url};
use moclojer_testkit::{Fixture, ManualClock, contracts, unique_suffix};
use tokio::time::Instant;

/// A journal on `url` keyed under `stream`'s name.
async fn journal(
    url: &str,
    stream: &TestStream,
    retention: Retention,
    clock: Arc<dyn Clock>,
) -> RedisJournal {
    RedisJournal::connect(&RedisConfig::new(url), retention, clock)
        .await
        .expect("connect")
        .with_key_prefix(format!("{}:", stream.name()))
}

fn record(at: Timestamp, host: &str, path: &str, status: u16) -> RequestRecord {
    moclojer_testkit::request_record(at, host, "GET", path, status)
}

fn host(what: &str) -> String {
    format!("{what}-{}.journal.test", unique_suffix())
}

fn paths(page: &moclojer_ports::JournalPage) -> Vec<&str> {
    page.entries
        .iter()
        .map(|e| e.record.path.as_str())
        .collect()
}

#[tokio::test]
async fn keeps_the_request_journal_contract() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal");
    let clock = ManualClock::new(Fixture::new().now);
    let journal = journal(
        &url,
        &stream,
        contracts::CONTRACT_RETENTION,
        Arc::new(clock.clone()),
    )
    .await;
    contracts::request_journal_contract(Arc::new(journal), clock).await;
}

#[tokio::test]
async fn two_replicas_see_one_journal() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal");
    let one = journal(&url, &stream, Retention::DEFAULT, Arc::new(SystemClock)).await;
    let other = journal(&url, &stream, Retention::DEFAULT, Arc::new(SystemClock)).await;
    let host = host("shared");
    let now = SystemClock.now();
    one.append(vec![record(now, &host, "/one", 200)])
        .await
        .expect("append through one");
    other
        .append(vec![record(now, &host, "/other", 200)])
        .await
        .expect("append through the other");

    let seen_by_other = other
        .list(&host, &JournalQuery::newest(10))
        .await
        .expect("list");
    let seen_by_one = one
        .list(&host, &JournalQuery::newest(10))
        .await
        .expect("list");
    assert_eq!(paths(&seen_by_other), ["/other", "/one"]);
    assert_eq!(seen_by_one, seen_by_other, "one list for both");

    // A cursor one replica gave works on the other.
    let older = one
        .list(
            &host,
            &JournalQuery {
                before: Some(seen_by_other.entries[0].id.clone()),
                ..JournalQuery::newest(10)
            },
        )
        .await
        .expect("list");
    assert_eq!(paths(&older), ["/one"]);

    other.clear(&host).await.expect("clear");
    let page = one
        .list(&host, &JournalQuery::newest(10))
        .await
        .expect("list");
    assert!(page.entries.is_empty(), "cleared for both");
}

#[tokio::test]
async fn a_hosts_key_expires_after_max_age() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal");
    let retention = Retention {
        max_records: 10,
        max_age: Duration::from_secs(90),
    };
    let journal = journal(&url, &stream, retention, Arc::new(SystemClock)).await;
    let host = host("ttl");
    let key = journal.key(&host);
    assert!(key.starts_with(stream.name()), "{key}");
    assert!(key.ends_with(&format!("journal:{host}")), "{key}");
    let client = raw_client(&url).await;
    let pttl = |client: Client, key: String| async move {
        raw(&client, "PTTL", vec![Value::from(key)])
            .await
            .as_i64()
            .expect("PTTL answers a number")
    };

    journal
        .append(vec![record(SystemClock.now(), &host, "/", 200)])
        .await
        .expect("append");
    let ttl = pttl(client.clone(), key.clone()).await;
    let max = i64::try_from(retention.max_age.as_millis()).expect("fits");
    assert!(ttl > 0 && ttl <= max, "PTTL {ttl} after append");

    // Every append refreshes it.
    raw(
        &client,
        "PEXPIRE",
        vec![Value::from(key.as_str()), Value::from("5000")],
    )
    .await;
    journal
        .append(vec![record(SystemClock.now(), &host, "/again", 200)])
        .await
        .expect("append");
    let ttl = pttl(client.clone(), key.clone()).await;
    assert!(
        ttl > 5_000 && ttl <= max,
        "PTTL {ttl} after a second append"
    );
    client.quit().await.ok();
}

#[tokio::test]
async fn listings_read_past_the_first_chunk() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal");
    let retention = Retention {
        max_records: 500,
        max_age: Duration::from_secs(3_600),
    };
    let journal = journal(&url, &stream, retention, Arc::new(SystemClock)).await;
    let host = host("many");
    let now = SystemClock.now();
    // 600 records, every 100th a 404: the oldest 100 (and the 404 among them) are trimmed.
    let all: Vec<RequestRecord> = (0..600)
        .map(|i| {
            let status = if i % 100 == 50 { 404 } else { 200 };
            record(now, &host, &format!("/r{i}"), status)
        })
        .collect();
    for batch in all.chunks(256) {
        journal.append(batch.to_vec()).await.expect("append");
    }

    let every = journal
        .list(&host, &JournalQuery::newest(1_000))
        .await
        .expect("list");
    assert_eq!(every.entries.len(), 500, "max_records, no more");
    assert_eq!(every.entries[0].record.path, "/r599");
    assert_eq!(every.entries[499].record.path, "/r100");
    assert_eq!(every.next, None);

    let not_found = JournalFilter {
        status: Some(404),
        ..JournalFilter::default()
    };
    let first = journal
        .list(
            &host,
            &JournalQuery {
                filter: not_found.clone(),
                ..JournalQuery::newest(3)
            },
        )
        .await
        .expect("list");
    assert_eq!(paths(&first), ["/r550", "/r450", "/r350"]);
    assert_eq!(first.next, Some(first.entries[2].id.clone()));
    let rest = journal
        .list(
            &host,
            &JournalQuery {
                before: first.next.clone(),
                filter: not_found,
                ..JournalQuery::newest(3)
            },
        )
        .await
        .expect("list");
    assert_eq!(paths(&rest), ["/r250", "/r150"]);
    assert_eq!(rest.next, None, "/r50 was trimmed");
}

/// 100,000 requests to one host: the stream stays near the cap (`MAXLEN ~`), a listing
/// trims it to exactly the cap, and lists the newest 1,000.
#[tokio::test]
async fn a_busy_host_stays_within_its_cap() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal-busy");
    let journal = journal(&url, &stream, Retention::DEFAULT, Arc::new(SystemClock)).await;
    let host = host("busy");
    let cap = Retention::DEFAULT.max_records;
    contracts::a_busy_host_keeps_its_cap(&journal, &SystemClock, &host, cap).await;
    let client = raw_client(&url).await;
    let length = raw(&client, "XLEN", vec![Value::from(journal.key(&host))])
        .await
        .as_i64()
        .expect("a length");
    assert_eq!(
        length,
        i64::try_from(cap).unwrap(),
        "the stream holds the cap"
    );
    raw(&client, "DEL", vec![Value::from(journal.key(&host))]).await;
}

#[tokio::test]
async fn an_entry_without_a_record_is_left_out() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "journal");
    let journal = journal(&url, &stream, Retention::DEFAULT, Arc::new(SystemClock)).await;
    let host = host("garbage");
    let now = SystemClock.now();
    journal
        .append(vec![record(now, &host, "/before", 200)])
        .await
        .expect("append");
    let client = raw_client(&url).await;
    let key = journal.key(&host);
    for fields in [["data", "{not json"], ["other", "{}"]] {
        let mut args = vec![Value::from(key.as_str()), Value::from("*")];
        args.extend(fields.map(Value::from));
        raw(&client, "XADD", args).await;
    }
    journal
        .append(vec![record(now, &host, "/after", 200)])
        .await
        .expect("append");
    let page = journal
        .list(&host, &JournalQuery::newest(10))
        .await
        .expect("entries without a record are no error");
    assert_eq!(paths(&page), ["/after", "/before"]);
    client.quit().await.ok();
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_and_retryably() {
    let started = Instant::now();
    let journal = RedisJournal::connect(
        &RedisConfig::new("redis://127.0.0.1:1"),
        Retention::DEFAULT,
        Arc::new(SystemClock),
    )
    .await
    .expect("connect returns while redis is down");
    assert!(started.elapsed() < Duration::from_secs(3));
    let retryable = |what: &str, kind: PortErrorKind, took: Duration| {
        assert_eq!(kind, PortErrorKind::Unavailable, "{what}");
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
    };
    let now = SystemClock.now();
    let t = Instant::now();
    let e = journal
        .append(vec![record(now, "down.test", "/", 200)])
        .await
        .expect_err("append");
    retryable("append", e.kind(), t.elapsed());
    let t = Instant::now();
    let e = journal
        .list("down.test", &JournalQuery::newest(10))
        .await
        .expect_err("list");
    retryable("list", e.kind(), t.elapsed());
    let t = Instant::now();
    let e = journal.clear("down.test").await.expect_err("clear");
    retryable("clear", e.kind(), t.elapsed());

    // A bad cursor is refused before Redis is asked.
    let bogus = JournalQuery {
        before: moclojer_ports::RecordId::parse("not-an-id"),
        ..JournalQuery::newest(10)
    };
    let e = journal.list("down.test", &bogus).await.expect_err("list");
    assert_eq!(e.kind(), PortErrorKind::Invalid);

    let bad = RedisJournal::connect(
        &RedisConfig::new("not a url"),
        Retention::DEFAULT,
        Arc::new(SystemClock),
    )
    .await;
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.kind()),
        Err(PortErrorKind::Invalid)
    );
}
