//! What is new with the incremental layout: a publish writes in proportion to what changed
//! and reads only what its events name; unreferenced objects go after a grace; a restarted
//! generator continues the store's generation; a root it cannot continue stops it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{
    Event, EventKind, Host, Mock, MockId, MockRevision, Publication, Revision, WorkspaceId,
};
use moclojer_generator::{Deps, GROUP, Published, StepOutcome, rebuild, sync, try_execute_next};
use moclojer_memory::{InMemoryEventQueue, InMemoryObjectStore};
use moclojer_ports::{
    EventQueue, HOSTS_PREFIX, INDEX_PREFIX, LiveMock, MANIFEST_KEY, MockRepository, ObjectStore,
    PortResult, PublicationRepository, PublishedIndex, Refresh, Scope,
};

use crate::helpers::{World, Write, key};

/// The most index bytes (nodes and root) one publish may write, whatever the number of
/// live mocks.
const INDEX_BYTES_PER_PUBLISH: usize = 16 * 1024;

/// `count` live mocks, ten to a workspace, published by one rebuild.
async fn many(world: &World, count: usize) -> Vec<Mock> {
    let mut mocks = Vec::with_capacity(count);
    let mut workspace = world.workspace().await;
    for i in 0..count {
        if i % 10 == 0 && i > 0 {
            workspace = world.workspace().await;
        }
        mocks.push(world.published_mock(&workspace, &format!("many{i}")).await);
    }
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!(outcome.hosts, count);
    mocks
}

#[tokio::test]
async fn one_publish_among_many_writes_one_object_and_a_bounded_index() {
    let world = World::new();
    let mut mocks = many(&world, 300).await;
    let whole_index: usize = world
        .store
        .snapshot()
        .await
        .iter()
        .filter(|(k, _)| k.starts_with(INDEX_PREFIX) || *k == MANIFEST_KEY)
        .map(|(_, bytes)| bytes.len())
        .sum();
    let _ = world.store.take_writes();

    // a new mock, through the event path
    let workspace = world.workspace().await;
    let newcomer = world.published_mock(&workspace, "newcomer").await;
    let outcome = sync(&world.deps, &[newcomer.id]).await.unwrap();
    assert_eq!(
        (
            outcome.generation,
            outcome.hosts,
            outcome.changed,
            outcome.published
        ),
        (2, 301, true, 1)
    );
    let view = world.published().await;
    let writes = world.store.take_writes();
    assert_eq!(
        writes.puts_under(HOSTS_PREFIX),
        [view.object_key(newcomer.host.as_str()).as_str()],
        "exactly one host object"
    );
    let nodes = writes.puts_under(INDEX_PREFIX).len();
    assert!((1..=3).contains(&nodes), "{nodes} index nodes: {writes:?}");
    assert_eq!(
        writes.puts_under(MANIFEST_KEY),
        [MANIFEST_KEY],
        "the root, last"
    );
    assert!(
        matches!(writes.0.iter().rev().find(|w| matches!(w, Write::Put { .. })), Some(Write::Put { key, .. }) if key == MANIFEST_KEY)
    );
    let index_bytes = writes.bytes_under(INDEX_PREFIX) + writes.bytes_under(MANIFEST_KEY);
    assert!(
        index_bytes < INDEX_BYTES_PER_PUBLISH && index_bytes * 4 < whole_index,
        "{index_bytes} bytes of index written, of {whole_index}"
    );
    assert!(writes.deletes_under(HOSTS_PREFIX).is_empty());
    assert!(writes.deletes_under(INDEX_PREFIX).len() <= nodes);

    // an edit of one of them, through the full rebuild
    let edited = &mut mocks[123];
    world.edit(edited, "- endpoint:\n    path: /edited\n").await;
    world.request_publish(edited.id, edited.revision).await;
    let before = view.object_key(edited.host.as_str());
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (3, 301));
    let view = world.published().await;
    let writes = world.store.take_writes();
    assert_eq!(
        writes.puts_under(HOSTS_PREFIX),
        [view.object_key(edited.host.as_str()).as_str()]
    );
    let nodes = writes.puts_under(INDEX_PREFIX).len();
    assert!((1..=3).contains(&nodes), "{nodes} index nodes: {writes:?}");
    assert_eq!(writes.puts_under(MANIFEST_KEY), [MANIFEST_KEY]);
    assert!(
        writes.bytes_under(INDEX_PREFIX) + writes.bytes_under(MANIFEST_KEY)
            < INDEX_BYTES_PER_PUBLISH
    );
    assert_eq!(
        writes.deletes_under(HOSTS_PREFIX),
        [before.as_str()],
        "the replaced object, and no other"
    );
    assert_eq!(world.store.keys(HOSTS_PREFIX).await.len(), 301);
}

