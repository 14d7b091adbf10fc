//! The `MockRepository` contract.

use moclojer_domain::{EventKind, Host, Mock, MockId, Revision, Role, SpecSource, User, Workspace};
use moclojer_ports::{
    IdGenerator, KeepRevisions, MAX_REVISION_PAGE, PortErrorKind::*, RandomIds, RevisionQuery,
    RevisionSummary, Scope,
};

use crate::{Fixture, Repos, expect_kind, save_org};

/// Runs every rule of `MockRepository` against `repos` (fresh).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn mock_repository_contract(repos: Repos) {
    let fx = Fixture::new();
    creating_and_reading(&fx, &repos).await;
    updating(&fx, &repos).await;
    deleting(&fx, &repos).await;
    org_members(&fx, &repos).await;
    scoping(&fx, &repos).await;
    orderings(&fx, &repos).await;
    revisions_together(&fx, &repos).await;
    history_pages(&fx, &repos).await;
    history_retention(&fx, &repos).await;
    history_retention_by_default(&fx, &repos).await;
}

async fn creating_and_reading(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (alice, personal) = fx.signed_up(repos).await;
    let (bob, bobs) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let as_bob = Scope::User(bob.id);

    let hello = fx.mock(&personal, "hello");
    let changed = fx.event(EventKind::MockChanged {
        mock_id: hello.id,
        revision: hello.revision,
    });
    mocks
        .create(&as_alice, &hello, std::slice::from_ref(&changed))
        .await
        .expect("create a mock");
    assert_eq!(
        mocks.get(&as_alice, hello.id).await.expect("get"),
        hello,
        "a mock reads back as written"
    );
    assert_eq!(
        mocks
            .get(&Scope::System, hello.id)
            .await
            .expect("system get"),
        hello
    );
    assert_eq!(
        mocks
            .find_by_host(&as_alice, &hello.host)
            .await
            .expect("find by host"),
        hello
    );
    let revisions = mocks
        .revisions(&as_alice, hello.id)
        .await
        .expect("revisions");
    assert_eq!(
        revisions,
        vec![hello.current_revision()],
        "creation stores revision 1"
    );

    // Another user sees none of it.
    expect_kind(
        mocks.get(&as_bob, hello.id).await,
        NotFound,
        "another user gets the mock",
    );
    expect_kind(
        mocks.find_by_host(&as_bob, &hello.host).await,
        NotFound,
        "another user finds the host",
    );
    expect_kind(
        mocks.revisions(&as_bob, hello.id).await,
        NotFound,
        "another user reads the history",
    );
    expect_kind(
        mocks.revision(&as_bob, hello.id, Revision::FIRST).await,
        NotFound,
        "another user reads a revision",
    );
    expect_kind(
        mocks.list_in_workspace(&as_bob, personal.id).await,
        NotFound,
        "another user lists the workspace",
    );
    assert!(
        mocks.list(&as_bob).await.expect("list").is_empty(),
        "another user's list is empty"
    );

    let pair = Pair {
        as_alice,
        personal,
        as_bob,
        bobs,
    };
    create_refusals(fx, repos, &pair, &hello).await;
    listing(fx, repos, &pair, &hello).await;
}

/// Alice and Bob, each signed up with a personal workspace, as the sections on creating
/// and reading see them.
struct Pair {
    as_alice: Scope,
    personal: Workspace,
    as_bob: Scope,
    bobs: Workspace,
}

/// Refused creates: in another user's workspace, under another workspace's handle, on a
/// taken host or id.
async fn create_refusals(fx: &Fixture, repos: &Repos, pair: &Pair, hello: &Mock) {
    let Pair {
        as_alice,
        personal,
        as_bob,
        bobs,
    } = pair;
    let mocks = &repos.mocks;
    // Nor can they create in alice's workspace.
    let intruder = fx.mock(personal, "intruder");
    expect_kind(
        mocks.create(as_bob, &intruder, &[]).await,
        NotFound,
        "creating in another user's workspace",
    );
    expect_kind(
        mocks.get(&Scope::System, intruder.id).await,
        NotFound,
        "a refused mock",
    );

    // The host belongs to the workspace's handle.
    let misplaced = fx.mock(bobs, "misplaced");
    let mut under_alice = misplaced.clone();
    under_alice.workspace_id = personal.id;
    expect_kind(
        mocks.create(as_alice, &under_alice, &[]).await,
        Invalid,
        "a host under another workspace's handle",
    );

    // Hosts are unique across everything; ids too.
    let mut same_host = fx.mock(personal, "hello");
    same_host.content = SpecSource::new("[]").expect("spec");
    expect_kind(
        mocks.create(as_alice, &same_host, &[]).await,
        Conflict,
        "a taken host",
    );
    let mut same_id = fx.mock(personal, "other");
    same_id.id = hello.id;
    expect_kind(
        mocks.create(as_alice, &same_id, &[]).await,
        Conflict,
        "a taken id",
    );
}

