//! The all-in-one on its embedded defaults, driven through its api like a user would:
//! every change shows on the mock's host within a second; a restart keeps everything.

mod support;

use std::time::Duration;

use moclojer_cloud::{App, Config};
use moclojer_wiring::{App as _, Resolver};
use serde_json::json;
use support::{Client, LIVE_WITHIN, ONCE_PER_CLIENT, get, get_from, hello, publish_path, until};

fn config(dir: &std::path::Path) -> Config {
    Config {
        api_addr: "127.0.0.1:0".parse().expect("addr"),
        mocks_addr: "127.0.0.1:0".parse().expect("addr"),
        poll: Duration::from_millis(100),
        ..Config::new(dir)
    }
}

struct Running {
    api: std::net::SocketAddr,
    mocks: std::net::SocketAddr,
    resolver: Resolver,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(config: Config) -> Running {
    let resolver = Resolver::default();
    let app = App::build(config, &resolver).await.expect("build");
    let (api, mocks) = (app.api_addr(), app.mocks_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        stopped.await.ok();
    }));
    Running {
        api,
        mocks,
        resolver,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).ok();
        self.task.await.expect("task").expect("run");
        self.resolver.close().await;
    }
}

#[tokio::test]
async fn sign_up_create_publish_edit_unpublish_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(config(dir.path())).await;
    publish_path(running.api, running.mocks, "alice").await;
    assert_eq!(
        get(running.mocks, "nobody-here.localhost", "/hello")
            .await
            .0,
        404
    );
    running.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_accounts_mocks_and_publications() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start(config(dir.path())).await;
    let mut alice = Client::new(first.api);
    alice.sign_up("alice").await;
    let (status, mock) = alice
        .post(
            "/mocks",
            json!({"workspace": "alice", "name": "kept", "content": hello("kept")}),
        )
        .await;
    assert_eq!(status, 201);
    let id = mock["id"].as_str().expect("id").to_owned();
    let host = mock["host"].as_str().expect("host").to_owned();
    assert_eq!(
        alice
            .post(&format!("/mocks/{id}/publish"), json!({}))
            .await
            .0,
        200
    );
    until(
        first.mocks,
        &host,
        "/hello",
        LIVE_WITHIN,
        "publish",
        |s, _| s == 200,
    )
    .await;
    // ops verifies the host through the proxy: its DNS side becomes published.
    let started = std::time::Instant::now();
    loop {
        let (_, publication) = alice
            .send(
                reqwest::Method::GET,
                &format!("/mocks/{id}/publication"),
                None,
            )
            .await;
        if publication["dns"]["status"] == "published" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "dns not published: {publication}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, org) = alice.post("/orgs", json!({"handle": "acme"})).await;
    assert_eq!(status, 201, "{org}");
    let (_, personal_token) = alice.post("/tokens", json!({"name": "ci"})).await;
    first.stop().await;

    let second = start(config(dir.path())).await;
    until(
        second.mocks,
        &host,
        "/hello",
        Duration::from_secs(5),
        "served again after the restart, without a new publish",
        |s, b| s == 200 && b.contains("kept"),
    )
    .await;
    // The old session token, the personal token and the password all still work.
    let mut again = Client::new(second.api);
    again.token = alice.token.clone();
    let (status, me) = again.send(reqwest::Method::GET, "/me", None).await;
    assert_eq!((status, &me["handle"]), (200, &json!("alice")));
    again.token = personal_token["token"].as_str().map(str::to_owned);
    assert_eq!(again.send(reqwest::Method::GET, "/me", None).await.0, 200);
    again.log_in("alice").await;
    let (_, list) = again.send(reqwest::Method::GET, "/mocks", None).await;
    let handles: Vec<&str> = list["workspaces"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["workspace"]["handle"].as_str().expect("handle"))
        .collect();
    assert_eq!(handles, ["alice", "acme"]);
    assert_eq!(
        list["workspaces"][0]["mocks"][0]["publication"]["server"]["status"],
        "published"
    );
    second.stop().await;
}

#[tokio::test]
async fn a_mocks_rate_limit_counts_each_client_behind_the_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(config(dir.path())).await;
    let mut alice = Client::new(running.api);
    alice.sign_up("alice").await;
    let (status, mock) = alice
        .post(
            "/mocks",
            json!({"workspace": "alice", "name": "limited", "content": ONCE_PER_CLIENT}),
        )
        .await;
    assert_eq!(status, 201, "{mock}");
    let id = mock["id"].as_str().expect("id");
    let host = mock["host"].as_str().expect("host").to_owned();
    let (status, _) = alice.post(&format!("/mocks/{id}/publish"), json!({})).await;
    assert_eq!(status, 200);
    // The first answer from 127.0.0.1 spends that client's one request.
    until(
        running.mocks,
        &host,
        "/once",
        LIVE_WITHIN,
        "publish",
        |s, _| s == 200,
    )
    .await;
    assert_eq!(get(running.mocks, &host, "/once").await.0, 429);

    // Every connection reaches the mock server from the proxy, yet each client has a
    // count of its own.
    let from = |client| get_from(client, running.mocks, &host, "/once");
    assert_eq!(from("127.0.0.2").await.0, 200);
    assert_eq!(from("127.0.0.2").await.0, 429);
    assert_eq!(from("127.0.0.3").await.0, 200);
    running.stop().await;
}

#[tokio::test]
async fn requests_to_a_mock_are_listed_by_the_api_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(config(dir.path())).await;
    support::journal_path(running.api, running.mocks, &[], "alice").await;
    running.stop().await;
}

#[tokio::test]
async fn stateful_mocks_share_one_state_with_the_api_which_shows_and_resets_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(config(dir.path())).await;
    support::state_path(running.api, running.mocks, &[], "alice").await;
    running.stop().await;
}
