//! Mocks with their history.
//!
//! A mock's history is bounded: when an edit adds a revision, the revisions older than the
//! newest [`KeepRevisions`] go in the same transaction, except the live one and the one
//! being published. It is listed page by page without the content ([`RevisionPage`]).

use std::fmt::{self, Debug};
use std::str::FromStr;

use async_trait::async_trait;
use moclojer_domain::{
    Event, Host, Mock, MockId, MockRevision, MockSummary, Revision, Timestamp, WorkspaceId,
};

use crate::{PortResult, Scope};

/// How many revisions of each mock are kept: the newest `n` (1 to [`Self::MAX`]), plus
/// the publication's live revision and the one being published, however old they are.
/// [`Self::DEFAULT`] unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeepRevisions(u32);

impl KeepRevisions {
    /// The newest 100.
    pub const DEFAULT: Self = Self(100);

    /// The most that can be asked for.
    pub const MAX: u32 = 10_000;

    /// Keep the newest `n`; `None` unless `n` is 1 to [`Self::MAX`].
    pub const fn new(n: u32) -> Option<Self> {
        if n >= 1 && n <= Self::MAX {
            Some(Self(n))
        } else {
            None
        }
    }

    /// How many.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The newest revision that goes once a mock is at `current`: it and every older one,
    /// but the live one and the one being published. `None` when every one stays.
    pub fn newest_dropped(self, current: Revision) -> Option<Revision> {
        Revision::new(current.get().saturating_sub(u64::from(self.0)))
    }
}

impl Default for KeepRevisions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for KeepRevisions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for KeepRevisions {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        raw.trim()
            .parse::<u32>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| format!("a number of revisions from 1 to {}", Self::MAX))
    }
}

/// A revision without its content: what a history listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionSummary {
    /// Whose revision.
    pub mock_id: MockId,
    /// Which one.
    pub revision: Revision,
    /// When it was saved.
    pub created_at: Timestamp,
}

impl From<&MockRevision> for RevisionSummary {
    fn from(revision: &MockRevision) -> Self {
        Self {
            mock_id: revision.mock_id,
            revision: revision.revision,
            created_at: revision.created_at,
        }
    }
}

/// The most revisions one page lists.
pub const MAX_REVISION_PAGE: u32 = 100;

/// The revisions a page lists when the caller names no limit.
pub const DEFAULT_REVISION_PAGE: u32 = 20;

/// Which of a mock's revisions to list: newest first, only those older than `before`
/// when given, at most `limit` (1 to [`MAX_REVISION_PAGE`]; others are brought into that
/// range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionQuery {
    /// Only revisions older than this one (the previous page's `next`).
    pub before: Option<Revision>,
    /// The most revisions listed.
    pub limit: u32,
}

impl RevisionQuery {
    /// The newest `limit` revisions.
    pub const fn newest(limit: u32) -> Self {
        Self {
            before: None,
            limit,
        }
    }

    /// The limit, brought into 1 to [`MAX_REVISION_PAGE`].
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, MAX_REVISION_PAGE) as usize
    }

    /// Whether `revision` is older than the cursor.
    pub fn admits(&self, revision: Revision) -> bool {
        self.before.is_none_or(|before| revision < before)
    }
}

impl Default for RevisionQuery {
    fn default() -> Self {
        Self::newest(DEFAULT_REVISION_PAGE)
    }
}

/// One page of a mock's history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevisionPage {
    /// The revisions, newest first.
    pub revisions: Vec<RevisionSummary>,
    /// The cursor of the next (older) page: the `before` that lists it. `None` when there
    /// is none.
    pub next: Option<Revision>,
}

impl RevisionPage {
    /// The page `query` wants from `newest_first`, a mock's revisions newest first.
    pub fn of(
        newest_first: impl IntoIterator<Item = RevisionSummary>,
        query: &RevisionQuery,
    ) -> Self {
        let limit = query.capped_limit();
        let mut admitted = newest_first
            .into_iter()
            .filter(|r| query.admits(r.revision));
        let revisions: Vec<RevisionSummary> = admitted.by_ref().take(limit).collect();
        let next = match admitted.next() {
            Some(_) => revisions.last().map(|r| r.revision),
            None => None,
        };
        Self { revisions, next }
    }
}

