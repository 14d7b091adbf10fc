//! What the generator publishes to the object store and the mock servers read from it:
//! one object per live host and an index of them, split so that a publish rewrites a
//! bounded amount whatever the number of hosts. Writer and reader share [`PublishedIndex`].
//!
//! - `hosts/<host>/<digest>.yml` ([`HostEntry::object_key`]): one host's items, a JSON
//!   array (JSON is YAML, so the original moclojer reads it too), each `endpoint` and
//!   `websocket` with its `host`. The name is the SHA-256 of the bytes, so an object is
//!   never overwritten while someone reads it: a new revision is a new object.
//! - `index/<digest>.json`: the index's nodes, content-addressed the same way. A host
//!   belongs to the *leaf* picked by two bytes of the SHA-256 of its name ([`FANOUT`] ×
//!   [`FANOUT`] leaves); a leaf lists its hosts with their [`HostEntry`]; a *middle* node
//!   lists its non-empty leaves by number with their digests.
//! - [`MANIFEST_KEY`] (`manifest.json`), the root and the only object ever replaced:
//!   `{"layout": 2, "generation": N, "hosts": count, "index": {"<middle>": "<digest>"}}`.
//!   It is written last, so a reader that follows it only meets complete objects.
//!
//! One publish writes its host's object, one leaf, one middle and the root: about 10 KB
//! with 50,000 hosts. A reader that knows the previous generation fetches the root, the
//! middles and leaves whose digests changed, and so learns exactly which hosts changed.
//! Objects and nodes no longer referenced are deleted by the writer after a grace period,
//! so a reader still working on the previous generation finds what it names.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ETag, ObjectKey, ObjectStore, PortError, PortErrorKind};

/// The key of the root of the index.
pub const MANIFEST_KEY: &str = "manifest.json";

/// The prefix of every host's object.
pub const HOSTS_PREFIX: &str = "hosts/";

/// The prefix of every index node.
pub const INDEX_PREFIX: &str = "index/";

/// The layout this module writes and reads (the first, a single unified config, was 1).
pub const LAYOUT: u64 = 2;

/// How many middles the root has at most, and leaves each middle.
pub const FANOUT: usize = 64;

/// The largest root or index node a reader accepts, in bytes.
pub const MAX_NODE_BYTES: usize = 16 * 1024 * 1024;

/// How many index nodes a reader fetches at once.
const FETCH_CONCURRENCY: usize = 16;

/// The lower-case hex SHA-256 of `bytes`, as the layout names objects.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a host sits in the index: its middle and its leaf in that middle.
fn slot(host: &str) -> (usize, usize) {
    let hash = Sha256::digest(host.as_bytes());
    (usize::from(hash[0]) % FANOUT, usize::from(hash[1]) % FANOUT)
}

fn node_key(digest: &str) -> ObjectKey {
    ObjectKey::parse(&format!("{INDEX_PREFIX}{digest}.json"))
        .unwrap_or_else(|e| unreachable!("a digest makes a valid key: {e}"))
}

fn manifest_key() -> ObjectKey {
    ObjectKey::parse(MANIFEST_KEY).unwrap_or_else(|e| unreachable!("a constant key: {e}"))
}

/// What the index says of one host: which revision of its mock is live and the object
/// holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// The live revision of the host's mock.
    pub revision: u64,
    /// The lower-case hex SHA-256 of the object's bytes, which also names it.
    pub digest: String,
    /// The object's size in bytes.
    pub bytes: u64,
}

impl HostEntry {
    /// The entry of revision `revision` whose object is `object`.
    pub fn of(revision: u64, object: &[u8]) -> Self {
        Self {
            revision,
            digest: sha256_hex(object),
            bytes: object.len() as u64,
        }
    }

    /// Where `host`'s object lives: `hosts/<host>/<digest>.yml`.
    ///
    /// # Errors
    /// When `host` cannot be part of a key (it is not a host name).
    pub fn object_key(&self, host: &str) -> Result<ObjectKey, PublishedError> {
        ObjectKey::parse(&format!("{HOSTS_PREFIX}{host}/{}.yml", self.digest))
            .ok()
            .filter(|_| !host.contains('/'))
            .ok_or_else(|| PublishedError::Malformed {
                key: HOSTS_PREFIX.to_owned(),
                reason: format!("{host:?} is not a host name"),
            })
    }

