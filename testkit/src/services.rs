//! The real servers tests run against, named by the environment: a PostgreSQL admin URL
//! (`MOCLOJER_TEST_DATABASE_URL`), a Redis (`MOCLOJER_TEST_REDIS_URL`) and an S3 server
//! (`MOCLOJER_TEST_S3_URL`, moto in CI, credentials `testing`/`testing`).
//!
//! A test asks for what it needs with [`database_url`], [`redis_url`], [`s3_url`],
//! [`all_servers`] or, for anything else, [`required_env`]: when a variable is unset the test
//! prints one line to stderr and passes, except under `CI=true`, where it fails — a test
//! that needs a service never passes silently in CI. Each test works in a space of its own
//! ([`TestDb`], [`TestStream`], a bucket from [`unique_bucket`]) removed afterwards.

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::unique_suffix;

/// The variable naming a PostgreSQL admin URL that may create and drop databases.
pub const DATABASE_VAR: &str = "MOCLOJER_TEST_DATABASE_URL";
/// The variable naming a Redis server.
pub const REDIS_VAR: &str = "MOCLOJER_TEST_REDIS_URL";
/// The variable naming an S3 server's endpoint.
pub const S3_VAR: &str = "MOCLOJER_TEST_S3_URL";
/// The S3 test server's access key and secret.
pub const S3_TEST_CREDENTIALS: (&str, &str) = ("testing", "testing");

/// Whether this is CI (`CI=true`), where a test that lacks what it needs fails instead of
/// skipping.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The value of `var`; `None` (after one stderr line) when it is unset outside CI.
///
/// # Panics
/// When it is unset under `CI=true`: tests needing it must not pass silently there.
#[track_caller]
pub fn required_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value.trim().to_owned()),
        _ => {
            assert!(
                !under_ci(),
                "{var} is not set: under CI=true it must name {what}"
            );
            skip_notice(var, what);
            None
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped test says so, once, where cargo test shows it"
)]
fn skip_notice(var: &str, what: &str) {
    eprintln!("skipping: {var} is not set ({what})");
}

/// The PostgreSQL admin URL [`DATABASE_VAR`] names, or `None` when skipped.
///
/// # Panics
/// As [`required_env`].
#[track_caller]
pub fn database_url() -> Option<String> {
    required_env(
        DATABASE_VAR,
        "a PostgreSQL admin URL, e.g. postgres://postgres@127.0.0.1:5432/test",
    )
}

/// The Redis URL [`REDIS_VAR`] names, or `None` when skipped.
///
/// # Panics
/// As [`required_env`].
#[track_caller]
pub fn redis_url() -> Option<String> {
    required_env(REDIS_VAR, "a Redis server, e.g. redis://127.0.0.1:6379")
}

/// The S3 endpoint [`S3_VAR`] names, or `None` when skipped.
///
/// # Panics
/// As [`required_env`].
#[track_caller]
pub fn s3_url() -> Option<String> {
    required_env(
        S3_VAR,
        "an S3 server such as moto, e.g. http://127.0.0.1:9000",
    )
}

/// The three servers' URLs (PostgreSQL admin, Redis, S3), or `None` when skipped; each
/// unset variable says so in a line of its own.
///
/// # Panics
/// As [`required_env`].
#[track_caller]
pub fn all_servers() -> Option<(String, String, String)> {
    let database = database_url();
    let redis = redis_url();
    let s3 = s3_url();
    Some((database?, redis?, s3?))
}

/// A database of its own on the test server, `moclojer_t_<random>`, dropped (best effort)
/// when this value goes, even when the test panicked.
#[derive(Debug)]
pub struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// A new, empty database on the server `admin` names.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn create(admin: &str) -> Self {
        let name = format!("moclojer_t_{}", unique_suffix());
        let mut conn = PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("connect to the server {DATABASE_VAR} names: {e}"));
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0"
        )))
        .await
        .unwrap_or_else(|e| panic!("create the test database {name}: {e}"));
        conn.close().await.ok();
        let mut url = url::Url::parse(admin).expect("the admin url parses");
        url.set_path(&format!("/{name}"));
        Self {
            admin: admin.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // The test's runtime may be gone or busy: drop on a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let dropped = conn.execute(AssertSqlSafe(sql)).await.ok();
                conn.close().await.ok();
                dropped
            })
        })
        .join();
        // Best effort: a database left behind is harmless and named as a test's.
        drop(dropped);
    }
}

/// A Redis stream of its own, `moclojer:test:<what>:<random>`, deleted (best effort,
/// with every key under it, such as dead-letter streams) when this value goes.
#[derive(Debug)]
pub struct TestStream {
    url: String,
    name: String,
}

impl TestStream {
    /// A fresh stream name on the Redis at `url`.
    pub fn new(url: &str, what: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: format!("moclojer:test:{what}:{}", unique_suffix()),
        }
    }

    /// The stream's key.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let url = self.url.clone();
        let stream = self.name.clone();
        let deleted = std::thread::spawn(move || {
            use fred::interfaces::ClientLike;
            use fred::types::{ClusterHash, CustomCommand, Value};
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let config = fred::types::config::Config::from_url(&url).ok()?;
                let client = fred::clients::Client::new(config, None, None, None);
                client.init().await.ok()?;
                let keys: Value = client
                    .custom(
                        CustomCommand::new_static("KEYS", ClusterHash::Random, false),
                        vec![Value::from(format!("{stream}*"))],
                    )
                    .await
                    .ok()?;
                if let Value::Array(keys) = keys
                    && !keys.is_empty()
                {
                    let _: Option<Value> = client
                        .custom(
                            CustomCommand::new_static("DEL", ClusterHash::FirstKey, false),
                            keys,
                        )
                        .await
                        .ok();
                }
                client.quit().await.ok()
            })
        })
        .join();
        drop(deleted);
    }
}

/// A fresh bucket name: `moclojer-<what>-<random>`.
pub fn unique_bucket(what: &str) -> String {
    format!("moclojer-{what}-{}", unique_suffix())
}
