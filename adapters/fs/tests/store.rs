//! `FsObjectStore` against a real folder: atomic replace, invisible temporary files,
//! nested keys, reopening, unusable roots and list prefixes.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use moclojer_fs::FsObjectStore;
use moclojer_ports::{ETag, ObjectKey, ObjectStore, PortErrorKind};
use sha2::{Digest, Sha256};

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap()
}

fn etag(bytes: &[u8]) -> ETag {
    ETag(hex::encode(Sha256::digest(bytes)))
}

fn fresh() -> (tempfile::TempDir, FsObjectStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::open(dir.path().join("objects")).unwrap();
    (dir, store)
}

async fn keys(store: &FsObjectStore, prefix: &str) -> Vec<String> {
    let listed = store.list(prefix).await.unwrap();
    listed.into_iter().map(|m| m.key.to_string()).collect()
}

#[tokio::test]
async fn objects_round_trip_with_content_etags() {
    let (_dir, store) = fresh();
    let k = key("moclojer.yml");

    let err = store.get(&k).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::NotFound);
    assert_eq!(
        store.head(&k).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    assert_eq!(
        store
            .get_if_changed(&k, &etag(b""))
            .await
            .unwrap_err()
            .kind(),
        PortErrorKind::NotFound
    );

    let first = store.put(&k, Bytes::from_static(b"one")).await.unwrap();
    assert_eq!(first, etag(b"one"));
    let object = store.get(&k).await.unwrap();
    assert_eq!((object.bytes.as_ref(), &object.etag), (&b"one"[..], &first));

    let meta = store.head(&k).await.unwrap();
    assert_eq!(
        (meta.key, meta.size, meta.etag),
        (k.clone(), 3, first.clone())
    );

    assert_eq!(store.get_if_changed(&k, &first).await.unwrap(), None);
    let second = store.put(&k, Bytes::from_static(b"two!")).await.unwrap();
    assert_ne!(first, second);
    let changed = store.get_if_changed(&k, &first).await.unwrap().unwrap();
    assert_eq!(
        (changed.bytes.as_ref(), changed.etag),
        (&b"two!"[..], second)
    );

    // The same content gives the same tag.
    assert_eq!(
        store.put(&k, Bytes::from_static(b"one")).await.unwrap(),
        first
    );

    store.delete(&k).await.unwrap();
    assert_eq!(
        store.get(&k).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    store.delete(&k).await.unwrap();
    store.delete(&key("never/was/here.yml")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_mix_of_two_writes() {
    const SIZE: usize = 256 << 10;
    const WRITES: usize = 60;
    const MAX_READS: usize = 2_000;

    let (_dir, store) = fresh();
    let store = Arc::new(store);
    let k = key("mocks/big.yml");
    let a = Bytes::from(vec![b'a'; SIZE]);
    let b = Bytes::from(vec![b'b'; SIZE + 4096]);
    let tags = [etag(&a), etag(&b)];
    store.put(&k, a.clone()).await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (store, k, done) = (Arc::clone(&store), k.clone(), Arc::clone(&done));
        let (a, b) = (a.clone(), b.clone());
        async move {
            for i in 0..WRITES {
                let bytes = if i % 2 == 0 { &b } else { &a };
                store.put(&k, bytes.clone()).await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        }
    });

    // Read until the writer is done (at least once, at most MAX_READS times).
    for read in 0..MAX_READS {
        let object = store.get(&k).await.unwrap();
        let whole = object.bytes == a || object.bytes == b;
        assert!(whole, "read {read} is torn: {} bytes", object.bytes.len());
        assert!(tags.contains(&object.etag));
        if done.load(Ordering::SeqCst) {
            break;
        }
    }
    writer.await.unwrap();
    assert_eq!(keys(&store, "").await, ["mocks/big.yml"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_files_are_never_listed() {
    let (_dir, store) = fresh();
    let store = Arc::new(store);
    store
        .put(&key("a/x.yml"), Bytes::from_static(b"x"))
        .await
        .unwrap();

    // A temporary file left behind by a crashed writer, and a foreign file no key can name.
    let folder = store.root().join("a");
    fs::write(folder.join(".x.yml~tmp-1-1"), b"half").unwrap();
    fs::write(folder.join("has space"), b"foreign").unwrap();
    assert_eq!(keys(&store, "").await, ["a/x.yml"]);
    assert_eq!(keys(&store, "a/.").await, Vec::<String>::new());

    // Writers busy in the same folder: every listing shows only whole objects.
    let writer = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            for i in 0..40 {
                let bytes = Bytes::from(vec![b'y'; (64 << 10) + i]);
                store.put(&key("a/y.yml"), bytes).await.unwrap();
            }
        }
    });
    for _ in 0..40 {
        for meta in store.list("").await.unwrap() {
            assert!(
                ["a/x.yml", "a/y.yml"].contains(&meta.key.as_str()),
                "{meta:?}"
            );
        }
    }
    writer.await.unwrap();
    assert_eq!(keys(&store, "").await, ["a/x.yml", "a/y.yml"]);

    // Only the leftover and the foreign file remain besides the objects.
    let mut names: Vec<_> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".x.yml~tmp-1-1", "has space", "x.yml", "y.yml"]);
}

