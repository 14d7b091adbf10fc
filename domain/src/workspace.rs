//! Workspaces: a user's personal one, and orgs that teams share.

use serde::{Deserialize, Serialize};

use crate::{Handle, Timestamp, User, UserId, WorkspaceId};

/// What a member may do in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the workspace: members, name, deletion; and everything a member does.
    Owner,
    /// Creates, edits, publishes and deletes the workspace's mocks.
    Member,
}

impl Role {
    /// The role's name as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }

    /// Reads a role name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// A user's membership of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Who.
    pub user_id: UserId,
    /// With which rights.
    pub role: Role,
}

/// Whose workspace it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WorkspaceKind {
    /// One user's own; its handle is the user's handle; it has exactly one member, the owner.
    Personal {
        /// The user it belongs to.
        owner: UserId,
    },
    /// A team's, with a display name and any number of members (at least one owner).
    Org {
        /// The name people see; the handle is what hosts use.
        name: String,
    },
}

/// A workspace: the unit that owns mocks and gives them the handle in their host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// The workspace's id.
    pub id: WorkspaceId,
    /// The handle, unique across users and orgs.
    pub handle: Handle,
    /// Personal or org.
    pub kind: WorkspaceKind,
    /// Who belongs, with their roles; never without an owner.
    pub members: Vec<Member>,
    /// When it was made.
    pub created_at: Timestamp,
}

/// Why a change to a workspace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    /// A personal workspace needs its user to have chosen a handle first.
    #[error("the user has no handle yet")]
    NoHandle,
    /// Only owners may do this.
    #[error("only an owner of the workspace may do this")]
    NotOwner,
    /// Personal workspaces have one member and no display name.
    #[error("a personal workspace cannot do this; use an org")]
    Personal,
    /// The user is a member already.
    #[error("the user is already a member")]
    AlreadyMember,
    /// The user is not a member.
    #[error("the user is not a member")]
    NotMember,
    /// Removing or demoting this member would leave the org without an owner.
    #[error("an org keeps at least one owner")]
    LastOwner,
    /// The display name is empty or too long.
    #[error("an org name has 1 to 100 characters")]
    BadName,
}

impl Workspace {
    /// Whether `other` is this workspace as it stood: the same kind and name, and the same
    /// members with the same roles (in any order). A change decided on `other` may be saved
    /// over this one only then; else someone changed it meanwhile.
    pub fn is_as_read(&self, other: &Workspace) -> bool {
        let roles = |w: &Workspace| {
            let mut members: Vec<(String, Role)> = w
                .members
                .iter()
                .map(|m| (m.user_id.to_string(), m.role))
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            members
        };
        self.id == other.id && self.kind == other.kind && roles(self) == roles(other)
    }

    /// The longest org display name, in characters.
    pub const MAX_NAME_LEN: usize = 100;

    /// The personal workspace of `owner`, under the owner's handle.
    ///
    /// # Errors
    /// [`WorkspaceError::NoHandle`] when the user has not chosen a handle.
    pub fn personal(id: WorkspaceId, owner: &User, now: Timestamp) -> Result<Self, WorkspaceError> {
        let handle = owner.handle.clone().ok_or(WorkspaceError::NoHandle)?;
        Ok(Self {
            id,
            handle,
            kind: WorkspaceKind::Personal { owner: owner.id },
            members: vec![Member {
                user_id: owner.id,
                role: Role::Owner,
            }],
            created_at: now,
        })
    }

    /// A new org owned by `owner`. A blank `name` falls back to the handle.
    ///
    /// # Errors
    /// [`WorkspaceError::BadName`] when `name` is longer than [`Self::MAX_NAME_LEN`].
    pub fn org(
        id: WorkspaceId,
        handle: Handle,
        name: Option<&str>,
        owner: UserId,
        now: Timestamp,
    ) -> Result<Self, WorkspaceError> {
        let name = match name.map(str::trim) {
            None | Some("") => handle.as_str().to_owned(),
            Some(given) => check_name(given)?,
        };
        Ok(Self {
            id,
            handle,
            kind: WorkspaceKind::Org { name },
            members: vec![Member {
                user_id: owner,
                role: Role::Owner,
            }],
            created_at: now,
        })
    }

