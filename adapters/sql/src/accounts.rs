//! [`AccountRepository`]: users, workspaces and their members.
//!
//! Uniqueness (ids, e-mail addresses, handles) is checked first for a clear message and
//! guarded by the unique indexes against writers racing past the check: their violation is
//! a `Conflict` as well. Writes that read a row and then change what hangs off it (a user's
//! handle, an org's members, an org's deletion) lock that row first where the database
//! locks rows; elsewhere the write transaction holds the whole database.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use moclojer_domain::{
    Email, Event, Handle, MockId, Role, User, UserId, Workspace, WorkspaceId, WorkspaceKind,
};
use moclojer_ports::{AccountRepository, PortError, PortResult, Scope, UserRecord};

use crate::database::{Backend, Conn, SqlDatabase, commit, record, scope_param};
use crate::dialect::Lock;
use crate::error::db;
use crate::model::{MemberRow, UserRow, Value, WorkspaceRow, workspace_kind_columns};
use crate::query::Query;

/// The user with id `$1`.
const USER_BY_ID: &str =
    "SELECT id, email, handle, password_hash, created_at FROM users WHERE id = $1";

/// The user with e-mail address `$1`.
const USER_BY_EMAIL: &str =
    "SELECT id, email, handle, password_hash, created_at FROM users WHERE email = $1";

/// The user with handle `$1`.
const USER_BY_HANDLE: &str =
    "SELECT id, email, handle, password_hash, created_at FROM users WHERE handle = $1";

/// A workspace `$1` sees (NULL: every one), by id (`$2`).
const VISIBLE_WORKSPACE: &str = "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
     FROM workspaces w
     WHERE w.id = $2
       AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
            SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1))";

impl<B: Backend> SqlDatabase<B> {
    /// Whether any user or workspace has `handle`.
    async fn handle_taken(conn: &mut Conn<B>, handle: &Handle) -> PortResult<bool> {
        let taken: Value<bool> = Query::new(
            "SELECT EXISTS (SELECT 1 FROM workspaces WHERE handle = $1)
                 OR EXISTS (SELECT 1 FROM users WHERE handle = $1) AS value",
        )
        .bind(handle.as_str())
        .fetch_one(conn)
        .await
        .map_err(db::<B>("look up a handle"))?;
        Ok(taken.0)
    }

    /// Whether a user has `id`.
    pub(crate) async fn user_exists(conn: &mut Conn<B>, id: UserId) -> PortResult<bool> {
        let found: Value<bool> =
            Query::new("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS value")
                .bind(id.to_string())
                .fetch_one(conn)
                .await
                .map_err(db::<B>("look up a user"))?;
        Ok(found.0)
    }

    async fn workspace_exists(conn: &mut Conn<B>, id: WorkspaceId) -> PortResult<bool> {
        let found: Value<bool> =
            Query::new("SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1) AS value")
                .bind(id.to_string())
                .fetch_one(conn)
                .await
                .map_err(db::<B>("look up a workspace"))?;
        Ok(found.0)
    }

    /// `NotFound` unless every member of `workspace` is a user.
    async fn check_members_exist(conn: &mut Conn<B>, workspace: &Workspace) -> PortResult<()> {
        for member in &workspace.members {
            if !Self::user_exists(conn, member.user_id).await? {
                return Err(PortError::not_found(format!(
                    "user {} not found",
                    member.user_id
                )));
            }
        }
        Ok(())
    }

