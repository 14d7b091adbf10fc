//! The one error envelope: `{"error": {"code", "message", "details"}}`.
//!
//! `code` is stable and machine-readable (`not_found`, `handle_taken`, `invalid_spec`, ...);
//! `message` is for people; `details` carries structure when there is some (the
//! diagnostics of an invalid spec, the field a bad value was in), else `null`. Every
//! failure the api can produce — from a handler, from request parsing, from routing —
//! leaves in this shape (see [`envelope_for`]).

use moclojer_domain::Diagnostic;
use moclojer_ports::{PortError, PortErrorKind};
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use serde_json::{Value, json};

/// The body of every error.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthenticated`, `forbidden`,
    /// `not_found`, `conflict` (and the more precise `email_taken`, `handle_taken`,
    /// `host_taken`, `stale_revision`), `payload_too_large`, `invalid_spec`,
    /// `too_many_requests`, `unavailable`, `internal`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Structure when there is some (`diagnostics`, `field`), else null.
    pub details: Option<Box<Value>>,
}

/// Every failure of an operation, by status.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ApiError {
    /// The request is malformed or a value breaks a rule.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No token, or one that is malformed, unknown, revoked, expired or forged.
    #[oai(status = 401)]
    Unauthenticated(Json<ErrorBody>),
    /// The caller sees the resource but may not do this (a member where an owner must act).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource, or the caller does not see it.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A clash with the current state: taken handle, e-mail or host; a stale revision.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The route does not take this method.
    #[oai(status = 405)]
    MethodNotAllowed(Json<ErrorBody>),
    /// The body (or the spec in it) is over the size limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The spec does not validate; `details.diagnostics` says where and why.
    #[oai(status = 422)]
    InvalidSpec(Json<ErrorBody>),
    /// Too many attempts (signing in or up); `Retry-After` says in how many seconds one
    /// more is taken.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; the log has the cause.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency (database, queue, identity provider) is down; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The result of an operation.
pub type ApiResult<T> = Result<T, ApiError>;

fn body(code: &str, message: impl Into<String>, details: Option<Value>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
            details: details.map(Box::new),
        },
    })
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(code, message, None))
    }

    /// 400 about one field of the request.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(body(
            "bad_request",
            message,
            Some(json!({ "field": field })),
        ))
    }

    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated(body("unauthenticated", message, None))
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(body("forbidden", message, None))
    }

    /// 403 `quota_exceeded`: one more would pass the account's `quota` (`details.quota`,
    /// `details.limit`).
    pub fn quota_exceeded(quota: &str, limit: usize, message: impl Into<String>) -> Self {
        let details = crate::quotas::details(quota, limit);
        Self::Forbidden(body("quota_exceeded", message, Some(details)))
    }

    /// 422 `quota_exceeded`: the content itself is over a quota (endpoints per mock).
    pub fn quota_exceeded_in_content(
        quota: &str,
        limit: usize,
        message: impl Into<String>,
    ) -> Self {
        let details = crate::quotas::details(quota, limit);
        Self::InvalidSpec(body("quota_exceeded", message, Some(details)))
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(body("not_found", message, None))
    }

    /// 409 with a precise `code`.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::Conflict(body(code, message, None))
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::PayloadTooLarge(body("payload_too_large", message, None))
    }

    /// 422 with the validator's findings.
    pub fn invalid_spec(diagnostics: &[Diagnostic]) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let first = diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| format!(": line {}, column {}: {}", d.line, d.column, d.message))
            .unwrap_or_default();
        Self::InvalidSpec(body(
            "invalid_spec",
            format!("the spec has {errors} error(s){first}"),
            Some(json!({ "diagnostics": diagnostics_json(diagnostics) })),
        ))
    }

    /// 500; the cause goes to the log, not to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal(body(
            "internal",
            "internal error; the log has the cause",
            None,
        ))
    }

    /// 429 with `Retry-After: retry_after` (whole seconds, at least 1).
    pub fn too_many(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::TooManyRequests(body("too_many_requests", message, None), seconds.max(1))
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(body("unavailable", message, None))
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidSpec(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error code.
    pub fn code(&self) -> &str {
        match self {
            Self::BadRequest(b)
            | Self::Unauthenticated(b)
            | Self::Forbidden(b)
            | Self::NotFound(b)
            | Self::Conflict(b)
            | Self::MethodNotAllowed(b)
            | Self::PayloadTooLarge(b)
            | Self::UnsupportedMediaType(b)
            | Self::InvalidSpec(b)
            | Self::TooManyRequests(b, _)
            | Self::Internal(b)
            | Self::Unavailable(b) => &b.0.error.code,
        }
    }

    /// A port's error as the api answers it. `what` names the thing for a 404 (`"mock"`).
    pub fn from_port(error: PortError, what: &str) -> Self {
        match error.kind() {
            PortErrorKind::NotFound => Self::not_found(format!("no such {what}")),
            PortErrorKind::Conflict => Self::conflict("conflict", error.message().to_owned()),
            PortErrorKind::Invalid => Self::bad_request("bad_request", error.message().to_owned()),
            PortErrorKind::Unauthenticated => Self::unauthenticated(error.message().to_owned()),
            PortErrorKind::Unavailable | PortErrorKind::Timeout => {
                tracing::warn!(error = %error, "a dependency is unavailable");
                Self::unavailable("a dependency is unavailable; try again shortly")
            }
            PortErrorKind::Internal => Self::internal(&error),
        }
    }
}

/// Turns a request that failed before the handler (bad JSON, missing token, wrong content
/// type) into the envelope.
fn from_request_error(error: poem::Error) -> ApiError {
    envelope_for(error.status(), &error.to_string())
}

/// The envelope for a failure that has only a status and a message (routing, parsing).
pub fn envelope_for(status: StatusCode, message: &str) -> ApiError {
    match status {
        StatusCode::UNAUTHORIZED => {
            ApiError::unauthenticated("a bearer token is required: Authorization: Bearer <token>")
        }
        StatusCode::FORBIDDEN => ApiError::forbidden(message.to_owned()),
        StatusCode::NOT_FOUND => ApiError::not_found("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(body(
            "method_not_allowed",
            "this route does not take that method",
            None,
        )),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(message.to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(body(
            "unsupported_media_type",
            "send the body as application/json",
            None,
        )),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::unavailable(message.to_owned()),
        s if s.is_server_error() => ApiError::internal(&message),
        _ => ApiError::bad_request("bad_request", message.to_owned()),
    }
}

/// Diagnostics as the api shows them: `line`, `column`, `message`, `severity`, and the
/// item and key when known.
pub fn diagnostics_json(diagnostics: &[Diagnostic]) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| {
                let mut v = json!({
                    "line": d.line,
                    "column": d.column,
                    "message": d.message,
                    "severity": if d.is_error() { "error" } else { "warning" },
                });
                if let Some(item) = d.item {
                    v["item"] = json!(item);
                }
                if let Some(key) = &d.key {
                    v["key"] = json!(key);
                }
                v
            })
            .collect(),
    )
}