/// What a repository was asked, by method and mock.
#[derive(Debug, Default)]
struct Reads(Mutex<Vec<(&'static str, Option<MockId>)>>);

impl Reads {
    fn note(&self, what: &'static str, mock_id: Option<MockId>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((what, mock_id));
    }

    fn take(&self) -> Vec<(&'static str, Option<MockId>)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Mocks whose reads are noted.
#[derive(Debug)]
struct WatchedMocks {
    inner: Arc<dyn MockRepository>,
    reads: Arc<Reads>,
}

#[async_trait]
impl MockRepository for WatchedMocks {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        self.inner.create(scope, mock, events).await
    }
    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        self.reads.note("mocks.get", Some(id));
        self.inner.get(scope, id).await
    }
    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        self.reads.note("mocks.find_by_host", None);
        self.inner.find_by_host(scope, host).await
    }
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        self.reads.note("mocks.list", None);
        self.inner.list(scope).await
    }
    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        self.reads.note("mocks.list_in_workspace", None);
        self.inner.list_in_workspace(scope, workspace).await
    }
    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        self.inner
            .update(scope, mock, expected_revision, events)
            .await
    }
    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        self.inner.delete(scope, id, events).await
    }
    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        self.reads.note("mocks.revisions", Some(id));
        self.inner.revisions(scope, id).await
    }
    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        self.reads.note("mocks.revision", Some(id));
        self.inner.revision(scope, id, revision).await
    }
    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>> {
        self.reads.note("mocks.revisions_at", None);
        self.inner.revisions_at(scope, wanted).await
    }
}

/// Publications whose reads are noted.
#[derive(Debug)]
struct WatchedPublications {
    inner: Arc<dyn PublicationRepository>,
    reads: Arc<Reads>,
}

#[async_trait]
impl PublicationRepository for WatchedPublications {
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication> {
        self.reads.note("publications.get", Some(mock_id));
        self.inner.get(scope, mock_id).await
    }
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>> {
        self.reads.note("publications.list", None);
        self.inner.list(scope).await
    }
    async fn live(&self, scope: &Scope) -> PortResult<Vec<LiveMock>> {
        self.reads.note("publications.live", None);
        self.inner.live(scope).await
    }
    async fn publishing(&self, scope: &Scope) -> PortResult<Vec<MockId>> {
        self.reads.note("publications.publishing", None);
        self.inner.publishing(scope).await
    }
    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication> {
        self.inner.save(scope, publication, events).await
    }
}

fn watched(world: &World, reads: &Arc<Reads>) -> Deps {
    Deps {
        mocks: Arc::new(WatchedMocks {
            inner: world.repos.mocks.clone(),
            reads: Arc::clone(reads),
        }),
        publications: Arc::new(WatchedPublications {
            inner: world.repos.publications.clone(),
            reads: Arc::clone(reads),
        }),
        ..world.deps.clone()
    }
}

