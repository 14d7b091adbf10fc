//! Mocks with their history.

use std::fmt::Debug;

use async_trait::async_trait;
use moclojer_domain::{
    Event, Host, Mock, MockId, MockRevision, MockSummary, Revision, WorkspaceId,
};

use crate::{PortResult, Scope};

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
    /// `expected_revision` the new content is added to the history.
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

    /// Deletes the mock with its history and publication, and records `events`.
    /// Returns the mock as it was.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock>;

    /// The mock's revisions, newest first.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>>;

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