/// Every mock a scope sees, by host; summaries alike; unknown things are `NotFound`.
async fn listing(fx: &Fixture, repos: &Repos, pair: &Pair, hello: &Mock) {
    let Pair {
        as_alice,
        personal,
        as_bob,
        bobs,
    } = pair;
    let mocks = &repos.mocks;
    let api = fx.stored_mock(repos, as_alice, personal, "api").await;
    let zed = fx.stored_mock(repos, as_alice, personal, "zed").await;
    let bobs_mock = fx.stored_mock(repos, as_bob, bobs, "hello").await;
    let mut expected = vec![api.clone(), hello.clone(), zed.clone()];
    expected.sort_by(|a, b| a.host.cmp(&b.host));
    assert_eq!(
        mocks.list(as_alice).await.expect("list"),
        expected,
        "a user's mocks, by host"
    );
    assert_eq!(
        mocks
            .list_in_workspace(as_alice, personal.id)
            .await
            .expect("list"),
        expected
    );
    assert_eq!(
        mocks.list(as_bob).await.expect("list"),
        vec![bobs_mock.clone()]
    );
    assert_eq!(
        mocks.list_summaries(as_alice).await.expect("summaries"),
        expected
            .iter()
            .map(moclojer_domain::MockSummary::from)
            .collect::<Vec<_>>(),
        "summaries are the list without content, scoped and ordered alike"
    );
    assert_eq!(
        mocks.list_summaries(as_bob).await.expect("summaries").len(),
        1
    );
    let all = mocks.list(&Scope::System).await.expect("list all");
    assert!(
        all.contains(&bobs_mock) && all.contains(hello),
        "the system sees every mock"
    );
    expect_kind(
        mocks
            .list_in_workspace(as_alice, RandomIds.workspace_id())
            .await,
        NotFound,
        "an unknown workspace",
    );
    let nowhere = Host::parse_any("nothing-here.test.localhost").expect("host");
    expect_kind(
        mocks.find_by_host(&Scope::System, &nowhere).await,
        NotFound,
        "an unknown host",
    );
    expect_kind(
        mocks.get(&Scope::System, RandomIds.mock_id()).await,
        NotFound,
        "an unknown mock",
    );
}

async fn updating(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (alice, personal) = fx.signed_up(repos).await;
    let (bob, _) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let original = fx.stored_mock(repos, &as_alice, &personal, "edited").await;

    let mut edited = original.clone();
    let new_content = SpecSource::new("- endpoint:\n    path: /v2\n").expect("spec");
    assert!(
        edited
            .edit(
                new_content.clone(),
                Some(Revision::FIRST),
                fx.now.plus_millis(5)
            )
            .expect("edit")
    );
    mocks
        .update(&as_alice, &edited, Revision::FIRST, &[])
        .await
        .expect("store an edit");
    let stored = mocks.get(&as_alice, original.id).await.expect("get");
    assert_eq!(stored, edited, "an edit reads back");
    let two = Revision::new(2).expect("2");
    let history = mocks
        .revisions(&as_alice, original.id)
        .await
        .expect("revisions");
    let numbers: Vec<u64> = history.iter().map(|r| r.revision.get()).collect();
    assert_eq!(numbers, [2, 1], "history, newest first");
    assert_eq!(history[0].content, new_content);
    assert_eq!(
        mocks
            .revision(&as_alice, original.id, Revision::FIRST)
            .await
            .expect("rev 1")
            .content,
        original.content
    );
    expect_kind(
        mocks.revision(&as_alice, original.id, two.next()).await,
        NotFound,
        "a revision that never was",
    );

    // A change based on revision 1 is refused now.
    let mut stale = original.clone();
    stale
        .edit(SpecSource::new("[]").expect("spec"), None, fx.now)
        .expect("edit");
    expect_kind(
        mocks.update(&as_alice, &stale, Revision::FIRST, &[]).await,
        Conflict,
        "a stale update",
    );
    assert_eq!(
        mocks.get(&as_alice, original.id).await.expect("get"),
        edited,
        "a stale update changes nothing"
    );
    enabling_and_refusals(fx, repos, &as_alice, &bob, &original, &edited).await;
}

