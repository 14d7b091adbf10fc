//! Checks of a SQL database adapter that look behind its ports: a change and its outbox
//! rows are committed together or not at all, data survives reconnecting, and rows go
//! with the rows they hang off. The SQLite and PostgreSQL adapters run them from their own
//! tests, each through a [`SqlHarness`] on a fresh database; the in-memory adapter has no
//! tables to look at.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{EventKind, Mock, Revision, SpecSource};
use moclojer_ports::{
    AccountRepository, Identity, KeepRevisions, LocalTokens, MockRepository, Outbox,
    PortErrorKind::*, PublicationRepository, RandomIds, RevisionQuery, Scope, TokenStore,
};

use crate::{Fixture, ManualClock, Repos, expect_kind};

/// A SQL database under test: its adapter, and a raw connection of the test's own behind
/// the adapter's back.
#[async_trait]
pub trait SqlHarness: Send + Sync {
    /// The adapter.
    type Database: AccountRepository
        + MockRepository
        + PublicationRepository
        + Outbox
        + TokenStore
        + Clone;

    /// The adapter on the database, newly connected.
    async fn connect(&self) -> Self::Database;

    /// Closes every connection of `database`.
    async fn close(&self, database: &Self::Database);

    /// The one integer `sql` returns.
    async fn count(&self, sql: &'static str) -> i64;

    /// Runs `sql` with `$1` bound to `arg`.
    async fn execute(&self, sql: &'static str, arg: &str);

    /// Runs `sql`, which takes no parameters (a schema change, say).
    async fn script(&self, sql: &'static str);

    /// Makes every insert of a `mock.deleted` event into the outbox fail, until
    /// [`Self::accept_all_events`].
    async fn refuse_mock_deleted_events(&self);

    /// Undoes [`Self::refuse_mock_deleted_events`].
    async fn accept_all_events(&self);
}

/// Row counts of the tables a change writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCounts {
    /// `users`.
    pub users: i64,
    /// `workspaces`.
    pub workspaces: i64,
    /// `members`.
    pub members: i64,
    /// `mocks`.
    pub mocks: i64,
    /// `mock_revisions`.
    pub revisions: i64,
    /// `publications`.
    pub publications: i64,
    /// `outbox`.
    pub outbox: i64,
}

impl TableCounts {
    /// The counts in `harness`'s database now.
    pub async fn of(harness: &impl SqlHarness) -> Self {
        Self {
            users: harness.count("SELECT COUNT(*) FROM users").await,
            workspaces: harness.count("SELECT COUNT(*) FROM workspaces").await,
            members: harness.count("SELECT COUNT(*) FROM members").await,
            mocks: harness.count("SELECT COUNT(*) FROM mocks").await,
            revisions: harness.count("SELECT COUNT(*) FROM mock_revisions").await,
            publications: harness.count("SELECT COUNT(*) FROM publications").await,
            outbox: harness.count("SELECT COUNT(*) FROM outbox").await,
        }
    }
}

/// A mock whose host is taken leaves no row anywhere, nor does a mock whose id is.
pub async fn a_refused_create_leaves_no_trace(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let repos = Repos::from_database(harness.connect().await);
    let (alice, personal) = fx.signed_up(&repos).await;
    let as_alice = Scope::User(alice.id);
    let hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &as_alice, &hello).await;
    let before = TableCounts::of(harness).await;
    let pending = repos.outbox.pending(100).await.expect("pending");

    // same name in the same workspace: same host, another id
    let twin = fx.mock(&personal, "hello");
    assert_eq!(twin.host, hello.host);
    let changed = fx.event(EventKind::MockChanged {
        mock_id: twin.id,
        revision: twin.revision,
    });
    expect_kind(
        repos.mocks.create(&as_alice, &twin, &[changed]).await,
        Conflict,
        "a taken host",
    );
    assert_eq!(TableCounts::of(harness).await, before, "no row of the twin");
    assert_eq!(repos.outbox.pending(100).await.expect("pending"), pending);
    let system = Scope::System;
    expect_kind(
        repos.mocks.get(&system, twin.id).await,
        NotFound,
        "the twin",
    );
    expect_kind(
        repos.mocks.revisions(&system, twin.id).await,
        NotFound,
        "the twin's history",
    );
    expect_kind(
        repos.publications.get(&system, twin.id).await,
        NotFound,
        "the twin's publication",
    );
    // the same mock again (same id) is a conflict too, and changes nothing
    expect_kind(
        repos.mocks.create(&as_alice, &hello, &[]).await,
        Conflict,
        "a taken id",
    );
    assert_eq!(TableCounts::of(harness).await, before, "no row of the copy");
}

/// An update made on a revision that is no longer current changes neither the mock nor
/// the outbox.
pub async fn a_stale_update_leaves_no_trace(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let repos = Repos::from_database(harness.connect().await);
    let (alice, personal) = fx.signed_up(&repos).await;
    let scope = Scope::User(alice.id);
    let mut hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &scope, &hello).await;
    hello
        .edit(spec("- v2"), Some(Revision::FIRST), fx.now.plus_millis(100))
        .expect("edit");
    repos
        .mocks
        .update(&scope, &hello, Revision::FIRST, &[])
        .await
        .expect("update");
    let before = TableCounts::of(harness).await;
    let pending = repos.outbox.pending(100).await.expect("pending");

