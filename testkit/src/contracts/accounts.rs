//! The `AccountRepository` contract.

use moclojer_domain::{Email, EventKind, Handle, Role, User, Workspace, WorkspaceKind};
use moclojer_ports::{IdGenerator, PortErrorKind::*, RandomIds, Scope};

use crate::{Fixture, Repos, expect_kind, save_org};

/// Runs every rule of `AccountRepository` against `repos` (fresh).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn account_repository_contract(repos: Repos) {
    let fx = Fixture::new();
    users(&fx, &repos).await;
    handles(&fx, &repos).await;
    orgs(&fx, &repos).await;
    saving_orgs(&fx, &repos).await;
    stale_saves(&fx, &repos).await;
    member_order(&fx, &repos).await;
    deleting_orgs(&fx, &repos).await;
}

async fn users(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let user = fx.user();
    accounts
        .create_user(&user, Some("hash-1"))
        .await
        .expect("create a user");
    assert_eq!(
        accounts.get_user(user.id).await.expect("get the user"),
        user,
        "a user reads back as written"
    );
    let record = accounts
        .find_user_by_email(&user.email)
        .await
        .expect("find by e-mail");
    assert_eq!(record.user, user);
    assert_eq!(
        record.password_hash.as_deref(),
        Some("hash-1"),
        "the password hash reads back"
    );

    let mut same_email = fx.user();
    same_email.email = user.email.clone();
    expect_kind(
        accounts.create_user(&same_email, None).await,
        Conflict,
        "a second user with a taken e-mail",
    );
    let mut same_id = fx.user();
    same_id.id = user.id;
    expect_kind(
        accounts.create_user(&same_id, None).await,
        Conflict,
        "a second user with a taken id",
    );

    let mut handled = fx.user();
    handled.handle = Some(fx.handle());
    expect_kind(
        accounts.create_user(&handled, None).await,
        Invalid,
        "a new user with a handle",
    );
    expect_kind(
        accounts.get_user(handled.id).await,
        NotFound,
        "a refused user",
    );

    let no_password = fx.user();
    accounts
        .create_user(&no_password, None)
        .await
        .expect("a user without a password");
    let record = accounts
        .find_user_by_email(&no_password.email)
        .await
        .expect("find");
    assert_eq!(record.password_hash, None);

    expect_kind(
        accounts.get_user(RandomIds.user_id()).await,
        NotFound,
        "get an unknown user",
    );
    let nobody = Email::parse("nobody@example.com").expect("email");
    expect_kind(
        accounts.find_user_by_email(&nobody).await,
        NotFound,
        "find an unknown e-mail",
    );
}

async fn handles(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let mut alice = fx.user();
    accounts
        .create_user(&alice, None)
        .await
        .expect("create alice");
    let handle = fx.handle();
    assert!(
        accounts
            .handle_available(&handle)
            .await
            .expect("availability"),
        "a fresh handle is available"
    );
    expect_kind(
        accounts.find_user_by_handle(&handle).await,
        NotFound,
        "find a user by an unused handle",
    );

    alice.choose_handle(handle.clone()).expect("choose");
    let personal = Workspace::personal(RandomIds.workspace_id(), &alice, fx.now).expect("personal");
    accounts
        .create_personal_workspace(&alice, &personal)
        .await
        .expect("create the personal workspace");
    assert!(
        !accounts
            .handle_available(&handle)
            .await
            .expect("availability"),
        "a chosen handle is taken"
    );
    assert_eq!(
        accounts
            .get_user(alice.id)
            .await
            .expect("get")
            .handle
            .as_ref(),
        Some(&handle),
        "the handle is stored"
    );
    assert_eq!(
        accounts
            .find_user_by_handle(&handle)
            .await
            .expect("find by handle")
            .id,
        alice.id
    );
    let scope = Scope::User(alice.id);
    assert_eq!(
        accounts
            .get_workspace(&scope, personal.id)
            .await
            .expect("own workspace"),
        personal
    );
    assert_eq!(
        accounts
            .find_workspace(&scope, &handle)
            .await
            .expect("own workspace by handle"),
        personal
    );
    taken_handles(fx, repos, &alice, &handle).await;
    personal_workspaces(fx, repos, &alice).await;
}

