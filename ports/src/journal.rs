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
    async fn append(&self, records: &[RequestRecord]) -> PortResult<()>;

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
