//! [`Outbox`]: the `outbox` table that repository writes append to. Appending and listing
//! are the same everywhere; a claim's statement and marking rows sent come from the
//! backend, whose clock judges the leases.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;
use moclojer_ports::{Outbox, OutboxEntry, PortError, PortResult};

use crate::database::{Backend, SqlDatabase, commit, record};
use crate::error::db;
use crate::model::OutboxRow;
use crate::query::Query;

#[async_trait]
impl<B: Backend> Outbox for SqlDatabase<B> {
    async fn append(&self, events: &[Event]) -> PortResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.backend().write().await?;
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await
    }

    async fn pending(&self, limit: usize) -> PortResult<Vec<OutboxEntry>> {
        let mut conn = self.conn("list pending events").await?;
        let rows: Vec<OutboxRow> = Query::new(
            "SELECT seq, CAST(payload AS TEXT) AS payload FROM outbox
             WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(db::<B>("list pending events"))?;
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.backend().write().await?;
        let mut rows: Vec<OutboxRow> = B::claim(relay, limit, lease)
            .fetch_all(&mut *tx)
            .await
            .map_err(db::<B>("claim pending events"))?;
        commit::<B>(tx).await?;
        rows.sort_by_key(OutboxRow::seq);
        rows.into_iter().map(OutboxRow::into_entry).collect()
    }

    async fn mark_sent(&self, seqs: &[u64]) -> PortResult<()> {
        // A position beyond i64 was never handed out: unknown, so ignored.
        let known: Vec<i64> = seqs.iter().filter_map(|s| i64::try_from(*s).ok()).collect();
        if known.is_empty() {
            return Ok(());
        }
        self.backend().mark_sent(known).await
    }

    async fn purge_sent(&self, older_than: Duration) -> PortResult<u64> {
        let millis = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        self.backend().purge_sent(millis).await
    }
}
