//! `moclojer-ctl`, the built binary, driven as a CI job drives it against a real
//! all-in-one (`moclojer-cloud` on its embedded defaults, in this process, on free ports):
//! a user and a personal API token made through the api, then every command as a
//! subprocess, its exit code, stdout and stderr checked, and the mocks' hosts called.
//!
//! `export` and `import` are not tested here: the api has no `GET /mocks/{id}/export` nor
//! `POST /mocks/import` yet.

#[path = "../../cloud/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use moclojer_cloud::{App, Config};
use moclojer_wiring::{App as _, Resolver};
use serde_json::{Value, json};
use support::{Client, LIVE_WITHIN, get, hello, until};

struct Running {
    api: SocketAddr,
    mocks: SocketAddr,
    resolver: Resolver,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        api_addr: "127.0.0.1:0".parse().expect("addr"),
        mocks_addr: "127.0.0.1:0".parse().expect("addr"),
        poll: Duration::from_millis(100),
        ..Config::new(dir.path())
    };
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
        _dir: dir,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).ok();
        self.task.await.expect("task").expect("run");
        self.resolver.close().await;
    }
}

/// What one run of the binary did.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {self:?}"))
    }
}

/// The binary, configured as CI configures it: `MOCLOJER_API`, `MOCLOJER_TOKEN`, run in
/// `dir`.
struct Ctl {
    api: String,
    token: String,
    dir: std::path::PathBuf,
}

