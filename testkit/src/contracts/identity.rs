//! The contract of the service's own tokens: a `TokenStore`, driven through the
//! `LocalTokens` identity and issuer built on it, and directly where `LocalTokens` cannot
//! reach (a duplicate id or digest, a record made elsewhere).

use std::slice;
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::{Timestamp, User, UserId};
use moclojer_ports::{
    AccountRepository, Caller, Clock, IdGenerator, Identity, IssuedToken, LocalTokens,
    MAX_TOKEN_NAME_LEN, PortErrorKind::*, PortResult, RandomIds, TOKEN_PREFIX, TokenDigest,
    TokenId, TokenIssuer, TokenKind, TokenRecord, TokenStore,
};

use crate::{Fixture, ManualClock, expect_kind};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs every rule of `TokenStore`, and of the `Identity` and `TokenIssuer` that
/// `LocalTokens` makes of it, against `store`: a *fresh* store (no tokens yet) whose users
/// are the ones `accounts` creates, as they are when both are the same database. `clock`
/// is the time the tokens are issued and checked at; the suite moves it forward.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn identity_contract(
    store: Arc<dyn TokenStore>,
    accounts: Arc<dyn AccountRepository>,
    clock: ManualClock,
) {
    let tokens = LocalTokens::new(
        Arc::clone(&store),
        Arc::new(clock.clone()),
        Arc::new(RandomIds),
    );
    let fixture = Fixture::new();
    let alice = stored_user(&fixture, &accounts).await;
    let bob = stored_user(&fixture, &accounts).await;
    let carol = stored_user(&fixture, &accounts).await;

    session_tokens(&tokens, &store, &clock, alice.id, bob.id).await;
    personal_tokens(&tokens, &store, &clock, alice.id, bob.id).await;
    purge(&tokens, &store, &clock, carol.id).await;
    store_rules(&tokens, &store, &clock, alice.id, bob.id).await;
}

/// A new user, stored.
async fn stored_user(fixture: &Fixture, accounts: &Arc<dyn AccountRepository>) -> User {
    let user = fixture.user();
    accounts
        .create_user(&user, None)
        .await
        .expect("create a user for the tokens");
    user
}

/// Asserts that `result` is the caller `user` (and nothing more), saying `what` when not.
#[track_caller]
fn expect_caller(result: PortResult<Caller>, user: UserId, what: &str) {
    match result {
        Ok(caller) => assert_eq!(caller, Caller::user(user), "{what}"),
        Err(e) => panic!("{what}: refused: {e}"),
    }
}