    /// Checks that `object` is exactly the object this entry names.
    ///
    /// # Errors
    /// What differs (the size or the checksum), in words.
    pub fn verify(&self, object: &[u8]) -> Result<(), String> {
        if object.len() as u64 != self.bytes {
            return Err(format!(
                "the object has {} bytes, the index says {}",
                object.len(),
                self.bytes
            ));
        }
        let digest = sha256_hex(object);
        if digest != self.digest {
            return Err(format!(
                "the object's SHA-256 is {digest}, the index says {}",
                self.digest
            ));
        }
        Ok(())
    }
}

/// One host whose entry a new generation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostChange {
    /// The host.
    pub host: String,
    /// Its entry before (`None`: it is new).
    pub before: Option<HostEntry>,
    /// Its entry now (`None`: it is gone).
    pub after: Option<HostEntry>,
}

/// What [`PublishedIndex::refresh`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The store has no root (yet).
    Absent,
    /// The root has not changed since it was last read or written.
    Unchanged,
    /// A newer generation was read; these hosts changed.
    Changed {
        /// Its number.
        generation: u64,
        /// The hosts it changed, by host.
        changes: Vec<HostChange>,
    },
}

/// What [`PublishedIndex::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The generation the store holds now.
    pub generation: u64,
    /// Whether a new generation was written.
    pub changed: bool,
    /// The SHA-256 of the root as written (empty when nothing was written).
    pub checksum: String,
    /// How many bytes of index were written (the hosts' objects are not counted).
    pub bytes: u64,
    /// Index nodes the new generation no longer references.
    pub unreferenced: Vec<ObjectKey>,
}

/// Why the index could not be read or written. In every case the state held is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    /// The store could not be read or written.
    #[error("cannot use {key} in the object store: {error}")]
    Store {
        /// The object.
        key: ObjectKey,
        /// What the store said.
        #[source]
        error: PortError,
    },
    /// The root is not one this layout reads; ignored until it changes.
    #[error("{key} is refused: {reason}")]
    Malformed {
        /// The object.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The root's generation is not newer than the one held; ignored until it changes.
    #[error("the index's generation {generation} is not newer than {current}, the one held")]
    Stale {
        /// The root's generation.
        generation: u64,
        /// The generation held.
        current: u64,
    },
    /// A node the root names is missing or does not match its name: a writer may be
    /// between its writes, or repairing. Worth another look soon.
    #[error("generation {generation} is not complete in the store yet: {reason}")]
    Incomplete {
        /// The root's generation.
        generation: u64,
        /// What is missing.
        reason: String,
    },
}

