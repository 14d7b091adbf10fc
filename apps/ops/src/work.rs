//! The work itself: provision a host, remove a host, reconcile everything. Each step reads
//! the database's current state first, so a late, repeated or reordered event can only
//! cause work that the state asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::{
    DnsStatus, Event, EventKind, Host, Mock, MockId, Publication, PublicationError,
};
use moclojer_ports::{DnsRecord, PortErrorKind, PublicationChangeError, RecordKind, Scope};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{Deps, Mode};

/// What a piece of work did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkDone {
    /// Hosts verified and marked published.
    pub published: usize,
    /// Hosts marked failed.
    pub failed: usize,
    /// Hosts whose records and domains were removed.
    pub removed: usize,
    /// Whether a reconcile ran (false when another instance held the lease).
    pub reconciled: bool,
}

impl WorkDone {
    fn add(&mut self, other: WorkDone) {
        self.published += other.published;
        self.failed += other.failed;
        self.removed += other.removed;
        self.reconciled |= other.reconciled;
    }
}

/// Handles one event: `domain.requested` provisions its mock's host; `domain.removed` and
/// `mock.deleted` remove theirs. Others are ignored.
///
/// # Errors
/// When the database or a provider fails (the event should then be retried).
pub async fn handle(deps: &Deps, event: &Event) -> anyhow::Result<WorkDone> {
    match &event.kind {
        EventKind::DomainRequested { mock_id, .. } => provision(deps, *mock_id).await,
        EventKind::DomainRemoved { host } | EventKind::MockDeleted { host, .. } => {
            remove(deps, host).await
        }
        _ => Ok(WorkDone::default()),
    }
}

fn cname(deps: &Deps, name: &str) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind: RecordKind::Cname,
        content: deps.settings.target.clone(),
        proxied: deps.settings.proxied,
        ttl: deps.settings.ttl,
    }
}

/// Makes the wildcard record and domain of the zone (wildcard mode).
///
/// # Errors
/// When a provider fails.
async fn ensure_wildcard(deps: &Deps) -> anyhow::Result<()> {
    let wildcard = deps.settings.wildcard();
    deps.dns
        .ensure_record(&cname(deps, &wildcard))
        .await
        .with_context(|| format!("make the record {wildcard}"))?;
    if let Some(paas) = &deps.paas {
        paas.add_domain(&wildcard)
            .await
            .with_context(|| format!("add the domain {wildcard}"))?;
    }
    Ok(())
}

/// Makes the provider side of `host` exist.
async fn ensure_host(deps: &Deps, host: &Host) -> anyhow::Result<()> {
    match deps.settings.mode {
        Mode::Local => Ok(()),
        Mode::Wildcard => ensure_wildcard(deps).await,
        Mode::PerHost => {
            deps.dns
                .ensure_record(&cname(deps, host.as_str()))
                .await
                .with_context(|| format!("make the record of {host}"))?;
            if let Some(paas) = &deps.paas {
                paas.add_domain(host.as_str())
                    .await
                    .with_context(|| format!("add the domain {host}"))?;
            }
            Ok(())
        }
    }
}

/// Applies `change` to the publication of `mock_id` and saves it with a
/// `publication.changed` event, on a fresh read after a conflict (the one retry helper,
/// [`moclojer_ports::change_publication`]). `change` returning `Ok(false)` means there is
/// nothing to write. Returns `false` when the mock is gone.
async fn change_publication<F>(deps: &Deps, mock_id: MockId, mut change: F) -> anyhow::Result<bool>
where
    F: FnMut(&mut Publication) -> Result<bool, PublicationError>,
{
    let changed = moclojer_ports::change_publication(
        deps.publications.as_ref(),
        &Scope::System,
        mock_id,
        |publication| {
            let event = || {
                Event::new(
                    deps.ids.event_id(),
                    deps.clock.now(),
                    EventKind::PublicationChanged { mock_id },
                )
            };
            Ok::<_, PublicationError>(change(publication)?.then(|| vec![event()]))
        },
    )
    .await;
    match changed {
        Ok(_) => Ok(true),
        Err(PublicationChangeError::Port(e)) if e.kind() == PortErrorKind::NotFound => Ok(false),
        Err(PublicationChangeError::Port(e)) => Err(e).context("save the publication"),
        Err(PublicationChangeError::Refused(e)) => Err(e).context("change the dns status"),
        Err(e @ PublicationChangeError::KeptChanging { .. }) => Err(e.into()),
    }
}

/// Whether an enabled mock still has `host` (a failed read counts as yes: keep trying).
async fn still_wanted(deps: &Deps, host: &Host) -> bool {
    match deps.mocks.find_by_host(&Scope::System, host).await {
        Ok(mock) => mock.enabled,
        Err(e) => e.kind() != PortErrorKind::NotFound,
    }
}

