//! `resource` items: a JSON collection that remembers what is written to it, answering as
//! a JSON API would — the list or a record (200), a create (201 with `Location`), a delete
//! (204), a missing id (404), a body that is not a JSON object (400), a POST whose id
//! exists (409), a host's state full (507).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};
use moclojer_domain::journal::Matched;
use moclojer_domain::spec::{Method, Resource};
use moclojer_ports::{PortError, RecordPage, ResourceRef, StateOutcome, StateScope};
use serde_json::{Map, Value};

use super::{Engine, Reply, error_reply, json_headers, reply};
use crate::request::{percent_decode, query_pairs};

/// The records a list answers when the request names no `limit`.
pub const DEFAULT_RESOURCE_PAGE: u64 = 100;

/// The most records one list answers.
pub const MAX_RESOURCE_PAGE: u64 = 1_000;

/// The longest record id accepted in a URL or a body, in bytes.
const MAX_ID_BYTES: usize = 256;

/// A resource, ready to answer.
#[derive(Debug)]
pub(super) struct CompiledResource {
    pub(super) at: Matched,
    /// The collection's path, which names the resource in its host's state.
    name: String,
    id_field: String,
    seed: Vec<Map<String, Value>>,
    /// Whose state it keeps: its host, or `""` without one.
    pub(super) state_host: Box<str>,
}

/// Which of a resource's routes a request took.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResourceRoute {
    pub(super) method: Method,
    /// The path ends in a record's id.
    pub(super) record: bool,
}

impl CompiledResource {
    pub(super) fn compile(resource: &Resource) -> Self {
        Self {
            at: Matched {
                endpoint: resource.item,
                line: resource.line,
            },
            name: resource.path.to_string(),
            id_field: resource.id_field.clone(),
            seed: resource.seed.clone(),
            state_host: resource.host.as_deref().unwrap_or("").into(),
        }
    }

    fn as_ref(&self) -> ResourceRef<'_> {
        ResourceRef {
            name: &self.name,
            id_field: &self.id_field,
            seed: &self.seed,
        }
    }
}

fn json_reply(status: StatusCode, value: Value) -> Reply {
    reply(status, json_headers(), Bytes::from(value.to_string()))
}

/// 503 for a state that cannot be reached, logged without the request's data.
pub(super) fn state_unavailable(error: &PortError) -> Reply {
    tracing::warn!(error = %error, "the mocks' state cannot be reached");
    error_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "the mock's state cannot be reached; try again",
    )
}

/// 507 for a host whose state is full, naming the limit.
fn full(message: &str) -> Reply {
    error_reply(StatusCode::INSUFFICIENT_STORAGE, message)
}

/// A request body that must be a JSON object.
fn object(body: &Bytes) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// 400 for a body that is not a JSON object.
fn not_an_object() -> Reply {
    error_reply(StatusCode::BAD_REQUEST, "the body must be a JSON object")
}

/// `limit` and `offset` of a list's query.
fn page(query: &str) -> Result<(u64, u64), String> {
    let (mut offset, mut limit) = (0, DEFAULT_RESOURCE_PAGE);
    for (name, value) in query_pairs(query) {
        let target = match name.as_str() {
            "limit" => &mut limit,
            "offset" => &mut offset,
            _ => continue,
        };
        *target = value
            .parse()
            .map_err(|_| format!("`{name}` must be a whole number of at least 0"))?;
    }
    Ok((offset, limit.min(MAX_RESOURCE_PAGE)))
}

