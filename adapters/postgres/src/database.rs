//! The database handle: configuration, connection, migrations and transactions.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::Event;
use moclojer_ports::{PortError, PortResult, Scope};
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, SqlSafeStr, Transaction};

use crate::error::{db, from_sqlx};

/// The embedded schema, in order. Applied migrations are tracked by sqlx in
/// `_sqlx_migrations`, with a checksum, so an edited migration is refused instead of being
/// silently skipped: add a new file instead.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "tokens", include_str!("../migrations/0002_tokens.sql")),
    (3, "leases", include_str!("../migrations/0003_leases.sql")),
];

/// The `application_name` the server shows for our sessions, unless the URL names one.
const APPLICATION_NAME: &str = "moclojer";

/// Where the database is, how many connections it may use, and how long calls may wait.
///
/// The URL may carry a password: the `Debug` form shows only the user, host, port and
/// database, and no error or log line of this crate contains the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A PostgreSQL URL: `postgres://user:password@host:5432/database?sslmode=require`.
    /// TLS uses rustls with the webpki roots; `sslmode` is read as libpq reads it.
    pub url: String,
    /// The most connections open at once; at least 1.
    pub max_connections: u32,
    /// Whether [`PostgresDatabase::connect`] brings the schema up to date. Turn it off
    /// where a separate step migrates ([`PostgresDatabase::migrate`]) and the service's
    /// role may not change the schema.
    pub migrate: bool,
    /// How long a call waits for a connection, including opening one, before it fails
    /// with `Unavailable`. [`PostgresDatabase::connect`] waits at most this long for an
    /// unreachable server.
    pub acquire_timeout: Duration,
    /// The server-side `statement_timeout` of every session: a statement (waiting for
    /// locks included) that runs longer is cancelled and the call fails with `Timeout`.
    /// `None` keeps the server's setting.
    pub statement_timeout: Option<Duration>,
}

impl PostgresConfig {
    /// The number of connections used when the configuration does not say.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

    /// The acquire timeout used when the configuration does not say.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

    /// The statement timeout used when the configuration does not say.
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A configuration for `url` with the defaults: [`Self::DEFAULT_MAX_CONNECTIONS`],
    /// migrations on, [`Self::DEFAULT_ACQUIRE_TIMEOUT`] and
    /// [`Self::DEFAULT_STATEMENT_TIMEOUT`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            migrate: true,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            statement_timeout: Some(Self::DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .field("migrate", &self.migrate)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// moclojer cloud's data in one PostgreSQL database: accounts, mocks with their history,
/// publications, the outbox, the service's own tokens and named leases. Cloning is cheap
/// and shares the connection pool.
#[derive(Debug, Clone)]
pub struct PostgresDatabase {
    pool: PgPool,
    /// `user@host:port/database`, for messages: never the password.
    target: Arc<str>,
}

impl PostgresDatabase {
    /// Connects to the database `config` names and, unless `config.migrate` is off, brings
    /// its schema up to date. Several processes may do this at once: migrations take a
    /// PostgreSQL advisory lock.
    ///
    /// # Errors
    /// `Invalid` when the URL is malformed, the server refuses the credentials or the
    /// database does not exist; `Unavailable` when the server cannot be reached within
    /// `config.acquire_timeout` (refused, unreachable, starting up, shutting down);
    /// `Internal` when the schema was migrated by a newer version of this crate, or the
    /// migration fails for another reason.
    pub async fn connect(config: &PostgresConfig) -> PortResult<Self> {
        let url = config.url.trim();
        if url.is_empty() {
            return Err(PortError::invalid("the postgres url is empty"));
        }
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|err| from_sqlx("read the postgres url", err))?;
        let target: Arc<str> = describe(&options).into();
        if options.get_application_name().is_none() {
            options = options.application_name(APPLICATION_NAME);
        }
        if let Some(timeout) = config.statement_timeout {
            // At least 1 ms: 0 would mean "no timeout" to the server.
            let millis = timeout.as_millis().max(1);
            options = options.options([("statement_timeout", format!("{millis}ms"))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|err| from_sqlx(&format!("connect to the database at {target}"), err))?;
        let database = Self { pool, target };
        if config.migrate {
            database.migrate().await?;
        }
        tracing::debug!(database = %database.target, "postgres database ready");
        Ok(database)
    }

    /// Brings the schema up to date with the migrations embedded in this crate; already
    /// applied ones are skipped, so running it again is harmless.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached; `Internal` when the schema was
    /// migrated by a newer version of this crate (a migration unknown here), an applied
    /// migration was edited, or a statement fails.
    pub async fn migrate(&self) -> PortResult<()> {
        let action = format!("migrate the database at {}", self.target);
        migrator().run(&self.pool).await.map_err(|err| match err {
            MigrateError::Execute(inner) => from_sqlx(&action, inner),
            MigrateError::VersionMissing(version) => PortError::internal(format!(
                "{action}: it was migrated by a newer version \
                     (migration {version} is unknown here)"
            ))
            .with_source(err),
            other => PortError::internal(format!("{action}: {other}")).with_source(other),
        })
    }

    /// Closes every connection, waiting for calls under way to finish. Calls made after
    /// this fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A read-write transaction at READ COMMITTED, whatever the server's default is.
    /// What a write reads and then relies on is guarded by row locks (`FOR UPDATE`),
    /// unique indexes or a condition in the `UPDATE` itself.
    pub(crate) async fn write(&self) -> PortResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(db("begin a write"))
    }

