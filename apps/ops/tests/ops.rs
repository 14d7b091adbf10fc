//! ops on the embedded adapters: records and domains made exactly once, verified through a
//! stand-in for the proxy, removed with their mock, reconciled both ways under a lease, and
//! never touching a record that is not ours.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{DnsState, Event, EventKind, Mock, Publication};
use moclojer_memory::{InMemoryDatabase, InMemoryDns, InMemoryPaas};
use moclojer_ops::{Deps, Mode, Settings, Verifier, handle, reconcile};
use moclojer_ports::{
    DnsProvider, DnsRecord, HttpClient, HttpRequest, HttpResponse, PROBE_HEADER, PaasProvider,
    PortError, PortResult, RandomIds, RecordKind, Scope, SystemClock,
};
use moclojer_testkit::{Fixture, Repos};

/// Stands in for the proxy and the mock servers: a host answers the probe with 204 when
/// it is in `served`, 404 otherwise; `down` makes every probe fail to connect.
#[derive(Debug, Default)]
struct Probes {
    served: Mutex<BTreeSet<String>>,
    down: Mutex<bool>,
    calls: AtomicUsize,
}

#[async_trait]
impl HttpClient for Probes {
    async fn send(&self, request: HttpRequest) -> PortResult<HttpResponse> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            request.headers.iter().any(|(n, _)| n == PROBE_HEADER),
            "a probe carries the probe header"
        );
        if *self.down.lock().expect("lock") {
            return Err(PortError::unavailable("connection refused"));
        }
        let host = request
            .url
            .strip_prefix("http://")
            .and_then(|rest| rest.split([':', '/']).next())
            .expect("http://host:port/")
            .to_owned();
        let status = if self.served.lock().expect("lock").contains(&host) {
            204
        } else {
            404
        };
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        })
    }
}

struct World {
    fx: Fixture,
    db: InMemoryDatabase,
    repos: Repos,
    dns: InMemoryDns,
    paas: InMemoryPaas,
    probes: Arc<Probes>,
    deps: Deps,
}

fn world(mode: Mode) -> World {
    let fx = Fixture::new();
    let db = InMemoryDatabase::new();
    let repos = Repos::from_database(db.clone());
    let dns = InMemoryDns::new();
    let paas = InMemoryPaas::new();
    let probes = Arc::new(Probes::default());
    let mut settings = Settings::new(fx.zone.clone(), "proxy.example.net");
    settings.mode = mode;
    settings.verify_attempts = 3;
    settings.verify_delay = Duration::from_millis(10);
    settings.verify_max_delay = Duration::from_millis(20);
    let deps = Deps {
        mocks: Arc::new(db.clone()),
        publications: Arc::new(db.clone()),
        dns: Arc::new(dns.clone()),
        paas: Some(Arc::new(paas.clone())),
        verifier: Verifier::new(probes.clone(), "http", Some(8080)),
        leases: Arc::new(db.clone()),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        settings,
    };
    World {
        fx,
        db,
        repos,
        dns,
        paas,
        probes,
        deps,
    }
}

impl World {
    /// A published (enabled) mock named `name`, served by the stand-in proxy.
    async fn published(&self, name: &str) -> Mock {
        let (_, personal) = self.fx.signed_up(&self.repos).await;
        let mut mock = self.fx.mock(&personal, name);
        mock.enabled = true;
        self.repos
            .mocks
            .create(&Scope::System, &mock, &[])
            .await
            .expect("create");
        self.probes
            .served
            .lock()
            .expect("lock")
            .insert(mock.host.as_str().to_owned());
        mock
    }

    fn requested(&self, mock: &Mock) -> Event {
        self.fx.event(EventKind::DomainRequested {
            mock_id: mock.id,
            host: mock.host.clone(),
        })
    }

    async fn publication(&self, mock: &Mock) -> Publication {
        self.repos
            .publications
            .get(&Scope::System, mock.id)
            .await
            .expect("publication")
    }

    async fn records_named(&self, name: &str) -> usize {
        self.dns
            .list_records()
            .await
            .expect("list")
            .iter()
            .filter(|r| r.record.name == name)
            .count()
    }

