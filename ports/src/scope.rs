//! Who a repository query is for.

use moclojer_domain::{UserId, Workspace};

/// The caller a repository call is scoped to. A user sees only the workspaces they are a
/// member of and those workspaces' mocks and publications; anything else answers
/// `NotFound`, exactly as if it did not exist. `System` is for the workers (generator, ops)
/// that act for everyone; the api never uses it on a user's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A signed-in user.
    User(UserId),
    /// The system itself.
    System,
}

impl Scope {
    /// Whether this scope sees `workspace`.
    pub fn sees(&self, workspace: &Workspace) -> bool {
        match self {
            Self::System => true,
            Self::User(user) => workspace.is_member(*user),
        }
    }

    /// The user, if scoped to one.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Self::System => None,
            Self::User(user) => Some(*user),
        }
    }
}