    // an editor that still saw revision 1
    let mut stale = hello.clone();
    stale.revision = Revision::FIRST;
    stale
        .edit(
            spec("- stale"),
            Some(Revision::FIRST),
            fx.now.plus_millis(200),
        )
        .expect("edit");
    let changed = changed(&fx, &stale);
    expect_kind(
        repos
            .mocks
            .update(&scope, &stale, Revision::FIRST, &[changed])
            .await,
        Conflict,
        "a stale update",
    );
    assert_eq!(repos.mocks.get(&scope, hello.id).await.expect("get"), hello);
    assert_eq!(
        repos
            .mocks
            .revisions(&scope, hello.id)
            .await
            .expect("revisions")
            .len(),
        2
    );
    assert_eq!(repos.outbox.pending(100).await.expect("pending"), pending);
    assert_eq!(TableCounts::of(harness).await, before);
}

/// A write that fails after its first statement leaves nothing of itself: an update whose
/// history insert hits a planted row, a delete whose event the outbox refuses.
pub async fn a_failure_after_the_first_statement_rolls_everything_back(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let repos = Repos::from_database(harness.connect().await);
    let (alice, personal) = fx.signed_up(&repos).await;
    let scope = Scope::User(alice.id);
    let mut hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &scope, &hello).await;

    // Plant a revision 2 behind the adapter's back: the update's `UPDATE mocks` succeeds,
    // then its history insert fails.
    harness
        .execute(
            "INSERT INTO mock_revisions (mock_id, revision, content, created_at)
             VALUES ($1, 2, 'planted', 0)",
            &hello.id.to_string(),
        )
        .await;
    let before = TableCounts::of(harness).await;
    let stored = hello.clone();
    hello
        .edit(spec("- v2"), Some(Revision::FIRST), fx.now.plus_millis(100))
        .expect("edit");
    expect_kind(
        repos
            .mocks
            .update(&scope, &hello, Revision::FIRST, &[changed(&fx, &hello)])
            .await,
        Conflict,
        "an update whose revision is taken",
    );
    assert_eq!(
        repos.mocks.get(&scope, hello.id).await.expect("get"),
        stored
    );
    assert_eq!(TableCounts::of(harness).await, before);

    // Make the outbox refuse `mock.deleted` events: the delete runs, then recording its
    // event fails, and the mock must still be there.
    harness.refuse_mock_deleted_events().await;
    let deleted = fx.event(EventKind::MockDeleted {
        mock_id: stored.id,
        host: stored.host.clone(),
    });
    expect_kind(
        repos
            .mocks
            .delete(&scope, stored.id, std::slice::from_ref(&deleted))
            .await,
        Internal,
        "a delete whose event is refused",
    );
    assert_eq!(
        repos.mocks.get(&scope, stored.id).await.expect("get"),
        stored
    );
    assert_eq!(TableCounts::of(harness).await, before);

    harness.accept_all_events().await;
    assert_eq!(
        repos
            .mocks
            .delete(&scope, stored.id, std::slice::from_ref(&deleted))
            .await
            .expect("delete"),
        stored
    );
    let after = TableCounts::of(harness).await;
    assert_eq!(
        (after.mocks, after.revisions, after.publications),
        (0, 0, 0)
    );
    let pending = repos.outbox.pending(100).await.expect("pending");
    assert_eq!(pending.last().map(|e| &e.event), Some(&deleted));
}

