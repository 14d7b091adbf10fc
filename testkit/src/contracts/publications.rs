//! The `PublicationRepository` contract.

use moclojer_domain::{Diagnostic, EventKind, Mock, Publication, Revision, User, Workspace};
use moclojer_ports::{IdGenerator, PortErrorKind::*, RandomIds, Scope};

use crate::{Fixture, Repos, expect_kind};

/// Runs every rule of `PublicationRepository` against `repos` (fresh).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn publication_repository_contract(repos: Repos) {
    let fx = Fixture::new();
    let (alice, personal) = fx.signed_up(&repos).await;
    let mock = fx
        .stored_mock(&repos, &Scope::User(alice.id), &personal, "published")
        .await;
    let saved = saving(&fx, &repos, &alice, &mock).await;
    scope(&fx, &repos, &alice, &saved).await;
    unknown_mocks(&fx, &repos).await;
    a_deleted_mock(&fx, &repos, &alice, &personal).await;
    concurrent_saves(&fx, &repos, &alice, &personal).await;
}

/// Transitions are stored, each bumping the version, with their details; a stale save is
/// refused. Returns what is stored at the end.
async fn saving(fx: &Fixture, repos: &Repos, alice: &User, mock: &Mock) -> Publication {
    let publications = &repos.publications;
    let as_alice = Scope::User(alice.id);
    let fresh = publications
        .get(&as_alice, mock.id)
        .await
        .expect("a new mock has a publication");
    assert_eq!(
        fresh,
        Publication::new(mock.id, mock.created_at),
        "a new mock's publication is offline, version 0"
    );

    // Transitions are stored, each bumping the version.
    let mut publication = fresh.clone();
    publication
        .request_publish(Revision::FIRST, fx.now)
        .expect("domain allows");
    let changed = fx.event(EventKind::PublicationChanged { mock_id: mock.id });
    let saved = publications
        .save(&as_alice, &publication, std::slice::from_ref(&changed))
        .await
        .expect("save");
    assert_eq!(saved.version, 1, "save bumps the version");
    assert_eq!(
        publications.get(&as_alice, mock.id).await.expect("get"),
        saved,
        "save returns what is stored"
    );

    // Details survive the round trip.
    let mut invalid = saved.clone();
    let diagnostics = vec![
        Diagnostic::error(3, 5, "unknown key \"respons\"").in_item(0, "endpoint.respons"),
        Diagnostic::warning(9, 1, "a warning"),
    ];
    invalid
        .mark_invalid(Revision::FIRST, diagnostics, fx.now.plus_millis(1))
        .expect("domain allows");
    invalid.dns_requested(fx.now).expect("domain allows");
    invalid
        .dns_failed("the provider said no", fx.now.plus_millis(2))
        .expect("domain allows");
    let saved_invalid = publications
        .save(&as_alice, &invalid, &[])
        .await
        .expect("save");
    assert_eq!(saved_invalid.version, 2);
    assert_eq!(
        publications.get(&as_alice, mock.id).await.expect("get"),
        saved_invalid,
        "diagnostics and reasons read back"
    );

    // A writer that read version 1 lost the race.
    let mut late = saved.clone();
    late.request_publish(Revision::FIRST, fx.now)
        .expect("domain allows");
    expect_kind(
        publications.save(&as_alice, &late, &[]).await,
        Conflict,
        "a save on a stale version",
    );
    assert_eq!(
        publications.get(&as_alice, mock.id).await.expect("get"),
        saved_invalid,
        "a stale save changes nothing"
    );
    saved_invalid
}

