//! Publications: what of each mock is live.

use std::fmt::Debug;

use async_trait::async_trait;
use moclojer_domain::{Event, MockId, Publication};

use crate::{PortResult, Scope};

/// The publication of each mock. It is created (offline) with the mock and deleted with
/// it. Writes are guarded by `Publication::version` so that two workers (the generator on
/// the server side, ops on the DNS side) never lose each other's update.
#[async_trait]
pub trait PublicationRepository: Debug + Send + Sync + 'static {
    /// The publication of `mock_id`.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it.
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication>;

    /// Every publication `scope` sees, by mock id.
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>>;

    /// Stores `publication` and `events` if the stored version is still
    /// `publication.version`; returns it with the version bumped.
    ///
    /// # Errors
    /// `NotFound` when there is no such mock or `scope` does not see it; `Conflict` when
    /// the stored version is not `publication.version` (someone else wrote first: load it
    /// again and re-apply the transition).
    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication>;
}
