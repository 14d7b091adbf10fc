//! [`LeaseStore`]: named leases, one row per name. The statements (and the clock that
//! judges expiry) are the backend's; the checks and the rows read back are the same
//! everywhere.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_ports::{Lease, LeaseStore, PortResult, check_lease_name, lease_ttl_millis};

use crate::database::{Backend, SqlDatabase, commit};
use crate::error::db;
use crate::model::LeaseRow;

#[async_trait]
impl<B: Backend> LeaseStore for SqlDatabase<B> {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> PortResult<Option<Lease>> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        let ttl = lease_ttl_millis(ttl)?;
        let mut tx = self.backend().write().await?;
        let row: Option<LeaseRow> = B::acquire_lease(name, holder, ttl)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db::<B>("acquire a lease"))?;
        commit::<B>(tx).await?;
        row.map(|row| row.into_lease(name)).transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> PortResult<()> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        let mut conn = self.conn("release a lease").await?;
        B::release_lease(name, holder)
            .execute(&mut *conn)
            .await
            .map_err(db::<B>("release a lease"))
    }
}
