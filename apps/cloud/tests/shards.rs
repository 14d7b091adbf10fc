//! The mock tier in shards: two shards of mock servers (`moclojer --store --shard K/2`,
//! shard 1 with two replicas) behind the proxy (`--shard-upstream`), all following one
//! folder store that a publisher changes under load. No live host may ever answer
//! anything but its mock while hosts are published, changed and unpublished, and a replica
//! restarted mid-load comes back with every host of its shard, those published while it
//! was down included.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moclojer_domain::Shard;
use moclojer_foss::{CloudSource, EngineOptions, HostEngines, serve_cloud};
use moclojer_fs::FsObjectStore;
use moclojer_ports::{HostEntry, ObjectStore, PublishedIndex};
use moclojer_proxy::{App as Proxy, Config as ProxyConfig, ShardUpstreams};
use moclojer_wiring::{App as _, Resolver};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

const POLL: Duration = Duration::from_millis(20);
/// The longest a change may take to show through the proxy.
const LIVE_WITHIN: Duration = Duration::from_secs(1);

/// Publishes hosts to the store the way the generator does: the object, then the index.
struct Publisher {
    store: Arc<dyn ObjectStore>,
    index: Mutex<PublishedIndex>,
}

fn object(host: &str, revision: u64) -> Vec<u8> {
    serde_json::json!([{"endpoint": {
        "host": host,
        "path": "/",
        "response": {"status": 200, "body": format!("{host} r{revision}")}
    }}])
    .to_string()
    .into_bytes()
}

impl Publisher {
    async fn publish(&self, host: &str, revision: u64) {
        let bytes = object(host, revision);
        let entry = HostEntry::of(revision, &bytes);
        let key = entry.object_key(host).unwrap();
        self.store.put(&key, Bytes::from(bytes)).await.unwrap();
        let mut index = self.index.lock().await;
        index
            .write(self.store.as_ref(), [(host.to_owned(), Some(entry))])
            .await
            .unwrap();
    }

    async fn unpublish(&self, host: &str) {
        let mut index = self.index.lock().await;
        index
            .write(self.store.as_ref(), [(host.to_owned(), None)])
            .await
            .unwrap();
    }
}

