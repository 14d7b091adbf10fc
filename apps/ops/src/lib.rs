//! `moclojer-ops`: makes published mocks' hosts resolvable and routed, and keeps it so.
//!
//! For each host that should answer (its mock is enabled) ops makes a DNS record and a PaaS
//! domain (mode [`Mode::PerHost`], like the original), or relies on one wildcard record and
//! domain made once for the zone ([`Mode::Wildcard`]); then it verifies the host by asking
//! for it through the proxy, and writes the publication's DNS status: `provisioning`, then
//! `published`, or `failed` with the reason after bounded retries. When a mock is
//! unpublished or deleted, its record and domain go.
//!
//! It works two ways, both level-triggered and idempotent:
//!
//! - **events** (`domain.requested`, `domain.removed`, `mock.deleted`) in the `ops` group
//!   handle one host at once ([`handle`]);
//! - **reconcile** ([`reconcile`]), periodically and under a lease so two ops instances do
//!   not fight, compares what the database wants with the providers' listings and repairs
//!   drift both ways: missing records made, orphans of ours removed. Records without our
//!   tag are never touched (the providers' adapters refuse to).
//!
//! Provider calls are idempotent (making a record that exists is success), so an event
//! delivered twice, or an ops process killed between a provider call and the status write,
//! converges without duplicates.

mod app;
mod verify;
mod work;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::Zone;
use moclojer_ports::{
    Clock, DnsProvider, IdGenerator, LeaseStore, MockRepository, PaasProvider,
    PublicationRepository,
};

pub use app::{App, Config, DnsChoice};
pub use verify::Verifier;
pub use work::{WorkDone, handle, provision, reconcile, remove};
pub use worker::{GROUP, RECONCILE_LEASE, run};

/// One record per host, or one wildcard record for the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A CNAME and a PaaS domain for every host, as the original did.
    PerHost,
    /// `*.<zone>` once; per host only verification.
    Wildcard,
    /// Names that resolve without records (`*.localhost`, RFC 6761): no provider calls,
    /// per host only verification. The all-in-one runs this.
    Local,
}

/// What ops makes and how hard it tries.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Per host or wildcard.
    pub mode: Mode,
    /// The zone mock hosts live under.
    pub zone: Zone,
    /// What the hosts' CNAME records point to (the proxy's public name).
    pub target: String,
    /// Whether the DNS provider proxies the records (Cloudflare).
    pub proxied: bool,
    /// Time to live of the records, in seconds (1 means automatic on Cloudflare).
    pub ttl: u32,
    /// How many times a host is asked for before it is marked failed.
    pub verify_attempts: u32,
    /// The wait before the second attempt; it doubles up to `verify_max_delay`.
    pub verify_delay: Duration,
    /// The longest wait between two attempts.
    pub verify_max_delay: Duration,
    /// How many hosts are worked on at once.
    pub concurrency: usize,
}

impl Settings {
    /// Per-host records under `zone` pointing to `target`, proxied, automatic TTL, 8
    /// verification attempts from 250 ms up to 5 s apart, 8 hosts at once.
    pub fn new(zone: Zone, target: impl Into<String>) -> Self {
        Self {
            mode: Mode::PerHost,
            zone,
            target: target.into(),
            proxied: true,
            ttl: 1,
            verify_attempts: 8,
            verify_delay: Duration::from_millis(250),
            verify_max_delay: Duration::from_secs(5),
            concurrency: 8,
        }
    }

    /// The wildcard name of the zone, `*.<zone>`.
    pub fn wildcard(&self) -> String {
        format!("*.{}", self.zone.as_str())
    }
}

/// Everything ops works with.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Mocks (read with `Scope::System`).
    pub mocks: Arc<dyn MockRepository>,
    /// Publications (their DNS side is written here).
    pub publications: Arc<dyn PublicationRepository>,
    /// The zone's records.
    pub dns: Arc<dyn DnsProvider>,
    /// The app's domains, when a PaaS routes the hosts.
    pub paas: Option<Arc<dyn PaasProvider>>,
    /// Asks for a host through the proxy.
    pub verifier: Verifier,
    /// Who holds the reconcile.
    pub leases: Arc<dyn LeaseStore>,
    /// Time for the statuses.
    pub clock: Arc<dyn Clock>,
    /// Ids of the events ops records.
    pub ids: Arc<dyn IdGenerator>,
    /// What to make.
    pub settings: Settings,
}