/// A handle names one user or one org: nobody takes a taken handle, and a user takes one
/// handle once.
async fn taken_handles(fx: &Fixture, repos: &Repos, alice: &User, handle: &Handle) {
    let accounts = &repos.accounts;
    // Someone else wants the same handle: refused, and nothing of it is stored.
    let mut bob = fx.user();
    accounts.create_user(&bob, None).await.expect("create bob");
    bob.choose_handle(handle.clone())
        .expect("bob's domain object takes it");
    let bobs = Workspace::personal(RandomIds.workspace_id(), &bob, fx.now).expect("personal");
    expect_kind(
        accounts.create_personal_workspace(&bob, &bobs).await,
        Conflict,
        "a taken handle",
    );
    assert_eq!(
        accounts.get_user(bob.id).await.expect("get bob").handle,
        None,
        "a refused handle is not stored"
    );
    expect_kind(
        accounts.get_workspace(&Scope::System, bobs.id).await,
        NotFound,
        "a refused workspace",
    );

    // Alice cannot take a second handle.
    let mut alice_again = accounts.get_user(alice.id).await.expect("get");
    alice_again.handle = Some(fx.handle());
    let second =
        Workspace::personal(RandomIds.workspace_id(), &alice_again, fx.now).expect("personal");
    expect_kind(
        accounts
            .create_personal_workspace(&alice_again, &second)
            .await,
        Conflict,
        "a second handle",
    );

    // Nor a second personal workspace under her own handle.
    let again = Workspace::personal(RandomIds.workspace_id(), alice, fx.now).expect("personal");
    expect_kind(
        accounts.create_personal_workspace(alice, &again).await,
        Conflict,
        "a second personal workspace",
    );

    // A user cannot take an org's handle.
    let org = fx.org(repos, alice).await;
    let mut dave = fx.user();
    accounts
        .create_user(&dave, None)
        .await
        .expect("create dave");
    dave.choose_handle(org.handle.clone())
        .expect("dave's domain object takes it");
    let daves = Workspace::personal(RandomIds.workspace_id(), &dave, fx.now).expect("personal");
    expect_kind(
        accounts.create_personal_workspace(&dave, &daves).await,
        Conflict,
        "a user under an org's handle",
    );
    assert_eq!(
        accounts.get_user(dave.id).await.expect("get dave").handle,
        None,
        "a handle refused for an org's is not stored"
    );
}

/// A personal workspace is its user's own, and its user exists.
async fn personal_workspaces(fx: &Fixture, repos: &Repos, alice: &User) {
    let accounts = &repos.accounts;
    // The workspace must be the user's own.
    let mut carol = fx.user();
    accounts
        .create_user(&carol, None)
        .await
        .expect("create carol");
    carol.choose_handle(fx.handle()).expect("choose");
    let mut wrong =
        Workspace::personal(RandomIds.workspace_id(), &carol, fx.now).expect("personal");
    wrong.handle = fx.handle();
    expect_kind(
        accounts.create_personal_workspace(&carol, &wrong).await,
        Invalid,
        "a workspace under another handle",
    );
    let mut not_hers =
        Workspace::personal(RandomIds.workspace_id(), &carol, fx.now).expect("personal");
    not_hers.kind = WorkspaceKind::Personal { owner: alice.id };
    expect_kind(
        accounts.create_personal_workspace(&carol, &not_hers).await,
        Invalid,
        "someone else's workspace",
    );

    // An unknown user.
    let mut ghost = fx.user();
    ghost.choose_handle(fx.handle()).expect("choose");
    let ghosts = Workspace::personal(RandomIds.workspace_id(), &ghost, fx.now).expect("personal");
    expect_kind(
        accounts.create_personal_workspace(&ghost, &ghosts).await,
        NotFound,
        "an unknown user",
    );
}

