//! [`MockRepository`]: mocks, their revisions, and their first publication.
//!
//! A taken id or host is checked first for a clear message and guarded by the unique
//! indexes against a racing writer (`Conflict` either way). An update's revision check is
//! part of its `UPDATE`, so of two updates made on the same revision exactly one wins; a
//! delete locks the mock's row first (where the database locks rows), so two deletes
//! cannot both report the mock.
//!
//! An update that adds a revision cuts the mock's history in its own transaction: one
//! `DELETE` of the revisions older than the newest [`KeepRevisions`], guarded by the
//! publication's live and requested revisions. A history page reads no content.

use async_trait::async_trait;
use moclojer_domain::{
    Event, Host, Mock, MockId, MockRevision, MockSummary, Publication, Revision, WorkspaceId,
};
use moclojer_ports::{
    KeepRevisions, MockRepository, PortError, PortResult, RevisionPage, RevisionQuery, Scope,
};

use crate::database::{Backend, Conn, SqlDatabase, commit, record, scope_param};
use crate::dialect::Lock;
use crate::error::db;
use crate::model::{
    MockRow, PublicationColumns, RevisionRow, RevisionSummaryRow, Value, revision_to_sql,
    version_to_sql,
};
use crate::query::Query;

/// A mock whose workspace `$1` sees (NULL: every one), by id (`$2`).
const VISIBLE_MOCK: &str =
    "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
            m.created_at, m.updated_at
     FROM mocks m
     WHERE m.id = $2
       AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
            SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))";

