//! sqlx errors translated into port errors, at the boundary.
//!
//! What the database server or library itself says is read by its codes, which differ
//! between databases: [`Backend::database_error`] decides. The rest is the same
//! everywhere:
//!
//! - IO or TLS trouble, a pool that timed out or is closed, a crashed worker:
//!   `Unavailable` (retryable);
//! - a malformed URL or option: `Invalid`;
//! - `RowNotFound`: `NotFound`;
//! - rows that do not decode, a migration that cannot run, anything else: `Internal`.
//!
//! No message here contains a connection URL, which may carry a password.

use moclojer_ports::{PortError, PortErrorKind};
use sqlx::migrate::MigrateError;

use crate::Backend;

/// A mapper for `map_err` that says what was being done.
pub fn db<B: Backend>(action: &'static str) -> impl FnOnce(sqlx::Error) -> PortError {
    move |err| from_sqlx::<B>(action, err)
}

/// The port error for `err`, which happened while doing `action`.
pub fn from_sqlx<B: Backend>(action: &str, err: sqlx::Error) -> PortError {
    let (kind, what) = classify::<B>(&err);
    PortError::new(kind, format!("{action}: {what}")).with_source(err)
}

/// The port error for a failed migration while doing `action`.
pub fn from_migrate<B: Backend>(action: &str, err: MigrateError) -> PortError {
    match err {
        MigrateError::Execute(inner) => from_sqlx::<B>(action, inner),
        MigrateError::VersionMissing(version) => PortError::internal(format!(
            "{action}: it was migrated by a newer version (migration {version} is unknown here)"
        ))
        .with_source(err),
        other => PortError::internal(format!("{action}: {other}")).with_source(other),
    }
}

fn classify<B: Backend>(err: &sqlx::Error) -> (PortErrorKind, &'static str) {
    match err {
        sqlx::Error::Database(db_err) => B::database_error(db_err.as_ref()),
        sqlx::Error::Migrate(inner) => match inner.as_ref() {
            MigrateError::Execute(inner) => classify::<B>(inner),
            _ => (PortErrorKind::Internal, "the schema cannot be migrated"),
        },
        other => classify_client(other),
    }
}

/// The kind of an error on this side of the connection.
fn classify_client(err: &sqlx::Error) -> (PortErrorKind, &'static str) {
    match err {
        sqlx::Error::Io(_) => (
            PortErrorKind::Unavailable,
            "input/output error talking to the database",
        ),
        sqlx::Error::Tls(_) => (
            PortErrorKind::Unavailable,
            "the TLS connection to the database server failed",
        ),
        sqlx::Error::PoolTimedOut => (
            PortErrorKind::Unavailable,
            "no database connection became free in time",
        ),
        sqlx::Error::PoolClosed => (PortErrorKind::Unavailable, "the database is closed"),
        sqlx::Error::WorkerCrashed => (
            PortErrorKind::Unavailable,
            "the database connection's worker stopped",
        ),
        sqlx::Error::Configuration(_) => (PortErrorKind::Invalid, "bad configuration"),
        sqlx::Error::RowNotFound => (PortErrorKind::NotFound, "no such row"),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => {
            (PortErrorKind::Internal, "a stored row does not decode")
        }
        _ => (PortErrorKind::Internal, "unexpected database error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_side_trouble_is_retryable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(refused),
        ] {
            let (kind, what) = classify_client(&err);
            assert_eq!(kind, PortErrorKind::Unavailable, "{what}");
            assert!(PortError::new(kind, what).is_retryable());
        }
        assert_eq!(
            classify_client(&sqlx::Error::RowNotFound).0,
            PortErrorKind::NotFound
        );
        assert_eq!(
            classify_client(&sqlx::Error::Decode("bad".into())).0,
            PortErrorKind::Internal
        );
        assert_eq!(
            classify_client(&sqlx::Error::Configuration("bad".into())).0,
            PortErrorKind::Invalid
        );
    }
}