async fn orgs(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let (owner, personal) = fx.signed_up(repos).await;
    let (stranger, _) = fx.signed_up(repos).await;

    let org = Workspace::org(
        RandomIds.workspace_id(),
        fx.handle(),
        Some("Acme"),
        owner.id,
        fx.now,
    )
    .expect("org");
    let created = fx.event(EventKind::PublicationChanged {
        mock_id: RandomIds.mock_id(),
    });
    accounts
        .create_org(&org, std::slice::from_ref(&created))
        .await
        .expect("create an org");
    assert!(
        !accounts
            .handle_available(&org.handle)
            .await
            .expect("availability"),
        "an org's handle is taken"
    );
    expect_kind(
        accounts.find_user_by_handle(&org.handle).await,
        NotFound,
        "an org's handle is not a user's",
    );

    let as_owner = Scope::User(owner.id);
    let as_stranger = Scope::User(stranger.id);
    assert_eq!(
        accounts
            .get_workspace(&as_owner, org.id)
            .await
            .expect("owner sees the org"),
        org
    );
    assert_eq!(
        accounts
            .get_workspace(&Scope::System, org.id)
            .await
            .expect("system sees the org"),
        org
    );
    expect_kind(
        accounts.get_workspace(&as_stranger, org.id).await,
        NotFound,
        "a stranger gets the org",
    );
    expect_kind(
        accounts.find_workspace(&as_stranger, &org.handle).await,
        NotFound,
        "a stranger finds the org",
    );
    let strangers: Vec<_> = accounts
        .list_workspaces(&as_stranger)
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert!(
        !strangers.contains(&org.id),
        "a stranger's list has no foreign org"
    );
    org_listing(fx, repos, &owner, &personal, &org).await;
    org_refusals(fx, repos, &owner, &personal, &org).await;
}

/// Workspaces are listed personal first, then orgs by handle, whoever lists them.
async fn org_listing(
    fx: &Fixture,
    repos: &Repos,
    owner: &User,
    personal: &Workspace,
    org: &Workspace,
) {
    let accounts = &repos.accounts;
    let as_owner = Scope::User(owner.id);
    // Listing: personal first, then orgs by handle.
    let second = Workspace::org(
        RandomIds.workspace_id(),
        fx.handle(),
        None,
        owner.id,
        fx.now,
    )
    .expect("org");
    accounts
        .create_org(&second, &[])
        .await
        .expect("create a second org");
    let listed: Vec<Handle> = accounts
        .list_workspaces(&as_owner)
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.handle)
        .collect();
    let mut org_handles = vec![org.handle.clone(), second.handle.clone()];
    org_handles.sort();
    assert_eq!(
        listed,
        [vec![personal.handle.clone()], org_handles].concat(),
        "personal first, then orgs by handle"
    );
    let everything: Vec<(bool, Handle)> = accounts
        .list_workspaces(&Scope::System)
        .await
        .expect("list")
        .into_iter()
        .map(|w| (w.is_org(), w.handle))
        .collect();
    let mut expected = everything.clone();
    expected.sort();
    assert_eq!(
        everything, expected,
        "the system's list: personal workspaces first, then orgs, each by handle"
    );
    for handle in [&personal.handle, &org.handle, &second.handle] {
        assert!(
            everything.iter().any(|(_, h)| h == handle),
            "the system lists every workspace"
        );
    }
}

/// Org handles and ids are taken once; an org is an org, owned by a user.
async fn org_refusals(
    fx: &Fixture,
    repos: &Repos,
    owner: &User,
    personal: &Workspace,
    org: &Workspace,
) {
    let accounts = &repos.accounts;
    let taken_by_user = Workspace::org(
        RandomIds.workspace_id(),
        personal.handle.clone(),
        None,
        owner.id,
        fx.now,
    )
    .expect("org");
    expect_kind(
        accounts.create_org(&taken_by_user, &[]).await,
        Conflict,
        "an org under a user's handle",
    );
    let taken_by_org = Workspace::org(
        RandomIds.workspace_id(),
        org.handle.clone(),
        None,
        owner.id,
        fx.now,
    )
    .expect("org");
    expect_kind(
        accounts.create_org(&taken_by_org, &[]).await,
        Conflict,
        "an org under an org's handle",
    );
    let mut same_id = Workspace::org(org.id, fx.handle(), None, owner.id, fx.now).expect("org");
    expect_kind(
        accounts.create_org(&same_id, &[]).await,
        Conflict,
        "an org with a taken id",
    );
    same_id.id = RandomIds.workspace_id();
    same_id.kind = WorkspaceKind::Personal { owner: owner.id };
    expect_kind(
        accounts.create_org(&same_id, &[]).await,
        Invalid,
        "a personal workspace as an org",
    );
    let ghost_owner = Workspace::org(
        RandomIds.workspace_id(),
        fx.handle(),
        None,
        RandomIds.user_id(),
        fx.now,
    )
    .expect("org");
    expect_kind(
        accounts.create_org(&ghost_owner, &[]).await,
        NotFound,
        "an org owned by an unknown user",
    );
    assert!(
        accounts
            .handle_available(&ghost_owner.handle)
            .await
            .expect("availability"),
        "a refused org takes no handle"
    );
}

