//! A world of in-memory adapters with builders for the states the generator reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_domain::spec::AnyDestination;
use moclojer_domain::{Mock, MockId, Publication, Revision, SpecSource, Workspace};
use moclojer_generator::Deps;
use moclojer_memory::{InMemoryDatabase, InMemoryObjectStore};
use moclojer_ports::{
    CONFIG_KEY, ETag, MANIFEST_KEY, Manifest, Object, ObjectKey, ObjectMeta, ObjectStore,
    PortErrorKind, PortResult, RandomIds, Scope,
};
use moclojer_testkit::{Fixture, ManualClock, Repos};
use serde_json::Value;

/// An object store that counts its writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct CountingStore {
    inner: InMemoryObjectStore,
    puts: Arc<AtomicUsize>,
    deletes: Arc<AtomicUsize>,
}

impl CountingStore {
    /// Puts and deletes so far.
    pub(crate) fn writes(&self) -> (usize, usize) {
        (
            self.puts.load(Ordering::SeqCst),
            self.deletes.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        self.inner.get(key).await
    }
    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        self.inner.get_if_changed(key, etag).await
    }
    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
}

/// One in-memory database and store, with the generator's dependencies on them.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) fx: Fixture,
    pub(crate) repos: Repos,
    pub(crate) store: CountingStore,
    pub(crate) deps: Deps,
}

pub(crate) fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap()
}

impl World {
    pub(crate) fn new() -> Self {
        let fx = Fixture::new();
        let repos = Repos::from_database(InMemoryDatabase::new());
        let store = CountingStore::default();
        let deps = Deps {
            mocks: repos.mocks.clone(),
            publications: repos.publications.clone(),
            outbox: repos.outbox.clone(),
            store: Arc::new(store.clone()),
            clock: Arc::new(ManualClock::new(fx.now)),
            ids: Arc::new(RandomIds),
            limits: moclojer_domain::spec::Limits::default(),
            destinations: Arc::new(AnyDestination),
        };
        Self {
            fx,
            repos,
            store,
            deps,
        }
    }

    /// The same database with another store.
    pub(crate) fn deps_with_store(&self, store: Arc<dyn ObjectStore>) -> Deps {
        Deps {
            store,
            ..self.deps.clone()
        }
    }

    pub(crate) async fn workspace(&self) -> Workspace {
        self.fx.signed_up(&self.repos).await.1
    }

    /// A stored mock, enabled, with its first revision requested for publishing.
    pub(crate) async fn published_mock(&self, workspace: &Workspace, name: &str) -> Mock {
        let mut mock = self
            .fx
            .stored_mock(&self.repos, &Scope::System, workspace, name)
            .await;
        self.set_enabled(&mut mock, true).await;
        self.request_publish(mock.id, mock.revision).await;
        mock
    }

    /// A stored mock with `content`, enabled, publishing requested.
    pub(crate) async fn published_mock_with(
        &self,
        workspace: &Workspace,
        name: &str,
        content: &str,
    ) -> Mock {
        let mut mock = self.published_mock(workspace, name).await;
        self.edit(&mut mock, content).await;
        self.request_publish(mock.id, mock.revision).await;
        mock
    }

    pub(crate) async fn set_enabled(&self, mock: &mut Mock, enabled: bool) {
        mock.set_enabled(enabled, self.fx.now);
        self.repos
            .mocks
            .update(&Scope::System, mock, mock.revision, &[])
            .await
            .expect("enable");
    }

    /// A new revision with `content`.
    pub(crate) async fn edit(&self, mock: &mut Mock, content: &str) {
        let based_on = mock.revision;
        mock.edit(
            SpecSource::new(content).unwrap(),
            Some(based_on),
            self.fx.now,
        )
        .expect("edit");
        self.repos
            .mocks
            .update(&Scope::System, mock, based_on, &[])
            .await
            .expect("store the edit");
    }

    pub(crate) async fn publication(&self, mock_id: MockId) -> Publication {
        self.repos
            .publications
            .get(&Scope::System, mock_id)
            .await
            .expect("publication")
    }

    pub(crate) async fn save(&self, publication: &Publication) {
        self.repos
            .publications
            .save(&Scope::System, publication, &[])
            .await
            .expect("save the publication");
    }

    pub(crate) async fn request_publish(&self, mock_id: MockId, revision: Revision) {
        let mut publication = self.publication(mock_id).await;
        publication
            .request_publish(revision, self.fx.now)
            .expect("request publish");
        self.save(&publication).await;
    }

    /// The object at `raw`, if any.
    pub(crate) async fn object(&self, raw: &str) -> Option<Object> {
        match self.store.get(&key(raw)).await {
            Ok(object) => Some(object),
            Err(e) if e.kind() == PortErrorKind::NotFound => None,
            Err(e) => panic!("read {raw}: {e}"),
        }
    }

    pub(crate) async fn manifest(&self) -> Manifest {
        let object = self.object(MANIFEST_KEY).await.expect("a manifest");
        Manifest::parse(&object.bytes).expect("a manifest")
    }

    /// The unified config's items.
    pub(crate) async fn config(&self) -> Vec<Value> {
        let object = self.object(CONFIG_KEY).await.expect("a config");
        items(&object.bytes)
    }
}

/// Items of a JSON array.
pub(crate) fn items(bytes: &[u8]) -> Vec<Value> {
    match serde_json::from_slice(bytes).expect("JSON") {
        Value::Array(items) => items,
        other => panic!("not an array: {other}"),
    }
}

/// The host of every item (`endpoint.host` or `websocket.host`).
pub(crate) fn item_hosts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            let inner = item
                .get("endpoint")
                .or_else(|| item.get("websocket"))
                .expect("an endpoint or a websocket");
            inner["host"].as_str().expect("a host").to_owned()
        })
        .collect()
}
