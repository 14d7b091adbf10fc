//! An object store in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_ports::{ETag, Object, ObjectKey, ObjectMeta, ObjectStore, PortError, PortResult};
use sha2::{Digest, Sha256};

use crate::lock;

/// Objects in memory, versioned by the SHA-256 of their content. Cloning shares the store.
#[derive(Debug, Clone, Default)]
pub struct InMemoryObjectStore {
    objects: Arc<Mutex<BTreeMap<ObjectKey, Object>>>,
}

impl InMemoryObjectStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn not_found(key: &ObjectKey) -> PortError {
    PortError::not_found(format!("no object at {key}"))
}

fn meta(key: &ObjectKey, object: &Object) -> ObjectMeta {
    ObjectMeta {
        key: key.clone(),
        size: object.bytes.len() as u64,
        etag: object.etag.clone(),
    }
}

#[async_trait]
impl ObjectStore for InMemoryObjectStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        let etag = ETag(hex::encode(Sha256::digest(&bytes)));
        lock(&self.objects).insert(
            key.clone(),
            Object {
                bytes,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        lock(&self.objects)
            .get(key)
            .cloned()
            .ok_or_else(|| not_found(key))
    }

    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        let object = self.get(key).await?;
        Ok((object.etag != *etag).then_some(object))
    }

    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        lock(&self.objects)
            .get(key)
            .map(|o| meta(key, o))
            .ok_or_else(|| not_found(key))
    }

    async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
        lock(&self.objects).remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        let objects = lock(&self.objects);
        Ok(objects
            .iter()
            .filter(|(k, _)| k.as_str().starts_with(prefix))
            .map(|(k, o)| meta(k, o))
            .collect())
    }
}
