//! `rebuild`: what it writes, what it settles, and what it leaves alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use moclojer_domain::{
    DnsStatus, Event, EventKind, MockId, Publication, Revision, ServerState, ServerStatus, spec,
};
use moclojer_generator::{Deps, rebuild};
use moclojer_memory::InMemoryObjectStore;
use moclojer_ports::{
    CONFIG_KEY, MANIFEST_KEY, ObjectStore, PortResult, PublicationRepository, Scope, mock_key,
};

use crate::helpers::{World, item_hosts, items, key};

#[tokio::test]
async fn a_publish_serves_the_mock_at_its_host() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "hello").await;

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (1, 1, true)
    );
    assert_eq!((outcome.published, outcome.invalid), (1, 0));

    let config = world.object(CONFIG_KEY).await.unwrap();
    let served = items(&config.bytes);
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["endpoint"]["host"], mock.host.as_str());
    assert_eq!(served[0]["endpoint"]["path"], "/hello");
    assert_eq!(served[0]["endpoint"]["method"], "GET");

    let manifest = world.manifest().await;
    assert_eq!(manifest.generation, 1);
    assert_eq!(manifest.key.as_str(), CONFIG_KEY);
    assert_eq!(manifest.checksum, moclojer_ports::sha256_hex(&config.bytes));
    assert_eq!(manifest.bytes, config.bytes.len() as u64);
    assert_eq!(
        manifest.hosts,
        BTreeMap::from([(mock.host.as_str().to_owned(), 1)])
    );

    let publication = world.publication(mock.id).await;
    assert_eq!(publication.server, ServerState::Published);
    assert_eq!(publication.live_revision, Some(Revision::FIRST));
    assert_eq!(publication.requested_revision, None);

    let own = world
        .object(mock_key(workspace.id, mock.id).as_str())
        .await
        .expect("the mock's own file");
    assert_eq!(items(&own.bytes), served);

    // what foss will do with it: every item reads, none is dropped
    let report = spec::check_by_item(
        std::str::from_utf8(&config.bytes).unwrap(),
        spec::Mode::Cloud,
        &spec::Limits::default(),
    )
    .unwrap();
    assert!(
        report.diagnostics.iter().all(|d| !d.is_error()),
        "{report:?}"
    );
    assert_eq!(
        report.spec.endpoints[0].host.as_deref(),
        Some(mock.host.as_str())
    );
}

#[tokio::test]
async fn an_authors_host_is_replaced_by_the_real_one() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world
        .published_mock_with(
            &workspace,
            "sneaky",
            "- endpoint:\n    host: victim-other.test.localhost\n    path: /steal\n- websocket:\n    host: evil.example.com\n    path: /ws\n",
        )
        .await;

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.invalid), (1, 0));
    let config = world.object(CONFIG_KEY).await.unwrap();
    let text = std::str::from_utf8(&config.bytes).unwrap();
    assert!(!text.contains("victim") && !text.contains("evil"), "{text}");
    let served = items(&config.bytes);
    assert_eq!(
        item_hosts(&served),
        [mock.host.as_str(), mock.host.as_str()]
    );
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_last_good_revision_live() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mut mock = world.published_mock(&workspace, "steady").await;
    rebuild(&world.deps).await.unwrap();
    let before = world.object(CONFIG_KEY).await.unwrap();

    world
        .edit(
            &mut mock,
            "- endpoint:\n    method: GET\n    path: /broken\n    response:\n      status: 99999\n",
        )
        .await;
    world.request_publish(mock.id, mock.revision).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.invalid), (0, 1));
    assert_eq!((outcome.generation, outcome.changed), (1, false));

    let publication = world.publication(mock.id).await;
    assert_eq!(publication.server.status(), ServerStatus::Invalid);
    assert_eq!(publication.live_revision, Some(Revision::FIRST));
    let ServerState::Invalid { diagnostics } = &publication.server else {
        unreachable!()
    };
    let error = diagnostics.iter().find(|d| d.is_error()).expect("an error");
    // `status: 99999` is on line 5 of the author's text, its value at column 15
    assert_eq!((error.line, error.column), (5, 15), "{diagnostics:?}");

    let after = world.object(CONFIG_KEY).await.unwrap();
    assert_eq!(after.bytes, before.bytes);
    let served = world.config().await;
    assert_eq!(served[0]["endpoint"]["path"], "/steady");

    // a fix publishes again, and only then the config moves
    world
        .edit(&mut mock, "- endpoint:\n    path: /fixed\n")
        .await;
    world.request_publish(mock.id, mock.revision).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.generation), (1, 2));
    assert_eq!(world.config().await[0]["endpoint"]["path"], "/fixed");
    assert_eq!(world.manifest().await.hosts[mock.host.as_str()], 3);
}

