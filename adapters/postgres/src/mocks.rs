//! [`MockRepository`] on PostgreSQL: mocks, their revisions, and their first publication.
//!
//! A taken id or host is checked first for a clear message and guarded by the unique
//! indexes against a racing writer (`Conflict` either way). An update's revision check is
//! part of its `UPDATE`, so of two updates made on the same revision exactly one wins; a
//! delete locks the mock's row first, so two deletes cannot both report the mock.

use async_trait::async_trait;
use moclojer_domain::{
    Event, Host, Mock, MockId, MockRevision, MockSummary, Publication, Revision, WorkspaceId,
};
use moclojer_ports::{MockRepository, PortError, PortResult, Scope};
use sqlx::PgConnection;

use crate::accounts::visible_workspace_row;
use crate::database::{Lock, PostgresDatabase, commit, record, scope_param};
use crate::error::db;
use crate::model::{MockRow, PublicationColumns, RevisionRow, revision_to_sql, version_to_sql};

/// The mock with `id` if `scope` sees its workspace, locked for the rest of the
/// transaction when `lock` says so.
pub(crate) async fn visible_mock(
    conn: &mut PgConnection,
    scope: &Scope,
    id: MockId,
    lock: Lock,
) -> PortResult<Mock> {
    let sql = match lock {
        Lock::None => {
            "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE m.id = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v
                    WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))"
        }
        Lock::ForUpdate => {
            "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE m.id = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v
                    WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))
             FOR UPDATE OF m"
        }
    };
    let row: Option<MockRow> = sqlx::query_as(sql)
        .bind(scope_param(scope))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("load a mock"))?;
    row.ok_or_else(|| PortError::not_found(format!("mock {id} not found")))?
        .into_domain()
}

