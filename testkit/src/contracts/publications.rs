//! The `PublicationRepository` contract.

use moclojer_domain::{Diagnostic, EventKind, Publication, Revision};
use moclojer_ports::{IdGenerator, PortErrorKind::*, RandomIds, Scope};

use crate::{Fixture, Repos, expect_kind};

/// Runs every rule of `PublicationRepository` against `repos` (fresh).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn publication_repository_contract(repos: Repos) {
    let fx = Fixture::new();
    let publications = &repos.publications;
    let (alice, personal) = fx.signed_up(&repos).await;
    let (bob, _) = fx.signed_up(&repos).await;
    let as_alice = Scope::User(alice.id);
    let as_bob = Scope::User(bob.id);
    let mock = fx
        .stored_mock(&repos, &as_alice, &personal, "published")
        .await;

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

    // Scope.
    expect_kind(
        publications.get(&as_bob, mock.id).await,
        NotFound,
        "another user reads the publication",
    );
    expect_kind(
        publications.save(&as_bob, &saved_invalid, &[]).await,
        NotFound,
        "another user saves the publication",
    );
    assert!(
        publications.list(&as_bob).await.expect("list").is_empty(),
        "another user lists nothing"
    );
    assert_eq!(
        publications.list(&as_alice).await.expect("list"),
        vec![saved_invalid.clone()]
    );
    assert!(
        publications
            .list(&Scope::System)
            .await
            .expect("list")
            .contains(&saved_invalid)
    );

    let unknown = Publication::new(RandomIds.mock_id(), fx.now);
    expect_kind(
        publications.get(&Scope::System, unknown.mock_id).await,
        NotFound,
        "an unknown mock's publication",
    );
    expect_kind(
        publications.save(&Scope::System, &unknown, &[]).await,
        NotFound,
        "saving an unknown mock's publication",
    );
}
