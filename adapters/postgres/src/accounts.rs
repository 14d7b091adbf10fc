//! [`AccountRepository`] on PostgreSQL: users, workspaces and their members.
//!
//! Uniqueness (ids, e-mail addresses, handles) is checked first for a clear message and
//! guarded by the unique indexes against writers racing past the check: their violation is
//! a `Conflict` as well. Writes that read a row and then change what hangs off it (a user's
//! handle, an org's members, an org's deletion) lock that row first.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use moclojer_domain::{
    Email, Event, Handle, MockId, Role, User, UserId, Workspace, WorkspaceId, WorkspaceKind,
};
use moclojer_ports::{AccountRepository, PortError, PortResult, Scope, UserRecord};
use sqlx::PgConnection;

use crate::database::{Lock, PostgresDatabase, commit, record, scope_param};
use crate::error::db;
use crate::model::{MemberRow, UserRow, WorkspaceRow, workspace_kind_columns};

/// Whether any user or workspace has `handle`.
async fn handle_taken(conn: &mut PgConnection, handle: &Handle) -> PortResult<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workspaces WHERE handle = $1)
             OR EXISTS (SELECT 1 FROM users WHERE handle = $1)",
    )
    .bind(handle.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(db("look up a handle"))
}

async fn user_exists(conn: &mut PgConnection, id: UserId) -> PortResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(db("look up a user"))
}

async fn workspace_exists(conn: &mut PgConnection, id: WorkspaceId) -> PortResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1)")
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(db("look up a workspace"))
}

/// `NotFound` unless every member of `workspace` is a user.
async fn check_members_exist(conn: &mut PgConnection, workspace: &Workspace) -> PortResult<()> {
    for member in &workspace.members {
        if !user_exists(conn, member.user_id).await? {
            return Err(PortError::not_found(format!(
                "user {} not found",
                member.user_id
            )));
        }
    }
    Ok(())
}

/// Replaces the members of `workspace` with its member list, in order.
async fn store_members(conn: &mut PgConnection, workspace: &Workspace) -> PortResult<()> {
    let id = workspace.id.to_string();
    sqlx::query("DELETE FROM members WHERE workspace_id = $1")
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(db("clear the members"))?;
    for (position, member) in (0_i64..).zip(&workspace.members) {
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, role, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(member.user_id.to_string())
        .bind(member.role.as_str())
        .bind(position)
        .execute(&mut *conn)
        .await
        .map_err(db("store a member"))?;
    }
    Ok(())
}

async fn insert_workspace(conn: &mut PgConnection, workspace: &Workspace) -> PortResult<()> {
    let (kind, owner_id, name) = workspace_kind_columns(workspace);
    sqlx::query(
        "INSERT INTO workspaces (id, handle, kind, owner_id, name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(workspace.id.to_string())
    .bind(workspace.handle.as_str())
    .bind(kind)
    .bind(owner_id)
    .bind(name)
    .bind(workspace.created_at.unix_millis())
    .execute(&mut *conn)
    .await
    .map_err(db("store the workspace"))?;
    store_members(conn, workspace).await
}

async fn load_members(conn: &mut PgConnection, id: &str) -> PortResult<Vec<MemberRow>> {
    sqlx::query_as(
        "SELECT workspace_id, user_id, role FROM members WHERE workspace_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("load the members"))
}

/// The workspace row with `id` if `scope` sees it, locked for the rest of the
/// transaction when `lock` says so.
pub(crate) async fn visible_workspace_row(
    conn: &mut PgConnection,
    scope: &Scope,
    id: WorkspaceId,
    lock: Lock,
) -> PortResult<WorkspaceRow> {
    let sql = match lock {
        Lock::None => {
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE w.id = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1))"
        }
        Lock::ForUpdate => {
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE w.id = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1))
             FOR UPDATE OF w"
        }
    };
    sqlx::query_as(sql)
        .bind(scope_param(scope))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("load a workspace"))?
        .ok_or_else(|| PortError::not_found(format!("workspace {id} not found")))
}

