//! What the api sends and receives: the wire shapes, kept apart from the domain types so
//! that the domain can change without breaking clients.

use std::collections::BTreeMap;

use moclojer_domain::{
    DnsState, Mock, MockRevision, MockSummary, Publication, Role, ServerState, User, Workspace,
    WorkspaceKind,
};
use moclojer_ports::{RevisionPage, RevisionSummary, StateSnapshot, TokenRecord};
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object};
use serde_json::Value;

use crate::error::diagnostics_json;

/// 201 with the created thing.
#[derive(Debug, ApiResponse)]
pub enum Created<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204: done, nothing to say.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// E-mail and password, to sign up or sign in.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct Credentials {
    /// The sign-in address.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
}

/// A user as the api shows them.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// The sign-in address.
    pub email: String,
    /// The handle, null until chosen.
    pub handle: Option<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            handle: user.handle.as_ref().map(|h| h.as_str().to_owned()),
        }
    }
}

/// A session: the bearer token and whose it is.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct Session {
    /// Goes in `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// When the token stops working.
    pub expires_at: Option<String>,
    /// The signed-in user.
    pub user: UserView,
}

/// The handle to take.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct ChooseHandle {
    /// `[a-z0-9]{1,30}`, not reserved, not taken.
    pub handle: String,
}

/// Whether a handle can be taken.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct HandleAvailability {
    /// The handle asked about.
    pub handle: String,
    /// Whether it can be taken now.
    pub available: bool,
    /// Why not: `invalid`, `reserved` or `taken`.
    pub reason: Option<String>,
    /// For `invalid` and `reserved`: what is wrong.
    pub message: Option<String>,
}

/// Whether a mock name is free in a workspace: the host it would have.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct HostAvailability {
    /// `<name>-<handle>.<zone>`, when the name is valid.
    pub host: Option<String>,
    /// Whether a mock can be made with that name now.
    pub available: bool,
    /// Why not: `invalid` or `taken`.
    pub reason: Option<String>,
    /// For `invalid`: what is wrong.
    pub message: Option<String>,
}

/// A personal API token to make.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct NewToken {
    /// What it is for (1 to 100 characters), e.g. `ci`.
    pub name: String,
    /// Days until it expires (1 to 3650); never when absent.
    pub expires_in_days: Option<u32>,
}

/// A personal API token, without its secret.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct TokenView {
    /// The token's id (for revoking).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    pub created_at: String,
    /// When it stops working; null for never.
    pub expires_at: Option<String>,
    /// The secret: only in the answer to its creation.
    pub token: Option<String>,
}

impl TokenView {
    /// The record, with `secret` when just made.
    pub fn new(record: &TokenRecord, secret: Option<String>) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            created_at: record.created_at.to_rfc3339(),
            expires_at: record.expires_at.map(|t| t.to_rfc3339()),
            token: secret,
        }
    }
}

/// An org to make.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct NewOrg {
    /// The org's handle, in the same namespace as users' handles.
    pub handle: String,
    /// The display name (1 to 100 characters); the handle when absent.
    pub name: Option<String>,
}

/// An org's new display name.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct RenameOrg {
    /// 1 to 100 characters.
    pub name: String,
}

/// A member's new role.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct MemberRole {
    /// `member` or `owner`.
    pub role: String,
}

/// A member to add, by handle or by e-mail address.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct NewMember {
    /// The user's handle.
    pub handle: Option<String>,
    /// The user's e-mail address.
    pub email: Option<String>,
    /// `member` (default) or `owner`.
    pub role: Option<String>,
}

/// A member of a workspace.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct MemberView {
    /// The user's id.
    pub id: String,
    /// The user's handle, if chosen.
    pub handle: Option<String>,
    /// The user's e-mail address.
    pub email: String,
    /// `owner` or `member`.
    pub role: String,
}

impl MemberView {
    /// `user`, a member with `role`.
    pub fn of(user: &moclojer_domain::User, role: moclojer_domain::Role) -> Self {
        Self {
            id: user.id.to_string(),
            handle: user.handle.as_ref().map(|h| h.as_str().to_owned()),
            email: user.email.as_str().to_owned(),
            role: role.as_str().to_owned(),
        }
    }
}

/// A workspace (personal or org), as its members see it.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct WorkspaceView {
    /// The workspace's id.
    pub id: String,
    /// Its handle: the last part of its mocks' hosts.
    pub handle: String,
    /// The display name (the handle for a personal workspace).
    pub name: String,
    /// `personal` or `org`.
    pub kind: String,
    /// The caller's role.
    pub role: String,
    /// The members, when asked for one org.
    pub members: Option<Vec<MemberView>>,
    /// When it was made.
    pub created_at: String,
}

