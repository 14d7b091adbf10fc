//! The publish path without the api: a mock stored in SQLite is published, the generator
//! writes its host's object and the published index to the object store, and the mock
//! server follows the index and answers on the mock's host. An invalid edit keeps the last
//! good version live; unpublish takes the host out of service.

use std::net::SocketAddr;
use std::sync::Arc;

use moclojer_domain::spec::{AnyDestination, Limits, Mode};
use moclojer_domain::{Mock, Publication, SpecSource};
use moclojer_foss::{
    CloudSource, EngineOptions, HostEngines, StoreLook, SystemEnv, cloud_options, unknown_host,
};
use moclojer_fs::FsObjectStore;
use moclojer_generator::{Deps, Published, rebuild};
use moclojer_ports::{
    HOSTS_PREFIX, MANIFEST_KEY, ObjectKey, ObjectStore, RandomIds, Scope, SystemClock,
};
use moclojer_sqlite::SqliteDatabase;
use moclojer_testkit::{Fixture, Repos};

struct World {
    _dir: tempfile::TempDir,
    repos: Repos,
    deps: Deps,
    store: Arc<FsObjectStore>,
    source: CloudSource,
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
        published: Published::new(),
    };
    let options = EngineOptions {
        mode: Mode::Cloud,
        ..EngineOptions::default()
    };
    let source = CloudSource::new(
        store.clone(),
        Arc::new(HostEngines::new()),
        &cloud_options(&options),
        Limits::for_bytes(64 << 20),
    );
    World {
        _dir: dir,
        repos,
        deps,
        store,
        source,
    }
}

impl World {
    /// What the generator and the mock server do when an event wakes them; what the mock
    /// server's look found.
    async fn propagate(&mut self) -> StoreLook {
        rebuild(&self.deps).await.expect("rebuild");
        self.source.load_generation().await.expect("load")
    }

    /// `GET path` for `host`, answered as a cloud server answers it: by the host's engine,
    /// or as a host no mock is published on.
    async fn get(&self, host: &str, path: &str) -> (u16, String) {
        let request = http::Request::get(path)
            .header(http::header::HOST, host)
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        let remote = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let reply = match self.source.hosts().get(host) {
            Some(engine) => {
                engine
                    .handle(&parts, bytes::Bytes::new(), remote, &SystemEnv)
                    .await
            }
            None => unknown_host(&parts, self.source.options()),
        };
        (
            reply.status().as_u16(),
            String::from_utf8_lossy(reply.body()).into_owned(),
        )
    }

    /// The keys of the host objects the store holds for `host`.
    async fn objects_of(&self, host: &str) -> Vec<String> {
        self.store
            .list(&format!("{HOSTS_PREFIX}{host}/"))
            .await
            .expect("list")
            .into_iter()
            .map(|meta| meta.key.as_str().to_owned())
            .collect()
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
    let StoreLook::Loaded(first) = world.propagate().await else {
        panic!("the first publish is loaded");
    };
    assert_eq!(first.changed.iter().collect::<Vec<_>>(), [&host]);
    let stored = world.objects_of(&host).await;
    assert_eq!(stored.len(), 1, "one object for the host: {stored:?}");
    assert!(
        world
            .store
            .get(&ObjectKey::parse(MANIFEST_KEY).expect("key"))
            .await
            .is_ok(),
        "the index root is written"
    );
    assert_eq!(
        world.get(&host, "/hello").await,
        (200, r#"{"hello": "one"}"#.to_owned())
    );
    assert_eq!(
        world.get("other-host.test.localhost", "/hello").await.0,
        404,
        "another host gets 404"
    );
    let serving = world.source.hosts().get(&host).expect("served");

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
    assert!(
        Arc::ptr_eq(
            &serving,
            &world.source.hosts().get(&host).expect("still served")
        ),
        "the host's engine is untouched by a refused edit"
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
    let StoreLook::Loaded(gone) = world.propagate().await else {
        panic!("the unpublish is loaded");
    };
    assert_eq!(gone.removed.iter().collect::<Vec<_>>(), [&host]);
    assert_eq!(gone.hosts, 0);
    let (status, body) = world.get(&host, "/hello").await;
    assert_eq!(status, 404, "an unpublished mock stops answering");
    assert!(body.contains("no mock answers on this host"), "{body}");
}
