//! `rebuild`: what it writes, what it settles, and what it leaves alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use moclojer_domain::{
    DnsStatus, Event, EventKind, MockId, Publication, Revision, ServerState, ServerStatus, spec,
};
use moclojer_generator::{Deps, rebuild};
use moclojer_ports::{
    HOSTS_PREFIX, INDEX_PREFIX, LiveMock, MANIFEST_KEY, ObjectStore, PortResult,
    PublicationRepository, Scope,
};

use crate::helpers::{CountingStore, World, item_hosts, items, key, root_checksum};

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

    let view = world.published().await;
    assert_eq!(view.generation, 1);
    assert_eq!(
        view.hosts,
        BTreeMap::from([(mock.host.as_str().to_owned(), 1)])
    );
    assert_eq!(view.items.len(), 1);
    assert_eq!(view.items[0]["endpoint"]["host"], mock.host.as_str());
    assert_eq!(view.items[0]["endpoint"]["path"], "/hello");
    assert_eq!(view.items[0]["endpoint"]["method"], "GET");

    let publication = world.publication(mock.id).await;
    assert_eq!(publication.server, ServerState::Published);
    assert_eq!(publication.live_revision, Some(Revision::FIRST));
    assert_eq!(publication.requested_revision, None);

    // one object for the host, named by its digest, and nothing else beside the index
    let own = view.object_key(mock.host.as_str());
    assert_eq!(world.store.keys(HOSTS_PREFIX).await, [own.as_str()]);
    assert!(
        own.as_str()
            .starts_with(&format!("{HOSTS_PREFIX}{}/", mock.host.as_str()))
    );
    let object = world.object(own.as_str()).await.unwrap();
    assert_eq!(items(&object.bytes), view.items);
    let everything = world.store.keys("").await;
    assert!(
        everything.iter().all(|k| k == MANIFEST_KEY
            || k.starts_with(HOSTS_PREFIX)
            || k.starts_with(INDEX_PREFIX)),
        "{everything:?}"
    );

    // what foss will do with it: every item reads, none is dropped
    let report = spec::check_by_item(
        std::str::from_utf8(&object.bytes).unwrap(),
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
    let view = world.published().await;
    assert_eq!(view.hosts.keys().collect::<Vec<_>>(), [mock.host.as_str()]);
    let object = world
        .object(view.object_key(mock.host.as_str()).as_str())
        .await
        .unwrap();
    let text = std::str::from_utf8(&object.bytes).unwrap();
    assert!(!text.contains("victim") && !text.contains("evil"), "{text}");
    assert_eq!(
        item_hosts(&view.items),
        [mock.host.as_str(), mock.host.as_str()]
    );
    assert!(
        world
            .store
            .keys(HOSTS_PREFIX)
            .await
            .iter()
            .all(|k| !k.contains("victim")),
        "no object under the author's host"
    );
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_last_good_revision_live() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mut mock = world.published_mock(&workspace, "steady").await;
    rebuild(&world.deps).await.unwrap();
    let before = world.published().await;
    let _ = world.store.take_writes();

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

    assert!(
        world.store.take_writes().is_empty(),
        "the store is untouched"
    );
    assert_eq!(world.published().await, before);
    assert_eq!(before.items[0]["endpoint"]["path"], "/steady");

    // a fix publishes again, and only then the host's object moves
    world
        .edit(&mut mock, "- endpoint:\n    path: /fixed\n")
        .await;
    world.request_publish(mock.id, mock.revision).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.generation), (1, 2));
    let after = world.published().await;
    assert_eq!(after.items[0]["endpoint"]["path"], "/fixed");
    assert_eq!(after.hosts[mock.host.as_str()], 3);
    assert_ne!(
        after.object_key(mock.host.as_str()),
        before.object_key(mock.host.as_str())
    );
    assert_eq!(
        world.store.keys(HOSTS_PREFIX).await,
        [after.object_key(mock.host.as_str()).as_str()],
        "the replaced object is gone (no grace here)"
    );
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
    let before = world.published().await;
    assert_eq!(before.hosts.len(), 4);
    assert_eq!(world.store.keys(HOSTS_PREFIX).await.len(), 4);

    world.unpublish(off.id).await;
    world
        .repos
        .mocks
        .delete(&Scope::System, gone.id, &[])
        .await
        .unwrap();
    world.set_enabled(&mut paused, false).await;

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (2, 1));
    let view = world.published().await;
    assert_eq!(view.hosts.keys().collect::<Vec<_>>(), [stays.host.as_str()]);
    assert_eq!(item_hosts(&view.items), [stays.host.as_str()]);
    for mock in [&gone, &off, &paused] {
        let host = mock.host.as_str();
        assert!(
            world
                .store
                .keys(&format!("{HOSTS_PREFIX}{host}/"))
                .await
                .is_empty(),
            "{host} still has its object"
        );
    }
    assert_eq!(
        world.store.keys(HOSTS_PREFIX).await,
        [view.object_key(stays.host.as_str()).as_str()]
    );

    // and with nothing live, the index is an empty one, not a missing root
    world.unpublish(stays.id).await;
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (3, 0));
    let view = world.published().await;
    assert_eq!((view.generation, view.hosts.len()), (3, 0));
    assert!(view.items.is_empty());
    assert!(world.store.keys(HOSTS_PREFIX).await.is_empty());
    assert!(
        world.store.keys(INDEX_PREFIX).await.is_empty(),
        "an empty index has no nodes, and the old ones are collected"
    );
}