impl PublishedError {
    /// Whether the store itself failed, which calls for a retry with backoff.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Store { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Root {
    layout: u64,
    generation: u64,
    hosts: u64,
    index: BTreeMap<usize, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Middle {
    leaves: BTreeMap<usize, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Leaf {
    hosts: BTreeMap<String, HostEntry>,
}

fn to_json<T: Serialize>(node: &T) -> Vec<u8> {
    let mut out =
        serde_json::to_vec(node).unwrap_or_else(|e| unreachable!("a node always serialises: {e}"));
    out.push(b'\n');
    out
}

/// A node as stored: its content and its digest.
/// The leaves by (middle, leaf) slot.
type Leaves = BTreeMap<(usize, usize), Stored<Leaf>>;

#[derive(Debug, Clone)]
struct Stored<T> {
    digest: String,
    /// Shared, so holding on to the nodes that did not change costs no copy.
    node: Arc<T>,
}

/// The published index as one writer or reader holds it: the generation, the nodes and
/// so every host's [`HostEntry`].
#[derive(Debug, Default)]
pub struct PublishedIndex {
    generation: u64,
    root_etag: Option<ETag>,
    middles: BTreeMap<usize, Stored<Middle>>,
    leaves: BTreeMap<(usize, usize), Stored<Leaf>>,
    hosts: usize,
}

fn store_error(key: &ObjectKey, error: PortError) -> PublishedError {
    PublishedError::Store {
        key: key.clone(),
        error,
    }
}

impl PublishedIndex {
    /// An empty index at generation 0 (nothing read or written yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index that continues after generation `generation`: its first write is
    /// `generation + 1` and lists only what it is given (a writer rebuilding a store whose
    /// index is damaged).
    pub fn after(generation: u64) -> Self {
        Self {
            generation,
            ..Self::default()
        }
    }

    /// The generation held (0 before any).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many hosts the index lists.
    pub fn len(&self) -> usize {
        self.hosts
    }

    /// Whether the index lists no host.
    pub fn is_empty(&self) -> bool {
        self.hosts == 0
    }

    /// The entry of `host`, if the index lists it.
    pub fn get(&self, host: &str) -> Option<&HostEntry> {
        let (middle, leaf) = slot(host);
        self.leaves.get(&(middle, leaf))?.node.hosts.get(host)
    }

    /// Every host with its entry (in index order, not by name).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &HostEntry)> {
        self.leaves
            .values()
            .flat_map(|leaf| leaf.node.hosts.iter().map(|(h, e)| (h.as_str(), e)))
    }

    /// Every key the index references: the root, its nodes and every host's object.
    pub fn referenced(&self) -> BTreeSet<ObjectKey> {
        let mut keys = BTreeSet::from([manifest_key()]);
        keys.extend(self.middles.values().map(|m| node_key(&m.digest)));
        keys.extend(self.leaves.values().map(|l| node_key(&l.digest)));
        keys.extend(
            self.entries()
                .filter_map(|(host, entry)| entry.object_key(host).ok()),
        );
        keys
    }

    /// Whether the index references `key` (as [`Self::referenced`] would list it), without
    /// listing everything: a host object is looked up by its host, a node among the nodes.
    pub fn references(&self, key: &ObjectKey) -> bool {
        let key = key.as_str();
        if key == MANIFEST_KEY {
            return true;
        }
        if let Some(rest) = key.strip_prefix(HOSTS_PREFIX) {
            return rest
                .rsplit_once('/')
                .and_then(|(host, name)| Some((host, name.strip_suffix(".yml")?)))
                .is_some_and(|(host, digest)| self.get(host).is_some_and(|e| e.digest == digest));
        }
        key.strip_prefix(INDEX_PREFIX)
            .and_then(|name| name.strip_suffix(".json"))
            .is_some_and(|digest| {
                self.middles.values().any(|m| m.digest == digest)
                    || self.leaves.values().any(|l| l.digest == digest)
            })
    }

    /// Reads the root and, when it holds a newer generation, the nodes whose digests
    /// changed; the state held moves to that generation only when all of them were read.
    ///
    /// # Errors
    /// A [`PublishedError`]; a refused root ([`PublishedError::Malformed`] or
    /// [`PublishedError::Stale`]) is remembered, so the next call reads it again only when
    /// it changed.
    pub async fn refresh(&mut self, store: &dyn ObjectStore) -> Result<Refresh, PublishedError> {
        let key = manifest_key();
        let read = match &self.root_etag {
            Some(etag) => store.get_if_changed(&key, etag).await,
            None => store.get(&key).await.map(Some),
        };
        let object = match read {
            Ok(Some(object)) => object,
            Ok(None) => return Ok(Refresh::Unchanged),
            Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(Refresh::Absent),
            Err(e) => return Err(store_error(&key, e)),
        };
        let root = match self.accept_root(&object.bytes) {
            Ok(Some(root)) => root,
            Ok(None) => {
                self.root_etag = Some(object.etag);
                return Ok(Refresh::Unchanged);
            }
            Err(e) => {
                self.root_etag = Some(object.etag);
                return Err(e);
            }
        };
        let generation = root.generation;
        let middles = self.read_middles(store, &root).await?;
        let (leaves, changed) = self.read_leaves(store, generation, &middles).await?;
        let changes = self.adopt(root, middles, leaves, &changed);
        self.root_etag = Some(object.etag);
        Ok(Refresh::Changed {
            generation,
            changes,
        })
    }

    /// The root in `bytes` if it is newer than the generation held; `None` when it is the
    /// very index held (read again, or written by this index).
    fn accept_root(&self, bytes: &[u8]) -> Result<Option<Root>, PublishedError> {
        let malformed = |reason: String| PublishedError::Malformed {
            key: MANIFEST_KEY.to_owned(),
            reason,
        };
        if bytes.len() > MAX_NODE_BYTES {
            return Err(malformed(format!(
                "it has {} bytes; at most {MAX_NODE_BYTES} are read",
                bytes.len()
            )));
        }
        let root: Root = serde_json::from_slice(bytes)
            .map_err(|e| malformed(format!("it is not an index root: {e}")))?;
        if root.layout != LAYOUT {
            return Err(malformed(format!(
                "its layout is {}; this server reads layout {LAYOUT}",
                root.layout
            )));
        }
        if let Some((middle, digest)) = root
            .index
            .iter()
            .find(|(m, d)| **m >= FANOUT || !is_digest(d))
        {
            return Err(malformed(format!(
                "its entry {middle}: {digest:?} is not a node"
            )));
        }
        if root.generation == self.generation && self.same_index(&root) {
            return Ok(None);
        }
        if self.generation > 0 && root.generation <= self.generation {
            return Err(PublishedError::Stale {
                generation: root.generation,
                current: self.generation,
            });
        }
        Ok(Some(root))
    }

    fn same_index(&self, root: &Root) -> bool {
        root.index.len() == self.middles.len()
            && root
                .index
                .iter()
                .all(|(m, d)| self.middles.get(m).is_some_and(|held| &held.digest == d))
    }

    /// The middles of `root`: those held when their digest is the same, the others read.
    async fn read_middles(
        &self,
        store: &dyn ObjectStore,
        root: &Root,
    ) -> Result<BTreeMap<usize, Stored<Middle>>, PublishedError> {
        let mut middles = BTreeMap::new();
        let mut wanted = Vec::new();
        for (&number, digest) in &root.index {
            match self.middles.get(&number) {
                Some(held) if &held.digest == digest => {
                    middles.insert(number, held.clone());
                }
                _ => wanted.push((number, digest.clone())),
            }
        }
        for (number, node) in fetch_nodes::<Middle, _>(store, root.generation, wanted).await? {
            if let Some((leaf, digest)) = node
                .node
                .leaves
                .iter()
                .find(|(l, d)| **l >= FANOUT || !is_digest(d))
            {
                return Err(PublishedError::Incomplete {
                    generation: root.generation,
                    reason: format!("middle {number} names {leaf}: {digest:?}, not a node"),
                });
            }
            middles.insert(number, node);
        }
        Ok(middles)
    }

    /// The leaves of `middles`: those held when their digest is the same, the others read;
    /// and the slots whose leaf changed. Only the middles that changed are looked into, so
    /// a reload costs what changed, not the size of the index.
    async fn read_leaves(
        &self,
        store: &dyn ObjectStore,
        generation: u64,
        middles: &BTreeMap<usize, Stored<Middle>>,
    ) -> Result<(Leaves, BTreeSet<(usize, usize)>), PublishedError> {
        let mut leaves = self.leaves.clone();
        let mut changed = BTreeSet::new();
        let mut wanted = Vec::new();
        let moved = self
            .middles
            .keys()
            .chain(middles.keys())
            .copied()
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .filter(|m| {
                self.middles.get(m).map(|h| &h.digest) != middles.get(m).map(|n| &n.digest)
            });
        for m in moved {
            let now = middles.get(&m).map(|n| &n.node.leaves);
            let gone: Vec<(usize, usize)> = leaves
                .range((m, 0)..(m, FANOUT))
                .map(|(at, _)| *at)
                .filter(|(_, l)| now.is_none_or(|n| !n.contains_key(l)))
                .collect();
            for at in gone {
                leaves.remove(&at);
                changed.insert(at);
            }
            for (&l, digest) in now.into_iter().flatten() {
                if leaves
                    .get(&(m, l))
                    .is_none_or(|held| &held.digest != digest)
                {
                    wanted.push(((m, l), digest.clone()));
                    changed.insert((m, l));
                }
            }
        }
        for (at, leaf) in fetch_nodes::<Leaf, _>(store, generation, wanted).await? {
            if let Some(host) = leaf.node.hosts.keys().find(|h| slot(h) != at) {
                return Err(PublishedError::Incomplete {
                    generation,
                    reason: format!("leaf {at:?} lists {host:?}, which belongs elsewhere"),
                });
            }
            if let Some((host, _)) = leaf.node.hosts.iter().find(|(_, e)| !is_digest(&e.digest)) {
                return Err(PublishedError::Incomplete {
                    generation,
                    reason: format!("the entry of {host:?} has no valid digest"),
                });
            }
            leaves.insert(at, leaf);
        }
        Ok((leaves, changed))
    }

    /// Takes the new generation's nodes; returns the hosts whose entries changed (those of
    /// the slots `changed`).
    fn adopt(
        &mut self,
        root: Root,
        middles: BTreeMap<usize, Stored<Middle>>,
        leaves: Leaves,
        changed: &BTreeSet<(usize, usize)>,
    ) -> Vec<HostChange> {
        static EMPTY: BTreeMap<String, HostEntry> = BTreeMap::new();
        let mut changes = Vec::new();
        let mut hosts = self.hosts;
        for at in changed {
            let before = self.leaves.get(at).map_or(&EMPTY, |l| &l.node.hosts);
            let after = leaves.get(at).map_or(&EMPTY, |l| &l.node.hosts);
            hosts = hosts - before.len() + after.len();
            diff_hosts(before, after, &mut changes);
        }
        changes.sort_by(|a, b| a.host.cmp(&b.host));
        self.hosts = hosts;
        self.generation = root.generation;
        self.middles = middles;
        self.leaves = leaves;
        changes
    }

    /// Writes a new generation with `changes` applied (a host with `None` is removed):
    /// the changed leaves, their middles, then the root. Nothing is written when the
    /// changes change nothing, unless nothing was ever written (the first write always
    /// writes a root, so readers learn that the set is empty). The hosts' objects must be
    /// in the store before.
    ///
    /// # Errors
    /// When the store fails; the state held is then unchanged (objects already written are
    /// unreferenced, for the writer's sweep).
    pub async fn write(
        &mut self,
        store: &dyn ObjectStore,
        changes: impl IntoIterator<Item = (String, Option<HostEntry>)>,
    ) -> Result<Written, PublishedError> {
        let mut leaves: BTreeMap<(usize, usize), Leaf> = BTreeMap::new();
        for (host, entry) in changes {
            let at = slot(&host);
            let leaf = leaves.entry(at).or_insert_with(|| {
                self.leaves
                    .get(&at)
                    .map(|l| Leaf::clone(&l.node))
                    .unwrap_or_default()
            });
            match entry {
                Some(entry) => leaf.hosts.insert(host, entry),
                None => leaf.hosts.remove(&host),
            };
        }
        leaves.retain(|at, leaf| {
            self.leaves
                .get(at)
                .map_or(!leaf.hosts.is_empty(), |held| *held.node != *leaf)
        });
        if leaves.is_empty() && self.root_etag.is_some() {
            return Ok(Written {
                generation: self.generation,
                changed: false,
                checksum: String::new(),
                bytes: 0,
                unreferenced: Vec::new(),
            });
        }
        self.write_nodes(store, leaves).await
    }

    /// Writes the root again with the next generation and every node (a repair after the
    /// store lost objects).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn rewrite(&mut self, store: &dyn ObjectStore) -> Result<Written, PublishedError> {
        let leaves = self
            .leaves
            .iter()
            .map(|(at, l)| (*at, Leaf::clone(&l.node)))
            .collect();
        let keep_middles = std::mem::take(&mut self.middles);
        let keep_leaves = std::mem::take(&mut self.leaves);
        let written = self.write_nodes(store, leaves).await;
        if written.is_err() {
            self.middles = keep_middles;
            self.leaves = keep_leaves;
        }
        written
    }