    async fn domains(&self) -> Vec<String> {
        self.paas.list_domains().await.expect("domains")
    }
}

#[tokio::test]
async fn a_publish_makes_one_record_and_one_domain_even_when_the_event_comes_twice() {
    let w = world(Mode::PerHost);
    let mock = w.published("hello").await;
    let event = w.requested(&mock);
    let first = handle(&w.deps, &event).await.expect("handle");
    assert_eq!(first.published, 1);
    handle(&w.deps, &event).await.expect("handle again");
    assert_eq!(w.records_named(mock.host.as_str()).await, 1);
    assert_eq!(w.domains().await, [mock.host.as_str()]);
    assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
    let records = w.dns.list_records().await.expect("list");
    assert_eq!(records[0].record.kind, RecordKind::Cname);
    assert_eq!(records[0].record.content, "proxy.example.net");
}

#[tokio::test]
async fn ten_hosts_at_once_each_get_exactly_one_record() {
    let w = world(Mode::PerHost);
    let mut mocks = Vec::new();
    for i in 0..10 {
        mocks.push(w.published(&format!("m{i}")).await);
    }
    let mut tasks = Vec::new();
    for mock in &mocks {
        // each event twice, all at once
        for _ in 0..2 {
            let deps = w.deps.clone();
            let event = w.requested(mock);
            tasks.push(tokio::spawn(async move { handle(&deps, &event).await }));
        }
    }
    for task in tasks {
        task.await.expect("task").expect("handle");
    }
    for mock in &mocks {
        assert_eq!(
            w.records_named(mock.host.as_str()).await,
            1,
            "{}",
            mock.host
        );
        assert_eq!(w.publication(mock).await.dns, DnsState::Published);
    }
    assert_eq!(w.domains().await.len(), 10);
}

#[tokio::test]
async fn a_host_that_never_answers_fails_with_a_reason_after_bounded_attempts() {
    let w = world(Mode::PerHost);
    let mock = w.published("silent").await;
    w.probes.served.lock().expect("lock").clear();
    let outcome = handle(&w.deps, &w.requested(&mock)).await.expect("handle");
    assert_eq!(outcome.failed, 1);
    assert_eq!(
        w.probes.calls.load(Ordering::SeqCst),
        3,
        "exactly the attempts set"
    );
    match w.publication(&mock).await.dns {
        DnsState::Failed { reason } => {
            assert!(reason.contains("not verified after 3 attempts"), "{reason}");
            assert!(reason.contains(mock.host.as_str()), "{reason}");
        }
        other => panic!("failed expected, got {other:?}"),
    }
    // The next reconcile tries again, and succeeds once the host answers.
    w.probes
        .served
        .lock()
        .expect("lock")
        .insert(mock.host.as_str().to_owned());
    let outcome = reconcile(&w.deps, "ops-a", Duration::from_secs(30))
        .await
        .expect("reconcile");
    assert_eq!(outcome.published, 1);
    assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
    assert_eq!(
        w.records_named(mock.host.as_str()).await,
        1,
        "still one record"
    );
}

#[tokio::test]
async fn killed_between_the_provider_call_and_the_status_write_converges_without_duplicates() {
    let w = world(Mode::PerHost);
    let mock = w.published("crash").await;
    // What a killed ops left: the record and domain made, the status still provisioning.
    let mut publication = w.publication(&mock).await;
    publication.dns_requested(w.fx.now).expect("provisioning");
    w.repos
        .publications
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save");
    w.dns
        .ensure_record(&DnsRecord {
            name: mock.host.as_str().to_owned(),
            kind: RecordKind::Cname,
            content: "proxy.example.net".to_owned(),
            proxied: true,
            ttl: 1,
        })
        .await
        .expect("record");
    w.paas.add_domain(mock.host.as_str()).await.expect("domain");
    // The restarted ops: the redelivered event, then a reconcile.
    handle(&w.deps, &w.requested(&mock)).await.expect("handle");
    reconcile(&w.deps, "ops-a", Duration::from_secs(30))
        .await
        .expect("reconcile");
    assert_eq!(w.records_named(mock.host.as_str()).await, 1);
    assert_eq!(w.domains().await, [mock.host.as_str()]);
    assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
}

