//! The binary's wiring: SQLite and a folder.

use std::time::Duration;

use moclojer_generator::{App, CONFIG_KEY, Config, MANIFEST_KEY, Manifest};

#[tokio::test]
async fn run_once_on_sqlite_and_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite");
    let store_dir = dir.path().join("store");
    let config = Config {
        database: format!("sqlite:{}?mode=rwc", database.display()),
        store_dir: store_dir.clone(),
        interval: Duration::from_secs(5),
    };
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

    let again = App::build(config).await.unwrap().run_once().await.unwrap();
    assert_eq!((again.generation, again.changed), (1, false));
}

#[tokio::test]
async fn a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database: format!("sqlite:{}", dir.path().join("absent.sqlite").display()),
        store_dir: dir.path().join("store"),
        interval: Duration::from_secs(5),
    };
    let err = App::build(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("open the database"), "{err:#}");
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