async fn insert_revision(conn: &mut PgConnection, revision: &MockRevision) -> PortResult<()> {
    sqlx::query(
        "INSERT INTO mock_revisions (mock_id, revision, content, created_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(revision.mock_id.to_string())
    .bind(revision_to_sql(revision.revision)?)
    .bind(revision.content.as_str())
    .bind(revision.created_at.unix_millis())
    .execute(&mut *conn)
    .await
    .map_err(db("store a revision"))?;
    Ok(())
}

async fn insert_publication(conn: &mut PgConnection, publication: &Publication) -> PortResult<()> {
    let columns = PublicationColumns::of(publication)?;
    sqlx::query(
        "INSERT INTO publications
             (mock_id, server_json, dns_json, requested_revision, live_revision, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(publication.mock_id.to_string())
    .bind(columns.server_json)
    .bind(columns.dns_json)
    .bind(columns.requested_revision)
    .bind(columns.live_revision)
    .bind(version_to_sql(publication.version)?)
    .bind(publication.updated_at.unix_millis())
    .execute(&mut *conn)
    .await
    .map_err(db("store the publication"))?;
    Ok(())
}

fn into_mocks(rows: Vec<MockRow>) -> PortResult<Vec<Mock>> {
    rows.into_iter().map(MockRow::into_domain).collect()
}

#[async_trait]
impl MockRepository for PostgresDatabase {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        let mut tx = self.write().await?;
        let workspace =
            visible_workspace_row(&mut tx, scope, mock.workspace_id, Lock::None).await?;
        if workspace.handle != mock.host.handle().as_str() {
            return Err(PortError::invalid(
                "the host is not under the workspace's handle",
            ));
        }
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM mocks WHERE id = $1 OR host = $2 LIMIT 1")
                .bind(mock.id.to_string())
                .bind(mock.host.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("look up a mock"))?;
        if let Some(taken) = taken {
            return Err(if taken == mock.id.to_string() {
                PortError::conflict(format!("mock {} exists", mock.id))
            } else {
                PortError::conflict(format!("the host {} is taken", mock.host))
            });
        }
        sqlx::query(
            "INSERT INTO mocks
                 (id, workspace_id, name, host, content, enabled, revision, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(mock.id.to_string())
        .bind(mock.workspace_id.to_string())
        .bind(mock.name.as_str())
        .bind(mock.host.as_str())
        .bind(mock.content.as_str())
        .bind(mock.enabled)
        .bind(revision_to_sql(mock.revision)?)
        .bind(mock.created_at.unix_millis())
        .bind(mock.updated_at.unix_millis())
        .execute(&mut *tx)
        .await
        .map_err(db("store the mock"))?;
        insert_revision(&mut tx, &mock.current_revision()).await?;
        insert_publication(&mut tx, &Publication::new(mock.id, mock.created_at)).await?;
        record(&mut tx, events).await?;
        commit(tx).await
    }

    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        let mut conn = self.pool().acquire().await.map_err(db("load a mock"))?;
        visible_mock(&mut conn, scope, id, Lock::None).await
    }

    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        let row: Option<MockRow> = sqlx::query_as(
            "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE m.host = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(host.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db("find a mock by host"))?;
        row.ok_or_else(|| PortError::not_found(format!("no mock at {host}")))?
            .into_domain()
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        let rows: Vec<MockRow> = sqlx::query_as(
            "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE $1::text IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY m.host",
        )
        .bind(scope_param(scope))
        .fetch_all(self.pool())
        .await
        .map_err(db("list mocks"))?;
        into_mocks(rows)
    }

    async fn list_summaries(&self, scope: &Scope) -> PortResult<Vec<MockSummary>> {
        let rows: Vec<MockRow> = sqlx::query_as(
            "SELECT m.id, m.workspace_id, m.name, m.host, '' AS content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE $1::text IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY m.host",
        )
        .bind(scope_param(scope))
        .fetch_all(self.pool())
        .await
        .map_err(db("list mocks"))?;
        // the content is not read: `''` stands in for it and is dropped here
        Ok(into_mocks(rows)?.iter().map(MockSummary::from).collect())
    }

    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        let mut tx = self.read().await?;
        visible_workspace_row(&mut tx, scope, workspace, Lock::None).await?;
        let rows: Vec<MockRow> = sqlx::query_as(
            "SELECT id, workspace_id, name, host, content, enabled, revision, created_at, updated_at
             FROM mocks
             WHERE workspace_id = $1
             ORDER BY host",
        )
        .bind(workspace.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db("list a workspace's mocks"))?;
        commit(tx).await?;
        into_mocks(rows)
    }

    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        let mut tx = self.write().await?;
        let stored = visible_mock(&mut tx, scope, mock.id, Lock::None).await?;
        if stored.revision != expected_revision {
            return Err(PortError::conflict(format!(
                "the mock is at revision {}, not {expected_revision}",
                stored.revision
            )));
        }
        if mock.revision != expected_revision && mock.revision != expected_revision.next() {
            return Err(PortError::invalid("the revision moves by one at most"));
        }
        if stored.name != mock.name
            || stored.host != mock.host
            || stored.workspace_id != mock.workspace_id
        {
            return Err(PortError::invalid(
                "a mock's name, host and workspace do not change",
            ));
        }
        let updated = sqlx::query(
            "UPDATE mocks SET content = $1, enabled = $2, revision = $3, updated_at = $4
             WHERE id = $5 AND revision = $6",
        )
        .bind(mock.content.as_str())
        .bind(mock.enabled)
        .bind(revision_to_sql(mock.revision)?)
        .bind(mock.updated_at.unix_millis())
        .bind(mock.id.to_string())
        .bind(revision_to_sql(expected_revision)?)
        .execute(&mut *tx)
        .await
        .map_err(db("store the mock"))?;
        if updated.rows_affected() != 1 {
            // Another write got there between the read above and this update.
            let now_at: Option<i64> =
                sqlx::query_scalar("SELECT revision FROM mocks WHERE id = $1")
                    .bind(mock.id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("load the mock's revision"))?;
            return Err(match now_at {
                Some(_) => PortError::conflict(format!(
                    "the mock is no longer at revision {expected_revision}"
                )),
                None => PortError::not_found(format!("mock {} not found", mock.id)),
            });
        }
        if mock.revision != expected_revision {
            insert_revision(&mut tx, &mock.current_revision()).await?;
        }
        record(&mut tx, events).await?;
        commit(tx).await
    }

    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        let mut tx = self.write().await?;
        let mock = visible_mock(&mut tx, scope, id, Lock::ForUpdate).await?;
        let deletes = [
            "DELETE FROM publications WHERE mock_id = $1",
            "DELETE FROM mock_revisions WHERE mock_id = $1",
            "DELETE FROM mocks WHERE id = $1",
        ];
        for statement in deletes {
            sqlx::query(statement)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db("delete the mock"))?;
        }
        record(&mut tx, events).await?;
        commit(tx).await?;
        Ok(mock)
    }

    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        let mut tx = self.read().await?;
        visible_mock(&mut tx, scope, id, Lock::None).await?;
        let rows: Vec<RevisionRow> = sqlx::query_as(
            "SELECT mock_id, revision, content, created_at FROM mock_revisions
             WHERE mock_id = $1 ORDER BY revision DESC",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db("list a mock's revisions"))?;
        commit(tx).await?;
        rows.into_iter().map(RevisionRow::into_domain).collect()
    }

    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        let missing = || PortError::not_found(format!("mock {id} has no revision {revision}"));
        let mut tx = self.read().await?;
        visible_mock(&mut tx, scope, id, Lock::None).await?;
        // A revision beyond what the schema stores was never written.
        let number = revision_to_sql(revision).map_err(|_| missing())?;
        let row: Option<RevisionRow> = sqlx::query_as(
            "SELECT mock_id, revision, content, created_at FROM mock_revisions
             WHERE mock_id = $1 AND revision = $2",
        )
        .bind(id.to_string())
        .bind(number)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("load a revision"))?;
        commit(tx).await?;
        row.ok_or_else(missing)?.into_domain()
    }
}
