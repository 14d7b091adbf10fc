//! The `ObjectStore` contract.

use std::sync::Arc;

use bytes::Bytes;
use moclojer_ports::{ETag, ObjectKey, ObjectStore, PortErrorKind::*};

use crate::{expect_kind, unique_suffix};

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

/// The keys the suite writes, all under `root`, a prefix unique to the run.
struct Keys {
    root: String,
    config: ObjectKey,
    binary: ObjectKey,
    empty: ObjectKey,
    nested: ObjectKey,
    nested2: ObjectKey,
    other_ws: ObjectKey,
}

impl Keys {
    /// The keys under `root`.
    fn under(root: String) -> Self {
        Self {
            config: key(&format!("{root}/moclojer.yml")),
            binary: key(&format!("{root}/bin/all-bytes")),
            empty: key(&format!("{root}/empty")),
            nested: key(&format!("{root}/mocks/ws-1/m-1.yml")),
            nested2: key(&format!("{root}/mocks/ws-1/m-2.yml")),
            other_ws: key(&format!("{root}/mocks/ws-2/m-1.yml")),
            root,
        }
    }
}

/// Runs every rule of `ObjectStore` against `store`, under a prefix unique to the run.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn object_store_contract(store: Arc<dyn ObjectStore>) {
    let keys = Keys::under(format!("contract-{}", unique_suffix()));
    let store = store.as_ref();

    absent_objects_are_not_found(store, &keys).await;
    let etag1 = an_object_reads_back_as_written(store, &keys).await;
    a_put_replaces_and_conditional_gets_follow_the_etag(store, &keys, &etag1).await;
    any_bytes_are_kept_including_none(store, &keys).await;
    lists_by_prefix_in_key_order(store, &keys).await;
    deleted_objects_are_gone(store, &keys).await;
}

/// Get, head and conditional get of an absent object are not found; deleting it succeeds.
async fn absent_objects_are_not_found(store: &dyn ObjectStore, keys: &Keys) {
    let config = &keys.config;
    expect_kind(store.get(config).await, NotFound, "get of an absent object");
    expect_kind(
        store.head(config).await,
        NotFound,
        "head of an absent object",
    );
    let no_etag = ETag("nothing".to_owned());
    expect_kind(
        store.get_if_changed(config, &no_etag).await,
        NotFound,
        "conditional get of an absent object",
    );
    store
        .delete(config)
        .await
        .expect("deleting an absent object succeeds");
}

/// A put object reads back, with the etag the put returned, and heads with its size;
/// equal content gets an equal etag. The etag of the first content.
async fn an_object_reads_back_as_written(store: &dyn ObjectStore, keys: &Keys) -> ETag {
    let config = &keys.config;
    let first = Bytes::from_static(b"- endpoint:\n    path: /one\n");
    let etag1 = store.put(config, first.clone()).await.expect("put");
    let got = store.get(config).await.expect("get");
    assert_eq!(got.bytes, first, "an object reads back as written");
    assert_eq!(got.etag, etag1, "get reports the etag put returned");
    let meta = store.head(config).await.expect("head");
    assert_eq!(
        (meta.key.clone(), meta.size, meta.etag.clone()),
        (config.clone(), first.len() as u64, etag1.clone())
    );
    assert_eq!(
        store.put(config, first.clone()).await.expect("put again"),
        etag1,
        "equal content, equal etag"
    );
    etag1
}

