//! The ports of moclojer cloud: what the apps need from the outside world, as traits.
//!
//! Every IO-bound port is an `#[async_trait]` trait with `Debug + Send + Sync + 'static`,
//! held as `Arc<dyn Port>` and picked at start-up from configuration. Each method's docs
//! say which [`PortErrorKind`] it returns in which case; the contract suites in
//! `moclojer-testkit` check exactly those sentences against every adapter.
//!
//! Repository writes that other services must hear about take their [`Event`]s in the same
//! call, so that an adapter commits the change and its outbox rows in one transaction:
//! a crash between the two is impossible by construction.
//!
//! This crate holds no adapter: beyond the traits it has the two trivial implementations of
//! the synchronous ports ([`SystemClock`], [`RandomIds`]) and the outbox [`Relay`], which is
//! orchestration over two ports; adapters live in `adapters/`.
//!
//! [`Event`]: moclojer_domain::Event

mod accounts;
mod clock;
mod database;
mod dns;
mod error;
mod http;
mod identity;
mod journal;
mod lease;
mod mocks;
mod object_store;
mod outbox;
mod publications;
mod published;
mod queue;
mod relay;
mod retry;
mod scope;
mod state;

pub use accounts::{AccountRepository, UserRecord};
pub use clock::{Clock, IdGenerator, RandomIds, SystemClock};
pub use database::DatabasePorts;
pub use dns::{DnsProvider, DnsRecord, PaasProvider, RecordKind, StoredRecord, check_domain_name};
pub use error::{PortError, PortErrorKind, PortResult};
pub use http::{
    HEALTH_CHECK_HOST, HttpClient, HttpRequest, HttpResponse, MAX_URI_BYTES, PROBE_HEADER,
    REAL_IP_HEADER, REVISION_HEADER,
};
pub use identity::{
    Caller, Identity, IssuedToken, LocalTokens, MAX_TOKEN_NAME_LEN, TOKEN_PREFIX, TokenDigest,
    TokenId, TokenIssuer, TokenKind, TokenRecord, TokenStore,
};
pub use journal::{
    DEFAULT_JOURNAL_PAGE, JournalEntry, JournalPage, JournalQuery, MAX_JOURNAL_PAGE, RecordId,
    RequestJournal, entry_json, page_json, take_page,
};
pub use lease::{Lease, LeaseStore, MAX_LEASE_NAME_LEN, check_lease_name, lease_ttl_millis};
pub use mocks::{
    DEFAULT_REVISION_PAGE, KeepRevisions, MAX_REVISION_PAGE, MockRepository, RevisionPage,
    RevisionQuery, RevisionSummary,
};
pub use object_store::{ETag, Object, ObjectKey, ObjectKeyError, ObjectMeta, ObjectStore};
pub use outbox::{Outbox, OutboxEntry};
pub use publications::{
    LiveMock, PUBLICATION_SAVE_ATTEMPTS, PublicationChange, PublicationChangeError,
    PublicationRepository, change_publication, change_publication_with,
};
pub use published::{
    FANOUT, HOSTS_PREFIX, HostChange, HostEntry, INDEX_PREFIX, LAYOUT, MANIFEST_KEY,
    MAX_NODE_BYTES, PublishedError, PublishedIndex, Refresh, Written, sha256_hex,
};
pub use queue::{DeadLetter, Delivery, EventQueue, MessageId, QueueSettings, check_group_name};
pub use relay::{Relay, RelaySettings, RunningRelay};
pub use retry::jittered_backoff;
pub use scope::Scope;
pub use state::{
    MAX_STATE_NAME_LEN, MockState, RecordPage, ResourceRef, SCENARIO_START, StateLimits,
    StateOutcome, StateScope, StateSnapshot, record_bytes, record_id,
};
