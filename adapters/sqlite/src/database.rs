//! The SQLite backend: configuration, connection, migrations, and what the shared SQL core
//! asks of SQLite.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use moclojer_ports::{PortError, PortResult};
use moclojer_sql::{from_migrate, from_sqlx, migrator};
use serde::Deserialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long a statement waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a free connection in the pool before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The embedded schema, in order (see [`migrator`]).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "outbox claims",
        include_str!("../migrations/0002_outbox_claims.sql"),
    ),
    (3, "tokens", include_str!("../migrations/0003_tokens.sql")),
    (4, "leases", include_str!("../migrations/0004_leases.sql")),
    (
        5,
        "request journal",
        include_str!("../migrations/0005_request_journal.sql"),
    ),
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

/// What SQLite brings to `moclojer-sql`'s database: one connection pool on one file (or
/// on memory), the write lock taken at the start of every write (`BEGIN IMMEDIATE`) in
/// place of row locks, and this process's clock for outbox claims and leases.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pub(crate) pool: SqlitePool,
}

impl SqliteBackend {
    /// Opens the database at `target` (shown as `label`) and brings its schema up to date.
    pub(crate) async fn start(
        target: Target,
        max_connections: u32,
        label: &str,
    ) -> PortResult<Self> {
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
            .map_err(|err| from_sqlx::<Self>(&action, err))?;
        migrate(&pool, &action).await?;
        tracing::debug!(database = %label, "sqlite database ready");
        Ok(Self { pool })
    }
}

/// Where a [`SqliteConfig::url`] points.
pub(crate) struct Target {
    options: SqliteConnectOptions,
    in_memory: bool,
}

impl Target {
    /// The target of a URL or a plain path.
    pub(crate) fn parse(url: &str) -> PortResult<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(PortError::invalid("the sqlite url is empty"));
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(|err| {
                from_sqlx::<SqliteBackend>(&format!("read the sqlite url {url}"), err)
            })?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            return Ok(Self { options, in_memory });
        }
        if url == ":memory:" {
            return Self::parse("sqlite::memory:");
        }
        Ok(Self::file(Path::new(url)))
    }

    /// The file at `path`, created when missing.
    pub(crate) fn file(path: &Path) -> Self {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self {
            options,
            in_memory: false,
        }
    }
}

/// Brings the schema of the database behind `pool` up to date, doing `action`.
pub(crate) async fn migrate(pool: &SqlitePool, action: &str) -> PortResult<()> {
    migrator(MIGRATIONS)
        .run(pool)
        .await
        .map_err(|err| from_migrate::<SqliteBackend>(action, err))
}
