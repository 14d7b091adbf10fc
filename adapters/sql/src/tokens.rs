//! [`TokenStore`]: the service's own tokens, as digests.
//!
//! [`TokenStore::insert_token`] checks the user and the uniqueness of the id and the digest
//! first, for a clear message; the table's unique indexes and its foreign key on `users`
//! guard the same rules against writers racing past the checks (a `Conflict` and a
//! `NotFound` as well).

use async_trait::async_trait;
use moclojer_domain::{Timestamp, UserId};
use moclojer_ports::{
    PortError, PortResult, TokenDigest, TokenId, TokenKind, TokenRecord, TokenStore,
};

use crate::database::{Backend, SqlDatabase, commit};
use crate::error::db;
use crate::model::{TokenRow, Value};
use crate::query::Query;

/// The columns of a [`TokenRow`].
const TOKEN: &str = "SELECT id, user_id, kind, name, digest, created_at, expires_at FROM tokens";

#[async_trait]
impl<B: Backend> TokenStore for SqlDatabase<B> {
    async fn insert_token(&self, record: &TokenRecord) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        if !Self::user_exists(&mut tx, record.user_id).await? {
            return Err(PortError::not_found(format!(
                "user {} not found",
                record.user_id
            )));
        }
        let id_taken: Value<bool> =
            Query::new("SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1) AS value")
                .bind(record.id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db::<B>("look up a token"))?;
        if id_taken.0 {
            return Err(PortError::conflict(format!("token {} exists", record.id)));
        }
        let digest_taken: Value<bool> =
            Query::new("SELECT EXISTS (SELECT 1 FROM tokens WHERE digest = $1) AS value")
                .bind(record.digest.as_bytes().as_slice())
                .fetch_one(&mut *tx)
                .await
                .map_err(db::<B>("look up a token"))?;
        if digest_taken.0 {
            return Err(PortError::conflict("a token with that digest exists"));
        }
        Query::new(
            "INSERT INTO tokens (id, user_id, kind, name, digest, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.id.to_string())
        .bind(record.user_id.to_string())
        .bind(record.kind.as_str())
        .bind(&record.name)
        .bind(record.digest.as_bytes().as_slice())
        .bind(record.created_at.unix_millis())
        .bind(record.expires_at.map(Timestamp::unix_millis))
        .execute(&mut *tx)
        .await
        .map_err(db::<B>("store the token"))?;
        commit::<B>(tx).await
    }

    async fn find_token(&self, digest: &TokenDigest) -> PortResult<TokenRecord> {
        let mut conn = self.conn("find a token").await?;
        let row: Option<TokenRow> = Query::assembled(format!("{TOKEN} WHERE digest = $1"))
            .bind(digest.as_bytes().as_slice())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db::<B>("find a token"))?;
        row.ok_or_else(|| PortError::not_found("no token has that digest"))?
            .into_domain()
    }

    async fn list_tokens(&self, user: UserId, kind: TokenKind) -> PortResult<Vec<TokenRecord>> {
        let mut conn = self.conn("list tokens").await?;
        let rows: Vec<TokenRow> = Query::assembled(format!(
            "{TOKEN} WHERE user_id = $1 AND kind = $2 ORDER BY created_at, id"
        ))
        .bind(user.to_string())
        .bind(kind.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db::<B>("list tokens"))?;
        rows.into_iter().map(TokenRow::into_domain).collect()
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> PortResult<()> {
        let mut conn = self.conn("delete a token").await?;
        let deleted: Option<Value<String>> =
            Query::new("DELETE FROM tokens WHERE id = $1 AND user_id = $2 RETURNING id AS value")
                .bind(id.to_string())
                .bind(user.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db::<B>("delete a token"))?;
        match deleted {
            Some(_) => Ok(()),
            None => Err(PortError::not_found(format!("token {id} not found"))),
        }
    }

    async fn delete_token_by_digest(&self, digest: &TokenDigest) -> PortResult<()> {
        let mut conn = self.conn("delete a token").await?;
        Query::new("DELETE FROM tokens WHERE digest = $1")
            .bind(digest.as_bytes().as_slice())
            .execute(&mut *conn)
            .await
            .map_err(db::<B>("delete a token"))
    }

    async fn delete_expired_tokens(&self, now: Timestamp) -> PortResult<u64> {
        let mut conn = self.conn("delete expired tokens").await?;
        let deleted: Vec<Value<String>> =
            Query::new("DELETE FROM tokens WHERE expires_at <= $1 RETURNING id AS value")
                .bind(now.unix_millis())
                .fetch_all(&mut *conn)
                .await
                .map_err(db::<B>("delete expired tokens"))?;
        Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
    }
}