/// A put replaces the whole object with a new etag; a conditional get with the old
/// `etag1` gets the new content, with the current one nothing.
async fn a_put_replaces_and_conditional_gets_follow_the_etag(
    store: &dyn ObjectStore,
    keys: &Keys,
    etag1: &ETag,
) {
    let config = &keys.config;
    let second = Bytes::from_static(b"- endpoint:\n    path: /two\n");
    let etag2 = store.put(config, second.clone()).await.expect("replace");
    assert_ne!(*etag1, etag2, "new content, new etag");
    assert_eq!(
        store.get(config).await.expect("get").bytes,
        second,
        "a put replaces the whole object"
    );
    let changed = store
        .get_if_changed(config, etag1)
        .await
        .expect("conditional get");
    assert_eq!(
        changed.map(|o| o.bytes),
        Some(second.clone()),
        "an old etag gets the new content"
    );
    assert_eq!(
        store
            .get_if_changed(config, &etag2)
            .await
            .expect("conditional get"),
        None,
        "the current etag gets nothing"
    );
}

/// Every byte value survives a round trip; an empty object exists, with size 0.
async fn any_bytes_are_kept_including_none(store: &dyn ObjectStore, keys: &Keys) {
    let binary: Bytes = (0..=255_u8).collect::<Vec<_>>().into();
    store
        .put(&keys.binary, binary.clone())
        .await
        .expect("put binary");
    assert_eq!(
        store.get(&keys.binary).await.expect("get").bytes,
        binary,
        "every byte value survives"
    );
    store
        .put(&keys.empty, Bytes::new())
        .await
        .expect("put empty");
    assert_eq!(
        store.head(&keys.empty).await.expect("head").size,
        0,
        "an empty object exists, with size 0"
    );
}

/// A list returns every object under a prefix (not only at a slash), by key, with sizes;
/// a deeper prefix narrows it, an unused one lists nothing.
async fn lists_by_prefix_in_key_order(store: &dyn ObjectStore, keys: &Keys) {
    let root = &keys.root;
    for k in [&keys.nested2, &keys.other_ws, &keys.nested] {
        store
            .put(k, Bytes::from(k.as_str().to_owned()))
            .await
            .expect("put nested");
    }
    let listed: Vec<String> = store
        .list(&format!("{root}/"))
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key.as_str().to_owned())
        .collect();
    let mut expected: Vec<String> = [
        &keys.binary,
        &keys.empty,
        &keys.config,
        &keys.nested,
        &keys.nested2,
        &keys.other_ws,
    ]
    .iter()
    .map(|k| k.as_str().to_owned())
    .collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "list returns every object under the prefix, by key"
    );
    let ws1: Vec<String> = store
        .list(&format!("{root}/mocks/ws-1/"))
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key.as_str().to_owned())
        .collect();
    assert_eq!(
        ws1,
        [keys.nested.as_str(), keys.nested2.as_str()],
        "a deeper prefix narrows the list"
    );
    let partial = store
        .list(&format!("{root}/mocks/ws-"))
        .await
        .expect("list");
    assert_eq!(partial.len(), 3, "a prefix need not end at a slash");
    let sizes = store
        .list(&format!("{root}/mocks/ws-2/"))
        .await
        .expect("list");
    assert_eq!(
        sizes[0].size,
        keys.other_ws.as_str().len() as u64,
        "list reports sizes"
    );
    assert!(
        store
            .list(&format!("{root}-nothing/"))
            .await
            .expect("list")
            .is_empty(),
        "an unused prefix lists nothing"
    );
}

/// A deleted object is not found, deleting it twice succeeds, and deleted objects are
/// not listed.
async fn deleted_objects_are_gone(store: &dyn ObjectStore, keys: &Keys) {
    let config = &keys.config;
    store.delete(config).await.expect("delete");
    expect_kind(store.get(config).await, NotFound, "get after delete");
    expect_kind(store.head(config).await, NotFound, "head after delete");
    store.delete(config).await.expect("deleting twice succeeds");
    for k in [
        &keys.binary,
        &keys.empty,
        &keys.nested,
        &keys.nested2,
        &keys.other_ws,
    ] {
        store.delete(k).await.expect("clean up");
    }
    assert!(
        store
            .list(&format!("{}/", keys.root))
            .await
            .expect("list")
            .is_empty(),
        "deleted objects are not listed"
    );
}