#[tokio::test]
async fn delete_and_unpublish_remove_the_record_and_the_domain() {
    let w = world(Mode::PerHost);
    let gone = w.published("gone").await;
    let off = w.published("off").await;
    for mock in [&gone, &off] {
        handle(&w.deps, &w.requested(mock))
            .await
            .expect("provision");
    }
    let deleted = w
        .repos
        .mocks
        .delete(&Scope::System, gone.id, &[])
        .await
        .expect("delete");
    handle(
        &w.deps,
        &w.fx.event(EventKind::MockDeleted {
            mock_id: deleted.id,
            host: deleted.host.clone(),
        }),
    )
    .await
    .expect("removed");
    let mut unpublished = off.clone();
    unpublished.enabled = false;
    w.repos
        .mocks
        .update(&Scope::System, &unpublished, off.revision, &[])
        .await
        .expect("disable");
    handle(
        &w.deps,
        &w.fx.event(EventKind::DomainRemoved {
            host: off.host.clone(),
        }),
    )
    .await
    .expect("removed");
    assert_eq!(w.records_named(gone.host.as_str()).await, 0);
    assert_eq!(w.records_named(off.host.as_str()).await, 0);
    assert!(w.domains().await.is_empty());
    assert_eq!(w.publication(&off).await.dns, DnsState::Offline);
}

#[tokio::test]
async fn a_stale_removal_of_a_host_that_is_wanted_again_keeps_it() {
    let w = world(Mode::PerHost);
    let mock = w.published("back").await;
    handle(&w.deps, &w.requested(&mock))
        .await
        .expect("provision");
    // domain.removed from an earlier unpublish, delivered after the mock was published again
    handle(
        &w.deps,
        &w.fx.event(EventKind::DomainRemoved {
            host: mock.host.clone(),
        }),
    )
    .await
    .expect("handle");
    assert_eq!(w.records_named(mock.host.as_str()).await, 1);
    assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
}

#[tokio::test]
async fn reconcile_repairs_drift_both_ways_and_never_touches_foreign_records() {
    let w = world(Mode::PerHost);
    let wanted = w.published("wanted").await;
    let zone = w.fx.zone.as_str().to_owned();
    // Drift: an orphan record and domain of ours, and a record a person made.
    let orphan = format!("orphan-nobody.{zone}");
    w.dns
        .ensure_record(&DnsRecord {
            name: orphan.clone(),
            kind: RecordKind::Cname,
            content: "proxy.example.net".to_owned(),
            proxied: true,
            ttl: 1,
        })
        .await
        .expect("orphan");
    w.paas.add_domain(&orphan).await.expect("orphan domain");
    let foreign = format!("www-someone.{zone}");
    w.dns.insert_foreign(DnsRecord {
        name: foreign.clone(),
        kind: RecordKind::A,
        content: "192.0.2.1".to_owned(),
        proxied: false,
        ttl: 300,
    });

    let outcome = reconcile(&w.deps, "ops-a", Duration::from_secs(30))
        .await
        .expect("reconcile");
    assert!(outcome.reconciled);
    assert_eq!(outcome.published, 1);
    assert_eq!(
        w.records_named(wanted.host.as_str()).await,
        1,
        "the missing record is made"
    );
    assert_eq!(w.records_named(&orphan).await, 0, "our orphan is removed");
    assert_eq!(w.records_named(&foreign).await, 1, "a foreign record stays");
    assert_eq!(w.domains().await, [wanted.host.as_str()]);

    // Another instance does not reconcile while the lease holds.
    let other = reconcile(&w.deps, "ops-b", Duration::from_secs(30))
        .await
        .expect("reconcile");
    assert!(!other.reconciled, "ops-b waits for the lease");
    let _ = &w.db;
}

