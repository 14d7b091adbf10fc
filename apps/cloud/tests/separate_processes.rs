//! The publish path with every service in its own process, on PostgreSQL, Redis and S3:
//! `moclojer-api`, `moclojer-generator`, `moclojer --store`, `moclojer-proxy` in front of
//! it and `moclojer-ops`, talking only through the database, the event stream, the bucket
//! and HTTP. The same user path as the all-in-one's test,
//! with the same one-second bound on every change.
//!
//! Needs `MOCLOJER_TEST_DATABASE_URL`, `MOCLOJER_TEST_REDIS_URL` and
//! `MOCLOJER_TEST_S3_URL` (see `moclojer_testkit::services`); skipped without them, except
//! under `CI=true`, where it fails.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use moclojer_ports::{ObjectKey, ObjectStore};
use moclojer_s3::{S3Config, S3ObjectStore};
use moclojer_testkit::services::{
    S3_TEST_CREDENTIALS, TestDb, TestStream, all_servers, unique_bucket,
};

const REGION: &str = "us-east-1";

/// A child process killed when the test ends, however it ends.
struct Process {
    name: &'static str,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Process {
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}", self.name);
        }
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Where this run's services write their logs: a file per process, read at the end for
/// secrets that must never appear in them.
fn logs_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("moclojer-e2e-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the logs folder");
        dir
    })
}

/// Every line the services logged so far.
fn logged() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(logs_dir())
        .expect("the logs folder")
        .flatten()
    {
        all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    all
}

fn spawn(name: &'static str, path: PathBuf, args: &[String], env: &[(&str, &str)]) -> Process {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(logs_dir().join(format!("{name}.log")))
        .expect("a log file");
    let mut command = Command::new(path);
    command
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (key, value) in env {
        command.env(key, value);
    }
    Process {
        name,
        child: command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    }
}