    /// Replaces the members of `workspace` with its member list, in order.
    async fn store_members(conn: &mut Conn<B>, workspace: &Workspace) -> PortResult<()> {
        let id = workspace.id.to_string();
        Query::new("DELETE FROM members WHERE workspace_id = $1")
            .bind(&id)
            .execute(conn)
            .await
            .map_err(db::<B>("clear the members"))?;
        for (position, member) in (0_i64..).zip(&workspace.members) {
            Query::new(
                "INSERT INTO members (workspace_id, user_id, role, position)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(member.user_id.to_string())
            .bind(member.role.as_str())
            .bind(position)
            .execute(conn)
            .await
            .map_err(db::<B>("store a member"))?;
        }
        Ok(())
    }

    async fn insert_workspace(conn: &mut Conn<B>, workspace: &Workspace) -> PortResult<()> {
        let (kind, owner_id, name) = workspace_kind_columns(workspace);
        Query::new(
            "INSERT INTO workspaces (id, handle, kind, owner_id, name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(workspace.id.to_string())
        .bind(workspace.handle.as_str())
        .bind(kind)
        .bind(owner_id)
        .bind(name)
        .bind(workspace.created_at.unix_millis())
        .execute(conn)
        .await
        .map_err(db::<B>("store the workspace"))?;
        Self::store_members(conn, workspace).await
    }

    async fn load_members(conn: &mut Conn<B>, id: &str) -> PortResult<Vec<MemberRow>> {
        Query::new(
            "SELECT workspace_id, user_id, role FROM members WHERE workspace_id = $1
             ORDER BY position",
        )
        .bind(id)
        .fetch_all(conn)
        .await
        .map_err(db::<B>("load the members"))
    }

    /// The workspace row with `id` if `scope` sees it, locked for the rest of the
    /// transaction when `lock` says so.
    pub(crate) async fn visible_workspace_row(
        conn: &mut Conn<B>,
        scope: &Scope,
        id: WorkspaceId,
        lock: Lock,
    ) -> PortResult<WorkspaceRow> {
        B::DIALECT
            .select(VISIBLE_WORKSPACE, "w", lock)
            .bind(scope_param(scope))
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(db::<B>("load a workspace"))?
            .ok_or_else(|| PortError::not_found(format!("workspace {id} not found")))
    }

    /// The user with `id`'s handle (`None` inside: none chosen yet), locked for the rest
    /// of the transaction.
    async fn locked_user_handle(
        conn: &mut Conn<B>,
        id: UserId,
    ) -> PortResult<Option<Option<String>>> {
        let handle: Option<Value<Option<String>>> = B::DIALECT
            .select(
                "SELECT handle AS value FROM users WHERE id = $1",
                "users",
                Lock::ForUpdate,
            )
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(db::<B>("load a user"))?;
        Ok(handle.map(|value| value.0))
    }

    /// The user `query` finds, if any.
    async fn fetch_user(&self, query: Query, action: &'static str) -> PortResult<Option<UserRow>> {
        let mut conn = self.conn(action).await?;
        query
            .fetch_optional(&mut *conn)
            .await
            .map_err(db::<B>(action))
    }
}

/// `Invalid` unless `workspace` is `user`'s personal workspace, under their handle.
fn check_personal<'a>(user: &'a User, workspace: &Workspace) -> PortResult<&'a Handle> {
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
    if is_theirs {
        Ok(handle)
    } else {
        Err(PortError::invalid(
            "the workspace is not the user's personal workspace",
        ))
    }
}

#[async_trait]
impl<B: Backend> AccountRepository for SqlDatabase<B> {
    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        if Self::user_exists(&mut tx, user.id).await? {
            return Err(PortError::conflict(format!("user {} exists", user.id)));
        }
        let email_taken: Value<bool> =
            Query::new("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1) AS value")
                .bind(user.email.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db::<B>("look up an e-mail address"))?;
        if email_taken.0 {
            return Err(PortError::conflict("the e-mail address is taken"));
        }
        if user.handle.is_some() {
            return Err(PortError::invalid("a new user has no handle yet"));
        }
        Query::new(
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
        .map_err(db::<B>("store the user"))?;
        commit::<B>(tx).await
    }

    async fn get_user(&self, id: UserId) -> PortResult<User> {
        let query = Query::new(USER_BY_ID).bind(id.to_string());
        self.fetch_user(query, "load a user")
            .await?
            .ok_or_else(|| PortError::not_found(format!("user {id} not found")))?
            .into_user()
    }

    async fn find_user_by_email(&self, email: &Email) -> PortResult<UserRecord> {
        let query = Query::new(USER_BY_EMAIL).bind(email.as_str());
        self.fetch_user(query, "find a user by e-mail address")
            .await?
            .ok_or_else(|| PortError::not_found("no user has that e-mail address"))?
            .into_record()
    }

    async fn find_user_by_handle(&self, handle: &Handle) -> PortResult<User> {
        let query = Query::new(USER_BY_HANDLE).bind(handle.as_str());
        self.fetch_user(query, "find a user by handle")
            .await?
            .ok_or_else(|| PortError::not_found(format!("no user has the handle {handle}")))?
            .into_user()
    }

    async fn handle_available(&self, handle: &Handle) -> PortResult<bool> {
        let mut conn = self.conn("look up a handle").await?;
        Ok(!Self::handle_taken(&mut conn, handle).await?)
    }

    async fn create_personal_workspace(
        &self,
        user: &User,
        workspace: &Workspace,
    ) -> PortResult<()> {
        let handle = check_personal(user, workspace)?;
        let mut tx = self.backend().write().await?;
        // Locked: a concurrent call for the same user waits, then sees the handle taken.
        match Self::locked_user_handle(&mut tx, user.id).await? {
            None => return Err(PortError::not_found(format!("user {} not found", user.id))),
            Some(Some(_)) => return Err(PortError::conflict("the user already has a handle")),
            Some(None) => {}
        }
        if Self::handle_taken(&mut tx, handle).await? {
            return Err(PortError::conflict(format!("the handle {handle} is taken")));
        }
        if Self::workspace_exists(&mut tx, workspace.id).await? {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        Query::new("UPDATE users SET handle = $1 WHERE id = $2")
            .bind(handle.as_str())
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db::<B>("store the handle"))?;
        Self::insert_workspace(&mut tx, workspace).await?;
        commit::<B>(tx).await
    }

