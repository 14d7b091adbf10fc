//! The worker: events wake one sync per batch; a timer rebuilds without them.

use std::time::Duration;

use moclojer_domain::{EventKind, Host};
use moclojer_generator::{GRACE, GROUP, StepOutcome, run, try_execute_next};
use moclojer_memory::InMemoryEventQueue;
use moclojer_ports::{EventQueue, HOSTS_PREFIX, MANIFEST_KEY, Scope};

use crate::helpers::{World, item_hosts};

#[tokio::test]
async fn an_event_wakes_one_rebuild_and_is_acked() {
    let world = World::new();
    let queue = InMemoryEventQueue::default();
    queue.ensure_group(GROUP).await.unwrap();

    assert_eq!(
        try_execute_next(&world.deps, &queue, GROUP).await.unwrap(),
        StepOutcome::Empty
    );
    assert!(
        world.object(MANIFEST_KEY).await.is_none(),
        "no event, no rebuild"
    );

    let workspace = world.workspace().await;
    let mock = world.published_mock(&workspace, "woken").await;
    for _ in 0..3 {
        queue
            .publish(
                &world
                    .fx
                    .event(EventKind::PublicationChanged { mock_id: mock.id }),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        try_execute_next(&world.deps, &queue, GROUP).await.unwrap(),
        StepOutcome::Done
    );
    let view = world.published().await;
    assert_eq!(view.generation, 1, "one sync for the batch");
    assert_eq!(item_hosts(&view.items), [mock.host.as_str()]);
    assert_eq!(
        try_execute_next(&world.deps, &queue, GROUP).await.unwrap(),
        StepOutcome::Empty,
        "the batch was acked"
    );
}

#[tokio::test]
async fn replayed_and_reordered_events_are_harmless() {
    let world = World::new();
    let queue = InMemoryEventQueue::default();
    queue.ensure_group(GROUP).await.unwrap();
    let workspace = world.workspace().await;
    let kept = world.published_mock(&workspace, "kept").await;
    let removed = world.published_mock(&workspace, "removed").await;
    moclojer_generator::rebuild(&world.deps).await.unwrap();
    world
        .repos
        .mocks
        .delete(&Scope::System, removed.id, &[])
        .await
        .unwrap();
    moclojer_generator::rebuild(&world.deps).await.unwrap();
    let view = world.published().await;
    assert_eq!(view.generation, 2);

    // stale and out-of-order hints: a deleted mock "changed", a live one "deleted",
    // an old config.published, the same event twice
    let replayed = world
        .fx
        .event(EventKind::PublicationChanged { mock_id: kept.id });
    let stale: Vec<_> = vec![
        world.fx.event(EventKind::MockDeleted {
            mock_id: kept.id,
            host: Host::parse_any(kept.host.as_str()).unwrap(),
        }),
        world.fx.event(EventKind::MockChanged {
            mock_id: removed.id,
            revision: removed.revision,
        }),
        world.fx.event(EventKind::ConfigPublished {
            generation: 1,
            key: MANIFEST_KEY.to_owned(),
            checksum: "00".repeat(32),
        }),
        replayed.clone(),
        replayed,
    ];
    for event in &stale {
        queue.publish(event).await.unwrap();
    }
    let _ = world.store.take_writes();
    assert_eq!(
        try_execute_next(&world.deps, &queue, GROUP).await.unwrap(),
        StepOutcome::Done
    );
    assert_eq!(world.published().await, view);
    assert_eq!(
        world.store.take_writes().0,
        [],
        "nothing written or deleted"
    );
    assert_eq!(item_hosts(&view.items), [kept.host.as_str()]);
}

#[tokio::test]
async fn a_missing_group_is_created() {
    let world = World::new();
    let queue = InMemoryEventQueue::default();
    assert_eq!(
        try_execute_next(&world.deps, &queue, "fresh")
            .await
            .unwrap(),
        StepOutcome::Empty
    );
    queue
        .publish(&world.fx.event(EventKind::DomainRemoved {
            host: Host::parse_any("x-y.test.localhost").unwrap(),
        }))
        .await
        .unwrap();
    assert_eq!(
        try_execute_next(&world.deps, &queue, "fresh")
            .await
            .unwrap(),
        StepOutcome::Done
    );
    // an event that names no mock still gets the store read and published once
    let view = world.published().await;
    assert_eq!((view.generation, view.hosts.len()), (1, 0));
}

#[tokio::test]
async fn run_rebuilds_at_start_and_on_events() {
    // the default grace: nothing a reader polling meanwhile names is deleted under it
    let world = World::with_grace(GRACE);
    let queue = InMemoryEventQueue::default();
    let workspace = world.workspace().await;
    let first = world.published_mock(&workspace, "first").await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        stop_rx.await.ok();
    };
    let check = async {
        wait_for_hosts(&world, 1).await;
        assert_eq!(
            item_hosts(&world.published().await.items),
            [first.host.as_str()]
        );
        let second = world.published_mock(&workspace, "second").await;
        queue
            .publish(
                &world
                    .fx
                    .event(EventKind::PublicationChanged { mock_id: second.id }),
            )
            .await
            .unwrap();
        wait_for_hosts(&world, 2).await;
        stop_tx.send(()).ok();
    };
    // an hour between timed rebuilds: only the start and the event can do it
    let (ran, ()) = tokio::join!(
        run(&world.deps, &queue, Duration::from_secs(3600), stop),
        check
    );
    ran.unwrap();
    assert_eq!(world.published().await.generation, 2);
}

#[tokio::test]
async fn run_rebuilds_on_its_timer_when_events_are_lost() {
    let world = World::with_grace(GRACE);
    let queue = InMemoryEventQueue::default();
    let workspace = world.workspace().await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        stop_rx.await.ok();
    };
    let check = async {
        wait_for_hosts(&world, 0).await;
        // no event is ever published
        world.published_mock(&workspace, "quiet").await;
        wait_for_hosts(&world, 1).await;
        stop_tx.send(()).ok();
    };
    let (ran, ()) = tokio::join!(
        run(&world.deps, &queue, Duration::from_millis(100), stop),
        check
    );
    ran.unwrap();
    assert_eq!(world.store.keys(HOSTS_PREFIX).await.len(), 1);
}

async fn wait_for_hosts(world: &World, n: usize) {
    for _ in 0..100 {
        if world
            .try_published()
            .await
            .is_some_and(|view| view.hosts.len() == n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the index never got {n} hosts");
}
