//! [`DatabasePorts`]: every port one database serves, as the apps hold them.

use std::sync::Arc;

use crate::{
    AccountRepository, LeaseStore, MockRepository, Outbox, PublicationRepository, TokenStore,
};

/// Every port a database adapter serves, each as an `Arc<dyn _>`: what an app takes from
/// its database, whichever adapter that is.
#[derive(Debug, Clone)]
pub struct DatabasePorts {
    /// Users and workspaces.
    pub accounts: Arc<dyn AccountRepository>,
    /// Mocks and their revisions.
    pub mocks: Arc<dyn MockRepository>,
    /// Publications.
    pub publications: Arc<dyn PublicationRepository>,
    /// The outbox the writes record their events in.
    pub outbox: Arc<dyn Outbox>,
    /// The service's own tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Leases, for work one instance does at a time.
    pub leases: Arc<dyn LeaseStore>,
}

impl DatabasePorts {
    /// The ports of `database`, an adapter that serves them all; its clones share it.
    pub fn of<D>(database: &D) -> Self
    where
        D: AccountRepository
            + MockRepository
            + PublicationRepository
            + Outbox
            + TokenStore
            + LeaseStore
            + Clone,
    {
        Self {
            accounts: Arc::new(database.clone()),
            mocks: Arc::new(database.clone()),
            publications: Arc::new(database.clone()),
            outbox: Arc::new(database.clone()),
            tokens: Arc::new(database.clone()),
            leases: Arc::new(database.clone()),
        }
    }
}
