//! Mocks: a named moclojer spec in a workspace, with its revisions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{EventKind, Host, MockId, MockName, Timestamp, Workspace, WorkspaceId, Zone};

/// The largest spec source accepted, in bytes (1 MiB).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// The YAML text of a mock as its author wrote it, bounded in size.
///
/// Whether it is a *valid* moclojer spec is the spec validator's business; this type only
/// guarantees the text can be stored and handled safely.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpecSource(String);

/// Why a spec source was refused before any parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecSourceError {
    /// Larger than [`MAX_SPEC_BYTES`].
    #[error("a spec has at most {max} bytes, this one has {len}")]
    TooLarge {
        /// The size given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text has a NUL character, which no YAML document may contain.
    #[error("a spec cannot contain a NUL character (at byte {0})")]
    Nul(usize),
}

impl SpecSource {
    /// Checks `text`'s size and characters.
    ///
    /// # Errors
    /// A [`SpecSourceError`] when `text` is too large or has a NUL.
    pub fn new(text: impl Into<String>) -> Result<Self, SpecSourceError> {
        let text = text.into();
        if text.len() > MAX_SPEC_BYTES {
            return Err(SpecSourceError::TooLarge {
                len: text.len(),
                max: MAX_SPEC_BYTES,
            });
        }
        if let Some(at) = text.find('\0') {
            return Err(SpecSourceError::Nul(at));
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SpecSource {
    type Error = SpecSourceError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl From<SpecSource> for String {
    fn from(source: SpecSource) -> Self {
        source.0
    }
}

/// A mock's content revision: 1 when created, one more on every change of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(u64);

impl Revision {
    /// The first revision.
    pub const FIRST: Self = Self(1);

    /// A revision from its number; `None` for 0, which no mock has.
    pub const fn new(n: u64) -> Option<Self> {
        if n == 0 { None } else { Some(Self(n)) }
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The revision after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a change to a mock was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The edit was based on another revision than the current one.
    #[error("the mock is at revision {current}, the edit was made on revision {based_on}")]
    StaleRevision {
        /// The mock's revision now.
        current: Revision,
        /// The revision the editor had.
        based_on: Revision,
    },
}

/// A mock: a moclojer spec under a name in a workspace, served at its host when enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mock {
    /// The mock's id.
    pub id: MockId,
    /// The workspace that owns it.
    pub workspace_id: WorkspaceId,
    /// Its name, unique in the workspace because the host is unique.
    pub name: MockName,
    /// `<name>-<handle>.<zone>`, computed by the server.
    pub host: Host,
    /// The spec text.
    pub content: SpecSource,
    /// The author's intent to have it served.
    pub enabled: bool,
    /// The content revision.
    pub revision: Revision,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its content or intent last changed.
    pub updated_at: Timestamp,
}

/// A past (or the current) content of a mock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockRevision {
    /// Whose revision.
    pub mock_id: MockId,
    /// Which one.
    pub revision: Revision,
    /// The content at that revision.
    pub content: SpecSource,
    /// When it was saved.
    pub created_at: Timestamp,
}

/// A mock without its content: what a listing shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockSummary {
    /// The mock's id.
    pub id: MockId,
    /// The workspace that owns it.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: MockName,
    /// Its host.
    pub host: Host,
    /// The author's intent to have it served.
    pub enabled: bool,
    /// The content revision.
    pub revision: Revision,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its content or intent last changed.
    pub updated_at: Timestamp,
}

impl From<&Mock> for MockSummary {
    fn from(mock: &Mock) -> Self {
        Self {
            id: mock.id,
            workspace_id: mock.workspace_id,
            name: mock.name.clone(),
            host: mock.host.clone(),
            enabled: mock.enabled,
            revision: mock.revision,
            created_at: mock.created_at,
            updated_at: mock.updated_at,
        }
    }
}

impl Mock {
    /// A new, disabled mock at revision 1, with its host computed from the workspace's handle.
    pub fn create(
        id: MockId,
        workspace: &Workspace,
        name: MockName,
        zone: &Zone,
        content: SpecSource,
        now: Timestamp,
    ) -> Self {
        let host = Host::new(&name, &workspace.handle, zone);
        Self {
            id,
            workspace_id: workspace.id,
            name,
            host,
            content,
            enabled: false,
            revision: Revision::FIRST,
            created_at: now,
            updated_at: now,
        }
    }

    /// Replaces the content. The revision moves on only when the text changes; an edit made
    /// on an older revision (`based_on`) is refused so that no one overwrites a change they
    /// did not see. Returns whether anything changed.
    ///
    /// # Errors
    /// [`MockError::StaleRevision`] when `based_on` is given and is not the current revision.
    pub fn edit(
        &mut self,
        content: SpecSource,
        based_on: Option<Revision>,
        now: Timestamp,
    ) -> Result<bool, MockError> {
        if let Some(based_on) = based_on
            && based_on != self.revision
        {
            return Err(MockError::StaleRevision {
                current: self.revision,
                based_on,
            });
        }
        if content == self.content {
            return Ok(false);
        }
        self.content = content;
        self.revision = self.revision.next();
        self.updated_at = now;
        Ok(true)
    }

    /// Sets the intent to serve. Returns whether it changed.
    pub fn set_enabled(&mut self, enabled: bool, now: Timestamp) -> bool {
        if self.enabled == enabled {
            return false;
        }
        self.enabled = enabled;
        self.updated_at = now;
        true
    }

    /// What the other services must hear when the mock is deleted: `mock.deleted`, and
    /// `domain.removed` for its host.
    pub fn deletion_events(&self) -> [EventKind; 2] {
        [
            EventKind::MockDeleted {
                mock_id: self.id,
                host: self.host.clone(),
            },
            EventKind::DomainRemoved {
                host: self.host.clone(),
            },
        ]
    }

    /// The current content as a revision record.
    pub fn current_revision(&self) -> MockRevision {
        MockRevision {
            mock_id: self.id,
            revision: self.revision,
            content: self.content.clone(),
            created_at: self.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, Handle, User, UserId};

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn mock() -> Mock {
        let mut user = User::new(
            UserId::from_uuid(uuid::Uuid::from_u128(1)),
            Email::parse("a@b.co").unwrap(),
            t(0),
        );
        user.choose_handle(Handle::parse("alice").unwrap()).unwrap();
        let ws = Workspace::personal(
            WorkspaceId::from_uuid(uuid::Uuid::from_u128(2)),
            &user,
            t(0),
        )
        .unwrap();
        Mock::create(
            MockId::from_uuid(uuid::Uuid::from_u128(3)),
            &ws,
            MockName::parse("hello").unwrap(),
            &Zone::parse("localhost").unwrap(),
            SpecSource::new("- endpoint: {path: /hello}").unwrap(),
            t(0),
        )
    }

    #[test]
    fn create_computes_the_host() {
        let m = mock();
        assert_eq!(m.host.as_str(), "hello-alice.localhost");
        assert_eq!(m.revision, Revision::FIRST);
        assert!(!m.enabled);
    }

    #[test]
    fn edits_move_the_revision_only_on_change() {
        let mut m = mock();
        assert_eq!(m.edit(m.content.clone(), None, t(5)), Ok(false));
        assert_eq!(m.revision.get(), 1);
        assert_eq!(m.updated_at, t(0));
        assert_eq!(
            m.edit(SpecSource::new("[]").unwrap(), Some(Revision::FIRST), t(6)),
            Ok(true)
        );
        assert_eq!(m.revision.get(), 2);
        assert_eq!(m.updated_at, t(6));
        assert_eq!(m.current_revision().content.as_str(), "[]");
    }

    #[test]
    fn stale_edits_are_refused() {
        let mut m = mock();
        m.edit(SpecSource::new("[]").unwrap(), None, t(1)).unwrap();
        let stale = m.edit(SpecSource::new("- x").unwrap(), Some(Revision::FIRST), t(2));
        assert_eq!(
            stale,
            Err(MockError::StaleRevision {
                current: Revision::new(2).unwrap(),
                based_on: Revision::FIRST
            })
        );
        assert_eq!(m.content.as_str(), "[]");
    }

    #[test]
    fn enable_is_idempotent() {
        let mut m = mock();
        assert!(m.set_enabled(true, t(1)));
        assert!(!m.set_enabled(true, t(2)));
        assert_eq!(m.updated_at, t(1));
        assert!(m.set_enabled(false, t(3)));
    }

    #[test]
    fn spec_sources_are_bounded() {
        assert!(SpecSource::new("a".repeat(MAX_SPEC_BYTES)).is_ok());
        assert_eq!(
            SpecSource::new("a".repeat(MAX_SPEC_BYTES + 1)),
            Err(SpecSourceError::TooLarge {
                len: MAX_SPEC_BYTES + 1,
                max: MAX_SPEC_BYTES
            })
        );
        assert_eq!(SpecSource::new("ab\0c"), Err(SpecSourceError::Nul(2)));
        assert!(serde_json::from_str::<SpecSource>("\"a\\u0000\"").is_err());
    }

    #[test]
    fn revisions() {
        assert_eq!(Revision::new(0), None);
        assert_eq!(Revision::new(1), Some(Revision::FIRST));
        assert_eq!(Revision::FIRST.next().get(), 2);
    }
}