async fn wait_until(what: &str, limit: Duration, mut ready: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !ready().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn publish_path_across_processes_on_postgres_redis_and_s3() {
    let Some((database, redis, s3)) = all_servers() else {
        return;
    };
    let db = TestDb::create(&database).await;
    let stream = TestStream::new(&redis, "cloud");
    let bucket = unique_bucket("cloud");
    let store_url = format!("s3://{bucket}/cloud?endpoint={s3}&region={REGION}&create_bucket=true");
    let (access, secret) = S3_TEST_CREDENTIALS;
    let s3_env = [
        ("MOCLOJER_S3_ACCESS_KEY", access),
        ("MOCLOJER_S3_SECRET_KEY", secret),
    ];
    let api_addr = free_port();
    let mocks_addr = free_port();
    let foss_addr = free_port();
    let second_foss_addr = free_port();

    let mut api = spawn(
        "moclojer-api",
        support::binary("moclojer-api", "moclojer-api"),
        &[
            format!("--addr={api_addr}"),
            format!("--database-url={}", db.url()),
            format!("--redis-url={redis}"),
            format!("--redis-stream={}", stream.name()),
        ],
        &[],
    );
    let mut generator = spawn(
        "moclojer-generator",
        support::binary("moclojer-generator", "moclojer-generator"),
        &[
            format!("--database-url={}", db.url()),
            format!("--store={store_url}"),
            format!("--redis-url={redis}"),
            format!("--redis-stream={}", stream.name()),
            // a minute between timed rebuilds: only the events can explain a quick change
            "--interval=60".to_owned(),
        ],
        &s3_env,
    );

    // The generator's first rebuild makes the bucket and an empty generation.
    let mut config = S3Config::new(&s3, bucket.clone(), access, secret);
    config.region = REGION.to_owned();
    config.create_bucket = true;
    config.prefix = Some("cloud".to_owned());
    let view = S3ObjectStore::connect(&config).await.expect("the bucket");
    let manifest = ObjectKey::parse("manifest.json").expect("key");
    wait_until(
        "the generator's first generation",
        Duration::from_secs(60),
        async || {
            generator.assert_running();
            view.head(&manifest).await.is_ok()
        },
    )
    .await;

    let mut foss = spawn(
        "moclojer",
        support::binary("moclojer-foss", "moclojer"),
        &[
            format!("--store={store_url}"),
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", foss_addr.port()),
            "--poll-ms=1000".to_owned(),
            format!("--redis-url={redis}"),
            format!("--redis-stream={}", stream.name()),
            // The proxy's X-Real-IP names the client.
            "--trusted-proxies=127.0.0.1".to_owned(),
        ],
        &s3_env,
    ); // A second replica, not behind the proxy: its records join the first's in one list.
    let mut second_foss = spawn(
        "moclojer",
        support::binary("moclojer-foss", "moclojer"),
        &[
            format!("--store={store_url}"),
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", second_foss_addr.port()),
            "--poll-ms=1000".to_owned(),
            format!("--redis-url={redis}"),
            format!("--redis-stream={}", stream.name()),
            // The proxy's X-Real-IP names the client.
            "--trusted-proxies=127.0.0.1".to_owned(),
        ],
        &s3_env,
    );
    // The proxy in front of the mock server, and ops verifying hosts through it (mode
    // local: `*.localhost` needs no records).
    let mut proxy = spawn(
        "moclojer-proxy",
        support::binary("moclojer-proxy", "moclojer-proxy"),
        &[
            format!("--addr={mocks_addr}"),
            format!("--upstream={foss_addr}"),
            "--health-check-ms=200".to_owned(),
            // A load balancer in front would connect from 127.0.0.4.
            "--trusted-fronts=127.0.0.4".to_owned(),
        ],
        &[],
    );
    let mut ops = spawn(
        "moclojer-ops",
        support::binary("moclojer-ops", "moclojer-ops"),
        &[
            format!("--database-url={}", db.url()),
            format!("--redis-url={redis}"),
            format!("--redis-stream={}", stream.name()),
            "--zone=localhost".to_owned(),
            "--mode=local".to_owned(),
            "--target=localhost".to_owned(),
            format!("--probe=http://:{}", mocks_addr.port()),
            "--instance=e2e".to_owned(),
        ],
        &[],
    );
    let client = reqwest::Client::new();
    wait_until("the api's readiness", Duration::from_secs(60), async || {
        api.assert_running();
        client
            .get(format!("http://{api_addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    wait_until("the mock server", Duration::from_secs(60), async || {
        foss.assert_running();
        proxy.assert_running();
        // straight to the mock server, then through the proxy to it
        support::get(foss_addr, "ready-check.localhost", "/")
            .await
            .0
            == 404
            && support::get(mocks_addr, "ready-check.localhost", "/")
                .await
                .0
                == 404
    })
    .await;

    // The mock server polls once a second: an answer within the second comes from the
    // config.published event, not from luck.
    support::publish_path(api_addr, mocks_addr, "alice").await;

    // Both replicas record into the one Redis journal the api lists.
    wait_until("the second replica", Duration::from_secs(60), async || {
        second_foss.assert_running();
        support::get(second_foss_addr, "ready-check.localhost", "/")
            .await
            .0
            == 404
    })
    .await;
    support::journal_path(
        api_addr,
        mocks_addr,
        &[foss_addr, second_foss_addr],
        "carol",
    )
    .await;

    // Both replicas keep one state on Redis, which the api shows and resets.
    support::state_path(api_addr, mocks_addr, &[foss_addr, second_foss_addr], "dave").await;

    // ops hears domain.requested through Redis and verifies the host through the proxy.
    let mut bob = support::Client::new(api_addr);
    bob.sign_up("bob").await;
    let (status, mock) = bob
        .post(
            "/mocks",
            serde_json::json!({"workspace": "bob", "name": "dns"}),
        )
        .await;
    assert_eq!(status, 201, "{mock}");
    let id = mock["id"].as_str().expect("id").to_owned();
    let (status, _) = bob
        .post(&format!("/mocks/{id}/publish"), serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    wait_until(
        "the dns side published by ops",
        Duration::from_secs(10),
        async || {
            ops.assert_running();
            let (_, publication) = bob
                .send(
                    reqwest::Method::GET,
                    &format!("/mocks/{id}/publication"),
                    None,
                )
                .await;
            publication["dns"]["status"] == "published"
        },
    )
    .await;

    rate_limits_count_each_client(&bob, mocks_addr).await;

    api.assert_running();
    generator.assert_running();
    foss.assert_running();
    second_foss.assert_running();
    proxy.assert_running();
    ops.assert_running();

    no_secret_was_logged(&bob.token.clone().expect("bob's token"), secret);
}

/// A mock's per-client rate limit counts each client through the proxy at `mocks`: those
/// that connect themselves, and those a trusted balancer names.
async fn rate_limits_count_each_client(bob: &support::Client, mocks_addr: SocketAddr) {
    let (status, mock) = bob
        .post(
            "/mocks",
            serde_json::json!({"workspace": "bob", "name": "once", "content": support::ONCE_PER_CLIENT}),
        )
        .await;
    assert_eq!(status, 201, "{mock}");
    let id = mock["id"].as_str().expect("id").to_owned();
    let host = mock["host"].as_str().expect("host").to_owned();
    let (status, _) = bob
        .post(&format!("/mocks/{id}/publish"), serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    support::until(
        mocks_addr,
        &host,
        "/once",
        Duration::from_secs(10),
        "live",
        |s, _| s == 200,
    )
    .await;
    let ask = |from, headers| support::get_with(from, mocks_addr, &host, "/once", headers);
    assert_eq!(ask("127.0.0.1", "").await.0, 429);
    assert_eq!(ask("127.0.0.2", "").await.0, 200);
    assert_eq!(ask("127.0.0.2", "X-Real-IP: 198.51.100.9\r\n").await.0, 429);
    let behind = "X-Forwarded-For: 198.51.100.7\r\n";
    assert_eq!(ask("127.0.0.4", behind).await.0, 200);
    assert_eq!(ask("127.0.0.4", behind).await.0, 429);
    assert_eq!(
        ask("127.0.0.4", "X-Forwarded-For: 198.51.100.8\r\n")
            .await
            .0,
        200
    );
}

/// Nothing secret reached a log line: the password every user signed up with, a session
/// `token`, the S3 secret key `s3_secret`, and the bearer token a client sent to a mock.
fn no_secret_was_logged(token: &str, s3_secret: &str) {
    let written = logged();
    assert!(
        written.lines().count() > 10,
        "the services logged at info: {written}"
    );
    for (what, secret) in [
        ("a password", "correct horse battery"),
        ("a session token", token),
        ("the S3 secret key", s3_secret),
        ("a token sent to a mock", support::MOCK_CALL_SECRET),
    ] {
        assert!(
            !written.contains(secret),
            "{what} is in the logs in {}",
            logs_dir().display()
        );
    }
    std::fs::remove_dir_all(logs_dir()).ok();
}
