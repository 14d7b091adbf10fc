//! Wiring for cloud mode: which object store `--store` names, opening it, and serving what
//! it holds.
//!
//! Two forms are understood:
//!
//! - `file:///path/to/dir`: a folder ([`FsObjectStore`]), for development and tests;
//! - `s3://bucket[/prefix]?endpoint=http://...&region=...`: a bucket on S3 or any
//!   S3-compatible server ([`S3ObjectStore`]; the options are those of
//!   [`S3Config::from_url`]). The credentials never come from the URL: the binary reads them
//!   from `MOCLOJER_S3_ACCESS_KEY` and `MOCLOJER_S3_SECRET_KEY`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use moclojer_domain::EventKind;
use moclojer_domain::spec::{Limits, Mode, Spec};
use moclojer_fs::FsObjectStore;
use moclojer_ports::{EventQueue, ObjectStore, PortError};
use moclojer_s3::{S3Config, S3ObjectStore, Secret};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cloud::{CloudSource, follow};
use crate::engine::{Engine, EngineOptions};
use crate::server::{Readiness, ServeOptions, SharedEngine, serve_ready};

/// The environment variable holding the S3 access key id.
pub const S3_ACCESS_KEY_VAR: &str = "MOCLOJER_S3_ACCESS_KEY";
/// The environment variable holding the S3 secret key.
pub const S3_SECRET_KEY_VAR: &str = "MOCLOJER_S3_SECRET_KEY";

/// The object store a `--store` URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on this machine.
    Dir(PathBuf),
    /// An S3 bucket; its credentials are empty until [`open_store`] gets them.
    S3(S3Config),
}

impl std::fmt::Display for StoreLocation {
    /// A form safe to log: the folder, or the bucket, prefix and endpoint (never
    /// credentials).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "folder {}", path.display()),
            Self::S3(config) => {
                write!(f, "s3 bucket {}", config.bucket)?;
                if let Some(prefix) = &config.prefix {
                    write!(f, " under {prefix}")?;
                }
                write!(f, " at {} ({})", config.endpoint, config.region)
            }
        }
    }
}

/// Why a `--store` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--store {url:?}: {reason}")]
pub struct StoreUrlError {
    url: String,
    reason: String,
}

impl StoreUrlError {
    fn new(url: &str, reason: impl Into<String>) -> Self {
        Self {
            url: redact(url),
            reason: reason.into(),
        }
    }

    /// What is wrong with the URL.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// `raw` without the user name and password it may hold, so an error can be logged.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            if url.set_username("").is_err() || url.set_password(None).is_err() {
                return "<a url with credentials>".to_owned();
            }
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) if raw.contains('@') => "<not a url>".to_owned(),
        Err(_) => raw.to_owned(),
    }
}

impl StoreLocation {
    /// Reads a `--store` URL: `file:///absolute/dir` or `s3://bucket[/prefix][?options]`.
    ///
    /// # Errors
    /// A [`StoreUrlError`] saying what is wrong: another scheme, a file URL naming a host
    /// or a relative path, or an S3 URL [`S3Config::from_url`] refuses (credentials in it
    /// included).
    pub fn parse(raw: &str) -> Result<Self, StoreUrlError> {
        let url = url::Url::parse(raw).map_err(|e| {
            StoreUrlError::new(
                raw,
                format!("not a URL ({e}); use file:///path/to/dir or s3://bucket?endpoint=..."),
            )
        })?;
        match url.scheme() {
            "file" => {
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(StoreUrlError::new(
                        raw,
                        "a file URL takes no query or fragment",
                    ));
                }
                match url.host_str() {
                    None | Some("" | "localhost") => {}
                    Some(host) => {
                        return Err(StoreUrlError::new(
                            raw,
                            format!(
                                "a file URL names a folder on this machine, not on {host:?}; for a path use three slashes: file:///path/to/dir"
                            ),
                        ));
                    }
                }
                let path = url
                    .to_file_path()
                    .map_err(|()| StoreUrlError::new(raw, "it does not name an absolute path"))?;
                if url.path() == "/" {
                    return Err(StoreUrlError::new(
                        raw,
                        "the root folder is not an object store; name a folder",
                    ));
                }
                Ok(Self::Dir(path))
            }
            "s3" => {
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(StoreUrlError::new(
                        raw,
                        format!(
                            "credentials do not belong in the URL (it ends up in logs); set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                        ),
                    ));
                }
                S3Config::from_url(raw, "", "").map(Self::S3).map_err(|e| {
                    let message = e.message();
                    let prefix = format!("{raw:?} is not an s3 url: ");
                    StoreUrlError::new(raw, message.strip_prefix(&prefix).unwrap_or(message))
                })
            }
            other => Err(StoreUrlError::new(
                raw,
                format!(
                    "the scheme {other:?} is not a store; use file:///path/to/dir or s3://bucket?endpoint=..."
                ),
            )),
        }
    }
}

