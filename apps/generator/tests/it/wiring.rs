//! The binary's wiring on the embedded adapters: SQLite and a folder, without Redis.

use std::time::Duration;

use moclojer_generator::{App, CONFIG_KEY, Config, MANIFEST_KEY, Manifest};

/// The embedded wiring: `database_url` and `store` as given, no Redis.
pub(crate) fn embedded(database_url: String, store: String) -> Config {
    Config {
        database_url,
        store,
        s3_credentials: None,
        redis_url: None,
        redis_stream: moclojer_redis::DEFAULT_STREAM.to_owned(),
        interval: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn run_once_on_sqlite_and_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite");
    let store_dir = dir.path().join("store");
    let config = embedded(
        format!("sqlite:{}?mode=rwc", database.display()),
        format!("file://{}", store_dir.display()),
    );
    let outcome = App::build(config.clone())
        .await
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.changed),
        (1, 0, true)
    );
    assert_eq!(std::fs::read(store_dir.join(CONFIG_KEY)).unwrap(), b"[]\n");
    let manifest =
        Manifest::from_json(&std::fs::read(store_dir.join(MANIFEST_KEY)).unwrap()).unwrap();
    assert_eq!(manifest.generation, 1);

    // the same folder as a plain path: the same store, so nothing changes
    let plain = Config {
        store: store_dir.display().to_string(),
        ..config
    };
    let app = App::build(plain).await.unwrap();
    assert!(!app.hears_events());
    let again = app.run_once().await.unwrap();
    assert_eq!((again.generation, again.changed), (1, false));
}

#[tokio::test]
async fn a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = embedded(
        format!("sqlite:{}", dir.path().join("absent.sqlite").display()),
        dir.path().join("store").display().to_string(),
    );
    let err = App::build(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("open the database"), "{err:#}");
}

#[tokio::test]
async fn unknown_schemes_are_refused_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}?mode=rwc", dir.path().join("db.sqlite").display());
    let store = dir.path().join("store").display().to_string();
    for (config, expected) in [
        (
            embedded("mysql://root@db/moclojer".to_owned(), store.clone()),
            "the scheme \"mysql\" is not a database",
        ),
        (
            embedded(database.clone(), "ftp://files/store".to_owned()),
            "the scheme \"ftp\" is not an object store",
        ),
        (
            Config {
                redis_url: Some("amqp://rabbit:5672".to_owned()),
                ..embedded(database.clone(), store.clone())
            },
            "the scheme \"amqp\" is not a queue",
        ),
    ] {
        let err = format!("{:#}", App::build(config).await.unwrap_err());
        assert!(err.contains(expected), "{err}");
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
        format!("sqlite:{}?mode=rwc", dir.path().join("db.sqlite").display()),
        "s3://moclojer?endpoint=http://127.0.0.1:9".to_owned(),
    );
    let err = format!("{:#}", App::build(config).await.unwrap_err());
    assert!(
        err.contains("open the object store (s3 bucket moclojer"),
        "{err}"
    );
    assert!(err.contains(moclojer_generator::S3_ACCESS_KEY_VAR), "{err}");
}

#[tokio::test]
async fn a_folder_store_holds_the_layout() {
    let world = crate::helpers::World::new();
    let dir = tempfile::tempdir().unwrap();
    let store = moclojer_fs::FsObjectStore::open(dir.path()).unwrap();
    let deps = world.deps_with_store(std::sync::Arc::new(store));
    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "ondisk").await;

    let outcome = moclojer_generator::rebuild(&deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (1, 1));
    let own = dir
        .path()
        .join("mocks")
        .join(workspace.id.to_string())
        .join(format!("{}.yml", mock.id));
    let own = crate::helpers::items(&std::fs::read(own).unwrap());
    let config = crate::helpers::items(&std::fs::read(dir.path().join(CONFIG_KEY)).unwrap());
    assert_eq!(own, config);
    assert_eq!(crate::helpers::item_hosts(&config), [mock.host.as_str()]);

    let mut publication = world.publication(mock.id).await;
    publication.unpublish(world.fx.now);
    world.save(&publication).await;
    let outcome = moclojer_generator::rebuild(&deps).await.unwrap();
    assert_eq!((outcome.generation, outcome.hosts), (2, 0));
    assert!(
        !dir.path()
            .join("mocks")
            .join(workspace.id.to_string())
            .join(format!("{}.yml", mock.id))
            .exists()
    );
}
