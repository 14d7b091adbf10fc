//! A fresh database per test on the server `MOCLOJER_TEST_DATABASE_URL` names (through
//! `moclojer_testkit::services`), with a raw view of its tables (`SqlHarness`), and
//! fixtures built from the domain's constructors for the tests of concurrent writers.

use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{
    Email, Event, EventId, EventKind, Handle, Mock, MockId, MockName, SpecSource, Timestamp, User,
    UserId, Workspace, WorkspaceId, Zone,
};
use moclojer_ports::{AccountRepository, MockRepository, Scope};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_testkit::contracts::sql::SqlHarness;
use moclojer_testkit::services;
use sqlx::postgres::PgPool;
use uuid::Uuid;

/// A database of its own on the test server: `moclojer_testkit`'s [`services::TestDb`]
/// (dropped, best effort, when this value goes), with the adapter on it and a raw view of
/// its tables.
#[derive(Debug)]
pub(crate) struct TestDb(services::TestDb);

impl TestDb {
    /// A new, empty database on the server [`services::database_url`] names, or `None`
    /// when the tests are skipped.
    ///
    /// # Panics
    /// Under `CI=true` without the variable, and when the server cannot be reached or
    /// refuses.
    pub(crate) async fn create() -> Option<Self> {
        let admin = services::database_url()?;
        Some(Self(services::TestDb::create(&admin).await))
    }

    /// The URL of this database.
    pub(crate) fn url(&self) -> &str {
        self.0.url()
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        self.0.name()
    }

    /// A configuration for this database with a small pool.
    pub(crate) fn config(&self) -> PostgresConfig {
        PostgresConfig {
            max_connections: 5,
            ..PostgresConfig::new(self.url())
        }
    }

    /// The adapter on this database, migrated.
    pub(crate) async fn connect(&self) -> PostgresDatabase {
        PostgresDatabase::connect(&self.config())
            .await
            .expect("connect to the test database")
    }

    /// A raw pool on this database, for looking behind the ports.
    pub(crate) async fn raw(&self) -> PgPool {
        PgPool::connect(self.url()).await.expect("raw pool")
    }
}

#[async_trait]
impl SqlHarness for TestDb {
    type Database = PostgresDatabase;

    async fn connect(&self) -> PostgresDatabase {
        TestDb::connect(self).await
    }

    async fn close(&self, database: &PostgresDatabase) {
        database.close().await;
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let pool = self.raw().await;
        let count = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        count
    }

    async fn execute(&self, sql: &'static str, arg: &str) {
        let pool = self.raw().await;
        sqlx::query(sql)
            .bind(arg)
            .execute(&pool)
            .await
            .expect("execute");
        pool.close().await;
    }

    async fn script(&self, sql: &'static str) {
        let pool = self.raw().await;
        sqlx::raw_sql(sql).execute(&pool).await.expect("script");
        pool.close().await;
    }

    async fn refuse_mock_deleted_events(&self) {
        let pool = self.raw().await;
        sqlx::raw_sql(
            "CREATE FUNCTION refuse_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.payload->>'type' = 'mock.deleted' THEN
                     RAISE EXCEPTION 'refused by the test';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_deleted BEFORE INSERT ON outbox
                 FOR EACH ROW EXECUTE FUNCTION refuse_deleted();",
        )
        .execute(&pool)
        .await
        .expect("create the trigger");
        pool.close().await;
    }

    async fn accept_all_events(&self) {
        let pool = self.raw().await;
        sqlx::query("DROP TRIGGER refuse_deleted ON outbox")
            .execute(&pool)
            .await
            .expect("drop the trigger");
        pool.close().await;
    }
}

/// A bound on how long anything in these tests may wait.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

pub(crate) fn user_id(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn workspace_id(n: u128) -> WorkspaceId {
    WorkspaceId::from_uuid(Uuid::from_u128(0x1000 + n))
}

pub(crate) fn mock_id(n: u128) -> MockId {
    MockId::from_uuid(Uuid::from_u128(0x2000 + n))
}

pub(crate) fn event(n: u128, kind: EventKind) -> Event {
    Event::new(
        EventId::from_uuid(Uuid::from_u128(0x3000 + n)),
        t(500),
        kind,
    )
}

pub(crate) fn spec(text: &str) -> SpecSource {
    SpecSource::new(text).unwrap()
}

/// A user without a handle.
pub(crate) fn user(n: u128, email: &str) -> User {
    User::new(user_id(n), Email::parse(email).unwrap(), t(10))
}

/// A mock named `name` in `workspace`, under `localhost`.
pub(crate) fn mock(n: u128, workspace: &Workspace, name: &str) -> Mock {
    Mock::create(
        mock_id(n),
        workspace,
        MockName::parse(name).unwrap(),
        &Zone::parse("localhost").unwrap(),
        spec("- endpoint: {path: /hello}"),
        t(100),
    )
}

/// Alice with her personal workspace, and the org `acme` that she owns.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) alice: User,
    pub(crate) alice_ws: Workspace,
    pub(crate) acme: Workspace,
}

impl World {
    pub(crate) async fn create(db: &PostgresDatabase) -> Self {
        let mut alice = user(1, "alice@example.com");
        db.create_user(&alice, None).await.unwrap();
        alice
            .choose_handle(Handle::parse("alice").unwrap())
            .unwrap();
        let alice_ws = Workspace::personal(workspace_id(1), &alice, t(20)).unwrap();
        db.create_personal_workspace(&alice, &alice_ws)
            .await
            .unwrap();
        let acme = Workspace::org(
            workspace_id(3),
            Handle::parse("acme").unwrap(),
            Some("Acme Inc."),
            alice.id,
            t(30),
        )
        .unwrap();
        db.create_org(&acme, &[]).await.unwrap();
        Self {
            alice,
            alice_ws,
            acme,
        }
    }

    pub(crate) fn alice_scope(&self) -> Scope {
        Scope::User(self.alice.id)
    }

    /// Stores `mock` for Alice with one `mock.changed` event.
    pub(crate) async fn create_mock(&self, db: &PostgresDatabase, mock: &Mock, event_n: u128) {
        let changed = event(
            event_n,
            EventKind::MockChanged {
                mock_id: mock.id,
                revision: mock.revision,
            },
        );
        db.create(&self.alice_scope(), mock, &[changed])
            .await
            .unwrap();
    }
}

/// The error kind of a result that must be an error.
pub(crate) fn kind<T>(result: moclojer_ports::PortResult<T>) -> moclojer_ports::PortErrorKind {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => err.kind(),
    }
}
