//! The publish path without the api: a mock stored in SQLite is published, the generator
//! writes the unified config to the object store, and the mock server follows the store and
//! answers on the mock's host. An invalid edit keeps the last good version live; unpublish
//! takes the host out of service.

use std::net::SocketAddr;
use std::sync::Arc;

use moclojer_domain::spec::{AnyDestination, Limits, Mode};
use moclojer_domain::{Mock, Publication, SpecSource};
use moclojer_foss::{
    CloudSource, EngineOptions, SharedEngine, SystemEnv, cloud_options, empty_engine,
};
use moclojer_fs::FsObjectStore;
use moclojer_generator::{Deps, rebuild};
use moclojer_ports::{RandomIds, Scope, SystemClock};
use moclojer_sqlite::SqliteDatabase;
use moclojer_testkit::{Fixture, Repos};

struct World {
    _dir: tempfile::TempDir,
    repos: Repos,
    deps: Deps,
    source: CloudSource,
    engine: SharedEngine,
    options: EngineOptions,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteDatabase::open(&dir.path().join("moclojer.sqlite"))
        .await
        .expect("database");
    let store = Arc::new(FsObjectStore::open(dir.path().join("store")).expect("store"));
    let repos = Repos::from_database(db.clone());
    let deps = Deps {
        mocks: Arc::new(db.clone()),
        publications: Arc::new(db.clone()),
        outbox: Arc::new(db),
        store: store.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        limits: Limits::default(),
        destinations: Arc::new(AnyDestination),
    };
    let options = cloud_options(&EngineOptions {
        mode: Mode::Cloud,
        ..EngineOptions::default()
    });
    let engine = empty_engine(&options);
    World {
        _dir: dir,
        repos,
        deps,
        source: CloudSource::new(store),
        engine,
        options,
    }
}

impl World {
    /// What the generator and the mock server do when an event wakes them.
    async fn propagate(&mut self) {
        rebuild(&self.deps).await.expect("rebuild");
        self.source
            .load_generation(&self.engine, &self.options, &Limits::for_bytes(64 << 20))
            .await
            .expect("load");
    }

    async fn get(&self, host: &str, path: &str) -> (u16, String) {
        let request = http::Request::get(path)
            .header(http::header::HOST, host)
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        let remote = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let reply = self
            .engine
            .load_full()
            .handle(&parts, bytes::Bytes::new(), remote, &SystemEnv)
            .await;
        (
            reply.status().as_u16(),
            String::from_utf8_lossy(reply.body()).into_owned(),
        )
    }

    async fn publish(&self, scope: &Scope, mock: &Mock) -> Publication {
        let mut publication = self
            .repos
            .publications
            .get(scope, mock.id)
            .await
            .expect("publication");
        publication
            .request_publish(mock.revision, mock.updated_at)
            .expect("request publish");
        self.repos
            .publications
            .save(scope, &publication, &[])
            .await
            .expect("save")
    }
}

fn spec(word: &str) -> SpecSource {
    SpecSource::new(format!(
        "- endpoint:\n    path: /hello\n    response:\n      body: '{{\"hello\": \"{word}\"}}'\n"
    ))
    .expect("spec")
}

#[tokio::test]
async fn publish_edit_invalid_edit_and_unpublish() {
    let mut world = world().await;
    let fx = Fixture::new();
    let (user, personal) = fx.signed_up(&world.repos).await;
    let scope = Scope::User(user.id);
    let mut mock = fx.mock(&personal, "hello");
    mock.content = spec("one");
    mock.enabled = true;
    world
        .repos
        .mocks
        .create(&scope, &mock, &[])
        .await
        .expect("create");
    let host = mock.host.as_str().to_owned();

    assert_eq!(
        world.get(&host, "/hello").await.0,
        404,
        "nothing is served before publishing"
    );
    world.publish(&scope, &mock).await;
    world.propagate().await;
    assert_eq!(
        world.get(&host, "/hello").await,
        (200, r#"{"hello": "one"}"#.to_owned())
    );
    assert_eq!(
        world.get("other-host.test.localhost", "/hello").await.0,
        404,
        "another host gets 404"
    );

    // An invalid edit: refused with diagnostics, the last good version stays live.
    let before = mock.revision;
    mock.edit(
        SpecSource::new("- endpoint:\n    path: hello\n").expect("spec"),
        Some(before),
        fx.now,
    )
    .expect("edit");
    world
        .repos
        .mocks
        .update(&scope, &mock, before, &[])
        .await
        .expect("update");
    world.publish(&scope, &mock).await;
    world.propagate().await;
    let publication = world
        .repos
        .publications
        .get(&scope, mock.id)
        .await
        .expect("publication");
    let moclojer_domain::ServerState::Invalid { diagnostics } = &publication.server else {
        panic!("the publication is invalid: {publication:?}")
    };
    assert_eq!(
        diagnostics[0].line, 2,
        "the diagnostic points into the user's text: {diagnostics:?}"
    );
    assert_eq!(
        world.get(&host, "/hello").await,
        (200, r#"{"hello": "one"}"#.to_owned()),
        "the last good version is live"
    );

    // A fix goes live.
    let before = mock.revision;
    mock.edit(spec("two"), Some(before), fx.now).expect("edit");
    world
        .repos
        .mocks
        .update(&scope, &mock, before, &[])
        .await
        .expect("update");
    world.publish(&scope, &mock).await;
    world.propagate().await;
    assert_eq!(
        world.get(&host, "/hello").await,
        (200, r#"{"hello": "two"}"#.to_owned())
    );

    // Unpublish takes it out of service.
    let mut publication = world
        .repos
        .publications
        .get(&scope, mock.id)
        .await
        .expect("publication");
    assert!(publication.unpublish(fx.now));
    world
        .repos
        .publications
        .save(&scope, &publication, &[])
        .await
        .expect("save");
    world.propagate().await;
    assert_eq!(
        world.get(&host, "/hello").await.0,
        404,
        "an unpublished mock stops answering"
    );
}
