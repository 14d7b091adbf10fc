//! sqlx errors translated into port errors, at the boundary.
//!
//! By SQLSTATE (<https://www.postgresql.org/docs/current/errcodes-appendix.html>):
//!
//! - a unique (`23505`) or exclusion (`23P01`) violation is a `Conflict`;
//! - a foreign-key violation (`23503`) means a referenced row is missing: `NotFound`;
//! - a statement, lock or idle-transaction timeout, or a cancelled query (`57014`,
//!   `55P03`, `25P03`, `25P04`): `Timeout`;
//! - a serialization failure or deadlock (`40001`, `40P01`), a server shutting down or
//!   starting up (`57P01`–`57P05`), connection trouble (class `08`), missing resources
//!   (class `53`), the server's own IO errors (class `58`): `Unavailable` (retryable);
//! - a refused login (class `28`) or a database that does not exist (`3D000`): `Invalid`,
//!   the configuration is wrong;
//! - anything else the server says (a broken constraint, a syntax error, corruption):
//!   `Internal`.
//!
//! On the client side: a refused connection, IO trouble, TLS trouble, a pool that timed out
//! or is closed: `Unavailable`; a malformed URL: `Invalid`; rows that do not decode:
//! `Internal`.
//!
//! No message here ever contains the connection URL, which may carry a password.

use moclojer_ports::{PortError, PortErrorKind};

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
        sqlx::Error::Database(db_err) => classify_code(db_err.code().as_deref()),
        sqlx::Error::Io(_) => (
            PortErrorKind::Unavailable,
            "cannot talk to the database server",
        ),
        sqlx::Error::Tls(_) => (
            PortErrorKind::Unavailable,
            "the TLS connection to the database server failed",
        ),
        sqlx::Error::PoolTimedOut => (
            PortErrorKind::Unavailable,
            "no database connection became available in time",
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
        sqlx::Error::Migrate(inner) => match inner.as_ref() {
            sqlx::migrate::MigrateError::Execute(inner) => classify(inner),
            _ => (PortErrorKind::Internal, "the schema cannot be migrated"),
        },
        _ => (PortErrorKind::Internal, "unexpected database error"),
    }
}

/// The kind for a SQLSTATE code.
fn classify_code(code: Option<&str>) -> (PortErrorKind, &'static str) {
    let Some(code) = code else {
        return (PortErrorKind::Internal, "unexpected database error");
    };
    match code {
        "23505" | "23P01" => (PortErrorKind::Conflict, "already taken"),
        "23503" => (
            PortErrorKind::NotFound,
            "refers to something that does not exist",
        ),
        "23502" | "23514" => (
            PortErrorKind::Internal,
            "a row breaks the schema's constraints",
        ),
        "57014" => (
            PortErrorKind::Timeout,
            "the statement took too long and was cancelled",
        ),
        "55P03" => (PortErrorKind::Timeout, "a lock was not granted in time"),
        "25P03" | "25P04" => (
            PortErrorKind::Timeout,
            "the transaction took too long and was ended",
        ),
        "40001" | "40P01" => (
            PortErrorKind::Unavailable,
            "the transaction clashed with another one; try again",
        ),
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" => (
            PortErrorKind::Unavailable,
            "the database server is shutting down, starting up or ended the session",
        ),
        "3D000" => (PortErrorKind::Invalid, "the database does not exist"),
        _ => match code.get(..2) {
            Some("08") => (
                PortErrorKind::Unavailable,
                "the connection to the database server failed",
            ),
            Some("53") => (
                PortErrorKind::Unavailable,
                "the database server is out of resources",
            ),
            Some("58") => (
                PortErrorKind::Unavailable,
                "the database server has an input/output error",
            ),
            Some("28") => (
                PortErrorKind::Invalid,
                "the database server refused the credentials",
            ),
            _ => (PortErrorKind::Internal, "unexpected database error"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_kinds() {
        let cases = [
            ("23505", PortErrorKind::Conflict),
            ("23503", PortErrorKind::NotFound),
            ("23502", PortErrorKind::Internal),
            ("23514", PortErrorKind::Internal),
            ("57014", PortErrorKind::Timeout),
            ("55P03", PortErrorKind::Timeout),
            ("25P03", PortErrorKind::Timeout),
            ("40001", PortErrorKind::Unavailable),
            ("40P01", PortErrorKind::Unavailable),
            ("57P01", PortErrorKind::Unavailable),
            ("57P03", PortErrorKind::Unavailable),
            ("08006", PortErrorKind::Unavailable),
            ("08001", PortErrorKind::Unavailable),
            ("53300", PortErrorKind::Unavailable),
            ("53100", PortErrorKind::Unavailable),
            ("58030", PortErrorKind::Unavailable),
            ("28P01", PortErrorKind::Invalid),
            ("3D000", PortErrorKind::Invalid),
            ("42P01", PortErrorKind::Internal),
            ("XX001", PortErrorKind::Internal),
            ("22P05", PortErrorKind::Internal),
        ];
        for (code, kind) in cases {
            assert_eq!(classify_code(Some(code)).0, kind, "sqlstate {code}");
        }
        assert_eq!(classify_code(None).0, PortErrorKind::Internal);
    }

    #[test]
    fn client_side_trouble_is_retryable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
        ] {
            let err = from_sqlx("x", err);
            assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
            assert!(err.is_retryable());
        }
        assert_eq!(
            from_sqlx("x", sqlx::Error::RowNotFound).kind(),
            PortErrorKind::NotFound
        );
        assert_eq!(
            from_sqlx("x", sqlx::Error::Decode("bad".into())).kind(),
            PortErrorKind::Internal
        );
    }
}
