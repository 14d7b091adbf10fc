//! The shared `ObjectStore` contract from `moclojer-testkit`, against a fresh folder.

use std::sync::Arc;

use moclojer_fs::FsObjectStore;
use moclojer_testkit::contracts::object_store_contract;

#[tokio::test]
async fn fs_object_store_keeps_the_object_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::open(dir.path()).unwrap();
    object_store_contract(Arc::new(store.clone())).await;
    // The contract deletes everything it wrote; the folders it made go with it.
    assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 0);
}
