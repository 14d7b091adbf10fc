//! The `RequestJournal` contract. The journal under test is made with
//! [`CONTRACT_RETENTION`] and the [`ManualClock`] passed along; hosts are unique per run,
//! so a shared server (Redis) may hold other runs' records.

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::Timestamp;
use moclojer_domain::journal::{
    Difference, JournalFilter, MAX_RECORDED_BODY, Matched, NearMiss, RequestRecord, Retention,
};
use moclojer_ports::{
    Clock, JournalEntry, JournalPage, JournalQuery, PortErrorKind, RecordId, RequestJournal,
};

use crate::{ManualClock, unique_suffix};

/// The retention a journal under the contract is made with.
pub const CONTRACT_RETENTION: Retention = Retention {
    max_records: 40,
    max_age: Duration::from_secs(3_600),
};

/// Runs every rule of `RequestJournal` against `journal`, made with [`CONTRACT_RETENTION`]
/// and `clock`.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn request_journal_contract(journal: Arc<dyn RequestJournal>, clock: ManualClock) {
    let journal = journal.as_ref();
    let suffix = unique_suffix();
    let host = |name: &str| format!("{name}-{suffix}.journal.test");
    let (a, b) = (host("a"), host("b"));

    an_unknown_host_has_no_records(journal, &a).await;
    let written = records_list_newest_first_per_host(journal, &clock, &a, &b).await;
    pages_follow_the_cursor(journal, &a, &written).await;
    after_lists_only_newer_records(journal, &a, &written).await;
    filters_apply_across_pages(journal, &a).await;
    a_cursor_never_given_is_refused(journal, &a).await;
    a_full_record_reads_back(journal, &clock, &host("full")).await;
    a_host_keeps_at_most_its_records(journal, &clock, &host("busy")).await;
    old_records_are_never_listed(journal, &clock, &host("old")).await;
    clearing_forgets_one_host(journal, &clock, &a, &b).await;
}

/// How many requests [`a_busy_host_keeps_its_cap`] sends.
pub const BUSY_HOST_REQUESTS: usize = 100_000;

/// [`BUSY_HOST_REQUESTS`] requests to `host`, in batches of 500 as a mock server's writer
/// sends them, on a journal keeping `cap` records a host: the listing is the newest `cap`,
/// newest first, and nothing older is kept.
pub async fn a_busy_host_keeps_its_cap(
    journal: &dyn RequestJournal,
    clock: &dyn moclojer_ports::Clock,
    host: &str,
    cap: usize,
) {
    const BATCH: usize = 500;
    for first in (0..BUSY_HOST_REQUESTS).step_by(BATCH) {
        let batch: Vec<RequestRecord> = (first..first + BATCH)
            .map(|i| record(clock.now(), host, "GET", &format!("/n{i}"), 200))
            .collect();
        journal
            .append(batch)
            .await
            .unwrap_or_else(|e| panic!("append at {first}: {e}"));
    }
    let page = list(journal, host, &JournalQuery::newest(cap)).await;
    let paths: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.record.path.as_str())
        .collect();
    let newest: Vec<String> = (BUSY_HOST_REQUESTS - cap..BUSY_HOST_REQUESTS)
        .rev()
        .map(|i| format!("/n{i}"))
        .collect();
    assert_eq!(paths, newest, "the newest {cap}, newest first");
    assert_eq!(page.next, None, "nothing older is kept");
}

fn record(at: Timestamp, host: &str, method: &str, path: &str, status: u16) -> RequestRecord {
    crate::request_record(at, host, method, path, status)
}

async fn list(journal: &dyn RequestJournal, host: &str, query: &JournalQuery) -> JournalPage {
    journal
        .list(host, query)
        .await
        .unwrap_or_else(|e| panic!("list {host} with {query:?}: {e}"))
}

fn records(entries: &[JournalEntry]) -> Vec<RequestRecord> {
    entries.iter().map(|e| e.record.clone()).collect()
}

async fn an_unknown_host_has_no_records(journal: &dyn RequestJournal, host: &str) {
    let page = list(journal, host, &JournalQuery::newest(10)).await;
    assert_eq!(
        page,
        JournalPage::default(),
        "an unknown host lists nothing"
    );
    journal.append(vec![]).await.expect("appending nothing");
    journal.clear(host).await.expect("clearing an unknown host");
}

