//! Every contract suite against the in-memory adapters.

use std::sync::Arc;

use moclojer_memory::{
    InMemoryDatabase, InMemoryDns, InMemoryEventQueue, InMemoryJournal, InMemoryMockState,
    InMemoryObjectStore, InMemoryPaas,
};
use moclojer_ports::{DnsRecord, MockState, RecordKind};
use moclojer_testkit::{Fixture, ManualClock, Repos, contracts};

fn repos() -> Repos {
    Repos::from_database(InMemoryDatabase::new())
}

#[tokio::test]
async fn accounts() {
    contracts::account_repository_contract(repos()).await;
}

#[tokio::test]
async fn mocks() {
    contracts::mock_repository_contract(repos()).await;
}

#[tokio::test]
async fn publications() {
    contracts::publication_repository_contract(repos()).await;
}

#[tokio::test]
async fn outbox() {
    contracts::outbox_contract(repos()).await;
}

#[tokio::test]
async fn event_queue() {
    contracts::event_queue_contract(Arc::new(InMemoryEventQueue::new(
        contracts::CONTRACT_QUEUE_SETTINGS,
    )))
    .await;
}

#[tokio::test]
async fn request_journal() {
    let clock = ManualClock::new(Fixture::new().now);
    let journal = InMemoryJournal::new(contracts::CONTRACT_RETENTION, Arc::new(clock.clone()));
    contracts::request_journal_contract(Arc::new(journal), clock).await;
}

#[tokio::test]
async fn request_journal_under_a_busy_host() {
    let clock = ManualClock::new(Fixture::new().now);
    let journal = InMemoryJournal::new(
        moclojer_domain::journal::Retention::DEFAULT,
        Arc::new(clock.clone()),
    );
    let cap = moclojer_domain::journal::Retention::DEFAULT.max_records;
    contracts::a_busy_host_keeps_its_cap(&journal, &clock, "busy.test", cap).await;
}

#[tokio::test]
async fn object_store() {
    contracts::object_store_contract(Arc::new(InMemoryObjectStore::new())).await;
}

#[tokio::test]
async fn dns() {
    let dns = InMemoryDns::new();
    dns.insert_foreign(DnsRecord {
        name: "www.moclojer.test".to_owned(),
        kind: RecordKind::A,
        content: "192.0.2.1".to_owned(),
        proxied: false,
        ttl: 300,
    });
    contracts::dns_provider_contract(Arc::new(dns), "moclojer.test", "www.moclojer.test").await;
}

#[tokio::test]
async fn paas() {
    contracts::paas_provider_contract(Arc::new(InMemoryPaas::new())).await;
}

#[tokio::test]
async fn leases() {
    let clock = ManualClock::new(Fixture::new().now);
    let database = InMemoryDatabase::with_clock(Arc::new(clock.clone()));
    contracts::lease_contract(Arc::new(database), Some(clock)).await;
}

/// On the system clock, with the acquirers racing on several threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_on_the_system_clock() {
    contracts::lease_contract(Arc::new(InMemoryDatabase::new()), None).await;
}

#[tokio::test]
async fn identity() {
    let database = InMemoryDatabase::new();
    contracts::identity_contract(
        Arc::new(database.clone()),
        Arc::new(database),
        ManualClock::new(Fixture::new().now),
    )
    .await;
}

/// On several threads, so the concurrent callers really race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_state() {
    contracts::mock_state_contract(|limits| async move {
        Arc::new(InMemoryMockState::new(limits)) as Arc<dyn MockState>
    })
    .await;
}
