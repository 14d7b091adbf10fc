//! `RedisEventQueue` against a real Redis: the shared `EventQueue` contract, redelivery to
//! another consumer, dead letters, trimming, and failures (Redis unreachable, Redis
//! restarted).
//!
//! The server comes from `MOCLOJER_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`). When it
//! is unset, each test prints one line to stderr and passes, except under `CI=true`, where
//! it fails naming the variable. The restart test starts a `redis-server` of its own on a
//! free port. Every test works on a stream of its own and deletes it afterwards.

mod common;

use common::{raw, raw_client};
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::ClientLike;
use fred::types::Value;
use moclojer_domain::{Event, EventKind};
use moclojer_ports::{EventQueue, IdGenerator, PortErrorKind, QueueSettings, RandomIds};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_testkit::Fixture;
use moclojer_testkit::contracts::{CONTRACT_QUEUE_SETTINGS, event_queue_contract};
use moclojer_testkit::services::{TestStream, redis_url, under_ci};
use tokio::time::Instant;

#[allow(clippy::print_stderr)]
fn skip(test: &str, why: &str) {
    eprintln!("skipping {test}: {why}");
}

fn config(url: &str, stream: &str, settings: QueueSettings) -> RedisConfig {
    RedisConfig {
        stream: stream.to_owned(),
        settings,
        ..RedisConfig::new(url)
    }
}

fn event() -> Event {
    Fixture::new().event(EventKind::PublicationChanged {
        mock_id: RandomIds.mock_id(),
    })
}

fn v(text: &str) -> Value {
    Value::from(text)
}

/// Runs `test` with a stream of its own, a [`TestStream`]: deleted afterwards with its
/// dead-letter streams, even when the test panics.
async fn with_stream<F, Fut>(url: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let stream = TestStream::new(url, "redis");
    test(stream.name().to_owned()).await;
}