impl Ctl {
    async fn run(&self, args: &[&str]) -> Ran {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_moclojer-ctl"))
            .args(args)
            .current_dir(&self.dir)
            .env("MOCLOJER_API", &self.api)
            .env("MOCLOJER_TOKEN", &self.token)
            .env_remove("MOCLOJER_WORKSPACE")
            .output()
            .await
            .expect("run moclojer-ctl");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `args` and expects exit 0.
    async fn ok(&self, args: &[&str]) -> Ran {
        let ran = self.run(args).await;
        assert_eq!(ran.code, 0, "moclojer-ctl {args:?}: {ran:?}");
        ran
    }
}

/// `handle` signs up; a personal API token is made for it; the binary runs in `dir`.
async fn ctl_for(api: SocketAddr, handle: &str, dir: &Path) -> (Client, Ctl) {
    let mut client = Client::new(api);
    client.sign_up(handle).await;
    let (status, token) = client.post("/tokens", json!({"name": "ci"})).await;
    assert_eq!(status, 201, "make a token: {token}");
    let ctl = Ctl {
        api: format!("http://{api}"),
        token: token["token"].as_str().expect("the secret").to_owned(),
        dir: dir.to_path_buf(),
    };
    (client, ctl)
}

fn write(dir: &Path, file: &str, content: &str) {
    std::fs::write(dir.join(file), content).expect("write a spec");
}

/// The mock named `name` as `mocks list --json` shows it.
async fn listed(ctl: &Ctl, name: &str) -> Option<Value> {
    let list = ctl.ok(&["mocks", "list", "--json"]).await.json();
    list.as_array()
        .expect("an array of mocks")
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_a_file_publish_wait_edit_and_read_the_journal() {
    let running = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, ctl) = ctl_for(running.api, "alice", dir.path()).await;
    let login = ctl.ok(&["login"]).await;
    assert!(login.stdout.contains("alice@example.com"), "{login:?}");
    assert!(!login.stdout.contains(&ctl.token) && !login.stderr.contains(&ctl.token));

    write(dir.path(), "hello.yml", &hello("one"));
    let pushed = ctl
        .ok(&[
            "push",
            "hello.yml",
            "--publish",
            "--wait",
            "--wait-timeout",
            "30",
        ])
        .await;
    assert!(
        pushed.stdout.contains("created hello: revision 1"),
        "{pushed:?}"
    );
    assert!(
        pushed.stderr.contains("live: hello.yml revision 1"),
        "{pushed:?}"
    );
    let host = "hello-alice.localhost";
    let (status, body) = get(running.mocks, host, "/hello").await;
    assert_eq!(
        (status, body.contains("\"one\"")),
        (200, true),
        "live once --wait returns: {body}"
    );

    write(dir.path(), "hello.yml", &hello("two"));
    let pushed = ctl
        .ok(&[
            "push",
            "hello.yml",
            "--publish",
            "--wait",
            "--wait-timeout",
            "30",
        ])
        .await;
    assert!(
        pushed.stdout.contains("updated hello: revision 2"),
        "{pushed:?}"
    );
    // The host names the revision it serves, so --wait returns only once it is this one.
    let (status, body) = get(running.mocks, host, "/hello").await;
    assert_eq!(
        (status, body.contains("\"two\"")),
        (200, true),
        "the new revision is live once --wait returns: {body}"
    );

    let again = ctl
        .ok(&["push", "hello.yml", "--publish", "--wait", "--json"])
        .await
        .json();
    assert_eq!(again["mocks"][0]["action"], "unchanged", "{again}");
    assert_eq!(again["mocks"][0]["revision"], 2, "{again}");
    let id = again["mocks"][0]["id"].as_str().expect("id").to_owned();
    let (_, revisions) = client
        .send(
            reqwest::Method::GET,
            &format!("/mocks/{id}/revisions"),
            None,
        )
        .await;
    // A page (`{"revisions": [...], "next"}`), or the bare list of older apis.
    let revisions = revisions.get("revisions").unwrap_or(&revisions);
    assert_eq!(
        revisions.as_array().map(Vec::len),
        Some(2),
        "no new revision: {revisions}"
    );

    invalid_files_exit_2(&ctl, running.mocks).await;
    export_and_import(&ctl).await;
    journal_lists_a_request(&ctl, running.mocks).await;
    not_found_and_auth_failures(&ctl).await;

    let unpublished = ctl
        .ok(&["unpublish", "hello", "--wait", "--wait-timeout", "30"])
        .await;
    assert!(
        unpublished.stdout.contains("unpublished hello"),
        "{unpublished:?}"
    );
    assert_eq!(get(running.mocks, host, "/hello").await.0, 404);
    ctl.ok(&["publish", &id, "--wait", "--wait-timeout", "30"])
        .await;
    assert_eq!(get(running.mocks, host, "/hello").await.0, 200);
    ctl.ok(&["delete", "hello"]).await;
    assert_eq!(ctl.run(&["publish", "hello"]).await.code, 3);
    running.stop().await;
}

/// `export` gives the stored YAML back and an OpenAPI document; `import` turns that
/// document into moclojer YAML, and an invalid one exits 2 with its positions.
async fn export_and_import(ctl: &Ctl) {
    let yaml = ctl.ok(&["export", "hello"]).await;
    assert_eq!(yaml.stdout, hello("two"), "the stored content, as pushed");
    ctl.ok(&["export", "hello", "--format", "openapi", "-o", "hello.json"])
        .await;
    let document = std::fs::read_to_string(ctl.dir.join("hello.json")).expect("written");
    let openapi: serde_json::Value = serde_json::from_str(&document).expect("JSON");
    assert!(openapi["paths"]["/hello"]["get"].is_object(), "{openapi}");
    let imported = ctl.ok(&["import", "hello.json"]).await;
    assert!(
        imported.stdout.contains("path: /hello"),
        "the document becomes moclojer YAML: {imported:?}"
    );
    write(
        &ctl.dir,
        "broken.json",
        "{\"openapi\": \"3.0.3\", \"paths\": [1]}",
    );
    let refused = ctl.run(&["import", "broken.json"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("broken.json:1:"), "{refused:?}");
}

/// An invalid file exits 2 with `file:line:col: error:` on stderr, and changes nothing.
async fn invalid_files_exit_2(ctl: &Ctl, mocks: SocketAddr) {
    write(&ctl.dir, "bad.yml", "- endpoint:\n    path: hello\n");
    let refused = ctl.run(&["push", "bad.yml", "--publish", "--wait"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .lines()
            .any(|l| l.starts_with("bad.yml:2:") && l.contains(": error: ")),
        "{refused:?}"
    );
    assert!(listed(ctl, "bad").await.is_none(), "nothing made");

    write(&ctl.dir, "broken.yml", "- endpoint:\n    path: hello\n");
    let refused = ctl.run(&["push", "broken.yml", "--name", "hello"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("broken.yml:2:"), "{refused:?}");
    let hello = listed(ctl, "hello").await.expect("hello is listed");
    assert_eq!(hello["revision"], 2, "the mock is left alone: {hello}");
    let (status, body) = get(mocks, "hello-alice.localhost", "/hello").await;
    assert_eq!((status, body.contains("\"two\"")), (200, true), "{body}");
}

/// A request made to the mock is listed by `requests` (within a second of being made).
async fn journal_lists_a_request(ctl: &Ctl, mocks: SocketAddr) {
    assert_eq!(
        get(mocks, "hello-alice.localhost", "/hello?from=ci")
            .await
            .0,
        200
    );
    let started = Instant::now();
    loop {
        let ran = ctl.ok(&["requests", "hello", "--limit", "5"]).await;
        if ran.stdout.contains("GET /hello?from=ci -> 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the journal lists it: {ran:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = ctl.ok(&["requests", "hello", "--json"]).await.json();
    let first = &page["requests"][0];
    assert_eq!(
        (&first["method"], &first["path"]),
        (&json!("GET"), &json!("/hello")),
        "{page}"
    );
}

/// An unknown mock exits 3; a bad token exits 4.
async fn not_found_and_auth_failures(ctl: &Ctl) {
    for args in [
        &["publish", "nope"][..],
        &["requests", "nope"],
        &["delete", "nope"],
        &["mocks", "list", "--workspace", "nobody"],
    ] {
        let ran = ctl.run(args).await;
        assert_eq!(ran.code, 3, "{args:?}: {ran:?}");
    }
    let forged = Ctl {
        api: ctl.api.clone(),
        token: "mcl_not-a-token".to_owned(),
        dir: ctl.dir.clone(),
    };
    for args in [&["login"][..], &["mocks", "list"], &["push", "hello.yml"]] {
        let ran = forged.run(args).await;
        assert_eq!(ran.code, 4, "{args:?}: {ran:?}");
        assert!(!ran.stderr.contains("mcl_not-a-token"), "{ran:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_a_folder_then_prune_what_is_gone() {
    let running = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, ctl) = ctl_for(running.api, "bob", dir.path()).await;
    // A mock of another workspace (an org), which a prune of bob's never touches.
    let (status, org) = client.post("/orgs", json!({"handle": "acme"})).await;
    assert_eq!(status, 201, "{org}");
    write(dir.path(), "shared.yml", &hello("shared"));
    ctl.ok(&[
        "push",
        "shared.yml",
        "--workspace",
        "acme",
        "--publish",
        "--wait",
    ])
    .await;

    let folder = dir.path().join("mocks");
    std::fs::create_dir(&folder).expect("mkdir");
    for name in ["users", "orders", "payments"] {
        write(&folder, &format!("{name}.yml"), &hello(name));
    }
    let pushed = ctl
        .ok(&[
            "push",
            "mocks",
            "--publish",
            "--wait",
            "--wait-timeout",
            "30",
            "--json",
        ])
        .await
        .json();
    let actions: Vec<(&str, &str)> = pushed["mocks"]
        .as_array()
        .expect("mocks")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("name"),
                m["action"].as_str().expect("action"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("orders", "created"),
            ("payments", "created"),
            ("users", "created")
        ]
    );
    for name in ["users", "orders", "payments"] {
        let (status, body) = get(running.mocks, &format!("{name}-bob.localhost"), "/hello").await;
        assert_eq!((status, body.contains(name)), (200, true), "{name}: {body}");
    }

    std::fs::remove_file(folder.join("payments.yml")).expect("remove");
    write(&folder, "orders.yml", &hello("orders-2"));
    let pruned = ctl
        .ok(&[
            "push",
            "mocks/",
            "--publish",
            "--wait",
            "--wait-timeout",
            "30",
            "--prune",
        ])
        .await;
    assert!(
        pruned.stdout.contains("updated orders: revision 2"),
        "{pruned:?}"
    );
    assert!(
        pruned.stdout.contains("unchanged users: revision 1"),
        "{pruned:?}"
    );
    assert!(pruned.stdout.contains("unpublished payments"), "{pruned:?}");
    assert_eq!(
        get(running.mocks, "payments-bob.localhost", "/hello")
            .await
            .0,
        404
    );
    let payments = listed(&ctl, "payments")
        .await
        .expect("unpublished, not deleted");
    assert_eq!(payments["enabled"], false, "{payments}");
    until(
        running.mocks,
        "orders-bob.localhost",
        "/hello",
        LIVE_WITHIN,
        "the edit",
        |s, b| s == 200 && b.contains("orders-2"),
    )
    .await;
    let (status, body) = get(running.mocks, "shared-acme.localhost", "/hello").await;
    assert_eq!(
        (status, body.contains("shared")),
        (200, true),
        "another workspace stays: {body}"
    );

    let again = ctl.ok(&["push", "mocks", "--prune", "--json"]).await.json();
    assert_eq!(again["unpublished"], json!([]), "{again}");
    assert!(
        again["mocks"]
            .as_array()
            .expect("mocks")
            .iter()
            .all(|m| m["action"] == "unchanged"),
        "{again}"
    );
    running.stop().await;
}

#[tokio::test]
async fn usage_and_configuration_errors_exit_1_and_an_unreachable_api_exits_5() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "one.yml", &hello("one"));
    // A port nothing listens on: bound, then released.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let ctl = Ctl {
        api: format!("http://{free}"),
        token: "mcl_whatever".to_owned(),
        dir: dir.path().to_path_buf(),
    };
    let help = ctl.ok(&["--help"]).await;
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("6  --wait timed out"),
        "{help:?}"
    );
    for args in [
        &["nope"][..],
        &["push"],
        &["push", "one.yml", "--prune"],
        &["push", "missing.yml"],
        &["push", "one.yml", "--name", "Not A Name"],
    ] {
        let ran = ctl.run(args).await;
        assert_eq!(ran.code, 1, "{args:?}: {ran:?}");
    }
    let unconfigured = Ctl {
        api: String::new(),
        ..ctl
    };
    let ran = unconfigured.run(&["login"]).await;
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("MOCLOJER_API"), "{ran:?}");
    let ctl = Ctl {
        api: format!("http://{free}"),
        ..unconfigured
    };
    assert_eq!(ctl.run(&["login"]).await.code, 5);
    let tokenless = Ctl {
        token: String::new(),
        ..ctl
    };
    assert_eq!(tokenless.run(&["login"]).await.code, 1);
}
