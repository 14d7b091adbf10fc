//! The `LeaseStore` contract: one holder at a time, renewal, expiry, release, fencing
//! tokens, and one winner among concurrent acquirers.

use std::sync::Arc;
use std::time::Duration;

use moclojer_ports::{Lease, LeaseStore, PortErrorKind::*};

use crate::{ManualClock, expect_kind, unique_suffix};

/// Long enough never to expire while the suite runs.
const MINUTE: Duration = Duration::from_secs(60);

/// A lease meant to expire: short, so that a store on a real clock is waited out quickly.
const SHORT: Duration = Duration::from_millis(50);

/// How many acquirers race for one lease.
const RACERS: usize = 8;

/// Runs every rule of `LeaseStore` against `store`, with names of its own, so it can share
/// a store with other runs. `clock` is the store's clock when the test controls it (it is
/// then advanced past expiries, and expiry times are checked exactly); `None` for a store
/// on a real clock (a database server's), which the suite waits out for a moment instead.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn lease_contract(store: Arc<dyn LeaseStore>, clock: Option<ManualClock>) {
    let run = unique_suffix();
    let name = format!("contract.{run}");
    let (a, b, c) = ("holder-a", "holder-b", "holder-c");

    validation(store.as_ref(), &name).await;

    // A free lease is taken, with a first fence.
    let before = clock.as_ref().map(moclojer_ports::Clock::now);
    let first = acquired(store.as_ref(), &name, a, MINUTE, "a free lease").await;
    assert_eq!(
        (first.name.as_str(), first.holder.as_str()),
        (name.as_str(), a),
        "the lease names itself and its holder"
    );
    if let Some(before) = before {
        assert_eq!(
            first.expires_at,
            before.plus_millis(60_000),
            "a lease expires its ttl after now, by the store's clock"
        );
    }

    // Another holder is refused while it holds, however often it asks.
    for _ in 0..2 {
        refused(store.as_ref(), &name, b, "a lease another holder has").await;
    }

    // The holder renews: same fence, a new expiry.
    pass(clock.as_ref(), Duration::from_millis(10)).await;
    let renewed = acquired(store.as_ref(), &name, a, MINUTE, "a renewal").await;
    assert_eq!(renewed.fence, first.fence, "a renewal keeps the fence");
    assert!(
        renewed.expires_at > first.expires_at,
        "a renewal pushes the expiry forward"
    );
    let short = acquired(store.as_ref(), &name, a, SHORT, "a shorter renewal").await;
    assert_eq!(short.fence, first.fence, "a renewal keeps the fence");
    assert!(
        short.expires_at < renewed.expires_at,
        "a renewal sets the expiry to ttl after now, even an earlier one"
    );

    // Other leases are independent.
    let other_name = format!("contract.{run}.other");
    let other = acquired(store.as_ref(), &other_name, b, MINUTE, "another lease").await;
    assert_eq!(other.holder, b);

    // After expiry another holder takes it, with a larger fence; the old holder is out.
    pass(clock.as_ref(), SHORT * 3).await;
    let taken = acquired(store.as_ref(), &name, b, MINUTE, "an expired lease").await;
    assert_eq!(taken.holder, b);
    assert!(
        taken.fence > first.fence,
        "a lease changing hands gets a larger fence ({} then {})",
        first.fence,
        taken.fence
    );
    refused(
        store.as_ref(),
        &name,
        a,
        "the lease after it expired and was taken",
    )
    .await;
    assert_eq!(
        store
            .acquire_lease(&other_name, b, MINUTE)
            .await
            .expect("renew the other lease")
            .map(|l| l.fence),
        Some(other.fence),
        "expiring one lease leaves the others alone"
    );

    // Releasing by a non-holder, or of an unknown lease, does nothing.
    store
        .release_lease(&name, a)
        .await
        .expect("a former holder's release");
    store
        .release_lease(&name, c)
        .await
        .expect("a stranger's release");
    store
        .release_lease(&format!("contract.{run}.unknown"), a)
        .await
        .expect("releasing an unknown lease");
    refused(
        store.as_ref(),
        &name,
        c,
        "the lease after a non-holder's release",
    )
    .await;
    let kept = acquired(store.as_ref(), &name, b, MINUTE, "a renewal after those").await;
    assert_eq!(
        kept.fence, taken.fence,
        "a non-holder's release changes nothing"
    );

    // Released by its holder, the lease is taken at once by another, with a larger fence.
    store.release_lease(&name, b).await.expect("release");
    store
        .release_lease(&name, b)
        .await
        .expect("releasing twice is harmless");
    let after_release = acquired(store.as_ref(), &name, c, MINUTE, "a released lease").await;
    assert!(
        after_release.fence > taken.fence,
        "a released lease taken again gets a larger fence"
    );
    refused(
        store.as_ref(),
        &name,
        b,
        "the lease its former holder released",
    )
    .await;

    // Concurrent acquirers: exactly one wins, of a free lease and of an expired one.
    let fresh = format!("contract.{run}.race");
    let winners = race(&store, &fresh).await;
    assert_eq!(
        winners.len(),
        1,
        "one of {RACERS} acquirers wins a free lease"
    );
    let winner = &winners[0];
    refused(
        store.as_ref(),
        &fresh,
        "racer-late",
        "a lease just raced for",
    )
    .await;
    store
        .acquire_lease(&fresh, &winner.holder, SHORT)
        .await
        .expect("shorten")
        .expect("the winner renews");
    pass(clock.as_ref(), SHORT * 3).await;
    let again = race(&store, &fresh).await;
    assert_eq!(
        again.len(),
        1,
        "one of {RACERS} acquirers wins an expired lease"
    );
    assert!(
        again[0].fence > winner.fence,
        "the new winner has a larger fence"
    );

    for (lease, holder) in [
        (&name, c),
        (&other_name, b),
        (&fresh, again[0].holder.as_str()),
    ] {
        store.release_lease(lease, holder).await.expect("clean up");
    }
}

