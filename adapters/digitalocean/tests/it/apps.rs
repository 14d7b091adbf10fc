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