/// Appends six records to `a` and three to `b`, interleaved, in two batches; returns `a`'s,
/// newest first.
async fn records_list_newest_first_per_host(
    journal: &dyn RequestJournal,
    clock: &ManualClock,
    a: &str,
    b: &str,
) -> Vec<RequestRecord> {
    let now = clock.now();
    let mut written = Vec::new();
    let mut batch = Vec::new();
    for i in 0..9_u16 {
        let (host, method) = if i % 3 == 2 { (b, "PUT") } else { (a, "GET") };
        let status = if i % 2 == 0 { 200 } else { 404 };
        let r = record(
            now.plus_millis(i.into()),
            host,
            method,
            &format!("/p{i}"),
            status,
        );
        if host == a {
            written.push(r.clone());
        }
        batch.push(r);
        if i == 4 {
            journal
                .append(std::mem::take(&mut batch))
                .await
                .expect("append a batch");
        }
    }
    journal.append(batch).await.expect("append a batch");
    written.reverse();

    let page = list(journal, a, &JournalQuery::newest(100)).await;
    assert_eq!(
        records(&page.entries),
        written,
        "a host's records, newest first"
    );
    assert_eq!(page.next, None, "everything fits one page");
    let ids: std::collections::HashSet<&RecordId> = page.entries.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), written.len(), "ids are unique");
    let page = list(journal, b, &JournalQuery::newest(100)).await;
    assert_eq!(page.entries.len(), 3, "the other host's records");
    assert!(page.entries.iter().all(|e| e.record.host == b));
    written
}

