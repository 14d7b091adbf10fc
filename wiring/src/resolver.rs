//! The resolver: URLs in, adapters out, each opened once per process.
//!
//! Like a storage resolver, it maps a URL's scheme to the adapter that serves it:
//!
//! | URL | database | object store | queue |
//! | --- | --- | --- | --- |
//! | `memory://` | `InMemoryDatabase` | `InMemoryObjectStore` | `InMemoryEventQueue` |
//! | `sqlite:…` | `SqliteDatabase` | | |
//! | `postgres://…` | `PostgresDatabase` | | |
//! | `file:///dir`, a path | | `FsObjectStore` | |
//! | `s3://…` | | `S3ObjectStore` | |
//! | `redis://…` | | | `RedisEventQueue` |
//!
//! and the request journal: `memory://` → `InMemoryJournal`, `redis://…` → `RedisJournal`,
//! `sqlite:…` → `SqliteJournal`; stateful mocks' state: `memory://` → `InMemoryMockState`,
//! `redis://…` → `RedisMockState`.
//!
//! What it opened it keeps, so the apps of one process that name the same URL share one
//! connection pool, one in-memory queue, one store; [`Resolver::close`] closes them all.
//! The S3 credentials are read from the environment once, in [`Resolver::from_env`].

use std::fmt;
use std::sync::Arc;

use anyhow::{Context, bail};
use moclojer_domain::journal::Retention;
use moclojer_fs::FsObjectStore;
use moclojer_memory::{
    InMemoryDatabase, InMemoryEventQueue, InMemoryJournal, InMemoryMockState, InMemoryObjectStore,
};
use moclojer_ports::{
    Clock, DatabasePorts, EventQueue, MockState, ObjectStore, RequestJournal, StateLimits,
    SystemClock,
};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_redis::{RedisConfig, RedisEventQueue, RedisJournal, RedisMockState};
use moclojer_s3::{S3ObjectStore, Secret};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase, SqliteJournal};
use tokio::sync::Mutex;

use crate::url::{
    DatabaseUrl, JournalUrl, QueueUrl, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR, StateUrl, StoreUrl,
};

/// The credentials of an S3 store. Their `Debug` form hides the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
}

impl S3Credentials {
    /// Credentials from an access key id and a secret key.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key.into()),
        }
    }

    /// The credentials in [`S3_ACCESS_KEY_VAR`] and [`S3_SECRET_KEY_VAR`], if either is
    /// set (the other then counts as empty, which the store refuses with a clear error).
    pub fn from_env() -> Option<Self> {
        #[allow(
            clippy::disallowed_methods,
            reason = "the one place that reads the store's environment"
        )]
        let read = |name: &str| std::env::var(name).ok();
        match (read(S3_ACCESS_KEY_VAR), read(S3_SECRET_KEY_VAR)) {
            (None, None) => None,
            (access, secret) => Some(Self::new(
                access.unwrap_or_default(),
                secret.unwrap_or_default(),
            )),
        }
    }
}

/// An opened database: its ports, and the handle that closes it.
#[derive(Clone)]
pub struct Database {
    ports: DatabasePorts,
    handle: DatabaseHandle,
}

#[derive(Clone)]
enum DatabaseHandle {
    Memory,
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

impl Database {
    fn of<D>(database: &D, handle: DatabaseHandle) -> Self
    where
        D: Clone
            + moclojer_ports::AccountRepository
            + moclojer_ports::MockRepository
            + moclojer_ports::PublicationRepository
            + moclojer_ports::Outbox
            + moclojer_ports::TokenStore
            + moclojer_ports::LeaseStore,
    {
        Self {
            ports: DatabasePorts::of(database),
            handle,
        }
    }

    /// Every port the database serves.
    pub fn ports(&self) -> &DatabasePorts {
        &self.ports
    }

