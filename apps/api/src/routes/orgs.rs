//! Orgs and their members. Members see an org; owners rename it, delete it and manage its
//! members; a member may leave. An org the caller is not a member of answers 404.

use std::sync::Arc;

use moclojer_domain::{
    CorrelationId, EventKind, Handle, Role, User, UserId, Workspace, WorkspaceError,
};
use moclojer_ports::{PortErrorKind, Scope};
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::quotas;
use crate::state::{BearerToken, State};
use crate::views::{
    Created, MemberRole, MemberView, NewMember, NewOrg, NoContent, RenameOrg, WorkspaceView,
};

/// Orgs and members.
#[derive(Debug, Clone)]
pub struct OrgsApi(pub Arc<State>);

/// A refused workspace change, as the api answers it.
pub fn workspace_error(error: &WorkspaceError) -> ApiError {
    match error {
        WorkspaceError::NotOwner => ApiError::forbidden("only an owner of the org may do this"),
        WorkspaceError::Personal => ApiError::not_found("no such org"),
        WorkspaceError::AlreadyMember => {
            ApiError::conflict("already_member", "the user is already a member")
        }
        WorkspaceError::NotMember => ApiError::not_found("the user is not a member"),
        WorkspaceError::LastOwner => ApiError::conflict(
            "last_owner",
            "an org keeps at least one owner; add another owner first",
        ),
        WorkspaceError::BadName => ApiError::bad_field("name", error.to_string()),
        WorkspaceError::NoHandle => ApiError::bad_request(
            "handle_required",
            "choose your handle first (PUT /api/v1/me)",
        ),
    }
}

impl OrgsApi {
    async fn org(&self, user: &User, handle: &str) -> ApiResult<Workspace> {
        let workspace = self.0.workspace(user, handle).await?;
        if !workspace.is_org() {
            return Err(ApiError::not_found("no such org"));
        }
        Ok(workspace)
    }

    async fn members(&self, workspace: &Workspace) -> ApiResult<Vec<MemberView>> {
        let mut members = Vec::with_capacity(workspace.members.len());
        for member in &workspace.members {
            let user = self
                .0
                .accounts
                .get_user(member.user_id)
                .await
                .map_err(|e| ApiError::from_port(e, "user"))?;
            members.push(MemberView::of(&user, member.role));
        }
        Ok(members)
    }

    /// A member of `org` named by handle or by user id (members who have not chosen a
    /// handle yet have only their id); anyone else answers 404.
    async fn member(&self, org: &Workspace, raw: &str) -> ApiResult<User> {
        let found = if let Ok(id) = UserId::parse(raw) {
            if org.is_member(id) {
                self.0.accounts.get_user(id).await.ok()
            } else {
                None
            }
        } else if let Ok(handle) = Handle::parse(raw) {
            self.0.accounts.find_user_by_handle(&handle).await.ok()
        } else {
            None
        };
        found
            .filter(|u| org.is_member(u.id))
            .ok_or_else(|| ApiError::not_found("no such member"))
    }

    async fn view(&self, workspace: &Workspace, viewer: &User) -> ApiResult<WorkspaceView> {
        let mut view = WorkspaceView::new(workspace, viewer.id);
        view.members = Some(self.members(workspace).await?);
        Ok(view)
    }