/// One mock server replica: `moclojer --store <dir> --shard K/N`, in process.
struct Replica {
    addr: SocketAddr,
    hosts: Arc<HostEngines>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Replica {
    async fn start(store: Arc<dyn ObjectStore>, shard: Shard, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hosts = Arc::new(HostEngines::new());
        let source = CloudSource::new(
            store,
            Arc::clone(&hosts),
            &EngineOptions::default(),
            moclojer_domain::spec::Limits::default(),
        )
        .with_shard(shard);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_cloud(listener, source, POLL, None, async move {
            stopped.await.ok();
        }));
        Self {
            addr,
            hosts,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

async fn get(client: &reqwest::Client, addr: SocketAddr, host: &str) -> (u16, String) {
    match client
        .get(format!("http://{addr}/"))
        .header("host", host)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Asks `host` through `addr` until `done` holds of its answer, for at most `within`.
async fn until(
    client: &reqwest::Client,
    addr: SocketAddr,
    host: &str,
    within: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let started = Instant::now();
    loop {
        let (status, body) = get(client, addr, host).await;
        if done(status, &body) || started.elapsed() > within {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn host(name: &str) -> String {
    format!("{name}-alice.localhost")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_shards_serve_every_live_host_while_hosts_change_and_a_replica_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path()).unwrap());
    let publisher = Arc::new(Publisher {
        store: Arc::clone(&store),
        index: Mutex::new(PublishedIndex::new()),
    });
    // Stable hosts stay live throughout (their revision changes); the others go.
    let stable: Vec<String> = (0..16).map(|i| host(&format!("stable{i}"))).collect();
    let doomed: Vec<String> = (0..16).map(|i| host(&format!("doomed{i}"))).collect();
    for h in stable.iter().chain(&doomed) {
        publisher.publish(h, 1).await;
    }

    let zero = Shard::new(0, 2).unwrap();
    let one = Shard::new(1, 2).unwrap();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut shard_0 = Replica::start(Arc::clone(&store), zero, any).await;
    let mut shard_1a = Replica::start(Arc::clone(&store), one, any).await;
    let mut shard_1b = Replica::start(Arc::clone(&store), one, any).await;

    let mut config = ProxyConfig::new(Vec::new());
    config.addr = any;
    config.shard_upstreams = vec![
        ShardUpstreams::new(zero, vec![shard_0.addr]),
        ShardUpstreams::new(one, vec![shard_1a.addr, shard_1b.addr]),
    ];
    config.health_check_interval = Duration::from_millis(50);
    config.connect_timeout = Duration::from_millis(200);
    config.rate_limit = None;
    let proxy = Proxy::build(config, &Resolver::default()).await.unwrap();
    let proxy_addr = proxy.addr();
    let (stop_proxy, proxy_stopped) = oneshot::channel::<()>();
    let proxy_task = tokio::spawn(proxy.run(async move {
        proxy_stopped.await.ok();
    }));

    let client = reqwest::Client::new();
    for h in stable.iter().chain(&doomed) {
        let (status, body) = until(&client, proxy_addr, h, Duration::from_secs(10), |s, _| {
            s == 200
        })
        .await;
        assert_eq!(status, 200, "{h} is not served through the proxy: {body}");
    }
    // Each replica holds exactly its shard's hosts.
    for (replica, shard) in [(&shard_0, zero), (&shard_1a, one), (&shard_1b, one)] {
        let held = replica.hosts.hosts();
        assert!(!held.is_empty());
        assert!(held.iter().all(|h| shard.holds(h)), "{shard}: {held:?}");
    }
    assert_eq!(
        shard_0.hosts.len() + shard_1a.hosts.len(),
        stable.len() + doomed.len()
    );

    // Load: clients ask the stable hosts without pause while the publisher works.
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for c in 0..3 {
        let (stable, running, client) = (stable.clone(), Arc::clone(&running), client.clone());
        clients.push(tokio::spawn(async move {
            let mut wrong: BTreeMap<String, Vec<(u16, String)>> = BTreeMap::new();
            let mut asked = 0usize;
            let mut i = c;
            while running.load(Ordering::Relaxed) {
                let h = &stable[i % stable.len()];
                let (status, body) = get(&client, proxy_addr, h).await;
                if status != 200 || !body.starts_with(&format!("{h} r")) {
                    wrong.entry(h.clone()).or_default().push((status, body));
                }
                asked += 1;
                i += 1;
            }
            (asked, wrong)
        }));
    }

    let mut born = Vec::new();
    for round in 0..16usize {
        let revision = 2 + round as u64;
        publisher.publish(&stable[round], revision).await;
        publisher.unpublish(&doomed[round]).await;
        let new = host(&format!("born{round}"));
        publisher.publish(&new, 1).await;
        born.push(new);
        if round == 5 {
            // A replica of shard 1 goes away mid-load and comes back on its address.
            shard_1a.stop().await;
        }
        if round == 10 {
            shard_1a = Replica::start(Arc::clone(&store), one, shard_1a.addr).await;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    let mut asked = 0;
    for client in clients {
        let (n, wrong) = client.await.unwrap();
        asked += n;
        assert!(wrong.is_empty(), "live hosts answered wrongly: {wrong:?}");
    }
    assert!(asked > 100, "only {asked} requests were made");

    // Every change shows through the proxy within the bound.
    for (round, h) in stable.iter().enumerate() {
        let want = format!("{h} r{}", 2 + round);
        let (status, body) = until(&client, proxy_addr, h, LIVE_WITHIN, |s, b| {
            s == 200 && b == want
        })
        .await;
        assert_eq!((status, body.as_str()), (200, want.as_str()), "{h}");
    }
    for h in &born {
        let (status, body) = until(&client, proxy_addr, h, LIVE_WITHIN, |s, _| s == 200).await;
        assert_eq!(status, 200, "{h} was published: {body}");
    }
    for h in &doomed {
        let (status, body) = until(&client, proxy_addr, h, LIVE_WITHIN, |s, _| s == 404).await;
        assert_eq!(status, 404, "{h} was unpublished: {body}");
        assert!(body.contains("no mock answers on this host"), "{body}");
    }

    // The restarted replica serves its whole shard, what was published while it was down
    // included, and nothing of the other shard.
    let mut expected: Vec<String> = stable
        .iter()
        .chain(&born)
        .filter(|h| one.holds(h))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(shard_1a.hosts.hosts(), expected);
    for h in stable.iter().chain(&born) {
        let (status, _) = get(&client, shard_1a.addr, h).await;
        assert_eq!(status, if one.holds(h) { 200 } else { 404 }, "{h}");
    }

    stop_proxy.send(()).ok();
    proxy_task.await.unwrap().unwrap();
    for replica in [&mut shard_0, &mut shard_1a, &mut shard_1b] {
        replica.stop().await;
    }
}