    async fn close(&self) {
        match &self.handle {
            DatabaseHandle::Memory => {}
            DatabaseHandle::Sqlite(database) => database.close().await,
            DatabaseHandle::Postgres(database) => database.close().await,
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.handle {
            DatabaseHandle::Memory => "Database(memory)",
            DatabaseHandle::Sqlite(_) => "Database(sqlite)",
            DatabaseHandle::Postgres(_) => "Database(postgres)",
        })
    }
}

/// What the resolver opened, to share and to close.
#[derive(Default)]
struct Opened {
    databases: Vec<(DatabaseUrl, Database)>,
    stores: Vec<(StoreUrl, Arc<dyn ObjectStore>)>,
    queues: Vec<(QueueUrl, Arc<dyn EventQueue>)>,
    redis: Vec<RedisEventQueue>,
    journals: Vec<(JournalUrl, Arc<dyn RequestJournal>)>,
    redis_journals: Vec<RedisJournal>,
    states: Vec<(StateUrl, Arc<dyn MockState>)>,
    redis_states: Vec<RedisMockState>,
}

/// Turns URLs into opened adapters, once each per process (see the module docs).
pub struct Resolver {
    s3: Option<S3Credentials>,
    opened: Mutex<Opened>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("s3_credentials", &self.s3.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Resolver {
    /// A resolver without S3 credentials.
    fn default() -> Self {
        Self::new(None)
    }
}

impl Resolver {
    /// A resolver that opens S3 stores with `s3` credentials.
    pub fn new(s3: Option<S3Credentials>) -> Self {
        Self {
            s3,
            opened: Mutex::new(Opened::default()),
        }
    }

    /// A resolver with the S3 credentials of the environment ([`S3Credentials::from_env`]).
    pub fn from_env() -> Self {
        Self::new(S3Credentials::from_env())
    }

    /// The database `url` names, opened (and migrated) on first use; a SQLite file is made
    /// with its folder when missing.
    ///
    /// # Errors
    /// When it cannot be opened; the message names the database without a password.
    pub async fn database(&self, url: &DatabaseUrl) -> anyhow::Result<Database> {
        let mut opened = self.opened.lock().await;
        if let Some((_, database)) = opened.databases.iter().find(|(u, _)| u == url) {
            return Ok(database.clone());
        }
        let database = open_database(url)
            .await
            .with_context(|| format!("open the database ({url})"))?;
        opened.databases.push((url.clone(), database.clone()));
        tracing::debug!(database = %url, "database opened");
        Ok(database)
    }

    /// The object store `url` names, opened on first use (an S3 bucket is created first
    /// when its URL says `create_bucket=true`; no other request is sent: wrong credentials
    /// or a missing bucket show at the first read).
    ///
    /// # Errors
    /// When an S3 store has no credentials or a folder cannot be used; the message names
    /// the store without credentials.
    pub async fn store(&self, url: &StoreUrl) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let mut opened = self.opened.lock().await;
        if let Some((_, store)) = opened.stores.iter().find(|(u, _)| u == url) {
            return Ok(Arc::clone(store));
        }
        let store = self
            .open_store(url)
            .await
            .with_context(|| format!("open the object store ({url})"))?;
        opened.stores.push((url.clone(), Arc::clone(&store)));
        Ok(store)
    }

    /// The event queue `url` names, connected on first use (an unreachable Redis is not an
    /// error: the queue reconnects in the background).
    ///
    /// # Errors
    /// When the queue's settings are refused.
    pub async fn queue(&self, url: &QueueUrl) -> anyhow::Result<Arc<dyn EventQueue>> {
        let mut opened = self.opened.lock().await;
        if let Some((_, queue)) = opened.queues.iter().find(|(u, _)| u == url) {
            return Ok(Arc::clone(queue));
        }
        let queue: Arc<dyn EventQueue> = match url {
            QueueUrl::Memory => Arc::new(InMemoryEventQueue::default()),
            QueueUrl::Redis {
                url: server,
                stream,
            } => {
                let config = RedisConfig {
                    stream: stream
                        .clone()
                        .unwrap_or_else(|| moclojer_redis::DEFAULT_STREAM.to_owned()),
                    ..RedisConfig::new(server.clone())
                };
                let redis = RedisEventQueue::connect(&config)
                    .await
                    .with_context(|| format!("open the event queue ({url})"))?;
                opened.redis.push(redis.clone());
                Arc::new(redis)
            }
        };
        opened.queues.push((url.clone(), Arc::clone(&queue)));
        Ok(queue)
    }

    /// The request journal `url` names, opened on first use and shared after (a process's
    /// mock server and api see one journal), keeping what `retention` says (the first
    /// caller's retention holds for later ones). An unreachable Redis is not an error: the
    /// journal reconnects in the background.
    ///
    /// # Errors
    /// When the journal's settings are refused or a SQLite file cannot be opened.
    pub async fn journal(
        &self,
        url: &JournalUrl,
        retention: Retention,
    ) -> anyhow::Result<Arc<dyn RequestJournal>> {
        let mut opened = self.opened.lock().await;
        if let Some((_, journal)) = opened.journals.iter().find(|(u, _)| u == url) {
            return Ok(Arc::clone(journal));
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let journal: Arc<dyn RequestJournal> = match url {
            JournalUrl::Memory => Arc::new(InMemoryJournal::new(retention, clock)),
            JournalUrl::Redis {
                url: server,
                prefix,
            } => {
                let mut redis =
                    RedisJournal::connect(&RedisConfig::new(server.clone()), retention, clock)
                        .await
                        .with_context(|| format!("open the request journal ({url})"))?;
                if let Some(prefix) = prefix {
                    redis = redis.with_key_prefix(prefix.clone());
                }
                opened.redis_journals.push(redis.clone());
                Arc::new(redis)
            }
            JournalUrl::Sqlite(DatabaseUrl::SqliteFile(path)) => {
                make_parent(path)?;
                Arc::new(
                    SqliteJournal::open(path, retention, clock)
                        .await
                        .with_context(|| format!("open the request journal ({url})"))?,
                )
            }
            JournalUrl::Sqlite(database) => {
                let DatabaseUrl::SqliteUrl(raw) = database else {
                    bail!("the request journal is kept in SQLite, Redis or memory, not {database}");
                };
                Arc::new(
                    SqliteJournal::connect(&SqliteConfig::new(raw.clone()), retention, clock)
                        .await
                        .with_context(|| format!("open the request journal ({url})"))?,
                )
            }
        };
        tracing::debug!(journal = %url, "request journal opened");
        opened.journals.push((url.clone(), Arc::clone(&journal)));
        Ok(journal)
    }

    /// The state of stateful mocks `url` names, opened on first use and shared after (a
    /// process's mock server and api see one state), bounding each host by `limits` (the
    /// first caller's limits hold for later ones). An unreachable Redis is not an error:
    /// the state reconnects in the background.
    ///
    /// # Errors
    /// When the state's settings are refused (a key prefix holding `{`, from the
    /// `--redis-stream` name, would move the keys' hash tag).
    pub async fn state(
        &self,
        url: &StateUrl,
        limits: StateLimits,
    ) -> anyhow::Result<Arc<dyn MockState>> {
        let mut opened = self.opened.lock().await;
        if let Some((_, state)) = opened.states.iter().find(|(u, _)| u == url) {
            return Ok(Arc::clone(state));
        }
        let state: Arc<dyn MockState> = match url {
            StateUrl::Memory => Arc::new(InMemoryMockState::new(limits)),
            StateUrl::Redis {
                url: server,
                prefix,
            } => {
                if prefix.as_deref().is_some_and(|p| p.contains('{')) {
                    bail!(
                        "the state's keys start with the --redis-stream name, which must not hold {{"
                    );
                }
                let mut redis = RedisMockState::connect(&RedisConfig::new(server.clone()), limits)
                    .await
                    .with_context(|| format!("open the mock state ({url})"))?;
                if let Some(prefix) = prefix {
                    redis = redis.with_key_prefix(prefix.clone());
                }
                opened.redis_states.push(redis.clone());
                Arc::new(redis)
            }
        };
        tracing::debug!(state = %url, "mock state opened");
        opened.states.push((url.clone(), Arc::clone(&state)));
        Ok(state)
    }

    /// Closes every database and queue opened, waiting for calls under way.
    pub async fn close(&self) {
        let opened = std::mem::take(&mut *self.opened.lock().await);
        for state in &opened.redis_states {
            state.close().await;
        }
        for journal in &opened.redis_journals {
            journal.close().await;
        }
        for redis in &opened.redis {
            redis.close().await;
        }
        for (_, database) in &opened.databases {
            database.close().await;
        }
    }

    async fn open_store(&self, url: &StoreUrl) -> anyhow::Result<Arc<dyn ObjectStore>> {
        Ok(match url {
            StoreUrl::Memory => Arc::new(InMemoryObjectStore::default()),
            StoreUrl::Dir(path) => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || FsObjectStore::open(path))
                    .await
                    .context("open the folder")??;
                Arc::new(store)
            }
            StoreUrl::S3(config) => {
                let Some(credentials) = &self.s3 else {
                    bail!(
                        "an s3 store needs credentials: set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                    );
                };
                let mut config = config.clone();
                config.access_key.clone_from(&credentials.access_key);
                config.secret_key = credentials.secret_key.clone();
                Arc::new(S3ObjectStore::connect(&config).await?)
            }
        })
    }
}

/// Makes the folder `path` is in, when it has one.
fn make_parent(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    Ok(())
}

async fn open_database(url: &DatabaseUrl) -> anyhow::Result<Database> {
    Ok(match url {
        DatabaseUrl::Memory => Database::of(&InMemoryDatabase::default(), DatabaseHandle::Memory),
        DatabaseUrl::SqliteFile(path) => {
            make_parent(path)?;
            let database = SqliteDatabase::open(path).await?;
            Database::of(&database, DatabaseHandle::Sqlite(database.clone()))
        }
        DatabaseUrl::SqliteUrl(raw) => {
            let database = SqliteDatabase::connect(&SqliteConfig::new(raw.clone())).await?;
            Database::of(&database, DatabaseHandle::Sqlite(database.clone()))
        }
        DatabaseUrl::Postgres(raw) => {
            let database = PostgresDatabase::connect(&PostgresConfig::new(raw.clone())).await?;
            Database::of(&database, DatabaseHandle::Postgres(database.clone()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_url_is_opened_once_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::default();
        let url = DatabaseUrl::sqlite_file(dir.path().join("nested/db.sqlite"));
        let first = resolver.database(&url).await.unwrap();
        let second = resolver.database(&url).await.unwrap();
        assert!(Arc::ptr_eq(&first.ports().outbox, &second.ports().outbox));
        assert!(
            dir.path().join("nested/db.sqlite").is_file(),
            "made with its folder"
        );

        let memory = resolver.queue(&QueueUrl::Memory).await.unwrap();
        let again = resolver.queue(&QueueUrl::Memory).await.unwrap();
        assert!(Arc::ptr_eq(&memory, &again));

        let store_url = StoreUrl::Dir(dir.path().join("store"));
        let store = resolver.store(&store_url).await.unwrap();
        assert!(Arc::ptr_eq(
            &store,
            &resolver.store(&store_url).await.unwrap()
        ));
        assert!(store.list("").await.unwrap().is_empty());
        resolver.close().await;
    }

    #[tokio::test]
    async fn a_journal_is_opened_once_and_shared_by_the_apps_of_a_process() {
        use moclojer_domain::journal::RequestRecord;
        use moclojer_ports::JournalQuery;

        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::default();
        let record = RequestRecord {
            at: SystemClock.now(),
            host: "a-b.localhost".to_owned(),
            method: "GET".to_owned(),
            path: "/".to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: String::new(),
            body_truncated: false,
            status: 200,
            matched: None,
            near_misses: Vec::new(),
            duration_us: 10,
            client: None,
        };
        for url in [
            JournalUrl::Memory,
            JournalUrl::parse(&format!(
                "sqlite:{}",
                dir.path().join("j/db.sqlite").display()
            ))
            .unwrap(),
        ] {
            let writer = resolver.journal(&url, Retention::DEFAULT).await.unwrap();
            let reader = resolver.journal(&url, Retention::DEFAULT).await.unwrap();
            assert!(Arc::ptr_eq(&writer, &reader), "{url}");
            writer.append(vec![record.clone()]).await.unwrap();
            let page = reader
                .list("a-b.localhost", &JournalQuery::newest(10))
                .await
                .unwrap();
            assert_eq!(page.entries.len(), 1, "{url}");
        }
        assert!(
            dir.path().join("j/db.sqlite").is_file(),
            "made with its folder"
        );
        let refused = JournalUrl::parse("postgres://db/x").unwrap_err();
        assert!(
            refused.to_string().starts_with("--journal-url"),
            "{refused}"
        );
        assert!(!refused.to_string().contains("db/x"), "{refused}");
        resolver.close().await;
    }

    #[tokio::test]
    async fn a_state_is_opened_once_and_shared_by_the_apps_of_a_process() {
        use moclojer_ports::StateScope;

        let resolver = Resolver::default();
        let small = StateLimits {
            max_records: 3,
            max_bytes: 100,
        };
        let server = resolver.state(&StateUrl::Memory, small).await.unwrap();
        let api = resolver
            .state(&StateUrl::Memory, StateLimits::default())
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&server, &api), "one state for the process");
        let scope = StateScope {
            host: "a-b.localhost",
            revision: 2,
        };
        assert_eq!(server.next_position(scope, "GET /x").await.unwrap(), 0);
        assert_eq!(server.next_position(scope, "GET /x").await.unwrap(), 1);
        let seen = api.snapshot("a-b.localhost").await.unwrap();
        assert_eq!(seen.revision, Some(2));
        assert_eq!(seen.sequences.get("GET /x"), Some(&2));
        api.reset("a-b.localhost").await.unwrap();
        assert_eq!(server.next_position(scope, "GET /x").await.unwrap(), 0);

        let tagged = StateUrl::Redis {
            url: "redis://127.0.0.1:9".to_owned(),
            prefix: Some("a{b:".to_owned()),
        };
        let refused = format!(
            "{:#}",
            resolver
                .state(&tagged, StateLimits::default())
                .await
                .unwrap_err()
        );
        assert!(refused.contains("--redis-stream"), "{refused}");
        resolver.close().await;
    }

    #[tokio::test]
    async fn a_sqlite_url_is_taken_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::default();
        let absent = dir.path().join("absent.sqlite");
        let url = DatabaseUrl::parse(&format!("sqlite:{}?mode=rw", absent.display())).unwrap();
        let err = format!("{:#}", resolver.database(&url).await.unwrap_err());
        assert!(err.contains("open the database (sqlite"), "{err}");
        assert!(!absent.exists());
    }

    #[tokio::test]
    async fn an_s3_store_needs_credentials_which_never_show() {
        let url = StoreUrl::parse("s3://moclojer?endpoint=http://127.0.0.1:9").unwrap();
        let err = format!("{:#}", Resolver::default().store(&url).await.unwrap_err());
        assert!(
            err.contains("open the object store (s3 bucket moclojer"),
            "{err}"
        );
        assert!(
            err.contains(S3_ACCESS_KEY_VAR) && err.contains(S3_SECRET_KEY_VAR),
            "{err}"
        );

        let secret = "do-not-print-me";
        let resolver = Resolver::new(Some(S3Credentials::new("", secret)));
        let err = resolver.store(&url).await.unwrap_err();
        let shown = format!("{err:#} {err:?} {resolver:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
