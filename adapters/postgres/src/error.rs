//! What the server's errors mean, by SQLSTATE
//! (<https://www.postgresql.org/docs/current/errcodes-appendix.html>); the rest of the
//! translation into port errors (a refused connection, IO or TLS trouble, a pool that
//! timed out or is closed: `Unavailable`; a malformed URL: `Invalid`; rows that do not
//! decode: `Internal`) is `moclojer-sql`'s.
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
//! No message here ever contains the connection URL, which may carry a password.

use moclojer_ports::{PortError, PortErrorKind};

use crate::PostgresBackend;

/// A mapper for `map_err` that says what was being done.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> PortError {
    moclojer_sql::db::<PostgresBackend>(action)
}

/// The kind for a SQLSTATE code.
pub(crate) fn classify_code(code: Option<&str>) -> (PortErrorKind, &'static str) {
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
}