#[tokio::test]
async fn an_unpublished_deleted_or_disabled_mock_disappears() {
    let world = World::new();
    let workspace = world.workspace().await;
    let gone = world.published_mock(&workspace, "gone").await;
    let off = world.published_mock(&workspace, "off").await;
    let mut paused = world.published_mock(&workspace, "paused").await;
    let stays = world.published_mock(&workspace, "stays").await;
    rebuild(&world.deps).await.unwrap();
    assert_eq!(world.manifest().await.hosts.len(), 4);
    for mock in [&gone, &off, &paused, &stays] {
        assert!(
            world
                .object(mock_key(workspace.id, mock.id).as_str())
                .await
                .is_some()
        );
    }

    let mut publication = world.publication(off.id).await;
    assert!(publication.unpublish(world.fx.now));
    world.save(&publication).await;
    world
        .repos
        .mocks
        .delete(&Scope::System, gone.id, &[])
        .await
        .unwrap();
    world.set_enabled(&mut paused, false).await;

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (2, 1));
    let manifest = world.manifest().await;
    assert_eq!(
        manifest.hosts.keys().collect::<Vec<_>>(),
        [stays.host.as_str()]
    );
    assert_eq!(item_hosts(&world.config().await), [stays.host.as_str()]);
    for mock in [&gone, &off, &paused] {
        assert!(
            world
                .object(mock_key(workspace.id, mock.id).as_str())
                .await
                .is_none(),
            "{} still has its file",
            mock.host
        );
    }
    assert!(
        world
            .object(mock_key(workspace.id, stays.id).as_str())
            .await
            .is_some()
    );

    // and with nothing live, the config is an empty list, not a missing file
    let mut publication = world.publication(stays.id).await;
    publication.unpublish(world.fx.now);
    world.save(&publication).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (3, 0));
    assert_eq!(world.object(CONFIG_KEY).await.unwrap().bytes, "[]\n");
    assert!(world.store.list("mocks/").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unchanged_state_writes_nothing() {
    let world = World::new();
    let workspace = world.workspace().await;
    world.published_mock(&workspace, "one").await;
    world.published_mock(&workspace, "two").await;
    let first = rebuild(&world.deps).await.unwrap();
    let config = world.store.head(&key(CONFIG_KEY)).await.unwrap();
    let manifest = world.store.head(&key(MANIFEST_KEY)).await.unwrap();
    let writes = world.store.writes();

    for _ in 0..3 {
        let again = rebuild(&world.deps).await.unwrap();
        assert_eq!(again.generation, first.generation);
        assert!(!again.changed);
        assert_eq!((again.published, again.invalid), (0, 0));
    }
    assert_eq!(world.store.writes(), writes, "nothing was rewritten");
    assert_eq!(world.store.head(&key(CONFIG_KEY)).await.unwrap(), config);
    assert_eq!(
        world.store.head(&key(MANIFEST_KEY)).await.unwrap(),
        manifest
    );
}

#[tokio::test]
async fn a_damaged_store_is_repaired() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "mended").await;
    rebuild(&world.deps).await.unwrap();
    let good = world.object(CONFIG_KEY).await.unwrap();
    let own = mock_key(workspace.id, mock.id);

    // a config overwritten behind the manifest's back, a lost per-mock file, a stray one
    world
        .store
        .put(&key(CONFIG_KEY), "[half".into())
        .await
        .unwrap();
    world.store.delete(&own).await.unwrap();
    let stray = key("mocks/someone/else.yml");
    world.store.put(&stray, "[]".into()).await.unwrap();

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.changed), (2, true));
    assert_eq!(world.object(CONFIG_KEY).await.unwrap().bytes, good.bytes);
    assert!(world.object(own.as_str()).await.is_some());
    assert!(world.object(stray.as_str()).await.is_none());
}