/// Asks for `host` until it answers as served, the attempts run out, or its mock is no
/// longer published.
async fn verify(deps: &Deps, host: &Host) -> Result<(), String> {
    let settings = &deps.settings;
    let mut delay = settings.verify_delay;
    let mut last = String::new();
    for attempt in 1..=settings.verify_attempts.max(1) {
        match deps.verifier.verify(host.as_str()).await {
            Ok(()) => return Ok(()),
            Err(reason) => last = reason,
        }
        if !still_wanted(deps, host).await {
            return Err(format!("{host} is no longer published"));
        }
        if attempt < settings.verify_attempts {
            // jitter: a tenth either way, so many hosts do not probe in step
            let jitter = delay.as_millis() as u64 / 10;
            let wait = delay + Duration::from_millis(fastrand::u64(0..=jitter.max(1)));
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(settings.verify_max_delay);
        }
    }
    Err(format!(
        "not verified after {} attempts: {last}",
        settings.verify_attempts
    ))
}

/// Provisions the host of `mock_id` when its mock is enabled: records and domain, DNS
/// status `provisioning`, verification, then `published` or `failed`. A mock that is gone
/// or disabled has its host removed instead.
///
/// # Errors
/// When the database or a provider fails.
pub async fn provision(deps: &Deps, mock_id: MockId) -> anyhow::Result<WorkDone> {
    let mock = match deps.mocks.get(&Scope::System, mock_id).await {
        Ok(mock) => mock,
        Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(WorkDone::default()),
        Err(e) => return Err(e).with_context(|| format!("read mock {mock_id}")),
    };
    if !mock.enabled {
        return remove(deps, &mock.host).await;
    }
    provision_mock(deps, &mock).await
}

async fn provision_mock(deps: &Deps, mock: &Mock) -> anyhow::Result<WorkDone> {
    let now = deps.clock.now();
    let found = change_publication(deps, mock.id, |p| match p.dns.status() {
        DnsStatus::Provisioning => Ok(false),
        // Published stays published while the records are made sure of again.
        DnsStatus::Published => Ok(false),
        DnsStatus::Offline | DnsStatus::Failed => p.dns_requested(now).map(|()| true),
    })
    .await?;
    if !found {
        return Ok(WorkDone::default());
    }
    ensure_host(deps, &mock.host).await?;
    let verdict = verify(deps, &mock.host).await;
    let now = deps.clock.now();
    let mut outcome = WorkDone::default();
    match &verdict {
        Ok(()) => outcome.published = 1,
        Err(_) => outcome.failed = 1,
    }
    change_publication(deps, mock.id, |p| {
        if p.dns.status() != DnsStatus::Provisioning {
            return Ok(false); // published already, or removed meanwhile
        }
        match &verdict {
            Ok(()) => p.dns_published(now).map(|()| true),
            Err(reason) => p.dns_failed(reason, now).map(|()| true),
        }
    })
    .await?;
    match &verdict {
        Ok(()) => tracing::info!(host = %mock.host, "host verified"),
        Err(reason) => tracing::warn!(host = %mock.host, reason, "host failed verification"),
    }
    Ok(outcome)
}

/// Removes `host`'s record and domain, unless an enabled mock has that host now (then it
/// is provisioned instead: the event was older than the state). A mock that still exists
/// gets DNS status `offline`.
///
/// # Errors
/// When the database or a provider fails.
pub async fn remove(deps: &Deps, host: &Host) -> anyhow::Result<WorkDone> {
    let current = match deps.mocks.find_by_host(&Scope::System, host).await {
        Ok(mock) => Some(mock),
        Err(e) if e.kind() == PortErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("find the mock of {host}")),
    };
    if let Some(mock) = current.as_ref().filter(|m| m.enabled) {
        return provision_mock(deps, mock).await;
    }
    if deps.settings.mode == Mode::PerHost {
        let records = deps.dns.list_records().await.context("list the records")?;
        for record in records
            .iter()
            .filter(|r| r.ours && r.record.name == host.as_str())
        {
            deps.dns
                .delete_record(&record.id)
                .await
                .with_context(|| format!("delete the record of {host}"))?;
        }
        if let Some(paas) = &deps.paas {
            paas.remove_domain(host.as_str())
                .await
                .with_context(|| format!("remove the domain {host}"))?;
        }
    }
    if let Some(mock) = current {
        let now = deps.clock.now();
        change_publication(deps, mock.id, |p| Ok(p.dns_removed(now))).await?;
    }
    tracing::info!(%host, "host removed");
    Ok(WorkDone {
        removed: 1,
        ..WorkDone::default()
    })
}

fn under_zone<'a>(deps: &Deps, name: &'a str) -> Option<&'a str> {
    name.strip_suffix(deps.settings.zone.as_str())
        .and_then(|rest| rest.strip_suffix('.'))
        .filter(|label| !label.is_empty() && !label.contains('.') && *label != "*")
}

