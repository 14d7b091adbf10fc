//! The PostgreSQL database: configuration, connection and migrations.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use moclojer_ports::{PortError, PortResult};
use moclojer_sql::{from_migrate, from_sqlx, migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The embedded schema, in order (see [`migrator`]).
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
    ///
    /// [`PostgresDatabase::connect`]: crate::PostgresDatabase::connect
    /// [`PostgresDatabase::migrate`]: crate::PostgresDatabase::migrate
    pub migrate: bool,
    /// How long a call waits for a connection, including opening one, before it fails
    /// with `Unavailable`. [`PostgresDatabase::connect`] waits at most this long for an
    /// unreachable server.
    ///
    /// [`PostgresDatabase::connect`]: crate::PostgresDatabase::connect
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

/// What PostgreSQL brings to `moclojer-sql`'s database: a connection pool on a server
/// many processes share, row locks (`FOR UPDATE`) and READ COMMITTED writes, and the
/// server's clock for outbox claims and leases.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pub(crate) pool: PgPool,
    /// `user@host:port/database`, for messages: never the password.
    target: Arc<str>,
}

impl PostgresBackend {
    /// Connects to the database `config` names and, unless told not to, migrates it.
    pub(crate) async fn start(config: &PostgresConfig) -> PortResult<Self> {
        let url = config.url.trim();
        if url.is_empty() {
            return Err(PortError::invalid("the postgres url is empty"));
        }
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|err| from_sqlx::<Self>("read the postgres url", err))?;
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
            .map_err(|err| {
                from_sqlx::<Self>(&format!("connect to the database at {target}"), err)
            })?;
        let backend = Self { pool, target };
        if config.migrate {
            backend.run_migrations().await?;
        }
        tracing::debug!(database = %backend.target, "postgres database ready");
        Ok(backend)
    }

    /// Applies the embedded migrations that are not applied yet, under an advisory lock.
    pub(crate) async fn run_migrations(&self) -> PortResult<()> {
        let action = format!("migrate the database at {}", self.target);
        migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(|err| from_migrate::<Self>(&action, err))
    }
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