async fn pages_follow_the_cursor(journal: &dyn RequestJournal, a: &str, written: &[RequestRecord]) {
    let mut seen = Vec::new();
    let mut query = JournalQuery::newest(4);
    let mut pages = 0;
    loop {
        let page = list(journal, a, &query).await;
        pages += 1;
        assert!(page.entries.len() <= 4, "a page holds at most its limit");
        seen.extend(records(&page.entries));
        match page.next {
            Some(next) => {
                assert_eq!(
                    Some(&next),
                    page.entries.last().map(|e| &e.id),
                    "the cursor is the last record's id"
                );
                query.before = Some(next);
            }
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(seen, written, "the pages hold every record once, in order");
    assert_eq!(pages, 2, "six records in pages of four");
}

async fn after_lists_only_newer_records(
    journal: &dyn RequestJournal,
    a: &str,
    written: &[RequestRecord],
) {
    let all = list(journal, a, &JournalQuery::newest(100)).await;
    let third = all.entries[2].id.clone();
    let newer = list(
        journal,
        a,
        &JournalQuery {
            after: Some(third),
            ..JournalQuery::newest(100)
        },
    )
    .await;
    assert_eq!(records(&newer.entries), written[..2], "only the newer two");
    let newest = all.entries[0].id.clone();
    let none = list(
        journal,
        a,
        &JournalQuery {
            after: Some(newest),
            ..JournalQuery::newest(100)
        },
    )
    .await;
    assert!(none.entries.is_empty(), "nothing is newer than the newest");
}

async fn filters_apply_across_pages(journal: &dyn RequestJournal, a: &str) {
    let not_found = JournalFilter {
        status: Some(404),
        ..JournalFilter::default()
    };
    let first = list(
        journal,
        a,
        &JournalQuery {
            filter: not_found.clone(),
            ..JournalQuery::newest(2)
        },
    )
    .await;
    assert_eq!(first.entries.len(), 2);
    assert!(first.entries.iter().all(|e| e.record.status == 404));
    let rest = list(
        journal,
        a,
        &JournalQuery {
            before: first.next.clone(),
            filter: not_found,
            ..JournalQuery::newest(10)
        },
    )
    .await;
    assert_eq!(rest.entries.len(), 1, "three of a's six records are 404");
    assert_eq!(rest.next, None);

    let by_prefix = list(
        journal,
        a,
        &JournalQuery {
            filter: JournalFilter {
                path_prefix: Some("/p7".to_owned()),
                method: Some("get".to_owned()),
                status: None,
            },
            ..JournalQuery::newest(10)
        },
    )
    .await;
    assert_eq!(
        records(&by_prefix.entries)
            .iter()
            .map(|r| r.path.as_str())
            .collect::<Vec<_>>(),
        ["/p7"]
    );
    let wrong_method = list(
        journal,
        a,
        &JournalQuery {
            filter: JournalFilter {
                method: Some("PUT".to_owned()),
                ..JournalFilter::default()
            },
            ..JournalQuery::newest(10)
        },
    )
    .await;
    assert!(wrong_method.entries.is_empty(), "a's records are all GET");
}

async fn a_cursor_never_given_is_refused(journal: &dyn RequestJournal, a: &str) {
    let bogus = RecordId::parse("never-given!").expect("an id's shape");
    for query in [
        JournalQuery {
            before: Some(bogus.clone()),
            ..JournalQuery::newest(10)
        },
        JournalQuery {
            after: Some(bogus.clone()),
            ..JournalQuery::newest(10)
        },
    ] {
        let refused = journal.list(a, &query).await;
        assert_eq!(
            refused.map_err(|e| e.kind()),
            Err(PortErrorKind::Invalid),
            "a cursor never given"
        );
    }
}

async fn a_full_record_reads_back(journal: &dyn RequestJournal, clock: &ManualClock, host: &str) {
    let mut full = record(clock.now(), host, "POST", "/users/%C3%A9", 405);
    full.query = "a=1&b=%20".to_owned();
    full.headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-many".to_owned(), "one".to_owned()),
        ("x-many".to_owned(), "two".to_owned()),
    ];
    full.body = "é".repeat(MAX_RECORDED_BODY / 2);
    full.body_truncated = true;
    full.matched = Some(Matched {
        endpoint: 3,
        line: 17,
    });
    full.near_misses = vec![NearMiss {
        endpoint: 1,
        line: 5,
        method: "GET".to_owned(),
        path: "/users/:id".to_owned(),
        differences: vec![Difference::Method {
            expected: "GET".to_owned(),
            got: "POST".to_owned(),
        }],
    }];
    full.client = None;
    journal.append(vec![full.clone()]).await.expect("append");
    let page = list(journal, host, &JournalQuery::newest(1)).await;
    assert_eq!(records(&page.entries), [full], "every field reads back");
}

async fn a_host_keeps_at_most_its_records(
    journal: &dyn RequestJournal,
    clock: &ManualClock,
    host: &str,
) {
    let cap = CONTRACT_RETENTION.max_records;
    let now = clock.now();
    let all: Vec<RequestRecord> = (0..cap + 15)
        .map(|i| record(now, host, "GET", &format!("/n{i}"), 200))
        .collect();
    for batch in all.chunks(7) {
        journal.append(batch.to_vec()).await.expect("append");
    }
    let page = list(journal, host, &JournalQuery::newest(1_000)).await;
    let mut newest: Vec<RequestRecord> = all[all.len() - cap..].to_vec();
    newest.reverse();
    assert_eq!(
        records(&page.entries),
        newest,
        "the newest max_records, no more"
    );
}

async fn old_records_are_never_listed(
    journal: &dyn RequestJournal,
    clock: &ManualClock,
    host: &str,
) {
    let age = i64::try_from(CONTRACT_RETENTION.max_age.as_millis()).expect("fits");
    let now = clock.now();
    let stale = record(now.plus_millis(-age - 1_000), host, "GET", "/stale", 200);
    let fresh = record(now, host, "GET", "/fresh", 200);
    journal
        .append(vec![stale, fresh.clone()])
        .await
        .expect("append");
    let page = list(journal, host, &JournalQuery::newest(10)).await;
    assert_eq!(
        records(&page.entries),
        [fresh],
        "a record older than the age is not listed"
    );
    clock.advance(CONTRACT_RETENTION.max_age + Duration::from_secs(1));
    let page = list(journal, host, &JournalQuery::newest(10)).await;
    assert!(page.entries.is_empty(), "records age out");
}

async fn clearing_forgets_one_host(
    journal: &dyn RequestJournal,
    clock: &ManualClock,
    a: &str,
    b: &str,
) {
    // The clock has moved past the earlier records' age: new ones for both hosts.
    let now = clock.now();
    let kept = record(now, b, "GET", "/kept", 200);
    journal
        .append(vec![record(now, a, "GET", "/gone", 200), kept.clone()])
        .await
        .expect("append");
    journal.clear(a).await.expect("clear");
    let page = list(journal, a, &JournalQuery::newest(10)).await;
    assert!(page.entries.is_empty(), "a cleared host lists nothing");
    let page = list(journal, b, &JournalQuery::newest(10)).await;
    assert_eq!(
        records(&page.entries),
        [kept],
        "another host keeps its records"
    );
}
