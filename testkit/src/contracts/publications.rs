//! The `PublicationRepository` contract.

use moclojer_domain::{
    Diagnostic, EventKind, Mock, MockId, Publication, PublicationError, Revision, Role,
    ServerState, User, Workspace,
};
use moclojer_ports::{IdGenerator, LiveMock, PortErrorKind::*, RandomIds, Scope};

use crate::{Fixture, Repos, expect_kind, save_org};

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
    live_and_publishing(&fx, &repos).await;
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

/// `live` and `publishing`, the generator's reads. A mock is live while it is enabled and
/// its publication `is_live` (a live revision, and a server side that is not offline), at
/// that revision; it is publishing while its server side is, enabled or not. Both are
/// scoped like `list`; `live` is by host, `publishing` by mock id.
async fn live_and_publishing(fx: &Fixture, repos: &Repos) {
    through_a_publication(fx, repos).await;
    live_and_publishing_scoped_and_ordered(fx, repos).await;
}

/// One mock through publishing, re-publishing, an invalid edit, being disabled and
/// unpublishing, as its owner sees it.
async fn through_a_publication(fx: &Fixture, repos: &Repos) {
    let (alice, personal) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let (one, two) = (Revision::FIRST, Revision::FIRST.next());
    let shop = enabled_mock(fx, repos, &as_alice, &personal, "shop").await;
    expect_seen(repos, &as_alice, &[], &[], "an offline mock").await;

    changed(repos, &shop, |p| p.request_publish(one, fx.now)).await;
    expect_seen(
        repos,
        &as_alice,
        &[],
        &[shop.id],
        "a first publish under way",
    )
    .await;
    changed(repos, &shop, |p| p.mark_published(one, fx.now)).await;
    let live_at_one = [live_mock(&shop, one)];
    expect_seen(repos, &as_alice, &live_at_one, &[], "a published mock").await;

    changed(repos, &shop, |p| p.request_publish(two, fx.now)).await;
    expect_seen(
        repos,
        &as_alice,
        &live_at_one,
        &[shop.id],
        "a re-publish under way keeps the live revision live",
    )
    .await;
    changed(repos, &shop, |p| {
        p.mark_invalid(two, vec![Diagnostic::error(1, 1, "bad")], fx.now)
    })
    .await;
    expect_seen(
        repos,
        &as_alice,
        &live_at_one,
        &[],
        "an invalid re-publish keeps the old revision live",
    )
    .await;

    disabled_then_unpublished(fx, repos, &as_alice, &shop).await;
    never_live(fx, repos, &as_alice, &personal).await;
}

/// A published mock disabled, published again while disabled, enabled again, then
/// unpublished.
async fn disabled_then_unpublished(fx: &Fixture, repos: &Repos, as_alice: &Scope, shop: &Mock) {
    let as_alice = *as_alice;
    let three = Revision::FIRST.next().next();
    let disabled = set_enabled(fx, repos, &as_alice, shop, false).await;
    expect_seen(repos, &as_alice, &[], &[], "a disabled mock is not live").await;
    changed(repos, shop, |p| p.request_publish(three, fx.now)).await;
    expect_seen(
        repos,
        &as_alice,
        &[],
        &[shop.id],
        "a disabled mock being published is publishing",
    )
    .await;
    changed(repos, shop, |p| p.mark_published(three, fx.now)).await;
    expect_seen(repos, &as_alice, &[], &[], "a disabled mock, published").await;
    set_enabled(fx, repos, &as_alice, &disabled, true).await;
    expect_seen(
        repos,
        &as_alice,
        &[live_mock(shop, three)],
        &[],
        "enabled again, at the new live revision",
    )
    .await;

    changed(repos, shop, |p| {
        assert!(
            p.unpublish(fx.now),
            "unpublishing a published mock changes it"
        );
        Ok(())
    })
    .await;
    expect_seen(repos, &as_alice, &[], &[], "an unpublished mock").await;
}

