//! A world of in-memory adapters with builders for the states the generator reads, an
//! object store that records its writes, and what a fresh reader sees of the published
//! index.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_domain::spec::AnyDestination;
use moclojer_domain::{Mock, MockId, Publication, Revision, SpecSource, Workspace};
use moclojer_generator::{Deps, Published};
use moclojer_memory::{InMemoryDatabase, InMemoryObjectStore};
use moclojer_ports::{
    ETag, HostEntry, MANIFEST_KEY, Object, ObjectKey, ObjectMeta, ObjectStore, PortErrorKind,
    PortResult, PublishedIndex, RandomIds, Refresh, Scope, sha256_hex,
};
use moclojer_testkit::{Fixture, ManualClock, Repos};
use serde_json::Value;

/// One write the store saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// A put of `bytes` bytes at `key`.
    Put { key: String, bytes: usize },
    /// A delete of `key`.
    Delete { key: String },
}

/// The writes a store saw over some span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Writes(pub(crate) Vec<Write>);

impl Writes {
    /// The keys put under `prefix`, in order.
    pub(crate) fn puts_under(&self, prefix: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Put { key, .. } if key.starts_with(prefix) => Some(key.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The keys deleted under `prefix`, in order.
    pub(crate) fn deletes_under(&self, prefix: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Delete { key } if key.starts_with(prefix) => Some(key.as_str()),
                _ => None,
            })
            .collect()
    }

    /// How many bytes were put under `prefix`.
    pub(crate) fn bytes_under(&self, prefix: &str) -> usize {
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Put { key, bytes } if key.starts_with(prefix) => Some(*bytes),
                _ => None,
            })
            .sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An object store in memory that records its writes. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CountingStore {
    inner: InMemoryObjectStore,
    writes: Arc<Mutex<Vec<Write>>>,
}

impl CountingStore {
    fn record(&self, write: Write) {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(write);
    }

    /// Every write since the last call (or the start), forgotten.
    pub(crate) fn take_writes(&self) -> Writes {
        Writes(std::mem::take(
            &mut *self.writes.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// The keys under `prefix`, sorted.
    pub(crate) async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .inner
            .list(prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|meta| meta.key.as_str().to_owned())
            .collect();
        keys.sort();
        keys
    }

    /// Every object with its bytes.
    pub(crate) async fn snapshot(&self) -> BTreeMap<String, Bytes> {
        let mut objects = BTreeMap::new();
        for meta in self.inner.list("").await.expect("list") {
            let object = self.inner.get(&meta.key).await.expect("get");
            objects.insert(meta.key.as_str().to_owned(), object.bytes);
        }
        objects
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        self.record(Write::Put {
            key: key.as_str().to_owned(),
            bytes: bytes.len(),
        });
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
        self.record(Write::Delete {
            key: key.as_str().to_owned(),
        });
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
}

/// What a fresh reader of the published index sees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View {
    /// The root's generation.
    pub(crate) generation: u64,
    /// Each host with the live revision of its mock.
    pub(crate) hosts: BTreeMap<String, u64>,
    /// Each host's entry (its object's digest and size).
    pub(crate) entries: BTreeMap<String, HostEntry>,
    /// Every host object's items, each checked against its entry, by host.
    pub(crate) items: Vec<Value>,
}

impl View {
    /// Where the index says `host`'s object is.
    pub(crate) fn object_key(&self, host: &str) -> ObjectKey {
        self.entries
            .get(host)
            .unwrap_or_else(|| panic!("{host} is not in the index"))
            .object_key(host)
            .expect("a host's key")
    }
}

/// What a fresh reader sees in `store`: `None` when there is no root.
///
/// # Panics
/// When the index does not read, or an object is missing or does not match its entry, or
/// an item in a host's object names another host.
pub(crate) async fn try_view(store: &dyn ObjectStore) -> Option<View> {
    let mut index = PublishedIndex::new();
    match index.refresh(store).await.expect("the index reads") {
        Refresh::Absent => return None,
        Refresh::Changed { .. } => {}
        Refresh::Unchanged => panic!("a fresh reader found nothing new"),
    }
    let entries: BTreeMap<String, HostEntry> = index
        .entries()
        .map(|(host, entry)| (host.to_owned(), entry.clone()))
        .collect();
    assert_eq!(entries.len(), index.len());
    let mut all = Vec::new();
    for (host, entry) in &entries {
        let key = entry.object_key(host).expect("a host's key");
        let object = store
            .get(&key)
            .await
            .unwrap_or_else(|e| panic!("{host}'s object {key}: {e}"));
        entry
            .verify(&object.bytes)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let found = items(&object.bytes);
        assert!(
            item_hosts(&found).iter().all(|h| h == host),
            "{key} serves another host: {found:?}"
        );
        all.extend(found);
    }
    Some(View {
        generation: index.generation(),
        hosts: entries
            .iter()
            .map(|(host, entry)| (host.clone(), entry.revision))
            .collect(),
        entries,
        items: all,
    })
}

/// What a fresh reader sees in `store`.
///
/// # Panics
/// As [`try_view`], and when there is no root.
pub(crate) async fn view(store: &dyn ObjectStore) -> View {
    try_view(store).await.expect("a published index")
}

/// The SHA-256 of the root as stored (what `config.published` carries).
pub(crate) async fn root_checksum(store: &dyn ObjectStore) -> String {
    let root = store.get(&key(MANIFEST_KEY)).await.expect("a root");
    sha256_hex(&root.bytes)
}

/// One in-memory database and store, with the generator's dependencies on them.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) fx: Fixture,
    pub(crate) repos: Repos,
    pub(crate) store: CountingStore,
    pub(crate) deps: Deps,
    grace: Duration,
}

pub(crate) fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap()
}

impl World {
    /// Objects no longer referenced are deleted at once.
    pub(crate) fn new() -> Self {
        Self::with_grace(Duration::ZERO)
    }

    /// Objects no longer referenced are deleted after `grace`.
    pub(crate) fn with_grace(grace: Duration) -> Self {
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
            published: Published::with_grace(grace),
        };
        Self {
            fx,
            repos,
            store,
            deps,
            grace,
        }
    }

    /// The same database with another store (and a generator that has not read it yet).
    pub(crate) fn deps_with_store(&self, store: Arc<dyn ObjectStore>) -> Deps {
        Deps {
            store,
            published: Published::with_grace(self.grace),
            ..self.deps.clone()
        }
    }

    /// The same database and store, as a generator that just started sees them.
    pub(crate) fn restarted(&self) -> Deps {
        Deps {
            published: Published::with_grace(self.grace),
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

    pub(crate) async fn unpublish(&self, mock_id: MockId) {
        let mut publication = self.publication(mock_id).await;
        assert!(publication.unpublish(self.fx.now), "it was published");
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

    /// What a fresh reader sees in the store.
    pub(crate) async fn published(&self) -> View {
        view(&self.store).await
    }

    /// What a fresh reader sees in the store, if it has a root.
    pub(crate) async fn try_published(&self) -> Option<View> {
        try_view(&self.store).await
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
