//! Users and workspaces.

use std::fmt::Debug;

use async_trait::async_trait;
use moclojer_domain::{Email, Event, Handle, MockId, User, UserId, Workspace, WorkspaceId};

use crate::{PortResult, Scope};

/// A user with the hash of their password, for local sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// The password hash (a PHC string), when the account signs in with a password.
    pub password_hash: Option<String>,
}

/// Users, their handles, and workspaces with their members.
///
/// Handles of users and orgs share one namespace: no two workspaces have the same handle.
#[async_trait]
pub trait AccountRepository: Debug + Send + Sync + 'static {
    /// Stores a new user, without a handle: the handle comes with the personal workspace
    /// ([`Self::create_personal_workspace`]).
    ///
    /// # Errors
    /// `Conflict` when the e-mail address or the id is taken; `Invalid` when the user
    /// already has a handle.
    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> PortResult<()>;

    /// The user with `id`.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn get_user(&self, id: UserId) -> PortResult<User>;

    /// The user signing in with `email`, with their password hash.
    ///
    /// # Errors
    /// `NotFound` when no user has that address.
    async fn find_user_by_email(&self, email: &Email) -> PortResult<UserRecord>;

    /// The user whose personal handle is `handle`.
    ///
    /// # Errors
    /// `NotFound` when no user has that handle (an org's handle is not a user's).
    async fn find_user_by_handle(&self, handle: &Handle) -> PortResult<User>;

    /// Whether no user or org has `handle`.
    async fn handle_available(&self, handle: &Handle) -> PortResult<bool>;

    /// Records `workspace` as the personal workspace of `user`, whose handle must be set
    /// (see `User::choose_handle`), in one step: the handle and the workspace appear together
    /// or not at all.
    ///
    /// # Errors
    /// `NotFound` when the user does not exist; `Conflict` when the handle is taken by
    /// another user or an org, or the user already has a handle; `Invalid` when the
    /// workspace is not `user`'s personal workspace under the user's handle.
    async fn create_personal_workspace(&self, user: &User, workspace: &Workspace)
    -> PortResult<()>;

    /// Stores a new org with its members.
    ///
    /// # Errors
    /// `Conflict` when the handle or id is taken; `Invalid` when `workspace` is not an org;
    /// `NotFound` when a member is not a user.
    async fn create_org(&self, workspace: &Workspace, events: &[Event]) -> PortResult<()>;

    /// The workspace with `id`, if `scope` sees it.
    ///
    /// # Errors
    /// `NotFound` when there is none or `scope` is not a member.
    async fn get_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<Workspace>;

    /// The workspace with `handle`, if `scope` sees it.
    ///
    /// # Errors
    /// `NotFound` when there is none or `scope` is not a member.
    async fn find_workspace(&self, scope: &Scope, handle: &Handle) -> PortResult<Workspace>;

    /// Every workspace `scope` sees, the personal one first, then by handle.
    async fn list_workspaces(&self, scope: &Scope) -> PortResult<Vec<Workspace>>;

    /// Stores an org's new name and member list (decided by the domain's rules on
    /// `read`, the org as the caller read it), only if the stored org is still `read`
    /// ([`Workspace::is_as_read`]): a change decided on a stale read (an owner demoted
    /// meanwhile writing their role back) is refused.
    ///
    /// # Errors
    /// `NotFound` when the workspace does not exist or `scope` is not a member;
    /// `Conflict` when the stored org is no longer `read` (nothing is written);
    /// `Invalid` when it is personal, or the members have no owner, or its handle differs
    /// from the stored one; `NotFound` when a new member is not a user.
    ///
    /// [`Workspace::is_as_read`]: moclojer_domain::Workspace::is_as_read
    async fn save_workspace(
        &self,
        scope: &Scope,
        workspace: &Workspace,
        read: &Workspace,
    ) -> PortResult<()>;

    /// Deletes an org together with its mocks, their history and publications, and records
    /// `events` (normally one `mock.deleted` per mock), all in one step.
    /// `expected_mocks` are the mocks the caller saw; if the org has others now, nothing is
    /// deleted, so no mock disappears without its event.
    ///
    /// # Errors
    /// `NotFound` when the org does not exist or `scope` is not a member; `Invalid` for a
    /// personal workspace; `Conflict` when the org's mocks are not exactly `expected_mocks`.
    async fn delete_org(
        &self,
        scope: &Scope,
        id: WorkspaceId,
        expected_mocks: &[MockId],
        events: &[Event],
    ) -> PortResult<()>;
}