/// Another user neither reads nor saves Alice's publication.
async fn scope(fx: &Fixture, repos: &Repos, alice: &User, saved: &Publication) {
    let publications = &repos.publications;
    let (bob, _) = fx.signed_up(repos).await;
    let as_bob = Scope::User(bob.id);
    expect_kind(
        publications.get(&as_bob, saved.mock_id).await,
        NotFound,
        "another user reads the publication",
    );
    expect_kind(
        publications.save(&as_bob, saved, &[]).await,
        NotFound,
        "another user saves the publication",
    );
    assert!(
        publications.list(&as_bob).await.expect("list").is_empty(),
        "another user lists nothing"
    );
    assert_eq!(
        publications
            .list(&Scope::User(alice.id))
            .await
            .expect("list"),
        vec![saved.clone()]
    );
    assert!(
        publications
            .list(&Scope::System)
            .await
            .expect("list")
            .contains(saved)
    );
}

async fn unknown_mocks(fx: &Fixture, repos: &Repos) {
    let unknown = Publication::new(RandomIds.mock_id(), fx.now);
    expect_kind(
        repos
            .publications
            .get(&Scope::System, unknown.mock_id)
            .await,
        NotFound,
        "an unknown mock's publication",
    );
    expect_kind(
        repos.publications.save(&Scope::System, &unknown, &[]).await,
        NotFound,
        "saving an unknown mock's publication",
    );
}

/// A publication saved after its mock was deleted is refused as for a mock that never
/// was: `NotFound`, on every adapter, and nothing is recorded.
async fn a_deleted_mock(fx: &Fixture, repos: &Repos, alice: &User, personal: &Workspace) {
    let as_alice = Scope::User(alice.id);
    let doomed = fx.stored_mock(repos, &as_alice, personal, "doomed").await;
    let mut publication = repos
        .publications
        .get(&as_alice, doomed.id)
        .await
        .expect("get");
    publication
        .request_publish(Revision::FIRST, fx.now)
        .expect("domain allows");
    repos
        .mocks
        .delete(&as_alice, doomed.id, &[])
        .await
        .expect("delete the mock");
    let pending = repos.outbox.pending(10_000).await.expect("pending");
    let changed = fx.event(EventKind::PublicationChanged { mock_id: doomed.id });
    for scope in [&as_alice, &Scope::System] {
        expect_kind(
            repos
                .publications
                .save(scope, &publication, std::slice::from_ref(&changed))
                .await,
            NotFound,
            "a publication saved after its mock was deleted",
        );
    }
    assert_eq!(
        repos.outbox.pending(10_000).await.expect("pending"),
        pending,
        "a refused save records no event"
    );
}

/// Of several saves of one version at once, exactly one wins, and only its event is
/// recorded.
async fn concurrent_saves(fx: &Fixture, repos: &Repos, alice: &User, personal: &Workspace) {
    let as_alice = Scope::User(alice.id);
    let mock = fx.stored_mock(repos, &as_alice, personal, "raced").await;
    let publication = repos
        .publications
        .get(&Scope::System, mock.id)
        .await
        .expect("get");
    let tasks: Vec<_> = (0..8_i64)
        .map(|n| {
            let publications = repos.publications.clone();
            let mut attempt = publication.clone();
            attempt
                .dns_requested(fx.now.plus_millis(10 * n))
                .expect("domain allows");
            let changed = fx.event(EventKind::PublicationChanged { mock_id: mock.id });
            tokio::spawn(async move {
                publications
                    .save(&Scope::System, &attempt, &[changed])
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("the task ran") {
            Ok(saved) => {
                won += 1;
                assert_eq!(saved.version, 1);
            }
            Err(err) => assert_eq!(err.kind(), Conflict, "a losing save: {err}"),
        }
    }
    assert_eq!(won, 1, "exactly one of the saves of one version wins");
    let stored = repos
        .publications
        .get(&Scope::System, mock.id)
        .await
        .expect("get");
    assert_eq!(stored.version, 1);
    let recorded = repos
        .outbox
        .pending(10_000)
        .await
        .expect("pending")
        .iter()
        .filter(|e| e.event.kind == EventKind::PublicationChanged { mock_id: mock.id })
        .count();
    assert_eq!(recorded, 1, "only the winner's event is recorded");
}