    /// A read-only transaction on one snapshot, for several reads that must agree with
    /// each other.
    pub(crate) async fn read(&self) -> PortResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db("begin a read"))
    }

    /// The pool, for single statements.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Commits `tx`.
pub(crate) async fn commit(tx: Transaction<'static, Postgres>) -> PortResult<()> {
    tx.commit().await.map_err(db("commit"))
}

/// Appends `events` to the outbox on `conn`, normally inside the transaction of the change
/// that caused them. One statement per event, in order, so positions follow the order of
/// `events`.
pub(crate) async fn record(conn: &mut PgConnection, events: &[Event]) -> PortResult<()> {
    for event in events {
        sqlx::query("INSERT INTO outbox (payload) VALUES ($1::jsonb)")
            .bind(event.to_json())
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

/// Whether a read inside a write transaction locks the row it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// A plain read.
    None,
    /// `FOR UPDATE`: concurrent writers of the row wait until this transaction ends.
    ForUpdate,
}

/// `user@host:port/database` of `options`, without the password.
fn describe(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    format!(
        "{}@{place}/{}",
        options.get_username(),
        options.get_database().unwrap_or("")
    )
}

/// A URL as it may be shown: scheme, user, host, port and path; never the password or
/// the query (which may carry one too).
fn redacted(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return "(not a valid url)".to_owned();
    };
    let user = match parsed.username() {
        "" => String::new(),
        user => format!("{user}@"),
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{user}{}{port}{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or(""),
        parsed.path()
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_hides_the_password() {
        for url in [
            "postgres://moclojer:s3cr3t-pw@db.example.com:6543/cloud?sslmode=require",
            "postgres://db.example.com/cloud?user=moclojer&password=s3cr3t-pw",
        ] {
            let shown = format!("{:?}", PostgresConfig::new(url));
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
            assert!(shown.contains("db.example.com"), "{shown}");
            assert!(shown.contains("/cloud"), "{shown}");
        }
        let shown = format!("{:?}", PostgresConfig::new("not a url s3cr3t-pw"));
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    }

    #[test]
    fn the_schema_is_embedded_in_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        let initial = MIGRATIONS[0].2;
        for needle in [
            "CREATE TABLE outbox",
            "claimed_by",
            "claimed_until",
            "host         TEXT COLLATE \"C\" NOT NULL UNIQUE",
        ] {
            assert!(initial.contains(needle), "{needle}");
        }
        let tokens = MIGRATIONS[1].2;
        for needle in [
            "CREATE TABLE tokens",
            "REFERENCES users (id) ON DELETE CASCADE",
            "digest     BYTEA NOT NULL UNIQUE",
        ] {
            assert!(tokens.contains(needle), "{needle}");
        }
        let leases = MIGRATIONS[2].2;
        for needle in [
            "CREATE TABLE leases",
            "name       TEXT COLLATE \"C\" NOT NULL PRIMARY KEY",
            "expires_at TIMESTAMPTZ NOT NULL",
        ] {
            assert!(leases.contains(needle), "{needle}");
        }
    }
}