/// Everything written — users, workspaces, mocks with their history, publications, the
/// outbox with what is sent and what is claimed — reads back the same after the adapter
/// is closed and connected again; calls in between are `Unavailable`.
pub async fn data_survives_reconnecting(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let db = harness.connect().await;
    let repos = Repos::from_database(db.clone());
    let (alice, personal) = fx.signed_up(&repos).await;
    let (bob, _) = fx.signed_up(&repos).await;
    let org = fx.org(&repos, &alice).await;
    let as_alice = Scope::User(alice.id);

    let mut hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &as_alice, &hello).await;
    let first = hello.current_revision();
    hello
        .edit(
            spec("- endpoint: {path: /v2}"),
            Some(Revision::FIRST),
            fx.now.plus_millis(100),
        )
        .expect("edit");
    repos
        .mocks
        .update(&as_alice, &hello, Revision::FIRST, &[])
        .await
        .expect("update");
    let mut publication = repos
        .publications
        .get(&as_alice, hello.id)
        .await
        .expect("get");
    publication
        .request_publish(hello.revision, fx.now.plus_millis(200))
        .expect("domain allows");
    let requested = fx.event(EventKind::PublicationChanged { mock_id: hello.id });
    let saved = repos
        .publications
        .save(&Scope::System, &publication, &[requested])
        .await
        .expect("save");
    let pending = repos.outbox.pending(10).await.expect("pending");
    assert_eq!(pending.len(), 2);
    repos
        .outbox
        .mark_sent(&[pending[0].seq])
        .await
        .expect("mark");
    let claimed = repos
        .outbox
        .claim("r1", 10, Duration::from_secs(600))
        .await
        .expect("claim");
    harness.close(&db).await;
    let err = db.get_user(alice.id).await.expect_err("closed");
    assert_eq!(err.kind(), Unavailable, "a call after close: {err}");
    assert!(err.is_retryable());
    drop((db, repos));

    let db = harness.connect().await;
    let record = db.find_user_by_email(&alice.email).await.expect("find");
    assert_eq!(record.user, alice);
    assert_eq!(record.password_hash.as_deref(), Some("$argon2id$fixture"));
    assert_eq!(db.get_user(bob.id).await.expect("get"), bob);
    assert_eq!(
        db.find_user_by_handle(bob.handle.as_ref().expect("a handle"))
            .await
            .expect("find"),
        bob
    );
    assert_eq!(
        db.list_workspaces(&as_alice).await.expect("list"),
        [personal, org]
    );
    assert_eq!(
        MockRepository::get(&db, &as_alice, hello.id)
            .await
            .expect("get"),
        hello
    );
    assert_eq!(
        db.revisions(&as_alice, hello.id).await.expect("revisions"),
        [hello.current_revision(), first]
    );
    assert_eq!(
        PublicationRepository::get(&db, &as_alice, hello.id)
            .await
            .expect("get"),
        saved
    );
    assert_eq!(db.pending(10).await.expect("pending"), pending[1..]);
    // claims survive too
    let lease = Duration::from_secs(600);
    assert!(db.claim("r2", 10, lease).await.expect("claim").is_empty());
    assert_eq!(db.claim("r1", 10, lease).await.expect("claim"), claimed);
    harness.close(&db).await;
}

/// A history page reads no content: with the `content` column renamed away, pages still
/// list, and a read of a revision fails.
pub async fn a_history_page_reads_no_content(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let repos = Repos::from_database(harness.connect().await);
    let (alice, personal) = fx.signed_up(&repos).await;
    let scope = Scope::User(alice.id);
    let mut hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &scope, &hello).await;
    for n in 2..=3 {
        let before = hello.revision;
        hello
            .edit(spec(&format!("- v{n}")), None, fx.now.plus_millis(n))
            .expect("edit");
        repos
            .mocks
            .update(&scope, &hello, before, &[])
            .await
            .expect("update");
    }

    harness
        .script("ALTER TABLE mock_revisions RENAME COLUMN content TO content_hidden")
        .await;
    let fresh = harness.connect().await;
    let page = fresh
        .revision_page(&scope, hello.id, &RevisionQuery::newest(2))
        .await
        .expect("a page without the content column");
    let numbers: Vec<u64> = page.revisions.iter().map(|r| r.revision.get()).collect();
    assert_eq!((numbers, page.next), (vec![3, 2], Revision::new(2)));
    assert!(
        fresh
            .revision(&scope, hello.id, Revision::FIRST)
            .await
            .is_err(),
        "a read of the content fails without the column"
    );
    harness.close(&fresh).await;
    harness
        .script("ALTER TABLE mock_revisions RENAME COLUMN content_hidden TO content")
        .await;
}

