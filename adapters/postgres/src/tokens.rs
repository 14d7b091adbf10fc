//! [`TokenStore`] on PostgreSQL: the service's own tokens, as digests.
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

use crate::database::{PostgresDatabase, commit};
use crate::error::db;
use crate::model::TokenRow;

#[async_trait]
impl TokenStore for PostgresDatabase {
    async fn insert_token(&self, record: &TokenRecord) -> PortResult<()> {
        let mut tx = self.write().await?;
        let user_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
                .bind(record.user_id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("look up a user"))?;
        if !user_exists {
            return Err(PortError::not_found(format!(
                "user {} not found",
                record.user_id
            )));
        }
        let id_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1)")
                .bind(record.id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("look up a token"))?;
        if id_taken {
            return Err(PortError::conflict(format!("token {} exists", record.id)));
        }
        let digest_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens WHERE digest = $1)")
                .bind(record.digest.as_bytes().as_slice())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("look up a token"))?;
        if digest_taken {
            return Err(PortError::conflict("a token with that digest exists"));
        }
        sqlx::query(
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
        .map_err(db("store the token"))?;
        commit(tx).await
    }

    async fn find_token(&self, digest: &TokenDigest) -> PortResult<TokenRecord> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT id, user_id, kind, name, digest, created_at, expires_at
             FROM tokens WHERE digest = $1",
        )
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(self.pool())
        .await
        .map_err(db("find a token"))?;
        row.ok_or_else(|| PortError::not_found("no token has that digest"))?
            .into_domain()
    }

    async fn list_tokens(&self, user: UserId, kind: TokenKind) -> PortResult<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, user_id, kind, name, digest, created_at, expires_at
             FROM tokens WHERE user_id = $1 AND kind = $2
             ORDER BY created_at, id",
        )
        .bind(user.to_string())
        .bind(kind.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db("list tokens"))?;
        rows.into_iter().map(TokenRow::into_domain).collect()
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> PortResult<()> {
        let deleted = sqlx::query("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(self.pool())
            .await
            .map_err(db("delete a token"))?
            .rows_affected();
        if deleted == 0 {
            return Err(PortError::not_found(format!("token {id} not found")));
        }
        Ok(())
    }

    async fn delete_token_by_digest(&self, digest: &TokenDigest) -> PortResult<()> {
        sqlx::query("DELETE FROM tokens WHERE digest = $1")
            .bind(digest.as_bytes().as_slice())
            .execute(self.pool())
            .await
            .map_err(db("delete a token"))?;
        Ok(())
    }

    async fn delete_expired_tokens(&self, now: Timestamp) -> PortResult<u64> {
        let deleted = sqlx::query("DELETE FROM tokens WHERE expires_at <= $1")
            .bind(now.unix_millis())
            .execute(self.pool())
            .await
            .map_err(db("delete expired tokens"))?
            .rows_affected();
        Ok(deleted)
    }
}
