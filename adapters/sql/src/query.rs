//! Statements written once for every driver: SQL text with `$1`-style parameters and the
//! values bound to them ([`Query`]), connections that run them ([`Exec`]), and rows read by
//! column name ([`Columns`]).
//!
//! Both drivers read `$N` as the N-th parameter (SQLite takes `$N` as a parameter name,
//! which sqlx binds by its number), so the text needs no rewriting. The bounds that tie a
//! sqlx driver to the types bound and read here are stated once, on the blanket
//! implementations of [`Exec`] and [`Columns`]; the shared code names only those traits.

use std::future::Future;

use sqlx::query::Query as SqlxQuery;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Connection, Database, Decode, Encode, Executor, FromRow,
    IntoArguments, Row, SqlSafeStr, SqlStr, Type,
};

/// A value bound to a statement's parameter: every column type the schema uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Text, or NULL.
    Text(Option<String>),
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
    /// A boolean (an integer 0 or 1 on SQLite).
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(Some(value))
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Self::Text(Some(value.clone()))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Self::Text(value)
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Self::Text(value.map(str::to_owned))
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<&[u8]> for Arg {
    fn from(value: &[u8]) -> Self {
        Self::Bytes(value.to_vec())
    }
}

/// One statement and the values of its parameters, in order.
#[derive(Debug)]
pub struct Query {
    sql: SqlStr,
    args: Vec<Arg>,
}

impl Query {
    /// The statement `sql`, with no values bound yet.
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql: sql.into_sql_str(),
            args: Vec::new(),
        }
    }

    /// A statement assembled at run time from this crate's own constant pieces (never
    /// from input).
    pub(crate) fn assembled(sql: String) -> Self {
        Self {
            sql: AssertSqlSafe(sql).into_sql_str(),
            args: Vec::new(),
        }
    }

    /// Binds `value` to the next parameter.
    #[must_use]
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The statement's text.
    pub fn sql(&self) -> &str {
        self.sql.as_ref()
    }

    /// Runs the statement on `conn`, reading every row it returns as a `T`.
    ///
    /// # Errors
    /// The driver's, when the statement fails or a row does not decode.
    pub async fn fetch_all<C, T>(self, conn: &mut C) -> Result<Vec<T>, sqlx::Error>
    where
        C: Exec,
        T: for<'r> FromRow<'r, C::Row>,
    {
        conn.fetch_all(self)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// Runs the statement on `conn`, reading the first row it returns, if any, as a `T`.
    ///
    /// # Errors
    /// The driver's, when the statement fails or the row does not decode.
    pub async fn fetch_optional<C, T>(self, conn: &mut C) -> Result<Option<T>, sqlx::Error>
    where
        C: Exec,
        T: for<'r> FromRow<'r, C::Row>,
    {
        conn.fetch_optional(self)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    /// Runs the statement on `conn`, reading the one row it must return as a `T`.
    ///
    /// # Errors
    /// `RowNotFound` when it returns none; the driver's, when the statement fails or the
    /// row does not decode.
    pub async fn fetch_one<C, T>(self, conn: &mut C) -> Result<T, sqlx::Error>
    where
        C: Exec,
        T: for<'r> FromRow<'r, C::Row>,
    {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs the statement on `conn` for its effect.
    ///
    /// # Errors
    /// The driver's, when the statement fails.
    pub async fn execute<C: Exec>(self, conn: &mut C) -> Result<(), sqlx::Error> {
        conn.execute(self).await
    }
}

/// A connection that runs [`Query`]s. Implemented for the connection of every sqlx driver
/// that encodes each [`Arg`] and whose rows are [`Columns`]: SQLite's and PostgreSQL's.
pub trait Exec: Send {
    /// The rows it returns.
    type Row: Row + Columns;

    /// Every row `query` returns.
    fn fetch_all(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_;

    /// The first row `query` returns, if any.
    fn fetch_optional(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + '_;

    /// Runs `query` for its effect.
    fn execute(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_;
}

impl<C> Exec for C
where
    C: Connection,
    C::Database: Binds,
    <C::Database as Database>::Row: Columns,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
{
    type Row = <C::Database as Database>::Row;

    fn fetch_all(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_ {
        let statement = C::Database::statement(query);
        async move { statement.fetch_all(self).await }
    }

    fn fetch_optional(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + '_ {
        let statement = C::Database::statement(query);
        async move { statement.fetch_optional(self).await }
    }

    fn execute(
        &mut self,
        query: Query,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_ {
        let statement = C::Database::statement(query);
        async move { statement.execute(self).await.map(drop) }
    }
}

/// A sqlx driver that encodes every [`Arg`].
pub trait Binds: Database<Arguments: IntoArguments<Self>> {
    /// `query` as the driver's statement, its values bound.
    fn statement(query: Query) -> SqlxQuery<'static, Self, Self::Arguments>;
}

impl<DB> Binds for DB
where
    DB: Database<Arguments: IntoArguments<DB>>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    fn statement(query: Query) -> SqlxQuery<'static, Self, Self::Arguments> {
        query
            .args
            .into_iter()
            .fold(sqlx::query(query.sql), |statement, arg| match arg {
                Arg::Text(value) => statement.bind(value),
                Arg::Int(value) => statement.bind(value),
                Arg::Bool(value) => statement.bind(value),
                Arg::Bytes(value) => statement.bind(value),
            })
    }
}

/// A row read by column name, as the types the schema uses.
pub trait Columns {
    /// A text column.
    ///
    /// # Errors
    /// When there is no such column or it does not decode.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;

    /// A text column that may be NULL.
    ///
    /// # Errors
    /// As [`Self::text`].
    fn maybe_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;

    /// An integer column.
    ///
    /// # Errors
    /// As [`Self::text`].
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;

    /// An integer column that may be NULL.
    ///
    /// # Errors
    /// As [`Self::text`].
    fn maybe_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;

    /// A boolean column (an integer 0 or 1 on SQLite).
    ///
    /// # Errors
    /// As [`Self::text`].
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;

    /// A bytes column.
    ///
    /// # Errors
    /// As [`Self::text`].
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }

    fn maybe_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }

    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }

    fn maybe_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }

    fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(column)
    }
}
