//! The standalone server's admin listener (`--admin-addr`): the request journal, on a port
//! of its own, never on the mock port, where any path may be a user's endpoint.
//!
//! - `GET /requests?limit=&before=&method=&status=&path_prefix=` → `{"requests": [...],
//!   "next": cursor | null}`, newest first, in the api's wire form
//!   ([`moclojer_ports::page_json`]);
//! - `DELETE /requests` → 204, the journal emptied;
//! - `GET /metrics` → the records dropped so far (a full channel, a journal that refused a
//!   batch) and the webhooks dropped for want of room, in the Prometheus text format:
//!   `moclojer_journal_dropped_total N`, `moclojer_webhooks_dropped_total N`.
//!
//! Anything else is 404 (405 for another method on `/requests`), with a JSON error.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use moclojer_ports::{JournalQuery, PortErrorKind, RequestJournal, page_json};
use tokio::net::TcpListener;

use crate::journal::Recorder;
use crate::webhook::WebhookBudget;

/// What the admin listener answers from: a journal and the key its records are under.
#[derive(Debug, Clone)]
pub struct Admin {
    journal: Arc<dyn RequestJournal>,
    key: String,
    recorder: Option<Recorder>,
    webhooks: Option<WebhookBudget>,
}

impl Admin {
    /// The admin of `journal`'s records kept under `key`.
    pub fn new(journal: Arc<dyn RequestJournal>, key: impl Into<String>) -> Self {
        Self {
            journal,
            key: key.into(),
            recorder: None,
            webhooks: None,
        }
    }

    /// The same admin, reporting the webhooks `budget` dropped at `GET /metrics`.
    #[must_use]
    pub fn with_webhooks(mut self, budget: WebhookBudget) -> Self {
        self.webhooks = Some(budget);
        self
    }

    /// The same admin, reporting what `recorder` dropped at `GET /metrics`.
    #[must_use]
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The answer to `method` `path?query`.
    pub async fn answer(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> http::Response<Full<Bytes>> {
        if path == "/metrics" && method == Method::GET {
            let dropped = self.recorder.as_ref().map_or(0, Recorder::dropped);
            let webhooks = self.webhooks.as_ref().map_or(0, WebhookBudget::dropped);
            let text = format!(
                "# HELP moclojer_journal_dropped_total Requests not recorded (a full channel or a failed write).\n# TYPE moclojer_journal_dropped_total counter\nmoclojer_journal_dropped_total {dropped}\n\
                 # HELP moclojer_webhooks_dropped_total Webhooks not sent: no room for them to wait.\n# TYPE moclojer_webhooks_dropped_total counter\nmoclojer_webhooks_dropped_total {webhooks}\n"
            );
            let mut response = http::Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return response;
        }
        if path.trim_end_matches('/') != "/requests" {
            return error(
                StatusCode::NOT_FOUND,
                "the admin listener serves GET and DELETE /requests",
            );
        }
        match *method {
            Method::GET => self.list(query.unwrap_or("")).await,
            Method::DELETE => match self.journal.clear(&self.key).await {
                Ok(()) => empty(StatusCode::NO_CONTENT),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            _ => {
                let mut response = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "/requests answers GET and DELETE",
                );
                response.headers_mut().insert(
                    header::ALLOW,
                    header::HeaderValue::from_static("GET, DELETE"),
                );
                response
            }
        }
    }

    async fn list(&self, raw_query: &str) -> http::Response<Full<Bytes>> {
        let params: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        let query =
            match JournalQuery::from_params(params.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
                Ok(query) => query,
                Err(reason) => return error(StatusCode::BAD_REQUEST, &reason),
            };
        match self.journal.list(&self.key, &query).await {
            Ok(page) => json(StatusCode::OK, &page_json(&page)),
            Err(e) if e.kind() == PortErrorKind::Invalid => {
                error(StatusCode::BAD_REQUEST, &e.to_string())
            }
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> http::Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

fn empty(status: StatusCode) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Serves `admin` on `listener` until `shutdown`.
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve_admin(
    listener: TcpListener,
    admin: Admin,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let admin = Arc::new(admin);
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, remote)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let admin = Arc::clone(&admin);
                let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let admin = Arc::clone(&admin);
                    async move {
                        let uri = request.uri();
                        Ok::<_, Infallible>(admin.answer(request.method(), uri.path(), uri.query()).await)
                    }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, %remote, "admin connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}