    /// Saves `workspace`, decided on `read`: a 409 `org_changed` when the org changed
    /// since (a role or member list decided on a stale read is never written back).
    async fn save(&self, user: &User, workspace: &Workspace, read: &Workspace) -> ApiResult<()> {
        self.0
            .accounts
            .save_workspace(&Scope::User(user.id), workspace, read)
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => ApiError::conflict(
                    "org_changed",
                    "the org changed while this request was made; load it again and retry",
                ),
                _ => ApiError::from_port(e, "org"),
            })
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl OrgsApi {
    /// Makes an org owned by the caller.
    #[oai(path = "/orgs", method = "post", tag = "Tag::Orgs")]
    async fn create_org(
        &self,
        auth: BearerToken,
        body: Json<NewOrg>,
    ) -> ApiResult<Created<WorkspaceView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let handle = Handle::parse(body.handle.trim())
            .map_err(|e| ApiError::bad_field("handle", e.to_string()))?;
        let owned = state
            .accounts
            .list_workspaces(&Scope::User(user.id))
            .await
            .map_err(|e| ApiError::from_port(e, "orgs"))?
            .iter()
            .filter(|w| w.is_org() && w.role_of(user.id) == Some(Role::Owner))
            .count();
        let limit = state.quotas.orgs_per_user;
        quotas::check_count(
            "orgs_per_user",
            owned,
            limit,
            "you own as many orgs as allowed",
        )?;
        let org = Workspace::org(
            state.ids.workspace_id(),
            handle,
            body.name.as_deref(),
            user.id,
            state.clock.now(),
        )
        .map_err(|e| workspace_error(&e))?;
        state
            .accounts
            .create_org(&org, &[])
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => {
                    ApiError::conflict("handle_taken", "that handle is taken")
                }
                _ => ApiError::from_port(e, "org"),
            })?;
        Ok(Created::Created(Json(self.view(&org, &user).await?)))
    }

    /// The orgs the caller belongs to, by handle.
    #[oai(path = "/orgs", method = "get", tag = "Tag::Orgs")]
    async fn list_orgs(&self, auth: BearerToken) -> ApiResult<Json<Vec<WorkspaceView>>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let workspaces = state
            .accounts
            .list_workspaces(&Scope::User(user.id))
            .await
            .map_err(|e| ApiError::from_port(e, "org"))?;
        Ok(Json(
            workspaces
                .iter()
                .filter(|w| w.is_org())
                .map(|w| WorkspaceView::new(w, user.id))
                .collect(),
        ))
    }

    /// One org, with its members.
    #[oai(path = "/orgs/:handle", method = "get", tag = "Tag::Orgs")]
    async fn get_org(
        &self,
        auth: BearerToken,
        handle: Path<String>,
    ) -> ApiResult<Json<WorkspaceView>> {
        let user = self.0.caller(&auth).await?;
        let org = self.org(&user, &handle.0).await?;
        Ok(Json(self.view(&org, &user).await?))
    }

    /// Renames an org (owners only). Its handle, and so its hosts, do not change.
    #[oai(path = "/orgs/:handle", method = "put", tag = "Tag::Orgs")]
    async fn rename_org(
        &self,
        auth: BearerToken,
        handle: Path<String>,
        body: Json<RenameOrg>,
    ) -> ApiResult<Json<WorkspaceView>> {
        let user = self.0.caller(&auth).await?;
        let mut org = self.org(&user, &handle.0).await?;
        let read = org.clone();
        org.rename(user.id, &body.name)
            .map_err(|e| workspace_error(&e))?;
        self.save(&user, &org, &read).await?;
        Ok(Json(self.view(&org, &user).await?))
    }

    /// Deletes an org with all its mocks, which stop answering (owners only).
    #[oai(path = "/orgs/:handle", method = "delete", tag = "Tag::Orgs")]
    async fn delete_org(
        &self,
        auth: BearerToken,
        handle: Path<String>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<NoContent> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let org = self.org(&user, &handle.0).await?;
        org.ensure_can_delete(user.id)
            .map_err(|e| workspace_error(&e))?;
        let scope = Scope::User(user.id);
        let mocks = state
            .mocks
            .list_in_workspace(&scope, org.id)
            .await
            .map_err(|e| ApiError::from_port(e, "org"))?;
        let ids: Vec<_> = mocks.iter().map(|m| m.id).collect();
        let mut events = Vec::with_capacity(mocks.len() * 2);
        for mock in &mocks {
            events.push(state.event(
                EventKind::MockDeleted {
                    mock_id: mock.id,
                    host: mock.host.clone(),
                },
                Some(&correlation),
            ));
            events.push(state.event(
                EventKind::DomainRemoved {
                    host: mock.host.clone(),
                },
                Some(&correlation),
            ));
        }
        state
            .accounts
            .delete_org(&scope, org.id, &ids, &events)
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => {
                    ApiError::conflict("conflict", "the org's mocks changed meanwhile; try again")
                }
                _ => ApiError::from_port(e, "org"),
            })?;
        tracing::info!(org = %org.handle, mocks = ids.len(), "org deleted");
        Ok(NoContent::Done)
    }

    /// An org's members.
    #[oai(path = "/orgs/:handle/members", method = "get", tag = "Tag::Orgs")]
    async fn list_members(
        &self,
        auth: BearerToken,
        handle: Path<String>,
    ) -> ApiResult<Json<Vec<MemberView>>> {
        let user = self.0.caller(&auth).await?;
        let org = self.org(&user, &handle.0).await?;
        Ok(Json(self.members(&org).await?))
    }

    /// Adds a user, by handle or e-mail address, as a `member` or `owner` (owners only).
    #[oai(path = "/orgs/:handle/members", method = "post", tag = "Tag::Orgs")]
    async fn add_member(
        &self,
        auth: BearerToken,
        handle: Path<String>,
        body: Json<NewMember>,
    ) -> ApiResult<Created<MemberView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mut org = self.org(&user, &handle.0).await?;
        let read = org.clone();
        org.ensure_owner(user.id).map_err(|e| workspace_error(&e))?;
        let role = match body.role.as_deref() {
            None => Role::Member,
            Some(raw) => Role::parse(raw)
                .ok_or_else(|| ApiError::bad_field("role", "a role is `member` or `owner`"))?,
        };
        let new = match (&body.handle, &body.email) {
            (Some(handle), None) => {
                let handle = Handle::parse(handle.trim())
                    .map_err(|e| ApiError::bad_field("handle", e.to_string()))?;
                state.accounts.find_user_by_handle(&handle).await
            }
            (None, Some(email)) => {
                let email = State::email(email)?;
                state
                    .accounts
                    .find_user_by_email(&email)
                    .await
                    .map(|r| r.user)
            }
            _ => {
                return Err(ApiError::bad_request(
                    "bad_request",
                    "name the user by `handle` or by `email` (one of them)",
                ));
            }
        }
        .map_err(|e| match e.kind() {
            PortErrorKind::NotFound => ApiError::not_found("no such user"),
            _ => ApiError::from_port(e, "user"),
        })?;
        org.add_member(user.id, new.id, role)
            .map_err(|e| workspace_error(&e))?;
        self.save(&user, &org, &read).await?;
        Ok(Created::Created(Json(MemberView::of(&new, role))))
    }

    /// Removes a member, named by handle (owners; or a member leaving).
    #[oai(
        path = "/orgs/:handle/members/:member",
        method = "delete",
        tag = "Tag::Orgs"
    )]
    async fn remove_member(
        &self,
        auth: BearerToken,
        handle: Path<String>,
        member: Path<String>,
    ) -> ApiResult<NoContent> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mut org = self.org(&user, &handle.0).await?;
        let read = org.clone();
        let gone = self.member(&org, &member.0).await?;
        org.remove_member(user.id, gone.id)
            .map_err(|e| workspace_error(&e))?;
        self.save(&user, &org, &read).await?;
        Ok(NoContent::Done)
    }

    /// Changes a member's role, named by handle or user id (owners only; an org keeps at
    /// least one owner).
    #[oai(
        path = "/orgs/:handle/members/:member",
        method = "put",
        tag = "Tag::Orgs"
    )]
    async fn set_member_role(
        &self,
        auth: BearerToken,
        handle: Path<String>,
        member: Path<String>,
        body: Json<MemberRole>,
    ) -> ApiResult<Json<MemberView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mut org = self.org(&user, &handle.0).await?;
        let read = org.clone();
        org.ensure_owner(user.id).map_err(|e| workspace_error(&e))?;
        let role = Role::parse(&body.role)
            .ok_or_else(|| ApiError::bad_field("role", "a role is `member` or `owner`"))?;
        let changed = self.member(&org, &member.0).await?;
        org.set_role(user.id, changed.id, role)
            .map_err(|e| workspace_error(&e))?;
        self.save(&user, &org, &read).await?;
        Ok(Json(MemberView::of(&changed, role)))
    }
}
