//! [`Outbox`] on PostgreSQL: the `outbox` table that repository writes append to.
//!
//! Relays claim rows with one `UPDATE` whose candidate rows are picked `FOR UPDATE SKIP
//! LOCKED`: a relay never waits for another, never takes a row another relay is claiming at
//! the same moment, and (READ COMMITTED re-checks a row that changed under it) never takes
//! a row whose claim by another relay still holds. Leases are judged by the server's clock,
//! so relays on machines whose clocks disagree still agree on them.
//!
//! Positions come from a sequence, so they increase in the order rows are inserted, but
//! transactions may commit out of that order: a relay can see position 10 before 9. Events
//! are hints (consumers rebuild from the database), so this costs nothing.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;
use moclojer_ports::{Outbox, OutboxEntry, PortError, PortResult};

use crate::database::{PostgresDatabase, commit, record};
use crate::error::db;
use crate::model::OutboxRow;

/// The longest lease taken as asked; longer ones are cut to it (about 1,000 years), which
/// keeps `now() + lease` inside PostgreSQL's timestamp range. Named leases are cut to it
/// too.
pub(crate) const MAX_LEASE_MILLIS: i64 = 1_000 * 366 * 24 * 60 * 60 * 1_000;

#[async_trait]
impl Outbox for PostgresDatabase {
    async fn append(&self, events: &[Event]) -> PortResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        record(&mut tx, events).await?;
        commit(tx).await
    }

    async fn pending(&self, limit: usize) -> PortResult<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, payload::text AS payload FROM outbox
             WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db("list pending events"))?;
        rows.into_iter().map(OutboxRow::into_entry).collect()
    }

    async fn claim(
        &self,
        relay: &str,
        limit: usize,
        lease: Duration,
    ) -> PortResult<Vec<OutboxEntry>> {
        if relay.is_empty() || limit == 0 {
            return Err(PortError::invalid(
                "a claim needs a relay name and a limit above zero",
            ));
        }
        let lease_millis = i64::try_from(lease.as_millis())
            .unwrap_or(i64::MAX)
            .min(MAX_LEASE_MILLIS);
        let mut rows: Vec<OutboxRow> = sqlx::query_as(
            "UPDATE outbox
             SET claimed_by = $1, claimed_until = now() + $2::bigint * interval '1 millisecond'
             WHERE seq IN (
                 SELECT seq FROM outbox
                 WHERE sent_at IS NULL
                   AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= now())
                 ORDER BY seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING seq, payload::text AS payload",
        )
        .bind(relay)
        .bind(lease_millis)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(db("claim pending events"))?;
        rows.sort_by_key(OutboxRow::seq);
        rows.into_iter().map(OutboxRow::into_entry).collect()
    }

    async fn mark_sent(&self, seqs: &[u64]) -> PortResult<()> {
        // A position beyond i64 was never handed out: unknown, so ignored.
        let known: Vec<i64> = seqs.iter().filter_map(|s| i64::try_from(*s).ok()).collect();
        if known.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1) AND sent_at IS NULL")
            .bind(known)
            .execute(self.pool())
            .await
            .map_err(db("mark events sent"))?;
        Ok(())
    }
}
