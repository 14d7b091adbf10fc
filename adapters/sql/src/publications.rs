//! [`PublicationRepository`], guarded by the publication's version: the version check is
//! part of the `UPDATE`, so of two saves of one version exactly one wins.
//!
//! `live` and `publishing` filter on the server state, which is stored as serde JSON
//! (`server_json`): they compare it with the stored text of a state without details,
//! made by the same serializer as every write ([`server_json`]).

use async_trait::async_trait;
use moclojer_domain::{Event, MockId, Publication, ServerState};
use moclojer_ports::{LiveMock, PortError, PortResult, PublicationRepository, Scope};

use crate::database::{Backend, Conn, SqlDatabase, commit, record, scope_param};
use crate::dialect::Lock;
use crate::error::db;
use crate::model::{
    LiveMockRow, MockIdRow, PublicationColumns, PublicationRow, Value, server_json, version_to_sql,
};
use crate::query::Query;

impl<B: Backend> SqlDatabase<B> {
    /// Stores `publication` as version `next` if it is still at `publication.version`.
    ///
    /// Decides, for every database, what a save that changed nothing means: another
    /// writer got there first (`Conflict`), or the mock is gone (`NotFound`, as for a mock
    /// that was never there).
    async fn store_publication(
        conn: &mut Conn<B>,
        publication: &Publication,
        next: u64,
    ) -> PortResult<()> {
        let columns = PublicationColumns::of(publication)?;
        let updated: Option<Value<String>> = Query::new(
            "UPDATE publications
             SET server_json = $1, dns_json = $2, requested_revision = $3, live_revision = $4,
                 version = $5, updated_at = $6
             WHERE mock_id = $7 AND version = $8
             RETURNING mock_id AS value",
        )
        .bind(columns.server_json)
        .bind(columns.dns_json)
        .bind(columns.requested_revision)
        .bind(columns.live_revision)
        .bind(version_to_sql(next)?)
        .bind(publication.updated_at.unix_millis())
        .bind(publication.mock_id.to_string())
        .bind(version_to_sql(publication.version)?)
        .fetch_optional(conn)
        .await
        .map_err(db::<B>("store the publication"))?;
        if updated.is_some() {
            return Ok(());
        }
        let stored: Option<Value<i64>> =
            Query::new("SELECT version AS value FROM publications WHERE mock_id = $1")
                .bind(publication.mock_id.to_string())
                .fetch_optional(conn)
                .await
                .map_err(db::<B>("load the publication's version"))?;
        Err(match stored {
            Some(stored) => PortError::conflict(format!(
                "the publication is at version {}, not {}",
                stored.0, publication.version
            )),
            // The mock was deleted between the caller's read and the update.
            None => PortError::not_found(format!("mock {} not found", publication.mock_id)),
        })
    }
}

#[async_trait]
impl<B: Backend> PublicationRepository for SqlDatabase<B> {
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication> {
        let mut conn = self.conn("load a publication").await?;
        let row: Option<PublicationRow> = Query::new(
            "SELECT p.mock_id, p.server_json, p.dns_json, p.requested_revision, p.live_revision,
                    p.version, p.updated_at
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE p.mock_id = $2
               AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(mock_id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db::<B>("load a publication"))?;
        row.ok_or_else(|| PortError::not_found(format!("mock {mock_id} not found")))?
            .into_domain()
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>> {
        let mut conn = self.conn("list publications").await?;
        let rows: Vec<PublicationRow> = Query::new(
            "SELECT p.mock_id, p.server_json, p.dns_json, p.requested_revision, p.live_revision,
                    p.version, p.updated_at
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE CAST($1 AS TEXT) IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY p.mock_id",
        )
        .bind(scope_param(scope))
        .fetch_all(&mut *conn)
        .await
        .map_err(db::<B>("list publications"))?;
        rows.into_iter().map(PublicationRow::into_domain).collect()
    }

    /// `Publication::is_live` in SQL: a live revision, and a server side that is not
    /// offline.
    async fn live(&self, scope: &Scope) -> PortResult<Vec<LiveMock>> {
        let mut conn = self.conn("list live mocks").await?;
        let rows: Vec<LiveMockRow> = Query::new(
            "SELECT m.id AS mock_id, m.workspace_id, m.host, p.live_revision
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE m.enabled
               AND p.live_revision IS NOT NULL
               AND p.server_json <> $2
               AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))
             ORDER BY m.host",
        )
        .bind(scope_param(scope))
        .bind(server_json(&ServerState::Offline)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db::<B>("list live mocks"))?;
        rows.into_iter().map(LiveMockRow::into_domain).collect()
    }

    async fn publishing(&self, scope: &Scope) -> PortResult<Vec<MockId>> {
        let mut conn = self.conn("list publishing mocks").await?;
        let rows: Vec<MockIdRow> = Query::new(
            "SELECT p.mock_id
             FROM publications p
             JOIN mocks m ON m.id = p.mock_id
             WHERE p.server_json = $2
               AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))
             ORDER BY p.mock_id",
        )
        .bind(scope_param(scope))
        .bind(server_json(&ServerState::Publishing)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db::<B>("list publishing mocks"))?;
        rows.into_iter().map(MockIdRow::into_domain).collect()
    }

    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication> {
        let mut tx = self.backend().write().await?;
        Self::visible_mock(&mut tx, scope, publication.mock_id, Lock::None).await?;
        let next_version = publication
            .version
            .checked_add(1)
            .ok_or_else(|| PortError::invalid("the publication version is at its maximum"))?;
        Self::store_publication(&mut tx, publication, next_version).await?;
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await?;
        Ok(Publication {
            version: next_version,
            ..publication.clone()
        })
    }
}
