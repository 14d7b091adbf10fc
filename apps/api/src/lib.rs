//! `moclojer-api`: the REST api of moclojer cloud, under `/api/v1`.
//!
//! poem with poem-openapi: every operation is typed, and the OpenAPI document
//! (`/api/v1/openapi.json`) and a docs UI (`/api/v1/docs`) come from the same code.
//!
//! - **Auth**: local accounts (argon2id password hashes, the service's own session tokens)
//!   or an external identity (Supabase access tokens); personal API tokens either way.
//! - **Scope**: every repository call is scoped to the caller; what the caller may not see
//!   answers 404, exactly like what does not exist, and nothing changes.
//! - **Errors**: one envelope, `{"error": {"code", "message", "details"}}`, for every
//!   failure, including the ones raised before a handler runs (bad JSON, no token, unknown
//!   route, oversize body).
//! - **Writes** carry their events (`mock.changed`, `publication.changed`, ...) into the
//!   repositories, which commit them to the outbox in the same transaction.
//!
//! The api does not publish anything itself: it records the intent, and the generator
//! settles it (see ARCHITECTURE.md).

mod app;
pub mod error;
pub mod housekeeping;
pub mod metrics;
mod middleware;
pub mod passwords;
pub mod quotas;
pub mod routes;
pub mod signin;
pub mod state;
pub mod throttle;
pub mod views;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoResponse, Route, Server};
use poem_openapi::OpenApiService;

pub use app::{App, Config};
pub use error::{ApiError, ApiResult};
pub use middleware::MAX_BODY_BYTES;
pub use passwords::Passwords;
pub use quotas::Quotas;
pub use routes::mocks::STARTER_SPEC;
pub use signin::{Supabase, SupabaseArgs, SupabaseBrowser};
pub use state::{AuthMode, MocksUrl, State};

use routes::HealthApi;
use routes::accounts::AccountsApi;
use routes::mock_state::MockStateApi;
use routes::mocks::MocksApi;
use routes::orgs::OrgsApi;
use routes::requests::RequestsApi;
use routes::transfer::TransferApi;

/// Every group of operations, in the order the OpenAPI document lists them.
type Operations = (
    AccountsApi,
    OrgsApi,
    MocksApi,
    TransferApi,
    RequestsApi,
    MockStateApi,
    HealthApi,
);

/// The OpenAPI service of every operation.
fn service(state: &Arc<State>) -> OpenApiService<Operations, ()> {
    OpenApiService::new(
        (
            AccountsApi(Arc::clone(state)),
            OrgsApi(Arc::clone(state)),
            MocksApi(Arc::clone(state)),
            TransferApi(Arc::clone(state)),
            RequestsApi(Arc::clone(state)),
            MockStateApi(Arc::clone(state)),
            HealthApi(Arc::clone(state)),
        ),
        "moclojer cloud api",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Accounts, orgs and mocks of moclojer cloud. Authenticate with \
         `Authorization: Bearer <token>`: a session token from /auth/login, or a personal API \
         token from /tokens. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
    )
}

/// The OpenAPI document, as JSON.
pub fn openapi_json(state: &Arc<State>) -> String {
    service(state).spec()
}

/// The whole api as one endpoint: operations, `/api/v1/openapi.json`, `/api/v1/docs`,
/// the error envelope, the body limit and request ids; and the web interface at `/` when
/// `state.web_dir` is set (see [`web`]).
pub fn endpoint(state: Arc<State>) -> impl Endpoint + 'static {
    let mocks = state.mocks_url.of(&format!("*.{}", state.zone.as_str()));
    let policy = web::content_security_policy(
        &mocks,
        state.supabase_browser.as_ref().map(|s| s.url.as_str()),
    );
    let web = Arc::new(web::Web::new(state.web_dir.clone(), &policy));
    let service = service(&state);
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui();
    let metrics = Arc::new(metrics::ApiMetrics::from_openapi(&service.spec()));
    let scraped = Arc::clone(&metrics);
    Route::new()
        .nest("/", service)
        .at(
            "/metrics",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body(scraped.render())
            })),
        )
        .at("/api/v1/openapi.json", spec)
        .nest("/api/v1/docs", docs)
        .catch_all_error(|error: poem::Error| async move {
            if error.is_from_response() {
                return error.into_response();
            }
            error::envelope_for(error.status(), &error.to_string()).into_response()
        })
        .around(move |api, request| {
            let web = Arc::clone(&web);
            async move {
                if web.takes(&request) {
                    return Ok(web.answer(request).await);
                }
                api.call(request).await.map(IntoResponse::into_response)
            }
        })
        .with(middleware::BodyLimit::new(MAX_BODY_BYTES))
        .around(middleware::correlate)
        .around(move |api, request| {
            let metrics = Arc::clone(&metrics);
            async move {
                let started = std::time::Instant::now();
                let method = request.method().to_string();
                let path = request.uri().path().to_owned();
                let answered = api.call(request).await;
                let status = match &answered {
                    Ok(response) => response.status(),
                    Err(error) => error.status(),
                };
                let seconds = started.elapsed().as_secs_f64();
                metrics.record(&method, &path, status.as_u16(), seconds);
                answered
            }
        })
}

/// Serves `endpoint` on `listener` until `stop` completes; requests in flight get up to 10
/// seconds to finish.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    endpoint: impl Endpoint + 'static,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(endpoint, stop, Some(Duration::from_secs(10)))
        .await
}
