//! `export`: the unified config of every live mock, for a standalone server.

use moclojer_domain::spec;
use moclojer_generator::{export, rebuild};
use moclojer_ports::HOSTS_PREFIX;

use crate::helpers::{World, item_hosts, items};

#[tokio::test]
async fn export_serves_every_live_mock_at_its_host() {
    let world = World::new();
    let workspace = world.workspace().await;
    let plain = world.published_mock(&workspace, "plain").await;
    let socket = world
        .published_mock_with(
            &workspace,
            "socket",
            "- endpoint:\n    host: elsewhere.example.com\n    path: /a\n- websocket:\n    path: /ws\n",
        )
        .await;
    let mut steady = world.published_mock(&workspace, "steady").await;
    let unpublished = world.published_mock(&workspace, "unpublished").await;
    let mut disabled = world.published_mock(&workspace, "disabled").await;
    rebuild(&world.deps).await.unwrap();
    world.unpublish(unpublished.id).await;
    world.set_enabled(&mut disabled, false).await;
    // a draft that was never published, and an edit waiting to be checked
    world
        .fx
        .stored_mock(
            &world.repos,
            &moclojer_ports::Scope::System,
            &workspace,
            "draft",
        )
        .await;
    world
        .edit(&mut steady, "- endpoint:\n    path: /requested\n")
        .await;
    world.request_publish(steady.id, steady.revision).await;
    let _ = world.store.take_writes();

    let text = export(&world.deps).await.unwrap();
    assert!(
        world.store.take_writes().is_empty(),
        "an export writes nothing"
    );
    let exported = items(text.as_bytes());
    let mut live = vec![
        plain.host.as_str(),
        socket.host.as_str(),
        socket.host.as_str(),
        steady.host.as_str(),
    ];
    live.sort_unstable();
    assert_eq!(item_hosts(&exported), live, "every live item once, by host");
    assert!(!text.contains("elsewhere"), "{text}");
    assert!(text.contains("/steady"), "{text}");
    assert!(
        !text.contains("/requested"),
        "the live revision, not the one waiting: {text}"
    );
    assert!(text.ends_with("\n]\n"), "one item per line: {text}");
    assert_eq!(text.lines().count(), exported.len() + 2, "{text}");

    // once the waiting edit is settled: the items the published hosts' objects hold
    rebuild(&world.deps).await.unwrap();
    let view = world.published().await;
    assert_eq!(world.store.keys(HOSTS_PREFIX).await.len(), 3);
    let settled = export(&world.deps).await.unwrap();
    assert!(settled.contains("/requested"), "{settled}");
    assert_eq!(items(settled.as_bytes()), view.items);

    // what a standalone server does with a .yml config: reads it whole, then checks it
    let parsed = spec::parse_yaml(&text, &spec::Limits::default()).expect("a spec");
    assert_eq!(parsed.endpoints.len(), 3);
    assert_eq!(parsed.websockets.len(), 1);
    assert!(
        parsed
            .endpoints
            .iter()
            .all(|e| e.host.as_deref().is_some_and(|h| live.contains(&h))),
        "{parsed:?}"
    );
    assert_eq!(
        parsed.websockets[0].host.as_deref(),
        Some(socket.host.as_str())
    );
    let report = spec::check_by_item(&text, spec::Mode::Cloud, &spec::Limits::default())
        .expect("every item reads");
    assert!(
        report.diagnostics.iter().all(|d| !d.is_error()),
        "{report:?}"
    );
}

#[tokio::test]
async fn export_of_nothing_live_is_an_empty_list() {
    let world = World::new();
    let workspace = world.workspace().await;
    world.published_mock(&workspace, "pending").await;
    assert_eq!(export(&world.deps).await.unwrap(), "[]\n");
}
