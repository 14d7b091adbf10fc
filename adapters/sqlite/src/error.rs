//! sqlx errors translated into port errors, at the boundary.
//!
//! - a unique or primary-key violation is a `Conflict`;
//! - a foreign-key violation means a referenced row is missing: `NotFound`;
//! - a busy or locked database, IO trouble, a full disk, a pool that timed out or is closed:
//!   `Unavailable` (retryable);
//! - a malformed URL: `Invalid`;
//! - a file that is not a database, corruption, rows that do not decode, anything else:
//!   `Internal`.

use moclojer_ports::{PortError, PortErrorKind};
use sqlx::error::ErrorKind;

// SQLite's primary result codes (https://www.sqlite.org/rescode.html).
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_NOMEM: i32 = 7;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_PROTOCOL: i32 = 15;
const SQLITE_NOTADB: i32 = 26;

/// A mapper for `map_err` that says what was being done.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> PortError {
    move |err| from_sqlx(action, err)
}

/// The port error for `err`, which happened while doing `action`.
pub(crate) fn from_sqlx(action: &str, err: sqlx::Error) -> PortError {
    let (kind, what) = classify(&err);
    PortError::new(kind, format!("{action}: {what}")).with_source(err)
}

fn classify(err: &sqlx::Error) -> (PortErrorKind, &'static str) {
    match err {
        sqlx::Error::Database(db_err) => match db_err.kind() {
            ErrorKind::UniqueViolation => (PortErrorKind::Conflict, "already taken"),
            ErrorKind::ForeignKeyViolation => (
                PortErrorKind::NotFound,
                "refers to something that does not exist",
            ),
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => (
                PortErrorKind::Internal,
                "a row breaks the schema's constraints",
            ),
            _ => classify_code(db_err.code().and_then(|code| code.parse::<i32>().ok())),
        },
        sqlx::Error::Io(_) => (PortErrorKind::Unavailable, "input/output error"),
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

fn classify_code(extended: Option<i32>) -> (PortErrorKind, &'static str) {
    let Some(extended) = extended else {
        return (PortErrorKind::Internal, "unexpected database error");
    };
    match extended & 0xff {
        SQLITE_BUSY | SQLITE_LOCKED => (PortErrorKind::Unavailable, "the database is busy"),
        SQLITE_IOERR | SQLITE_PROTOCOL => (PortErrorKind::Unavailable, "input/output error"),
        SQLITE_FULL => (PortErrorKind::Unavailable, "the disk is full"),
        SQLITE_NOMEM => (PortErrorKind::Unavailable, "out of memory"),
        SQLITE_CANTOPEN | SQLITE_PERM => (
            PortErrorKind::Unavailable,
            "the database file cannot be opened",
        ),
        SQLITE_READONLY => (PortErrorKind::Unavailable, "the database is read-only"),
        SQLITE_NOTADB => (PortErrorKind::Internal, "the file is not a SQLite database"),
        SQLITE_CORRUPT => (PortErrorKind::Internal, "the database file is corrupt"),
        _ => (PortErrorKind::Internal, "unexpected database error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_kinds() {
        let cases = [
            (5, PortErrorKind::Unavailable),   // busy
            (517, PortErrorKind::Unavailable), // busy (snapshot)
            (6, PortErrorKind::Unavailable),   // locked
            (10, PortErrorKind::Unavailable),  // io
            (13, PortErrorKind::Unavailable),  // full
            (14, PortErrorKind::Unavailable),  // cannot open
            (26, PortErrorKind::Internal),     // not a database
            (11, PortErrorKind::Internal),     // corrupt
            (1, PortErrorKind::Internal),      // generic error
        ];
        for (code, kind) in cases {
            assert_eq!(classify_code(Some(code)).0, kind, "code {code}");
        }
        assert_eq!(classify_code(None).0, PortErrorKind::Internal);
    }

    #[test]
    fn pool_trouble_is_retryable() {
        for err in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            assert!(from_sqlx("x", err).is_retryable());
        }
        assert_eq!(
            from_sqlx("x", sqlx::Error::RowNotFound).kind(),
            PortErrorKind::NotFound
        );
    }
}
