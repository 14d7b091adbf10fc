//! The one place that picks adapters, each chosen by the scheme of its URL and held as an
//! `Arc<dyn Port>`, so one code path serves every combination:
//!
//! - the database: `sqlite:PATH` ([`SqliteDatabase`]) or `postgres://...`
//!   ([`PostgresDatabase`]);
//! - the object store: `file:///dir` or a plain path ([`FsObjectStore`]), or
//!   `s3://bucket[/prefix]?endpoint=...&region=...` ([`S3ObjectStore`], with credentials
//!   given apart);
//! - the event queue: `redis://...` ([`RedisEventQueue`]; the generator reads it as the
//!   [`GROUP`](crate::GROUP) consumer group and relays the database's outbox to it), or,
//!   without one, an in-process queue that hears nobody, so only the interval rebuilds.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use moclojer_domain::spec::Limits;
use moclojer_fs::FsObjectStore;
use moclojer_memory::InMemoryEventQueue;
use moclojer_ports::{
    EventQueue, IdGenerator, MockRepository, ObjectStore, Outbox, PublicationRepository, RandomIds,
    Relay, RelaySettings, SystemClock,
};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_s3::{S3Config, S3ObjectStore, Secret};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};

use crate::{Deps, Outcome, rebuild, run};

/// The environment variable the binary reads the S3 access key id from.
pub const S3_ACCESS_KEY_VAR: &str = "MOCLOJER_S3_ACCESS_KEY";
/// The environment variable the binary reads the S3 secret key from.
pub const S3_SECRET_KEY_VAR: &str = "MOCLOJER_S3_SECRET_KEY";

/// The most relay steps `--once` takes to empty the outbox (a step moves up to a batch).
const ONCE_MAX_RELAY_STEPS: usize = 1_000;

/// How the generator process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The database, read by [`DatabaseLocation::parse`]: `sqlite:PATH` (an existing file;
    /// any URL `moclojer-sqlite` takes) or `postgres://user@host:5432/db`.
    pub database_url: String,
    /// The object store, read by [`StoreLocation::parse`]: `file:///dir`, a plain path, or
    /// `s3://bucket[/prefix]?endpoint=...&region=...`.
    pub store: String,
    /// The credentials of an S3 store (never part of its URL).
    pub s3_credentials: Option<S3Credentials>,
    /// The Redis server the events come from and the outbox goes to,
    /// `redis://[user:password@]host[:port][/db]`; `None` for an in-process queue that
    /// hears nobody (the interval alone then rebuilds).
    pub redis_url: Option<String>,
    /// The Redis stream of the events (the api's, ops' and the generator's one stream).
    pub redis_stream: String,
    /// How often to rebuild without being told to.
    pub interval: Duration,
}

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
}

/// The database a `--database-url` names.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite database, by a URL `moclojer-sqlite` takes (`sqlite:PATH`).
    Sqlite(String),
    /// A PostgreSQL database, by its URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseLocation {
    /// Picks the adapter by the URL's scheme: `sqlite:` or `postgres://`
    /// (`postgresql://`).
    ///
    /// # Errors
    /// When the URL is empty or has another scheme; the message names the scheme, never the
    /// URL (it may hold a password).
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            bail!("--database-url is empty; use sqlite:PATH or postgres://user@host:5432/db");
        }
        match scheme(raw).as_deref() {
            Some("sqlite") => Ok(Self::Sqlite(raw.to_owned())),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(raw.to_owned())),
            Some(other) => bail!(
                "--database-url: the scheme {other:?} is not a database this generator knows; \
                 use sqlite:PATH or postgres://user@host:5432/db"
            ),
            None => bail!(
                "--database-url is not a URL; use sqlite:PATH or postgres://user@host:5432/db"
            ),
        }
    }
}

impl fmt::Display for DatabaseLocation {
    /// A form safe to log: the adapter and the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(url) => write!(f, "sqlite {}", without_password(url)),
            Self::Postgres(url) => write!(f, "postgres {}", without_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseLocation({self})")
    }
}