#[tokio::test]
async fn wildcard_mode_makes_one_record_for_the_zone_and_verifies_each_host() {
    let w = world(Mode::Wildcard);
    let a = w.published("a").await;
    let b = w.published("b").await;
    for mock in [&a, &b] {
        handle(&w.deps, &w.requested(mock)).await.expect("handle");
        assert_eq!(w.publication(mock).await.dns, DnsState::Published);
    }
    let records = w.dns.list_records().await.expect("list");
    let names: Vec<&str> = records.iter().map(|r| r.record.name.as_str()).collect();
    assert_eq!(
        names,
        [w.deps.settings.wildcard().as_str()],
        "one wildcard record"
    );
    assert_eq!(w.domains().await, [w.deps.settings.wildcard()]);
    // Removing a host leaves the wildcard alone.
    handle(
        &w.deps,
        &w.fx.event(EventKind::DomainRemoved {
            host: a.host.clone(),
        }),
    )
    .await
    .expect("handle");
    assert_eq!(w.dns.list_records().await.expect("list").len(), 1);
}

#[tokio::test]
async fn verification_stops_when_the_mock_is_deleted_meanwhile() {
    let mut w = world(Mode::PerHost);
    w.deps.settings.verify_attempts = 50;
    w.deps.settings.verify_delay = Duration::from_millis(20);
    let mock = w.published("brief").await;
    w.probes.served.lock().expect("lock").clear();
    let deps = w.deps.clone();
    let event = w.requested(&mock);
    let handling = tokio::spawn(async move { handle(&deps, &event).await });
    // Delete once verification is under way.
    let started = std::time::Instant::now();
    while w.probes.calls.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "verification started"
        );
        tokio::task::yield_now().await;
    }
    w.repos
        .mocks
        .delete(&Scope::System, mock.id, &[])
        .await
        .expect("delete");
    let outcome = tokio::time::timeout(Duration::from_secs(2), handling)
        .await
        .expect("verification gave up quickly")
        .expect("task")
        .expect("handle");
    assert_eq!(outcome.failed, 1);
    assert!(
        w.probes.calls.load(Ordering::SeqCst) < 10,
        "stopped asking once the mock was gone"
    );
}

/// ops over the Cloudflare adapter and the fake Cloudflare API: a 429 with `Retry-After` is
/// waited out, and the host still gets exactly one record, tagged as ours.
#[tokio::test]
async fn over_cloudflare_a_rate_limit_is_waited_out_and_one_record_is_made() {
    use moclojer_cloudflare::{ApiToken, CloudflareConfig, CloudflareDns};
    use moclojer_egress::{Egress, EgressConfig};
    use moclojer_testkit::fakes::cloudflare::FakeCloudflare;

    let mut w = world(Mode::PerHost);
    let fake = FakeCloudflare::start(
        "023e105f4ecef8ad9ca31a8372d0c353",
        w.fx.zone.as_str(),
        "cf-ops-token",
    )
    .await;
    let mut config = CloudflareConfig::new(fake.zone_id(), ApiToken::new("cf-ops-token"));
    config.api_base = fake.base_url();
    let http = Arc::new(Egress::new(EgressConfig::open()).expect("egress"));
    w.deps.dns = Arc::new(CloudflareDns::new(config, http).expect("cloudflare"));
    w.deps.paas = None;
    let mock = w.published("limited").await;
    fake.fail_next_with(429, Some(1));
    let started = std::time::Instant::now();
    let event = w.requested(&mock);
    handle(&w.deps, &event).await.expect("handle");
    handle(&w.deps, &event)
        .await
        .expect("handle the redelivery");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After was honoured: {:?}",
        started.elapsed()
    );
    let records: Vec<_> = fake
        .records()
        .into_iter()
        .filter(|r| r.name == mock.host.as_str())
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].comment.as_deref(), Some("managed-by:moclojer"));
    assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
}

