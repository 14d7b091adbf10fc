//! An api on a real socket over an in-memory SQLite database, and a small client.

use std::net::SocketAddr;
use std::sync::Arc;

use argon2::Params;
use moclojer_api::{AuthMode, MocksUrl, Passwords, State};
use moclojer_domain::Zone;
use moclojer_ports::{DatabasePorts, SystemClock};
use moclojer_sqlite::SqliteDatabase;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A running api.
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) database: SqliteDatabase,
    pub(crate) client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A signed-up user with a handle.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) token: String,
    pub(crate) id: String,
}

impl Api {
    pub(crate) async fn start() -> Self {
        Self::start_with(AuthMode::Local).await
    }

    pub(crate) async fn start_with(auth: AuthMode) -> Self {
        Self::start_full(auth, |_| {}).await
    }

    /// An api with local sign-in serving the web interface built in `web_dir`.
    pub(crate) async fn start_with_web(web_dir: Option<std::path::PathBuf>) -> Self {
        Self::start_full(AuthMode::Local, |state| state.web_dir = web_dir).await
    }

    /// An api signing in by `auth`, its state adjusted by `configure`.
    pub(crate) async fn start_full(auth: AuthMode, configure: impl FnOnce(&mut State)) -> Self {
        let database = SqliteDatabase::in_memory().await.expect("database");
        let mut state = State::over(
            DatabasePorts::of(&database),
            auth,
            Zone::parse("localhost").expect("zone"),
            MocksUrl {
                scheme: "http".to_owned(),
                port: Some(8080),
            },
            // Cheap parameters: the tests sign up many users.
            Passwords::with_params(Params::new(1024, 1, 1, None).expect("params")),
            Arc::new(SystemClock),
        );
        configure(&mut state);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let endpoint = moclojer_api::endpoint(Arc::new(state));
        tokio::spawn(async move {
            moclojer_api::serve(listener, endpoint, async move {
                stopped.await.ok();
            })
            .await
            .expect("serve");
        });
        Self {
            base: format!("http://{addr}"),
            database,
            client: reqwest::Client::new(),
            _stop: stop,
        }
    }

    /// Sends `body` (JSON) to `path` with `token`; returns the status and the JSON body
    /// (`null` when empty).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}"))
        };
        (status, value)
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Signs up `handle`@example.com and takes the handle.
    pub(crate) async fn account(&self, handle: &str) -> Account {
        let email = format!("{handle}@example.com");
        let (status, body) = self
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, 201, "signup: {body}");
        let token = body["token"].as_str().expect("token").to_owned();
        let (status, me) = self
            .put("/api/v1/me", Some(&token), json!({"handle": handle}))
            .await;
        assert_eq!(status, 200, "choose handle: {me}");
        assert_eq!(me["email"], email);
        Account {
            token,
            id: me["id"].as_str().expect("id").to_owned(),
        }
    }

    /// Makes a mock; returns its JSON.
    pub(crate) async fn mock(&self, owner: &Account, workspace: &str, name: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/mocks",
                Some(&owner.token),
                json!({"workspace": workspace, "name": name}),
            )
            .await;
        assert_eq!(status, 201, "create mock: {body}");
        body
    }
}

/// Asserts an error envelope with `status` and `code`.
#[track_caller]
pub(crate) fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "status of {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "code of {}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message in {}",
        got.1
    );
}

pub(crate) const HELLO: &str = "- endpoint:\n    method: GET\n    path: /hello\n    response:\n      status: 200\n      body: '{\"hello\": \"world\"}'\n";
