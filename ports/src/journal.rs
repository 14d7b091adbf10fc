//! The request journal: the requests each host received, newest first, bounded by a
//! [`Retention`](moclojer_domain::journal::Retention).
//!
//! A mock server appends records in batches; the api lists a host's records page by page
//! (a cursor is a record's id) and follows new ones (`after`). Ids are the journal's own:
//! opaque to callers, ordered within a host by arrival. No record older than the retention's
//! age is ever listed, and a host never holds more than its `max_records`.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use moclojer_domain::Timestamp;
use moclojer_domain::journal::{JournalFilter, RequestRecord};

use crate::PortResult;

/// The most records one listing returns.
pub const MAX_JOURNAL_PAGE: usize = 1_000;

/// A record's id in a journal: opaque, at most 64 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId(String);

impl RecordId {
    /// `raw` when it can be an id (1 to 64 printable ASCII characters, no space); a cursor
    /// from outside is checked this way before a journal sees it.
    pub fn parse(raw: &str) -> Option<Self> {
        let fits = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        fits.then(|| Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record with the id its journal gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// The journal's id of the record.
    pub id: RecordId,
    /// The record.
    pub record: RequestRecord,
}

/// Which of a host's records to list: newest first, only those older than `before` and
/// newer than `after` when given, at most `limit` (capped at [`MAX_JOURNAL_PAGE`]), and
/// only those `filter` admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalQuery {
    /// Only records older than this one (the previous page's `next`).
    pub before: Option<RecordId>,
    /// Only records newer than this one (the newest a follower has seen).
    pub after: Option<RecordId>,
    /// The most records returned.
    pub limit: usize,
    /// What a record must be to be listed.
    pub filter: JournalFilter,
}

impl JournalQuery {
    /// The newest `limit` records, unfiltered.
    pub fn newest(limit: usize) -> Self {
        Self {
            before: None,
            after: None,
            limit,
            filter: JournalFilter::default(),
        }
    }

    /// The limit, capped at [`MAX_JOURNAL_PAGE`].
    pub fn capped_limit(&self) -> usize {
        self.limit.min(MAX_JOURNAL_PAGE)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JournalPage {
    /// The records, newest first.
    pub entries: Vec<JournalEntry>,
    /// The cursor of the next (older) page; `None` when there is none.
    pub next: Option<RecordId>,
}

/// Where the requests mocks received are kept.
#[async_trait]
pub trait RequestJournal: Debug + Send + Sync + 'static {
    /// Appends `records`, each under its `host`, in the order given (the last is the
    /// newest). A host's oldest records beyond the retention go.
    ///
    /// # Errors
    /// When the journal cannot be written; nothing is appended then, or only a prefix.
    async fn append(&self, records: Vec<RequestRecord>) -> PortResult<()>;

    /// A page of `host`'s records, as `query` asks.
    ///
    /// # Errors
    /// `Invalid` for a cursor this journal never gave; others when it cannot be read.
    async fn list(&self, host: &str, query: &JournalQuery) -> PortResult<JournalPage>;

    /// Forgets every record of `host`.
    ///
    /// # Errors
    /// When the journal cannot be written.
    async fn clear(&self, host: &str) -> PortResult<()>;
}

/// The page `query` wants from `candidates`: a host's records newest first, already
/// limited to those between the query's cursors. Records older than `oldest_kept` and
/// those the filter refuses are skipped; `next` is set when one more record would be
/// listed after the page.
pub fn take_page(
    candidates: impl IntoIterator<Item = JournalEntry>,
    query: &JournalQuery,
    oldest_kept: Timestamp,
) -> JournalPage {
    let limit = query.capped_limit();
    let mut admitted = candidates.into_iter().filter(|e| {
        e.record.at.unix_millis() >= oldest_kept.unix_millis() && query.filter.admits(&e.record)
    });
    let entries: Vec<JournalEntry> = admitted.by_ref().take(limit).collect();
    let more = limit > 0 && admitted.next().is_some();
    let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
    JournalPage { entries, next }
}

/// The records one listing returns when the caller names no `limit`.
pub const DEFAULT_JOURNAL_PAGE: usize = 100;

impl JournalQuery {
    /// The query a listing's URL parameters ask for: `limit` (1 to [`MAX_JOURNAL_PAGE`],
    /// default [`DEFAULT_JOURNAL_PAGE`]), `before` and `after` (record ids), `method`,
    /// `status` and `path_prefix`. Unknown parameters are ignored; an empty value is no
    /// value. The api and the standalone server's admin listener read them this one way.
    ///
    /// # Errors
    /// A sentence naming the parameter whose value is wrong.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut query = Self::newest(DEFAULT_JOURNAL_PAGE);
        for (name, value) in params {
            if value.is_empty() {
                continue;
            }
            match name {
                "limit" => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_JOURNAL_PAGE).contains(n))
                        .ok_or_else(|| {
                            format!("limit must be a number from 1 to {MAX_JOURNAL_PAGE}")
                        })?;
                }
                "before" | "after" => {
                    let id = RecordId::parse(value)
                        .ok_or_else(|| format!("{name} must be a record id from a listing"))?;
                    if name == "before" {
                        query.before = Some(id);
                    } else {
                        query.after = Some(id);
                    }
                }
                "method" => {
                    if !value.bytes().all(|b| b.is_ascii_alphabetic()) || value.len() > 16 {
                        return Err("method must be an HTTP method such as GET".to_owned());
                    }
                    query.filter.method = Some(value.to_ascii_uppercase());
                }
                "status" => {
                    query.filter.status = Some(
                        value
                            .parse::<u16>()
                            .ok()
                            .filter(|s| (100..=599).contains(s))
                            .ok_or("status must be an HTTP status from 100 to 599")?,
                    );
                }
                "path_prefix" => query.filter.path_prefix = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok(query)
    }
}