    async fn write_nodes(
        &mut self,
        store: &dyn ObjectStore,
        changed: BTreeMap<(usize, usize), Leaf>,
    ) -> Result<Written, PublishedError> {
        let mut leaves = self.leaves.clone();
        let mut middles = self.middles.clone();
        let mut unreferenced = Vec::new();
        let mut bytes = 0u64;
        let mut touched = BTreeSet::new();
        for (at, leaf) in changed {
            touched.insert(at.0);
            if let Some(old) = leaves.remove(&at) {
                unreferenced.push(old.digest.clone());
            }
            if leaf.hosts.is_empty() {
                continue;
            }
            let json = to_json(&leaf);
            let digest = sha256_hex(&json);
            bytes += put(store, &node_key(&digest), json).await?;
            leaves.insert(
                at,
                Stored {
                    digest,
                    node: Arc::new(leaf),
                },
            );
        }
        for m in touched {
            let node = Middle {
                leaves: leaves
                    .range((m, 0)..(m, FANOUT))
                    .map(|((_, l), leaf)| (*l, leaf.digest.clone()))
                    .collect(),
            };
            if let Some(old) = middles.remove(&m) {
                unreferenced.push(old.digest.clone());
            }
            if node.leaves.is_empty() {
                continue;
            }
            let json = to_json(&node);
            let digest = sha256_hex(&json);
            bytes += put(store, &node_key(&digest), json).await?;
            middles.insert(
                m,
                Stored {
                    digest,
                    node: Arc::new(node),
                },
            );
        }
        let hosts: usize = leaves.values().map(|l| l.node.hosts.len()).sum();
        let root = Root {
            layout: LAYOUT,
            generation: self.generation + 1,
            hosts: hosts as u64,
            index: middles
                .iter()
                .map(|(m, s)| (*m, s.digest.clone()))
                .collect(),
        };
        let json = to_json(&root);
        let checksum = sha256_hex(&json);
        let size = json.len() as u64;
        let key = manifest_key();
        let etag = store
            .put(&key, Bytes::from(json))
            .await
            .map_err(|e| store_error(&key, e))?;
        // A node is unreferenced unless the new generation has one with the same digest.
        let live: HashSet<&str> = middles
            .values()
            .map(|m| m.digest.as_str())
            .chain(leaves.values().map(|l| l.digest.as_str()))
            .collect();
        unreferenced.retain(|digest| !live.contains(digest.as_str()));
        let unreferenced = unreferenced.iter().map(|d| node_key(d)).collect();
        self.generation = root.generation;
        self.root_etag = Some(etag);
        self.middles = middles;
        self.leaves = leaves;
        self.hosts = hosts;
        Ok(Written {
            generation: root.generation,
            changed: true,
            checksum,
            bytes: bytes + size,
            unreferenced,
        })
    }
}