/// Cutting the history is part of the update that adds the revision: when the update
/// fails after the cut (its event is refused), every revision is still there.
pub async fn a_history_cut_is_part_of_its_update(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let repos = Repos::from_database(harness.connect().await);
    let (alice, personal) = fx.signed_up(&repos).await;
    let scope = Scope::User(alice.id);
    let one = KeepRevisions::new(1).expect("1");
    let mut hello = fx.mock(&personal, "hello");
    create(&fx, &repos, &scope, &hello).await;
    hello
        .edit(spec("- v2"), None, fx.now.plus_millis(2))
        .expect("edit");
    repos
        .mocks
        .update_keeping(&scope, &hello, Revision::FIRST, &[], KeepRevisions::DEFAULT)
        .await
        .expect("update");
    let before = TableCounts::of(harness).await;

    harness.refuse_mock_deleted_events().await;
    let stored = hello.clone();
    hello
        .edit(spec("- v3"), None, fx.now.plus_millis(3))
        .expect("edit");
    let refused = fx.event(EventKind::MockDeleted {
        mock_id: hello.id,
        host: hello.host.clone(),
    });
    expect_kind(
        repos
            .mocks
            .update_keeping(&scope, &hello, stored.revision, &[refused], one)
            .await,
        Internal,
        "an update whose event is refused",
    );
    harness.accept_all_events().await;
    assert_eq!(TableCounts::of(harness).await, before, "nothing was cut");
    assert_eq!(
        repos.mocks.get(&scope, hello.id).await.expect("get"),
        stored
    );

    repos
        .mocks
        .update_keeping(&scope, &hello, stored.revision, &[], one)
        .await
        .expect("update");
    let revisions = repos
        .mocks
        .revisions(&scope, hello.id)
        .await
        .expect("revisions");
    assert_eq!(
        revisions,
        [hello.current_revision()],
        "the newest one is kept"
    );
}

/// A user's tokens go with the user (no port deletes users yet; the schema already drops
/// their tokens with them).
pub async fn tokens_go_with_their_user(harness: &impl SqlHarness) {
    let fx = Fixture::new();
    let db = harness.connect().await;
    let lone = fx.user();
    db.create_user(&lone, None).await.expect("create");
    let tokens = LocalTokens::new(
        Arc::new(db.clone()),
        Arc::new(ManualClock::new(fx.now)),
        Arc::new(RandomIds),
    );
    let issued = tokens
        .issue_personal(lone.id, "ci", Some(Duration::from_secs(60)))
        .await
        .expect("issue");

    harness
        .execute("DELETE FROM users WHERE id = $1", &lone.id.to_string())
        .await;
    assert_eq!(harness.count("SELECT COUNT(*) FROM tokens").await, 0);
    expect_kind(
        tokens.authenticate(&issued.token).await,
        Unauthenticated,
        "a token of a deleted user",
    );
    harness.close(&db).await;
}

fn spec(text: &str) -> SpecSource {
    SpecSource::new(text).unwrap_or_else(|e| panic!("spec {text:?}: {e}"))
}

/// A `mock.changed` event for `mock` at its revision.
fn changed(fx: &Fixture, mock: &Mock) -> moclojer_domain::Event {
    fx.event(EventKind::MockChanged {
        mock_id: mock.id,
        revision: mock.revision,
    })
}

/// Stores `mock` as `scope`, with its `mock.changed` event.
async fn create(fx: &Fixture, repos: &Repos, scope: &Scope, mock: &Mock) {
    repos
        .mocks
        .create(scope, mock, &[changed(fx, mock)])
        .await
        .expect("create a mock");
}
