//! The HTTP server around the engine: connections, body limits, timeouts, graceful
//! shutdown, and the engine swapped atomically on reload, whole ([`Serving::One`]) or one
//! host at a time ([`Serving::PerHost`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use moclojer_domain::template::Env;
use moclojer_ports::{HEALTH_CHECK_HOST, MAX_URI_BYTES};
use tokio::net::TcpListener;

use crate::engine::{Engine, EngineOptions, unknown_host, unserved_host};
use crate::hosts::HostEngines;
use crate::journal::{Recorder, Seen};

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The engine currently serving; a reload stores a new one, and requests in flight finish
/// on the one they started with.
pub type SharedEngine = Arc<ArcSwap<Engine>>;

/// What a server answers requests from.
#[derive(Clone)]
pub enum Serving {
    /// One engine for every host: standalone mode, or a cloud server on the unified config.
    One(SharedEngine),
    /// One engine per host (cloud mode): a request goes to its host's engine, and a host no
    /// engine serves gets [`unknown_host`] at once, its body unread.
    PerHost {
        /// The engine of each host served.
        hosts: Arc<HostEngines>,
        /// The options a host no engine serves is answered with (mode, CORS); the engines
        /// are usually built on this same value, with [`Engine::build_shared`].
        options: Arc<EngineOptions>,
    },
}

impl From<SharedEngine> for Serving {
    fn from(engine: SharedEngine) -> Self {
        Self::One(engine)
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(engine) => f
                .debug_tuple("One")
                .field(&format_args!(
                    "{} endpoints",
                    engine.load().endpoint_count()
                ))
                .finish(),
            Self::PerHost { hosts, options } => f
                .debug_struct("PerHost")
                .field("hosts", hosts)
                .field("mode", &options.mode)
                .finish_non_exhaustive(),
        }
    }
}

/// Whether this server is ready to take traffic, as the proxy's health check asks it (a
/// `GET` for [`HEALTH_CHECK_HOST`]): a file-mode server is ready once it serves; a cloud
/// one once it has read the object store (a first generation loaded, or none there yet).
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Ready from the start.
    #[must_use]
    pub fn ready() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Not ready until [`Readiness::set_ready`].
    #[must_use]
    pub fn not_yet() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }

    /// From now on, ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it is ready.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// The health check's answer: 200, or 503 with the reason.
    fn answer(&self) -> http::Response<Full<Bytes>> {
        let (status, body) = if self.is_ready() {
            (StatusCode::OK, r#"{"status":"ok"}"#)
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable","reason":"the configuration has not been read yet"}"#,
            )
        };
        let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Whether a request asks for [`HEALTH_CHECK_HOST`] (its `Host`, or its absolute-form
/// authority), with or without a port.
fn is_health_check<B>(request: &http::Request<B>) -> bool {
    let host = request.uri().host().or_else(|| {
        request
            .headers()
            .get(http::header::HOST)
            // Shorter than the name: not it (most requests stop here).
            .filter(|v| v.len() >= HEALTH_CHECK_HOST.len())
            .and_then(|v| v.to_str().ok())
            .map(|v| v.rsplit_once(':').map_or(v, |(name, _)| name))
    });
    host.is_some_and(|h| h.eq_ignore_ascii_case(HEALTH_CHECK_HOST))
}

/// The real clock and randomness, for templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    fn uuid(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn random(&self) -> u64 {
        fastrand::u64(..)
    }
}

/// Answers one request: finds the engine (the current one, or its host's), reads the body
/// within that engine's limit, then asks it.
pub async fn handle(
    serving: &Serving,
    request: http::Request<Incoming>,
    remote: SocketAddr,
) -> http::Response<Full<Bytes>> {
    handle_recorded(serving, request, remote, None).await
}

/// [`handle`], handing what was asked and answered to `recorder` when there is one.
pub(crate) async fn handle_recorded(
    serving: &Serving,
    request: http::Request<Incoming>,
    remote: SocketAddr,
    recorder: Option<&Recorder>,
) -> http::Response<Full<Bytes>> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |t| t.as_str().len());
    if target > MAX_URI_BYTES {
        return json_error(
            StatusCode::URI_TOO_LONG,
            &format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        );
    }
    match serving {
        Serving::One(engine) => answer(engine.load_full(), request, remote, recorder).await,
        Serving::PerHost { hosts, options } => {
            let Ok(host) = crate::request::request_host(request.uri(), request.headers()) else {
                let (parts, _unread) = request.into_parts();
                return unknown_host(&parts, options).map(Full::new);
            };
            match hosts.get(&host) {
                Some(engine) => answer(engine, request, remote, recorder).await,
                None => {
                    let (parts, _unread) = request.into_parts();
                    unserved_host(&parts, options).map(Full::new)
                }
            }
        }
    }
}