async fn put(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    json: Vec<u8>,
) -> Result<u64, PublishedError> {
    let size = json.len() as u64;
    store
        .put(key, Bytes::from(json))
        .await
        .map_err(|e| store_error(key, e))?;
    Ok(size)
}

/// Reads the nodes `wanted` names, a few at a time, each checked against its digest.
async fn fetch_nodes<T: serde::de::DeserializeOwned, K: Copy>(
    store: &dyn ObjectStore,
    generation: u64,
    wanted: Vec<(K, String)>,
) -> Result<Vec<(K, Stored<T>)>, PublishedError> {
    use futures_util::StreamExt;
    let mut fetched = Vec::with_capacity(wanted.len());
    let mut reads = futures_util::stream::iter(wanted.into_iter().map(|(at, digest)| async move {
        let key = node_key(&digest);
        let incomplete = |reason: String| PublishedError::Incomplete { generation, reason };
        let object = match store.get(&key).await {
            Ok(object) => object,
            Err(e) if e.kind() == PortErrorKind::NotFound => {
                return Err(incomplete(format!("there is no object at {key}")));
            }
            Err(e) => return Err(store_error(&key, e)),
        };
        if object.bytes.len() > MAX_NODE_BYTES || sha256_hex(&object.bytes) != digest {
            return Err(incomplete(format!("{key} does not match its name")));
        }
        let node: T = serde_json::from_slice(&object.bytes)
            .map_err(|e| incomplete(format!("{key} is not an index node: {e}")))?;
        Ok((
            at,
            Stored {
                digest,
                node: Arc::new(node),
            },
        ))
    }))
    .buffer_unordered(FETCH_CONCURRENCY);
    while let Some(result) = reads.next().await {
        fetched.push(result?);
    }
    Ok(fetched)
}

