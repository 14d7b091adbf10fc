//! [`LeaseStore`] on SQLite: the `leases` table, one row per name.
//!
//! Taking or renewing a lease is one upsert whose `DO UPDATE` applies only when the lease
//! has expired or is already the caller's, with `RETURNING` to read the result back; it
//! runs in a `BEGIN IMMEDIATE` transaction, so acquirers queue on the write lock and exactly
//! one of them gets a free lease. Expiry is judged by this process's clock, as for outbox
//! claims: the processes sharing a SQLite file share a machine. A release marks the row
//! expired rather than deleting it, so the lease's fence keeps increasing.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Timestamp;
use moclojer_ports::{
    Lease, LeaseStore, PortError, PortResult, check_lease_name, lease_ttl_millis,
};

use crate::database::{SqliteDatabase, commit};
use crate::error::db;
use crate::model::now_millis;

/// The expiry of a released lease: before any instant the clock can show.
const RELEASED: i64 = i64::MIN;

#[async_trait]
impl LeaseStore for SqliteDatabase {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> PortResult<Option<Lease>> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        let ttl = lease_ttl_millis(ttl)?;
        let now = now_millis();
        let mut tx = self.write().await?;
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "INSERT INTO leases (name, holder, expires_at, fence) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (name) DO UPDATE SET
                 holder = excluded.holder,
                 expires_at = excluded.expires_at,
                 fence = CASE WHEN leases.expires_at <= ?4
                              THEN leases.fence + 1 ELSE leases.fence END
             WHERE leases.expires_at <= ?4 OR leases.holder = excluded.holder
             RETURNING holder, expires_at, fence",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("acquire a lease"))?;
        commit(tx).await?;
        row.map(|(holder, expires_at, fence)| {
            Ok(Lease {
                name: name.to_owned(),
                holder,
                expires_at: Timestamp::from_unix_millis(expires_at),
                fence: u64::try_from(fence).map_err(|_| {
                    PortError::internal(format!("lease {name:?} has a corrupt fence {fence}"))
                })?,
            })
        })
        .transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> PortResult<()> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        sqlx::query("UPDATE leases SET expires_at = ?3 WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .bind(RELEASED)
            .execute(self.pool())
            .await
            .map_err(db("release a lease"))?;
        Ok(())
    }
}