impl Engine {
    /// Answers a request for one of `resource`'s routes; `params` holds the record's id
    /// when the route has one.
    pub(super) async fn answer_resource(
        &self,
        resource: &CompiledResource,
        route: ResourceRoute,
        parts: &http::request::Parts,
        params: &[&str],
        body: Bytes,
    ) -> Reply {
        let scope = StateScope {
            host: &resource.state_host,
            revision: self.revision,
        };
        let id = params
            .last()
            .filter(|_| route.record)
            .map(|raw| percent_decode(raw));
        if id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
            return error_reply(StatusCode::NOT_FOUND, "no record has this id");
        }
        let result = match (route.method, id) {
            (Method::Get, None) => self.list(scope, resource, parts.uri.query()).await,
            (Method::Post, None) => self.create(scope, resource, parts, &body).await,
            (Method::Get, Some(id)) => self.get(scope, resource, &id).await,
            (Method::Delete, Some(id)) => {
                let state = &self.options.state;
                match state.delete(scope, resource.as_ref(), &id).await {
                    Ok(true) => Ok(reply(
                        StatusCode::NO_CONTENT,
                        HeaderMap::new(),
                        Bytes::new(),
                    )),
                    Ok(false) => Ok(missing()),
                    Err(e) => Err(e),
                }
            }
            (method, Some(id)) => {
                let merge = method == Method::Patch;
                self.update(scope, resource, &id, &body, merge).await
            }
            (_, None) => Ok(error_reply(StatusCode::METHOD_NOT_ALLOWED, "not allowed")),
        };
        result.unwrap_or_else(|e| state_unavailable(&e))
    }

    async fn list(
        &self,
        scope: StateScope<'_>,
        resource: &CompiledResource,
        query: Option<&str>,
    ) -> Result<Reply, PortError> {
        let (offset, limit) = match page(query.unwrap_or("")) {
            Ok(page) => page,
            Err(message) => return Ok(error_reply(StatusCode::BAD_REQUEST, &message)),
        };
        let state = &self.options.state;
        let RecordPage { records, total } =
            state.list(scope, resource.as_ref(), offset, limit).await?;
        let mut answer = json_reply(
            StatusCode::OK,
            Value::Array(records.into_iter().map(Value::Object).collect()),
        );
        answer
            .headers_mut()
            .insert("x-total-count", HeaderValue::from(total));
        Ok(answer)
    }

    async fn get(
        &self,
        scope: StateScope<'_>,
        resource: &CompiledResource,
        id: &str,
    ) -> Result<Reply, PortError> {
        let found = self.options.state.get(scope, resource.as_ref(), id).await?;
        Ok(found.map_or_else(missing, |record| {
            json_reply(StatusCode::OK, Value::Object(record))
        }))
    }

    async fn create(
        &self,
        scope: StateScope<'_>,
        resource: &CompiledResource,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<Reply, PortError> {
        let Some(record) = object(body) else {
            return Ok(not_an_object());
        };
        if let Some(id) = record.get(&resource.id_field) {
            let fits = moclojer_ports::record_id(id).is_some_and(|id| id.len() <= MAX_ID_BYTES);
            if !fits {
                let message = format!(
                    "`{}` must be a string or a whole number of at most {MAX_ID_BYTES} bytes",
                    resource.id_field
                );
                return Ok(error_reply(StatusCode::BAD_REQUEST, &message));
            }
        }
        let state = &self.options.state;
        Ok(
            match state.create(scope, resource.as_ref(), record).await? {
                StateOutcome::Done(record) => {
                    let id = record
                        .get(&resource.id_field)
                        .and_then(moclojer_ports::record_id)
                        .unwrap_or_default();
                    let mut answer = json_reply(StatusCode::CREATED, Value::Object(record));
                    let location =
                        format!("{}/{}", parts.uri.path().trim_end_matches('/'), encode(&id));
                    if let Ok(value) = HeaderValue::from_str(&location) {
                        answer.headers_mut().insert(header::LOCATION, value);
                    }
                    answer
                }
                StateOutcome::Exists => error_reply(
                    StatusCode::CONFLICT,
                    &format!("a record with this `{}` exists", resource.id_field),
                ),
                StateOutcome::Full(message) => full(&message),
                StateOutcome::Missing => missing(),
            },
        )
    }

    async fn update(
        &self,
        scope: StateScope<'_>,
        resource: &CompiledResource,
        id: &str,
        body: &Bytes,
        merge: bool,
    ) -> Result<Reply, PortError> {
        let Some(record) = object(body) else {
            return Ok(not_an_object());
        };
        let state = &self.options.state;
        Ok(
            match state
                .update(scope, resource.as_ref(), id, record, merge)
                .await?
            {
                StateOutcome::Done(record) => json_reply(StatusCode::OK, Value::Object(record)),
                StateOutcome::Missing => missing(),
                StateOutcome::Full(message) => full(&message),
                StateOutcome::Exists => error_reply(StatusCode::CONFLICT, "conflict"),
            },
        )
    }
}

/// 404 for an id no record has.
fn missing() -> Reply {
    error_reply(StatusCode::NOT_FOUND, "no record has this id")
}

/// An id as a path segment.
fn encode(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}