/// The object store a `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on this machine (created when missing).
    Dir(PathBuf),
    /// An S3 bucket; the credentials are empty until [`App::build`] adds them.
    S3(S3Config),
}

impl StoreLocation {
    /// Picks the adapter by the scheme: `file:///dir` or a plain path (anything that is not
    /// a URL, such as `/srv/store` or `./store`) for a folder; `s3://bucket[/prefix]?...`
    /// for a bucket (the options of [`S3Config::from_url`]).
    ///
    /// # Errors
    /// When the scheme is another one, a file URL names a host or no absolute path, or the
    /// S3 URL is refused (credentials in it included).
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            bail!("--store is empty; use file:///path/to/dir, a path, or s3://bucket?endpoint=...");
        }
        let Ok(url) = url::Url::parse(raw) else {
            return Ok(Self::Dir(PathBuf::from(raw)));
        };
        match url.scheme() {
            "file" => {
                if !matches!(url.host_str(), None | Some("" | "localhost")) {
                    bail!(
                        "--store: a file URL names a folder on this machine; use three slashes: \
                         file:///path/to/dir"
                    );
                }
                if url.query().is_some() || url.fragment().is_some() {
                    bail!("--store: a file URL takes no query or fragment");
                }
                let path = url.to_file_path().map_err(|()| {
                    anyhow::anyhow!("--store: the file URL names no absolute path")
                })?;
                if url.path() == "/" {
                    bail!("--store: the root folder is not an object store; name a folder");
                }
                Ok(Self::Dir(path))
            }
            "s3" => {
                if !url.username().is_empty() || url.password().is_some() {
                    bail!(
                        "--store: credentials do not belong in the URL (it ends up in logs); \
                         set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                    );
                }
                let config = S3Config::from_url(raw, "", "")
                    .map_err(|e| anyhow::anyhow!("--store: {}", e.message()))?;
                Ok(Self::S3(config))
            }
            other => bail!(
                "--store: the scheme {other:?} is not an object store this generator knows; \
                 use file:///path/to/dir, a path, or s3://bucket?endpoint=..."
            ),
        }
    }
}

impl fmt::Display for StoreLocation {
    /// A form safe to log: the folder, or the bucket, prefix and endpoint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "folder {}", path.display()),
            Self::S3(config) => {
                write!(f, "s3 bucket {}", config.bucket)?;
                if let Some(prefix) = &config.prefix {
                    write!(f, " under {prefix}")?;
                }
                write!(f, " at {} ({})", config.endpoint, config.region)
            }
        }
    }
}

/// Checks that `raw` is a Redis URL this generator can use (`redis://`).
///
/// # Errors
/// When it has another scheme or is not a URL; the message never holds the URL.
pub fn check_redis_url(raw: &str) -> anyhow::Result<()> {
    match scheme(raw.trim()).as_deref() {
        Some("redis") => Ok(()),
        Some(other) => bail!(
            "--redis-url: the scheme {other:?} is not a queue this generator knows; \
             use redis://host:6379"
        ),
        None => bail!("--redis-url is not a URL; use redis://host:6379"),
    }
}

/// The scheme of `raw`, lower case, when it is a URL.
fn scheme(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .map(|url| url.scheme().to_ascii_lowercase())
}

/// `raw` without its password, for logs and errors.
fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            if url.set_password(None).is_err() {
                return "<a url with a password>".to_owned();
            }
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) if raw.contains('@') => "<not a url>".to_owned(),
        Err(_) => raw.to_owned(),
    }
}

/// The opened database, kept to close it.
#[derive(Debug)]
enum Database {
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

/// The repositories and the outbox of one database, as the generator holds them.
type Storage = (
    Arc<dyn MockRepository>,
    Arc<dyn PublicationRepository>,
    Arc<dyn Outbox>,
);

fn storage<D>(database: &D) -> Storage
where
    D: MockRepository + PublicationRepository + Outbox + Clone + 'static,
{
    (
        Arc::new(database.clone()),
        Arc::new(database.clone()),
        Arc::new(database.clone()),
    )
}

impl Database {
    async fn open(location: &DatabaseLocation) -> anyhow::Result<Self> {
        let opened = match location {
            DatabaseLocation::Sqlite(url) => SqliteDatabase::connect(&SqliteConfig::new(url))
                .await
                .map(Self::Sqlite),
            DatabaseLocation::Postgres(url) => PostgresDatabase::connect(&PostgresConfig::new(url))
                .await
                .map(Self::Postgres),
        };
        opened.with_context(|| format!("open the database ({location})"))
    }

