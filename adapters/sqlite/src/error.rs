//! What SQLite's own errors mean, by their result codes; the rest of the translation into
//! port errors is `moclojer-sql`'s.
//!
//! - a unique or primary-key violation is a `Conflict`;
//! - a foreign-key violation means a referenced row is missing: `NotFound`;
//! - a busy or locked database, IO trouble, a full disk, a file that cannot be opened:
//!   `Unavailable` (retryable);
//! - a file that is not a database, corruption, a broken constraint, anything else:
//!   `Internal`.

use moclojer_ports::{PortError, PortErrorKind};
use sqlx::error::{DatabaseError, ErrorKind};

use crate::SqliteBackend;

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

/// What each primary result code means; a code not listed is `Internal`.
const RESULT_CODES: &[(i32, PortErrorKind, &str)] = &[
    (
        SQLITE_BUSY,
        PortErrorKind::Unavailable,
        "the database is busy",
    ),
    (
        SQLITE_LOCKED,
        PortErrorKind::Unavailable,
        "the database is busy",
    ),
    (
        SQLITE_IOERR,
        PortErrorKind::Unavailable,
        "input/output error",
    ),
    (
        SQLITE_PROTOCOL,
        PortErrorKind::Unavailable,
        "input/output error",
    ),
    (SQLITE_FULL, PortErrorKind::Unavailable, "the disk is full"),
    (SQLITE_NOMEM, PortErrorKind::Unavailable, "out of memory"),
    (
        SQLITE_CANTOPEN,
        PortErrorKind::Unavailable,
        "the database file cannot be opened",
    ),
    (
        SQLITE_PERM,
        PortErrorKind::Unavailable,
        "the database file cannot be opened",
    ),
    (
        SQLITE_READONLY,
        PortErrorKind::Unavailable,
        "the database is read-only",
    ),
    (
        SQLITE_NOTADB,
        PortErrorKind::Internal,
        "the file is not a SQLite database",
    ),
    (
        SQLITE_CORRUPT,
        PortErrorKind::Internal,
        "the database file is corrupt",
    ),
];

/// A mapper for `map_err` that says what was being done.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> PortError {
    moclojer_sql::db::<SqliteBackend>(action)
}

/// The kind of an error SQLite reported.
pub(crate) fn database_error(err: &dyn DatabaseError) -> (PortErrorKind, &'static str) {
    match err.kind() {
        ErrorKind::UniqueViolation => (PortErrorKind::Conflict, "already taken"),
        ErrorKind::ForeignKeyViolation => (
            PortErrorKind::NotFound,
            "refers to something that does not exist",
        ),
        ErrorKind::NotNullViolation | ErrorKind::CheckViolation => (
            PortErrorKind::Internal,
            "a row breaks the schema's constraints",
        ),
        _ => classify_code(err.code().and_then(|code| code.parse::<i32>().ok())),
    }
}

/// The kind for an extended result code, by its primary code (its low byte).
fn classify_code(extended: Option<i32>) -> (PortErrorKind, &'static str) {
    let primary = extended.map(|code| code & 0xff);
    RESULT_CODES
        .iter()
        .find(|(code, _, _)| Some(*code) == primary)
        .map_or(
            (PortErrorKind::Internal, "unexpected database error"),
            |&(_, kind, what)| (kind, what),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_kinds() {
        // busy, busy (snapshot), locked, io, full, cannot open
        for code in [5, 517, 6, 10, 13, 14] {
            assert_eq!(
                classify_code(Some(code)).0,
                PortErrorKind::Unavailable,
                "{code}"
            );
        }
        // not a database, corrupt, a generic error, none
        for code in [Some(26), Some(11), Some(1), None] {
            assert_eq!(classify_code(code).0, PortErrorKind::Internal, "{code:?}");
        }
    }

    #[test]
    fn pool_trouble_is_retryable() {
        let from_sqlx = moclojer_sql::from_sqlx::<SqliteBackend>;
        for err in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            assert!(from_sqlx("x", err).is_retryable());
        }
        assert_eq!(
            from_sqlx("x", sqlx::Error::RowNotFound).kind(),
            PortErrorKind::NotFound
        );
    }
}