/// Whether `token` looks like `mcj_` and 64 lowercase hex digits.
fn has_our_shape(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|secret| {
        secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Issuing, authenticating, refusing and revoking session tokens; expiry at the exact
/// instant.
async fn session_tokens(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) {
    let [a1, a2, b1] =
        session_tokens_are_issued_new_and_stored(tokens, store, clock, alice, bob).await;
    malformed_unknown_and_forged_tokens_are_refused(tokens, store, &a1).await;
    a_revoked_token_is_gone_and_the_others_work(tokens, store, alice, &a1, &a2).await;
    let short =
        a_token_works_until_the_exact_instant_it_expires(tokens, store, clock, bob, &b1).await;
    session_tokens_are_listed_apart_from_personal_ones(tokens, store, alice, &a2).await;

    // Tidy up, so that the later rules start from personal tokens only.
    let issuer: &dyn TokenIssuer = tokens;
    for issued in [&a2, &b1, &short] {
        issuer.revoke(&issued.token).await.expect("revoke");
    }
}

/// Session tokens are new, of our shape, nameless, expire after their ttl, are stored as
/// issued, and authenticate their user. Two of alice's and one of bob's, in that order.
async fn session_tokens_are_issued_new_and_stored(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) -> [IssuedToken; 3] {
    let identity: &dyn Identity = tokens;
    let issuer: &dyn TokenIssuer = tokens;
    let issued_at = clock.now();
    let a1 = issuer.issue(alice, HOUR).await.expect("issue");
    let a2 = issuer.issue(alice, HOUR).await.expect("issue a second");
    let b1 = issuer.issue(bob, HOUR).await.expect("issue for bob");
    assert_ne!(a1.token, a2.token, "every token is new");
    assert_ne!(a1.record.id, a2.record.id, "every token has its own id");
    for issued in [&a1, &a2, &b1] {
        assert!(
            has_our_shape(&issued.token),
            "token shape: {}",
            issued.token
        );
        assert!(LocalTokens::is_ours(&issued.token));
        assert_eq!(issued.record.kind, TokenKind::Session);
        assert_eq!(issued.record.name, "", "a session token has no name");
        assert_eq!(issued.record.digest, TokenDigest::of(&issued.token));
        assert_eq!(issued.record.created_at, issued_at);
        assert_eq!(
            issued.record.expires_at,
            Some(issued_at.plus_millis(millis(HOUR))),
            "a session token expires after its ttl"
        );
        assert_eq!(
            store
                .find_token(&issued.record.digest)
                .await
                .expect("find an issued token"),
            issued.record,
            "the store keeps the record as issued"
        );
    }
    assert_eq!(a1.record.user_id, alice);
    assert_eq!(b1.record.user_id, bob);

    expect_caller(identity.authenticate(&a1.token).await, alice, "a1");
    expect_caller(identity.authenticate(&a2.token).await, alice, "a2");
    expect_caller(
        identity.authenticate(&b1.token).await,
        bob,
        "tokens are per user",
    );
    [a1, a2, b1]
}

/// Empty, garbage, padded, never issued and forged tokens (`a1` with one character
/// changed) do not authenticate; the store has nothing for a forged one.
async fn malformed_unknown_and_forged_tokens_are_refused(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    a1: &IssuedToken,
) {
    let identity: &dyn Identity = tokens;
    expect_kind(
        identity.authenticate("").await,
        Unauthenticated,
        "an empty token",
    );
    expect_kind(
        identity.authenticate("garbage").await,
        Unauthenticated,
        "a garbage token",
    );
    expect_kind(
        identity.authenticate(&format!("{} ", a1.token)).await,
        Unauthenticated,
        "a token with a trailing space",
    );
    expect_kind(
        identity
            .authenticate(&format!("{TOKEN_PREFIX}{}", "0".repeat(64)))
            .await,
        Unauthenticated,
        "a well-formed token never issued",
    );
    let mut forged = a1.token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    expect_kind(
        identity.authenticate(&forged).await,
        Unauthenticated,
        "a token with one character changed",
    );
    expect_kind(
        store.find_token(&TokenDigest::of(&forged)).await,
        NotFound,
        "the store has no token for a forged one",
    );
}

/// A revoked token (`a1`) no longer authenticates and is gone from the store; revoking
/// it again, or an unknown token, succeeds; alice's other token (`a2`) still works.
async fn a_revoked_token_is_gone_and_the_others_work(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    alice: UserId,
    a1: &IssuedToken,
    a2: &IssuedToken,
) {
    let identity: &dyn Identity = tokens;
    let issuer: &dyn TokenIssuer = tokens;
    issuer.revoke(&a1.token).await.expect("revoke");
    expect_kind(
        identity.authenticate(&a1.token).await,
        Unauthenticated,
        "a revoked token",
    );
    expect_kind(
        store.find_token(&a1.record.digest).await,
        NotFound,
        "a revoked token is gone from the store",
    );
    issuer
        .revoke(&a1.token)
        .await
        .expect("revoking twice succeeds");
    issuer
        .revoke("never-issued")
        .await
        .expect("revoking an unknown token succeeds");
    expect_caller(
        identity.authenticate(&a2.token).await,
        alice,
        "revoking one token leaves the others",
    );
}

/// A short token of bob's works until the millisecond before it expires and not at that
/// instant, yet stays in the store until purged; his longer `b1` still works. The short
/// token.
async fn a_token_works_until_the_exact_instant_it_expires(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    bob: UserId,
    b1: &IssuedToken,
) -> IssuedToken {
    let identity: &dyn Identity = tokens;
    let issuer: &dyn TokenIssuer = tokens;
    let short = issuer
        .issue(bob, Duration::from_secs(60))
        .await
        .expect("issue");
    clock.advance(Duration::from_millis(59_999));
    expect_caller(
        identity.authenticate(&short.token).await,
        bob,
        "a token works until it expires",
    );
    clock.advance(Duration::from_millis(1));
    expect_kind(
        identity.authenticate(&short.token).await,
        Unauthenticated,
        "a token at the exact instant it expires",
    );
    assert_eq!(
        store
            .find_token(&short.record.digest)
            .await
            .expect("an expired token is still found until purged"),
        short.record,
    );
    expect_caller(
        identity.authenticate(&b1.token).await,
        bob,
        "longer tokens still work",
    );
    short
}

/// Alice's session tokens list as just `a2` (not the revoked one), and none of them as
/// personal tokens.
async fn session_tokens_are_listed_apart_from_personal_ones(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    alice: UserId,
    a2: &IssuedToken,
) {
    let sessions = store
        .list_tokens(alice, TokenKind::Session)
        .await
        .expect("list session tokens");
    assert_eq!(
        sessions,
        slice::from_ref(&a2.record),
        "alice's session tokens, without the revoked one"
    );
    assert!(
        tokens
            .list_personal(alice)
            .await
            .expect("list personal")
            .is_empty(),
        "session tokens are not listed as personal ones"
    );
}

/// The tokens the personal-token rules work on.
struct PersonalTokens {
    /// Alice's, named "ci", without a ttl.
    ci: IssuedToken,
    /// Alice's, with a name to trim and a day's ttl.
    deploy: IssuedToken,
    /// Alice's, with a name of the longest length.
    wide: IssuedToken,
    /// Bob's.
    bobs: IssuedToken,
    /// A session token of alice's, next to her personal ones.
    session: IssuedToken,
    /// Alice's, made elsewhere: stored later but dated before the others.
    backdated: TokenRecord,
}

/// Named, listed, non-expiring, revocable by id, and only by their owner.
async fn personal_tokens(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) {
    let issued = personal_tokens_are_issued_named_and_dated(tokens, store, clock, alice, bob).await;
    personal_tokens_are_listed_oldest_first_per_user(tokens, store, alice, bob, &issued).await;
    bad_token_names_are_refused(tokens, alice).await;
    personal_tokens_expire_only_by_their_ttl(tokens, clock, alice, &issued).await;
    personal_tokens_are_revoked_by_id_by_their_owner_only(tokens, alice, bob, &issued).await;

    // Tidy up for the purge rules.
    for (user, record) in [
        (alice, &issued.backdated),
        (alice, &issued.deploy.record),
        (alice, &issued.wide.record),
        (alice, &issued.session.record),
        (bob, &issued.bobs.record),
    ] {
        store
            .delete_token(user, record.id)
            .await
            .expect("delete by id");
    }
    assert!(tokens.list_personal(alice).await.expect("list").is_empty());
}

/// Personal tokens are of our shape, personal, named (trimmed, up to the longest name in
/// characters), dated now, and expire after their ttl or never; a record made elsewhere
/// is stored as given.
async fn personal_tokens_are_issued_named_and_dated(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) -> PersonalTokens {
    let first_at = clock.now();
    let ci = tokens
        .issue_personal(alice, "ci", None)
        .await
        .expect("a personal token");
    assert!(has_our_shape(&ci.token));
    assert_eq!(ci.record.kind, TokenKind::Personal);
    assert_eq!(ci.record.name, "ci");
    assert_eq!(ci.record.user_id, alice);
    assert_eq!(ci.record.created_at, first_at);
    assert_eq!(ci.record.expires_at, None, "no ttl: never expires");
    clock.advance(Duration::from_secs(1));
    let deploy = tokens
        .issue_personal(alice, "  deploy from laptop ", Some(DAY))
        .await
        .expect("a personal token with a ttl");
    assert_eq!(
        deploy.record.name, "deploy from laptop",
        "the name is trimmed"
    );
    assert_eq!(
        deploy.record.expires_at,
        Some(first_at.plus_millis(1000 + millis(DAY)))
    );
    clock.advance(Duration::from_secs(1));
    let longest = "é".repeat(MAX_TOKEN_NAME_LEN);
    let wide = tokens
        .issue_personal(alice, &longest, None)
        .await
        .expect("a name of the longest length, in characters not bytes");
    assert_eq!(wide.record.name, longest, "the name is kept as given");
    let bobs = tokens
        .issue_personal(bob, "bob's script", None)
        .await
        .expect("bob's personal token");
    let session = tokens
        .issue(alice, HOUR)
        .await
        .expect("a session token next to them");

    // A record made elsewhere, later but dated earlier: the order is by age, not by
    // insertion or id.
    let backdated = TokenRecord {
        id: TokenId::from_uuid(RandomIds.uuid()),
        user_id: alice,
        kind: TokenKind::Personal,
        name: "imported".to_owned(),
        digest: TokenDigest::of("a token made elsewhere"),
        created_at: first_at.plus_millis(-60_000),
        expires_at: None,
    };
    store
        .insert_token(&backdated)
        .await
        .expect("insert a record");
    PersonalTokens {
        ci,
        deploy,
        wide,
        bobs,
        session,
        backdated,
    }
}

/// Each user's personal tokens are listed oldest first, without session tokens or other
/// users'; personal tokens are not listed as session ones.
async fn personal_tokens_are_listed_oldest_first_per_user(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    alice: UserId,
    bob: UserId,
    issued: &PersonalTokens,
) {
    let listed = tokens.list_personal(alice).await.expect("list personal");
    assert_eq!(
        listed,
        [
            issued.backdated.clone(),
            issued.ci.record.clone(),
            issued.deploy.record.clone(),
            issued.wide.record.clone()
        ],
        "alice's personal tokens, oldest first, without sessions or bob's"
    );
    assert_eq!(
        tokens.list_personal(bob).await.expect("list bob's"),
        slice::from_ref(&issued.bobs.record)
    );
    assert_eq!(
        store
            .list_tokens(alice, TokenKind::Session)
            .await
            .expect("list sessions"),
        slice::from_ref(&issued.session.record),
        "personal tokens are not listed as session ones"
    );
}

/// Empty, blank, too long and control-character names are invalid, and store nothing.
async fn bad_token_names_are_refused(tokens: &LocalTokens, alice: UserId) {
    for (name, what) in [
        ("", "an empty name"),
        ("   ", "a blank name"),
        (&*"x".repeat(MAX_TOKEN_NAME_LEN + 1), "a 101-character name"),
        ("c\0i", "a name with a NUL"),
        ("line\nbreak", "a name with a line break"),
    ] {
        expect_kind(
            tokens.issue_personal(alice, name, None).await,
            Invalid,
            what,
        );
    }
    assert_eq!(
        tokens.list_personal(alice).await.expect("list").len(),
        4,
        "a refused name stores nothing"
    );
}

/// Ten years on, a personal token without a ttl still works; one past its ttl does not.
async fn personal_tokens_expire_only_by_their_ttl(
    tokens: &LocalTokens,
    clock: &ManualClock,
    alice: UserId,
    issued: &PersonalTokens,
) {
    clock.advance(DAY * 3650);
    expect_caller(
        tokens.authenticate(&issued.ci.token).await,
        alice,
        "a personal token without a ttl works ten years on",
    );
    expect_kind(
        tokens.authenticate(&issued.deploy.token).await,
        Unauthenticated,
        "a personal token past its ttl",
    );
}

/// Revoking by id another user's token or an unknown id is not found and changes
/// nothing; revoking one's own ends it, takes it off the list, and cannot be repeated.
async fn personal_tokens_are_revoked_by_id_by_their_owner_only(
    tokens: &LocalTokens,
    alice: UserId,
    bob: UserId,
    issued: &PersonalTokens,
) {
    let PersonalTokens { ci, bobs, .. } = issued;
    expect_kind(
        tokens.revoke_by_id(alice, bobs.record.id).await,
        NotFound,
        "revoking another user's token by id",
    );
    expect_caller(
        tokens.authenticate(&bobs.token).await,
        bob,
        "a token another user tried to revoke still works",
    );
    assert_eq!(
        tokens.list_personal(bob).await.expect("list bob's"),
        slice::from_ref(&bobs.record)
    );
    expect_kind(
        tokens
            .revoke_by_id(alice, TokenId::from_uuid(RandomIds.uuid()))
            .await,
        NotFound,
        "revoking an unknown id",
    );

    tokens
        .revoke_by_id(alice, ci.record.id)
        .await
        .expect("revoke by id");
    expect_kind(
        tokens.authenticate(&ci.token).await,
        Unauthenticated,
        "a token revoked by id",
    );
    expect_kind(
        tokens.revoke_by_id(alice, ci.record.id).await,
        NotFound,
        "revoking by id twice",
    );
    assert_eq!(
        tokens.list_personal(alice).await.expect("list"),
        [
            issued.backdated.clone(),
            issued.deploy.record.clone(),
            issued.wide.record.clone()
        ],
        "a token revoked by id leaves the list"
    );
}

/// `purge_expired` deletes exactly the tokens expired at or before now.
async fn purge(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    carol: UserId,
) {
    // No name: a session token; a name: a personal one. Both kinds are purged alike.
    let issue = |ttl: Option<Duration>, name: &'static str| async move {
        match ttl {
            Some(ttl) if name.is_empty() => tokens.issue(carol, ttl).await,
            _ => tokens.issue_personal(carol, name, ttl).await,
        }
        .expect("issue")
    };
    let ms = Duration::from_millis;
    let long_gone = issue(Some(ms(1_000)), "").await;
    let gone = issue(Some(ms(5_000)), "gone").await;
    let due_now = issue(Some(ms(10_000)), "").await;
    let just_after = issue(Some(ms(10_001)), "").await;
    let later = issue(Some(DAY), "later").await;
    let forever = issue(None, "forever").await;
    clock.advance(ms(10_000));

    let purged = tokens.purge_expired().await.expect("purge");
    assert_eq!(
        purged, 3,
        "expired earlier, expired earlier, expiring at this instant"
    );
    for gone in [&long_gone, &gone, &due_now] {
        expect_kind(
            store.find_token(&gone.record.digest).await,
            NotFound,
            "a purged token",
        );
    }
    for kept in [&just_after, &later, &forever] {
        expect_caller(
            tokens.authenticate(&kept.token).await,
            carol,
            "a token not yet expired survives the purge",
        );
    }
    // Issued at the same instant: their order between themselves is not the rule here.
    let mut left = tokens.list_personal(carol).await.expect("list");
    left.sort_by_key(|t| t.id);
    let mut expected = [later.record.clone(), forever.record.clone()];
    expected.sort_by_key(|t| t.id);
    assert_eq!(left, expected, "the personal tokens not yet expired");
    assert_eq!(
        tokens.purge_expired().await.expect("purge again"),
        0,
        "nothing left to purge"
    );

    clock.advance(ms(1));
    assert_eq!(tokens.purge_expired().await.expect("purge"), 1);
    expect_kind(
        store.find_token(&just_after.record.digest).await,
        NotFound,
        "purged once expired",
    );
    clock.advance(DAY * 3650);
    assert_eq!(tokens.purge_expired().await.expect("purge"), 1);
    assert_eq!(
        tokens.list_personal(carol).await.expect("list"),
        slice::from_ref(&forever.record),
        "a token that never expires is never purged"
    );
}

/// Ids and digests are unique; a token needs its user.
async fn store_rules(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) {
    let original = duplicate_ids_and_digests_are_refused(tokens, store, clock, alice, bob).await;
    a_token_needs_a_known_user(tokens, store, clock, bob).await;
    a_token_deleted_by_digest_is_gone(tokens, store, &original).await;
}

/// A new personal record for `user`, named `name`, with `digest`, made `now`.
fn fresh_record(user: UserId, name: &str, digest: TokenDigest, now: Timestamp) -> TokenRecord {
    TokenRecord {
        id: TokenId::from_uuid(RandomIds.uuid()),
        user_id: user,
        kind: TokenKind::Personal,
        name: name.to_owned(),
        digest,
        created_at: now,
        expires_at: None,
    }
}

/// A record of bob's with the digest or the id of alice's token is a conflict, stores
/// nothing and leaves the original alone. Alice's original token.
async fn duplicate_ids_and_digests_are_refused(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    alice: UserId,
    bob: UserId,
) -> IssuedToken {
    let original: IssuedToken = tokens
        .issue_personal(alice, "original", None)
        .await
        .expect("issue");
    let fresh = |name: &str, digest: TokenDigest| fresh_record(bob, name, digest, clock.now());

    let same_digest = fresh("copy", original.record.digest);
    expect_kind(
        store.insert_token(&same_digest).await,
        Conflict,
        "a duplicate digest",
    );
    let same_id = TokenRecord {
        id: original.record.id,
        ..fresh("copy", TokenDigest::of("another secret"))
    };
    expect_kind(
        store.insert_token(&same_id).await,
        Conflict,
        "a duplicate id",
    );
    expect_kind(
        store.find_token(&same_id.digest).await,
        NotFound,
        "a refused insert stores nothing",
    );
    expect_caller(
        tokens.authenticate(&original.token).await,
        alice,
        "a refused duplicate leaves the original alone",
    );
    assert!(
        tokens.list_personal(bob).await.expect("list").is_empty(),
        "nothing stored for bob"
    );
    original
}

/// Session tokens, personal tokens and records for an unknown user are not found, and
/// nothing is stored for them.
async fn a_token_needs_a_known_user(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    bob: UserId,
) {
    let nobody = RandomIds.user_id();
    expect_kind(
        tokens.issue(nobody, HOUR).await,
        NotFound,
        "a session token for an unknown user",
    );
    expect_kind(
        tokens.issue_personal(nobody, "ci", None).await,
        NotFound,
        "a personal token for an unknown user",
    );
    let orphan = TokenRecord {
        user_id: nobody,
        ..fresh_record(
            bob,
            "orphan",
            TokenDigest::of("an orphan's secret"),
            clock.now(),
        )
    };
    expect_kind(
        store.insert_token(&orphan).await,
        NotFound,
        "a record for an unknown user",
    );
    expect_kind(
        store.find_token(&orphan.digest).await,
        NotFound,
        "a token for an unknown user is not stored",
    );
    assert!(
        store
            .list_tokens(nobody, TokenKind::Personal)
            .await
            .expect("list an unknown user's tokens")
            .is_empty()
    );
}

/// Deleting an unknown digest succeeds; a token deleted by digest (`original`) no longer
/// authenticates.
async fn a_token_deleted_by_digest_is_gone(
    tokens: &LocalTokens,
    store: &Arc<dyn TokenStore>,
    original: &IssuedToken,
) {
    store
        .delete_token_by_digest(&TokenDigest::of("never stored"))
        .await
        .expect("deleting an unknown digest succeeds");
    store
        .delete_token_by_digest(&original.record.digest)
        .await
        .expect("delete by digest");
    expect_kind(
        tokens.authenticate(&original.token).await,
        Unauthenticated,
        "a token deleted by digest",
    );
}
