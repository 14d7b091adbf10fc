//! [`PublicationRepository`] on PostgreSQL, guarded by the publication's version: the
//! version check is part of the `UPDATE`, so of two saves of one version exactly one wins.

use async_trait::async_trait;
use moclojer_domain::{Event, MockId, Publication};
use moclojer_ports::{PortError, PortResult, PublicationRepository, Scope};

use crate::database::{Lock, PostgresDatabase, commit, record, scope_param};
use crate::error::db;
use crate::mocks::visible_mock;
use crate::model::{PublicationColumns, PublicationRow, version_to_sql};

#[async_trait]
impl PublicationRepository for PostgresDatabase {
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication> {
        let row: Option<PublicationRow> = sqlx::query_as(
            "SELECT p.mock_id, p.server_json, p.dns_json, p.requested_revision, p.live_revision,
                    p.version, p.updated_at
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE p.mock_id = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(mock_id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db("load a publication"))?;
        row.ok_or_else(|| PortError::not_found(format!("mock {mock_id} not found")))?
            .into_domain()
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>> {
        let rows: Vec<PublicationRow> = sqlx::query_as(
            "SELECT p.mock_id, p.server_json, p.dns_json, p.requested_revision, p.live_revision,
                    p.version, p.updated_at
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE $1::text IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY p.mock_id",
        )
        .bind(scope_param(scope))
        .fetch_all(self.pool())
        .await
        .map_err(db("list publications"))?;
        rows.into_iter().map(PublicationRow::into_domain).collect()
    }

    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication> {
        let mut tx = self.write().await?;
        visible_mock(&mut tx, scope, publication.mock_id, Lock::None).await?;
        let columns = PublicationColumns::of(publication)?;
        let next_version = publication
            .version
            .checked_add(1)
            .ok_or_else(|| PortError::invalid("the publication version is at its maximum"))?;
        let updated = sqlx::query(
            "UPDATE publications
             SET server_json = $1, dns_json = $2, requested_revision = $3, live_revision = $4,
                 version = $5, updated_at = $6
             WHERE mock_id = $7 AND version = $8",
        )
        .bind(columns.server_json)
        .bind(columns.dns_json)
        .bind(columns.requested_revision)
        .bind(columns.live_revision)
        .bind(version_to_sql(next_version)?)
        .bind(publication.updated_at.unix_millis())
        .bind(publication.mock_id.to_string())
        .bind(version_to_sql(publication.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db("store the publication"))?;
        if updated.rows_affected() != 1 {
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT version FROM publications WHERE mock_id = $1")
                    .bind(publication.mock_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("load the publication's version"))?;
            return Err(match stored {
                Some(stored) => PortError::conflict(format!(
                    "the publication is at version {stored}, not {}",
                    publication.version
                )),
                // The mock was deleted between the read above and the update.
                None => PortError::not_found(format!("mock {} not found", publication.mock_id)),
            });
        }
        record(&mut tx, events).await?;
        commit(tx).await?;
        Ok(Publication {
            version: next_version,
            ..publication.clone()
        })
    }
}