#[tokio::test]
async fn an_event_reads_only_the_mocks_it_names() {
    let world = World::new();
    let reads = Arc::new(Reads::default());
    let deps = watched(&world, &reads);
    let mut mocks = many(&world, 40).await;
    // the generator has read the store once
    rebuild(&deps).await.unwrap();
    let _ = reads.take();
    let _ = world.store.take_writes();

    let target = &mut mocks[17];
    world.edit(target, "- endpoint:\n    path: /moved\n").await;
    world.request_publish(target.id, target.revision).await;
    let queue = InMemoryEventQueue::default();
    queue.ensure_group(GROUP).await.unwrap();
    queue
        .publish(
            &world
                .fx
                .event(EventKind::PublicationChanged { mock_id: target.id }),
        )
        .await
        .unwrap();
    assert_eq!(
        try_execute_next(&deps, &queue, GROUP).await.unwrap(),
        StepOutcome::Done
    );

    let seen = reads.take();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|(_, id)| *id == Some(target.id)),
        "reads beyond the mock the event names: {seen:?}"
    );
    let view = world.published().await;
    assert_eq!(view.generation, 2);
    assert_eq!(view.hosts[target.host.as_str()], target.revision.get());
    assert_eq!(
        world.store.take_writes().puts_under(HOSTS_PREFIX),
        [view.object_key(target.host.as_str()).as_str()]
    );
}

#[tokio::test]
async fn a_cold_rebuild_reads_the_live_revisions_together() {
    let world = World::new();
    let workspace = world.workspace().await;
    let mut mocks = Vec::new();
    for i in 0..25 {
        mocks.push(world.published_mock(&workspace, &format!("cold{i}")).await);
    }
    rebuild(&world.deps).await.unwrap();

    // a generator starting on an empty store, every mock live
    let reads = Arc::new(Reads::default());
    let store = Arc::new(InMemoryObjectStore::new());
    let deps = Deps {
        store: store.clone(),
        published: Published::new(),
        ..watched(&world, &reads)
    };
    let outcome = rebuild(&deps).await.unwrap();
    assert_eq!(outcome.hosts, mocks.len());
    let seen: Vec<&str> = reads.take().into_iter().map(|(what, _)| what).collect();
    assert_eq!(
        seen,
        [
            "publications.publishing",
            "publications.live",
            "mocks.revisions_at"
        ],
        "one query for what is pending, one for the live set, one for their revisions"
    );
    let mut index = PublishedIndex::new();
    index.refresh(store.as_ref()).await.unwrap();
    for mock in &mocks {
        let entry = index
            .get(mock.host.as_str())
            .expect("the host is published");
        assert_eq!(entry.revision, mock.revision.get());
        let key = entry.object_key(mock.host.as_str()).unwrap();
        assert!(store.get(&key).await.is_ok(), "{key} is written");
    }
}

#[tokio::test]
async fn unpublish_removes_the_host_and_with_no_grace_its_object() {
    let world = World::new();
    let workspace = world.workspace().await;
    let leaving = world.published_mock(&workspace, "leaving").await;
    let staying = world.published_mock(&workspace, "staying").await;
    rebuild(&world.deps).await.unwrap();
    let before = world.published().await;
    let object = before.object_key(leaving.host.as_str());
    let _ = world.store.take_writes();

    world.unpublish(leaving.id).await;
    let outcome = sync(&world.deps, &[leaving.id]).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (2, 1));
    let view = world.published().await;
    assert_eq!(
        view.hosts.keys().collect::<Vec<_>>(),
        [staying.host.as_str()]
    );
    let writes = world.store.take_writes();
    assert_eq!(writes.deletes_under(HOSTS_PREFIX), [object.as_str()]);
    assert!(writes.puts_under(HOSTS_PREFIX).is_empty());
    assert!(world.object(object.as_str()).await.is_none());
    assert_store_is_exactly_what_is_referenced(&world).await;
}

