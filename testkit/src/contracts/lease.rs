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

/// The first holder of the main lease; it renews, then loses the lease when it expires.
const HOLDER_A: &str = "holder-a";

/// The holder that takes the main lease once expired, and holds the other one.
const HOLDER_B: &str = "holder-b";

/// A stranger, then the holder that takes the main lease once released.
const HOLDER_C: &str = "holder-c";

/// The names of the leases of one run, its own so it can share a store with others.
struct Names {
    /// The lease that changes hands.
    main: String,
    /// A lease held alongside it.
    other: String,
    /// A lease nobody ever takes.
    unknown: String,
    /// The lease acquirers race for.
    race: String,
}

impl Names {
    /// The names for the run `run`.
    fn of_run(run: &str) -> Self {
        Self {
            main: format!("contract.{run}"),
            other: format!("contract.{run}.other"),
            unknown: format!("contract.{run}.unknown"),
            race: format!("contract.{run}.race"),
        }
    }
}

/// Runs every rule of `LeaseStore` against `store`, with names of its own, so it can share
/// a store with other runs. `clock` is the store's clock when the test controls it (it is
/// then advanced past expiries, and expiry times are checked exactly); `None` for a store
/// on a real clock (a database server's), which the suite waits out for a moment instead.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn lease_contract(store: Arc<dyn LeaseStore>, clock: Option<ManualClock>) {
    let names = Names::of_run(&unique_suffix());
    let clock = clock.as_ref();

    validation(store.as_ref(), &names.main).await;
    let first = a_free_lease_is_taken_and_refused_to_others(store.as_ref(), clock, &names).await;
    the_holder_renews_with_the_same_fence(store.as_ref(), clock, &names, &first).await;
    let taken = an_expired_lease_changes_hands_and_leaves_others_alone(
        store.as_ref(),
        clock,
        &names,
        &first,
    )
    .await;
    a_non_holders_release_changes_nothing(store.as_ref(), &names, &taken).await;
    a_released_lease_is_taken_at_once_by_another(store.as_ref(), &names, &taken).await;
    let last_winner = one_of_many_concurrent_acquirers_wins(&store, clock, &names).await;

    for (lease, holder) in [
        (&names.main, HOLDER_C),
        (&names.other, HOLDER_B),
        (&names.race, last_winner.holder.as_str()),
    ] {
        store.release_lease(lease, holder).await.expect("clean up");
    }
}

/// A free lease is taken, with a first fence, naming itself and its holder and expiring
/// its ttl after now; another holder is refused while it holds, however often it asks.
/// The lease as first taken.
async fn a_free_lease_is_taken_and_refused_to_others(
    store: &dyn LeaseStore,
    clock: Option<&ManualClock>,
    names: &Names,
) -> Lease {
    let (name, a, b) = (&names.main, HOLDER_A, HOLDER_B);
    let before = clock.map(moclojer_ports::Clock::now);
    let first = acquired(store, name, a, MINUTE, "a free lease").await;
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

    for _ in 0..2 {
        refused(store, name, b, "a lease another holder has").await;
    }
    first
}

/// The holder renews: the same fence as `first`, a new expiry ttl after now, even an
/// earlier one.
async fn the_holder_renews_with_the_same_fence(
    store: &dyn LeaseStore,
    clock: Option<&ManualClock>,
    names: &Names,
    first: &Lease,
) {
    let (name, a) = (&names.main, HOLDER_A);
    pass(clock, Duration::from_millis(10)).await;
    let renewed = acquired(store, name, a, MINUTE, "a renewal").await;
    assert_eq!(renewed.fence, first.fence, "a renewal keeps the fence");
    assert!(
        renewed.expires_at > first.expires_at,
        "a renewal pushes the expiry forward"
    );
    let short = acquired(store, name, a, SHORT, "a shorter renewal").await;
    assert_eq!(short.fence, first.fence, "a renewal keeps the fence");
    assert!(
        short.expires_at < renewed.expires_at,
        "a renewal sets the expiry to ttl after now, even an earlier one"
    );
}