#[tokio::test]
async fn keeps_the_event_queue_contract() {
    let Some(url) = redis_url() else {
        return;
    };
    let started = Instant::now();
    with_stream(&url.clone(), |stream| async move {
        let queue = RedisEventQueue::connect(&config(&url, &stream, CONTRACT_QUEUE_SETTINGS))
            .await
            .expect("connect");
        event_queue_contract(Arc::new(queue)).await;
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_message_whose_consumer_died_goes_to_another_consumer() {
    let Some(url) = redis_url() else {
        return;
    };
    with_stream(&url.clone(), |stream| async move {
        let settings = QueueSettings {
            redeliver_after: Duration::from_millis(400),
            max_deliveries: 5,
        };
        let queue = RedisEventQueue::connect(&config(&url, &stream, settings))
            .await
            .expect("connect");
        queue.ensure_group("workers").await.expect("group");
        let sent = event();
        let id = queue.publish(&sent).await.expect("publish");

        // The first consumer takes it and dies without acking.
        let first = queue
            .receive("workers", "doomed", 10, Duration::from_secs(2))
            .await
            .expect("receive");
        assert_eq!(first.len(), 1);
        assert_eq!(
            (&first[0].id, &first[0].event, first[0].attempt),
            (&id, &sent, 1)
        );
        drop(first);

        // Not before its time...
        let early = queue
            .receive("workers", "survivor", 10, Duration::ZERO)
            .await
            .expect("receive");
        assert!(early.is_empty(), "redelivered too early: {early:?}");

        // ...but within the wait, to another consumer, as attempt 2.
        let started = Instant::now();
        let again = queue
            .receive("workers", "survivor", 10, Duration::from_secs(5))
            .await
            .expect("receive");
        let waited = started.elapsed();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(
            (&again[0].id, &again[0].event, again[0].attempt),
            (&id, &sent, 2)
        );
        assert!(
            waited < Duration::from_secs(2),
            "the redelivery should come about redeliver_after into the wait, took {waited:?}"
        );
        queue
            .ack("workers", &[again[0].id.clone()])
            .await
            .expect("ack");
        let done = queue
            .receive("workers", "doomed", 10, Duration::from_millis(900))
            .await
            .expect("receive");
        assert!(done.is_empty(), "an acked message came back: {done:?}");
    })
    .await;
}

#[tokio::test]
async fn poison_messages_end_in_the_dead_letters_and_the_rest_flows() {
    let Some(url) = redis_url() else {
        return;
    };
    with_stream(&url.clone(), |stream| async move {
        let settings = QueueSettings {
            redeliver_after: Duration::from_millis(200),
            max_deliveries: 2,
        };
        let queue = RedisEventQueue::connect(&config(&url, &stream, settings))
            .await
            .expect("connect");
        queue.ensure_group("workers").await.expect("group");
        queue.ensure_group("others").await.expect("group");

        // An entry that is not an event at all, written behind the queue's back.
        let client = raw_client(&url).await;
        let garbage = raw(
            &client,
            "XADD",
            vec![v(&stream), v("*"), v("event"), v("{not json")],
        )
        .await
        .as_string()
        .expect("id");
        let poison = event();
        let poison_id = queue.publish(&poison).await.expect("publish");
        let good: Vec<Event> = (0..3).map(|_| event()).collect();
        for e in &good {
            queue.publish(e).await.expect("publish");
        }

        // Handle everything but the poison message, which is never acked.
        let mut poison_attempts = Vec::new();
        let mut handled = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let got = queue
                .receive("workers", "c1", 10, Duration::from_millis(500))
                .await
                .expect("receive");
            if got.is_empty() && poison_attempts.len() >= 2 && handled.len() == good.len() {
                break;
            }
            for d in got {
                assert_ne!(d.id.0, garbage, "a non-event was handed out");
                if d.event == poison {
                    poison_attempts.push(d.attempt);
                } else {
                    handled.push(d.event.clone());
                    queue.ack("workers", &[d.id]).await.expect("ack");
                }
            }
        }
        assert_eq!(poison_attempts, [1, 2], "delivered max_deliveries times");
        assert_eq!(handled, good, "the other messages flow, in order");

        let dead = queue.dead_letters("workers").await.expect("dead letters");
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(
            (&dead[0].id, &dead[0].event, dead[0].attempts),
            (&poison_id, &poison, 2)
        );
        // The non-event is in the dead-letter stream too (left out of `dead_letters`,
        // which has no event to show for it), and acknowledged.
        let raw_dead = raw(
            &client,
            "XRANGE",
            vec![v(&queue.dead_stream("workers")), v("-"), v("+")],
        )
        .await
        .into_array();
        assert_eq!(raw_dead.len(), 2, "{raw_dead:?}");
        let first = format!("{:?}", raw_dead[0]);
        assert!(
            first.contains("{not json") && first.contains(&garbage),
            "{first}"
        );
        let pending = raw(&client, "XPENDING", vec![v(&stream), v("workers")])
            .await
            .into_array();
        assert_eq!(
            pending[0].as_u64(),
            Some(0),
            "nothing left pending: {pending:?}"
        );

        // Later messages still flow; the other group is untouched.
        let later = event();
        queue.publish(&later).await.expect("publish");
        let got = queue
            .receive("workers", "c2", 10, Duration::from_secs(2))
            .await
            .expect("receive");
        assert_eq!(got.iter().map(|d| &d.event).collect::<Vec<_>>(), [&later]);
        assert!(queue.dead_letters("others").await.expect("dead").is_empty());
        client.quit().await.ok();
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_and_retryably() {
    let started = Instant::now();
    let queue = RedisEventQueue::connect(&RedisConfig::new("redis://127.0.0.1:1"))
        .await
        .expect("connect returns while redis is down");
    let connect_took = started.elapsed();
    assert!(
        connect_took < Duration::from_secs(3),
        "connect took {connect_took:?}"
    );

    let retryable = |what: &str, kind: PortErrorKind, took: Duration| {
        assert!(
            matches!(kind, PortErrorKind::Unavailable | PortErrorKind::Timeout),
            "{what}: {kind}"
        );
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
    };
    let t = Instant::now();
    let e = queue.publish(&event()).await.expect_err("publish");
    retryable("publish", e.kind(), t.elapsed());
    let t = Instant::now();
    let e = queue.ensure_group("g").await.expect_err("ensure_group");
    retryable("ensure_group", e.kind(), t.elapsed());
    let t = Instant::now();
    let e = queue
        .receive("g", "c", 1, Duration::from_secs(1))
        .await
        .expect_err("receive");
    retryable("receive", e.kind(), t.elapsed());
    let t = Instant::now();
    let e = queue.dead_letters("g").await.expect_err("dead letters");
    retryable("dead_letters", e.kind(), t.elapsed());

    let bad = RedisEventQueue::connect(&RedisConfig::new("not a url")).await;
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.kind()),
        Err(PortErrorKind::Invalid)
    );
}

/// A `redis-server` of the test's own, killed when dropped.
struct OwnServer {
    child: Option<Child>,
    port: u16,
}

impl OwnServer {
    /// Starts one on `port` and waits until it accepts connections.
    fn start(port: u16) -> std::io::Result<Self> {
        Self::start_with(port, &[])
    }

    /// Starts one on `port` with `extra` arguments and waits until it accepts connections.
    fn start_with(port: u16, extra: &[&str]) -> std::io::Result<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            child: Some(child),
            port,
        };
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` of the test's own on a free port; `None` (after one stderr line) when
/// the binary is missing.
///
/// # Panics
/// Under `CI=true` when the binary is missing.
fn own_server(test: &str) -> Option<OwnServer> {
    own_server_with(test, &[])
}

/// [`own_server`] with extra `redis-server` arguments.
fn own_server_with(test: &str, extra: &[&str]) -> Option<OwnServer> {
    if Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        assert!(
            !under_ci(),
            "redis-server is not installed: {test} needs it under CI=true"
        );
        skip(test, "redis-server is not installed");
        return None;
    }
    Some(OwnServer::start_with(free_port(), extra).expect("start redis-server"))
}

#[tokio::test]
async fn the_queue_comes_back_after_redis_restarts() {
    let Some(mut server) = own_server("the_queue_comes_back_after_redis_restarts") else {
        return;
    };
    let port = server.port;
    let url = format!("redis://127.0.0.1:{}", server.port);
    let settings = QueueSettings {
        redeliver_after: Duration::from_millis(500),
        max_deliveries: 3,
    };
    let queue = RedisEventQueue::connect(&config(&url, "moclojer:events", settings))
        .await
        .expect("connect");
    queue.ensure_group("workers").await.expect("group");
    queue.publish(&event()).await.expect("publish while up");

    server.kill();
    let t = Instant::now();
    let error = queue
        .publish(&event())
        .await
        .expect_err("publish while down");
    assert_eq!(error.kind(), PortErrorKind::Unavailable, "{error}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    let error = queue
        .receive("workers", "c1", 10, Duration::from_millis(200))
        .await
        .expect_err("receive while down");
    assert!(error.is_retryable(), "{error}");

    // Down for a while, so the client is deep in its reconnect backoff.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _server = OwnServer::start(port).expect("restart redis-server");
    let restarted = Instant::now();

    // The restarted server has no data (no persistence): the group is made again, as a
    // consumer does on NotFound.
    let sent = event();
    let mut published = None;
    let mut last_error = None;
    while restarted.elapsed() < Duration::from_secs(15) {
        match queue.ensure_group("workers").await {
            Ok(()) => match queue.publish(&sent).await {
                Ok(id) => {
                    published = Some(id);
                    break;
                }
                Err(e) => last_error = Some(e),
            },
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = published.unwrap_or_else(|| panic!("no publish after the restart: {last_error:?}"));
    let publish_after = restarted.elapsed();

    let mut received = Vec::new();
    while received.is_empty() && restarted.elapsed() < Duration::from_secs(20) {
        match queue
            .receive("workers", "c1", 10, Duration::from_secs(1))
            .await
        {
            Ok(got) => received = got,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("receive after the restart: {e}"),
        }
    }
    assert_eq!(
        received
            .iter()
            .map(|d| (&d.id, &d.event))
            .collect::<Vec<_>>(),
        [(&id, &sent)],
        "the message published after the restart arrives"
    );
    assert!(
        publish_after < Duration::from_secs(5),
        "publishing took {publish_after:?} after the restart"
    );

    // A closed queue says so, retryably, and does not hang.
    queue.close().await;
    let t = Instant::now();
    let error = queue.publish(&sent).await.expect_err("publish after close");
    assert_eq!(error.kind(), PortErrorKind::Unavailable, "{error}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_at_connect() {
    let Some(server) = own_server_with(
        "wrong_credentials_are_refused_at_connect",
        &["--requirepass", "right"],
    ) else {
        return;
    };
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port);
    let t = Instant::now();
    let error = RedisEventQueue::connect(&RedisConfig::new(url))
        .await
        .expect_err("connect with a wrong password");
    assert!(!error.is_retryable(), "{error}");
    assert!(!format!("{error:?}").contains("wrong@"), "{error:?}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );

    let url = format!("redis://:right@127.0.0.1:{}", server.port);
    let queue = RedisEventQueue::connect(&RedisConfig::new(url))
        .await
        .expect("connect with the right password");
    assert!(!format!("{queue:?}").contains("right@"), "{queue:?}");
    queue.ensure_group("workers").await.expect("group");
}

#[tokio::test]
async fn the_stream_is_trimmed_to_about_max_len() {
    let Some(url) = redis_url() else {
        return;
    };
    with_stream(&url.clone(), |stream| async move {
        let queue = RedisEventQueue::connect(&RedisConfig {
            max_len: 10,
            ..config(&url, &stream, QueueSettings::default())
        })
        .await
        .expect("connect");
        for _ in 0..200 {
            queue.publish(&event()).await.expect("publish");
        }
        let client = raw_client(&url).await;
        let len = raw(&client, "XLEN", vec![v(&stream)])
            .await
            .as_u64()
            .expect("length");
        // `~` trims whole nodes of at most 100 entries (stream-node-max-entries).
        assert!(
            (10..=110).contains(&len),
            "XLEN is {len} after 200 publishes"
        );
        client.quit().await.ok();
    })
    .await;
}

#[tokio::test]
async fn blocking_reads_do_not_hold_up_other_calls() {
    let Some(url) = redis_url() else {
        return;
    };
    with_stream(&url.clone(), |stream| async move {
        let queue = RedisEventQueue::connect(&RedisConfig {
            blocking_connections: 1,
            ..config(&url, &stream, QueueSettings::default())
        })
        .await
        .expect("connect");
        queue.ensure_group("a").await.expect("group");
        queue.ensure_group("b").await.expect("group");
        // Two receives wait at once on one blocking connection: one blocks, one polls.
        let waiters: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|group| {
                let queue = queue.clone();
                tokio::spawn(
                    async move { queue.receive(group, "c1", 10, Duration::from_secs(3)).await },
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let sent = event();
        queue.publish(&sent).await.expect("publish");
        queue.ensure_group("c").await.expect("group");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "calls waited behind a blocking read: {:?}",
            t.elapsed()
        );
        for waiter in waiters {
            let got = waiter.await.expect("task").expect("receive");
            assert_eq!(got.iter().map(|d| &d.event).collect::<Vec<_>>(), [&sent]);
        }
    })
    .await;
}

#[tokio::test]
async fn a_hung_redis_times_out_and_calls_recover() {
    let Some(server) = own_server("a_hung_redis_times_out_and_calls_recover") else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", server.port);
    let queue = RedisEventQueue::connect(&RedisConfig {
        command_timeout: Duration::from_millis(500),
        ..config(&url, "moclojer:events", QueueSettings::default())
    })
    .await
    .expect("connect");
    queue.ensure_group("workers").await.expect("group");
    queue.publish(&event()).await.expect("publish");

    // Redis stops answering anyone for 2.5 s.
    let client = raw_client(&url).await;
    raw(&client, "CLIENT", vec![v("PAUSE"), v("2500"), v("ALL")]).await;
    let t = Instant::now();
    let error = queue
        .publish(&event())
        .await
        .expect_err("publish while hung");
    let took = t.elapsed();
    assert_eq!(error.kind(), PortErrorKind::Timeout, "{error}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    // Once it answers again, so do the calls.
    let last = event();
    let started = Instant::now();
    let id = loop {
        match queue.publish(&last).await {
            Ok(id) => break id,
            Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("publish after the pause: {e}"),
        }
    };
    let mut seen = Vec::new();
    while !seen.contains(&id) && started.elapsed() < Duration::from_secs(15) {
        match queue
            .receive("workers", "c1", 10, Duration::from_secs(1))
            .await
        {
            Ok(got) => seen.extend(got.into_iter().map(|d| d.id)),
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("receive after the pause: {e}"),
        }
    }
    assert!(
        seen.contains(&id),
        "the message published after the pause arrives"
    );
    client.quit().await.ok();
    queue.close().await;
}

#[tokio::test]
async fn a_cancelled_receive_does_not_hold_up_the_next_one() {
    let Some(url) = redis_url() else {
        return;
    };
    with_stream(&url.clone(), |stream| async move {
        let queue = RedisEventQueue::connect(&RedisConfig {
            blocking_connections: 1,
            ..config(&url, &stream, QueueSettings::default())
        })
        .await
        .expect("connect");
        // Group b has a message waiting; group a, made after it, has none.
        queue.ensure_group("b").await.expect("group");
        let sent = event();
        queue.publish(&sent).await.expect("publish");
        queue.ensure_group("a").await.expect("group");

        // A receive that would block for 5 s on the only blocking connection, given up on.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(200),
            queue.receive("a", "c1", 1, Duration::from_secs(5)),
        )
        .await;
        assert!(cancelled.is_err(), "{cancelled:?}");

        // The next receive does not queue behind the abandoned read.
        let t = Instant::now();
        let got = queue
            .receive("b", "c1", 10, Duration::from_secs(3))
            .await
            .expect("receive");
        let took = t.elapsed();
        assert_eq!(got.iter().map(|d| &d.event).collect::<Vec<_>>(), [&sent]);
        assert!(took < Duration::from_secs(1), "took {took:?}");
    })
    .await;
}

/// The path the hosted service depends on: writes record events in the database's outbox,
/// a relay moves them to Redis. Redis stops while events keep being written; when it
/// returns, every event arrives (Redis keeps its streams on disk with AOF, as a production
/// Redis does).
#[tokio::test]
async fn events_written_while_redis_is_down_all_arrive_through_the_outbox() {
    use moclojer_ports::{Outbox, Relay, RelaySettings};
    let test = "events_written_while_redis_is_down_all_arrive_through_the_outbox";
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().to_string_lossy().into_owned();
    let persistent = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir.as_str(),
    ];
    let Some(mut server) = own_server_with(test, &persistent) else {
        return;
    };
    let port = server.port;
    let url = format!("redis://127.0.0.1:{port}");
    let settings = QueueSettings {
        redeliver_after: Duration::from_millis(500),
        max_deliveries: 5,
    };
    let queue = Arc::new(
        RedisEventQueue::connect(&config(&url, "relay-test", settings))
            .await
            .expect("connect"),
    );
    queue.ensure_group("consumer").await.expect("group");
    let outbox = moclojer_sqlite::SqliteDatabase::in_memory()
        .await
        .expect("database");
    let relay_settings = RelaySettings {
        idle: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RelaySettings::named("relay-1")
    };
    let relay = Relay::new(Arc::new(outbox.clone()), queue.clone(), relay_settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relaying = tokio::spawn(relay.run(async move {
        stopped.await.ok();
    }));

    let before: Vec<Event> = (0..20).map(|_| event()).collect();
    outbox.append(&before).await.expect("append");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !outbox.pending(100).await.expect("pending").is_empty() {
        assert!(Instant::now() < deadline, "the first events were relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.kill();
    let during: Vec<Event> = (0..20).map(|_| event()).collect();
    for chunk in during.chunks(5) {
        outbox
            .append(chunk)
            .await
            .expect("writes go on while Redis is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        outbox.pending(100).await.expect("pending").len(),
        20,
        "nothing was lost: the outbox holds them"
    );

    let _restarted = OwnServer::start_with(port, &persistent).expect("restart redis-server");
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 40 {
        assert!(
            Instant::now() < deadline,
            "only {} of 40 events arrived",
            seen.len()
        );
        let Ok(batch) = queue
            .receive("consumer", "c1", 50, Duration::from_millis(200))
            .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let ids: Vec<_> = batch.iter().map(|d| d.id.clone()).collect();
        seen.extend(batch.into_iter().map(|d| d.event.id));
        if !ids.is_empty() {
            queue.ack("consumer", &ids).await.ok();
        }
    }
    let expected: std::collections::HashSet<_> =
        before.iter().chain(&during).map(|e| e.id).collect();
    assert_eq!(seen, expected, "every event arrived");
    assert!(
        outbox.pending(100).await.expect("pending").is_empty(),
        "the outbox is drained"
    );
    stop.send(()).ok();
    relaying.await.expect("relay task");
}