#[tokio::test]
async fn an_unchanged_state_writes_nothing() {
    let world = World::new();
    let workspace = world.workspace().await;
    world.published_mock(&workspace, "one").await;
    world.published_mock(&workspace, "two").await;
    let first = rebuild(&world.deps).await.unwrap();
    let root = world.store.head(&key(MANIFEST_KEY)).await.unwrap();
    let snapshot = world.store.snapshot().await;
    let _ = world.store.take_writes();

    for _ in 0..3 {
        let again = rebuild(&world.deps).await.unwrap();
        assert_eq!(again.generation, first.generation);
        assert!(!again.changed);
        assert_eq!((again.published, again.invalid), (0, 0));
    }
    assert_eq!(world.store.take_writes().0, [], "nothing was rewritten");
    assert_eq!(world.store.head(&key(MANIFEST_KEY)).await.unwrap(), root);
    assert_eq!(world.store.snapshot().await, snapshot);
}

#[tokio::test]
async fn a_damaged_store_is_repaired() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mended = world.published_mock(&workspace, "mended").await;
    let other = world.published_mock(&workspace, "other").await;
    rebuild(&world.deps).await.unwrap();
    let good = world.published().await;

    // a lost host object, a lost index node, and stray objects nobody references
    let lost = good.object_key(mended.host.as_str());
    world.store.delete(&lost).await.unwrap();
    let node = key(&world.store.keys(INDEX_PREFIX).await[0]);
    world.store.delete(&node).await.unwrap();
    let stray_object = key(&format!(
        "{HOSTS_PREFIX}someone.test/{}.yml",
        "0".repeat(64)
    ));
    let stray_node = key(&format!("{INDEX_PREFIX}{}.json", "1".repeat(64)));
    world.store.put(&stray_object, "[]\n".into()).await.unwrap();
    world.store.put(&stray_node, "{}\n".into()).await.unwrap();

    // a generator starting on it
    let restarted = world.restarted();
    let outcome = rebuild(&restarted).await.unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (2, 2, true)
    );
    assert!(world.object(lost.as_str()).await.is_some(), "written again");
    let repaired = world.published().await;
    assert_eq!(repaired.generation, 2);
    assert_eq!(repaired.hosts, good.hosts);
    assert_eq!(repaired.entries, good.entries);
    assert_eq!(repaired.items, good.items);
    assert_eq!(
        item_hosts(&repaired.items),
        [mended.host.as_str(), other.host.as_str()]
    );

    // the strays (and the damaged generation's nodes) go on the next sync
    let again = rebuild(&restarted).await.unwrap();
    assert_eq!((again.generation, again.changed), (2, false));
    assert!(world.object(stray_object.as_str()).await.is_none());
    assert!(world.object(stray_node.as_str()).await.is_none());
    let referenced = world.published().await;
    assert_eq!(referenced, repaired);
    assert_eq!(
        world.store.keys(HOSTS_PREFIX).await.len(),
        2,
        "only the two hosts' objects are left"
    );
}

#[tokio::test]
async fn a_lost_host_object_is_written_again_in_the_same_generation() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "dropped").await;
    rebuild(&world.deps).await.unwrap();
    let good = world.published().await;
    let lost = good.object_key(mock.host.as_str());
    let bytes = world.object(lost.as_str()).await.unwrap().bytes;
    world.store.delete(&lost).await.unwrap();
    let _ = world.store.take_writes();

    let outcome = rebuild(&world.restarted()).await.unwrap();
    assert_eq!((outcome.generation, outcome.changed), (1, false));
    assert_eq!(
        world.store.take_writes().puts_under(""),
        [lost.as_str()],
        "only the lost object is written"
    );
    assert_eq!(world.object(lost.as_str()).await.unwrap().bytes, bytes);
    assert_eq!(world.published().await, good);
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
    let published = world.published().await;
    assert_eq!(
        published.hosts.keys().cloned().collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        item_hosts(&published.items),
        expected,
        "every host once, by host"
    );
    assert_eq!(world.store.keys(HOSTS_PREFIX).await.len(), 100);

    // the same state built into another store gives the same objects, byte for byte
    let other = CountingStore::default();
    let again = rebuild(&world.deps_with_store(Arc::new(other.clone())))
        .await
        .unwrap();
    assert_eq!((again.generation, again.hosts), (1, 100));
    assert_eq!(other.snapshot().await, world.store.snapshot().await);
    assert_eq!(crate::helpers::view(&other).await, published);
}

#[tokio::test]
async fn config_published_lands_in_the_outbox() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "told").await;
    rebuild(&world.deps).await.unwrap();
    rebuild(&world.deps).await.unwrap();
    let view = world.published().await;

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
            generation: view.generation,
            key: MANIFEST_KEY.to_owned(),
            checksum: root_checksum(&world.store).await,
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
    let view = world.published().await;
    assert_eq!(view.items[0]["endpoint"]["path"], "/second");
    assert_eq!(view.hosts[mock.host.as_str()], mock.revision.get());
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
    async fn live(&self, scope: &Scope) -> PortResult<Vec<LiveMock>> {
        self.inner.live(scope).await
    }
    async fn publishing(&self, scope: &Scope) -> PortResult<Vec<MockId>> {
        self.inner.publishing(scope).await
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
    assert_eq!(
        world.published().await.hosts.keys().collect::<Vec<_>>(),
        [mock.host.as_str()]
    );
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
    assert!(world.published().await.hosts.is_empty());
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.published, outcome.hosts), (1, 1));
    assert_eq!(world.published().await.hosts.len(), 1);
}