/// Every mock whose workspace `$1` sees (NULL: every one), by host; `content` is what
/// stands in the content column (`m.content`, or `''` where it is not read).
fn visible_mocks(content: &str) -> Query {
    Query::assembled(format!(
        "SELECT m.id, m.workspace_id, m.name, m.host, {content} AS content, m.enabled,
                m.revision, m.created_at, m.updated_at
         FROM mocks m
         WHERE CAST($1 AS TEXT) IS NULL OR EXISTS (
               SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
         ORDER BY m.host"
    ))
}

impl<B: Backend> SqlDatabase<B> {
    /// The mock with `id` if `scope` sees its workspace, locked for the rest of the
    /// transaction when `lock` says so.
    pub(crate) async fn visible_mock(
        conn: &mut Conn<B>,
        scope: &Scope,
        id: MockId,
        lock: Lock,
    ) -> PortResult<Mock> {
        let row: Option<MockRow> = B::DIALECT
            .select(VISIBLE_MOCK, "m", lock)
            .bind(scope_param(scope))
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(db::<B>("load a mock"))?;
        row.ok_or_else(|| PortError::not_found(format!("mock {id} not found")))?
            .into_domain()
    }

    async fn insert_revision(conn: &mut Conn<B>, revision: &MockRevision) -> PortResult<()> {
        Query::new(
            "INSERT INTO mock_revisions (mock_id, revision, content, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(revision.mock_id.to_string())
        .bind(revision_to_sql(revision.revision)?)
        .bind(revision.content.as_str())
        .bind(revision.created_at.unix_millis())
        .execute(conn)
        .await
        .map_err(db::<B>("store a revision"))
    }

    /// Drops the revisions of mock `id` older than the newest `keep` (it is at `current`),
    /// but its publication's live revision and the one being published. The publication
    /// is read by the same statement, so a revision it names as the statement runs stays
    /// (`NOT EXISTS`, not `NOT IN`: a NULL revision there must not protect everything).
    async fn prune_revisions(
        conn: &mut Conn<B>,
        id: MockId,
        current: Revision,
        keep: KeepRevisions,
    ) -> PortResult<()> {
        let Some(newest_dropped) = keep.newest_dropped(current) else {
            return Ok(());
        };
        Query::new(
            "DELETE FROM mock_revisions
             WHERE mock_id = $1 AND revision <= $2
               AND NOT EXISTS (
                   SELECT 1 FROM publications p
                   WHERE p.mock_id = $1
                     AND (p.live_revision = mock_revisions.revision
                          OR p.requested_revision = mock_revisions.revision))",
        )
        .bind(id.to_string())
        .bind(revision_to_sql(newest_dropped)?)
        .execute(conn)
        .await
        .map_err(db::<B>("drop old revisions"))
    }

    async fn insert_publication(conn: &mut Conn<B>, publication: &Publication) -> PortResult<()> {
        let columns = PublicationColumns::of(publication)?;
        Query::new(
            "INSERT INTO publications
                 (mock_id, server_json, dns_json, requested_revision, live_revision, version,
                  updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(publication.mock_id.to_string())
        .bind(columns.server_json)
        .bind(columns.dns_json)
        .bind(columns.requested_revision)
        .bind(columns.live_revision)
        .bind(version_to_sql(publication.version)?)
        .bind(publication.updated_at.unix_millis())
        .execute(conn)
        .await
        .map_err(db::<B>("store the publication"))
    }

    /// `Conflict` when a mock has `mock`'s id or host.
    async fn check_mock_free(conn: &mut Conn<B>, mock: &Mock) -> PortResult<()> {
        let taken: Option<Value<String>> =
            Query::new("SELECT id AS value FROM mocks WHERE id = $1 OR host = $2 LIMIT 1")
                .bind(mock.id.to_string())
                .bind(mock.host.as_str())
                .fetch_optional(conn)
                .await
                .map_err(db::<B>("look up a mock"))?;
        match taken {
            Some(taken) if taken.0 == mock.id.to_string() => {
                Err(PortError::conflict(format!("mock {} exists", mock.id)))
            }
            Some(_) => Err(PortError::conflict(format!(
                "the host {} is taken",
                mock.host
            ))),
            None => Ok(()),
        }
    }

    /// Every mock `scope` sees, by host, from `query` ([`visible_mocks`]).
    async fn fetch_mocks(&self, query: Query, scope: &Scope) -> PortResult<Vec<Mock>> {
        let mut conn = self.conn("list mocks").await?;
        let rows: Vec<MockRow> = query
            .bind(scope_param(scope))
            .fetch_all(&mut *conn)
            .await
            .map_err(db::<B>("list mocks"))?;
        rows.into_iter().map(MockRow::into_domain).collect()
    }

    /// Stores `mock`'s content, state and revision if it is still at `expected`.
    async fn store_update(conn: &mut Conn<B>, mock: &Mock, expected: Revision) -> PortResult<()> {
        let updated: Option<Value<String>> = Query::new(
            "UPDATE mocks SET content = $1, enabled = $2, revision = $3, updated_at = $4
             WHERE id = $5 AND revision = $6
             RETURNING id AS value",
        )
        .bind(mock.content.as_str())
        .bind(mock.enabled)
        .bind(revision_to_sql(mock.revision)?)
        .bind(mock.updated_at.unix_millis())
        .bind(mock.id.to_string())
        .bind(revision_to_sql(expected)?)
        .fetch_optional(conn)
        .await
        .map_err(db::<B>("store the mock"))?;
        if updated.is_some() {
            return Ok(());
        }
        // Another write got there between the caller's read and this update.
        let now_at: Option<Value<i64>> =
            Query::new("SELECT revision AS value FROM mocks WHERE id = $1")
                .bind(mock.id.to_string())
                .fetch_optional(conn)
                .await
                .map_err(db::<B>("load the mock's revision"))?;
        Err(match now_at {
            Some(_) => PortError::conflict(format!("the mock is no longer at revision {expected}")),
            None => PortError::not_found(format!("mock {} not found", mock.id)),
        })
    }
}

/// `Invalid` unless `mock` is a valid next state of `stored`, which is at `expected`.
fn check_update(stored: &Mock, mock: &Mock, expected: Revision) -> PortResult<()> {
    if stored.revision != expected {
        return Err(PortError::conflict(format!(
            "the mock is at revision {}, not {expected}",
            stored.revision
        )));
    }
    if mock.revision != expected && mock.revision != expected.next() {
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
    Ok(())
}

#[async_trait]
impl<B: Backend> MockRepository for SqlDatabase<B> {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        let workspace =
            Self::visible_workspace_row(&mut tx, scope, mock.workspace_id, Lock::None).await?;
        if workspace.handle() != mock.host.handle().as_str() {
            return Err(PortError::invalid(
                "the host is not under the workspace's handle",
            ));
        }
        Self::check_mock_free(&mut tx, mock).await?;
        Query::new(
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
        .map_err(db::<B>("store the mock"))?;
        Self::insert_revision(&mut tx, &mock.current_revision()).await?;
        Self::insert_publication(&mut tx, &Publication::new(mock.id, mock.created_at)).await?;
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await
    }

    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        let mut conn = self.conn("load a mock").await?;
        Self::visible_mock(&mut conn, scope, id, Lock::None).await
    }

    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        let mut conn = self.conn("find a mock by host").await?;
        let row: Option<MockRow> = Query::new(
            "SELECT m.id, m.workspace_id, m.name, m.host, m.content, m.enabled, m.revision,
                    m.created_at, m.updated_at
             FROM mocks m
             WHERE m.host = $2
               AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(host.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db::<B>("find a mock by host"))?;
        row.ok_or_else(|| PortError::not_found(format!("no mock at {host}")))?
            .into_domain()
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        self.fetch_mocks(visible_mocks("m.content"), scope).await
    }

    async fn list_summaries(&self, scope: &Scope) -> PortResult<Vec<MockSummary>> {
        // the content is not read: `''` stands in for it and is dropped here
        let mocks = self.fetch_mocks(visible_mocks("''"), scope).await?;
        Ok(mocks.iter().map(MockSummary::from).collect())
    }

    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        let mut tx = self.backend().read().await?;
        Self::visible_workspace_row(&mut tx, scope, workspace, Lock::None).await?;
        let rows: Vec<MockRow> = Query::new(
            "SELECT id, workspace_id, name, host, content, enabled, revision, created_at, updated_at
             FROM mocks
             WHERE workspace_id = $1
             ORDER BY host",
        )
        .bind(workspace.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<B>("list a workspace's mocks"))?;
        commit::<B>(tx).await?;
        rows.into_iter().map(MockRow::into_domain).collect()
    }

    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        self.update_keeping(
            scope,
            mock,
            expected_revision,
            events,
            KeepRevisions::DEFAULT,
        )
        .await
    }

    async fn update_keeping(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
        keep: KeepRevisions,
    ) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        let stored = Self::visible_mock(&mut tx, scope, mock.id, Lock::None).await?;
        check_update(&stored, mock, expected_revision)?;
        Self::store_update(&mut tx, mock, expected_revision).await?;
        if mock.revision != expected_revision {
            Self::insert_revision(&mut tx, &mock.current_revision()).await?;
            Self::prune_revisions(&mut tx, mock.id, mock.revision, keep).await?;
        }
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await
    }

    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        let mut tx = self.backend().write().await?;
        let mock = Self::visible_mock(&mut tx, scope, id, Lock::ForUpdate).await?;
        let deletes = [
            "DELETE FROM publications WHERE mock_id = $1",
            "DELETE FROM mock_revisions WHERE mock_id = $1",
            "DELETE FROM mocks WHERE id = $1",
        ];
        for statement in deletes {
            Query::new(statement)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db::<B>("delete the mock"))?;
        }
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await?;
        Ok(mock)
    }

    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        let mut tx = self.backend().read().await?;
        Self::visible_mock(&mut tx, scope, id, Lock::None).await?;
        let rows: Vec<RevisionRow> = Query::new(
            "SELECT mock_id, revision, content, created_at FROM mock_revisions
             WHERE mock_id = $1 ORDER BY revision DESC",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<B>("list a mock's revisions"))?;
        commit::<B>(tx).await?;
        rows.into_iter().map(RevisionRow::into_domain).collect()
    }

    async fn revision_page(
        &self,
        scope: &Scope,
        id: MockId,
        query: &RevisionQuery,
    ) -> PortResult<RevisionPage> {
        let limit = query.capped_limit();
        // A cursor beyond what the schema stores is past every stored revision.
        let before = match query.before {
            Some(before) => revision_to_sql(before).unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        let mut tx = self.backend().read().await?;
        Self::visible_mock(&mut tx, scope, id, Lock::None).await?;
        // One row more than the page tells whether there is a next one.
        let rows: Vec<RevisionSummaryRow> = Query::new(
            "SELECT mock_id, revision, created_at FROM mock_revisions
             WHERE mock_id = $1 AND revision < $2
             ORDER BY revision DESC
             LIMIT $3",
        )
        .bind(id.to_string())
        .bind(before)
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<B>("list a mock's revisions"))?;
        commit::<B>(tx).await?;
        let summaries = rows
            .into_iter()
            .map(RevisionSummaryRow::into_summary)
            .collect::<PortResult<Vec<_>>>()?;
        Ok(RevisionPage::of(summaries, query))
    }

    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        let missing = || PortError::not_found(format!("mock {id} has no revision {revision}"));
        let mut tx = self.backend().read().await?;
        Self::visible_mock(&mut tx, scope, id, Lock::None).await?;
        // A revision beyond what the schema stores was never written.
        let number = revision_to_sql(revision).map_err(|_| missing())?;
        let row: Option<RevisionRow> = Query::new(
            "SELECT mock_id, revision, content, created_at FROM mock_revisions
             WHERE mock_id = $1 AND revision = $2",
        )
        .bind(id.to_string())
        .bind(number)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<B>("load a revision"))?;
        commit::<B>(tx).await?;
        row.ok_or_else(missing)?.into_domain()
    }

    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>> {
        // A revision beyond what the schema stores was never written.
        let wanted: Vec<(String, i64)> = wanted
            .iter()
            .filter_map(|(id, revision)| Some((id.to_string(), revision_to_sql(*revision).ok()?)))
            .collect();
        let mut found = Vec::with_capacity(wanted.len());
        if wanted.is_empty() {
            return Ok(found);
        }
        let mut conn = self.conn("load revisions").await?;
        for chunk in wanted.chunks(REVISIONS_PER_QUERY) {
            let mut query = revisions_named(chunk.len()).bind(scope_param(scope));
            for (id, revision) in chunk {
                query = query.bind(id.as_str()).bind(*revision);
            }
            let rows: Vec<RevisionRow> = query
                .fetch_all(&mut *conn)
                .await
                .map_err(db::<B>("load revisions"))?;
            for row in rows {
                found.push(row.into_domain()?);
            }
        }
        Ok(found)
    }
}

/// How many revisions one query of [`MockRepository::revisions_at`] names: two parameters
/// each, well inside every database's limit on parameters.
const REVISIONS_PER_QUERY: usize = 500;

/// The revisions named by `count` pairs of parameters (`$2, $3`, `$4, $5`, ...: mock id
/// and revision) whose mock's workspace `$1` sees (NULL: every one).
fn revisions_named(count: usize) -> Query {
    let pairs: Vec<String> = (0..count)
        .map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3))
        .collect();
    Query::assembled(format!(
        "SELECT r.mock_id, r.revision, r.content, r.created_at
         FROM mock_revisions r
         JOIN mocks m ON m.id = r.mock_id
         WHERE (r.mock_id, r.revision) IN (VALUES {})
           AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1))",
        pairs.join(", ")
    ))
}
