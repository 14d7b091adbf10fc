//! The generator as its own process on the real services: PostgreSQL, Redis and S3.
//!
//! The servers, and each test's own database, stream and bucket, come from
//! `moclojer_testkit::services` (`MOCLOJER_TEST_DATABASE_URL`, `MOCLOJER_TEST_REDIS_URL`,
//! `MOCLOJER_TEST_S3_URL`). When a variable is unset the tests print one line to stderr
//! and pass, except under `CI=true`, where they fail.

use std::time::Duration;

use moclojer_domain::{EventKind, ServerState, SpecSource};
use moclojer_generator::{App, Config};
use moclojer_ports::{EventQueue, HOSTS_PREFIX, MANIFEST_KEY, ObjectStore, Scope};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_s3::{S3Config, S3ObjectStore};
use moclojer_testkit::services::{
    S3_TEST_CREDENTIALS, TestDb, TestStream, all_servers, unique_bucket,
};
use moclojer_testkit::{Fixture, Repos};
use moclojer_wiring::{App as _, DatabaseUrl, QueueUrl, Resolver, S3Credentials, StoreUrl};
use tokio::time::Instant;

use crate::helpers::{View, item_hosts, try_view};

const REGION: &str = "eu-west-1";

/// How long the generator may take to react; far below its 60 s interval.
const PATIENCE: Duration = Duration::from_secs(10);

/// One generator's world on the real services: a fresh database, stream and bucket, the
/// test's own view of each, and the generator's configuration for them.
struct World {
    db: TestDb,
    _stream: TestStream,
    fx: Fixture,
    database: PostgresDatabase,
    repos: Repos,
    /// The same bucket as the generator's, opened by the test.
    store: S3ObjectStore,
    /// The same stream as the generator's, read by the test as the `observer` group.
    observer: RedisEventQueue,
    config: Config,
    /// What the generator opens its adapters with.
    resolver: Resolver,
}

impl World {
    async fn new(database_url: &str, redis_url: &str, s3_url: &str) -> Self {
        let db = TestDb::create(database_url).await;
        let stream = TestStream::new(redis_url, "generator");
        let bucket = unique_bucket("generator");
        let (access, secret) = S3_TEST_CREDENTIALS;
        let store = StoreUrl::parse(&format!(
            "s3://{bucket}/cloud?endpoint={s3_url}&region={REGION}&create_bucket=true&timeout_ms=5000"
        ))
        .unwrap();
        let queue = QueueUrl::parse(redis_url)
            .unwrap()
            .with_stream(Some(stream.name().to_owned()));
        let config = Config {
            // a minute between timed rebuilds: within the test only events can do it
            interval: Duration::from_secs(60),
            ..Config::new(DatabaseUrl::parse(db.url()).unwrap(), store, Some(queue))
        };
        let database = PostgresDatabase::connect(&PostgresConfig {
            max_connections: 3,
            ..PostgresConfig::new(db.url().to_owned())
        })
        .await
        .expect("connect to the test database");
        let repos = Repos::from_database(database.clone());
        let mut s3 = S3Config::new(s3_url, bucket, access, secret);
        s3.region = REGION.to_owned();
        s3.create_bucket = true;
        s3.prefix = Some("cloud".to_owned());
        let store = S3ObjectStore::connect(&s3).await.expect("the test bucket");
        let observer = RedisEventQueue::connect(&RedisConfig {
            stream: stream.name().to_owned(),
            ..RedisConfig::new(redis_url)
        })
        .await
        .expect("connect to the test redis");
        observer
            .ensure_group("observer")
            .await
            .expect("the observer group");
        Self {
            db,
            _stream: stream,
            fx: Fixture::new(),
            database,
            repos,
            store,
            observer,
            config,
            resolver: Resolver::new(Some(S3Credentials::new(access, secret))),
        }
    }

    /// What a fresh reader sees in the bucket, if it has a root.
    async fn published(&self) -> Option<View> {
        try_view(&self.store).await
    }

