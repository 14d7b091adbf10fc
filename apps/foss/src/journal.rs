//! Recording requests into a [`RequestJournal`] without slowing answers down.
//!
//! After answering, the server hands what it saw of the request and the status it answered
//! to a [`Recorder`]: a bounded channel that never waits. A writer task takes what has
//! piled up (up to [`JOURNAL_BATCH`] requests), makes their [`RequestRecord`]s (near misses
//! included, off the response path) and appends them in one call; once it has drained the
//! channel it lingers [`JOURNAL_LINGER`], so under load it wakes once per interval, not once
//! per request. When the channel is full the record is dropped and counted; so is a batch
//! the journal refused. Drops are logged at most once a second.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use moclojer_domain::Timestamp;
use moclojer_domain::journal::{
    Attempt, MAX_RECORDED_BODY, RequestRecord, recorded_body, redact_headers,
};
use moclojer_ports::RequestJournal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::Engine;

/// How many records wait for the writer at most; past it, records are dropped.
pub const JOURNAL_CHANNEL: usize = 8_192;

/// The most records one append carries.
pub const JOURNAL_BATCH: usize = 512;

/// How long the writer lets records pile up after it has drained the channel: one wake-up
/// (and one append) per this interval under load instead of one per handful of requests,
/// which is where a busy server's cost of the journal went. Far below the second within
/// which a record must be listed.
pub const JOURNAL_LINGER: Duration = Duration::from_millis(20);

/// Hands records to the journal's writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Answered>,
    dropped: Arc<Dropped>,
    /// Standalone: every record is kept under this one key, whatever host it was sent to.
    single: bool,
}

/// The key a standalone server keeps every request under (it serves one spec whatever
/// the `Host`; the `host` header stays in the record).
pub const STANDALONE_JOURNAL_HOST: &str = "standalone";

#[derive(Debug, Default)]
struct Dropped {
    count: AtomicU64,
    /// When a drop was last logged (Unix milliseconds).
    logged_at: AtomicI64,
}

impl Dropped {
    fn add(&self, n: u64, why: &'static str) {
        let total = self.count.fetch_add(n, Ordering::Relaxed) + n;
        let now = now().unix_millis();
        let last = self.logged_at.load(Ordering::Relaxed);
        if now - last >= 1_000
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = total,
                "request journal: records dropped ({why})"
            );
        }
    }
}

impl Recorder {
    /// A recorder writing to `journal` through a channel of `capacity` records, and its
    /// writer task, which ends when every clone of the recorder is gone.
    pub fn start(journal: Arc<dyn RequestJournal>, capacity: usize) -> (Self, JoinHandle<()>) {
        Self::start_keyed(journal, capacity, None)
    }

    /// [`Self::start`] for a standalone server: every record is kept under
    /// [`STANDALONE_JOURNAL_HOST`], requests without a `Host` included.
    pub fn start_standalone(
        journal: Arc<dyn RequestJournal>,
        capacity: usize,
    ) -> (Self, JoinHandle<()>) {
        Self::start_keyed(journal, capacity, Some(STANDALONE_JOURNAL_HOST))
    }

    fn start_keyed(
        journal: Arc<dyn RequestJournal>,
        capacity: usize,
        key: Option<&'static str>,
    ) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(Dropped::default());
        let writer = tokio::spawn(write(journal, receiver, Arc::clone(&dropped), key));
        let recorder = Self {
            sender,
            dropped,
            single: key.is_some(),
        };
        (recorder, writer)
    }

    /// Whether every request is kept under one key (a standalone server).
    pub(crate) fn is_single(&self) -> bool {
        self.single
    }

    /// Hands the request `seen`, answered with `status` by `engine`, to the writer, or
    /// drops it (counted) when the channel is full.
    pub(crate) fn record(&self, seen: Seen, status: u16, engine: Arc<Engine>) {
        let duration_us = u64::try_from(seen.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let answered = Answered {
            seen,
            status,
            duration_us,
            engine,
        };
        if self.sender.try_send(answered).is_err() {
            self.dropped.add(1, "the channel is full");
        }
    }

    /// How many records were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.count.load(Ordering::Relaxed)
    }
}

/// A request answered, on its way to the writer.
pub(crate) struct Answered {
    seen: Seen,
    status: u16,
    duration_us: u64,
    engine: Arc<Engine>,
}

