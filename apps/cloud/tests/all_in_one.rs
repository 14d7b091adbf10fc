//! The all-in-one running: a mock published in its database answers on its host, through
//! the relay, the generator and the mock server, within a second or two.

use std::time::{Duration, Instant};

use moclojer_cloud::{App, Config};
use moclojer_domain::SpecSource;
use moclojer_ports::Scope;
use moclojer_testkit::{Fixture, Repos};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(address: std::net::SocketAddr, host: &str, path: &str) -> String {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_published_mock_answers_on_its_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        mocks_addr: "127.0.0.1:0".parse().expect("addr"),
        poll: Duration::from_millis(100),
        ..Config::new(dir.path())
    };
    let app = App::build(config).await.expect("build");
    let address = app.mocks_addr();
    let repos = Repos::from_database(app.database().clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        stopped.await.ok();
    }));

    let fx = Fixture::new();
    let (user, personal) = fx.signed_up(&repos).await;
    let scope = Scope::User(user.id);
    let mut mock = fx.mock(&personal, "hello");
    mock.content = SpecSource::new(
        "- endpoint:\n    path: /hello\n    response:\n      body: '{\"hello\": \"all-in-one\"}'\n",
    )
    .expect("spec");
    mock.enabled = true;
    repos
        .mocks
        .create(&scope, &mock, &[])
        .await
        .expect("create");
    let mut publication = repos
        .publications
        .get(&scope, mock.id)
        .await
        .expect("publication");
    publication
        .request_publish(mock.revision, fx.now)
        .expect("request");
    let changed = fx.event(moclojer_domain::EventKind::PublicationChanged { mock_id: mock.id });
    repos
        .publications
        .save(&scope, &publication, &[changed])
        .await
        .expect("save");

    let published_at = Instant::now();
    let host = mock.host.as_str().to_owned();
    let mut answer = String::new();
    while published_at.elapsed() < Duration::from_secs(10) {
        answer = get(address, &host, "/hello").await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("all-in-one"),
        "the mock answers: {answer}"
    );
    assert!(
        published_at.elapsed() < Duration::from_secs(5),
        "live in {:?}",
        published_at.elapsed()
    );
    let other = get(address, "nobody-here.localhost", "/hello").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    stop.send(()).ok();
    running.await.expect("task").expect("run");
}