/// A change decided on a stale read of an org is refused whole: an owner demoted (or a
/// member removed) while their request was under way cannot write the old list back.
async fn stale_saves(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let (owner, _) = fx.signed_up(repos).await;
    let (second, _) = fx.signed_up(repos).await;
    let (third, _) = fx.signed_up(repos).await;
    let mut org = fx.org(repos, &owner).await;
    org.add_member(owner.id, second.id, Role::Owner)
        .expect("domain allows");
    save_org(&**accounts, &Scope::User(owner.id), &org)
        .await
        .expect("two owners");
    let read_by_second = accounts
        .get_workspace(&Scope::User(second.id), org.id)
        .await
        .expect("read");

    // The first owner demotes the second.
    let mut demoted = read_by_second.clone();
    demoted
        .set_role(owner.id, second.id, Role::Member)
        .expect("domain allows");
    accounts
        .save_workspace(&Scope::User(owner.id), &demoted, &read_by_second)
        .await
        .expect("a save on a current read");

    // The second, on the read made while still an owner, adds a member.
    let mut stale = read_by_second.clone();
    stale
        .add_member(second.id, third.id, Role::Owner)
        .expect("the domain allows it on the stale read");
    expect_kind(
        accounts
            .save_workspace(&Scope::User(second.id), &stale, &read_by_second)
            .await,
        Conflict,
        "a save decided on a stale read",
    );
    let stored = accounts
        .get_workspace(&Scope::System, org.id)
        .await
        .expect("get");
    assert_eq!(stored, demoted, "the refused save changed nothing");
    assert_eq!(stored.role_of(second.id), Some(Role::Member));
    assert_eq!(stored.role_of(third.id), None);

    // The same members in another order are the same org.
    let mut reordered = stored.clone();
    reordered.members.reverse();
    let mut renamed = stored.clone();
    renamed.rename(owner.id, "Renamed").expect("domain allows");
    accounts
        .save_workspace(&Scope::User(owner.id), &renamed, &reordered)
        .await
        .expect("members in another order are the same read");
}

async fn saving_orgs(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let (owner, personal) = fx.signed_up(repos).await;
    let (member, _) = fx.signed_up(repos).await;
    let (stranger, _) = fx.signed_up(repos).await;
    let mut org = fx.org(repos, &owner).await;
    let as_owner = Scope::User(owner.id);

    org.add_member(owner.id, member.id, Role::Member)
        .expect("domain allows");
    org.rename(owner.id, "Renamed").expect("domain allows");
    save_org(&**accounts, &as_owner, &org)
        .await
        .expect("save members and name");
    let stored = accounts
        .get_workspace(&Scope::User(member.id), org.id)
        .await
        .expect("the new member sees the org");
    assert_eq!(stored.display_name(), "Renamed");
    assert_eq!(stored.role_of(member.id), Some(Role::Member));
    assert_eq!(stored.members.len(), 2);

    expect_kind(
        save_org(&**accounts, &Scope::User(stranger.id), &org).await,
        NotFound,
        "a stranger saves the org",
    );
    expect_kind(
        save_org(&**accounts, &as_owner, &personal).await,
        Invalid,
        "saving a personal workspace",
    );
    let mut rehandled = org.clone();
    rehandled.handle = fx.handle();
    expect_kind(
        save_org(&**accounts, &as_owner, &rehandled).await,
        Invalid,
        "changing an org's handle",
    );
    let mut ownerless = org.clone();
    ownerless.members.retain(|m| m.role != Role::Owner);
    expect_kind(
        save_org(&**accounts, &as_owner, &ownerless).await,
        Invalid,
        "an org without an owner",
    );
    let mut ghost_member = org.clone();
    ghost_member
        .add_member(owner.id, RandomIds.user_id(), Role::Member)
        .expect("domain allows");
    expect_kind(
        save_org(&**accounts, &as_owner, &ghost_member).await,
        NotFound,
        "an unknown user as a member",
    );
    assert_eq!(
        accounts
            .get_workspace(&as_owner, org.id)
            .await
            .expect("get"),
        stored,
        "refused saves change nothing"
    );

    // Removing a member takes the org out of their sight.
    let mut without = stored.clone();
    without
        .remove_member(owner.id, member.id)
        .expect("domain allows");
    save_org(&**accounts, &as_owner, &without)
        .await
        .expect("save");
    expect_kind(
        accounts
            .get_workspace(&Scope::User(member.id), org.id)
            .await,
        NotFound,
        "a removed member",
    );
}

