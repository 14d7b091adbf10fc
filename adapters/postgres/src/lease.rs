//! [`LeaseStore`] on PostgreSQL: the `leases` table, one row per name.
//!
//! Taking or renewing a lease is one `INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`
//! the lease has expired or is already the caller's, `RETURNING` the result. At READ
//! COMMITTED, concurrent acquirers of a new name queue on its unique index and those of an
//! existing one on its row, and each judges the row as the one before it left it: exactly
//! one gets a free or expired lease. Expiry is judged by the server's clock
//! (`clock_timestamp()`, read once per statement), so workers on machines whose clocks
//! disagree still agree on who holds a lease. A release marks the row expired rather than
//! deleting it, so the lease's fence keeps increasing.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Timestamp;
use moclojer_ports::{
    Lease, LeaseStore, PortError, PortResult, check_lease_name, lease_ttl_millis,
};

use crate::database::PostgresDatabase;
use crate::error::db;
use crate::outbox::MAX_LEASE_MILLIS;

#[async_trait]
impl LeaseStore for PostgresDatabase {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> PortResult<Option<Lease>> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        let ttl = lease_ttl_millis(ttl)?.min(MAX_LEASE_MILLIS);
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "WITH clock AS (SELECT clock_timestamp() AS now)
             INSERT INTO leases AS l (name, holder, expires_at, fence)
             SELECT $1, $2, clock.now + $3::bigint * interval '1 millisecond', 1 FROM clock
             ON CONFLICT (name) DO UPDATE SET
                 holder = excluded.holder,
                 expires_at = excluded.expires_at,
                 fence = CASE WHEN l.expires_at <= (SELECT now FROM clock)
                              THEN l.fence + 1 ELSE l.fence END
             WHERE l.expires_at <= (SELECT now FROM clock) OR l.holder = excluded.holder
             RETURNING l.holder, floor(extract(epoch FROM l.expires_at) * 1000)::bigint, l.fence",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl)
        .fetch_optional(self.pool())
        .await
        .map_err(db("acquire a lease"))?;
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
        sqlx::query("UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.pool())
            .await
            .map_err(db("release a lease"))?;
        Ok(())
    }
}
