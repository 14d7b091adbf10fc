//! The database handle: configuration, connection, migrations and transactions.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use moclojer_domain::Event;
use moclojer_ports::{PortError, PortResult, Scope};
use serde::Deserialize;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{SqlSafeStr, SqliteConnection, Transaction};

use crate::error::{db, from_sqlx};
use crate::model;

/// How long a statement waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a free connection in the pool before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The embedded schema, in order. Applied migrations are tracked by sqlx in
/// `_sqlx_migrations`, with a checksum, so an edited migration is refused instead of being
/// silently skipped: add a new file instead.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "outbox claims",
        include_str!("../migrations/0002_outbox_claims.sql"),
    ),
    (3, "tokens", include_str!("../migrations/0003_tokens.sql")),
    (4, "leases", include_str!("../migrations/0004_leases.sql")),
];

/// Where the database is and how many connections it may use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SqliteConfig {
    /// A sqlx SQLite URL (`sqlite:///var/lib/moclojer/db.sqlite?mode=rwc`,
    /// `sqlite::memory:`) or a plain file path, which is created when missing.
    /// A URL is taken as written: without `mode=rwc` a missing file is an error.
    pub url: String,
    /// The most connections open at once; at least 1. An in-memory database always uses
    /// exactly one, because each connection would otherwise see its own empty database.
    #[serde(default = "SqliteConfig::default_max_connections")]
    pub max_connections: u32,
}

impl SqliteConfig {
    /// The number of connections used when the configuration does not say.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

    /// A configuration for `url` with [`Self::DEFAULT_MAX_CONNECTIONS`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }

    fn default_max_connections() -> u32 {
        Self::DEFAULT_MAX_CONNECTIONS
    }
}

/// moclojer cloud's data in one SQLite database: accounts, mocks with their history,
/// publications, the outbox, the service's own tokens and named leases. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    pool: SqlitePool,
}

impl SqliteDatabase {
    /// Opens the database `config` names, creating the file when the URL allows it, and
    /// brings its schema up to date.
    ///
    /// # Errors
    /// `Invalid` when the URL is malformed; `Unavailable` when the file cannot be opened
    /// or created; `Internal` when the file is not a SQLite database, is corrupt, or was
    /// migrated by a newer version of this crate.
    pub async fn connect(config: &SqliteConfig) -> PortResult<Self> {
        let target = Target::parse(&config.url)?;
        Self::start(target, config.max_connections, config.url.trim()).await
    }

    /// Opens (creating when missing) the database file at `path`, with
    /// [`SqliteConfig::DEFAULT_MAX_CONNECTIONS`].
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn open(path: &Path) -> PortResult<Self> {
        let target = Target::file(path);
        let label = path.display().to_string();
        Self::start(target, SqliteConfig::DEFAULT_MAX_CONNECTIONS, &label).await
    }

    /// A new, empty database that lives in memory until the last clone is dropped or
    /// [`Self::close`]d. Each call makes a separate database.
    ///
    /// # Errors
    /// As [`Self::connect`]; in practice only when memory runs out.
    pub async fn in_memory() -> PortResult<Self> {
        let target = Target::parse("sqlite::memory:")?;
        Self::start(target, 1, "memory").await
    }

    /// Closes every connection, waiting for calls under way to finish. Calls made after
    /// this fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn start(target: Target, max_connections: u32, label: &str) -> PortResult<Self> {
        let action = format!("open the database at {label}");
        let options = target.options.foreign_keys(true).busy_timeout(BUSY_TIMEOUT);
        let pool_options = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let (options, pool_options) = if target.in_memory {
            // The one connection must never close: the database goes with it.
            let pool_options = pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            (options, pool_options)
        } else {
            let options = options.journal_mode(SqliteJournalMode::Wal);
            (
                options,
                pool_options.max_connections(max_connections.max(1)),
            )
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|err| from_sqlx(&action, err))?;
        migrate(&pool, &action).await?;
        tracing::debug!(database = %label, "sqlite database ready");
        Ok(Self { pool })
    }

    /// A transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so that what it
    /// reads cannot change before it writes, and two writers queue instead of deadlocking.
    pub(crate) async fn write(&self) -> PortResult<Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("begin a write"))
    }

    /// A transaction for several reads that must agree with each other.
    pub(crate) async fn read(&self) -> PortResult<Transaction<'static, sqlx::Sqlite>> {
        self.pool.begin().await.map_err(db("begin a read"))
    }

    /// The pool, for single statements.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Commits `tx`.
pub(crate) async fn commit(tx: Transaction<'static, sqlx::Sqlite>) -> PortResult<()> {
    tx.commit().await.map_err(db("commit"))
}

/// Appends `events` to the outbox on `conn`, normally inside the transaction of the change
/// that caused them.
pub(crate) async fn record(conn: &mut SqliteConnection, events: &[Event]) -> PortResult<()> {
    let now = model::now_millis();
    for event in events {
        sqlx::query("INSERT INTO outbox (payload, created_at) VALUES (?1, ?2)")
            .bind(event.to_json())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db("record an event"))?;
    }
    Ok(())
}

/// The scope as a query parameter: the user's id, or NULL for the system, which sees all.
pub(crate) fn scope_param(scope: &Scope) -> Option<String> {
    scope.user().map(|user| user.to_string())
}

/// Where a [`SqliteConfig::url`] points.
struct Target {
    options: SqliteConnectOptions,
    in_memory: bool,
}

impl Target {
    fn parse(url: &str) -> PortResult<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(PortError::invalid("the sqlite url is empty"));
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|err| from_sqlx(&format!("read the sqlite url {url}"), err))?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            return Ok(Self { options, in_memory });
        }
        if url == ":memory:" {
            return Self::parse("sqlite::memory:");
        }
        Ok(Self::file(Path::new(url)))
    }

    fn file(path: &Path) -> Self {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self {
            options,
            in_memory: false,
        }
    }
}

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                (*description).into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

async fn migrate(pool: &SqlitePool, action: &str) -> PortResult<()> {
    migrator().run(pool).await.map_err(|err| match err {
        MigrateError::Execute(inner) => from_sqlx(action, inner),
        MigrateError::VersionMissing(version) => PortError::internal(format!(
            "{action}: it was migrated by a newer version (migration {version} is unknown here)"
        ))
        .with_source(err),
        other => PortError::internal(format!("{action}: migrate the schema")).with_source(other),
    })
}