/// Enabling moves no revision; malformed and foreign updates are refused and change
/// nothing.
async fn enabling_and_refusals(
    fx: &Fixture,
    repos: &Repos,
    as_alice: &Scope,
    bob: &User,
    original: &Mock,
    edited: &Mock,
) {
    let mocks = &repos.mocks;
    let two = Revision::new(2).expect("2");
    // Enabling moves no revision and adds no history.
    let mut enabled = edited.clone();
    enabled.set_enabled(true, fx.now.plus_millis(9));
    mocks
        .update(as_alice, &enabled, two, &[])
        .await
        .expect("enable");
    assert!(
        mocks.get(as_alice, original.id).await.expect("get").enabled,
        "enabled is stored"
    );
    assert_eq!(
        mocks
            .revisions(as_alice, original.id)
            .await
            .expect("revisions")
            .len(),
        2,
        "enabling adds no revision"
    );

    // Malformed updates.
    let mut leap = enabled.clone();
    leap.revision = two.next().next();
    expect_kind(
        mocks.update(as_alice, &leap, two, &[]).await,
        Invalid,
        "a revision that leaps",
    );
    let mut rehosted = enabled.clone();
    rehosted.host = Host::parse_any("moved-elsewhere.test.localhost").expect("host");
    expect_kind(
        mocks.update(as_alice, &rehosted, two, &[]).await,
        Invalid,
        "a changed host",
    );
    expect_kind(
        mocks.update(&Scope::User(bob.id), &enabled, two, &[]).await,
        NotFound,
        "another user's update",
    );
    let mut ghost = enabled.clone();
    ghost.id = RandomIds.mock_id();
    expect_kind(
        mocks.update(as_alice, &ghost, two, &[]).await,
        NotFound,
        "updating an unknown mock",
    );
    assert_eq!(
        mocks.get(as_alice, original.id).await.expect("get"),
        enabled,
        "refused updates change nothing"
    );
}

async fn deleting(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (alice, personal) = fx.signed_up(repos).await;
    let (bob, _) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let doomed = fx.stored_mock(repos, &as_alice, &personal, "doomed").await;

    expect_kind(
        mocks.delete(&Scope::User(bob.id), doomed.id, &[]).await,
        NotFound,
        "another user deletes the mock",
    );
    assert!(
        mocks.get(&as_alice, doomed.id).await.is_ok(),
        "a refused delete keeps the mock"
    );

    assert_eq!(
        mocks
            .delete(&as_alice, doomed.id, &[])
            .await
            .expect("delete"),
        doomed,
        "delete returns the mock"
    );
    expect_kind(
        mocks.get(&Scope::System, doomed.id).await,
        NotFound,
        "a deleted mock",
    );
    expect_kind(
        mocks.revisions(&Scope::System, doomed.id).await,
        NotFound,
        "a deleted mock's history",
    );
    expect_kind(
        repos.publications.get(&Scope::System, doomed.id).await,
        NotFound,
        "a deleted mock's publication",
    );
    expect_kind(
        mocks.delete(&as_alice, doomed.id, &[]).await,
        NotFound,
        "deleting twice",
    );

    // The host is free again.
    let reborn = fx.mock(&personal, "doomed");
    mocks
        .create(&as_alice, &reborn, &[])
        .await
        .expect("a deleted mock's host can be taken again");
}

