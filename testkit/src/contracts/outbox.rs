//! The `Outbox` contract, including the atomicity of writes and their events.

use std::time::Duration;

use moclojer_domain::{Event, EventKind, Mock, Publication, Revision, SpecSource, Workspace};
use moclojer_ports::{IdGenerator as _, Outbox, OutboxEntry, PortErrorKind::*, Scope};

use crate::{Fixture, Repos, expect_kind};

/// Runs every rule of `Outbox` against `repos` (fresh: an empty outbox).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn outbox_contract(repos: Repos) {
    let fx = Fixture::new();
    let outbox = repos.outbox.as_ref();
    assert!(
        outbox.pending(100).await.expect("pending").is_empty(),
        "a fresh outbox is empty"
    );

    let (alice, personal) = fx.signed_up(&repos).await;
    let as_alice = Scope::User(alice.id);
    let mock = fx.mock(&personal, "outboxed");
    let pending = a_write_records_its_events_in_order(&fx, &repos, &as_alice, &mock).await;
    let publication =
        refused_writes_record_no_events(&fx, &repos, &as_alice, &personal, &mock, &pending).await;
    accepted_writes_record_their_events(&fx, &repos, &as_alice, &mock, &publication).await;
    appends_come_last_and_sent_entries_leave(&fx, outbox).await;

    let second = relays_claim_entries_one_at_a_time(&fx, outbox).await;
    a_dead_relays_expired_claims_are_taken_over(outbox, &second).await;
}

/// A write records its events, in order, with their data intact, at increasing
/// positions; the entries now pending.
async fn a_write_records_its_events_in_order(
    fx: &Fixture,
    repos: &Repos,
    as_alice: &Scope,
    mock: &Mock,
) -> Vec<OutboxEntry> {
    let events = vec![
        fx.event(EventKind::MockChanged {
            mock_id: mock.id,
            revision: mock.revision,
        }),
        fx.event(EventKind::DomainRequested {
            mock_id: mock.id,
            host: mock.host.clone(),
        }),
    ];
    repos
        .mocks
        .create(as_alice, mock, &events)
        .await
        .expect("create");
    let pending = repos.outbox.pending(100).await.expect("pending");
    let recorded: Vec<&Event> = pending.iter().map(|e| &e.event).collect();
    assert_eq!(
        recorded,
        events.iter().collect::<Vec<_>>(),
        "a write records its events in order"
    );
    assert!(
        pending.windows(2).all(|w| w[0].seq < w[1].seq),
        "positions increase"
    );
    pending
}

/// A refused create, update, publication save or delete records nothing; the
/// publication of `mock`, as read on the way.
async fn refused_writes_record_no_events(
    fx: &Fixture,
    repos: &Repos,
    as_alice: &Scope,
    personal: &Workspace,
    mock: &Mock,
    pending: &[OutboxEntry],
) -> Publication {
    let mut taken = fx.mock(personal, "outboxed");
    taken.content = SpecSource::new("[]").expect("spec");
    let lost = fx.event(EventKind::MockChanged {
        mock_id: taken.id,
        revision: Revision::FIRST,
    });
    let lost = std::slice::from_ref(&lost);
    expect_kind(
        repos.mocks.create(as_alice, &taken, lost).await,
        Conflict,
        "a taken host",
    );
    let mut stale = mock.clone();
    stale
        .edit(SpecSource::new("[]").expect("spec"), None, fx.now)
        .expect("edit");
    expect_kind(
        repos
            .mocks
            .update(as_alice, &stale, Revision::FIRST.next(), lost)
            .await,
        Conflict,
        "a stale update",
    );
    let publication = repos
        .publications
        .get(as_alice, mock.id)
        .await
        .expect("get");
    let mut stale_publication = publication.clone();
    stale_publication.version += 7;
    expect_kind(
        repos
            .publications
            .save(as_alice, &stale_publication, lost)
            .await,
        Conflict,
        "a stale save",
    );
    expect_kind(
        repos
            .mocks
            .delete(&Scope::User(fx.user().id), mock.id, lost)
            .await,
        NotFound,
        "a foreign delete",
    );
    assert_eq!(
        repos.outbox.pending(100).await.expect("pending"),
        pending,
        "refused writes record no events"
    );
    publication
}

