//! [`SqlDatabase`], the ports on one SQL database, and [`Backend`], what each database
//! adds to it.

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use moclojer_domain::Event;
use moclojer_ports::{PortErrorKind, PortResult, Scope};
use sqlx::error::DatabaseError;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Database, Pool, SqlSafeStr, Transaction};

use crate::dialect::Dialect;
use crate::error::db;
use crate::query::{Exec, Query};

/// The connection type of `B`'s driver.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// What one database brings to [`SqlDatabase`]: its driver and dialect, its connection
/// pool, the statements whose SQL differs (the outbox's event rows and claims, named
/// leases: each judged by the database's clock or the process's), and what its error
/// codes mean.
pub trait Backend: Clone + Debug + Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database<Connection: Exec>;

    /// What [`SqlDatabase::connect`] takes: where the database is and how to use it.
    type Config: Sync;

    /// The SQL that differs.
    const DIALECT: Dialect;

    /// Connects to the database `config` names and prepares it (migrations and the like).
    fn connect(config: &Self::Config) -> impl Future<Output = PortResult<Self>> + Send;

    /// Brings the schema up to date; already applied migrations are skipped.
    fn migrate(&self) -> impl Future<Output = PortResult<()>> + Send;

    /// The connection pool.
    fn pool(&self) -> &Pool<Self::Db>;

    /// The statement that appends `event` to the outbox.
    fn record_event(event: &Event) -> Query;

    /// The statement that claims, for `relay` and `lease`, up to `limit` pending outbox
    /// rows that no other relay holds, returning their `seq` and `payload`; it runs in a
    /// write transaction of its own.
    fn claim(relay: &str, limit: i64, lease: Duration) -> Query;

    /// Marks the outbox rows at `seqs` (at least one) sent, if they are not already.
    fn mark_sent(&self, seqs: Vec<i64>) -> impl Future<Output = PortResult<()>> + Send;

    /// Deletes the outbox rows sent more than `older_than_millis` ago; how many.
    fn purge_sent(&self, older_than_millis: i64) -> impl Future<Output = PortResult<u64>> + Send;

    /// The statement that takes the lease `name` for `holder` for `ttl_millis` (above
    /// zero) when it is free or expired, or renews it when `holder` holds it, returning
    /// its `holder`, `expires_at` (unix milliseconds) and `fence` (which increases each
    /// time the lease is taken anew) when `holder` holds it; it runs in a write
    /// transaction of its own.
    fn acquire_lease(name: &str, holder: &str, ttl_millis: i64) -> Query;

    /// The statement that releases the lease `name` if `holder` holds it, by marking it
    /// expired (so that its fence keeps increasing).
    fn release_lease(name: &str, holder: &str) -> Query;

    /// The kind and a short description of an error the database itself reported.
    fn database_error(err: &dyn DatabaseError) -> (PortErrorKind, &'static str);

    /// A transaction that writes, begun as the dialect says.
    fn write(&self) -> impl Future<Output = PortResult<Transaction<'static, Self::Db>>> + Send {
        let begun = self.pool().begin_with(Self::DIALECT.begin_write);
        async move { begun.await.map_err(db::<Self>("begin a write")) }
    }

    /// A transaction for several reads that must agree with each other.
    fn read(&self) -> impl Future<Output = PortResult<Transaction<'static, Self::Db>>> + Send {
        let begun = self.pool().begin_with(Self::DIALECT.begin_read);
        async move { begun.await.map_err(db::<Self>("begin a read")) }
    }
}

/// A backend whose database this process holds itself: a file it opens, or memory.
pub trait Embedded: Backend {
    /// Opens (creating when missing) the database file at `path`.
    fn open(path: &Path) -> impl Future<Output = PortResult<Self>> + Send;

    /// A new, empty database that lives in memory until the last clone is dropped.
    fn in_memory() -> impl Future<Output = PortResult<Self>> + Send;
}

/// moclojer cloud's data in one SQL database: accounts, mocks with their history,
/// publications, the outbox, the service's own tokens and named leases. It implements
/// every storage port; what differs between databases comes from `B`. Cloning is cheap
/// and shares the connection pool.
///
/// Every write that records events inserts them into the `outbox` table in the same
/// transaction as the change, so a change and its events are committed together or not
/// at all.
#[derive(Debug, Clone)]
pub struct SqlDatabase<B> {
    backend: B,
}

impl<B: Backend> SqlDatabase<B> {
    /// Connects to the database `config` names and brings it up to date, as the backend
    /// does.
    ///
    /// # Errors
    /// The backend's: `Invalid` for a malformed configuration, `Unavailable` when the
    /// database cannot be reached or opened, `Internal` when its schema is not one this
    /// version knows.
    pub async fn connect(config: &B::Config) -> PortResult<Self> {
        B::connect(config).await.map(|backend| Self { backend })
    }

    /// Brings the schema up to date with the migrations embedded in the backend; already
    /// applied ones are skipped, so running it again is harmless.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Internal` when the schema was
    /// migrated by a newer version (a migration unknown here), an applied migration was
    /// edited, or a statement fails.
    pub async fn migrate(&self) -> PortResult<()> {
        self.backend.migrate().await
    }

    /// Closes every connection, waiting for calls under way to finish. Calls made after
    /// this fail with `Unavailable`.
    pub async fn close(&self) {
        self.backend.pool().close().await;
    }

    /// What differs, for the ports' implementations.
    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    /// A connection from the pool, for single statements.
    pub(crate) async fn conn(
        &self,
        action: &'static str,
    ) -> PortResult<sqlx::pool::PoolConnection<B::Db>> {
        self.backend.pool().acquire().await.map_err(db::<B>(action))
    }
}

impl<B: Embedded> SqlDatabase<B> {
    /// Opens (creating when missing) the database file at `path`, and brings its schema up
    /// to date.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn open(path: &Path) -> PortResult<Self> {
        B::open(path).await.map(|backend| Self { backend })
    }

    /// A new, empty database that lives in memory until the last clone is dropped or
    /// [`Self::close`]d. Each call makes a separate database.
    ///
    /// # Errors
    /// As [`Self::connect`]; in practice only when memory runs out.
    pub async fn in_memory() -> PortResult<Self> {
        B::in_memory().await.map(|backend| Self { backend })
    }
}

/// Commits `tx`.
pub(crate) async fn commit<B: Backend>(tx: Transaction<'static, B::Db>) -> PortResult<()> {
    tx.commit().await.map_err(db::<B>("commit"))
}

/// Appends `events` to the outbox on `conn`, normally inside the transaction of the change
/// that caused them. One statement per event, in order, so positions follow the order of
/// `events`.
pub(crate) async fn record<B: Backend>(conn: &mut Conn<B>, events: &[Event]) -> PortResult<()> {
    for event in events {
        B::record_event(event)
            .execute(conn)
            .await
            .map_err(db::<B>("record an event"))?;
    }
    Ok(())
}

/// The scope as a query parameter: the user's id, or NULL for the system, which sees all.
pub(crate) fn scope_param(scope: &Scope) -> Option<String> {
    scope.user().map(|user| user.to_string())
}

/// A migrator for `migrations`, each `(version, description, sql)`, in order. Applied
/// migrations are tracked by sqlx in `_sqlx_migrations`, with a checksum, so an edited
/// migration is refused instead of being silently skipped: add a new one instead.
pub fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = migrations
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
