//! [`RequestJournal`] on SQLite, for the all-in-one server: one row per record in the
//! `request_journal` table, the record as serde JSON.
//!
//! Ids are the rows' ids (as decimal text), so they order records across hosts too. An
//! append is one write transaction: the records go in in order, then each host it touched
//! loses its rows beyond the retention's cap and those older than its age. Listing reads a
//! host's rows newest first between the cursors, in chunks, until the page is full, never
//! more than the cap; records past the age are never listed, even before the next append
//! prunes them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use moclojer_domain::journal::{RequestRecord, Retention};
use moclojer_ports::{
    Clock, JournalEntry, JournalPage, JournalQuery, PortError, PortResult, RecordId,
    RequestJournal, take_page,
};
use moclojer_sql::{Backend, Embedded};
use sqlx::SqliteConnection;

use crate::SqliteConfig;
use crate::database::SqliteBackend;
use crate::error::db;

/// The fewest rows one read of a listing asks for.
const MIN_CHUNK: usize = 100;

const INSERT: &str = "INSERT INTO request_journal (host, at, record_json) VALUES (?1, ?2, ?3)";

/// Deletes the host's rows older than its newest `?2`.
const PRUNE_TO_CAP: &str = "DELETE FROM request_journal WHERE host = ?1 AND id <= (
     SELECT id FROM request_journal WHERE host = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";

const PRUNE_OLD: &str = "DELETE FROM request_journal WHERE host = ?1 AND at < ?2";

const SELECT: &str = "SELECT id, record_json FROM request_journal
     WHERE host = ?1 AND id < ?2 AND id > ?3 AND at >= ?4
     ORDER BY id DESC LIMIT ?5";

const CLEAR: &str = "DELETE FROM request_journal WHERE host = ?1";

/// The request journal in a SQLite database, next to moclojer cloud's other data. Cloning
/// is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct SqliteJournal {
    backend: SqliteBackend,
    retention: Retention,
    clock: Arc<dyn Clock>,
}

impl SqliteJournal {
    /// A journal on `backend`'s database (sharing its connection pool), keeping what
    /// `retention` says and aging records by `clock`. The schema is the backend's: it is
    /// already up to date.
    pub fn new(backend: &SqliteBackend, retention: Retention, clock: Arc<dyn Clock>) -> Self {
        Self {
            backend: backend.clone(),
            retention,
            clock,
        }
    }

    /// A journal on the database `config` names, with a connection pool of its own (on a
    /// file, the same file as a [`SqliteDatabase`](crate::SqliteDatabase) connected with
    /// `config`); the schema is brought up to date.
    ///
    /// # Errors
    /// As [`SqliteDatabase::connect`](crate::SqliteDatabase): `Invalid` for a malformed URL,
    /// `Unavailable` when the file cannot be opened, `Internal` when it is not a database
    /// or its schema is newer.
    pub async fn connect(
        config: &SqliteConfig,
        retention: Retention,
        clock: Arc<dyn Clock>,
    ) -> PortResult<Self> {
        let backend = <SqliteBackend as Backend>::connect(config).await?;
        Ok(Self::new(&backend, retention, clock))
    }

    /// A journal on the database file at `path` (created when missing), with a connection
    /// pool of its own; the schema is brought up to date.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn open(
        path: &Path,
        retention: Retention,
        clock: Arc<dyn Clock>,
    ) -> PortResult<Self> {
        let backend = <SqliteBackend as Embedded>::open(path).await?;
        Ok(Self::new(&backend, retention, clock))
    }

    /// The most rows of one host a listing reads, and the offset of the pruning statement.
    fn cap(&self) -> i64 {
        i64::try_from(self.retention.max_records).unwrap_or(i64::MAX)
    }

    /// The oldest `at` (unix milliseconds) a record may have now and still be kept.
    fn oldest_kept_millis(&self) -> i64 {
        self.retention.oldest_kept(self.clock.now()).unix_millis()
    }

    /// Deletes `host`'s rows beyond the cap and past the age.
    async fn prune(&self, conn: &mut SqliteConnection, host: &str, oldest: i64) -> PortResult<()> {
        sqlx::query(PRUNE_TO_CAP)
            .bind(host)
            .bind(self.cap())
            .execute(&mut *conn)
            .await
            .map_err(db("prune the request journal"))?;
        sqlx::query(PRUNE_OLD)
            .bind(host)
            .bind(oldest)
            .execute(&mut *conn)
            .await
            .map_err(db("prune the request journal"))?;
        Ok(())
    }

    /// `host`'s entries between `before` and `after` (exclusive), not past the age and
    /// admitted by the query's filter, newest first: at least one more than the page's
    /// limit when there are that many, reading at most the cap's rows.
    async fn candidates(
        &self,
        host: &str,
        query: &JournalQuery,
        (before, after): (i64, i64),
        oldest: i64,
    ) -> PortResult<Vec<JournalEntry>> {
        let wanted = query.capped_limit().saturating_add(1);
        let budget = self.retention.max_records;
        let mut tx = self.backend.read().await?;
        let mut upper = before;
        let mut read = 0;
        let mut admitted = Vec::new();
        while admitted.len() < wanted && read < budget {
            let chunk = (wanted - admitted.len()).max(MIN_CHUNK).min(budget - read);
            let rows: Vec<(i64, String)> = sqlx::query_as(SELECT)
                .bind(host)
                .bind(upper)
                .bind(after)
                .bind(oldest)
                .bind(i64::try_from(chunk).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(db("read the request journal"))?;
            read += rows.len();
            let exhausted = rows.len() < chunk;
            if let Some((last, _)) = rows.last() {
                upper = *last;
            }
            admitted.extend(
                rows.into_iter()
                    .filter_map(|(id, json)| decode(host, id, &json))
                    .filter(|entry| query.filter.admits(&entry.record)),
            );
            if exhausted {
                break;
            }
        }
        tx.commit().await.map_err(db("end a read"))?;
        Ok(admitted)
    }
}