    fn storage(&self) -> Storage {
        match self {
            Self::Sqlite(database) => storage(database),
            Self::Postgres(database) => storage(database),
        }
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(database) => database.close().await,
            Self::Postgres(database) => database.close().await,
        }
    }
}

async fn open_store(
    location: &StoreLocation,
    credentials: Option<S3Credentials>,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let store: Arc<dyn ObjectStore> = match location {
        StoreLocation::Dir(path) => Arc::new(FsObjectStore::open(path)?),
        StoreLocation::S3(config) => {
            let Some(credentials) = credentials else {
                bail!(
                    "an s3 store needs credentials: set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                );
            };
            let mut config = config.clone();
            config.access_key = credentials.access_key;
            config.secret_key = credentials.secret_key;
            Arc::new(S3ObjectStore::connect(&config).await?)
        }
    };
    Ok(store)
}

/// The wired generator.
#[derive(Debug)]
pub struct App {
    deps: Deps,
    database: Database,
    queue: Arc<dyn EventQueue>,
    /// The Redis queue, kept to close it; `None` with the in-process queue.
    redis: Option<RedisEventQueue>,
    /// The outbox relay to Redis; `None` with the in-process queue.
    relay: Option<Relay>,
    interval: Duration,
}

impl App {
    /// Picks the adapters the URLs name and opens them: the database (migrated), the
    /// object store (an S3 bucket is created first when its URL says `create_bucket=true`)
    /// and, with a Redis URL, the queue and the outbox relay to it.
    ///
    /// # Errors
    /// When a URL names an unknown scheme or is malformed, an S3 store has no credentials,
    /// or the database, the store or Redis cannot be opened (an unreachable Redis is not an
    /// error: the queue reconnects in the background).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = DatabaseLocation::parse(&config.database_url)?;
        let store = StoreLocation::parse(&config.store)?;
        let redis_url = config
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        if let Some(url) = redis_url {
            check_redis_url(url)?;
        }

        let opened = Database::open(&database).await?;
        let (mocks, publications, outbox) = opened.storage();
        let object_store = match open_store(&store, config.s3_credentials).await {
            Ok(object_store) => object_store,
            Err(e) => {
                opened.close().await;
                return Err(e.context(format!("open the object store ({store})")));
            }
        };
        let ids = Arc::new(RandomIds);
        let (queue, redis, relay): (Arc<dyn EventQueue>, _, _) = match redis_url {
            Some(url) => {
                let redis_config = RedisConfig {
                    stream: config.redis_stream.clone(),
                    ..RedisConfig::new(url)
                };
                let redis = match RedisEventQueue::connect(&redis_config).await {
                    Ok(redis) => redis,
                    Err(e) => {
                        opened.close().await;
                        return Err(anyhow::Error::new(e).context(format!(
                            "open the event queue (redis {})",
                            without_password(url)
                        )));
                    }
                };
                let queue: Arc<dyn EventQueue> = Arc::new(redis.clone());
                let name = format!("generator-{}-{}", std::process::id(), ids.event_id());
                let relay = Relay::new(
                    Arc::clone(&outbox),
                    Arc::clone(&queue),
                    RelaySettings::named(name),
                );
                (queue, Some(redis), Some(relay))
            }
            None => (Arc::new(InMemoryEventQueue::default()), None, None),
        };
        tracing::info!(
            database = %database,
            store = %store,
            queue = match redis_url {
                Some(url) => format!("redis {} ({})", without_password(url), config.redis_stream),
                None => "in-process (interval only)".to_owned(),
            },
            "generator wired"
        );
        let deps = Deps {
            mocks,
            publications,
            outbox,
            store: object_store,
            clock: Arc::new(SystemClock),
            ids,
            limits: Limits::default(),
        };
        Ok(Self {
            deps,
            database: opened,
            queue,
            redis,
            relay,
            interval: config.interval,
        })
    }

    /// The dependencies, as wired.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Whether events come from Redis (and the outbox is relayed there).
    pub fn hears_events(&self) -> bool {
        self.redis.is_some()
    }

    /// One rebuild; with Redis, the outbox is then relayed until it is empty, so the
    /// `config.published` it recorded reaches the queue. Then everything is closed.
    ///
    /// # Errors
    /// As [`rebuild`], or when the relay fails.
    pub async fn run_once(self) -> anyhow::Result<Outcome> {
        let outcome = rebuild(&self.deps).await;
        let relayed = match (&outcome, &self.relay) {
            (Ok(_), Some(relay)) => drain(relay).await,
            _ => Ok(0),
        };
        self.close().await;
        let outcome = outcome?;
        let relayed = relayed.context("relay the outbox to redis")?;
        tracing::debug!(relayed, "outbox relayed");
        Ok(outcome)
    }

    /// Runs until `stop` completes: the worker ([`run`]: a rebuild at start, on every batch
    /// of events, and every interval) and, with Redis, the outbox relay next to it. Then
    /// everything is closed.
    ///
    /// # Errors
    /// As [`run`].
    pub async fn run(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relaying = self.relay.clone().map(|relay| {
            tokio::spawn(relay.run(async move {
                relay_stopped.await.ok();
            }))
        });
        tracing::info!(
            interval = ?self.interval,
            events = if self.hears_events() { "redis" } else { "none" },
            "generator running"
        );
        let result = run(&self.deps, self.queue.as_ref(), self.interval, stop).await;
        tracing::info!("stopping");
        drop(stop_relay);
        if let Some(relaying) = relaying
            && let Err(e) = relaying.await
        {
            tracing::warn!(error = %e, "the relay task ended abnormally");
        }
        self.close().await;
        result
    }

    /// [`Self::run`] until Ctrl-C or SIGTERM.
    ///
    /// # Errors
    /// When the shutdown signals cannot be installed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install the SIGTERM handler")?;
        self.run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await
    }

    async fn close(&self) {
        if let Some(redis) = &self.redis {
            redis.close().await;
        }
        self.database.close().await;
    }
}

