//! The `ObjectStore` contract.

use std::sync::Arc;

use bytes::Bytes;
use moclojer_ports::{ObjectKey, ObjectStore, PortErrorKind::*};

use crate::{expect_kind, unique_suffix};

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs every rule of `ObjectStore` against `store`, under a prefix unique to the run.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn object_store_contract(store: Arc<dyn ObjectStore>) {
    let root = format!("contract-{}", unique_suffix());
    let config = key(&format!("{root}/moclojer.yml"));

    // Absent objects.
    expect_kind(
        store.get(&config).await,
        NotFound,
        "get of an absent object",
    );
    expect_kind(
        store.head(&config).await,
        NotFound,
        "head of an absent object",
    );
    let no_etag = moclojer_ports::ETag("nothing".to_owned());
    expect_kind(
        store.get_if_changed(&config, &no_etag).await,
        NotFound,
        "conditional get of an absent object",
    );
    store
        .delete(&config)
        .await
        .expect("deleting an absent object succeeds");

    // Write, read, head.
    let first = Bytes::from_static(b"- endpoint:\n    path: /one\n");
    let etag1 = store.put(&config, first.clone()).await.expect("put");
    let got = store.get(&config).await.expect("get");
    assert_eq!(got.bytes, first, "an object reads back as written");
    assert_eq!(got.etag, etag1, "get reports the etag put returned");
    let meta = store.head(&config).await.expect("head");
    assert_eq!(
        (meta.key.clone(), meta.size, meta.etag.clone()),
        (config.clone(), first.len() as u64, etag1.clone())
    );
    assert_eq!(
        store.put(&config, first.clone()).await.expect("put again"),
        etag1,
        "equal content, equal etag"
    );

    // Replace, and conditional reads.
    let second = Bytes::from_static(b"- endpoint:\n    path: /two\n");
    let etag2 = store.put(&config, second.clone()).await.expect("replace");
    assert_ne!(etag1, etag2, "new content, new etag");
    assert_eq!(
        store.get(&config).await.expect("get").bytes,
        second,
        "a put replaces the whole object"
    );
    let changed = store
        .get_if_changed(&config, &etag1)
        .await
        .expect("conditional get");
    assert_eq!(
        changed.map(|o| o.bytes),
        Some(second.clone()),
        "an old etag gets the new content"
    );
    assert_eq!(
        store
            .get_if_changed(&config, &etag2)
            .await
            .expect("conditional get"),
        None,
        "the current etag gets nothing"
    );

    // Any bytes, including none.
    let binary: Bytes = (0..=255_u8).collect::<Vec<_>>().into();
    let binary_key = key(&format!("{root}/bin/all-bytes"));
    store
        .put(&binary_key, binary.clone())
        .await
        .expect("put binary");
    assert_eq!(
        store.get(&binary_key).await.expect("get").bytes,
        binary,
        "every byte value survives"
    );
    let empty_key = key(&format!("{root}/empty"));
    store
        .put(&empty_key, Bytes::new())
        .await
        .expect("put empty");
    assert_eq!(
        store.head(&empty_key).await.expect("head").size,
        0,
        "an empty object exists, with size 0"
    );

    // Listing by prefix, by key.
    let nested = key(&format!("{root}/mocks/ws-1/m-1.yml"));
    let nested2 = key(&format!("{root}/mocks/ws-1/m-2.yml"));
    let other_ws = key(&format!("{root}/mocks/ws-2/m-1.yml"));
    for k in [&nested2, &other_ws, &nested] {
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
        &binary_key,
        &empty_key,
        &config,
        &nested,
        &nested2,
        &other_ws,
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
        [nested.as_str(), nested2.as_str()],
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
        other_ws.as_str().len() as u64,
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

    // Delete.
    store.delete(&config).await.expect("delete");
    expect_kind(store.get(&config).await, NotFound, "get after delete");
    expect_kind(store.head(&config).await, NotFound, "head after delete");
    store
        .delete(&config)
        .await
        .expect("deleting twice succeeds");
    for k in [&binary_key, &empty_key, &nested, &nested2, &other_ws] {
        store.delete(k).await.expect("clean up");
    }
    assert!(
        store
            .list(&format!("{root}/"))
            .await
            .expect("list")
            .is_empty(),
        "deleted objects are not listed"
    );
}