async fn org_members(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (owner, _) = fx.signed_up(repos).await;
    let (member, _) = fx.signed_up(repos).await;
    let mut org = fx.org(repos, &owner).await;
    org.add_member(owner.id, member.id, Role::Member)
        .expect("domain allows");
    save_org(&*repos.accounts, &Scope::User(owner.id), &org)
        .await
        .expect("save");

    let as_member = Scope::User(member.id);
    let shared = fx.stored_mock(repos, &as_member, &org, "shared").await;
    assert_eq!(
        mocks
            .get(&Scope::User(owner.id), shared.id)
            .await
            .expect("the owner sees a member's mock"),
        shared
    );

    org.remove_member(owner.id, member.id)
        .expect("domain allows");
    save_org(&*repos.accounts, &Scope::User(owner.id), &org)
        .await
        .expect("save");
    expect_kind(
        mocks.get(&as_member, shared.id).await,
        NotFound,
        "a removed member reads an org mock",
    );
    expect_kind(
        mocks.delete(&as_member, shared.id, &[]).await,
        NotFound,
        "a removed member deletes an org mock",
    );
}

/// What a scope sees across accounts, mocks and publications: a member of an org sees it
/// and its mocks, not another member's personal workspace or mocks; a stranger sees
/// nothing; the system sees everything.
async fn scoping(fx: &Fixture, repos: &Repos) {
    let (alice, alices) = fx.signed_up(repos).await;
    let (bob, bobs) = fx.signed_up(repos).await;
    let (as_alice, as_bob) = (Scope::User(alice.id), Scope::User(bob.id));
    let mut acme = fx.org(repos, &alice).await;
    acme.add_member(alice.id, bob.id, Role::Member)
        .expect("domain allows");
    save_org(&*repos.accounts, &as_alice, &acme)
        .await
        .expect("save");
    let private = fx.stored_mock(repos, &as_alice, &alices, "private").await;
    let shared = fx.stored_mock(repos, &as_alice, &acme, "shared").await;

    // Bob sees acme and its mock, not Alice's personal workspace or its mock.
    assert_eq!(
        repos.accounts.list_workspaces(&as_bob).await.expect("list"),
        [bobs, acme.clone()],
        "a member lists their own workspace, then the org"
    );
    let accounts = &repos.accounts;
    expect_kind(
        accounts.get_workspace(&as_bob, alices.id).await,
        NotFound,
        "a member gets another member's personal workspace",
    );
    expect_kind(
        accounts.find_workspace(&as_bob, &alices.handle).await,
        NotFound,
        "a member finds another member's personal workspace",
    );
    assert_eq!(
        repos.mocks.list(&as_bob).await.expect("list"),
        std::slice::from_ref(&shared),
        "a member lists the org's mocks only"
    );
    foreign_mock_is_hidden(fx, repos, &as_bob, &private, &alices).await;
    let bobs_publications: Vec<_> = repos
        .publications
        .list(&as_bob)
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.mock_id)
        .collect();
    assert_eq!(bobs_publications, [shared.id], "a member's publications");

    // A stranger sees nothing; the system sees everything, by host.
    let stranger = Scope::User(RandomIds.user_id());
    assert!(
        accounts
            .list_workspaces(&stranger)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(repos.mocks.list(&stranger).await.expect("list").is_empty());
    assert!(
        repos
            .publications
            .list(&stranger)
            .await
            .expect("list")
            .is_empty()
    );
    let all = repos.mocks.list(&Scope::System).await.expect("list");
    assert!(all.contains(&private) && all.contains(&shared));
    assert_eq!(
        repos
            .mocks
            .find_by_host(&as_alice, &private.host)
            .await
            .expect("find"),
        private
    );
}

/// Nothing of `mock`, in `workspace`, shows to `scope`, which is not a member.
async fn foreign_mock_is_hidden(
    fx: &Fixture,
    repos: &Repos,
    scope: &Scope,
    mock: &Mock,
    workspace: &Workspace,
) {
    let mocks = &repos.mocks;
    expect_kind(mocks.get(scope, mock.id).await, NotFound, "get");
    expect_kind(
        mocks.find_by_host(scope, &mock.host).await,
        NotFound,
        "find by host",
    );
    expect_kind(
        mocks.list_in_workspace(scope, workspace.id).await,
        NotFound,
        "list the workspace",
    );
    expect_kind(
        mocks.revisions(scope, mock.id).await,
        NotFound,
        "the history",
    );
    expect_kind(
        repos.publications.get(scope, mock.id).await,
        NotFound,
        "the publication",
    );
    expect_kind(
        mocks
            .create(scope, &fx.mock(workspace, "sneaky"), &[])
            .await,
        NotFound,
        "create in the workspace",
    );
}