/// An org's members are stored in the order given, and a save replaces them whole.
async fn member_order(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let (owner, _) = fx.signed_up(repos).await;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(fx.signed_up(repos).await.0);
    }
    let mut org = fx.org(repos, &owner).await;
    let as_owner = Scope::User(owner.id);
    // Not in the order of their ids, nor of their addresses: in the order they joined.
    for (user, role) in users
        .iter()
        .rev()
        .zip([Role::Member, Role::Owner, Role::Member])
    {
        org.add_member(owner.id, user.id, role)
            .expect("domain allows");
    }
    saved_as_given(
        repos,
        &as_owner,
        &org,
        "the members read back in the order given",
    )
    .await;

    // One owner removed, a member added, a new name: the whole list changes.
    org.remove_member(owner.id, users[1].id)
        .expect("domain allows");
    org.rename(owner.id, "Reordered").expect("domain allows");
    let (late, _) = fx.signed_up(repos).await;
    org.add_member(owner.id, late.id, Role::Member)
        .expect("domain allows");
    saved_as_given(
        repos,
        &as_owner,
        &org,
        "a save replaces the members whole, in order",
    )
    .await;
    expect_kind(
        accounts
            .get_workspace(&Scope::User(users[1].id), org.id)
            .await,
        NotFound,
        "a removed member",
    );
}

/// Saves `org` as `scope` and checks that it reads back exactly, members in order.
async fn saved_as_given(repos: &Repos, scope: &Scope, org: &Workspace, what: &str) {
    save_org(&*repos.accounts, scope, org).await.expect("save");
    let stored = repos
        .accounts
        .get_workspace(&Scope::System, org.id)
        .await
        .expect("get");
    assert_eq!(&stored, org, "{what}");
}

async fn deleting_orgs(fx: &Fixture, repos: &Repos) {
    let accounts = &repos.accounts;
    let (owner, personal) = fx.signed_up(repos).await;
    let (stranger, _) = fx.signed_up(repos).await;
    let org = fx.org(repos, &owner).await;
    let as_owner = Scope::User(owner.id);
    let mock = fx.stored_mock(repos, &as_owner, &org, "doomed").await;

    expect_kind(
        accounts
            .delete_org(&Scope::User(stranger.id), org.id, &[mock.id], &[])
            .await,
        NotFound,
        "a stranger deletes the org",
    );
    expect_kind(
        accounts.delete_org(&as_owner, personal.id, &[], &[]).await,
        Invalid,
        "deleting a personal workspace",
    );
    expect_kind(
        accounts.delete_org(&as_owner, org.id, &[], &[]).await,
        Conflict,
        "deleting with a mock unaccounted for",
    );
    assert_eq!(
        repos
            .mocks
            .get(&as_owner, mock.id)
            .await
            .expect("the mock survives a refused delete"),
        mock
    );

    let deleted = fx.event(EventKind::MockDeleted {
        mock_id: mock.id,
        host: mock.host.clone(),
    });
    let before = repos.outbox.pending(10_000).await.expect("pending").len();
    accounts
        .delete_org(
            &as_owner,
            org.id,
            &[mock.id],
            std::slice::from_ref(&deleted),
        )
        .await
        .expect("delete the org");
    expect_kind(
        accounts.get_workspace(&Scope::System, org.id).await,
        NotFound,
        "a deleted org",
    );
    expect_kind(
        repos.mocks.get(&Scope::System, mock.id).await,
        NotFound,
        "a deleted org's mock",
    );
    expect_kind(
        repos.publications.get(&Scope::System, mock.id).await,
        NotFound,
        "a deleted org's publication",
    );
    assert!(
        accounts
            .handle_available(&org.handle)
            .await
            .expect("availability"),
        "a deleted org frees its handle"
    );
    let pending = repos.outbox.pending(10_000).await.expect("pending");
    assert_eq!(pending.len(), before + 1, "the delete records its event");
    assert_eq!(pending.last().map(|e| &e.event), Some(&deleted));
    expect_kind(
        accounts.delete_org(&as_owner, org.id, &[], &[]).await,
        NotFound,
        "deleting twice",
    );
}