#[tokio::test]
async fn a_hundred_mocks_are_each_served_once_and_deterministically() {
    let world = World::new();
    let mut expected = Vec::new();
    for w in 0..10 {
        let workspace = world.workspace().await;
        for m in 0..10 {
            let mock = world.published_mock(&workspace, &format!("m{w}x{m}")).await;
            expected.push(mock.host.as_str().to_owned());
        }
    }
    expected.sort();

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.hosts, outcome.published), (100, 100));
    let manifest = world.manifest().await;
    assert_eq!(manifest.hosts.keys().cloned().collect::<Vec<_>>(), expected);
    let hosts = item_hosts(&world.config().await);
    assert_eq!(hosts, expected, "every host once, by host");

    // the same state built into another store gives the same bytes
    let other = Arc::new(InMemoryObjectStore::new());
    let again = rebuild(&world.deps_with_store(other.clone()))
        .await
        .unwrap();
    assert_eq!(again.generation, 1);
    let a = world.object(CONFIG_KEY).await.unwrap();
    let b = other.get(&key(CONFIG_KEY)).await.unwrap();
    assert_eq!(a.bytes, b.bytes);
    let b_manifest = other.get(&key(MANIFEST_KEY)).await.unwrap();
    assert_eq!(
        world.object(MANIFEST_KEY).await.unwrap().bytes,
        b_manifest.bytes
    );
}

#[tokio::test]
async fn config_published_lands_in_the_outbox() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "told").await;
    rebuild(&world.deps).await.unwrap();
    rebuild(&world.deps).await.unwrap();
    let manifest = world.manifest().await;

    let events: Vec<EventKind> = world
        .repos
        .outbox
        .pending(100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.event.kind)
        .collect();
    let published: Vec<_> = events
        .iter()
        .filter(|kind| matches!(kind, EventKind::ConfigPublished { .. }))
        .collect();
    assert_eq!(
        published,
        [&EventKind::ConfigPublished {
            generation: manifest.generation,
            key: CONFIG_KEY.to_owned(),
            checksum: manifest.checksum.clone(),
        }],
        "one event for one generation"
    );
    assert!(events.contains(&EventKind::PublicationChanged { mock_id: mock.id }));
}

#[tokio::test]
async fn a_publish_requested_again_meanwhile_is_settled_on_its_newest_revision() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mut mock = world.published_mock(&workspace, "racy").await;
    // a second edit requested before the generator saw the first
    world
        .edit(&mut mock, "- endpoint:\n    path: /second\n")
        .await;
    world.request_publish(mock.id, mock.revision).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!(outcome.published, 1);
    assert_eq!(
        world.publication(mock.id).await.live_revision,
        Some(mock.revision)
    );
    assert_eq!(world.config().await[0]["endpoint"]["path"], "/second");
}

/// Publications that another worker (ops) writes to just before each of the next `times`
/// saves, so those saves meet a newer version.
#[derive(Debug)]
struct Meddling {
    inner: Arc<dyn PublicationRepository>,
    times: AtomicUsize,
}

#[async_trait]
impl PublicationRepository for Meddling {
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication> {
        self.inner.get(scope, mock_id).await
    }
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>> {
        self.inner.list(scope).await
    }
    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication> {
        let meddle = self
            .times
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if meddle {
            let mut theirs = self.inner.get(scope, publication.mock_id).await?;
            theirs.dns_requested(theirs.updated_at).unwrap();
            self.inner.save(scope, &theirs, &[]).await?;
        }
        self.inner.save(scope, publication, events).await
    }
}

fn meddled(world: &World, times: usize) -> Deps {
    Deps {
        publications: Arc::new(Meddling {
            inner: world.repos.publications.clone(),
            times: AtomicUsize::new(times),
        }),
        ..world.deps.clone()
    }
}

#[tokio::test]
async fn a_concurrent_write_is_reloaded_and_kept() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "shared").await;
    let outcome = rebuild(&meddled(&world, 1)).await.unwrap();
    assert_eq!(outcome.published, 1);
    let publication = world.publication(mock.id).await;
    assert_eq!(publication.server, ServerState::Published);
    assert_eq!(
        publication.dns.status(),
        DnsStatus::Provisioning,
        "ops' write is kept"
    );
    assert_eq!(outcome.hosts, 1);
}

#[tokio::test]
async fn a_publication_that_keeps_changing_waits_for_the_next_rebuild() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "busy").await;
    let outcome = rebuild(&meddled(&world, moclojer_ports::PUBLICATION_SAVE_ATTEMPTS))
        .await
        .unwrap();
    assert_eq!((outcome.published, outcome.hosts), (0, 0));
    assert_eq!(
        world.publication(mock.id).await.server.status(),
        ServerStatus::Publishing
    );
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.hosts), (1, 1));
}
