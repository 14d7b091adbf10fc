//! The request journal on a database file: `moclojer-testkit`'s contract, the cap under a
//! mock server's steady stream of batches, and rows behind the adapter's back.

use std::sync::Arc;

use moclojer_domain::Timestamp;
use moclojer_domain::journal::{RequestRecord, Retention};
use moclojer_ports::{Clock, JournalQuery, PortErrorKind, RecordId, RequestJournal};
use moclojer_sqlite::{SqliteConfig, SqliteJournal};
use moclojer_testkit::{Fixture, ManualClock, contracts};

use crate::helpers::{TempDb, raw};

/// A journal on a fresh database file, with `retention` and a manual clock.
async fn journal(file: &TempDb, retention: Retention) -> (SqliteJournal, ManualClock) {
    let clock = ManualClock::new(Fixture::new().now);
    let journal = SqliteJournal::connect(
        &SqliteConfig::new(file.url()),
        retention,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    (journal, clock)
}

fn record(at: Timestamp, host: &str, path: String) -> RequestRecord {
    RequestRecord {
        at,
        host: host.to_owned(),
        method: "GET".to_owned(),
        path,
        query: String::new(),
        headers: vec![("accept".to_owned(), "*/*".to_owned())],
        body: String::new(),
        body_truncated: false,
        status: 200,
        matched: None,
        near_misses: Vec::new(),
        duration_us: 80,
        client: Some("127.0.0.1".to_owned()),
    }
}

async fn rows_of(file: &TempDb, host: &str) -> i64 {
    let pool = raw(&file.path()).await;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM request_journal WHERE host = ?1")
        .bind(host)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

#[tokio::test]
async fn request_journal() {
    let file = TempDb::new();
    let (journal, clock) = journal(&file, contracts::CONTRACT_RETENTION).await;
    contracts::request_journal_contract(Arc::new(journal), clock).await;
}

/// A journal opened next to the repositories, on the same file, sees the schema they
/// brought up to date.
#[tokio::test]
async fn the_journal_shares_the_file_with_the_repositories() {
    let file = TempDb::new();
    let db = file.connect().await;
    let (journal, clock) = journal(&file, contracts::CONTRACT_RETENTION).await;
    let host = "shared.journal.test";
    journal
        .append(vec![record(clock.now(), host, "/".to_owned())])
        .await
        .unwrap();
    assert_eq!(rows_of(&file, host).await, 1);
    db.close().await;
}

/// 100,000 requests to one host, in batches of 500 as a mock server's writer sends them:
/// the table never holds more than the default retention's 1,000 rows for it, and the
/// listing is the newest 1,000.
#[tokio::test]
async fn a_busy_host_stays_within_its_cap() {
    let file = TempDb::new();
    let (journal, clock) = journal(&file, Retention::DEFAULT).await;
    let host = "busy.journal.test";
    let cap = Retention::DEFAULT.max_records;
    contracts::a_busy_host_keeps_its_cap(&journal, &clock, host, cap).await;
    let rows = rows_of(&file, host).await;
    assert!(rows <= i64::try_from(cap).unwrap(), "{rows} rows kept");
}

/// A row whose JSON is not a record is skipped; the others list as usual.
#[tokio::test]
async fn a_row_that_does_not_decode_is_skipped() {
    let file = TempDb::new();
    let (journal, clock) = journal(&file, contracts::CONTRACT_RETENTION).await;
    let host = "garbled.journal.test";
    let now = clock.now();
    journal
        .append(vec![record(now, host, "/old".to_owned())])
        .await
        .unwrap();
    let pool = raw(&file.path()).await;
    sqlx::query("INSERT INTO request_journal (host, at, record_json) VALUES (?1, ?2, '{oops')")
        .bind(host)
        .bind(now.unix_millis())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    journal
        .append(vec![record(now, host, "/new".to_owned())])
        .await
        .unwrap();
    let page = journal.list(host, &JournalQuery::newest(10)).await.unwrap();
    let paths: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.record.path.as_str())
        .collect();
    assert_eq!(paths, ["/new", "/old"]);
    assert_eq!(page.next, None);
}

/// Cursors are row ids: positive integers. Anything else is refused, not read as "none".
#[tokio::test]
async fn a_cursor_that_is_not_a_row_id_is_invalid() {
    let file = TempDb::new();
    let (journal, _clock) = journal(&file, contracts::CONTRACT_RETENTION).await;
    for raw in ["0", "-1", "abc", "18446744073709551616"] {
        let query = JournalQuery {
            before: Some(RecordId::parse(raw).unwrap()),
            ..JournalQuery::newest(10)
        };
        let refused = journal.list("any.journal.test", &query).await;
        assert_eq!(
            refused.map_err(|e| e.kind()),
            Err(PortErrorKind::Invalid),
            "{raw}"
        );
    }
}
