//! The wiring on the embedded adapters: SQLite and a folder, without Redis; and the
//! binary's refusal of URLs it cannot use.

use std::process::Command;

use moclojer_fs::FsObjectStore;
use moclojer_generator::{App, Config};
use moclojer_ports::{HOSTS_PREFIX, INDEX_PREFIX, MANIFEST_KEY};
use moclojer_wiring::{App as _, DatabaseUrl, Resolver, StoreUrl};

use crate::helpers::{World, item_hosts, items, view};

/// The embedded wiring: `database_url` and `store` as given, no queue.
pub(crate) fn embedded(database_url: &str, store: &str) -> Config {
    Config::new(
        DatabaseUrl::parse(database_url).unwrap(),
        StoreUrl::parse(store).unwrap(),
        None,
    )
}

#[tokio::test]
async fn run_once_on_sqlite_and_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite");
    let store_dir = dir.path().join("store");
    let config = embedded(
        &format!("sqlite:{}?mode=rwc", database.display()),
        &format!("file://{}", store_dir.display()),
    );
    let resolver = Resolver::default();
    let outcome = App::build(config.clone(), &resolver)
        .await
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (1, 0, true)
    );
    assert!(store_dir.join(MANIFEST_KEY).is_file());
    let published = view(&FsObjectStore::open(&store_dir).unwrap()).await;
    assert_eq!((published.generation, published.hosts.len()), (1, 0));
    let root = std::fs::read(store_dir.join(MANIFEST_KEY)).unwrap();
    resolver.close().await;

    // the same folder as a plain path: the same store, so nothing changes
    let plain = Config {
        store: StoreUrl::parse(&store_dir.display().to_string()).unwrap(),
        ..config
    };
    let resolver = Resolver::default();
    let app = App::build(plain, &resolver).await.unwrap();
    assert!(!app.hears_events());
    let again = app.run_once().await.unwrap();
    assert_eq!((again.generation, again.changed), (1, false));
    assert_eq!(std::fs::read(store_dir.join(MANIFEST_KEY)).unwrap(), root);
    resolver.close().await;
}

#[tokio::test]
async fn a_missing_database_is_an_error_when_the_url_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = embedded(
        &format!(
            "sqlite:{}?mode=rw",
            dir.path().join("absent.sqlite").display()
        ),
        &dir.path().join("store").display().to_string(),
    );
    let err = App::build(config, &Resolver::default()).await.unwrap_err();
    assert!(format!("{err:#}").contains("open the database"), "{err:#}");
}

#[test]
fn the_binary_refuses_unknown_schemes_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", dir.path().join("db.sqlite").display());
    let store = dir.path().join("store").display().to_string();
    for (args, expected) in [
        (
            [
                "mysql://root:hunter2@db/moclojer",
                store.as_str(),
                "redis://127.0.0.1:9",
            ],
            "the scheme \"mysql\" is not a database",
        ),
        (
            [
                database.as_str(),
                "ftp://files/store",
                "redis://127.0.0.1:9",
            ],
            "the scheme \"ftp\" is not an object store",
        ),
        (
            [database.as_str(), store.as_str(), "amqp://rabbit:5672"],
            "the scheme \"amqp\" is not a queue",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_moclojer-generator"))
            .args(["--once", "--database-url", args[0], "--store", args[1]])
            .args(["--redis-url", args[2]])
            .env_remove("MOCLOJER_DATABASE_URL")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    assert!(
        !dir.path().join("db.sqlite").exists(),
        "nothing was opened for a refused configuration"
    );
    assert!(!dir.path().join("store").exists());
}

#[tokio::test]
async fn an_s3_store_without_credentials_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = embedded(
        &format!("sqlite:{}", dir.path().join("db.sqlite").display()),
        "s3://moclojer?endpoint=http://127.0.0.1:9",
    );
    let err = format!(
        "{:#}",
        App::build(config, &Resolver::default()).await.unwrap_err()
    );
    assert!(
        err.contains("open the object store (s3 bucket moclojer"),
        "{err}"
    );
    assert!(err.contains(moclojer_wiring::S3_ACCESS_KEY_VAR), "{err}");
}

#[tokio::test]
async fn a_folder_store_holds_the_layout() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::open(dir.path()).unwrap();
    let deps = world.deps_with_store(std::sync::Arc::new(store.clone()));
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "ondisk").await;

    let outcome = moclojer_generator::rebuild(&deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (1, 1));
    let published = view(&store).await;
    let own = dir
        .path()
        .join(published.object_key(mock.host.as_str()).as_str());
    assert!(
        own.starts_with(dir.path().join(HOSTS_PREFIX).join(mock.host.as_str())),
        "{}",
        own.display()
    );
    let own = items(&std::fs::read(&own).unwrap());
    assert_eq!(own, published.items);
    assert_eq!(item_hosts(&own), [mock.host.as_str()]);
    assert!(dir.path().join(INDEX_PREFIX).is_dir());

    world.unpublish(mock.id).await;
    let outcome = moclojer_generator::rebuild(&deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (2, 0));
    assert_eq!(view(&store).await.hosts.len(), 0);
    assert!(
        !dir.path()
            .join(published.object_key(mock.host.as_str()).as_str())
            .exists(),
        "the object is deleted (no grace here)"
    );
}