impl WorkspaceView {
    /// `workspace` as `viewer` sees it.
    pub fn new(workspace: &Workspace, viewer: moclojer_domain::UserId) -> Self {
        Self {
            id: workspace.id.to_string(),
            handle: workspace.handle.as_str().to_owned(),
            name: workspace.display_name().to_owned(),
            kind: match workspace.kind {
                WorkspaceKind::Personal { .. } => "personal",
                WorkspaceKind::Org { .. } => "org",
            }
            .to_owned(),
            role: workspace
                .role_of(viewer)
                .map_or("none", Role::as_str)
                .to_owned(),
            members: None,
            created_at: workspace.created_at.to_rfc3339(),
        }
    }
}

/// A mock to make.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct NewMock {
    /// The handle of the workspace (personal or org) that owns it.
    pub workspace: String,
    /// `[a-z0-9-]`, 1 to 30 characters, no leading or trailing dash.
    pub name: String,
    /// The moclojer YAML; a one-endpoint starter when absent.
    pub content: Option<String>,
}

/// A mock's new content.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct EditMock {
    /// The moclojer YAML.
    pub content: String,
    /// The revision the edit was made on; when given and no longer current, the edit is
    /// refused with 409 `stale_revision` instead of overwriting someone else's change.
    pub revision: Option<u64>,
}

/// Spec text to validate.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case", deny_unknown_fields)]
pub struct ValidateRequest {
    /// The moclojer YAML.
    pub content: String,
}

/// What the validator found.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct ValidateReply {
    /// No errors (warnings may remain).
    pub valid: bool,
    /// Every finding: `line`, `column`, `message`, `severity`, and `item`/`key` when known.
    pub diagnostics: Value,
}

/// The mock server side of a publication.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct ServerView {
    /// `offline`, `invalid`, `publishing` or `published`.
    pub status: String,
    /// For `invalid`: the validator's findings.
    #[oai(skip_serializing_if_is_none)]
    pub diagnostics: Option<Value>,
}

/// The DNS side of a publication.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct DnsView {
    /// `offline`, `provisioning`, `published` or `failed`.
    pub status: String,
    /// For `failed`: why.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

/// What of a mock is live.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicationView {
    /// The mock server's side.
    pub server: ServerView,
    /// The DNS side.
    pub dns: DnsView,
    /// The revision served, if any.
    pub live_revision: Option<u64>,
    /// The revision being published, if any.
    pub requested_revision: Option<u64>,
    /// When it last changed.
    pub updated_at: String,
}

impl From<&Publication> for PublicationView {
    fn from(p: &Publication) -> Self {
        let server = match &p.server {
            ServerState::Invalid { diagnostics } => ServerView {
                status: "invalid".to_owned(),
                diagnostics: Some(diagnostics_json(diagnostics)),
            },
            other => ServerView {
                status: other.status().as_str().to_owned(),
                diagnostics: None,
            },
        };
        let dns = match &p.dns {
            DnsState::Failed { reason } => DnsView {
                status: "failed".to_owned(),
                reason: Some(reason.clone()),
            },
            other => DnsView {
                status: other.status().as_str().to_owned(),
                reason: None,
            },
        };
        Self {
            server,
            dns,
            live_revision: p.live_revision.map(|r| r.get()),
            requested_revision: p.requested_revision.map(|r| r.get()),
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

/// A mock as the api shows it.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct MockView {
    /// The mock's id.
    pub id: String,
    /// The owning workspace's handle.
    pub workspace: String,
    /// The mock's name.
    pub name: String,
    /// `<name>-<handle>.<zone>`.
    pub host: String,
    /// Where it answers once published.
    pub url: String,
    /// Whether its author wants it served.
    pub enabled: bool,
    /// The content's revision.
    pub revision: u64,
    /// The moclojer YAML (absent in lists).
    pub content: Option<String>,
    /// What is live (in lists and single reads).
    pub publication: Option<PublicationView>,
    /// When it was made.
    pub created_at: String,
    /// When its content or intent last changed.
    pub updated_at: String,
}

impl MockView {
    /// `mock` of `workspace`, served under `url`.
    pub fn new(mock: &Mock, workspace: &str, url: String) -> Self {
        Self {
            id: mock.id.to_string(),
            workspace: workspace.to_owned(),
            name: mock.name.as_str().to_owned(),
            host: mock.host.as_str().to_owned(),
            url,
            enabled: mock.enabled,
            revision: mock.revision.get(),
            content: Some(mock.content.as_str().to_owned()),
            publication: None,
            created_at: mock.created_at.to_rfc3339(),
            updated_at: mock.updated_at.to_rfc3339(),
        }
    }
}

/// One workspace with its mocks.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct WorkspaceMocks {
    /// The workspace.
    pub workspace: WorkspaceView,
    /// Its mocks, by host, without their content.
    pub mocks: Vec<MockView>,
}

impl MockView {
    /// A listed mock: no content.
    pub fn summary(mock: &MockSummary, workspace: &str, url: String) -> Self {
        Self {
            id: mock.id.to_string(),
            workspace: workspace.to_owned(),
            name: mock.name.as_str().to_owned(),
            host: mock.host.as_str().to_owned(),
            url,
            enabled: mock.enabled,
            revision: mock.revision.get(),
            content: None,
            publication: None,
            created_at: mock.created_at.to_rfc3339(),
            updated_at: mock.updated_at.to_rfc3339(),
        }
    }
}

/// Every mock the caller sees, grouped by workspace (the personal one first).
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct MockList {
    /// The groups.
    pub workspaces: Vec<WorkspaceMocks>,
}

/// One revision of a mock.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct RevisionView {
    /// Its number.
    pub revision: u64,
    /// When it was saved.
    pub created_at: String,
    /// The content at that revision (absent in lists).
    pub content: Option<String>,
}