#[tokio::test]
async fn an_unreferenced_object_stays_until_the_grace_is_over() {
    let grace = Duration::from_millis(500);
    let world = World::with_grace(grace);
    let workspace = world.workspace().await;
    let leaving = world.published_mock(&workspace, "leaving").await;
    world.published_mock(&workspace, "staying").await;
    rebuild(&world.deps).await.unwrap();
    // a mock server that read generation 1
    let mut reader = PublishedIndex::new();
    reader.refresh(&world.store).await.unwrap();
    let object = reader
        .get(leaving.host.as_str())
        .unwrap()
        .object_key(leaving.host.as_str())
        .unwrap();

    world.unpublish(leaving.id).await;
    let unpublished = tokio::time::Instant::now();
    sync(&world.deps, &[leaving.id]).await.unwrap();
    let view = world.published().await;
    assert_eq!((view.generation, view.hosts.len()), (2, 1));
    assert!(!view.hosts.contains_key(leaving.host.as_str()));
    // what the reader of generation 1 names is still there, through more syncs
    rebuild(&world.deps).await.unwrap();
    assert!(unpublished.elapsed() < grace, "the test was too slow");
    assert!(
        world.store.get(&object).await.is_ok(),
        "deleted before the grace was over"
    );

    tokio::time::sleep(grace + Duration::from_millis(50)).await;
    let _ = world.store.take_writes();
    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.changed), (2, false));
    assert!(
        world.object(object.as_str()).await.is_none(),
        "kept after the grace"
    );
    assert!(
        world
            .store
            .take_writes()
            .0
            .iter()
            .all(|w| matches!(w, Write::Delete { .. })),
        "only deletes once the grace is over"
    );
    assert_store_is_exactly_what_is_referenced(&world).await;
    // and the reader moves on to generation 2
    let Refresh::Changed {
        generation,
        changes,
    } = reader.refresh(&world.store).await.unwrap()
    else {
        panic!("the reader sees nothing new");
    };
    assert_eq!(generation, 2);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].host, leaving.host.as_str());
    assert_eq!(changes[0].after, None);
}

/// The store holds the root, its nodes and its hosts' objects, and nothing else.
async fn assert_store_is_exactly_what_is_referenced(world: &World) {
    let mut index = PublishedIndex::new();
    index.refresh(&world.store).await.unwrap();
    let referenced: BTreeSet<String> = index
        .referenced()
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    let stored: BTreeSet<String> = world.store.keys("").await.into_iter().collect();
    assert_eq!(stored, referenced);
}

#[tokio::test]
async fn a_restarted_generator_continues_the_generation() {
    let world = World::new();
    let workspace = world.workspace().await;
    world.published_mock(&workspace, "first").await;
    rebuild(&world.deps).await.unwrap();
    world.published_mock(&workspace, "second").await;
    assert_eq!(rebuild(&world.deps).await.unwrap().generation, 2);
    let mut reader = PublishedIndex::new();
    reader.refresh(&world.store).await.unwrap();
    let snapshot = world.store.snapshot().await;
    let _ = world.store.take_writes();

    // nothing changed: a new generator writes nothing, deletes nothing
    let restarted = world.restarted();
    let outcome = rebuild(&restarted).await.unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (2, 2, false)
    );
    assert_eq!(world.store.take_writes().0, []);
    assert_eq!(world.store.snapshot().await, snapshot);
    assert_eq!(
        reader.refresh(&world.store).await.unwrap(),
        Refresh::Unchanged
    );

    // a change after another restart, through an event: generation 3, seen by the reader
    let restarted = world.restarted();
    let third = world.published_mock(&workspace, "third").await;
    let outcome = sync(&restarted, &[third.id]).await.unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (3, 3, true)
    );
    let Refresh::Changed {
        generation,
        changes,
    } = reader.refresh(&world.store).await.unwrap()
    else {
        panic!("the reader sees nothing new");
    };
    assert_eq!(generation, 3);
    assert_eq!(
        changes.iter().map(|c| c.host.as_str()).collect::<Vec<_>>(),
        [third.host.as_str()]
    );
    let view = world.published().await;
    assert_eq!((view.generation, view.hosts.len()), (3, 3));

    let generations: Vec<u64> = world
        .repos
        .outbox
        .pending(100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| match entry.event.kind {
            EventKind::ConfigPublished { generation, .. } => Some(generation),
            _ => None,
        })
        .collect();
    assert_eq!(
        generations,
        [1, 2, 3],
        "one config.published per generation"
    );
}

