//! Fixtures built from the domain's constructors, and a raw view of the tables.

use std::path::{Path, PathBuf};

use moclojer_domain::{
    Email, Event, EventId, EventKind, Handle, Mock, MockId, MockName, SpecSource, Timestamp, User,
    UserId, Workspace, WorkspaceId, Zone,
};
use moclojer_ports::{AccountRepository, MockRepository, Scope};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};
use tempfile::TempDir;
use uuid::Uuid;

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

/// A database file in a fresh temporary folder; the folder goes when the value drops.
#[derive(Debug)]
pub(crate) struct TempDb {
    dir: TempDir,
}

impl TempDb {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("moclojer.sqlite")
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path().display())
    }

    pub(crate) async fn connect(&self) -> SqliteDatabase {
        SqliteDatabase::connect(&SqliteConfig::new(self.url()))
            .await
            .unwrap()
    }
}

/// Alice with her personal workspace, Bob with his, and the org `acme` that Alice owns and
/// Bob is a member of.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) alice: User,
    pub(crate) bob: User,
    pub(crate) alice_ws: Workspace,
    pub(crate) bob_ws: Workspace,
    pub(crate) acme: Workspace,
}

impl World {
    pub(crate) async fn create(db: &SqliteDatabase) -> Self {
        let mut alice = user(1, "alice@example.com");
        let mut bob = user(2, "bob@example.com");
        db.create_user(&alice, Some("$argon2id$v=19$alice"))
            .await
            .unwrap();
        db.create_user(&bob, None).await.unwrap();
        alice
            .choose_handle(Handle::parse("alice").unwrap())
            .unwrap();
        bob.choose_handle(Handle::parse("bob").unwrap()).unwrap();
        let alice_ws = Workspace::personal(workspace_id(1), &alice, t(20)).unwrap();
        let bob_ws = Workspace::personal(workspace_id(2), &bob, t(20)).unwrap();
        db.create_personal_workspace(&alice, &alice_ws)
            .await
            .unwrap();
        db.create_personal_workspace(&bob, &bob_ws).await.unwrap();
        let mut acme = Workspace::org(
            workspace_id(3),
            Handle::parse("acme").unwrap(),
            Some("Acme Inc."),
            alice.id,
            t(30),
        )
        .unwrap();
        acme.add_member(alice.id, bob.id, moclojer_domain::Role::Member)
            .unwrap();
        db.create_org(&acme, &[]).await.unwrap();
        Self {
            alice,
            bob,
            alice_ws,
            bob_ws,
            acme,
        }
    }

    pub(crate) fn alice_scope(&self) -> Scope {
        Scope::User(self.alice.id)
    }

    pub(crate) fn bob_scope(&self) -> Scope {
        Scope::User(self.bob.id)
    }

    /// Stores `mock` for Alice with one `mock.changed` event.
    pub(crate) async fn create_mock(&self, db: &SqliteDatabase, mock: &Mock, event_n: u128) {
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

/// Row counts of every table, read over a connection of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) users: i64,
    pub(crate) workspaces: i64,
    pub(crate) members: i64,
    pub(crate) mocks: i64,
    pub(crate) revisions: i64,
    pub(crate) publications: i64,
    pub(crate) outbox: i64,
}

/// A raw connection to the file, for looking behind the ports.
pub(crate) async fn raw(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

pub(crate) async fn counts(path: &Path) -> Counts {
    let pool = raw(path).await;
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let sql = match table {
                "users" => "SELECT COUNT(*) FROM users",
                "workspaces" => "SELECT COUNT(*) FROM workspaces",
                "members" => "SELECT COUNT(*) FROM members",
                "mocks" => "SELECT COUNT(*) FROM mocks",
                "mock_revisions" => "SELECT COUNT(*) FROM mock_revisions",
                "publications" => "SELECT COUNT(*) FROM publications",
                _ => "SELECT COUNT(*) FROM outbox",
            };
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let counts = Counts {
        users: count("users").await,
        workspaces: count("workspaces").await,
        members: count("members").await,
        mocks: count("mocks").await,
        revisions: count("mock_revisions").await,
        publications: count("publications").await,
        outbox: count("outbox").await,
    };
    pool.close().await;
    counts
}
