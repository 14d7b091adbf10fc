//! `DigitalOceanApps` over the fake: the contract, the spec kept whole, wildcards, errors.

use std::sync::Arc;
use std::time::Instant;

use moclojer_digitalocean::DigitalOceanApps;
use moclojer_ports::{PaasProvider, PortErrorKind};
use moclojer_testkit::contracts::paas_provider_contract;
use moclojer_testkit::expect_kind;
use moclojer_testkit::fakes::digitalocean::FakeDigitalOcean;
use serde_json::{Value, json};

use crate::support::{APP_ID, apps, config, fake, http};

/// The spec without its `domains`.
fn without_domains(spec: &Value) -> Value {
    let mut spec = spec.clone();
    spec.as_object_mut().expect("object").remove("domains");
    spec
}

#[tokio::test]
async fn the_paas_contract_holds_and_leaves_the_spec_as_it_was() {
    let fake = fake().await;
    paas_provider_contract(Arc::new(apps(&fake))).await;
    assert_eq!(
        fake.app_spec(),
        FakeDigitalOcean::initial_spec(),
        "after adding and removing, the spec is exactly as before"
    );
}

#[tokio::test]
async fn only_the_domains_change() {
    let fake = fake().await;
    let mut spec = FakeDigitalOcean::initial_spec();
    spec["an_unknown_field"] = json!({"keep": ["me", 1, {"x": null}], "order": "kept"});
    fake.set_app_spec(spec.clone());
    let apps = apps(&fake);

    apps.add_domain("hello-alice.moclojer.com")
        .await
        .expect("add");
    let after = fake.app_spec();
    assert_eq!(
        without_domains(&after),
        without_domains(&spec),
        "the rest is untouched"
    );
    let keys = |v: &Value| {
        v.as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&after), keys(&spec), "field order is kept too");
    assert_eq!(
        after["domains"],
        json!([
            {"domain": "moclojer.com", "type": "PRIMARY", "zone": "moclojer.com"},
            {"domain": "hello-alice.moclojer.com", "type": "ALIAS"}
        ])
    );
    assert_eq!(
        apps.list_domains().await.expect("list"),
        ["hello-alice.moclojer.com", "moclojer.com"]
    );

    apps.remove_domain("hello-alice.moclojer.com")
        .await
        .expect("remove");
    assert_eq!(fake.app_spec(), spec, "back to the spec we started with");
}

#[tokio::test]
async fn a_wildcard_is_added_and_removed() {
    let fake = fake().await;
    let apps = apps(&fake);
    apps.add_domain("*.mocks.moclojer.com").await.expect("add");
    let domains = fake.app_spec()["domains"].clone();
    assert_eq!(
        domains[1],
        json!({"domain": "mocks.moclojer.com", "type": "ALIAS", "wildcard": true}),
        "a wildcard is the plain name with `wildcard`, as the app spec documents it"
    );
    assert!(
        apps.list_domains()
            .await
            .expect("list")
            .contains(&"*.mocks.moclojer.com".to_owned())
    );
    let writes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT"))
        .count();
    apps.add_domain("*.mocks.moclojer.com")
        .await
        .expect("again");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.starts_with("PUT"))
            .count(),
        writes,
        "adding a present domain writes nothing"
    );
    apps.remove_domain("*.mocks.moclojer.com")
        .await
        .expect("remove");
    assert_eq!(fake.app_spec(), FakeDigitalOcean::initial_spec());
    apps.remove_domain("*.mocks.moclojer.com")
        .await
        .expect("absent: fine");
}

#[tokio::test]
async fn a_wildcard_over_a_name_the_app_has_widens_that_entry_and_narrows_it_back() {
    let fake = fake().await;
    let apps = apps(&fake);
    // The app's primary domain is moclojer.com: the spec holds a name once.
    apps.add_domain("*.moclojer.com").await.expect("add");
    let domains = fake.app_spec()["domains"].clone();
    assert_eq!(
        domains,
        json!([{"domain": "moclojer.com", "type": "PRIMARY", "zone": "moclojer.com", "wildcard": true}])
    );
    let listed = apps.list_domains().await.expect("list");
    assert!(listed.contains(&"*.moclojer.com".to_owned()), "{listed:?}");
    assert!(listed.contains(&"moclojer.com".to_owned()), "{listed:?}");
    apps.remove_domain("*.moclojer.com").await.expect("remove");
    assert_eq!(
        fake.app_spec(),
        FakeDigitalOcean::initial_spec(),
        "the primary entry stays, as it was"
    );
}

#[tokio::test]
async fn an_app_without_domains_gets_some() {
    let fake = fake().await;
    let mut spec = FakeDigitalOcean::initial_spec();
    spec.as_object_mut().expect("object").remove("domains");
    fake.set_app_spec(spec.clone());
    let apps = apps(&fake);
    assert!(apps.list_domains().await.expect("list").is_empty());
    apps.remove_domain("a.moclojer.com")
        .await
        .expect("nothing to remove");
    assert_eq!(fake.app_spec(), spec, "no write for nothing");
    apps.add_domain("a.moclojer.com").await.expect("add");
    assert_eq!(apps.list_domains().await.expect("list"), ["a.moclojer.com"]);
}