/// A mock whose first publish came back invalid, and a publication made offline by hand
/// with a live revision: neither is live.
async fn never_live(fx: &Fixture, repos: &Repos, as_alice: &Scope, personal: &Workspace) {
    let as_alice = *as_alice;
    let one = Revision::FIRST;
    let broken = enabled_mock(fx, repos, &as_alice, personal, "broken").await;
    changed(repos, &broken, |p| p.request_publish(one, fx.now)).await;
    changed(repos, &broken, |p| {
        p.mark_invalid(one, vec![Diagnostic::error(1, 1, "bad")], fx.now)
    })
    .await;
    expect_seen(
        repos,
        &as_alice,
        &[],
        &[],
        "an invalid first publish has no live revision",
    )
    .await;

    // Not a state the domain makes, but `is_live` says no: offline is never live.
    changed(repos, &broken, |p| {
        p.server = ServerState::Offline;
        p.live_revision = Some(one);
        Ok(())
    })
    .await;
    expect_seen(
        repos,
        &as_alice,
        &[],
        &[],
        "an offline publication that kept a live revision",
    )
    .await;
}

/// A user sees the live and publishing mocks of their own workspaces (their personal one
/// and the orgs they are a member of), a stranger none, the system all of them; `live` by
/// host byte by byte, `publishing` by mock id.
async fn live_and_publishing_scoped_and_ordered(fx: &Fixture, repos: &Repos) {
    let publications = &repos.publications;
    let system_live = publications.live(&Scope::System).await.expect("live");
    let system_publishing = publications
        .publishing(&Scope::System)
        .await
        .expect("publishing");
    let (alice, alices) = fx.signed_up(repos).await;
    let (bob, bobs) = fx.signed_up(repos).await;
    let (as_alice, as_bob) = (Scope::User(alice.id), Scope::User(bob.id));
    let mut acme = fx.org(repos, &alice).await;
    acme.add_member(alice.id, bob.id, Role::Member)
        .expect("domain allows");
    save_org(&*repos.accounts, &as_alice, &acme)
        .await
        .expect("save");

    let alices_mocks = in_host_order(fx, repos, &as_alice, &alices).await;
    let bobs_mock = enabled_mock(fx, repos, &as_bob, &bobs, "bobs").await;
    let shared = enabled_mock(fx, repos, &as_alice, &acme, "shared").await;

    // Each is live at one and publishing two.
    let (one, two) = (Revision::FIRST, Revision::FIRST.next());
    let every: Vec<&Mock> = alices_mocks.iter().chain([&bobs_mock, &shared]).collect();
    for mock in &every {
        changed(repos, mock, |p| p.request_publish(one, fx.now)).await;
        changed(repos, mock, |p| p.mark_published(one, fx.now)).await;
        changed(repos, mock, |p| p.request_publish(two, fx.now)).await;
    }
    let live_by_host = |mocks: &[&Mock], mut base: Vec<LiveMock>| {
        base.extend(mocks.iter().map(|m| live_mock(m, one)));
        base.sort_by(|a, b| a.host.cmp(&b.host));
        base
    };
    let by_mock_id = |mocks: &[&Mock], mut base: Vec<MockId>| {
        base.extend(mocks.iter().map(|m| m.id));
        base.sort();
        base
    };

    let alices_own: Vec<&Mock> = alices_mocks.iter().collect();
    expect_ordered(repos, &as_alice, &alices, &alices_own).await;

    let mut alice_sees = alices_own;
    alice_sees.push(&shared);
    expect_seen(
        repos,
        &as_alice,
        &live_by_host(&alice_sees, Vec::new()),
        &by_mock_id(&alice_sees, Vec::new()),
        "a user sees their own mocks and their org's",
    )
    .await;
    expect_seen(
        repos,
        &as_bob,
        &live_by_host(&[&bobs_mock, &shared], Vec::new()),
        &by_mock_id(&[&bobs_mock, &shared], Vec::new()),
        "a member sees their own mocks and the org's, not another member's",
    )
    .await;
    expect_seen(
        repos,
        &Scope::User(RandomIds.user_id()),
        &[],
        &[],
        "a stranger",
    )
    .await;
    expect_seen(
        repos,
        &Scope::System,
        &live_by_host(&every, system_live),
        &by_mock_id(&every, system_publishing),
        "the system sees every mock",
    )
    .await;
}