/// Answers one request with `engine`: a websocket handshake, or the body read within the
/// limit and the engine's answer, recorded when there is a `recorder`.
async fn answer(
    engine: Arc<Engine>,
    mut request: http::Request<Incoming>,
    remote: SocketAddr,
    recorder: Option<&Recorder>,
) -> http::Response<Full<Bytes>> {
    if let Some(response) = upgrade(&engine, &mut request) {
        return response;
    }
    let limit = engine.options().max_body_bytes;
    let (parts, body) = request.into_parts();
    let body = if body.is_end_stream() {
        // Nothing to read: a `GET`, or a `Content-Length: 0`.
        Bytes::new()
    } else {
        match read_body(&parts, body, limit).await {
            Ok(body) => body,
            Err(refused) => return refused,
        }
    };
    let seen = recorder.and_then(|recorder| {
        let host = crate::request::request_host(&parts.uri, &parts.headers)
            .ok()
            .or_else(|| {
                recorder
                    .is_single()
                    .then_some(std::borrow::Cow::Borrowed(""))
            })?;
        Some(Seen::new(&host, &parts, &body, remote, &engine))
    });
    let reply = engine.handle(&parts, body, remote, &SystemEnv).await;
    if let (Some(recorder), Some(seen)) = (recorder, seen) {
        recorder.record(seen, reply.status().as_u16(), engine);
    }
    reply.map(Full::new)
}

/// The request's body, read up to `limit` bytes; 413 past it, 400 when it cannot be read.
async fn read_body(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, http::Response<Full<Bytes>>> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(_) => Err(plain(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}

/// Answers a websocket handshake for a websocket endpoint: 101, and the connection is
/// served in the background once hyper hands it over.
fn upgrade(
    engine: &Arc<Engine>,
    request: &mut http::Request<Incoming>,
) -> Option<http::Response<Full<Bytes>>> {
    use http::header::{
        CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
    };
    let headers = request.headers();
    let has = |name: http::header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
    };
    if request.method() != http::Method::GET
        || !has(UPGRADE, "websocket")
        || !has(CONNECTION, "upgrade")
    {
        return None;
    }
    let (socket, context) = engine.socket_for(request.uri(), request.headers())?;
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Some(plain(
            StatusCode::BAD_REQUEST,
            "unsupported websocket version",
        ));
    }
    let key = headers.get(SEC_WEBSOCKET_KEY)?.as_bytes().to_owned();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(request);
    let limits = engine.options().render;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                socket
                    .serve(upgraded, context, Arc::new(SystemEnv), limits)
                    .await
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = http::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, http::HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, http::HeaderValue::from_static("Upgrade"));
    if let Ok(value) = http::HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    Some(response)
}

fn too_large(limit: usize) -> http::Response<Full<Bytes>> {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// `{"error": message}` with `status`.
fn json_error(status: StatusCode, message: &str) -> http::Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: StatusCode, message: &'static str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response
}

/// What every connection of [`serve_ready`] answers from, behind one `Arc` (one count
/// per request).
struct Shared {
    serving: Serving,
    readiness: Readiness,
    recorder: Option<Recorder>,
}

/// Connection-level settings of [`serve_with`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send its request headers; then the connection is
    /// closed (slow-header clients do not hold a connection forever).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Where requests are recorded; none by default.
    pub journal: Option<Recorder>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
            journal: None,
        }
    }
}

/// Serves `engine` (a [`SharedEngine`], or any [`Serving`]) on `listener` until `shutdown`
/// completes, then lets requests in flight finish (up to [`SHUTDOWN_GRACE`]).
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve(
    listener: TcpListener,
    engine: impl Into<Serving>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, engine, ServeOptions::default(), shutdown).await
}

/// [`serve`] with explicit connection settings.
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve_with(
    listener: TcpListener,
    engine: impl Into<Serving>,
    settings: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_ready(listener, engine, settings, Readiness::ready(), shutdown).await
}

/// [`serve_with`], answering the proxy's health check from `readiness`.
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve_ready(
    listener: TcpListener,
    engine: impl Into<Serving>,
    settings: ServeOptions,
    readiness: Readiness,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        serving: engine.into(),
        readiness,
        recorder: settings.journal.clone(),
    });
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                stream.set_nodelay(true).ok();
                let shared = Arc::clone(&shared);
                let service = hyper::service::service_fn(move |request| {
                    let shared = Arc::clone(&shared);
                    async move {
                        if is_health_check(&request) {
                            return Ok::<_, Infallible>(shared.readiness.answer());
                        }
                        let recorder = shared.recorder.as_ref();
                        Ok::<_, Infallible>(handle_recorded(&shared.serving, request, remote, recorder).await)
                    }
                });
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, %remote, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(settings.shutdown_grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
    Ok(())
}
