//! What the shared SQL core asks of SQLite: how it connects, its dialect, and the
//! statements whose SQL is SQLite's own.
//!
//! Writes take the database's write lock at once (`BEGIN IMMEDIATE`): what a write reads
//! cannot change before it writes, and two writers queue instead of deadlocking. So there
//! are no row locks, and outbox claims and named leases need no `SKIP LOCKED`: relays and
//! acquirers simply take turns. Both are judged by this process's clock, in unix
//! milliseconds: the processes sharing a SQLite file share a machine. A released lease
//! stays, expired, so that its fence keeps increasing.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moclojer_domain::Event;
use moclojer_ports::{PortErrorKind, PortResult};
use moclojer_sql::{Backend, Dialect, Embedded, Query};
use sqlx::SqlitePool;
use sqlx::error::DatabaseError;

use crate::database::{SqliteBackend, SqliteConfig, Target, migrate};
use crate::error::{self, db};

/// The expiry of a released lease: before any instant the clock can show.
const RELEASED: i64 = i64::MIN;

/// Now, in unix milliseconds, for the outbox's bookkeeping columns and leases.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Backend for SqliteBackend {
    type Db = sqlx::Sqlite;
    type Config = SqliteConfig;

    const DIALECT: Dialect = Dialect::SQLITE;

    async fn connect(config: &SqliteConfig) -> PortResult<Self> {
        let target = Target::parse(&config.url)?;
        Self::start(target, config.max_connections, config.url.trim()).await
    }

    async fn migrate(&self) -> PortResult<()> {
        migrate(&self.pool, "migrate the database").await
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Stamped now.
    fn record_event(event: &Event) -> Query {
        Query::new("INSERT INTO outbox (payload, created_at) VALUES ($1, $2)")
            .bind(event.to_json())
            .bind(now_millis())
    }

    fn claim(relay: &str, limit: i64, lease: Duration) -> Query {
        let now = now_millis();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        Query::new(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $2
             WHERE seq IN (
                 SELECT seq FROM outbox
                 WHERE sent_at IS NULL
                   AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= $3)
                 ORDER BY seq LIMIT $4)
             RETURNING seq, payload",
        )
        .bind(relay)
        .bind(until)
        .bind(now)
        .bind(limit)
    }

    /// In one write, a statement per row.
    async fn mark_sent(&self, seqs: Vec<i64>) -> PortResult<()> {
        let now = now_millis();
        let mut tx = self.write().await?;
        for seq in seqs {
            Query::new("UPDATE outbox SET sent_at = $1 WHERE seq = $2 AND sent_at IS NULL")
                .bind(now)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(db("mark an event sent"))?;
        }
        tx.commit().await.map_err(db("commit"))
    }

    /// In one write.
    async fn purge_sent(&self, older_than_millis: i64) -> PortResult<u64> {
        let before = now_millis().saturating_sub(older_than_millis);
        let mut tx = self.write().await?;
        let gone: Vec<(i64,)> = Query::new(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1 RETURNING seq",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("purge sent events"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(gone.len() as u64)
    }

    /// One upsert whose `DO UPDATE` applies only when the lease has expired or is already
    /// the caller's.
    fn acquire_lease(name: &str, holder: &str, ttl_millis: i64) -> Query {
        let now = now_millis();
        Query::new(
            "INSERT INTO leases (name, holder, expires_at, fence) VALUES ($1, $2, $3, 1)
             ON CONFLICT (name) DO UPDATE SET
                 holder = excluded.holder,
                 expires_at = excluded.expires_at,
                 fence = CASE WHEN leases.expires_at <= $4
                              THEN leases.fence + 1 ELSE leases.fence END
             WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder
             RETURNING holder, expires_at, fence",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_millis))
        .bind(now)
    }

    fn release_lease(name: &str, holder: &str) -> Query {
        Query::new("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(RELEASED)
    }

    fn database_error(err: &dyn DatabaseError) -> (PortErrorKind, &'static str) {
        error::database_error(err)
    }
}

impl Embedded for SqliteBackend {
    async fn open(path: &Path) -> PortResult<Self> {
        let label = path.display().to_string();
        Self::start(
            Target::file(path),
            SqliteConfig::DEFAULT_MAX_CONNECTIONS,
            &label,
        )
        .await
    }

    async fn in_memory() -> PortResult<Self> {
        Self::start(Target::parse("sqlite::memory:")?, 1, "memory").await
    }
}