#[async_trait]
impl AccountRepository for PostgresDatabase {
    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> PortResult<()> {
        let mut tx = self.write().await?;
        if user_exists(&mut tx, user.id).await? {
            return Err(PortError::conflict(format!("user {} exists", user.id)));
        }
        let email_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)")
                .bind(user.email.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("look up an e-mail address"))?;
        if email_taken {
            return Err(PortError::conflict("the e-mail address is taken"));
        }
        if user.handle.is_some() {
            return Err(PortError::invalid("a new user has no handle yet"));
        }
        sqlx::query(
            "INSERT INTO users (id, email, handle, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.handle.as_ref().map(Handle::as_str))
        .bind(password_hash)
        .bind(user.created_at.unix_millis())
        .execute(&mut *tx)
        .await
        .map_err(db("store the user"))?;
        commit(tx).await
    }

    async fn get_user(&self, id: UserId) -> PortResult<User> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, handle, password_hash, created_at FROM users WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db("load a user"))?;
        row.ok_or_else(|| PortError::not_found(format!("user {id} not found")))?
            .into_user()
    }

    async fn find_user_by_email(&self, email: &Email) -> PortResult<UserRecord> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, handle, password_hash, created_at FROM users WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db("find a user by e-mail address"))?;
        row.ok_or_else(|| PortError::not_found("no user has that e-mail address"))?
            .into_record()
    }

    async fn find_user_by_handle(&self, handle: &Handle) -> PortResult<User> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, handle, password_hash, created_at FROM users WHERE handle = $1",
        )
        .bind(handle.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db("find a user by handle"))?;
        row.ok_or_else(|| PortError::not_found(format!("no user has the handle {handle}")))?
            .into_user()
    }

    async fn handle_available(&self, handle: &Handle) -> PortResult<bool> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(db("look up a handle"))?;
        Ok(!handle_taken(&mut conn, handle).await?)
    }

    async fn create_personal_workspace(
        &self,
        user: &User,
        workspace: &Workspace,
    ) -> PortResult<()> {
        let handle = user
            .handle
            .as_ref()
            .ok_or_else(|| PortError::invalid("the user has no handle"))?;
        let only_owner = matches!(
            workspace.members.as_slice(),
            [member] if member.user_id == user.id && member.role == Role::Owner
        );
        let is_theirs = workspace.handle == *handle
            && workspace.kind == WorkspaceKind::Personal { owner: user.id }
            && only_owner;
        if !is_theirs {
            return Err(PortError::invalid(
                "the workspace is not the user's personal workspace",
            ));
        }
        let mut tx = self.write().await?;
        // Locked: a concurrent call for the same user waits, then sees the handle taken.
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT handle FROM users WHERE id = $1 FOR UPDATE")
                .bind(user.id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("load a user"))?;
        match stored {
            None => return Err(PortError::not_found(format!("user {} not found", user.id))),
            Some(Some(_)) => return Err(PortError::conflict("the user already has a handle")),
            Some(None) => {}
        }
        if handle_taken(&mut tx, handle).await? {
            return Err(PortError::conflict(format!("the handle {handle} is taken")));
        }
        if workspace_exists(&mut tx, workspace.id).await? {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        sqlx::query("UPDATE users SET handle = $1 WHERE id = $2")
            .bind(handle.as_str())
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db("store the handle"))?;
        insert_workspace(&mut tx, workspace).await?;
        commit(tx).await
    }

    async fn create_org(&self, workspace: &Workspace, events: &[Event]) -> PortResult<()> {
        if !workspace.is_org() {
            return Err(PortError::invalid("not an org"));
        }
        let mut tx = self.write().await?;
        if workspace_exists(&mut tx, workspace.id).await? {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        if handle_taken(&mut tx, &workspace.handle).await? {
            return Err(PortError::conflict(format!(
                "the handle {} is taken",
                workspace.handle
            )));
        }
        check_members_exist(&mut tx, workspace).await?;
        insert_workspace(&mut tx, workspace).await?;
        record(&mut tx, events).await?;
        commit(tx).await
    }

    async fn get_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<Workspace> {
        let mut tx = self.read().await?;
        let row = visible_workspace_row(&mut tx, scope, id, Lock::None).await?;
        let members = load_members(&mut tx, &row.id).await?;
        commit(tx).await?;
        row.into_domain(members)
    }

    async fn find_workspace(&self, scope: &Scope, handle: &Handle) -> PortResult<Workspace> {
        let mut tx = self.read().await?;
        let row: WorkspaceRow = sqlx::query_as(
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE w.handle = $2
               AND ($1::text IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(handle.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("find a workspace by handle"))?
        .ok_or_else(|| PortError::not_found(format!("workspace {handle} not found")))?;
        let members = load_members(&mut tx, &row.id).await?;
        commit(tx).await?;
        row.into_domain(members)
    }

    async fn list_workspaces(&self, scope: &Scope) -> PortResult<Vec<Workspace>> {
        let mut tx = self.read().await?;
        let user = scope_param(scope);
        let rows: Vec<WorkspaceRow> = sqlx::query_as(
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE $1::text IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1)
             ORDER BY w.kind = 'org', w.handle",
        )
        .bind(&user)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("list workspaces"))?;
        let member_rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.workspace_id, m.user_id, m.role
             FROM members m
             WHERE $1::text IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY m.workspace_id, m.position",
        )
        .bind(&user)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("list members"))?;
        commit(tx).await?;
        let mut members: HashMap<String, Vec<MemberRow>> = HashMap::new();
        for member in member_rows {
            members
                .entry(member.workspace_id.clone())
                .or_default()
                .push(member);
        }
        rows.into_iter()
            .map(|row| {
                let its_members = members.remove(&row.id).unwrap_or_default();
                row.into_domain(its_members)
            })
            .collect()
    }

    async fn save_workspace(&self, scope: &Scope, workspace: &Workspace) -> PortResult<()> {
        let mut tx = self.write().await?;
        // Locked: concurrent saves and deletes of this org queue behind each other.
        let stored = visible_workspace_row(&mut tx, scope, workspace.id, Lock::ForUpdate).await?;
        let WorkspaceKind::Org { name } = &workspace.kind else {
            return Err(PortError::invalid("only an org's name and members change"));
        };
        if stored.is_personal() {
            return Err(PortError::invalid("only an org's name and members change"));
        }
        if stored.handle() != workspace.handle.as_str() {
            return Err(PortError::invalid("a workspace's handle does not change"));
        }
        if !workspace.members.iter().any(|m| m.role == Role::Owner) {
            return Err(PortError::invalid("an org keeps at least one owner"));
        }
        check_members_exist(&mut tx, workspace).await?;
        sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(workspace.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db("store the workspace"))?;
        store_members(&mut tx, workspace).await?;
        commit(tx).await
    }

    async fn delete_org(
        &self,
        scope: &Scope,
        id: WorkspaceId,
        expected_mocks: &[MockId],
        events: &[Event],
    ) -> PortResult<()> {
        let mut tx = self.write().await?;
        // Locked: a mock being created in the org meanwhile holds a key-share lock on this
        // row (its foreign key) until it commits, so it is either seen below or refused.
        let stored = visible_workspace_row(&mut tx, scope, id, Lock::ForUpdate).await?;
        if stored.is_personal() {
            return Err(PortError::invalid(
                "a personal workspace is not deleted this way",
            ));
        }
        let actual: Vec<String> =
            sqlx::query_scalar("SELECT id FROM mocks WHERE workspace_id = $1")
                .bind(&stored.id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("list the org's mocks"))?;
        let actual: BTreeSet<String> = actual.into_iter().collect();
        let expected: BTreeSet<String> = expected_mocks.iter().map(MockId::to_string).collect();
        if actual != expected {
            return Err(PortError::conflict(
                "the org's mocks changed; load them again",
            ));
        }
        let deletes = [
            "DELETE FROM publications WHERE mock_id IN (SELECT id FROM mocks WHERE workspace_id = $1)",
            "DELETE FROM mock_revisions WHERE mock_id IN (SELECT id FROM mocks WHERE workspace_id = $1)",
            "DELETE FROM mocks WHERE workspace_id = $1",
            "DELETE FROM members WHERE workspace_id = $1",
            "DELETE FROM workspaces WHERE id = $1",
        ];
        for statement in deletes {
            sqlx::query(statement)
                .bind(&stored.id)
                .execute(&mut *tx)
                .await
                .map_err(db("delete the org"))?;
        }
        record(&mut tx, events).await?;
        commit(tx).await
    }
}
