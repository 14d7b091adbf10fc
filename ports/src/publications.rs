//! Publications: what of each mock is live.

use std::fmt::Debug;
use std::future::Future;

use async_trait::async_trait;
use moclojer_domain::{Event, MockId, Publication, Revision, WorkspaceId};

use crate::{PortError, PortErrorKind, PortResult, Scope};

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

    /// Every live mock `scope` sees, by host (byte by byte): each enabled mock whose
    /// publication [`is_live`](Publication::is_live), with its live revision. One read,
    /// however many mocks there are.
    async fn live(&self, scope: &Scope) -> PortResult<Vec<LiveMock>>;

    /// The ids of the mocks `scope` sees whose publication is publishing
    /// (`ServerStatus::Publishing`), enabled or not, by mock id. One read.
    async fn publishing(&self, scope: &Scope) -> PortResult<Vec<MockId>>;

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

/// One mock that is live: enabled, and its publication is live with a live revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMock {
    /// Which mock.
    pub mock_id: MockId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its host, as `Host::as_str`.
    pub host: String,
    /// The publication's live revision: what is served.
    pub revision: Revision,
}

/// The most times [`change_publication`] reads and saves a publication before it gives up.
/// The api, the generator and ops each save on a fresh read, so a conflict means another
/// writer won a moment ago; five tries ride out any realistic burst.
pub const PUBLICATION_SAVE_ATTEMPTS: usize = 5;

/// What [`change_publication`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationChange {
    /// The change was saved: the publication as stored now.
    Saved(Publication),
    /// The change found nothing to do: the publication as read.
    Unchanged(Publication),
}

impl PublicationChange {
    /// The publication, saved or as read.
    pub fn into_publication(self) -> Publication {
        match self {
            Self::Saved(publication) | Self::Unchanged(publication) => publication,
        }
    }
}

/// Why [`change_publication`] saved nothing.
#[derive(Debug, thiserror::Error)]
pub enum PublicationChangeError<E> {
    /// The repository failed; `NotFound` when the mock is gone or `scope` does not see it.
    #[error(transparent)]
    Port(PortError),
    /// The change refused the publication as it was.
    #[error("the change was refused")]
    Refused(E),
    /// Every attempt lost to another writer.
    #[error("the publication of {mock_id} kept changing ({attempts} attempts)")]
    KeptChanging {
        /// Whose publication.
        mock_id: MockId,
        /// How many attempts were made.
        attempts: usize,
    },
}

/// The optimistic read-change-save of a publication, in one place: reads the publication
/// of `mock_id`, lets `change` edit it and return the events of the change (`None`: nothing
/// to save), and saves both; when another writer saved first (`Conflict`), starts again
/// from the fresh publication, at most [`PUBLICATION_SAVE_ATTEMPTS`] times.
///
/// # Errors
/// A [`PublicationChangeError`]: the repository's error, the change's refusal, or too many
/// conflicts.
pub async fn change_publication<E, F>(
    publications: &dyn PublicationRepository,
    scope: &Scope,
    mock_id: MockId,
    mut change: F,
) -> Result<PublicationChange, PublicationChangeError<E>>
where
    F: FnMut(&mut Publication) -> Result<Option<Vec<Event>>, E>,
{
    change_publication_with(publications, scope, mock_id, |mut publication| {
        let changed = change(&mut publication).map(|events| events.map(|e| (publication, e)));
        std::future::ready(changed)
    })
    .await
}

/// [`change_publication`] for a change that must wait on something (a read of the mock, a
/// check): `change` takes the fresh publication and gives back the changed one with its
/// events, or `None` for nothing to save.
///
/// # Errors
/// As [`change_publication`].
pub async fn change_publication_with<E, F, Fut>(
    publications: &dyn PublicationRepository,
    scope: &Scope,
    mock_id: MockId,
    mut change: F,
) -> Result<PublicationChange, PublicationChangeError<E>>
where
    F: FnMut(Publication) -> Fut,
    Fut: Future<Output = Result<Option<(Publication, Vec<Event>)>, E>>,
{
    for _ in 0..PUBLICATION_SAVE_ATTEMPTS {
        let fresh = publications
            .get(scope, mock_id)
            .await
            .map_err(PublicationChangeError::Port)?;
        let Some((changed, events)) = change(fresh.clone())
            .await
            .map_err(PublicationChangeError::Refused)?
        else {
            return Ok(PublicationChange::Unchanged(fresh));
        };
        match publications.save(scope, &changed, &events).await {
            Ok(saved) => return Ok(PublicationChange::Saved(saved)),
            Err(e) if e.kind() == PortErrorKind::Conflict => {
                tracing::debug!(%mock_id, "the publication changed meanwhile; trying again");
            }
            Err(e) => return Err(PublicationChangeError::Port(e)),
        }
    }
    Err(PublicationChangeError::KeptChanging {
        mock_id,
        attempts: PUBLICATION_SAVE_ATTEMPTS,
    })
}