#[tokio::test]
async fn retries_and_errors() {
    let fake = fake().await;
    let apps = apps(&fake);
    fake.fail_next_with(429, Some(1));
    fake.fail_next_with(500, None);
    let started = Instant::now();
    apps.add_domain("r.moclojer.com")
        .await
        .expect("after a 429 and a 500");
    assert!(started.elapsed().as_secs() >= 1);

    let wrong =
        DigitalOceanApps::new(http(), &config(&fake, "dop_v1_wrong"), APP_ID).expect("apps");
    expect_kind(
        wrong.add_domain("x.moclojer.com").await,
        PortErrorKind::Unauthenticated,
        "a bad token",
    );
    let missing =
        DigitalOceanApps::new(http(), &config(&fake, crate::support::TOKEN), "no-such-app")
            .expect("apps");
    expect_kind(
        missing.list_domains().await,
        PortErrorKind::NotFound,
        "an unknown app",
    );
    assert!(DigitalOceanApps::new(http(), &config(&fake, "t"), "bad/id").is_err());
    fake.fail_all_with(Some(503));
    expect_kind(
        apps.list_domains().await,
        PortErrorKind::Unavailable,
        "a server that keeps failing",
    );
}

fn puts(fake: &FakeDigitalOcean) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.starts_with("PUT /v2/apps/"))
        .count()
}

fn spec_domains(spec: &Value) -> Vec<String> {
    spec["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .map(|d| d["domain"].as_str().expect("domain").to_owned())
        .collect()
}

/// 32 changes to one app at once, each through its own adapter value, while every write
/// lands late: without the per-app lock they read the same spec and all but a few
/// changes are lost.
#[tokio::test]
async fn concurrent_changes_to_one_app_all_land_one_at_a_time() {
    let fake = fake().await;
    fake.delay_app_puts(std::time::Duration::from_millis(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let apps = apps(&fake);
        tasks.spawn(async move { apps.add_domain(&format!("m{i}.moclojer.com")).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("add");
    }
    let domains = spec_domains(&fake.app_spec());
    assert_eq!(domains.len(), 33, "the primary and all 32: {domains:?}");
    assert_eq!(
        fake.most_app_puts_in_flight(),
        1,
        "one write at a time to one app"
    );
    assert_eq!(puts(&fake), 32, "no write had to be made again");
    let mut rest = fake.app_spec();
    rest["domains"] = FakeDigitalOcean::initial_spec()["domains"].clone();
    assert_eq!(
        rest,
        FakeDigitalOcean::initial_spec(),
        "nothing else changed"
    );
}

/// A writer elsewhere that wrote back the spec it read before our write: the next read
/// shows our change gone, and the change is made again, keeping the other writer's.
#[tokio::test]
async fn a_change_undone_by_a_writer_elsewhere_is_made_again() {
    let fake = fake().await;
    let apps = apps(&fake);
    let undone = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&undone);
    fake.on_app_put(move |_, before, stored| {
        if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            // Their spec: read before our write, written back after it, with their change.
            *stored = before.clone();
            let domains = stored["domains"].as_array_mut().expect("domains");
            let theirs = json!({"domain": "elsewhere.example.com", "type": "ALIAS"});
            if !domains.contains(&theirs) {
                domains.push(theirs);
            }
        }
    });
    apps.add_domain("raced.moclojer.com")
        .await
        .expect("made again");
    assert_eq!(undone.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(puts(&fake), 3, "two writes undone, the third kept");
    assert_eq!(
        spec_domains(&fake.app_spec()),
        [
            "moclojer.com",
            "elsewhere.example.com",
            "raced.moclojer.com"
        ],
        "the other writer's change is kept too"
    );

    // A removal undone is made again as well.
    fake.on_app_put(|_, before, stored| *stored = before.clone());
    let writes = puts(&fake);
    let error = apps
        .remove_domain("raced.moclojer.com")
        .await
        .expect_err("undone at every attempt");
    assert_eq!(error.kind(), PortErrorKind::Conflict);
    assert!(
        error.message().contains("raced.moclojer.com")
            && error.message().contains("another writer"),
        "{}",
        error.message()
    );
    assert_eq!(
        puts(&fake) - writes,
        4,
        "as many attempts as the retry policy"
    );
    fake.clear_app_put_hook();
    apps.remove_domain("raced.moclojer.com")
        .await
        .expect("once the other writer stops");
    assert_eq!(
        spec_domains(&fake.app_spec()),
        ["moclojer.com", "elsewhere.example.com"]
    );
}

/// Two apps' writes are held until both are in flight: with one lock for every app the
/// second could not start before the first ends.
#[tokio::test]
async fn changes_to_two_apps_run_in_parallel() {
    const OTHER_APP: &str = "0b1d2c3e-4f50-4617-8293-a4b5c6d7e8f9";
    let fake = fake().await;
    fake.add_app(OTHER_APP);
    fake.hold_app_puts(2);
    let first = apps(&fake);
    let second = DigitalOceanApps::new(http(), &config(&fake, crate::support::TOKEN), OTHER_APP)
        .expect("apps");
    let (a, b) = tokio::join!(
        first.add_domain("a.moclojer.com"),
        second.add_domain("b.moclojer.com")
    );
    a.expect("first app");
    b.expect("second app");
    assert_eq!(
        fake.most_app_puts_in_flight(),
        2,
        "the two apps' writes overlapped"
    );
    assert_eq!(
        spec_domains(&fake.app_spec()),
        ["moclojer.com", "a.moclojer.com"]
    );
    assert_eq!(
        spec_domains(&fake.app_spec_of(OTHER_APP)),
        ["moclojer.com", "b.moclojer.com"]
    );
}