/// The wire form of a record, as the api and the admin listener show it:
/// `{"id", "at", "method", "path", "query", "headers": {name: value}, "body",
/// "body_truncated", "status", "matched": {"endpoint", "line"} | null, "near_misses":
/// [{"endpoint", "line", "method", "path", "differences": [{"kind", …, "message"}]}],
/// "duration_ms", "client"}`. Header names are lowercase; a header sent more than once
/// shows its values joined by `, `.
pub fn entry_json(entry: &JournalEntry) -> serde_json::Value {
    let record = &entry.record;
    let mut headers = serde_json::Map::new();
    for (name, value) in &record.headers {
        match headers.get_mut(name) {
            Some(serde_json::Value::String(held)) => {
                held.push_str(", ");
                held.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
    }
    let near_misses: Vec<serde_json::Value> = record
        .near_misses
        .iter()
        .map(|miss| {
            let differences: Vec<serde_json::Value> = miss
                .differences
                .iter()
                .map(|d| {
                    let mut value = serde_json::to_value(d).unwrap_or_default();
                    if let Some(fields) = value.as_object_mut() {
                        fields.insert("message".to_owned(), d.describe().into());
                    }
                    value
                })
                .collect();
            serde_json::json!({
                "endpoint": miss.endpoint,
                "line": miss.line,
                "method": miss.method,
                "path": miss.path,
                "differences": differences,
            })
        })
        .collect();
    serde_json::json!({
        "id": entry.id.as_str(),
        "at": record.at,
        "method": record.method,
        "path": record.path,
        "query": record.query,
        "headers": headers,
        "body": record.body,
        "body_truncated": record.body_truncated,
        "status": record.status,
        "matched": record.matched,
        "near_misses": near_misses,
        "duration_ms": record.duration_ms(),
        "client": record.client,
    })
}

/// The wire form of a page: `{"requests": [entry, …], "next": id | null}` (see
/// [`entry_json`]).
pub fn page_json(page: &JournalPage) -> serde_json::Value {
    serde_json::json!({
        "requests": page.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next": page.next.as_ref().map(RecordId::as_str),
    })
}

#[cfg(test)]
mod tests {
    use moclojer_domain::journal::{Difference, Matched, NearMiss};

    use super::*;

    #[test]
    fn listing_parameters_are_read_one_way() {
        let query = JournalQuery::from_params([
            ("limit", "5"),
            ("before", "17-0"),
            ("method", "post"),
            ("status", "404"),
            ("path_prefix", "/users"),
            ("other", "ignored"),
            ("after", ""),
        ])
        .unwrap();
        assert_eq!(query.limit, 5);
        assert_eq!(query.before.as_ref().map(RecordId::as_str), Some("17-0"));
        assert_eq!(query.after, None);
        assert_eq!(query.filter.method.as_deref(), Some("POST"));
        assert_eq!(query.filter.status, Some(404));
        assert_eq!(query.filter.path_prefix.as_deref(), Some("/users"));
        assert_eq!(
            JournalQuery::from_params([]).unwrap().limit,
            DEFAULT_JOURNAL_PAGE
        );
        for (name, value, says) in [
            ("limit", "0", "limit"),
            ("limit", "1001", "limit"),
            ("limit", "many", "limit"),
            ("status", "99", "status"),
            ("status", "ok", "status"),
            ("method", "GET /x", "method"),
            ("before", "a b", "before"),
        ] {
            let error = JournalQuery::from_params([(name, value)]).unwrap_err();
            assert!(error.starts_with(says), "{name}={value}: {error}");
        }
    }

    #[test]
    fn the_wire_form_joins_repeated_headers_and_explains_near_misses() {
        let record = RequestRecord {
            at: Timestamp::from_unix_millis(1_700_000_000_000),
            host: "a-b.localhost".to_owned(),
            method: "GET".to_owned(),
            path: "/users".to_owned(),
            query: "page=2".to_owned(),
            headers: vec![
                ("accept".to_owned(), "text/plain".to_owned()),
                ("x-tag".to_owned(), "one".to_owned()),
                ("x-tag".to_owned(), "two".to_owned()),
            ],
            body: String::new(),
            body_truncated: false,
            status: 405,
            matched: None,
            near_misses: vec![NearMiss {
                endpoint: 1,
                line: 7,
                method: "POST".to_owned(),
                path: "/users".to_owned(),
                differences: vec![Difference::Method {
                    expected: "POST".to_owned(),
                    got: "GET".to_owned(),
                }],
            }],
            duration_us: 1_500,
            client: Some("10.0.0.1".to_owned()),
        };
        let entry = JournalEntry {
            id: RecordId::parse("42").unwrap(),
            record: record.clone(),
        };
        let json = entry_json(&entry);
        assert_eq!(json["id"], "42");
        assert_eq!(json["at"], "2023-11-14T22:13:20Z");
        assert_eq!(json["headers"]["x-tag"], "one, two");
        assert_eq!(json["headers"]["accept"], "text/plain");
        assert_eq!(json["duration_ms"], 1.5);
        assert_eq!(json["matched"], serde_json::Value::Null);
        assert!(json.get("host").is_none(), "the host is the mock's: {json}");
        let difference = &json["near_misses"][0]["differences"][0];
        assert_eq!(difference["kind"], "method");
        assert_eq!(
            difference["message"],
            "the method is GET; this endpoint answers POST"
        );
        assert_eq!(json["near_misses"][0]["line"], 7);

        let matched = RequestRecord {
            matched: Some(Matched {
                endpoint: 0,
                line: 1,
            }),
            ..record
        };
        let page = JournalPage {
            entries: vec![JournalEntry {
                id: RecordId::parse("43").unwrap(),
                record: matched,
            }],
            next: RecordId::parse("43"),
        };
        let json = page_json(&page);
        assert_eq!(json["requests"][0]["matched"]["line"], 1);
        assert_eq!(json["next"], "43");
        assert_eq!(
            page_json(&JournalPage::default()),
            serde_json::json!({"requests": [], "next": null})
        );
    }
}