    /// Waits for the index of `generation`.
    async fn wait_for_generation(&self, generation: u64) -> View {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(view) = self.published().await
                && view.generation >= generation
            {
                assert_eq!(view.generation, generation, "{view:?}");
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "no generation {generation} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the `config.published` of `generation` on the stream, as another service
    /// would hear it.
    async fn wait_for_config_published(&self, generation: u64) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let batch = self
                .observer
                .receive("observer", "test", 100, Duration::from_millis(500))
                .await
                .expect("receive");
            let ids: Vec<_> = batch.iter().map(|d| d.id.clone()).collect();
            let found = batch.iter().any(|d| {
                matches!(
                    &d.event.kind,
                    EventKind::ConfigPublished { generation: g, key, .. }
                        if *g == generation && key == MANIFEST_KEY
                )
            });
            if !ids.is_empty() {
                self.observer.ack("observer", &ids).await.expect("ack");
            }
            if found {
                return;
            }
        }
        panic!("no config.published of generation {generation} on the stream within {PATIENCE:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_event_through_redis_makes_the_generator_write_s3() {
    let Some((database_url, redis_url, s3_url)) = all_servers() else {
        return;
    };
    let world = World::new(&database_url, &redis_url, &s3_url).await;

    let app = App::build(world.config.clone(), &world.resolver)
        .await
        .expect("build");
    assert!(app.hears_events());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        stop_rx.await.ok();
    }));

    // the rebuild at start: an empty index, and its config.published relayed to Redis
    let view = world.wait_for_generation(1).await;
    assert!(view.hosts.is_empty(), "{view:?}");
    assert!(world.store.list(HOSTS_PREFIX).await.unwrap().is_empty());
    world.wait_for_config_published(1).await;

    // a user publishes a mock, as the api does: the request and its event in one save
    let (user, workspace) = world.fx.signed_up(&world.repos).await;
    let scope = Scope::User(user.id);
    let mut mock = world.fx.mock(&workspace, "orders");
    mock.content = SpecSource::new(
        "- endpoint:\n    method: GET\n    path: /orders\n    response:\n      status: 200\n      body: '{\"orders\": []}'\n",
    )
    .unwrap();
    mock.enabled = true;
    world
        .repos
        .mocks
        .create(&scope, &mock, &[])
        .await
        .expect("create the mock");
    let mut publication = world
        .repos
        .publications
        .get(&scope, mock.id)
        .await
        .expect("the publication");
    publication
        .request_publish(mock.revision, world.fx.now)
        .expect("request publish");
    let changed = world
        .fx
        .event(EventKind::PublicationChanged { mock_id: mock.id });
    world
        .repos
        .publications
        .save(&scope, &publication, &[changed])
        .await
        .expect("save the publish request");
    let requested = Instant::now();

    // within seconds, not the minute of the interval: the event woke it
    let view = world.wait_for_generation(2).await;
    assert!(requested.elapsed() < PATIENCE);
    assert_eq!(view.hosts.keys().collect::<Vec<_>>(), [mock.host.as_str()]);
    assert_eq!(view.hosts[mock.host.as_str()], mock.revision.get());
    assert_eq!(item_hosts(&view.items), [mock.host.as_str()]);
    assert_eq!(view.items[0]["endpoint"]["path"], "/orders");
    let listed = world.store.list(HOSTS_PREFIX).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.key.clone()).collect::<Vec<_>>(),
        [view.object_key(mock.host.as_str())],
        "one object, for the one host"
    );

    let publication = world
        .repos
        .publications
        .get(&scope, mock.id)
        .await
        .expect("the publication");
    assert_eq!(
        publication.server,
        ServerState::Published,
        "{publication:?}"
    );
    assert_eq!(publication.live_revision, Some(mock.revision));

    // and the generator's own config.published went from its outbox to Redis
    world.wait_for_config_published(2).await;

    stop_tx.send(()).ok();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the generator stops")
        .expect("the generator task")
        .expect("the generator ran");
    world.observer.close().await;
    world.resolver.close().await;
    world.database.close().await;
    drop(world.db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_rebuilds_and_relays_its_outbox_to_redis() {
    let Some((database_url, redis_url, s3_url)) = all_servers() else {
        return;
    };
    let world = World::new(&database_url, &redis_url, &s3_url).await;
    let (_, workspace) = world.fx.signed_up(&world.repos).await;
    let mut mock = world.fx.mock(&workspace, "once");
    mock.enabled = true;
    world
        .repos
        .mocks
        .create(&Scope::System, &mock, &[])
        .await
        .expect("create the mock");
    let mut publication = world
        .repos
        .publications
        .get(&Scope::System, mock.id)
        .await
        .expect("the publication");
    publication
        .request_publish(mock.revision, world.fx.now)
        .expect("request publish");
    world
        .repos
        .publications
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save the publish request");

    let outcome = App::build(world.config.clone(), &world.resolver)
        .await
        .expect("build")
        .run_once()
        .await
        .expect("run once");
    assert_eq!(
        (outcome.generation, outcome.hosts, outcome.published),
        (1, 1, 1)
    );
    let view = world.published().await.expect("an index in the bucket");
    assert_eq!(
        view.hosts.keys().collect::<Vec<_>>(),
        [mock.host.as_str()],
        "written to the bucket"
    );
    assert_eq!(view.generation, 1);
    // no relay runs any more: only --once can have put it on the stream
    world.wait_for_config_published(1).await;
    let left = world
        .repos
        .outbox
        .claim("test", 100, Duration::from_secs(30))
        .await
        .expect("claim");
    assert!(
        left.iter()
            .all(|entry| !matches!(entry.event.kind, EventKind::ConfigPublished { .. })),
        "config.published left in the outbox: {left:?}"
    );
    world.observer.close().await;
    world.resolver.close().await;
    world.database.close().await;
    drop(world.db);
}