/// Other leases are independent: after expiry another holder takes the lease, with a
/// fence larger than `first`'s, the old holder is out, and the other lease keeps its
/// fence. The lease as taken.
async fn an_expired_lease_changes_hands_and_leaves_others_alone(
    store: &dyn LeaseStore,
    clock: Option<&ManualClock>,
    names: &Names,
    first: &Lease,
) -> Lease {
    let (name, a, b) = (&names.main, HOLDER_A, HOLDER_B);
    let other = acquired(store, &names.other, b, MINUTE, "another lease").await;
    assert_eq!(other.holder, b);

    pass(clock, SHORT * 3).await;
    let taken = acquired(store, name, b, MINUTE, "an expired lease").await;
    assert_eq!(taken.holder, b);
    assert!(
        taken.fence > first.fence,
        "a lease changing hands gets a larger fence ({} then {})",
        first.fence,
        taken.fence
    );
    refused(store, name, a, "the lease after it expired and was taken").await;
    assert_eq!(
        store
            .acquire_lease(&names.other, b, MINUTE)
            .await
            .expect("renew the other lease")
            .map(|l| l.fence),
        Some(other.fence),
        "expiring one lease leaves the others alone"
    );
    taken
}

/// Releasing by a former holder or a stranger, or of an unknown lease, does nothing: the
/// lease stays `taken`, fence and all.
async fn a_non_holders_release_changes_nothing(
    store: &dyn LeaseStore,
    names: &Names,
    taken: &Lease,
) {
    let (name, a, b, c) = (&names.main, HOLDER_A, HOLDER_B, HOLDER_C);
    store
        .release_lease(name, a)
        .await
        .expect("a former holder's release");
    store
        .release_lease(name, c)
        .await
        .expect("a stranger's release");
    store
        .release_lease(&names.unknown, a)
        .await
        .expect("releasing an unknown lease");
    refused(store, name, c, "the lease after a non-holder's release").await;
    let kept = acquired(store, name, b, MINUTE, "a renewal after those").await;
    assert_eq!(
        kept.fence, taken.fence,
        "a non-holder's release changes nothing"
    );
}

/// Released by its holder (twice, harmlessly), the lease is taken at once by another,
/// with a fence larger than `taken`'s; the former holder is refused.
async fn a_released_lease_is_taken_at_once_by_another(
    store: &dyn LeaseStore,
    names: &Names,
    taken: &Lease,
) {
    let (name, b, c) = (&names.main, HOLDER_B, HOLDER_C);
    store.release_lease(name, b).await.expect("release");
    store
        .release_lease(name, b)
        .await
        .expect("releasing twice is harmless");
    let after_release = acquired(store, name, c, MINUTE, "a released lease").await;
    assert!(
        after_release.fence > taken.fence,
        "a released lease taken again gets a larger fence"
    );
    refused(store, name, b, "the lease its former holder released").await;
}

/// Of concurrent acquirers exactly one wins, of a free lease and of an expired one, the
/// second with a larger fence. The second winner's lease.
async fn one_of_many_concurrent_acquirers_wins(
    store: &Arc<dyn LeaseStore>,
    clock: Option<&ManualClock>,
    names: &Names,
) -> Lease {
    let fresh = &names.race;
    let winners = race(store, fresh).await;
    assert_eq!(
        winners.len(),
        1,
        "one of {RACERS} acquirers wins a free lease"
    );
    let winner = &winners[0];
    refused(
        store.as_ref(),
        fresh,
        "racer-late",
        "a lease just raced for",
    )
    .await;
    store
        .acquire_lease(fresh, &winner.holder, SHORT)
        .await
        .expect("shorten")
        .expect("the winner renews");
    pass(clock, SHORT * 3).await;
    let mut again = race(store, fresh).await;
    assert_eq!(
        again.len(),
        1,
        "one of {RACERS} acquirers wins an expired lease"
    );
    assert!(
        again[0].fence > winner.fence,
        "the new winner has a larger fence"
    );
    again.remove(0)
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
