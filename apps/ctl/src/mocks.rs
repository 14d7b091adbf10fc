//! The api's shapes this tool reads (users, workspaces, mocks, publications), and finding
//! a mock by name or id.

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::diagnostics::Diagnostic;
use crate::exit::{CtlResult, Failure};

/// The caller, from `GET /me`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct User {
    /// The user's id.
    pub(crate) id: String,
    /// The sign-in address.
    pub(crate) email: String,
    /// The handle: the personal workspace's; null until chosen.
    pub(crate) handle: Option<String>,
}

/// A workspace, as listed with its mocks.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Workspace {
    /// Its handle: the last part of its mocks' hosts.
    pub(crate) handle: String,
    /// `personal` or `org`.
    #[serde(default)]
    pub(crate) kind: String,
}

/// The mock server's side of a publication.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct ServerSide {
    /// `offline`, `invalid`, `publishing` or `published`.
    pub(crate) status: String,
    /// For `invalid`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diagnostics: Option<Vec<Diagnostic>>,
}

/// The DNS side of a publication.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct DnsSide {
    /// `offline`, `provisioning`, `published` or `failed`.
    pub(crate) status: String,
    /// For `failed`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// What of a mock is live.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Publication {
    /// The mock server's side.
    pub(crate) server: ServerSide,
    /// The DNS side.
    pub(crate) dns: DnsSide,
    /// The revision served, if any.
    pub(crate) live_revision: Option<u64>,
    /// The revision being published, if any.
    pub(crate) requested_revision: Option<u64>,
}

impl Publication {
    /// Whether `revision` (or a newer one) is served.
    pub(crate) fn serves(&self, revision: u64) -> bool {
        self.server.status == "published" && self.live_revision.is_some_and(|live| live >= revision)
    }

    /// One short phrase: `published r3`, `publishing r4 (r3 live)`, `offline`, ...
    pub(crate) fn describe(&self) -> String {
        let live = self
            .live_revision
            .map(|r| format!(" (r{r} live)"))
            .unwrap_or_default();
        match (self.server.status.as_str(), self.requested_revision) {
            ("published", _) => format!("published r{}", self.live_revision.unwrap_or(0)),
            ("publishing", Some(r)) => format!("publishing r{r}{live}"),
            (status, _) => format!("{status}{live}"),
        }
    }
}

/// A mock (without content in lists).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Mock {
    /// The mock's id.
    pub(crate) id: String,
    /// The owning workspace's handle.
    pub(crate) workspace: String,
    /// The mock's name.
    pub(crate) name: String,
    /// `<name>-<handle>.<zone>`.
    pub(crate) host: String,
    /// Where it answers once published.
    pub(crate) url: String,
    /// Whether its author wants it served.
    pub(crate) enabled: bool,
    /// The content's revision.
    pub(crate) revision: u64,
    /// The moclojer YAML (single reads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
    /// What is live.
    #[serde(default)]
    pub(crate) publication: Option<Publication>,
}

impl Mock {
    /// Whether it is published and serves its current revision.
    pub(crate) fn is_live(&self) -> bool {
        self.enabled
            && self
                .publication
                .as_ref()
                .is_some_and(|p| p.serves(self.revision))
    }

    /// Its publication in a phrase.
    pub(crate) fn status(&self) -> String {
        self.publication
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), Publication::describe)
    }
}

/// One workspace with its mocks.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct WorkspaceMocks {
    /// The workspace.
    pub(crate) workspace: Workspace,
    /// Its mocks.
    pub(crate) mocks: Vec<Mock>,
}

/// `GET /mocks`: every mock the caller sees, grouped by workspace.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct MockList {
    /// The groups, the personal workspace first.
    pub(crate) workspaces: Vec<WorkspaceMocks>,
}

/// Every workspace the caller belongs to, with its mocks.
pub(crate) async fn list(api: &Api) -> CtlResult<Vec<WorkspaceMocks>> {
    Ok(api.get::<MockList>("/mocks").await?.workspaces)
}

/// The caller (`GET /me`).
pub(crate) async fn me(api: &Api) -> CtlResult<User> {
    Ok(api.get("/me").await?)
}

/// `workspace`, or the caller's personal workspace when `None`.
pub(crate) async fn workspace_or_personal(api: &Api, workspace: Option<&str>) -> CtlResult<String> {
    if let Some(workspace) = workspace {
        return Ok(workspace.to_owned());
    }
    me(api).await?.handle.ok_or_else(|| {
        Failure::usage("you have no handle yet, so no personal workspace: choose one (PUT /me) or pass --workspace")
    })
}

/// The mocks of `workspace`; exit 3 when the caller has no such workspace.
pub(crate) fn mocks_of(groups: Vec<WorkspaceMocks>, workspace: &str) -> CtlResult<Vec<Mock>> {
    let handles: Vec<String> = groups.iter().map(|g| g.workspace.handle.clone()).collect();
    groups
        .into_iter()
        .find(|g| g.workspace.handle == workspace)
        .map(|g| g.mocks)
        .ok_or_else(|| {
            Failure::not_found(format!(
                "no workspace {workspace:?} among yours ({})",
                handles.join(", ")
            ))
        })
}

/// The mock `wanted` names: its id, or its name (in `workspace` when given; a name in
/// several workspaces needs one). Exit 3 when there is none.
pub(crate) async fn find(api: &Api, wanted: &str, workspace: Option<&str>) -> CtlResult<Mock> {
    let groups = list(api).await?;
    let mocks: Vec<Mock> = match workspace {
        Some(workspace) => mocks_of(groups, workspace)?,
        None => groups.into_iter().flat_map(|g| g.mocks).collect(),
    };
    if let Some(mock) = mocks.iter().find(|m| m.id == wanted) {
        return Ok(mock.clone());
    }
    let mut named: Vec<Mock> = mocks.into_iter().filter(|m| m.name == wanted).collect();
    match named.len() {
        0 => Err(Failure::not_found(match workspace {
            Some(workspace) => format!("no mock named {wanted:?} in workspace {workspace:?}"),
            None => format!("no mock named {wanted:?} (nor with that id)"),
        })),
        1 => Ok(named.remove(0)),
        _ => {
            let places: Vec<&str> = named.iter().map(|m| m.workspace.as_str()).collect();
            Err(Failure::usage(format!(
                "{wanted:?} names a mock in workspaces {}: pass --workspace",
                places.join(", ")
            )))
        }
    }
}