/// Lists are ordered byte by byte, whatever the database's locale: dashes before digits
/// and letters, digits before letters; publications by mock id as text.
async fn orderings(fx: &Fixture, repos: &Repos) {
    let (owner, personal) = fx.signed_up(repos).await;
    let as_owner = Scope::User(owner.id);
    let names = ["b", "a-b", "ab", "a0", "a-c-d", "a"];
    for name in names {
        fx.stored_mock(repos, &as_owner, &personal, name).await;
    }
    let hosts = |mocks: Vec<Mock>| -> Vec<String> {
        mocks.iter().map(|m| m.host.as_str().to_owned()).collect()
    };
    let listed = hosts(repos.mocks.list(&as_owner).await.expect("list"));
    let mut expected = listed.clone();
    expected.sort();
    assert_eq!(listed, expected, "mocks by host, byte by byte");
    assert_eq!(listed.len(), names.len());
    assert_eq!(
        hosts(
            repos
                .mocks
                .list_in_workspace(&as_owner, personal.id)
                .await
                .expect("list")
        ),
        expected,
        "a workspace's mocks by host, byte by byte"
    );
    let summaries: Vec<String> = repos
        .mocks
        .list_summaries(&as_owner)
        .await
        .expect("summaries")
        .iter()
        .map(|m| m.host.as_str().to_owned())
        .collect();
    assert_eq!(summaries, expected, "summaries by host, byte by byte");
    let ids: Vec<String> = repos
        .publications
        .list(&Scope::System)
        .await
        .expect("list")
        .iter()
        .map(|p| p.mock_id.to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "publications by mock id, as text");
}

/// `revisions_at` returns exactly the named revisions that exist and that the scope sees,
/// however many are named at once.
async fn revisions_together(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (alice, alices) = fx.signed_up(repos).await;
    let (bob, bobs) = fx.signed_up(repos).await;
    let (as_alice, as_bob) = (Scope::User(alice.id), Scope::User(bob.id));
    let mut edited = fx
        .stored_mock(repos, &as_alice, &alices, "together-a")
        .await;
    let plain = fx
        .stored_mock(repos, &as_alice, &alices, "together-b")
        .await;
    let foreign = fx.stored_mock(repos, &as_bob, &bobs, "together-c").await;
    let first = edited.content.as_str().to_owned();
    let content = SpecSource::new("- endpoint:\n    path: /second\n").expect("spec");
    assert!(edited.edit(content, None, fx.now).expect("edit"));
    mocks
        .update(&as_alice, &edited, Revision::FIRST, &[])
        .await
        .expect("store an edit");
    let two = Revision::new(2).expect("2");

    // Many more than one query names, most of them revisions that never were.
    let mut wanted: Vec<(MockId, Revision)> = (3..1_300)
        .map(|n| (edited.id, Revision::new(n).expect("revision")))
        .collect();
    wanted.extend([
        (RandomIds.mock_id(), Revision::FIRST),
        (foreign.id, Revision::FIRST),
        (plain.id, Revision::FIRST),
        (edited.id, two),
        (edited.id, Revision::FIRST),
        (edited.id, Revision::new(u64::MAX).expect("revision")),
    ]);
    let mut expected = vec![
        (edited.id, 1, first),
        (edited.id, 2, edited.content.as_str().to_owned()),
        (plain.id, 1, plain.content.as_str().to_owned()),
    ];
    expected.sort();
    assert_eq!(
        revisions_at(repos, &as_alice, &wanted).await,
        expected,
        "the named revisions the caller sees, and nothing else"
    );
    expected.push((foreign.id, 1, foreign.content.as_str().to_owned()));
    expected.sort();
    assert_eq!(
        revisions_at(repos, &Scope::System, &wanted).await,
        expected,
        "the system sees every workspace"
    );
    assert!(
        mocks
            .revisions_at(&as_alice, &[])
            .await
            .expect("nothing named")
            .is_empty()
    );
}

/// What `revisions_at` finds, as (mock, revision, content), sorted.
async fn revisions_at(
    repos: &Repos,
    scope: &Scope,
    wanted: &[(MockId, Revision)],
) -> Vec<(MockId, u64, String)> {
    let mut found: Vec<(MockId, u64, String)> = repos
        .mocks
        .revisions_at(scope, wanted)
        .await
        .expect("revisions_at")
        .into_iter()
        .map(|r| (r.mock_id, r.revision.get(), r.content.as_str().to_owned()))
        .collect();
    found.sort();
    found
}

