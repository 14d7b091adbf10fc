//! The user's path through a running deployment, over its sockets: sign up, create,
//! publish, edit, break, fix, unpublish, delete — each change seen on the mock's host
//! within a second.

#![allow(dead_code, reason = "each test file uses part of the support")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a change may take to show on the host.
pub(crate) const LIVE_WITHIN: Duration = Duration::from_secs(1);

/// `GET path` on the mocks' address with `Host: host`; the status and body, or (0, "")
/// when the server cannot be reached.
pub(crate) async fn get(address: SocketAddr, host: &str, path: &str) -> (u16, String) {
    get_from("127.0.0.1", address, host, path).await
}

/// [`get`] from another loopback address (`127.0.0.2`, …): another client, as the
/// servers see it.
pub(crate) async fn get_from(
    from: &str,
    address: SocketAddr,
    host: &str,
    path: &str,
) -> (u16, String) {
    get_with(from, address, host, path, "").await
}

/// [`get_from`] with more header lines (`"Name: value\r\n"` each).
pub(crate) async fn get_with(
    from: &str,
    address: SocketAddr,
    host: &str,
    path: &str,
    headers: &str,
) -> (u16, String) {
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return (0, String::new());
    };
    let Ok(from) = from.parse::<std::net::IpAddr>() else {
        return (0, String::new());
    };
    if socket.bind(SocketAddr::new(from, 0)).is_err() {
        return (0, String::new());
    }
    let Ok(mut stream) = socket.connect(address).await else {
        return (0, String::new());
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls the host until `want` holds or `limit` passes; returns how long it took.
///
/// # Panics
/// When `limit` passes first, with the last answer.
pub(crate) async fn until(
    address: SocketAddr,
    host: &str,
    path: &str,
    limit: Duration,
    what: &str,
    want: impl Fn(u16, &str) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = get(address, host, path).await;
        if want(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}; last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client of a running api.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) token: Option<String>,
}