/// Mocks of `workspace` whose hosts, byte by byte ('-' before digits before letters), come
/// in the opposite order of their ids, so that either list in the other's order is caught.
async fn in_host_order(
    fx: &Fixture,
    repos: &Repos,
    scope: &Scope,
    workspace: &Workspace,
) -> Vec<Mock> {
    let names = ["a-b", "a0", "ab", "b"];
    let mut ids: Vec<MockId> = names.iter().map(|_| RandomIds.mock_id()).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let mut mocks = Vec::new();
    for (name, id) in names.into_iter().zip(ids) {
        let mut mock = fx.mock(workspace, name);
        mock.id = id;
        mock.set_enabled(true, fx.now);
        repos
            .mocks
            .create(scope, &mock, &[])
            .await
            .expect("create mock");
        mocks.push(mock);
    }
    mocks
}

/// Alice's own mocks (made by [`in_host_order`]) come out by host in `live`, and by id
/// (the reverse) in `publishing`.
async fn expect_ordered(repos: &Repos, as_alice: &Scope, alices: &Workspace, alices_own: &[&Mock]) {
    let publications = &repos.publications;
    let hosts_of = |live: Vec<LiveMock>| -> Vec<String> {
        live.into_iter()
            .filter(|l| l.workspace_id == alices.id)
            .map(|l| l.host)
            .collect()
    };
    assert_eq!(
        hosts_of(publications.live(as_alice).await.expect("live")),
        alices_own
            .iter()
            .map(|m| m.host.as_str().to_owned())
            .collect::<Vec<_>>(),
        "live mocks by host, byte by byte"
    );
    let own_publishing: Vec<MockId> = publications
        .publishing(as_alice)
        .await
        .expect("publishing")
        .into_iter()
        .filter(|id| alices_own.iter().any(|m| m.id == *id))
        .collect();
    assert_eq!(
        own_publishing,
        alices_own.iter().rev().map(|m| m.id).collect::<Vec<_>>(),
        "publishing mocks by mock id"
    );
}

/// Asserts that `scope` sees exactly `live` as live and `publishing` as publishing.
async fn expect_seen(
    repos: &Repos,
    scope: &Scope,
    live: &[LiveMock],
    publishing: &[MockId],
    what: &str,
) {
    assert_eq!(
        repos.publications.live(scope).await.expect("live"),
        live,
        "{what}: live"
    );
    assert_eq!(
        repos
            .publications
            .publishing(scope)
            .await
            .expect("publishing"),
        publishing,
        "{what}: publishing"
    );
}

/// `mock` as `live` lists it at `revision`.
fn live_mock(mock: &Mock, revision: Revision) -> LiveMock {
    LiveMock {
        mock_id: mock.id,
        workspace_id: mock.workspace_id,
        host: mock.host.as_str().to_owned(),
        revision,
    }
}

/// Stores a new mock named `name` in `workspace`, as `scope`, enabled.
async fn enabled_mock(
    fx: &Fixture,
    repos: &Repos,
    scope: &Scope,
    workspace: &Workspace,
    name: &str,
) -> Mock {
    let stored = fx.stored_mock(repos, scope, workspace, name).await;
    set_enabled(fx, repos, scope, &stored, true).await
}

/// Stores `mock` with `enabled`; returns it as stored.
async fn set_enabled(
    fx: &Fixture,
    repos: &Repos,
    scope: &Scope,
    mock: &Mock,
    enabled: bool,
) -> Mock {
    let mut changed = mock.clone();
    changed.set_enabled(enabled, fx.now);
    repos
        .mocks
        .update(scope, &changed, mock.revision, &[])
        .await
        .expect("update the mock");
    changed
}

/// Applies `change` to the stored publication of `mock` and saves it.
async fn changed(
    repos: &Repos,
    mock: &Mock,
    change: impl FnOnce(&mut Publication) -> Result<(), PublicationError>,
) {
    let mut publication = repos
        .publications
        .get(&Scope::System, mock.id)
        .await
        .expect("get");
    change(&mut publication).expect("domain allows");
    repos
        .publications
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save");
}