/// The credentials of an S3 store. Their `Debug` form hides the secret.
#[derive(Debug, Clone)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
}

impl S3Credentials {
    /// Credentials from an access key id and a secret key.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key.into()),
        }
    }
}

/// Opens the store `location` names; an S3 store needs `credentials`. No request is sent
/// to S3 here: wrong credentials or a missing bucket show at the first read.
///
/// # Errors
/// `Invalid` when an S3 store has no (or empty) credentials or a malformed configuration;
/// `Unavailable` when a folder cannot be used.
pub async fn open_store(
    location: &StoreLocation,
    credentials: Option<S3Credentials>,
) -> Result<Arc<dyn ObjectStore>, PortError> {
    match location {
        StoreLocation::Dir(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || FsObjectStore::open(path))
                .await
                .map_err(|e| PortError::internal("opening the folder failed").with_source(e))??;
            Ok(Arc::new(store))
        }
        StoreLocation::S3(config) => {
            let Some(credentials) = credentials else {
                return Err(PortError::invalid(format!(
                    "an s3 store needs credentials: set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                )));
            };
            let mut config = config.clone();
            config.access_key = credentials.access_key;
            config.secret_key = credentials.secret_key;
            Ok(Arc::new(S3ObjectStore::connect(&config).await?))
        }
    }
}

/// An engine with no routes: what a cloud server serves until the store has a manifest
/// (every host gets 404).
///
/// # Panics
/// Never: an empty spec always builds.
pub fn empty_engine(options: &EngineOptions) -> SharedEngine {
    let options = cloud_options(options);
    #[allow(clippy::expect_used, reason = "an empty spec has nothing to refuse")]
    let engine = Engine::build(Spec::default(), options).expect("an empty spec builds");
    Arc::new(ArcSwap::from_pointee(engine))
}

/// `options` as cloud mode uses them: [`Mode::Cloud`] and no spec folder, so no tenant can
/// read local files.
pub fn cloud_options(options: &EngineOptions) -> EngineOptions {
    EngineOptions {
        mode: Mode::Cloud,
        spec_dir: None,
        ..options.clone()
    }
}

/// Where a mock server hears `config.published`: a queue and its own consumer group.
/// Every replica needs its own group, since every replica must reload.
#[derive(Debug, Clone)]
pub struct ConfigEvents {
    /// The queue the generator's events reach.
    pub queue: Arc<dyn EventQueue>,
    /// This replica's consumer group (1 to 64 of `[a-z0-9_-]`).
    pub group: String,
}

/// How long one wait for events lasts before the listener looks at `stop` again.
const EVENT_WAIT: Duration = Duration::from_secs(1);

/// Wakes `trigger` whenever `config.published` arrives, until `stop`; acks everything it
/// hears. A queue that fails is retried every few seconds: polling keeps the mock server
/// current meanwhile.
pub async fn listen_for_configs(
    events: ConfigEvents,
    trigger: Arc<Notify>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let ConfigEvents { queue, group } = events;
    loop {
        let step = async {
            queue.ensure_group(&group).await?;
            let batch = queue.receive(&group, &group, 64, EVENT_WAIT).await?;
            if batch
                .iter()
                .any(|d| matches!(d.event.kind, EventKind::ConfigPublished { .. }))
            {
                trigger.notify_one();
            }
            let ids: Vec<_> = batch.into_iter().map(|d| d.id).collect();
            if !ids.is_empty() {
                queue.ack(&group, &ids).await?;
            }
            Ok::<(), PortError>(())
        };
        let failed = tokio::select! {
            result = step => result.err(),
            () = &mut stop => return,
        };
        if let Some(e) = failed {
            tracing::warn!(error = %e, group, "cannot hear config events; polling meanwhile");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
                () = &mut stop => return,
            }
        }
    }
}

/// Serves on `listener` what `store` holds, following it every `interval` (see
/// [`follow`]), until `shutdown` completes; then requests in flight finish as in
/// [`serve`](crate::server::serve). Until the store has a manifest every host gets 404.
/// The proxy's health check ([`Readiness`]) is answered 503 until the store has been read
/// once.
///
/// # Errors
/// Never in practice (as [`serve`](crate::server::serve)).
pub async fn serve_cloud(
    listener: TcpListener,
    store: Arc<dyn ObjectStore>,
    options: EngineOptions,
    limits: Limits,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_cloud_with_events(listener, store, options, limits, interval, None, shutdown).await
}

/// [`serve_cloud`], also reloading as soon as `events` hears `config.published`.
///
/// # Errors
/// As [`serve`](crate::server::serve).
pub async fn serve_cloud_with_events(
    listener: TcpListener,
    store: Arc<dyn ObjectStore>,
    options: EngineOptions,
    limits: Limits,
    interval: Duration,
    events: Option<ConfigEvents>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let options = cloud_options(&options);
    let engine = empty_engine(&options);
    let stop = Arc::new(Notify::new());
    let readiness = Readiness::not_yet();
    let source = CloudSource::new(store).with_readiness(readiness.clone());
    let stop_listening = Arc::new(Notify::new());
    let listening = events.map(|events| {
        let trigger = source.reload_now();
        let stop = Arc::clone(&stop_listening);
        tokio::spawn(listen_for_configs(events, trigger, async move {
            stop.notified().await;
        }))
    });
    let follower = tokio::spawn(follow(
        source,
        Arc::clone(&engine),
        options,
        limits,
        interval,
        {
            let stop = Arc::clone(&stop);
            async move { stop.notified().await }
        },
    ));
    let served = serve_ready(
        listener,
        engine,
        ServeOptions::default(),
        readiness,
        shutdown,
    )
    .await;
    stop.notify_one();
    stop_listening.notify_one();
    if let Err(e) = follower.await {
        tracing::warn!(error = %e, "the store follower ended abnormally");
    }
    if let Some(listening) = listening {
        listening.await.ok();
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_name_absolute_folders() {
        assert_eq!(
            StoreLocation::parse("file:///srv/moclojer/store"),
            Ok(StoreLocation::Dir(PathBuf::from("/srv/moclojer/store")))
        );
        assert_eq!(
            StoreLocation::parse("file://localhost/srv/store"),
            Ok(StoreLocation::Dir(PathBuf::from("/srv/store")))
        );
        assert_eq!(
            StoreLocation::parse("file:///tmp/with%20space"),
            Ok(StoreLocation::Dir(PathBuf::from("/tmp/with space")))
        );
        let refused = [
            ("file://relative/dir", "three slashes"),
            ("file://example.com/srv", "not on \"example.com\""),
            ("file:///", "the root folder"),
            ("file:///srv?x=1", "no query"),
            ("file:///srv#x", "no query or fragment"),
        ];
        for (raw, reason) in refused {
            let err = StoreLocation::parse(raw).expect_err(raw);
            assert!(err.reason().contains(reason), "{raw}: {err}");
        }
    }

    #[test]
    fn s3_urls_become_configurations_without_credentials() {
        let Ok(StoreLocation::S3(config)) = StoreLocation::parse(
            "s3://moclojer/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1",
        ) else {
            panic!("an s3 url");
        };
        assert_eq!(config.bucket, "moclojer");
        assert_eq!(config.prefix.as_deref(), Some("prod"));
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(config.region, "eu-west-1");
        assert!(config.access_key.is_empty() && config.secret_key.expose().is_empty());

        let refused = [
            ("s3://user:pass@bucket", "credentials do not belong"),
            ("s3://bucket?colour=blue", "unknown option"),
            ("s3://bucket?region=a&region=b", "given twice"),
            ("s3://", "names no bucket"),
        ];
        for (raw, reason) in refused {
            let err = StoreLocation::parse(raw).expect_err(raw);
            assert!(err.reason().contains(reason), "{raw}: {err}");
            assert!(!err.to_string().contains("pass"), "{err}");
        }
    }

    #[test]
    fn other_forms_are_refused_with_a_hint() {
        for raw in ["/srv/store", "store", "http://127.0.0.1:9000/bucket", ""] {
            let err = StoreLocation::parse(raw).expect_err(raw);
            assert!(err.reason().contains("file:///path/to/dir"), "{raw}: {err}");
        }
    }

    #[tokio::test]
    async fn opening_checks_what_the_url_cannot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = StoreLocation::Dir(dir.path().join("store"));
        let store = open_store(&location, None).await.expect("a folder store");
        assert!(store.list("").await.expect("list").is_empty());

        let s3 = StoreLocation::parse("s3://moclojer?endpoint=http://127.0.0.1:1").expect("url");
        let err = open_store(&s3, None).await.expect_err("no credentials");
        assert!(err.message().contains(S3_ACCESS_KEY_VAR), "{err}");
        let secret = "do-not-print-me";
        let err = open_store(
            &s3,
            Some(S3Credentials {
                access_key: String::new(),
                secret_key: Secret::new(secret),
            }),
        )
        .await
        .expect_err("empty access key");
        assert!(!format!("{err} {err:?}").contains(secret));
    }
}