#[tokio::test]
async fn keys_with_nested_folders_work() {
    let (_dir, store) = fresh();
    let deep = key("mocks/ws-1/v2/routes/users.yml");
    store
        .put(&deep, Bytes::from_static(b"users"))
        .await
        .unwrap();
    assert!(
        store
            .root()
            .join("mocks/ws-1/v2/routes/users.yml")
            .is_file()
    );
    assert_eq!(store.get(&deep).await.unwrap().bytes, "users");
    assert_eq!(store.head(&deep).await.unwrap().size, 5);
    assert_eq!(
        keys(&store, "mocks/").await,
        ["mocks/ws-1/v2/routes/users.yml"]
    );

    // A folder is not an object.
    let folder = key("mocks/ws-1");
    assert_eq!(
        store.get(&folder).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    store.delete(&folder).await.unwrap();
    assert_eq!(store.get(&deep).await.unwrap().bytes, "users");
    // Neither is a path through a file.
    let through = key("mocks/ws-1/v2/routes/users.yml/more");
    assert_eq!(
        store.get(&through).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );

    // Deleting the last object removes the folders it leaves empty, not the root.
    store.delete(&deep).await.unwrap();
    assert!(!store.root().join("mocks").exists());
    assert!(store.root().is_dir());
    assert_eq!(keys(&store, "").await, Vec::<String>::new());
    // And the folders come back on the next write.
    store
        .put(&deep, Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(store.get(&deep).await.unwrap().bytes, "again");
}

#[tokio::test]
async fn a_key_cannot_be_both_a_folder_and_an_object() {
    let (_dir, store) = fresh();
    store
        .put(&key("a/b"), Bytes::from_static(b"b"))
        .await
        .unwrap();
    let err = store
        .put(&key("a"), Bytes::from_static(b"a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");
    let err = store
        .put(&key("a/b/c"), Bytes::from_static(b"c"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");
    // The failed writes left nothing behind.
    assert_eq!(keys(&store, "").await, ["a/b"]);
    assert_eq!(fs::read_dir(store.root()).unwrap().count(), 1);
    assert_eq!(fs::read_dir(store.root().join("a")).unwrap().count(), 1);
}

#[tokio::test]
async fn a_reopened_store_sees_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let store = FsObjectStore::open(dir.path()).unwrap();
        for raw in ["manifest.json", "mocks/ws-1/m.yml", "mocks/ws-2/m.yml"] {
            store
                .put(&key(raw), Bytes::from(raw.to_owned()))
                .await
                .unwrap();
        }
        store.list("").await.unwrap()
    };
    let store = FsObjectStore::open(dir.path()).unwrap();
    assert_eq!(store.list("").await.unwrap(), written);
    let object = store.get(&key("mocks/ws-2/m.yml")).await.unwrap();
    assert_eq!(object.bytes, "mocks/ws-2/m.yml");
    assert_eq!(object.etag, etag(b"mocks/ws-2/m.yml"));
}

#[test]
fn a_root_that_is_a_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"").unwrap();

    for root in [file.clone(), file.join("below")] {
        let err = FsObjectStore::open(&root).unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Unavailable);
        assert!(err.is_retryable());
        assert!(err.message().contains(&*root.to_string_lossy()), "{err}");
        assert!(err.source().is_some());
    }
}