/// `mock` edited `times` times through `update_keeping` with `keep`, each edit one
/// revision; returns it as stored.
async fn edited(
    fx: &Fixture,
    repos: &Repos,
    scope: &Scope,
    mock: &Mock,
    times: u64,
    keep: KeepRevisions,
) -> Mock {
    let mut mock = mock.clone();
    for _ in 0..times {
        let before = mock.revision;
        let text = format!("- endpoint:\n    path: /r{}\n", before.next());
        let content = SpecSource::new(text).expect("spec");
        assert!(mock.edit(content, None, fx.now).expect("edit"));
        repos
            .mocks
            .update_keeping(scope, &mock, before, &[], keep)
            .await
            .expect("store an edit");
    }
    mock
}

/// The numbers of the revisions of `mock` that are kept, newest first, read through
/// `revisions` (with their content).
async fn kept(repos: &Repos, scope: &Scope, mock: &Mock) -> Vec<u64> {
    repos
        .mocks
        .revisions(scope, mock.id)
        .await
        .expect("revisions")
        .iter()
        .map(|r| r.revision.get())
        .collect()
}

/// Every page of `mock`'s history of `limit` revisions, walked by the cursor.
async fn walk(repos: &Repos, scope: &Scope, mock: &Mock, limit: u32) -> Vec<Vec<u64>> {
    let mut pages = Vec::new();
    let mut query = RevisionQuery::newest(limit);
    loop {
        let page = repos
            .mocks
            .revision_page(scope, mock.id, &query)
            .await
            .expect("a page");
        pages.push(page.revisions.iter().map(|r| r.revision.get()).collect());
        match page.next {
            Some(next) => query.before = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 10_000, "the cursor never ends");
    }
}

/// A history page is the revisions without content, newest first, `limit` at most, with
/// a cursor that walks every revision once; scoped like the mock.
async fn history_pages(fx: &Fixture, repos: &Repos) {
    let mocks = &repos.mocks;
    let (alice, alices) = fx.signed_up(repos).await;
    let (bob, _) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let mock = fx.stored_mock(repos, &as_alice, &alices, "paged").await;
    let mock = edited(fx, repos, &as_alice, &mock, 6, KeepRevisions::DEFAULT).await;
    let whole: Vec<RevisionSummary> = mocks
        .revisions(&as_alice, mock.id)
        .await
        .expect("revisions")
        .iter()
        .map(RevisionSummary::from)
        .collect();
    let page = mocks
        .revision_page(&as_alice, mock.id, &RevisionQuery::default())
        .await
        .expect("the first page");
    assert_eq!(
        (page.revisions, page.next),
        (whole, None),
        "a page is the history without content, newest first"
    );
    assert_eq!(
        walk(repos, &as_alice, &mock, 3).await,
        [vec![7, 6, 5], vec![4, 3, 2], vec![1]],
        "pages of 3, each older than the previous one's cursor"
    );
    assert_eq!(
        walk(repos, &as_alice, &mock, 7).await,
        [vec![7, 6, 5, 4, 3, 2, 1]],
        "a page that holds the rest has no cursor"
    );
    for (before, expected) in [(1, vec![]), (3, vec![2, 1]), (u64::MAX, vec![7, 6, 5])] {
        let query = RevisionQuery {
            before: Revision::new(before),
            limit: 3,
        };
        let page = mocks
            .revision_page(&as_alice, mock.id, &query)
            .await
            .expect("a page");
        let numbers: Vec<u64> = page.revisions.iter().map(|r| r.revision.get()).collect();
        assert_eq!(numbers, expected, "the page before {before}");
    }
    let many = RevisionQuery::newest(MAX_REVISION_PAGE + 1);
    assert_eq!(
        mocks
            .revision_page(&as_alice, mock.id, &many)
            .await
            .expect("a page")
            .revisions
            .len(),
        7
    );
    expect_kind(
        mocks
            .revision_page(&Scope::User(bob.id), mock.id, &RevisionQuery::default())
            .await,
        NotFound,
        "another user pages the history",
    );
    expect_kind(
        mocks
            .revision_page(&as_alice, RandomIds.mock_id(), &RevisionQuery::default())
            .await,
        NotFound,
        "the history of an unknown mock",
    );
}

