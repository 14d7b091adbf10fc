//! One contract suite per port. Each takes the implementation under test and panics with
//! the broken rule's name. The repository suites take *fresh* repositories (an empty
//! database); the others use unique names so they can share a server with other runs.
//! [`sql`] holds the checks the SQL database adapters share that look behind the ports.

mod accounts;
mod dns;
mod identity;
mod journal;
mod lease;
mod mocks;
mod object_store;
mod outbox;
mod publications;
mod queue;
pub mod sql;
mod state;

pub use accounts::account_repository_contract;
pub use dns::{dns_provider_contract, paas_provider_contract};
pub use identity::identity_contract;
pub use journal::{
    BUSY_HOST_REQUESTS, CONTRACT_RETENTION, a_busy_host_keeps_its_cap, request_journal_contract,
};
pub use lease::lease_contract;
pub use mocks::mock_repository_contract;
pub use object_store::object_store_contract;
pub use outbox::outbox_contract;
pub use publications::publication_repository_contract;
pub use queue::{CONTRACT_QUEUE_SETTINGS, event_queue_contract};
pub use state::mock_state_contract;