/// The events of an accepted update, publication save and delete are recorded, after
/// the create's two.
async fn accepted_writes_record_their_events(
    fx: &Fixture,
    repos: &Repos,
    as_alice: &Scope,
    mock: &Mock,
    publication: &Publication,
) {
    let mut edited = mock.clone();
    edited
        .edit(SpecSource::new("[]").expect("spec"), None, fx.now)
        .expect("edit");
    let edit_event = fx.event(EventKind::MockChanged {
        mock_id: mock.id,
        revision: edited.revision,
    });
    repos
        .mocks
        .update(
            as_alice,
            &edited,
            Revision::FIRST,
            std::slice::from_ref(&edit_event),
        )
        .await
        .expect("update");
    let save_event = fx.event(EventKind::PublicationChanged { mock_id: mock.id });
    repos
        .publications
        .save(as_alice, publication, std::slice::from_ref(&save_event))
        .await
        .expect("save");
    let delete_event = fx.event(EventKind::MockDeleted {
        mock_id: mock.id,
        host: mock.host.clone(),
    });
    repos
        .mocks
        .delete(as_alice, mock.id, std::slice::from_ref(&delete_event))
        .await
        .expect("delete");
    let tail: Vec<Event> = repos
        .outbox
        .pending(100)
        .await
        .expect("pending")
        .into_iter()
        .skip(2)
        .map(|e| e.event)
        .collect();
    assert_eq!(
        tail,
        vec![edit_event, save_event, delete_event],
        "accepted writes record their events"
    );
}

/// Appended events come last; a limit takes the oldest; sent entries are no longer
/// pending (marking twice, or an unknown position, is harmless); positions never go back.
async fn appends_come_last_and_sent_entries_leave(fx: &Fixture, outbox: &dyn Outbox) {
    let appended = fx.event(EventKind::ConfigPublished {
        generation: 1,
        key: "moclojer.yml".to_owned(),
        checksum: "0".repeat(64),
    });
    outbox
        .append(std::slice::from_ref(&appended))
        .await
        .expect("append");
    let all = outbox.pending(100).await.expect("pending");
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.last().map(|e| &e.event),
        Some(&appended),
        "appended events come last"
    );
    assert_eq!(
        outbox.pending(2).await.expect("pending"),
        all[..2].to_vec(),
        "the limit takes the oldest"
    );

    let first_two: Vec<u64> = all[..2].iter().map(|e| e.seq).collect();
    outbox.mark_sent(&first_two).await.expect("mark sent");
    assert_eq!(
        outbox.pending(100).await.expect("pending"),
        all[2..].to_vec(),
        "sent events are no longer pending"
    );
    outbox
        .mark_sent(&first_two)
        .await
        .expect("marking twice is harmless");
    outbox
        .mark_sent(&[u64::MAX - 1])
        .await
        .expect("marking an unknown position is harmless");
    let rest: Vec<u64> = all[2..].iter().map(|e| e.seq).collect();
    outbox.mark_sent(&rest).await.expect("mark sent");
    assert!(
        outbox.pending(100).await.expect("pending").is_empty(),
        "everything sent"
    );

    // New events get new positions after the old ones.
    outbox
        .append(std::slice::from_ref(&appended))
        .await
        .expect("append");
    let again = outbox.pending(100).await.expect("pending");
    assert!(
        again.len() == 1 && again[0].seq > all[5].seq,
        "positions never go back"
    );

    // Purging deletes only entries sent long enough ago: nothing here was sent an hour
    // ago; the six sent ones go (an outbox that forgets them when sent has none left),
    // the pending one stays, and positions still never go back.
    assert_eq!(
        outbox
            .purge_sent(Duration::from_secs(3600))
            .await
            .expect("purge"),
        0,
        "nothing was sent an hour ago"
    );
    crate::past_this_millisecond().await;
    let purged = outbox.purge_sent(Duration::ZERO).await.expect("purge");
    assert!(purged == 6 || purged == 0, "the six sent entries: {purged}");
    assert_eq!(
        outbox
            .purge_sent(Duration::ZERO)
            .await
            .expect("purge again"),
        0,
        "purged once"
    );
    assert_eq!(
        outbox.pending(100).await.expect("pending"),
        again,
        "pending entries are never purged"
    );
    outbox
        .append(std::slice::from_ref(&appended))
        .await
        .expect("append");
    let after = outbox.pending(100).await.expect("pending");
    assert!(
        after.len() == 2 && after[1].seq > again[0].seq,
        "positions never go back after a purge"
    );
    let seqs: Vec<u64> = after.iter().map(|e| e.seq).collect();
    outbox.mark_sent(&seqs).await.expect("mark sent");
}