fn diff_hosts(
    before: &BTreeMap<String, HostEntry>,
    after: &BTreeMap<String, HostEntry>,
    changes: &mut Vec<HostChange>,
) {
    for (host, entry) in after {
        let old = before.get(host);
        if old != Some(entry) {
            changes.push(HostChange {
                host: host.clone(),
                before: old.cloned(),
                after: Some(entry.clone()),
            });
        }
    }
    for (host, entry) in before {
        if !after.contains_key(host) {
            changes.push(HostChange {
                host: host.clone(),
                before: Some(entry.clone()),
                after: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::{Object, ObjectMeta, PortResult};

    /// A map of objects that counts reads and written bytes; version tags are digests.
    #[derive(Debug, Default)]
    struct Counted {
        objects: Mutex<BTreeMap<String, Bytes>>,
        reads: AtomicU64,
        written: AtomicU64,
    }

    impl Counted {
        fn take_counts(&self) -> (u64, u64) {
            (
                self.reads.swap(0, Ordering::SeqCst),
                self.written.swap(0, Ordering::SeqCst),
            )
        }

        fn remove(&self, key: &str) {
            self.objects.lock().unwrap().remove(key);
        }

        fn set(&self, key: &str, bytes: &[u8]) {
            self.objects
                .lock()
                .unwrap()
                .insert(key.to_owned(), Bytes::copy_from_slice(bytes));
        }
    }

    #[async_trait]
    impl ObjectStore for Counted {
        async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
            self.written.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            let etag = ETag(sha256_hex(&bytes));
            self.objects
                .lock()
                .unwrap()
                .insert(key.as_str().to_owned(), bytes);
            Ok(etag)
        }

        async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let bytes = self.objects.lock().unwrap().get(key.as_str()).cloned();
            let bytes = bytes.ok_or_else(|| PortError::not_found(format!("{key}")))?;
            Ok(Object {
                etag: ETag(sha256_hex(&bytes)),
                bytes,
            })
        }

        async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
            let object = self.get(key).await?;
            Ok((object.etag != *etag).then_some(object))
        }

        async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
            let object = self.get(key).await?;
            Ok(ObjectMeta {
                key: key.clone(),
                size: object.bytes.len() as u64,
                etag: object.etag,
            })
        }

        async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
            self.remove(key.as_str());
            Ok(())
        }

        async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
            let objects = self.objects.lock().unwrap();
            Ok(objects
                .iter()
                .filter(|(key, _)| key.starts_with(prefix))
                .map(|(key, bytes)| ObjectMeta {
                    key: ObjectKey::parse(key).unwrap(),
                    size: bytes.len() as u64,
                    etag: ETag(sha256_hex(bytes)),
                })
                .collect())
        }
    }

    fn entry(revision: u64) -> HostEntry {
        HostEntry::of(revision, format!("[{revision}]\n").as_bytes())
    }

    fn host(i: usize) -> String {
        format!("m{i}-alice.moclojer.test")
    }

    fn changed(refresh: Refresh) -> (u64, Vec<HostChange>) {
        match refresh {
            Refresh::Changed {
                generation,
                changes,
            } => (generation, changes),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn what_the_writer_writes_a_reader_reads() {
        let store = Counted::default();
        let mut reader = PublishedIndex::new();
        assert_eq!(reader.refresh(&store).await.unwrap(), Refresh::Absent);

        let mut writer = PublishedIndex::new();
        let first = writer.write(&store, []).await.unwrap();
        assert!(first.changed, "the first write always writes a root");
        assert_eq!(first.generation, 1);
        let (generation, changes) = changed(reader.refresh(&store).await.unwrap());
        assert_eq!((generation, changes.len(), reader.len()), (1, 0, 0));
        let again = writer.write(&store, []).await.unwrap();
        assert!(!again.changed, "nothing to change: nothing written");

        let hosts: Vec<(String, Option<HostEntry>)> =
            (0..300).map(|i| (host(i), Some(entry(1)))).collect();
        writer.write(&store, hosts.clone()).await.unwrap();
        let (generation, changes) = changed(reader.refresh(&store).await.unwrap());
        assert_eq!(generation, 2);
        assert_eq!(changes.len(), 300);
        assert!(
            changes
                .iter()
                .all(|c| c.before.is_none() && c.after == Some(entry(1)))
        );
        assert_eq!(reader.len(), 300);
        assert_eq!(reader.get(&host(7)), Some(&entry(1)));
        assert_eq!(reader.get("nobody.test"), None);
        assert_eq!(reader.referenced(), writer.referenced());
        assert_eq!(reader.refresh(&store).await.unwrap(), Refresh::Unchanged);
    }

    #[tokio::test]
    async fn a_publish_writes_and_reads_a_bounded_amount() {
        let store = Counted::default();
        let mut writer = PublishedIndex::new();
        let hosts = (0..20_000).map(|i| (host(i), Some(entry(1))));
        writer.write(&store, hosts).await.unwrap();
        let mut reader = PublishedIndex::new();
        reader.refresh(&store).await.unwrap();
        store.take_counts();

        let written = writer
            .write(&store, [(host(42), Some(entry(2))), (host(43), None)])
            .await
            .unwrap();
        let (_, bytes) = store.take_counts();
        assert_eq!(bytes, written.bytes);
        assert!(bytes < 16 * 1024, "{bytes} bytes written for two hosts");
        let slots = BTreeSet::from([slot(&host(42)), slot(&host(43))]);
        let middles: BTreeSet<usize> = slots.iter().map(|(m, _)| *m).collect();
        assert_eq!(
            written.unreferenced.len(),
            slots.len() + middles.len(),
            "the replaced leaves and middles"
        );
        let referenced = writer.referenced();
        assert!(written.unreferenced.iter().all(|k| !referenced.contains(k)));
        assert!(written.unreferenced.iter().all(|k| !writer.references(k)));
        assert!(referenced.iter().all(|k| writer.references(k)));
        let old_object = entry(1).object_key(&host(42)).unwrap();
        assert!(
            !writer.references(&old_object),
            "the replaced revision's object"
        );

        let (generation, changes) = changed(reader.refresh(&store).await.unwrap());
        let (reads, _) = store.take_counts();
        assert_eq!(generation, 2);
        assert_eq!(
            reads as usize,
            1 + slots.len() + middles.len(),
            "the root, the changed middles and leaves"
        );
        assert_eq!(
            changes,
            vec![
                HostChange {
                    host: host(42),
                    before: Some(entry(1)),
                    after: Some(entry(2)),
                },
                HostChange {
                    host: host(43),
                    before: Some(entry(1)),
                    after: None,
                },
            ]
        );
        assert_eq!(reader.len(), 19_999);
    }

    #[tokio::test]
    async fn an_older_or_foreign_root_is_refused_once() {
        let store = Counted::default();
        let mut writer = PublishedIndex::new();
        for revision in 1..=3 {
            writer
                .write(&store, [(host(1), Some(entry(revision)))])
                .await
                .unwrap();
        }
        let mut reader = PublishedIndex::new();
        reader.refresh(&store).await.unwrap();
        assert_eq!(reader.generation(), 3);

        // A writer that starts from nothing writes generation 1 again.
        PublishedIndex::new()
            .write(&store, [(host(2), Some(entry(1)))])
            .await
            .unwrap();
        let err = reader.refresh(&store).await.unwrap_err();
        assert!(
            matches!(
                err,
                PublishedError::Stale {
                    generation: 1,
                    current: 3
                }
            ),
            "{err}"
        );
        assert_eq!(reader.refresh(&store).await.unwrap(), Refresh::Unchanged);
        assert_eq!(
            reader.get(&host(1)),
            Some(&entry(3)),
            "the state held is kept"
        );

        for (json, expected) in [
            ("{", "not an index root"),
            (
                r#"{"layout": 1, "generation": 9, "hosts": 0, "index": {}}"#,
                "layout is 1",
            ),
            (
                r#"{"layout": 2, "generation": 9, "hosts": 0, "index": {"70": "ab"}}"#,
                "is not a node",
            ),
        ] {
            store.set(MANIFEST_KEY, json.as_bytes());
            let err = reader.refresh(&store).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{json}: {err}");
            assert_eq!(reader.refresh(&store).await.unwrap(), Refresh::Unchanged);
        }
        assert_eq!(reader.generation(), 3);
    }

    #[tokio::test]
    async fn a_missing_node_leaves_the_reader_where_it_was_until_repaired() {
        let store = Counted::default();
        let mut writer = PublishedIndex::new();
        writer
            .write(&store, [(host(1), Some(entry(1)))])
            .await
            .unwrap();
        let mut reader = PublishedIndex::new();
        reader.refresh(&store).await.unwrap();

        writer
            .write(&store, [(host(1), Some(entry(2)))])
            .await
            .unwrap();
        let lost: Vec<String> = writer
            .referenced()
            .iter()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.starts_with(INDEX_PREFIX))
            .collect();
        for key in &lost {
            store.remove(key);
        }
        for _ in 0..2 {
            let err = reader.refresh(&store).await.unwrap_err();
            assert!(
                matches!(err, PublishedError::Incomplete { generation: 2, .. }),
                "{err}"
            );
            assert_eq!(reader.get(&host(1)), Some(&entry(1)));
        }
        let repaired = writer.rewrite(&store).await.unwrap();
        assert_eq!(repaired.generation, 3);
        assert!(repaired.unreferenced.is_empty());
        let (generation, changes) = changed(reader.refresh(&store).await.unwrap());
        assert_eq!(generation, 3);
        assert_eq!(changes.len(), 1);
        assert_eq!(reader.get(&host(1)), Some(&entry(2)));
    }

    #[test]
    fn host_objects_are_named_by_their_digest() {
        let bytes = b"[]\n";
        let e = HostEntry::of(4, bytes);
        assert_eq!(
            e.object_key("a-b.test").unwrap().as_str(),
            format!("hosts/a-b.test/{}.yml", sha256_hex(bytes))
        );
        assert!(e.object_key("a/b").is_err());
        assert!(e.object_key("..").is_err());
        assert_eq!(e.verify(bytes), Ok(()));
        assert!(e.verify(b"[1]\n").unwrap_err().contains("has 4 bytes"));
        assert!(e.verify(b"{}\n").unwrap_err().contains("SHA-256"));
    }
}