#[tokio::test]
async fn a_root_that_cannot_be_continued_stops_the_rebuild_and_touches_nothing() {
    for garbage in [
        &b"{\"layout\": 2, \"generation\": "[..],
        b"\x00\x01 not json",
        br#"{"layout": 3, "generation": 9, "hosts": 0, "index": {}}"#,
    ] {
        let world = World::new();
        let workspace = world.workspace().await;
        world.published_mock(&workspace, "kept").await;
        rebuild(&world.deps).await.unwrap();
        world
            .store
            .put(&key(MANIFEST_KEY), garbage.to_vec().into())
            .await
            .unwrap();
        let snapshot = world.store.snapshot().await;
        let _ = world.store.take_writes();
        let another = world.published_mock(&workspace, "another").await;

        let restarted = world.restarted();
        for attempt in [
            rebuild(&restarted).await,
            sync(&restarted, &[another.id]).await,
        ] {
            let err = format!("{:#}", attempt.unwrap_err());
            assert!(err.contains(MANIFEST_KEY), "{err}");
            assert!(err.contains("the generation cannot be continued"), "{err}");
        }
        assert_eq!(
            world.store.take_writes().0,
            [],
            "nothing written or deleted"
        );
        assert_eq!(world.store.snapshot().await, snapshot);
    }
}

#[tokio::test]
async fn a_host_taken_over_in_one_batch_follows_its_new_mock() {
    for old_first in [true, false] {
        let world = World::new();
        let workspace = world.workspace().await;
        let old = world.published_mock(&workspace, "twin").await;
        rebuild(&world.deps).await.unwrap();
        let host = old.host.as_str().to_owned();

        // deleted and created again under the same name before the generator wakes
        world
            .repos
            .mocks
            .delete(&Scope::System, old.id, &[])
            .await
            .unwrap();
        let new = world.published_mock(&workspace, "twin").await;
        assert_eq!(new.host.as_str(), host);
        let batch = if old_first {
            [old.id, new.id]
        } else {
            [new.id, old.id]
        };
        sync(&world.deps, &batch).await.unwrap();
        assert_eq!(
            world.published().await.hosts.keys().collect::<Vec<_>>(),
            [&host]
        );

        // the old mock's event again (a redelivery) leaves the new one served
        sync(&world.deps, &[old.id]).await.unwrap();
        assert_eq!(
            world.published().await.hosts.keys().collect::<Vec<_>>(),
            [&host],
            "old first: {old_first}"
        );

        // and the new mock's deletion takes the host down
        world
            .repos
            .mocks
            .delete(&Scope::System, new.id, &[])
            .await
            .unwrap();
        sync(&world.deps, &[new.id]).await.unwrap();
        assert!(
            world.published().await.hosts.is_empty(),
            "old first: {old_first}"
        );
    }
}

#[tokio::test]
async fn a_store_of_the_first_layout_is_continued_after_its_generation() {
    let world = World::new();
    let workspace = world.workspace().await;
    world.published_mock(&workspace, "upgraded").await;
    // What the previous generator left: a unified config, its manifest and per-mock files.
    let sum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let first = format!(
        r#"{{"generation": 7, "key": "moclojer.yml", "checksum": "{sum}", "bytes": 0, "hosts": {{}}}}"#
    );
    for (raw, bytes) in [
        (MANIFEST_KEY, first.into_bytes()),
        ("moclojer.yml", b"[]\n".to_vec()),
        ("mocks/ws/m.yml", b"[]\n".to_vec()),
    ] {
        world.store.put(&key(raw), bytes.into()).await.unwrap();
    }

    let outcome = rebuild(&world.deps).await.unwrap();
    assert_eq!(
        outcome.generation, 8,
        "the generation goes on after the first layout's"
    );
    assert!(outcome.changed);
    let mut reader = PublishedIndex::new();
    let Refresh::Changed {
        generation,
        changes,
    } = reader.refresh(&world.store).await.unwrap()
    else {
        panic!("a fresh reader reads the new root");
    };
    assert_eq!((generation, changes.len()), (8, 1));
    // With no grace, the first layout's objects are gone once the next sync runs.
    rebuild(&world.deps).await.unwrap();
    for gone in ["moclojer.yml", "mocks/ws/m.yml"] {
        assert!(world.store.get(&key(gone)).await.is_err(), "{gone} is left");
    }
}
