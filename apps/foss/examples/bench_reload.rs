//! The mock server's side of `cargo xtask bench scale`: what one host's reload costs with
//! many hosts served, and the memory of many per-host engines.
//!
//! For each size N (hosts, each with five endpoints, one of them templated), a folder
//! store is filled the way the generator fills it (one object per host, the published
//! index), a [`CloudSource`] loads all of it (timed: a cold start), and then R times one
//! host gets a new revision and `load_generation` is timed: reading the index root, the
//! changed nodes and the host's object, building its engine and swapping it in. Printed:
//! the start time, the reload's p50 and worst, the index bytes written per publish and the
//! process's RSS after loading (this process holds nothing else of note).
//!
//! `bench_reload [SIZES] [RELOADS]`: sizes comma-separated (default `10000,50000`),
//! reloads per size (default 20).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moclojer_domain::spec::Limits;
use moclojer_foss::{CloudSource, EngineOptions, HostEngines, StoreLook};
use moclojer_fs::FsObjectStore;
use moclojer_ports::{HostEntry, ObjectStore, PublishedIndex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Five endpoints, as a generator renders one mock's items.
fn object(host: &str, revision: u64) -> Vec<u8> {
    let mut items = Vec::new();
    for (i, path) in ["/hello", "/users/:id", "/items", "/items/:id", "/health"]
        .iter()
        .enumerate()
    {
        let body = if path.contains(":id") {
            format!(r#"{{"id": "{{{{path-params.id}}}}", "rev": {revision}, "n": {i}}}"#)
        } else {
            format!(r#"{{"host": "{host}", "rev": {revision}, "n": {i}}}"#)
        };
        items.push(serde_json::json!({"endpoint": {
            "host": host,
            "method": "GET",
            "path": path,
            "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": body}
        }}));
    }
    serde_json::Value::Array(items).to_string().into_bytes()
}

fn host(i: usize) -> String {
    format!("mock{i}-user{}.moclojer.test", i / 10)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

async fn put(store: &dyn ObjectStore, host: &str, revision: u64) -> Result<HostEntry, BoxError> {
    let bytes = object(host, revision);
    let entry = HostEntry::of(revision, &bytes);
    store
        .put(&entry.object_key(host)?, Bytes::from(bytes))
        .await?;
    Ok(entry)
}

struct Row {
    size: usize,
    start: Duration,
    rss: u64,
    reloads: Vec<Duration>,
    index_bytes: u64,
}

async fn run_size(size: usize, reloads: usize) -> Result<Row, BoxError> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path())?);
    let mut writer = PublishedIndex::new();
    let mut entries = Vec::with_capacity(size);
    for i in 0..size {
        let h = host(i);
        entries.push((h.clone(), Some(put(store.as_ref(), &h, 1).await?)));
    }
    writer.write(store.as_ref(), entries).await?;

    let hosts = Arc::new(HostEngines::new());
    let mut source = CloudSource::new(
        Arc::clone(&store),
        Arc::clone(&hosts),
        &EngineOptions::default(),
        Limits::default(),
    );
    let started = Instant::now();
    source.load_generation().await?;
    let start = started.elapsed();
    if hosts.len() != size {
        return Err(format!("{} hosts loaded of {size}", hosts.len()).into());
    }
    let rss = rss_bytes();

    let mut times = Vec::with_capacity(reloads);
    let mut index_bytes = 0;
    for r in 0..reloads {
        let h = host((r * 7919) % size);
        let entry = put(store.as_ref(), &h, 2 + r as u64).await?;
        let written = writer
            .write(store.as_ref(), [(h.clone(), Some(entry))])
            .await?;
        index_bytes += written.bytes;
        let before = hosts.get(&h);
        let started = Instant::now();
        let look = source.load_generation().await?;
        times.push(started.elapsed());
        let StoreLook::Loaded(loaded) = look else {
            return Err(format!("reload {r}: {look:?}").into());
        };
        let after = hosts.get(&h);
        if loaded.changed.len() != 1 || before.zip(after).is_none_or(|(b, a)| Arc::ptr_eq(&b, &a)) {
            return Err(format!("reload {r} did not swap exactly {h}: {loaded:?}").into());
        }
    }
    Ok(Row {
        size,
        start,
        rss,
        reloads: times,
        index_bytes: index_bytes / reloads.max(1) as u64,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "10000,50000".to_owned())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let reloads: usize = args.next().map_or(Ok(20), |s| s.parse())?;
    println!(
        "| hosts × 5 endpoints | cold start | RSS after start | one-host reload p50 | worst | index written/publish |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for size in sizes {
        let mut row = run_size(size, reloads).await?;
        row.reloads.sort();
        let p50 = row
            .reloads
            .get(row.reloads.len() / 2)
            .copied()
            .unwrap_or_default();
        let worst = row.reloads.last().copied().unwrap_or_default();
        println!(
            "| {} | {:.1} s | {} MB | {} | {} | {:.1} KB |",
            row.size,
            row.start.as_secs_f64(),
            row.rss / 1_000_000,
            ms(p50),
            ms(worst),
            row.index_bytes as f64 / 1000.0,
        );
    }
    Ok(())
}