    /// Whether this is an org.
    pub fn is_org(&self) -> bool {
        matches!(self.kind, WorkspaceKind::Org { .. })
    }

    /// The display name: an org's name, or the handle of a personal workspace.
    pub fn display_name(&self) -> &str {
        match &self.kind {
            WorkspaceKind::Org { name } => name,
            WorkspaceKind::Personal { .. } => self.handle.as_str(),
        }
    }

    /// The role of `user`, if a member.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role)
    }

    /// Whether `user` may see and edit this workspace's mocks.
    pub fn is_member(&self, user: UserId) -> bool {
        self.role_of(user).is_some()
    }

    /// Refuses unless `actor` owns this workspace.
    ///
    /// # Errors
    /// [`WorkspaceError::NotOwner`] otherwise.
    pub fn ensure_owner(&self, actor: UserId) -> Result<(), WorkspaceError> {
        match self.role_of(actor) {
            Some(Role::Owner) => Ok(()),
            _ => Err(WorkspaceError::NotOwner),
        }
    }

    /// Refuses unless `actor` may delete this workspace: an org, and its owner.
    ///
    /// # Errors
    /// [`WorkspaceError::Personal`] for a personal workspace; [`WorkspaceError::NotOwner`].
    pub fn ensure_can_delete(&self, actor: UserId) -> Result<(), WorkspaceError> {
        self.ensure_org()?;
        self.ensure_owner(actor)
    }

    /// Adds `user` with `role`, on behalf of `actor`.
    ///
    /// # Errors
    /// [`WorkspaceError::Personal`], [`WorkspaceError::NotOwner`] or
    /// [`WorkspaceError::AlreadyMember`].
    pub fn add_member(
        &mut self,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<(), WorkspaceError> {
        self.ensure_org()?;
        self.ensure_owner(actor)?;
        if self.is_member(user) {
            return Err(WorkspaceError::AlreadyMember);
        }
        self.members.push(Member {
            user_id: user,
            role,
        });
        Ok(())
    }

    /// Removes `user`, on behalf of `actor`: an owner may remove anyone, a member only
    /// themselves; the last owner stays.
    ///
    /// # Errors
    /// [`WorkspaceError::Personal`], [`WorkspaceError::NotOwner`],
    /// [`WorkspaceError::NotMember`] or [`WorkspaceError::LastOwner`].
    pub fn remove_member(&mut self, actor: UserId, user: UserId) -> Result<(), WorkspaceError> {
        self.ensure_org()?;
        if actor != user {
            self.ensure_owner(actor)?;
        }
        let role = self.role_of(user).ok_or(WorkspaceError::NotMember)?;
        if role == Role::Owner && self.owner_count() == 1 {
            return Err(WorkspaceError::LastOwner);
        }
        self.members.retain(|m| m.user_id != user);
        Ok(())
    }

    /// Gives `user` the role `role`, on behalf of `actor` (an owner); the last owner stays
    /// an owner. Setting the role a member already has changes nothing and succeeds.
    ///
    /// # Errors
    /// [`WorkspaceError::Personal`], [`WorkspaceError::NotOwner`],
    /// [`WorkspaceError::NotMember`] or [`WorkspaceError::LastOwner`].
    pub fn set_role(
        &mut self,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<(), WorkspaceError> {
        self.ensure_org()?;
        self.ensure_owner(actor)?;
        let current = self.role_of(user).ok_or(WorkspaceError::NotMember)?;
        if current == Role::Owner && role != Role::Owner && self.owner_count() == 1 {
            return Err(WorkspaceError::LastOwner);
        }
        for member in &mut self.members {
            if member.user_id == user {
                member.role = role;
            }
        }
        Ok(())
    }

    /// Changes an org's display name, on behalf of `actor`.
    ///
    /// # Errors
    /// [`WorkspaceError::Personal`], [`WorkspaceError::NotOwner`] or
    /// [`WorkspaceError::BadName`].
    pub fn rename(&mut self, actor: UserId, name: &str) -> Result<(), WorkspaceError> {
        self.ensure_org()?;
        self.ensure_owner(actor)?;
        let checked = check_name(name.trim())?;
        self.kind = WorkspaceKind::Org { name: checked };
        Ok(())
    }

    fn ensure_org(&self) -> Result<(), WorkspaceError> {
        if self.is_org() {
            Ok(())
        } else {
            Err(WorkspaceError::Personal)
        }
    }

    fn owner_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count()
    }
}