#[test]
fn a_missing_root_is_created_with_its_parents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/c");
    let store = FsObjectStore::open(&root).unwrap();
    assert!(root.is_dir());
    assert!(store.root().is_absolute());
}

#[tokio::test]
async fn list_matches_a_plain_text_prefix_in_key_order() {
    let (_dir, store) = fresh();
    let all = [
        "manifest.json",
        "mocks/ws1/a.yml",
        "mocks/ws1/b/c.yml",
        "mocks/ws10/a.yml",
        "moclojer.yml",
        "z",
    ];
    // Written out of order; listed in key order.
    for raw in all.iter().rev() {
        store
            .put(&key(raw), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let check = async |prefix: &str, expected: &[&str]| {
        assert_eq!(keys(&store, prefix).await, expected, "prefix {prefix:?}");
    };
    check("", &all).await;
    check("mocks/ws1/", &["mocks/ws1/a.yml", "mocks/ws1/b/c.yml"]).await;
    check(
        "mocks/ws1",
        &["mocks/ws1/a.yml", "mocks/ws1/b/c.yml", "mocks/ws10/a.yml"],
    )
    .await;
    check(
        "mo",
        &[
            "mocks/ws1/a.yml",
            "mocks/ws1/b/c.yml",
            "mocks/ws10/a.yml",
            "moclojer.yml",
        ],
    )
    .await;
    check("mocks/ws1/b", &["mocks/ws1/b/c.yml"]).await;
    check("mocks/ws1/b/c.yml", &["mocks/ws1/b/c.yml"]).await;
    check("mocks/ws1/b/c.yml/", &[]).await;
    check("mocks/ws2/", &[]).await;
    check("mocks//", &[]).await;
    check("a b", &[]).await;
    check("/", &[]).await;

    let metas = store.list("m").await.unwrap();
    let unique: BTreeSet<_> = metas.iter().map(|m| &m.key).collect();
    assert_eq!(unique.len(), metas.len());
    assert!(metas.iter().all(|m| m.size == 1 && m.etag == etag(b"x")));
}

#[tokio::test]
async fn io_failures_are_unavailable_with_their_cause() {
    let (_dir, store) = fresh();

    // A symbolic link loop where an object should be: not a missing object, a broken folder.
    #[cfg(unix)]
    {
        let looped = store.root().join("loop.yml");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let err = store.get(&key("loop.yml")).await.unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
        assert!(err.source().is_some());
        fs::remove_file(&looped).unwrap();
    }

    // A folder that refuses writes. Skipped when running with the power to ignore modes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let locked = store.root().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
        let privileged = fs::write(locked.join("probe"), b"").is_ok();
        if !privileged {
            let err = store
                .put(&key("locked/m.yml"), Bytes::from_static(b"m"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
            let io = err
                .source()
                .unwrap()
                .downcast_ref::<std::io::Error>()
                .unwrap();
            assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        }
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_dir_all(&locked).unwrap();
    }

    // A segment longer than file names may be is a bad key for this store.
    let long = key(&format!("mocks/{}", "x".repeat(300)));
    let err = store
        .put(&long, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Invalid, "{err}");
    assert_eq!(
        store.get(&long).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );

    // The folder removed under a running store: writes and listings are unavailable, not
    // "not found".
    fs::remove_dir_all(store.root()).unwrap();
    let err = store
        .put(&key("a/b.yml"), Bytes::from_static(b"b"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    let err = store.list("").await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    assert_eq!(
        store.get(&key("a/b.yml")).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    store.delete(&key("a/b.yml")).await.unwrap();
}