    async fn create_org(&self, workspace: &Workspace, events: &[Event]) -> PortResult<()> {
        if !workspace.is_org() {
            return Err(PortError::invalid("not an org"));
        }
        let mut tx = self.backend().write().await?;
        if Self::workspace_exists(&mut tx, workspace.id).await? {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        if Self::handle_taken(&mut tx, &workspace.handle).await? {
            return Err(PortError::conflict(format!(
                "the handle {} is taken",
                workspace.handle
            )));
        }
        Self::check_members_exist(&mut tx, workspace).await?;
        Self::insert_workspace(&mut tx, workspace).await?;
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await
    }

    async fn get_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<Workspace> {
        let mut tx = self.backend().read().await?;
        let row = Self::visible_workspace_row(&mut tx, scope, id, Lock::None).await?;
        let members = Self::load_members(&mut tx, &row.id).await?;
        commit::<B>(tx).await?;
        row.into_domain(members)
    }

    async fn find_workspace(&self, scope: &Scope, handle: &Handle) -> PortResult<Workspace> {
        let mut tx = self.backend().read().await?;
        let row: WorkspaceRow = Query::new(
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE w.handle = $2
               AND (CAST($1 AS TEXT) IS NULL OR EXISTS (
                    SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1))",
        )
        .bind(scope_param(scope))
        .bind(handle.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<B>("find a workspace by handle"))?
        .ok_or_else(|| PortError::not_found(format!("workspace {handle} not found")))?;
        let members = Self::load_members(&mut tx, &row.id).await?;
        commit::<B>(tx).await?;
        row.into_domain(members)
    }

    async fn list_workspaces(&self, scope: &Scope) -> PortResult<Vec<Workspace>> {
        let mut tx = self.backend().read().await?;
        let user = scope_param(scope);
        let rows: Vec<WorkspaceRow> = Query::new(
            "SELECT w.id, w.handle, w.kind, w.owner_id, w.name, w.created_at
             FROM workspaces w
             WHERE CAST($1 AS TEXT) IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = w.id AND v.user_id = $1)
             ORDER BY w.kind = 'org', w.handle",
        )
        .bind(user.clone())
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<B>("list workspaces"))?;
        let member_rows: Vec<MemberRow> = Query::new(
            "SELECT m.workspace_id, m.user_id, m.role
             FROM members m
             WHERE CAST($1 AS TEXT) IS NULL OR EXISTS (
                   SELECT 1 FROM members v WHERE v.workspace_id = m.workspace_id AND v.user_id = $1)
             ORDER BY m.workspace_id, m.position",
        )
        .bind(user)
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<B>("list members"))?;
        commit::<B>(tx).await?;
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

    async fn save_workspace(
        &self,
        scope: &Scope,
        workspace: &Workspace,
        read: &Workspace,
    ) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        // Locked: concurrent saves and deletes of this org queue behind each other.
        let stored =
            Self::visible_workspace_row(&mut tx, scope, workspace.id, Lock::ForUpdate).await?;
        let members = Self::load_members(&mut tx, &stored.id).await?;
        if !stored.clone().into_domain(members)?.is_as_read(read) {
            return Err(PortError::conflict(
                "the org changed since it was read; load it again",
            ));
        }
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
        Self::check_members_exist(&mut tx, workspace).await?;
        Query::new("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(workspace.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db::<B>("store the workspace"))?;
        Self::store_members(&mut tx, workspace).await?;
        commit::<B>(tx).await
    }

    async fn delete_org(
        &self,
        scope: &Scope,
        id: WorkspaceId,
        expected_mocks: &[MockId],
        events: &[Event],
    ) -> PortResult<()> {
        let mut tx = self.backend().write().await?;
        // Locked: a mock being created in the org meanwhile holds a key-share lock on this
        // row (its foreign key) until it commits, so it is either seen below or refused.
        let stored = Self::visible_workspace_row(&mut tx, scope, id, Lock::ForUpdate).await?;
        if stored.is_personal() {
            return Err(PortError::invalid(
                "a personal workspace is not deleted this way",
            ));
        }
        let actual: Vec<Value<String>> =
            Query::new("SELECT id AS value FROM mocks WHERE workspace_id = $1")
                .bind(&stored.id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db::<B>("list the org's mocks"))?;
        let actual: BTreeSet<String> = actual.into_iter().map(|id| id.0).collect();
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
            Query::new(statement)
                .bind(&stored.id)
                .execute(&mut *tx)
                .await
                .map_err(db::<B>("delete the org"))?;
        }
        record::<B>(&mut tx, events).await?;
        commit::<B>(tx).await
    }
}