async fn write(
    journal: Arc<dyn RequestJournal>,
    mut receiver: mpsc::Receiver<Answered>,
    dropped: Arc<Dropped>,
    key: Option<&'static str>,
) {
    let mut answered = Vec::with_capacity(JOURNAL_BATCH);
    while receiver.recv_many(&mut answered, JOURNAL_BATCH).await > 0 {
        let batch: Vec<RequestRecord> = answered
            .drain(..)
            .map(|a| {
                let mut record = a.seen.record(a.status, a.duration_us, &a.engine);
                if let Some(key) = key {
                    key.clone_into(&mut record.host);
                }
                record
            })
            .collect();
        let count = batch.len();
        if let Err(e) = journal.append(batch).await {
            tracing::debug!(error = %e, "request journal: append failed");
            dropped.add(count as u64, "the journal refused a batch");
        }
        if count < JOURNAL_BATCH {
            // Drained: wait for more to pile up rather than wake for each request.
            tokio::time::sleep(JOURNAL_LINGER).await;
        }
    }
}

fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(millis)
}

/// What is known of a request before it is answered, copied compactly: a request's parts
/// and body share the connection's read buffer, and holding on to them until the writer
/// runs would make the connection allocate a new buffer for every request. The work of
/// making a record is left to the writer.
pub(crate) struct Seen {
    at: Timestamp,
    started: Instant,
    host: String,
    method: http::Method,
    /// The path and the query, as sent.
    target: String,
    /// The headers in order, each name and value followed by a NUL (which no header
    /// value may hold); a value that is not text is kept as `[not text]`.
    headers: String,
    body: Bytes,
    client: IpAddr,
}

/// What a record shows of a header value that is not text.
const NOT_TEXT: &str = "[not text]";

impl Seen {
    /// Notes the request `parts` with `body`, from `remote`, sent to `host`, as `engine`
    /// will answer it.
    pub(crate) fn new(
        host: &str,
        parts: &http::request::Parts,
        body: &Bytes,
        remote: SocketAddr,
        engine: &Engine,
    ) -> Self {
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), http::uri::PathAndQuery::as_str);
        let mut headers = String::with_capacity(256);
        for (name, value) in &parts.headers {
            headers.push_str(name.as_str());
            headers.push('\0');
            headers.push_str(value.to_str().unwrap_or(NOT_TEXT));
            headers.push('\0');
        }
        // A body a record keeps whole is copied; a larger one (rare) is shared.
        let body = if body.len() <= MAX_RECORDED_BODY {
            Bytes::copy_from_slice(body)
        } else {
            body.clone()
        };
        Self {
            at: now(),
            started: Instant::now(),
            host: host.to_owned(),
            method: parts.method.clone(),
            target: target.to_owned(),
            headers,
            body,
            client: engine.client(&parts.headers, remote),
        }
    }

    /// The headers, in order.
    fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut parts = self.headers.split('\0');
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }

    /// The record of the request, answered with `status` by `engine` in `duration_us`.
    fn record(self, status: u16, duration_us: u64, engine: &Engine) -> RequestRecord {
        let (path, query) = self
            .target
            .split_once('?')
            .unwrap_or((self.target.as_str(), ""));
        let matched = engine.matched(&self.host, &self.method, path);
        // Why a request missed: the closest endpoints when none answered; what the one
        // that matched its route wanted when it refused it (400).
        let only = match (matched, status) {
            (None, 404 | 405) => Some(None),
            (Some(at), 400) => Some(Some(at.endpoint)),
            _ => None,
        };
        let near_misses = match only {
            Some(only) => {
                let json = serde_json::from_slice::<serde_json::Value>(&self.body).ok();
                let attempt = Attempt {
                    method: self.method.as_str(),
                    path,
                    query,
                    json: json.as_ref(),
                };
                engine.near_misses(&self.host, &attempt, only)
            }
            None => Vec::new(),
        };
        let headers = redact_headers(self.headers(), &engine.secret_headers(&self.host));
        let (body, body_truncated) = recorded_body(&self.body);
        RequestRecord {
            at: self.at,
            method: self.method.as_str().to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body,
            body_truncated,
            status,
            matched,
            near_misses,
            duration_us,
            client: Some(self.client.to_string()),
            host: self.host,
        }
    }
}
