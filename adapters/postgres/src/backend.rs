//! What the shared SQL core asks of PostgreSQL: how it connects, its dialect, and the
//! statements whose SQL is PostgreSQL's own.
//!
//! Writes run at READ COMMITTED, whatever the server's default is: what a write reads and
//! then relies on is guarded by row locks (`FOR UPDATE`), unique indexes or a condition in
//! the `UPDATE` itself. Several reads share one read-only snapshot.
//!
//! Relays claim outbox rows with one `UPDATE` whose candidate rows are picked `FOR UPDATE
//! SKIP LOCKED`: a relay never waits for another, never takes a row another relay is
//! claiming at the same moment, and (READ COMMITTED re-checks a row that changed under it)
//! never takes a row whose claim by another relay still holds. Outbox positions come from
//! a sequence, so they increase in the order rows are inserted, but transactions may
//! commit out of that order: a relay can see position 10 before 9. Events are hints
//! (consumers rebuild from the database), so this costs nothing.
//!
//! Taking or renewing a named lease is one `INSERT ... ON CONFLICT (name) DO UPDATE ...
//! WHERE` the lease has expired or is already the caller's. Concurrent acquirers of a new
//! name queue on its unique index and those of an existing one on its row, and each judges
//! the row as the one before it left it: exactly one gets a free or expired lease. A
//! release marks the row expired (`-infinity`) rather than deleting it, so the lease's
//! fence keeps increasing.
//!
//! Claims and leases are judged by the server's clock, so processes on machines whose
//! clocks disagree still agree on them.

use std::time::Duration;

use moclojer_domain::Event;
use moclojer_ports::{PortErrorKind, PortResult};
use moclojer_sql::{Backend, Dialect, Query};
use sqlx::PgPool;
use sqlx::error::DatabaseError;

use crate::database::{PostgresBackend, PostgresConfig};
use crate::error::{classify_code, db};

/// The longest lease taken as asked, for outbox claims and named leases alike; longer ones
/// are cut to it (about 1,000 years), which keeps `now() + lease` inside PostgreSQL's
/// timestamp range.
const MAX_LEASE_MILLIS: i64 = 1_000 * 366 * 24 * 60 * 60 * 1_000;

impl Backend for PostgresBackend {
    type Db = sqlx::Postgres;
    type Config = PostgresConfig;

    const DIALECT: Dialect = Dialect::POSTGRES;

    async fn connect(config: &PostgresConfig) -> PortResult<Self> {
        Self::start(config).await
    }

    async fn migrate(&self) -> PortResult<()> {
        self.run_migrations().await
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// As `JSONB`; the server stamps it.
    fn record_event(event: &Event) -> Query {
        Query::new("INSERT INTO outbox (payload) VALUES (CAST($1 AS JSONB))").bind(event.to_json())
    }

    fn claim(relay: &str, limit: i64, lease: Duration) -> Query {
        let lease_millis = i64::try_from(lease.as_millis())
            .unwrap_or(i64::MAX)
            .min(MAX_LEASE_MILLIS);
        Query::new(
            "UPDATE outbox
             SET claimed_by = $1,
                 claimed_until = now() + CAST($2 AS BIGINT) * interval '1 millisecond'
             WHERE seq IN (
                 SELECT seq FROM outbox
                 WHERE sent_at IS NULL
                   AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= now())
                 ORDER BY seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING seq, CAST(payload AS TEXT) AS payload",
        )
        .bind(relay)
        .bind(lease_millis)
        .bind(limit)
    }

    /// In one statement, at the server's now.
    async fn mark_sent(&self, seqs: Vec<i64>) -> PortResult<()> {
        sqlx::query("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1) AND sent_at IS NULL")
            .bind(seqs)
            .execute(&self.pool)
            .await
            .map_err(db("mark events sent"))?;
        Ok(())
    }

    /// By the server's clock.
    async fn purge_sent(&self, older_than_millis: i64) -> PortResult<u64> {
        sqlx::query(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL \
             AND sent_at < now() - make_interval(secs => $1::double precision / 1000)",
        )
        .bind(older_than_millis)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
        .map_err(db("purge sent events"))
    }

    /// Expiry by `clock_timestamp()`, read once per statement.
    fn acquire_lease(name: &str, holder: &str, ttl_millis: i64) -> Query {
        Query::new(
            "WITH clock AS (SELECT clock_timestamp() AS now)
             INSERT INTO leases AS l (name, holder, expires_at, fence)
             SELECT $1, $2, clock.now + CAST($3 AS BIGINT) * interval '1 millisecond', 1
             FROM clock
             ON CONFLICT (name) DO UPDATE SET
                 holder = excluded.holder,
                 expires_at = excluded.expires_at,
                 fence = CASE WHEN l.expires_at <= (SELECT now FROM clock)
                              THEN l.fence + 1 ELSE l.fence END
             WHERE l.expires_at <= (SELECT now FROM clock) OR l.holder = excluded.holder
             RETURNING l.holder,
                 CAST(floor(extract(epoch FROM l.expires_at) * 1000) AS BIGINT) AS expires_at,
                 l.fence",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl_millis.min(MAX_LEASE_MILLIS))
    }

    fn release_lease(name: &str, holder: &str) -> Query {
        Query::new("UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
    }

    fn database_error(err: &dyn DatabaseError) -> (PortErrorKind, &'static str) {
        classify_code(err.code().as_deref())
    }
}