/// Relays until a step finds nothing (or after [`ONCE_MAX_RELAY_STEPS`]); returns how many
/// events went to the queue.
async fn drain(relay: &Relay) -> anyhow::Result<usize> {
    let mut relayed = 0;
    for _ in 0..ONCE_MAX_RELAY_STEPS {
        match relay.step().await? {
            0 => break,
            n => relayed += n,
        }
    }
    Ok(relayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_picked_by_scheme() {
        assert_eq!(
            DatabaseLocation::parse("sqlite:/var/lib/moclojer/db.sqlite").unwrap(),
            DatabaseLocation::Sqlite("sqlite:/var/lib/moclojer/db.sqlite".to_owned())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite://db.sqlite?mode=rwc").unwrap(),
            DatabaseLocation::Sqlite("sqlite://db.sqlite?mode=rwc".to_owned())
        );
        for url in [
            "postgres://moclojer:pw@db.internal:5432/moclojer",
            "postgresql://db.internal/moclojer?sslmode=require",
            " POSTGRES://db/moclojer ",
        ] {
            assert_eq!(
                DatabaseLocation::parse(url).unwrap(),
                DatabaseLocation::Postgres(url.trim().to_owned()),
                "{url}"
            );
        }
    }

    #[test]
    fn unknown_database_schemes_are_refused_without_echoing_the_url() {
        for (url, named) in [
            ("mysql://root:hunter2@db/moclojer", "\"mysql\""),
            ("redis://127.0.0.1:6379", "\"redis\""),
            ("s3://bucket", "\"s3\""),
        ] {
            let err = DatabaseLocation::parse(url).unwrap_err().to_string();
            assert!(err.starts_with("--database-url"), "{err}");
            assert!(err.contains(named), "{err}");
            assert!(err.contains("sqlite:PATH or postgres://"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        for url in ["", "   ", "db.sqlite", "/var/lib/db.sqlite"] {
            let err = DatabaseLocation::parse(url).unwrap_err().to_string();
            assert!(err.contains("sqlite:PATH or postgres://"), "{url:?}: {err}");
        }
    }

    #[test]
    fn stores_are_picked_by_scheme() {
        assert_eq!(
            StoreLocation::parse("file:///srv/moclojer/store").unwrap(),
            StoreLocation::Dir(PathBuf::from("/srv/moclojer/store"))
        );
        assert_eq!(
            StoreLocation::parse("file://localhost/srv/store").unwrap(),
            StoreLocation::Dir(PathBuf::from("/srv/store"))
        );
        assert_eq!(
            StoreLocation::parse("/srv/store").unwrap(),
            StoreLocation::Dir(PathBuf::from("/srv/store"))
        );
        assert_eq!(
            StoreLocation::parse("./.moclojer/store").unwrap(),
            StoreLocation::Dir(PathBuf::from("./.moclojer/store"))
        );
        let StoreLocation::S3(config) = StoreLocation::parse(
            "s3://moclojer/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1",
        )
        .unwrap() else {
            panic!("an s3 store")
        };
        assert_eq!(config.bucket, "moclojer");
        assert_eq!(config.prefix.as_deref(), Some("prod"));
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(config.region, "eu-west-1");
        assert!(config.access_key.is_empty());
    }

    #[test]
    fn unknown_store_schemes_are_refused() {
        for (url, named) in [
            ("ftp://files.example.com/store", "\"ftp\""),
            ("gs://bucket", "\"gs\""),
            ("sqlite:store.db", "\"sqlite\""),
        ] {
            let err = StoreLocation::parse(url).unwrap_err().to_string();
            assert!(err.starts_with("--store"), "{err}");
            assert!(err.contains(named), "{err}");
            assert!(err.contains("file:///path/to/dir"), "{err}");
            assert!(err.contains("s3://bucket"), "{err}");
        }
        let err = StoreLocation::parse("s3://key:secret@bucket")
            .unwrap_err()
            .to_string();
        assert!(err.contains(S3_ACCESS_KEY_VAR), "{err}");
        assert!(!err.contains("secret@"), "{err}");
        let err = StoreLocation::parse("s3://bucket?colour=blue")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option"), "{err}");
        let err = StoreLocation::parse("file://elsewhere/store")
            .unwrap_err()
            .to_string();
        assert!(err.contains("three slashes"), "{err}");
        assert!(StoreLocation::parse("").is_err());
    }

    #[test]
    fn unknown_queue_schemes_are_refused() {
        check_redis_url("redis://127.0.0.1:6379").unwrap();
        check_redis_url("redis://user:pw@redis.internal:6379/2").unwrap();
        for url in [
            "amqp://user:hunter2@rabbit/",
            "rediss://redis.internal:6380",
            "127.0.0.1:6379",
        ] {
            let err = check_redis_url(url).unwrap_err().to_string();
            assert!(err.starts_with("--redis-url"), "{err}");
            assert!(err.contains("redis://host:6379"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn logged_locations_hide_passwords() {
        let location = DatabaseLocation::parse("postgres://moclojer:hunter2@db:5432/m").unwrap();
        let shown = format!("{location} {location:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db:5432/m"), "{shown}");
        assert_eq!(
            without_password("redis://:hunter2@redis:6379"),
            "redis://redis:6379"
        );
    }

    #[tokio::test]
    async fn an_s3_store_needs_credentials() {
        let location = StoreLocation::parse("s3://moclojer?endpoint=http://127.0.0.1:9").unwrap();
        let err = open_store(&location, None).await.unwrap_err().to_string();
        assert!(err.contains(S3_ACCESS_KEY_VAR), "{err}");
        assert!(err.contains(S3_SECRET_KEY_VAR), "{err}");
    }
}
