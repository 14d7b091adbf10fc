//! The moclojer cloud domain: the rules of the product, with no IO and no async.
//!
//! Everything here is plain data plus the functions that decide what may happen to it:
//!
//! - validated values: [`Handle`], [`MockName`], [`Zone`], [`Host`], [`Email`], the ids;
//! - aggregates: [`User`], [`Workspace`], [`Mock`], [`Publication`], whose transitions are
//!   functions that refuse illegal moves with a typed error;
//! - [`Event`]s, the facts other services react to, with a schema version and a JSON form.
//!
//! This crate is deliberately *not* a persistence layer or an HTTP model: it knows nothing
//! about databases, queues or status codes, so any Rust tool can use it to reason about
//! moclojer mocks.
//!
//! ```
//! use moclojer_domain::{Handle, Host, MockName, Zone};
//!
//! let zone = Zone::parse("moclojer.com")?;
//! let host = Host::new(&MockName::parse("hello")?, &Handle::parse("alice")?, &zone);
//! assert_eq!(host.as_str(), "hello-alice.moclojer.com");
//!
//! let parsed = Host::parse("Hello-Alice.moclojer.com.", &zone)?;
//! assert_eq!((parsed.name().as_str(), parsed.handle().as_str()), ("hello", "alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod diagnostic;
mod event;
mod forwarded;
mod host;
mod ids;
pub mod journal;
mod mock;
mod names;
mod publication;
mod ratelimit;
mod shard;
pub mod spec;
pub mod template;
mod timestamp;
mod user;
mod workspace;

pub use diagnostic::{Diagnostic, Severity};
pub use event::{CorrelationId, EVENT_SCHEMA_VERSION, Event, EventDecodeError, EventKind};
pub use forwarded::{TrustedProxies, TrustedProxiesError};
pub use host::{Host, HostError, Zone, ZoneError};
pub use ids::{EventId, IdError, MockId, UserId, WorkspaceId};
pub use mock::{
    MAX_SPEC_BYTES, Mock, MockError, MockRevision, MockSummary, Revision, SpecSource,
    SpecSourceError,
};
pub use names::{
    Email, EmailError, Handle, HandleError, MockName, MockNameError, RESERVED_HANDLES,
};
pub use publication::{
    DnsState, DnsStatus, Publication, PublicationError, ServerState, ServerStatus,
};
pub use ratelimit::{KeyedRateLimit, RateVerdict};
pub use shard::{Shard, ShardError, shard_of};
pub use timestamp::Timestamp;
pub use user::{User, UserError};
pub use workspace::{Member, Role, Workspace, WorkspaceError, WorkspaceKind};