/// The bound a cursor gives: a row id, a positive integer.
fn cursor(id: Option<&RecordId>) -> PortResult<Option<i64>> {
    id.map(|id| {
        id.as_str()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| PortError::invalid(format!("{id} is not a record id of this journal")))
    })
    .transpose()
}

/// The entry of row `id`; `None`, with a warning, when its JSON is not a record.
fn decode(host: &str, id: i64, json: &str) -> Option<JournalEntry> {
    let record = serde_json::from_str::<RequestRecord>(json)
        .inspect_err(|err| {
            tracing::warn!(
                id,
                host,
                error = %err,
                "skipping a request journal row that does not decode"
            );
        })
        .ok()?;
    let id = RecordId::parse(&id.to_string())?;
    Some(JournalEntry { id, record })
}

#[async_trait]
impl RequestJournal for SqliteJournal {
    async fn append(&self, records: Vec<RequestRecord>) -> PortResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let oldest = self.oldest_kept_millis();
        let mut tx = self.backend.write().await?;
        let mut hosts = BTreeSet::new();
        for record in &records {
            let json = serde_json::to_string(record).map_err(|err| {
                PortError::internal(format!("encode a request record as JSON: {err}"))
            })?;
            sqlx::query(INSERT)
                .bind(record.host.as_str())
                .bind(record.at.unix_millis())
                .bind(json)
                .execute(&mut *tx)
                .await
                .map_err(db("append to the request journal"))?;
            hosts.insert(record.host.as_str());
        }
        for host in hosts {
            self.prune(&mut tx, host, oldest).await?;
        }
        tx.commit().await.map_err(db("commit"))
    }

    async fn list(&self, host: &str, query: &JournalQuery) -> PortResult<JournalPage> {
        let before = cursor(query.before.as_ref())?.unwrap_or(i64::MAX);
        let after = cursor(query.after.as_ref())?.unwrap_or(0);
        let now = self.clock.now();
        let oldest_kept = self.retention.oldest_kept(now);
        let candidates = self
            .candidates(host, query, (before, after), oldest_kept.unix_millis())
            .await?;
        Ok(take_page(candidates, query, oldest_kept))
    }

    async fn clear(&self, host: &str) -> PortResult<()> {
        let mut tx = self.backend.write().await?;
        sqlx::query(CLEAR)
            .bind(host)
            .execute(&mut *tx)
            .await
            .map_err(db("clear the request journal"))?;
        tx.commit().await.map_err(db("commit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_positive_row_ids() {
        let id = |raw: &str| RecordId::parse(raw).unwrap();
        assert_eq!(cursor(None).unwrap(), None);
        assert_eq!(cursor(Some(&id("42"))).unwrap(), Some(42));
        for bad in ["0", "-3", "abc", "1.5", "99999999999999999999"] {
            let err = cursor(Some(&id(bad))).unwrap_err();
            assert_eq!(err.kind(), moclojer_ports::PortErrorKind::Invalid, "{bad}");
        }
    }

    #[test]
    fn a_row_that_does_not_decode_is_skipped() {
        assert!(decode("h", 1, "{not json").is_none());
        assert!(decode("h", 1, "{}").is_none());
    }
}