impl Client {
    pub(crate) fn new(api: SocketAddr) -> Self {
        Self {
            base: format!("http://{api}/api/v1"),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the api answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// Signs up and takes `handle`; keeps the token.
    pub(crate) async fn sign_up(&mut self, handle: &str) {
        let (status, body) = self
            .post(
                "/auth/signup",
                json!({"email": format!("{handle}@example.com"), "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, 201, "sign up: {body}");
        self.token = body["token"].as_str().map(str::to_owned);
        let (status, body) = self
            .send(reqwest::Method::PUT, "/me", Some(json!({"handle": handle})))
            .await;
        assert_eq!(status, 200, "choose a handle: {body}");
    }

    /// Signs in again with the password [`Self::sign_up`] used.
    pub(crate) async fn log_in(&mut self, handle: &str) {
        let (status, body) = self
            .post(
                "/auth/login",
                json!({"email": format!("{handle}@example.com"), "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, 200, "log in: {body}");
        self.token = body["token"].as_str().map(str::to_owned);
    }
}

/// The bearer token a client sends to a mock in [`journal_path`]: redacted in the
/// journal, and never in a log.
pub(crate) const MOCK_CALL_SECRET: &str = "s3cret-token";

/// A spec whose `/once` answers each client once a minute.
pub(crate) const ONCE_PER_CLIENT: &str = "- endpoint:\n    method: GET\n    path: /once\n    \
    rate-limit:\n      window-ms: 60000\n      max-requests: 1\n    response:\n      \
    status: 200\n      body: once\n";

/// A spec whose `/hello` says `word`.
pub(crate) fn hello(word: &str) -> String {
    format!(
        "- endpoint:\n    method: GET\n    path: /hello\n    response:\n      status: 200\n      headers:\n        Content-Type: application/json\n      body: '{{\"hello\": \"{word}\"}}'\n"
    )
}

/// The whole path on a running deployment; returns the publish-to-live time.
pub(crate) async fn publish_path(api: SocketAddr, mocks: SocketAddr, handle: &str) -> Duration {
    let mut client = Client::new(api);
    client.sign_up(handle).await;
    let (status, mock) = client
        .post(
            "/mocks",
            json!({"workspace": handle, "name": "hello", "content": hello("one")}),
        )
        .await;
    assert_eq!(status, 201, "create: {mock}");
    let id = mock["id"].as_str().expect("id").to_owned();
    let host = mock["host"].as_str().expect("host").to_owned();
    assert_eq!(host, format!("hello-{handle}.localhost"));
    assert_eq!(
        get(mocks, &host, "/hello").await.0,
        404,
        "not served before publishing"
    );

    let (status, publication) = client
        .post(&format!("/mocks/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, 200, "publish: {publication}");
    let live = until(mocks, &host, "/hello", LIVE_WITHIN, "publish", |s, b| {
        s == 200 && b.contains("\"one\"")
    })
    .await;
    let (_, publication) = client
        .send(
            reqwest::Method::GET,
            &format!("/mocks/{id}/publication"),
            None,
        )
        .await;
    assert_eq!(
        publication["server"]["status"], "published",
        "{publication}"
    );

    let (status, edited) = client
        .send(
            reqwest::Method::PUT,
            &format!("/mocks/{id}"),
            Some(json!({"content": hello("two")})),
        )
        .await;
    assert_eq!(status, 200, "edit: {edited}");
    until(mocks, &host, "/hello", LIVE_WITHIN, "edit", |s, b| {
        s == 200 && b.contains("\"two\"")
    })
    .await;

    let (status, refused) = client
        .send(
            reqwest::Method::PUT,
            &format!("/mocks/{id}"),
            Some(json!({"content": "- endpoint:\n    path: hello\n"})),
        )
        .await;
    assert_eq!(status, 422, "an invalid edit: {refused}");
    assert_eq!(
        refused["error"]["details"]["diagnostics"][0]["line"], 2,
        "{refused}"
    );
    // A barrier instead of a pause: another mock published after the refused edit goes
    // live, so any config change the edit could have caused has been served by then.
    let (status, barrier) = client
        .post(
            "/mocks",
            json!({"workspace": handle, "name": "barrier", "content": hello("barrier")}),
        )
        .await;
    assert_eq!(status, 201, "create the barrier: {barrier}");
    let barrier_id = barrier["id"].as_str().expect("id").to_owned();
    let barrier_host = barrier["host"].as_str().expect("host").to_owned();
    let (status, _) = client
        .post(&format!("/mocks/{barrier_id}/publish"), json!({}))
        .await;
    assert_eq!(status, 200);
    until(
        mocks,
        &barrier_host,
        "/hello",
        LIVE_WITHIN,
        "the barrier",
        |s, _| s == 200,
    )
    .await;
    let (status, body) = get(mocks, &host, "/hello").await;
    assert_eq!(
        (status, body.contains("\"two\"")),
        (200, true),
        "the good version stays: {body}"
    );

    let (status, _) = client
        .post(&format!("/mocks/{id}/unpublish"), json!({}))
        .await;
    assert_eq!(status, 200);
    until(mocks, &host, "/hello", LIVE_WITHIN, "unpublish", |s, _| {
        s == 404
    })
    .await;

    let (status, _) = client
        .post(&format!("/mocks/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, 200);
    until(
        mocks,
        &host,
        "/hello",
        LIVE_WITHIN,
        "publish again",
        |s, _| s == 200,
    )
    .await;
    let (status, _) = client
        .send(reqwest::Method::DELETE, &format!("/mocks/{id}"), None)
        .await;
    assert_eq!(status, 204);
    until(mocks, &host, "/hello", LIVE_WITHIN, "delete", |s, _| {
        s == 404
    })
    .await;
    live
}

/// The newest modification time of the workspace's sources (`.rs`, `.toml`, `.sql`, and
/// `Cargo.lock`).
pub(crate) fn newest_source() -> std::time::SystemTime {
    fn walk(dir: &std::path::Path, newest: &mut std::time::SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    walk(&path, newest);
                }
            } else if (path
                .extension()
                .is_some_and(|e| e == "rs" || e == "toml" || e == "sql")
                || name == "Cargo.lock")
                && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            {
                *newest = (*newest).max(modified);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root");
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    walk(&root, &mut newest);
    newest
}

/// The binary `name` of package `package`, next to this test. `cargo test --workspace`
/// builds it with everything else; a run of this package alone may find it missing or
/// older than the sources, and builds it then.
pub(crate) fn binary(package: &str, name: &str) -> std::path::PathBuf {
    let dir = std::env::current_exe()
        .expect("the test's path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target directory")
        .to_path_buf();
    let path = dir.join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    if built.is_none_or(|built| built < newest_source()) {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "build {name}");
    }
    path
}

/// A mock for the request journal: an answer, a path with a parameter, a required query
/// parameter.
pub(crate) const JOURNAL_SPEC: &str = "- endpoint:\n    method: GET\n    path: /users/:id\n    \
    response:\n      status: 200\n      body: user\n- endpoint:\n    method: GET\n    \
    path: /search\n    query:\n      q: string\n    response:\n      status: 200\n      body: found\n";

/// `handle` signs up, makes and publishes a mock of [`JOURNAL_SPEC`], and sends it through
/// `mocks` a hit (with a secret header), a wrong method, a wrong segment and a search
/// without its `q`, then one request to each of `replicas` directly; the api must list
/// them all, newest first, within a second. Returns the client and the mock's id.
pub(crate) async fn journal_path(
    api: SocketAddr,
    mocks: SocketAddr,
    replicas: &[SocketAddr],
    handle: &str,
) -> (Client, String) {
    let mut client = Client::new(api);
    client.sign_up(handle).await;
    let (status, mock) = client
        .post(
            "/mocks",
            json!({"workspace": handle, "name": "journal", "content": JOURNAL_SPEC}),
        )
        .await;
    assert_eq!(status, 201, "create: {mock}");
    let id = mock["id"].as_str().expect("id").to_owned();
    let host = mock["host"].as_str().expect("host").to_owned();
    let (status, _) = client
        .post(&format!("/mocks/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, 200);
    until(
        mocks,
        &host,
        "/users/0",
        Duration::from_secs(10),
        "live",
        |s, _| s == 200,
    )
    .await;
    client
        .send(
            reqwest::Method::DELETE,
            &format!("/mocks/{id}/requests"),
            None,
        )
        .await;

    let secret = format!("Authorization: Bearer {MOCK_CALL_SECRET}\r\n");
    assert_eq!(
        get_with("127.0.0.2", mocks, &host, "/users/7", &secret)
            .await
            .0,
        200
    );
    let wrong_method = send_raw(mocks, &host, "DELETE /users/7").await;
    assert_eq!(wrong_method, 405);
    assert_eq!(get(mocks, &host, "/user/7").await.0, 404);
    let without_q = get(mocks, &host, "/search?page=2").await.0;
    for (i, replica) in replicas.iter().enumerate() {
        assert_eq!(
            get(*replica, &host, &format!("/users/replica-{i}")).await.0,
            200
        );
    }
    // Each request by method and path; a poll of the live check written after the clear
    // (the writers batch) may be listed too.
    let mut want: Vec<(&str, String)> = vec![
        ("GET", "/users/7".to_owned()),
        ("DELETE", "/users/7".to_owned()),
        ("GET", "/user/7".to_owned()),
        ("GET", "/search".to_owned()),
    ];
    want.extend((0..replicas.len()).map(|i| ("GET", format!("/users/replica-{i}"))));
    let sent = Instant::now();
    let page = loop {
        let (status, page) = client
            .send(reqwest::Method::GET, &format!("/mocks/{id}/requests"), None)
            .await;
        assert_eq!(status, 200, "{page}");
        let listed = page["requests"].as_array().is_some_and(|r| {
            want.iter().all(|(method, path)| {
                r.iter()
                    .any(|r| r["method"] == *method && r["path"] == *path)
            })
        });
        if listed {
            break page;
        }
        assert!(
            sent.elapsed() < LIVE_WITHIN,
            "the journal lists {want:?} within a second: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let requests = page["requests"].as_array().expect("requests");
    let find_sent = |method: &str, path: &str| {
        requests
            .iter()
            .find(|r| r["method"] == method && r["path"] == path)
            .unwrap_or_else(|| panic!("{method} {path} in {page}"))
    };
    let find = |path: &str| find_sent("GET", path);
    for i in 0..replicas.len() {
        assert_eq!(find(&format!("/users/replica-{i}"))["status"], 200);
    }
    let hit = find("/users/7");
    assert_eq!(hit["matched"], json!({"endpoint": 0, "line": 1}), "{hit}");
    assert_eq!(hit["headers"]["authorization"], "[redacted]", "{hit}");
    assert_eq!(
        hit["client"], "127.0.0.2",
        "the client, not the proxy: {hit}"
    );
    assert!(
        !page.to_string().contains("s3cret"),
        "no secret anywhere: {page}"
    );
    let wrong_method = find_sent("DELETE", "/users/7");
    assert_eq!(
        wrong_method["near_misses"][0]["differences"][0]["kind"],
        "method"
    );
    let wrong_segment = &find("/user/7")["near_misses"][0];
    assert_eq!(wrong_segment["path"], "/users/:id");
    assert_eq!(wrong_segment["differences"][0]["kind"], "segment");
    let search = find("/search");
    assert_eq!(search["status"], without_q);
    if without_q == 404 {
        assert_eq!(
            search["near_misses"][0]["differences"][0]["kind"],
            "query-param"
        );
    }
    (client, id)
}

/// Sends `request_line` (`METHOD /path`) with `Host: host`; the status.
async fn send_raw(address: SocketAddr, host: &str, request_line: &str) -> u16 {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return 0;
    };
    let request = format!("{request_line} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    String::from_utf8_lossy(&answer)
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A stateful mock: a sequence (item 0), a scenario that moves on its first answer, and a
/// plain `/ready` whose body says `word`, to tell when a revision is live without
/// touching the state.
pub(crate) fn stateful(word: &str) -> String {
    format!(
        "- endpoint:\n    path: /seq\n    sequence:\n      - body: '{{\"n\": 1}}'\n      \
         - body: '{{\"n\": 2}}'\n\
         - endpoint:\n    path: /cart\n    scenario: {{name: cart, when-state: started, set-state: has-items}}\n    \
         response:\n      body: '{{\"cart\": \"empty\"}}'\n\
         - endpoint:\n    path: /cart\n    scenario: {{name: cart, when-state: has-items}}\n    \
         response:\n      body: '{{\"cart\": \"full\"}}'\n\
         - endpoint:\n    path: /ready\n    response:\n      body: {word}\n"
    )
}

/// The name the mock servers keep [`stateful`]'s sequence under.
pub(crate) const STATEFUL_SEQUENCE: &str = "GET /seq (item 0)";

/// `GET path` on `host` through `address`, expecting a 200 with a JSON body.
async fn json_from(address: SocketAddr, host: &str, path: &str) -> Value {
    let (status, body) = get(address, host, path).await;
    assert_eq!(status, 200, "GET {path} through {address}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON from {path}: {body}"))
}

/// `handle` publishes [`stateful`]; its sequence and scenario advance through `mocks`, or
/// one request through each of `replicas` when there are some (one state for them all);
/// the api shows the state, resets it, and a new revision going live starts it afresh.
pub(crate) async fn state_path(
    api: SocketAddr,
    mocks: SocketAddr,
    replicas: &[SocketAddr],
    handle: &str,
) {
    let mut client = Client::new(api);
    client.sign_up(handle).await;
    let (status, mock) = client
        .post(
            "/mocks",
            json!({"workspace": handle, "name": "stateful", "content": stateful("one")}),
        )
        .await;
    assert_eq!(status, 201, "create: {mock}");
    let id = mock["id"].as_str().expect("id").to_owned();
    let host = mock["host"].as_str().expect("host").to_owned();
    let (status, _) = client
        .post(&format!("/mocks/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, 200);
    let servers: Vec<SocketAddr> = match replicas {
        [] => vec![mocks, mocks],
        some => some.to_vec(),
    };
    for server in servers.iter().chain([&mocks]) {
        until(
            *server,
            &host,
            "/ready",
            Duration::from_secs(10),
            "live",
            |s, b| s == 200 && b == "one",
        )
        .await;
    }
    let numbers = |servers: &[SocketAddr]| {
        let host = host.clone();
        let servers = servers.to_vec();
        async move {
            let mut seen = Vec::new();
            for server in servers {
                seen.push(json_from(server, &host, "/seq").await["n"].clone());
            }
            seen
        }
    };
    let want: Vec<Value> = (1..=servers.len()).map(|n| json!(n.min(2))).collect();
    assert_eq!(
        numbers(&servers).await,
        want,
        "one sequence for every replica"
    );
    assert_eq!(
        json_from(mocks, &host, "/cart").await,
        json!({"cart": "empty"})
    );
    assert_eq!(
        json_from(mocks, &host, "/cart").await,
        json!({"cart": "full"})
    );

    let state_url = format!("/mocks/{id}/state");
    let (status, state) = client.send(reqwest::Method::GET, &state_url, None).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["revision"], mock["revision"], "{state}");
    assert_eq!(state["scenarios"], json!({"cart": "has-items"}), "{state}");
    assert_eq!(
        state["sequences"],
        json!({STATEFUL_SEQUENCE: servers.len()}),
        "{state}"
    );
    reset_and_restart(&client, &id, mocks, &host).await;
    new_revision_restarts(&client, &id, mocks, &host).await;
}

/// The api's reset empties the state: the sequence and the scenario start again.
async fn reset_and_restart(client: &Client, id: &str, mocks: SocketAddr, host: &str) {
    let (status, _) = client
        .send(
            reqwest::Method::POST,
            &format!("/mocks/{id}/state/reset"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, state) = client
        .send(reqwest::Method::GET, &format!("/mocks/{id}/state"), None)
        .await;
    assert_eq!(
        state,
        json!({"revision": null, "scenarios": {}, "sequences": {}, "resources": {}, "bytes": 0})
    );
    assert_eq!(json_from(mocks, host, "/seq").await, json!({"n": 1}));
    assert_eq!(
        json_from(mocks, host, "/cart").await,
        json!({"cart": "empty"})
    );
    assert_eq!(json_from(mocks, host, "/seq").await, json!({"n": 2}));
}

/// An edit goes live as a new revision, which starts the state afresh.
async fn new_revision_restarts(client: &Client, id: &str, mocks: SocketAddr, host: &str) {
    let (status, edited) = client
        .send(
            reqwest::Method::PUT,
            &format!("/mocks/{id}"),
            Some(json!({"content": stateful("two")})),
        )
        .await;
    assert_eq!(status, 200, "edit: {edited}");
    until(mocks, host, "/ready", LIVE_WITHIN, "the edit", |s, b| {
        s == 200 && b == "two"
    })
    .await;
    assert_eq!(json_from(mocks, host, "/seq").await, json!({"n": 1}));
    assert_eq!(
        json_from(mocks, host, "/cart").await,
        json!({"cart": "empty"})
    );
    let (_, state) = client
        .send(reqwest::Method::GET, &format!("/mocks/{id}/state"), None)
        .await;
    assert_eq!(state["revision"], edited["revision"], "{state}");
    assert_eq!(state["sequences"], json!({STATEFUL_SEQUENCE: 1}), "{state}");
}
