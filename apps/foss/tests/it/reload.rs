//! Reloads: a changed file is served, a bad one is reported and the running spec stays;
//! requests keep being answered during swaps; in cloud mode a tenant's bad part keeps its
//! last good version without blocking the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_foss::{SharedEngine, SpecFiles, load_files, reload_unified, watch};

use crate::helpers::{Req, engine, options, send};

fn spec(word: &str) -> String {
    format!("- endpoint:\n    path: /word\n    response:\n      body: '{{\"word\": \"{word}\"}}'\n")
}

async fn word(engine: &SharedEngine) -> String {
    let res = send(&engine.load_full(), Req::get("/word")).await;
    res.json()["word"].as_str().unwrap_or_default().to_owned()
}

async fn wait_for_word(engine: &SharedEngine, expected: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if word(engine).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_watched_file_reloads_and_a_bad_edit_keeps_the_running_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("moclojer.yml");
    std::fs::write(&path, spec("one")).expect("write");
    let files = SpecFiles {
        config: path.clone(),
        mocks: None,
    };
    let limits = Limits::default();
    let opts = options(Mode::Standalone);
    let engine: SharedEngine = Arc::new(ArcSwap::from_pointee(
        load_files(&files, opts.clone(), &limits).expect("load"),
    ));
    let watcher = tokio::spawn(watch(files, Arc::clone(&engine), opts, limits));
    assert_eq!(word(&engine).await, "one");

    std::fs::write(&path, spec("two")).expect("write");
    assert!(wait_for_word(&engine, "two").await, "the edit was served");

    std::fs::write(&path, "- endpoint:\n    path: [this is not\n").expect("write");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        word(&engine).await,
        "two",
        "a broken edit does not replace a good spec"
    );

    std::fs::write(&path, spec("three")).expect("write");
    assert!(wait_for_word(&engine, "three").await, "a fix is served");
    watcher.abort();
}

#[tokio::test]
async fn no_request_fails_while_the_engine_is_swapped() {
    let shared: SharedEngine = Arc::new(ArcSwap::from_pointee(engine(&spec("start"))));
    let swapper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            for i in 0..200 {
                shared.store(Arc::new(engine(&spec(&format!("gen{i}")))));
                tokio::task::yield_now().await;
            }
        })
    };
    let mut clients = Vec::new();
    for _ in 0..8 {
        let shared = Arc::clone(&shared);
        clients.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..250 {
                let res = send(&shared.load_full(), Req::get("/word")).await;
                assert_eq!(res.status, 200, "{}", res.body);
                assert!(res.json()["word"].is_string());
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for client in clients {
        total += client.await.expect("client");
    }
    swapper.await.expect("swapper");
    assert_eq!(total, 2000);
}

fn tenant(host: &str, word: &str) -> String {
    format!(
        "- endpoint:\n    host: {host}\n    path: /word\n    response:\n      body: '{{\"word\": \"{word}\"}}'\n"
    )
}

#[tokio::test]
async fn in_cloud_mode_a_bad_tenant_keeps_its_last_good_version() {
    let opts = options(Mode::Cloud);
    let limits = Limits::default();
    let first = format!(
        "{}{}",
        tenant("a-alice.localhost", "a1"),
        tenant("b-bob.localhost", "b1")
    );
    let report = reload_unified(None, &first, opts.clone(), &limits).expect("first config");
    assert!(report.kept_previous.is_empty());
    let engine1 = report.engine;

    // bob's new part is broken (a path without a slash); alice's is updated.
    let second = format!(
        "{}- endpoint:\n    host: b-bob.localhost\n    path: word\n    response:\n      body: '{{\"word\": \"b2\"}}'\n",
        tenant("a-alice.localhost", "a2")
    );
    let report =
        reload_unified(Some(&engine1), &second, opts.clone(), &limits).expect("second config");
    assert_eq!(
        report.kept_previous.iter().cloned().collect::<Vec<_>>(),
        ["b-bob.localhost"]
    );
    let engine2 = report.engine;
    let alice = send(&engine2, Req::get("/word").host("a-alice.localhost")).await;
    assert_eq!(alice.json()["word"], "a2", "alice's update is live");
    let bob = send(&engine2, Req::get("/word").host("b-bob.localhost")).await;
    assert_eq!(bob.json()["word"], "b1", "bob keeps his last good version");
    let nobody = send(&engine2, Req::get("/word").host("c-carol.localhost")).await;
    assert_eq!(nobody.status, 404, "an unknown host gets 404");

    // A text that does not parse at all is refused whole.
    assert!(reload_unified(Some(&engine2), "- endpoint: [", opts, &limits).is_err());
}
