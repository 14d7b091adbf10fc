//! The contract of local identities: `Identity` with the `TokenIssuer` that feeds it.

use std::sync::Arc;
use std::time::Duration;

use moclojer_ports::{IdGenerator, Identity, PortErrorKind::*, RandomIds, TokenIssuer};

use crate::{ManualClock, expect_kind};

/// Runs every rule of `Identity` and `TokenIssuer` against one local identity that reads
/// time from `clock`.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn identity_contract(
    identity: Arc<dyn Identity>,
    issuer: Arc<dyn TokenIssuer>,
    clock: ManualClock,
) {
    let alice = RandomIds.user_id();
    let bob = RandomIds.user_id();
    let hour = Duration::from_secs(3600);

    let a1 = issuer.issue(alice, hour).await.expect("issue");
    let a2 = issuer.issue(alice, hour).await.expect("issue a second");
    let b1 = issuer.issue(bob, hour).await.expect("issue for bob");
    assert_ne!(a1.token, a2.token, "every token is new");
    assert_eq!(
        identity
            .authenticate(&a1.token)
            .await
            .expect("authenticate")
            .user_id,
        alice
    );
    assert_eq!(
        identity
            .authenticate(&a2.token)
            .await
            .expect("authenticate")
            .user_id,
        alice
    );
    assert_eq!(
        identity
            .authenticate(&b1.token)
            .await
            .expect("authenticate")
            .user_id,
        bob,
        "tokens are per user"
    );

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
    let mut forged = a1.token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    expect_kind(
        identity.authenticate(&forged).await,
        Unauthenticated,
        "a token with one character changed",
    );

    issuer.revoke(&a1.token).await.expect("revoke");
    expect_kind(
        identity.authenticate(&a1.token).await,
        Unauthenticated,
        "a revoked token",
    );
    issuer
        .revoke(&a1.token)
        .await
        .expect("revoking twice succeeds");
    issuer
        .revoke("never-issued")
        .await
        .expect("revoking an unknown token succeeds");
    assert_eq!(
        identity
            .authenticate(&a2.token)
            .await
            .expect("authenticate")
            .user_id,
        alice,
        "revoking one token leaves the others"
    );

    let short = issuer
        .issue(bob, Duration::from_secs(60))
        .await
        .expect("issue");
    clock.advance(Duration::from_secs(59));
    assert!(
        identity.authenticate(&short.token).await.is_ok(),
        "a token works until it expires"
    );
    clock.advance(Duration::from_secs(1));
    expect_kind(
        identity.authenticate(&short.token).await,
        Unauthenticated,
        "an expired token",
    );
    assert!(
        identity.authenticate(&b1.token).await.is_ok(),
        "longer tokens still work"
    );
}
