//! What wraps every request: a request id carried into logs and events, and the body
//! size limit.

use moclojer_domain::CorrelationId;
use poem::http::HeaderValue;
use poem::http::header::CONTENT_LENGTH;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

use crate::error::ApiError;

/// The largest request body, in bytes: a spec of 1 MiB with room for JSON escaping.
pub const MAX_BODY_BYTES: usize = 3 << 20;

const REQUEST_ID: &str = "x-request-id";

/// What a 503 tells clients to wait before trying again, in seconds.
const RETRY_AFTER_SECONDS: &str = "5";

/// Reads `X-Request-Id` (or makes one), puts it in the request's data for the events, runs
/// the request in a span carrying it, and answers with it.
pub(crate) async fn correlate<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| CorrelationId::parse(v).ok())
        .unwrap_or_else(moclojer_telemetry::new_correlation_id);
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = moclojer_telemetry::correlation_span(&id);
    async move {
        let started = std::time::Instant::now();
        let mut response = match next.call(req).await {
            Ok(response) => response.into_response(),
            Err(error) => error.into_response(),
        };
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        if response.status() == poem::http::StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .entry(poem::http::header::RETRY_AFTER)
                .or_insert(HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Refuses bodies over a limit with 413, whether the size is declared or not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    pub(crate) fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max: self.max,
        }
    }
}

/// [`BodyLimit`] around an endpoint.
#[derive(Debug)]
pub(crate) struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let too_large =
            || ApiError::too_large(format!("a request body has at most {} bytes", self.max));
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max as u64) {
            return Ok(too_large().into_response());
        }
        let body = req.take_body();
        let bytes = match body.into_bytes_limit(self.max).await {
            Ok(bytes) => bytes,
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                return Ok(too_large().into_response());
            }
            Err(e) => {
                return Ok(ApiError::bad_request("bad_request", e.to_string()).into_response());
            }
        };
        req.set_body(Body::from_bytes(bytes));
        Ok(match self.inner.call(req).await {
            Ok(response) => response.into_response(),
            Err(error) => error.into_response(),
        })
    }
}
