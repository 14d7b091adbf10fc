//! The web interface at `/`: the built files of `web/` (`web/dist`), with `index.html`
//! answering every other path so that the interface's own routes load on a reload.
//!
//! The api keeps its paths (`/api/…`, `/livez`, `/readyz`); only `GET` and `HEAD` of the
//! other paths reach the files. When the interface is not built, `/` answers a short text
//! saying how to build it.
//!
//! Every file goes out with a content security policy: scripts and styles from here only
//! (styles may be inline: the editor injects its own), requests to here, to the mock hosts
//! (the "try it" panel) and to the Supabase project (sign-in), no framing, no plugins; and
//! `nosniff`, `no-referrer`.

use std::path::PathBuf;

use poem::endpoint::StaticFilesEndpoint;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

/// What `/` says when the web interface is not built.
pub const NOT_BUILT: &str = "moclojer cloud: the web interface is not built.\n\
Build it with `cargo xtask web` (or `npm ci && npm run build` in web/), then reload.\n\
The api is at /api/v1 (docs at /api/v1/docs).\n";

/// Whether `path` belongs to the api rather than to the web interface.
fn is_api_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/livez"
        || path == "/readyz"
        || path == "/metrics"
}

/// The content security policy of the web interface: `mocks` is where mock hosts answer
/// (`http://*.localhost:8080`), `supabase` the project the page signs in at, if any.
pub fn content_security_policy(mocks: &str, supabase: Option<&str>) -> String {
    let mut connect = format!("'self' {mocks}");
    if let Some(supabase) = supabase {
        connect.push(' ');
        connect.push_str(supabase);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The web interface's files, if configured.
pub(crate) struct Web {
    dir: Option<PathBuf>,
    files: Option<StaticFilesEndpoint>,
    policy: Option<HeaderValue>,
}

impl Web {
    /// The interface built in `dir`, or none, served under `policy`.
    pub(crate) fn new(dir: Option<PathBuf>, policy: &str) -> Self {
        let files = dir.as_ref().map(|dir| {
            StaticFilesEndpoint::new(dir)
                .index_file("index.html")
                .fallback_to_index()
                .no_cache_index()
        });
        let policy = HeaderValue::from_str(policy).ok();
        if policy.is_none() {
            tracing::warn!("the content security policy is not a header value; none is sent");
        }
        Self { dir, files, policy }
    }

    /// Whether the request is the web interface's to answer.
    pub(crate) fn takes(&self, request: &Request) -> bool {
        matches!(*request.method(), Method::GET | Method::HEAD)
            && !is_api_path(request.uri().path())
            && (self.built() || request.uri().path() == "/")
    }

    fn built(&self) -> bool {
        self.dir
            .as_ref()
            .is_some_and(|dir| dir.join("index.html").is_file())
    }

    /// Answers a request [`Self::takes`].
    pub(crate) async fn answer(&self, request: Request) -> Response {
        match &self.files {
            Some(files) if self.built() => {
                let mut response = match files.call(request).await {
                    Ok(response) => response,
                    Err(error) => error.into_response(),
                };
                let headers = response.headers_mut();
                if let Some(policy) = &self.policy {
                    headers.insert("content-security-policy", policy.clone());
                }
                headers.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
                headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
                response
            }
            _ => NOT_BUILT
                .with_content_type("text/plain; charset=utf-8")
                .with_status(StatusCode::NOT_FOUND)
                .into_response(),
        }
    }
}