/// Names and holders are 1 to 100 characters; a ttl at least a millisecond.
async fn validation(store: &dyn LeaseStore, name: &str) {
    let long = "x".repeat(101);
    for (bad_name, bad_holder, what) in [
        ("", "h", "an empty name"),
        (long.as_str(), "h", "a name of 101 characters"),
        (name, "", "an empty holder"),
        (name, long.as_str(), "a holder of 101 characters"),
    ] {
        expect_kind(
            store.acquire_lease(bad_name, bad_holder, MINUTE).await,
            Invalid,
            &format!("acquiring with {what}"),
        );
        expect_kind(
            store.release_lease(bad_name, bad_holder).await,
            Invalid,
            &format!("releasing with {what}"),
        );
    }
    for ttl in [Duration::ZERO, Duration::from_micros(500)] {
        expect_kind(
            store.acquire_lease(name, "h", ttl).await,
            Invalid,
            "a lease shorter than a millisecond",
        );
    }

    // 100 characters are fine, counted as characters, not bytes.
    let longest = format!("{name}{}", "é".repeat(100 - name.chars().count()));
    let holder = "ü".repeat(100);
    let lease = acquired(store, &longest, &holder, MINUTE, "the longest names").await;
    assert_eq!(
        (lease.name.as_str(), lease.holder.as_str()),
        (longest.as_str(), holder.as_str()),
        "names are kept as given"
    );
    store
        .release_lease(&longest, &holder)
        .await
        .expect("release the longest names");
}

/// `RACERS` acquirers ask for `name` at once; the leases of those that got it.
async fn race(store: &Arc<dyn LeaseStore>, name: &str) -> Vec<Lease> {
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(store);
            let name = name.to_owned();
            tokio::spawn(async move {
                store
                    .acquire_lease(&name, &format!("racer-{i}"), MINUTE)
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(lease) = task
            .await
            .expect("an acquirer panicked")
            .expect("a racing acquire")
        {
            winners.push(lease);
        }
    }
    winners
}

/// Lets `by` pass on the store's clock: advances it when the test controls it, waits
/// otherwise.
async fn pass(clock: Option<&ManualClock>, by: Duration) {
    match clock {
        Some(clock) => clock.advance(by),
        None => tokio::time::sleep(by).await,
    }
}

/// Acquires `name` for `holder`, which must succeed.
async fn acquired(
    store: &dyn LeaseStore,
    name: &str,
    holder: &str,
    ttl: Duration,
    what: &str,
) -> Lease {
    match store.acquire_lease(name, holder, ttl).await {
        Ok(Some(lease)) => lease,
        Ok(None) => panic!("{what}: {holder} should get the lease, but was refused"),
        Err(e) => panic!("{what}: {holder} should get the lease, got {e}"),
    }
}

/// Asks for `name` as `holder`, which must be refused.
async fn refused(store: &dyn LeaseStore, name: &str, holder: &str, what: &str) {
    match store.acquire_lease(name, holder, MINUTE).await {
        Ok(None) => {}
        Ok(Some(lease)) => panic!("{what}: {holder} should be refused, but got {lease:?}"),
        Err(e) => panic!("{what}: {holder} should be refused, got {e}"),
    }
}