/// Relays claim entries for a lease: the oldest first, no two relays the same entry at
/// once, a relay's own claims back when it claims again, sent ones never. The entries
/// the second relay (`r2`) holds at the end.
async fn relays_claim_entries_one_at_a_time(fx: &Fixture, outbox: &dyn Outbox) -> Vec<OutboxEntry> {
    let minute = Duration::from_secs(60);
    let events: Vec<Event> = (0..5)
        .map(|_| {
            fx.event(EventKind::PublicationChanged {
                mock_id: moclojer_ports::RandomIds.mock_id(),
            })
        })
        .collect();
    outbox.append(&events).await.expect("append");

    expect_kind(
        outbox.claim("", 1, minute).await,
        Invalid,
        "a claim without a relay name",
    );
    expect_kind(
        outbox.claim("r1", 0, minute).await,
        Invalid,
        "a claim of nothing",
    );

    let first = outbox.claim("r1", 2, minute).await.expect("claim");
    let firsts: Vec<&Event> = first.iter().map(|e| &e.event).collect();
    assert_eq!(
        firsts,
        events[..2].iter().collect::<Vec<_>>(),
        "a claim takes the oldest"
    );
    let second = outbox.claim("r2", 10, minute).await.expect("claim");
    let seconds: Vec<&Event> = second.iter().map(|e| &e.event).collect();
    assert_eq!(
        seconds,
        events[2..].iter().collect::<Vec<_>>(),
        "another relay skips claimed entries"
    );
    assert!(
        outbox
            .claim("r3", 10, minute)
            .await
            .expect("claim")
            .is_empty(),
        "everything is claimed"
    );
    let renewed = outbox.claim("r1", 10, minute).await.expect("claim");
    assert_eq!(
        renewed, first,
        "a relay claiming again gets its own entries back"
    );
    assert_eq!(
        outbox.pending(100).await.expect("pending").len(),
        5,
        "claimed entries are still pending"
    );

    let first_seqs: Vec<u64> = first.iter().map(|e| e.seq).collect();
    outbox.mark_sent(&first_seqs).await.expect("mark sent");
    assert!(
        outbox
            .claim("r1", 10, minute)
            .await
            .expect("claim")
            .is_empty(),
        "sent entries are not claimed again"
    );
    second
}

/// `r2`, holding `second`, dies: its claims hold while live, then expire and are taken
/// over by another relay, in order.
async fn a_dead_relays_expired_claims_are_taken_over(outbox: &dyn Outbox, second: &[OutboxEntry]) {
    let minute = Duration::from_secs(60);
    let second_seqs: Vec<u64> = second.iter().map(|e| e.seq).collect();
    let short = outbox
        .claim("r2", 10, Duration::from_millis(200))
        .await
        .expect("renew with a short lease");
    assert_eq!(short.len(), 3);
    assert!(
        outbox
            .claim("r4", 10, minute)
            .await
            .expect("claim")
            .is_empty(),
        "a live claim holds"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken: Vec<u64> = outbox
        .claim("r4", 10, minute)
        .await
        .expect("claim")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        taken, second_seqs,
        "an expired claim is taken over, in order"
    );
    outbox.mark_sent(&taken).await.expect("mark sent");
    assert!(outbox.pending(100).await.expect("pending").is_empty());
}