/// ops over App Platform: the DigitalOcean adapter against the fake DigitalOcean API, with
/// quick retries.
mod app_platform {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use moclojer_digitalocean::{ApiToken, DigitalOceanApps, DigitalOceanConfig, RetryPolicy};
    use moclojer_domain::{DnsState, DnsStatus};
    use moclojer_egress::{Egress, EgressConfig};
    use moclojer_memory::InMemoryEventQueue;
    use moclojer_ops::{GROUP, Mode, RECONCILE_LEASE, handle, run};
    use moclojer_ports::{EventQueue, QueueSettings};
    use moclojer_testkit::fakes::digitalocean::FakeDigitalOcean;
    use tokio::task::JoinSet;

    use super::{World, world};

    const APP_ID: &str = "6a3c1f2e-1b2c-4d5e-8f90-123456789abc";
    const TOKEN: &str = "dop_v1_ops_test_token";
    /// Attempts of one spec change (the retry policy's).
    const ATTEMPTS: u32 = 4;

    async fn on_app_platform() -> (World, FakeDigitalOcean) {
        let mut w = world(Mode::PerHost);
        let fake = FakeDigitalOcean::start(w.fx.zone.as_str(), APP_ID, TOKEN).await;
        let config = DigitalOceanConfig {
            base_url: fake.base_url(),
            token: ApiToken::new(TOKEN),
            retry: RetryPolicy {
                max_attempts: ATTEMPTS,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
            },
        };
        let http = Arc::new(Egress::new(EgressConfig::open()).expect("egress"));
        let apps = DigitalOceanApps::new(http, &config, APP_ID).expect("app platform");
        w.deps.paas = Some(Arc::new(apps));
        (w, fake)
    }

    /// The domains of the fake app's spec, as written there.
    fn spec_domains(fake: &FakeDigitalOcean) -> Vec<String> {
        fake.app_spec()["domains"]
            .as_array()
            .expect("domains")
            .iter()
            .map(|d| d["domain"].as_str().expect("domain").to_owned())
            .collect()
    }

    fn app_puts(fake: &FakeDigitalOcean) -> usize {
        fake.requests()
            .iter()
            .filter(|r| r.starts_with("PUT /v2/apps/"))
            .count()
    }