fn check_name(name: &str) -> Result<String, WorkspaceError> {
    let len = name.chars().count();
    if len == 0 || len > Workspace::MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(WorkspaceError::BadName);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Email;

    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn org() -> Workspace {
        Workspace::org(
            WorkspaceId::from_uuid(uuid::Uuid::from_u128(100)),
            Handle::parse("acme").unwrap(),
            Some("Acme Inc."),
            uid(1),
            Timestamp::from_unix_millis(0),
        )
        .unwrap()
    }

    #[test]
    fn owners_change_roles_and_the_last_owner_stays() {
        let mut ws = org();
        ws.add_member(uid(1), uid(2), Role::Member).unwrap();
        assert_eq!(
            ws.set_role(uid(2), uid(2), Role::Owner),
            Err(WorkspaceError::NotOwner)
        );
        assert_eq!(
            ws.set_role(uid(1), uid(1), Role::Member),
            Err(WorkspaceError::LastOwner)
        );
        assert_eq!(
            ws.set_role(uid(1), uid(9), Role::Owner),
            Err(WorkspaceError::NotMember)
        );
        ws.set_role(uid(1), uid(2), Role::Owner).unwrap();
        assert_eq!(ws.role_of(uid(2)), Some(Role::Owner));
        ws.set_role(uid(2), uid(1), Role::Member).unwrap();
        assert_eq!(ws.role_of(uid(1)), Some(Role::Member));
        assert_eq!(ws.members.len(), 2);
        ws.set_role(uid(2), uid(2), Role::Owner).unwrap();
        assert_eq!(ws.role_of(uid(2)), Some(Role::Owner));
    }

    #[test]
    fn personal_workspace_needs_a_handle() {
        let mut user = User::new(
            uid(1),
            Email::parse("a@b.co").unwrap(),
            Timestamp::from_unix_millis(0),
        );
        let id = WorkspaceId::from_uuid(uuid::Uuid::from_u128(7));
        assert_eq!(
            Workspace::personal(id, &user, Timestamp::from_unix_millis(0)),
            Err(WorkspaceError::NoHandle)
        );
        user.choose_handle(Handle::parse("alice").unwrap()).unwrap();
        let ws = Workspace::personal(id, &user, Timestamp::from_unix_millis(0)).unwrap();
        assert_eq!(ws.handle.as_str(), "alice");
        assert_eq!(ws.role_of(uid(1)), Some(Role::Owner));
        assert_eq!(ws.display_name(), "alice");
    }

    #[test]
    fn personal_workspaces_refuse_org_operations() {
        let mut user = User::new(
            uid(1),
            Email::parse("a@b.co").unwrap(),
            Timestamp::from_unix_millis(0),
        );
        user.choose_handle(Handle::parse("alice").unwrap()).unwrap();
        let mut ws = Workspace::personal(
            WorkspaceId::from_uuid(uuid::Uuid::from_u128(7)),
            &user,
            Timestamp::from_unix_millis(0),
        )
        .unwrap();
        assert_eq!(
            ws.add_member(uid(1), uid(2), Role::Member),
            Err(WorkspaceError::Personal)
        );
        assert_eq!(
            ws.remove_member(uid(1), uid(1)),
            Err(WorkspaceError::Personal)
        );
        assert_eq!(
            ws.set_role(uid(1), uid(1), Role::Member),
            Err(WorkspaceError::Personal)
        );
        assert_eq!(ws.rename(uid(1), "x"), Err(WorkspaceError::Personal));
        assert_eq!(ws.ensure_can_delete(uid(1)), Err(WorkspaceError::Personal));
    }

    #[test]
    fn org_names() {
        let id = WorkspaceId::from_uuid(uuid::Uuid::from_u128(9));
        let h = Handle::parse("acme").unwrap();
        let t = Timestamp::from_unix_millis(0);
        let cases: &[(Option<&str>, Result<&str, WorkspaceError>)] = &[
            (None, Ok("acme")),
            (Some("   "), Ok("acme")),
            (Some(" Acme "), Ok("Acme")),
            (Some(&"x".repeat(100)), Ok(&"x".repeat(100))),
            (Some(&"x".repeat(101)), Err(WorkspaceError::BadName)),
            (Some("a\u{0}b"), Err(WorkspaceError::BadName)),
        ];
        for (name, expected) in cases {
            let got = Workspace::org(id, h.clone(), *name, uid(1), t);
            assert_eq!(
                got.as_ref().map(Workspace::display_name),
                expected.as_ref().map(|s| *s),
                "{name:?}"
            );
        }
    }

    #[test]
    fn membership_rules() {
        // (actor, action, expected)
        let mut ws = org();
        assert_eq!(
            ws.add_member(uid(2), uid(3), Role::Member),
            Err(WorkspaceError::NotOwner)
        );
        ws.add_member(uid(1), uid(2), Role::Member).unwrap();
        assert_eq!(
            ws.add_member(uid(1), uid(2), Role::Owner),
            Err(WorkspaceError::AlreadyMember)
        );
        assert_eq!(
            ws.add_member(uid(2), uid(3), Role::Member),
            Err(WorkspaceError::NotOwner)
        );
        assert!(ws.is_member(uid(2)));
        assert_eq!(ws.role_of(uid(2)), Some(Role::Member));
        // a member cannot remove another, can leave
        ws.add_member(uid(1), uid(3), Role::Member).unwrap();
        assert_eq!(
            ws.remove_member(uid(2), uid(3)),
            Err(WorkspaceError::NotOwner)
        );
        ws.remove_member(uid(3), uid(3)).unwrap();
        assert!(!ws.is_member(uid(3)));
        assert_eq!(
            ws.remove_member(uid(1), uid(3)),
            Err(WorkspaceError::NotMember)
        );
        // the last owner stays
        assert_eq!(
            ws.remove_member(uid(1), uid(1)),
            Err(WorkspaceError::LastOwner)
        );
        ws.add_member(uid(1), uid(4), Role::Owner).unwrap();
        ws.remove_member(uid(4), uid(1)).unwrap();
        assert_eq!(ws.role_of(uid(1)), None);
        assert_eq!(ws.members.len(), 2);
    }

    #[test]
    fn rename_and_delete_are_for_owners() {
        let mut ws = org();
        ws.add_member(uid(1), uid(2), Role::Member).unwrap();
        assert_eq!(ws.rename(uid(2), "New"), Err(WorkspaceError::NotOwner));
        assert_eq!(ws.rename(uid(1), ""), Err(WorkspaceError::BadName));
        ws.rename(uid(1), "New").unwrap();
        assert_eq!(ws.display_name(), "New");
        assert_eq!(ws.ensure_can_delete(uid(2)), Err(WorkspaceError::NotOwner));
        assert_eq!(ws.ensure_can_delete(uid(9)), Err(WorkspaceError::NotOwner));
        ws.ensure_can_delete(uid(1)).unwrap();
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Owner, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
