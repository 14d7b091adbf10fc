//! [`Outbox`] on SQLite: the `outbox` table that repository writes append to.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;
use moclojer_ports::{Outbox, OutboxEntry, PortError, PortResult};

use crate::database::{SqliteDatabase, commit, record};
use crate::error::db;
use crate::model::{OutboxRow, now_millis};

#[async_trait]
impl Outbox for SqliteDatabase {
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
            "SELECT seq, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?1",
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
        let now = now_millis();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let mut tx = self.write().await?;
        let mut rows: Vec<OutboxRow> = sqlx::query_as(
            "UPDATE outbox SET claimed_by = ?1, claimed_until = ?2
             WHERE seq IN (
                 SELECT seq FROM outbox
                 WHERE sent_at IS NULL
                   AND (claimed_by IS NULL OR claimed_by = ?1 OR claimed_until <= ?3)
                 ORDER BY seq LIMIT ?4)
             RETURNING seq, payload",
        )
        .bind(relay)
        .bind(until)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claim pending events"))?;
        commit(tx).await?;
        rows.sort_by_key(OutboxRow::seq);
        rows.into_iter().map(OutboxRow::into_entry).collect()
    }

    async fn mark_sent(&self, seqs: &[u64]) -> PortResult<()> {
        // A position beyond i64 was never handed out: unknown, so ignored.
        let known: Vec<i64> = seqs.iter().filter_map(|s| i64::try_from(*s).ok()).collect();
        if known.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let mut tx = self.write().await?;
        for seq in known {
            sqlx::query("UPDATE outbox SET sent_at = ?1 WHERE seq = ?2 AND sent_at IS NULL")
                .bind(now)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(db("mark an event sent"))?;
        }
        commit(tx).await
    }
}