/// Mocks, each with the full history of its content and an (initially offline)
/// publication.
#[async_trait]
pub trait MockRepository: Debug + Send + Sync + 'static {
    /// Stores a new mock, its first revision, an offline publication, and `events`.
    ///
    /// # Errors
    /// `NotFound` when the workspace does not exist or `scope` does not see it;
    /// `Invalid` when the host's handle is not the workspace's handle;
    /// `Conflict` when the host (or the id) is taken — by anyone, in any workspace.
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()>;

    /// The mock with `id`.
    ///
    /// # Errors
    /// `NotFound` when there is none or `scope` does not see its workspace.
    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock>;

    /// The mock served at `host`.
    ///
    /// # Errors
    /// `NotFound` when there is none or `scope` does not see its workspace.
    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock>;

    /// Every mock `scope` sees, by host.
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>>;

    /// [`Self::list`] without the content: what a listing needs. Adapters that can skip
    /// reading the content (up to 1 MiB a mock) override this.
    async fn list_summaries(&self, scope: &Scope) -> PortResult<Vec<MockSummary>> {
        Ok(self
            .list(scope)
            .await?
            .iter()
            .map(MockSummary::from)
            .collect())
    }

    /// The mocks of one workspace, by host.
    ///
    /// # Errors
    /// `NotFound` when the workspace does not exist or `scope` does not see it.
    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>>;

    /// Stores a changed mock (content, enabled, revision, updated_at) and `events`.
    /// `expected_revision` is the revision the change was made on; when the stored mock is
    /// at another one, nothing is written. When `mock.revision` differs from
    /// `expected_revision` the new content is added to the history, and the history is cut
    /// to [`KeepRevisions::DEFAULT`] as [`Self::update_keeping`] says.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it; `Conflict` when
    /// the stored revision is not `expected_revision`; `Invalid` when `mock.revision` is
    /// neither `expected_revision` nor the one after it, or the name, host or workspace
    /// differ from the stored ones.
    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
    ) -> PortResult<()>;

    /// [`Self::update`], keeping `keep` revisions: when a revision is added, every revision
    /// of the mock older than the newest `keep` goes in the same transaction, except the
    /// publication's live revision and the one being published. Other mocks' histories
    /// are untouched.
    ///
    /// The default keeps what [`Self::update`] keeps, whatever `keep` says; every adapter
    /// overrides it (the default serves wrappers written for tests).
    ///
    /// # Errors
    /// As [`Self::update`].
    async fn update_keeping(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
        _keep: KeepRevisions,
    ) -> PortResult<()> {
        self.update(scope, mock, expected_revision, events).await
    }

    /// Deletes the mock with its history and publication, and records `events`.
    /// Returns the mock as it was.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock>;

    /// Every revision of the mock that is kept, newest first, with its content: for tools
    /// and tests. A listing reads [`Self::revision_page`].
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>>;

    /// A page of the mock's history without the content, as `query` asks: newest first,
    /// with the cursor of the next (older) page. Adapters read no content for it; the
    /// default reads it through [`Self::revisions`] (for wrappers written for tests).
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn revision_page(
        &self,
        scope: &Scope,
        id: MockId,
        query: &RevisionQuery,
    ) -> PortResult<RevisionPage> {
        let revisions = self.revisions(scope, id).await?;
        Ok(RevisionPage::of(
            revisions.iter().map(RevisionSummary::from),
            query,
        ))
    }

    /// One revision of the mock.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or revision, or `scope` does not see it.
    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision>;

    /// The revisions `wanted` names, read together (a query per several hundred, not one
    /// each): each `(mock, revision)` that exists and whose mock `scope` sees, in no
    /// particular order; the others are left out, not an error (a mock deleted meanwhile).
    /// For a caller that needs many revisions at once, such as the generator's rebuild.
    ///
    /// # Errors
    /// Only when the database cannot be read.
    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>>;
}

#[cfg(test)]
mod tests {
    use moclojer_domain::MockId;

    use super::*;

    fn revision(n: u64) -> Revision {
        Revision::new(n).expect("a revision")
    }

    #[test]
    fn keep_revisions_is_one_to_ten_thousand() {
        assert_eq!(KeepRevisions::default().get(), 100);
        assert_eq!("7".parse::<KeepRevisions>().map(KeepRevisions::get), Ok(7));
        assert_eq!(
            "10000".parse::<KeepRevisions>().map(KeepRevisions::get),
            Ok(10_000)
        );
        for bad in ["0", "10001", "-1", "many", ""] {
            let error = bad.parse::<KeepRevisions>().expect_err(bad);
            assert!(error.contains("1 to 10000"), "{bad}: {error}");
        }
        assert_eq!(KeepRevisions::new(0), None);
    }

    #[test]
    fn the_newest_dropped_revision_leaves_the_newest_n() {
        let keep = KeepRevisions::new(3).expect("3");
        assert_eq!(keep.newest_dropped(revision(3)), None);
        assert_eq!(keep.newest_dropped(revision(4)), Some(revision(1)));
        assert_eq!(keep.newest_dropped(revision(10)), Some(revision(7)));
        assert_eq!(KeepRevisions::DEFAULT.newest_dropped(revision(100)), None);
    }

    #[test]
    fn a_page_is_newest_first_with_the_cursor_of_the_next() {
        let mock_id = MockId::from_uuid(uuid::Uuid::from_u128(1));
        let history: Vec<RevisionSummary> = (1..=5)
            .rev()
            .map(|n| RevisionSummary {
                mock_id,
                revision: revision(n),
                created_at: Timestamp::from_unix_millis(0),
            })
            .collect();
        let numbers = |page: &RevisionPage| -> Vec<u64> {
            page.revisions.iter().map(|r| r.revision.get()).collect()
        };
        let first = RevisionPage::of(history.clone(), &RevisionQuery::newest(2));
        assert_eq!(
            (numbers(&first), first.next),
            (vec![5, 4], Some(revision(4)))
        );
        let query = RevisionQuery {
            before: first.next,
            limit: 3,
        };
        let last = RevisionPage::of(history.clone(), &query);
        assert_eq!((numbers(&last), last.next), (vec![3, 2, 1], None));
        let past = RevisionQuery {
            before: Some(revision(1)),
            limit: 3,
        };
        assert_eq!(
            RevisionPage::of(history.clone(), &past),
            RevisionPage::default()
        );
        let zero = RevisionPage::of(history, &RevisionQuery::newest(0));
        assert_eq!(numbers(&zero), [5], "a limit below 1 lists one");
    }
}