/// An edit keeps the newest `keep` revisions of its mock, and the live one and the one
/// being published however old; other mocks keep theirs; a change that adds no revision
/// drops none.
async fn history_retention(fx: &Fixture, repos: &Repos) {
    let (alice, alices) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let three = KeepRevisions::new(3).expect("3");
    let live = fx.stored_mock(repos, &as_alice, &alices, "kept-live").await;
    let other = fx
        .stored_mock(repos, &as_alice, &alices, "kept-other")
        .await;
    let other = edited(fx, repos, &as_alice, &other, 4, KeepRevisions::DEFAULT).await;

    // Revision 1 goes live; revision 2 is being published.
    let mut publication = repos
        .publications
        .get(&as_alice, live.id)
        .await
        .expect("publication");
    publication
        .request_publish(Revision::FIRST, fx.now)
        .expect("domain allows");
    publication
        .mark_published(Revision::FIRST, fx.now)
        .expect("domain allows");
    let live = edited(fx, repos, &as_alice, &live, 1, three).await;
    publication
        .request_publish(live.revision, fx.now)
        .expect("domain allows");
    let publication = repos
        .publications
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save");

    let live = edited(fx, repos, &as_alice, &live, 6, three).await;
    assert_eq!(
        kept(repos, &as_alice, &live).await,
        [8, 7, 6, 2, 1],
        "the newest 3, the one being published and the live one"
    );
    expect_kind(
        repos
            .mocks
            .revision(&as_alice, live.id, Revision::new(3).expect("3"))
            .await,
        NotFound,
        "a dropped revision",
    );
    assert_eq!(
        walk(repos, &as_alice, &live, 2).await,
        [vec![8, 7], vec![6, 2], vec![1]],
        "pages skip what was dropped"
    );
    assert_eq!(
        kept(repos, &as_alice, &other).await,
        [5, 4, 3, 2, 1],
        "another mock keeps its history"
    );

    // Revision 2 goes live: revision 1 is neither live nor the newest any more.
    let mut publication = publication;
    publication
        .mark_published(Revision::new(2).expect("2"), fx.now)
        .expect("domain allows");
    repos
        .publications
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save");
    let live = edited(fx, repos, &as_alice, &live, 1, three).await;
    assert_eq!(kept(repos, &as_alice, &live).await, [9, 8, 7, 2]);

    // A change that adds no revision drops none, whatever it keeps.
    let mut enabled = live.clone();
    enabled.set_enabled(true, fx.now);
    repos
        .mocks
        .update_keeping(
            &as_alice,
            &enabled,
            live.revision,
            &[],
            KeepRevisions::new(1).expect("1"),
        )
        .await
        .expect("enable");
    assert_eq!(kept(repos, &as_alice, &live).await, [9, 8, 7, 2]);

    // The other mock's edit cuts its own history only.
    let other = edited(fx, repos, &as_alice, &other, 1, three).await;
    assert_eq!(kept(repos, &as_alice, &other).await, [6, 5, 4]);
    assert_eq!(kept(repos, &as_alice, &live).await, [9, 8, 7, 2]);
}

/// `update` keeps the newest [`KeepRevisions::DEFAULT`] revisions.
async fn history_retention_by_default(fx: &Fixture, repos: &Repos) {
    let (alice, alices) = fx.signed_up(repos).await;
    let as_alice = Scope::User(alice.id);
    let default = u64::from(KeepRevisions::DEFAULT.get());
    let mut mock = fx.stored_mock(repos, &as_alice, &alices, "long").await;
    for _ in 0..=default {
        let before = mock.revision;
        let text = format!("- endpoint:\n    path: /r{}\n", before.next());
        assert!(
            mock.edit(SpecSource::new(text).expect("spec"), None, fx.now)
                .expect("edit")
        );
        repos
            .mocks
            .update(&as_alice, &mock, before, &[])
            .await
            .expect("store an edit");
    }
    let expected: Vec<u64> = (3..=default + 2).rev().collect();
    assert_eq!(
        kept(repos, &as_alice, &mock).await,
        expected,
        "{default} revisions by default"
    );
    let pages = walk(repos, &as_alice, &mock, MAX_REVISION_PAGE).await;
    assert_eq!(pages.concat(), expected, "the pages hold each once");
}