/// Compares what the database wants with what the providers hold, and repairs both ways,
/// if this instance (`holder`) gets the reconcile lease for `lease_ttl`:
///
/// - every enabled mock's host gets its record and domain, and is verified unless its DNS
///   status is `published` already;
/// - every record of ours and every domain under the zone that no enabled mock has is
///   removed (the wildcard ones stay in wildcard mode);
/// - mocks that are not enabled go back to DNS status `offline`.
///
/// # Errors
/// When the database, the lease store or a provider fails.
pub async fn reconcile(deps: &Deps, holder: &str, lease_ttl: Duration) -> anyhow::Result<WorkDone> {
    let lease = deps
        .leases
        .acquire_lease(crate::RECONCILE_LEASE, holder, lease_ttl)
        .await
        .context("take the reconcile lease")?;
    if lease.is_none() {
        tracing::debug!(holder, "another ops instance reconciles");
        return Ok(WorkDone::default());
    }
    let mut done = WorkDone {
        reconciled: true,
        ..WorkDone::default()
    };
    let mocks = deps
        .mocks
        .list(&Scope::System)
        .await
        .context("list the mocks")?;
    let publications: BTreeMap<MockId, Publication> = deps
        .publications
        .list(&Scope::System)
        .await
        .context("list the publications")?
        .into_iter()
        .map(|p| (p.mock_id, p))
        .collect();
    let unverified = |mock: &Mock| {
        publications
            .get(&mock.id)
            .is_none_or(|p| p.dns.status() != DnsStatus::Published)
    };
    let enabled = mocks.iter().filter(|m| m.enabled);
    let to_provision: Vec<Mock> = match deps.settings.mode {
        Mode::PerHost => {
            let wanted = enabled.clone().map(|m| m.host.as_str()).collect();
            let held = remove_orphans(deps, &wanted).await?;
            done.removed += held.removed;
            enabled
                .filter(|m| held.lacks(m.host.as_str()) || unverified(m))
                .cloned()
                .collect()
        }
        // wildcard and local: per host only verification
        Mode::Wildcard | Mode::Local => {
            if deps.settings.mode == Mode::Wildcard {
                ensure_wildcard(deps).await?;
            }
            enabled.filter(|m| unverified(m)).cloned().collect()
        }
    };
    for mock in mocks.iter().filter(|m| !m.enabled) {
        if publications
            .get(&mock.id)
            .is_some_and(|p| p.dns.status() != DnsStatus::Offline)
        {
            let now = deps.clock.now();
            change_publication(deps, mock.id, |p| Ok(p.dns_removed(now))).await?;
        }
    }
    done.add(provision_all(deps, to_provision).await?);
    Ok(done)
}

/// What the providers hold of ours after [`remove_orphans`].
struct ProvidersHold {
    /// The names of our CNAME records.
    records: BTreeSet<String>,
    /// The PaaS's domains, when there is a PaaS.
    domains: Option<BTreeSet<String>>,
    /// How many records and domains were removed.
    removed: usize,
}

impl ProvidersHold {
    /// Whether `host` lacks its record or its domain.
    fn lacks(&self, host: &str) -> bool {
        !self.records.contains(host)
            || self
                .domains
                .as_ref()
                .is_some_and(|domains| !domains.contains(host))
    }
}

/// Removes every record of ours and every domain under the zone that no `wanted` host
/// has (per-host mode); returns what the providers hold.
async fn remove_orphans(deps: &Deps, wanted: &BTreeSet<&str>) -> anyhow::Result<ProvidersHold> {
    let mut removed = 0;
    let records = deps.dns.list_records().await.context("list the records")?;
    for record in records.iter().filter(|r| r.ours) {
        let name = record.record.name.as_str();
        if under_zone(deps, name).is_some() && !wanted.contains(name) {
            deps.dns
                .delete_record(&record.id)
                .await
                .with_context(|| format!("delete the orphan record {name}"))?;
            tracing::info!(name, "orphan record removed");
            removed += 1;
        }
    }
    let mut domains = None;
    if let Some(paas) = &deps.paas {
        let listed = paas.list_domains().await.context("list the domains")?;
        for domain in &listed {
            if under_zone(deps, domain).is_some() && !wanted.contains(domain.as_str()) {
                paas.remove_domain(domain)
                    .await
                    .with_context(|| format!("remove the orphan domain {domain}"))?;
                tracing::info!(domain, "orphan domain removed");
                removed += 1;
            }
        }
        domains = Some(listed.into_iter().collect());
    }
    let records = records
        .into_iter()
        .filter(|r| r.ours && r.record.kind == RecordKind::Cname)
        .map(|r| r.record.name)
        .collect();
    Ok(ProvidersHold {
        records,
        domains,
        removed,
    })
}

/// Provisions `mocks`, `settings.concurrency` at a time.
///
/// # Errors
/// The first failure, after every started task has finished.
pub(crate) async fn provision_all(deps: &Deps, mocks: Vec<Mock>) -> anyhow::Result<WorkDone> {
    let permits = Arc::new(Semaphore::new(deps.settings.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for mock in mocks {
        let deps = deps.clone();
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            provision_mock(&deps, &mock).await
        });
    }
    let mut outcome = WorkDone::default();
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done.context("a provisioning task failed")? {
            Ok(one) => outcome.add(one),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}
