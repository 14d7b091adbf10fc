//! What differs in the SQL the databases take, as data: how transactions begin and whether
//! a read locks the rows it selects.
//!
//! The rest is written so that both take it as it is: `$N` parameters, `CAST(x AS TEXT)`
//! rather than `x::text`, `EXISTS (...)` read as a boolean (an integer on SQLite), and
//! `RETURNING` to learn what an `UPDATE` or `DELETE` touched.

use crate::query::Query;

/// The SQL that differs between databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Begins a transaction that writes.
    pub begin_write: &'static str,
    /// Begins a transaction of several reads that must agree with each other.
    pub begin_read: &'static str,
    /// Whether `SELECT ... FOR UPDATE OF` locks the rows it selects. Without row locks,
    /// the write transaction holds the whole database from its start (SQLite's
    /// `BEGIN IMMEDIATE`), so what a write reads cannot change before it writes anyway.
    pub row_locks: bool,
}

/// Whether a read inside a write transaction locks the row it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// A plain read.
    None,
    /// `FOR UPDATE`: concurrent writers of the row wait until this transaction ends.
    ForUpdate,
}

impl Dialect {
    /// SQLite's: a write takes the write lock at once (`BEGIN IMMEDIATE`), so that what
    /// it reads cannot change before it writes and two writers queue instead of
    /// deadlocking; there are no row locks.
    pub const SQLITE: Self = Self {
        begin_write: "BEGIN IMMEDIATE",
        begin_read: "BEGIN",
        row_locks: false,
    };

    /// PostgreSQL's: writes run at READ COMMITTED whatever the server's default is, what
    /// they read and then rely on guarded by row locks, unique indexes or a condition in
    /// the `UPDATE` itself; several reads share one read-only snapshot.
    pub const POSTGRES: Self = Self {
        begin_write: "BEGIN ISOLATION LEVEL READ COMMITTED",
        begin_read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        row_locks: true,
    };

    /// The query `select`, which reads rows of the table named (or aliased) `table`,
    /// locking those rows until the transaction ends when `lock` asks for it and the
    /// database locks rows.
    pub fn select(self, select: &'static str, table: &str, lock: Lock) -> Query {
        match lock {
            Lock::ForUpdate if self.row_locks => {
                Query::assembled(format!("{select}\nFOR UPDATE OF {table}"))
            }
            _ => Query::new(select),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_locking_read_on_a_database_with_row_locks_locks() {
        let sql = "SELECT m.id FROM mocks m WHERE m.id = $1";
        assert_eq!(
            Dialect::POSTGRES.select(sql, "m", Lock::ForUpdate).sql(),
            "SELECT m.id FROM mocks m WHERE m.id = $1\nFOR UPDATE OF m"
        );
        assert_eq!(Dialect::POSTGRES.select(sql, "m", Lock::None).sql(), sql);
        assert_eq!(Dialect::SQLITE.select(sql, "m", Lock::ForUpdate).sql(), sql);
    }
}