impl RevisionView {
    /// `r`, with its content or without.
    pub fn new(r: &MockRevision, with_content: bool) -> Self {
        Self {
            revision: r.revision.get(),
            created_at: r.created_at.to_rfc3339(),
            content: with_content.then(|| r.content.as_str().to_owned()),
        }
    }
}

/// One revision of a mock in a history page: no content.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct RevisionSummaryView {
    /// Its number.
    pub revision: u64,
    /// When it was saved.
    pub created_at: String,
}

impl From<&RevisionSummary> for RevisionSummaryView {
    fn from(r: &RevisionSummary) -> Self {
        Self {
            revision: r.revision.get(),
            created_at: r.created_at.to_rfc3339(),
        }
    }
}

/// One page of a mock's history.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct RevisionPageView {
    /// The revisions, newest first, without content.
    pub revisions: Vec<RevisionSummaryView>,
    /// The `before` that lists the next (older) page; `null` on the last page.
    pub next: Option<u64>,
}

impl From<&RevisionPage> for RevisionPageView {
    fn from(page: &RevisionPage) -> Self {
        Self {
            revisions: page
                .revisions
                .iter()
                .map(RevisionSummaryView::from)
                .collect(),
            next: page.next.map(|r| r.get()),
        }
    }
}

/// How people sign in here, for the web interface (public: no token needed).
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct SignInConfig {
    /// `local` (e-mail and password here) or `supabase` (through Supabase).
    pub mode: String,
    /// In Supabase mode, where and with which public key the browser signs in; `null` when
    /// the api checks Supabase tokens but was not told the project (scripts only).
    pub supabase: Option<SupabaseSignIn>,
    /// The zone mock hosts live under.
    pub zone: String,
}

/// A Supabase project, as a browser signs in to it.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct SupabaseSignIn {
    /// `https://<project>.supabase.co`.
    pub url: String,
    /// The anon (publishable) key; public by design.
    pub anon_key: String,
}

/// The service's state, for `/livez` and `/readyz`.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// A mock's state as its host's mock servers keep it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "snake_case")]
pub struct StateView {
    /// The revision the state was made under; null when the host has no state (nothing
    /// remembered since the last reset or new revision).
    pub revision: Option<u64>,
    /// Each scenario that left `started`, and the state it is in.
    pub scenarios: BTreeMap<String, String>,
    /// Each sequence that answered (named `METHOD /path (item N)`), and how many requests
    /// it has answered.
    pub sequences: BTreeMap<String, u64>,
    /// Each resource that was used (named by its path), and how many records it holds.
    pub resources: BTreeMap<String, u64>,
    /// The size of every resource's records, in bytes of JSON (bounded per mock).
    pub bytes: u64,
}

impl From<StateSnapshot> for StateView {
    fn from(snapshot: StateSnapshot) -> Self {
        Self {
            revision: snapshot.revision,
            scenarios: snapshot.scenarios,
            sequences: snapshot.sequences,
            resources: snapshot.resources,
            bytes: snapshot.bytes,
        }
    }
}