    /// Makes the fake's next `times` app writes (every one when `None`) undone by a writer
    /// elsewhere that read the spec before the write and wrote it back after, with a change
    /// of its own.
    fn undo_writes(fake: &FakeDigitalOcean, times: Option<usize>) -> Arc<AtomicUsize> {
        let undone = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&undone);
        fake.on_app_put(move |_, before, stored| {
            if times.is_some_and(|times| count.load(Ordering::SeqCst) >= times) {
                return;
            }
            count.fetch_add(1, Ordering::SeqCst);
            *stored = before.clone();
            let domains = stored["domains"].as_array_mut().expect("domains");
            let theirs = DigitalOceanApps::domain_entry("elsewhere.example.com");
            if !domains.contains(&theirs) {
                domains.push(theirs);
            }
        });
        undone
    }

    /// Waits until `done` holds, for 30 s at most.
    async fn until<F, Fut>(what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Up to 32 events are handled at once (the worker's batch), each reading the app spec,
    /// adding its domain and writing the spec back. Every write lands 20 ms late, as a real
    /// one takes its time: without serialization the events read the same spec and
    /// overwrite each other's domains.
    #[tokio::test]
    async fn thirty_two_domain_events_for_one_app_all_end_in_its_spec() {
        let (w, fake) = on_app_platform().await;
        fake.delay_app_puts(Duration::from_millis(20));
        let mut mocks = Vec::new();
        for i in 0..32 {
            mocks.push(w.published(&format!("many{i}")).await);
        }
        let mut tasks = JoinSet::new();
        for mock in &mocks {
            let deps = w.deps.clone();
            let event = w.requested(mock);
            tasks.spawn(async move { handle(&deps, &event).await });
        }
        while let Some(done) = tasks.join_next().await {
            let done = done.expect("task").expect("every event is handled");
            assert_eq!(done.published, 1);
        }
        let domains = spec_domains(&fake);
        for mock in &mocks {
            assert!(
                domains.iter().any(|d| d == mock.host.as_str()),
                "{} is in the spec: {domains:?}",
                mock.host
            );
            assert_eq!(w.publication(mock).await.dns, DnsState::Published);
        }
        assert_eq!(domains.len(), 33, "the primary and the 32: {domains:?}");
        assert_eq!(fake.most_app_puts_in_flight(), 1, "one write at a time");
        assert_eq!(app_puts(&fake), 32, "no write was lost and made again");
    }

    /// A writer elsewhere undoes ops's domain twice between its write and its re-read: the
    /// re-read notices, and the change is made again until it holds.
    #[tokio::test]
    async fn a_domain_undone_by_a_writer_elsewhere_is_added_again() {
        let (w, fake) = on_app_platform().await;
        let undone = undo_writes(&fake, Some(2));
        let mock = w.published("raced").await;
        let done = handle(&w.deps, &w.requested(&mock))
            .await
            .expect("handled once the change holds");
        assert_eq!(done.published, 1);
        assert_eq!(undone.load(Ordering::SeqCst), 2);
        assert_eq!(app_puts(&fake), 3, "two writes undone, the third held");
        assert_eq!(
            spec_domains(&fake),
            ["moclojer.com", "elsewhere.example.com", mock.host.as_str()],
            "ops's domain is there, and the other writer's change is kept"
        );
        assert_eq!(w.publication(&mock).await.dns, DnsState::Published);
    }

    /// A writer elsewhere that keeps undoing the domain fails the event with a clear error:
    /// the worker does not ack it, the queue hands it out again, and once the writer stops
    /// the redelivery succeeds; an event undone at every delivery ends in the dead letters.
    #[tokio::test]
    async fn an_event_whose_domain_keeps_being_undone_is_retried_then_dead_lettered() {
        let (w, fake) = on_app_platform().await;
        let queue = InMemoryEventQueue::new(QueueSettings {
            redeliver_after: Duration::from_millis(50),
            max_deliveries: 3,
        });
        queue.ensure_group(GROUP).await.expect("group");
        // Another instance holds the reconcile: only events do the work here.
        w.deps
            .leases
            .acquire_lease(RECONCILE_LEASE, "someone-else", Duration::from_secs(3600))
            .await
            .expect("lease")
            .expect("free");

        // Undone at every attempt: the event fails, with the reason.
        undo_writes(&fake, None);
        let mock = w.published("outlasted").await;
        let failed = handle(&w.deps, &w.requested(&mock))
            .await
            .expect_err("undone at every attempt");
        let message = format!("{failed:#}");
        assert!(
            message.contains(&format!("add the domain {}", mock.host))
                && message.contains("another writer keeps changing it"),
            "{message}"
        );
        assert_eq!(
            w.publication(&mock).await.dns.status(),
            DnsStatus::Provisioning
        );

        // Through the worker: one delivery's worth of attempts undone, then the redelivery
        // holds.
        let undone = undo_writes(&fake, Some(usize::try_from(ATTEMPTS).expect("small")));
        let stuck = w.published("stuck").await;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let worker = {
            let deps = w.deps.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                let stop = async {
                    stop_rx.await.ok();
                };
                run(&deps, &queue, "ops-test", Duration::from_secs(3600), stop).await;
            })
        };
        queue.publish(&w.requested(&mock)).await.expect("publish");
        until("the redelivered event publishes the host", || async {
            w.publication(&mock).await.dns.status() == DnsStatus::Published
        })
        .await;
        assert_eq!(undone.load(Ordering::SeqCst), 4, "the first delivery lost");
        assert!(spec_domains(&fake).contains(&mock.host.as_str().to_owned()));

        undo_writes(&fake, None);
        queue.publish(&w.requested(&stuck)).await.expect("publish");
        until("the event is dead-lettered", || async {
            !queue.dead_letters(GROUP).await.expect("dead").is_empty()
        })
        .await;
        stop_tx.send(()).ok();
        worker.await.expect("worker");
        let dead = queue.dead_letters(GROUP).await.expect("dead");
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert!(!spec_domains(&fake).contains(&stuck.host.as_str().to_owned()));
        assert_ne!(
            w.publication(&stuck).await.dns.status(),
            DnsStatus::Published
        );
    }
}
