//! An endpoint compiled once for every request it answers: its path parameters, its
//! status, its headers and body prepared or compiled into templates, the parts of the
//! request context those templates read, its rate limiter and its webhook.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use moclojer_domain::Diagnostic;
use moclojer_domain::journal::Matched;
use moclojer_domain::spec::{self, Body, Endpoint, Latency, Provider, RateKey, Scenario, Segment};
use moclojer_domain::template::{Escape, Template};
use serde_json::Value;

use crate::context::{is_json_media, media_type};
use crate::ratelimit::RateLimiter;
use crate::router::PatternSegment;
use crate::webhook::CompiledWebhook;

use super::rules::{CompiledRule, CompiledSequence};

/// A body: fixed bytes, a template, an external source, or a template that did not compile
/// (standalone mode answers 500 naming the problem).
#[derive(Debug)]
pub(super) enum BodySource {
    Static(Bytes),
    Template(Template),
    External {
        provider: Provider,
        path: Template,
        sheet: Option<String>,
    },
    Broken(String),
}

/// Which parts of the request context the endpoint's templates read.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Needs {
    pub(super) path: bool,
    pub(super) query: bool,
    pub(super) json: bool,
    pub(super) headers: bool,
    /// `{{state.<scenario>}}`: the host's scenario states.
    pub(super) state: bool,
}

impl Needs {
    /// Every part: what a template read from elsewhere (an external body) may read.
    const EVERYTHING: Self = Self {
        path: true,
        query: true,
        json: true,
        headers: true,
        state: true,
    };

    /// Notes that a template reads the context roots `roots`.
    fn read<'a>(&mut self, roots: impl IntoIterator<Item = &'a str>) {
        for root in roots {
            match root {
                "path-params" => self.path = true,
                "query-params" => self.query = true,
                "json-params" => self.json = true,
                "header-params" => self.headers = true,
                "state" => self.state = true,
                _ => {}
            }
        }
    }
}

/// One response, ready to render: its status, its headers and body prepared or compiled.
#[derive(Debug)]
pub(super) struct CompiledResponse {
    pub(super) status: StatusCode,
    /// Prepared once: the default content type and every static header.
    pub(super) static_headers: HeaderMap,
    pub(super) templated_headers: Vec<(HeaderName, Template)>,
    pub(super) escape: Escape,
    pub(super) body: BodySource,
    /// The room a rendered body is given up front: its template's length, at most
    /// [`BODY_CAPACITY_CAP`], so a typical render never grows its buffer.
    pub(super) body_capacity: usize,
}

impl CompiledResponse {
    /// Compiles `response` (written under `key` of item `at`), noting in `needs` what its
    /// templates read. What does not compile is a warning in `diagnostics`, and the
    /// response answers 500 naming the problem.
    pub(super) fn compile(
        response: &spec::Response,
        key: &str,
        at: (u32, u32),
        diagnostics: &mut Vec<Diagnostic>,
        needs: &mut Needs,
    ) -> Self {
        let headers = ResponseHeaders::compile(response, key, at, diagnostics, needs);
        let (escape, is_json) = body_escape(&headers.fixed);
        let body = compile_body(
            response,
            key,
            at,
            headers.broken,
            is_json,
            diagnostics,
            needs,
        );
        let body_capacity = match &response.body {
            Body::Text(source) => source.len().min(BODY_CAPACITY_CAP),
            _ => 0,
        };
        Self {
            status: StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK),
            static_headers: headers.fixed,
            templated_headers: headers.templated,
            escape,
            body,
            body_capacity,
        }
    }

    /// Whether rendering needs nothing from the request: a static body and headers.
    fn is_static(&self) -> bool {
        matches!(self.body, BodySource::Static(_)) && self.templated_headers.is_empty()
    }
}

/// An endpoint, ready to answer.
#[derive(Debug)]
pub(super) struct CompiledEndpoint {
    /// Where it is in the user's file, for the request journal.
    pub(super) at: Matched,
    pub(super) params: Vec<(String, spec::ParamType)>,
    pub(super) query: Vec<spec::QueryParam>,
    pub(super) body_example: Option<Value>,
    /// The answer when no rule holds and there is no sequence (`response`).
    pub(super) response: CompiledResponse,
    /// `responses:`, tried in order.
    pub(super) rules: Vec<CompiledRule>,
    /// `sequence:`, answered in turn.
    pub(super) sequence: Option<CompiledSequence>,
    /// The scenario state it answers in.
    pub(super) scenario: Option<Scenario>,
    /// The next endpoint of the same route, tried when this one's scenario is not in its
    /// state.
    pub(super) next: Option<u32>,
    /// Whose state it reads and writes: its host, or `""` without one.
    pub(super) state_host: Box<str>,
    pub(super) rate: Option<(RateLimiter, RateKey)>,
    pub(super) latency: Option<Latency>,
    pub(super) webhook: Option<CompiledWebhook>,
    pub(super) needs: Needs,
    /// `path-params` reaches the templates as its fields, with no JSON object built: true
    /// unless a webhook or an external body needs the context as one JSON value.
    pub(super) path_as_fields: bool,
    /// Nothing to do per request but clone the prepared answer: a static body and static
    /// headers, no rate limit, latency, webhook, rule, sequence, scenario or parameter
    /// that can be refused.
    pub(super) fixed: bool,
}

/// The most room given up front to a rendered body.
const BODY_CAPACITY_CAP: usize = 16 * 1024;

impl CompiledEndpoint {
    /// Compiles `endpoint`. What does not compile is a warning in `diagnostics`: a broken
    /// header or body makes its response answer 500 naming the problem, a broken webhook
    /// is left out.
    pub(super) fn compile(endpoint: &Endpoint, diagnostics: &mut Vec<Diagnostic>) -> Self {
        let mut needs = Needs::default();
        let at = (endpoint.item, endpoint.line);
        let key = "response";
        let response =
            CompiledResponse::compile(&endpoint.response, key, at, diagnostics, &mut needs);
        let rules = CompiledRule::compile_all(endpoint, diagnostics, &mut needs);
        let sequence = CompiledSequence::compile(endpoint, diagnostics, &mut needs);
        let webhook = compile_webhook(endpoint, diagnostics, &mut needs);
        let params: Vec<(String, spec::ParamType)> = endpoint
            .path
            .params()
            .map(|(name, ty)| (name.to_owned(), ty))
            .collect();
        let fixed = response.is_static()
            && rules.is_empty()
            && sequence.is_none()
            && endpoint.scenario.is_none()
            && webhook.is_none()
            && endpoint.rate_limit.is_none()
            && endpoint.latency.is_none()
            && endpoint.query.is_empty()
            && endpoint.body_example.is_none()
            // A string parameter is never refused; other types may be.
            && params.iter().all(|(_, ty)| *ty == spec::ParamType::String);
        let external = endpoint
            .all_responses()
            .iter()
            .any(|(_, r)| matches!(r.body, Body::External(_)));
        let path_as_fields = webhook.is_none() && !external;
        Self {
            at: Matched {
                endpoint: endpoint.item,
                line: endpoint.line,
            },
            params,
            query: endpoint.query.clone(),
            body_example: endpoint.body_example.clone(),
            response,
            rules,
            sequence,
            scenario: endpoint.scenario.clone(),
            next: None,
            state_host: endpoint.host.as_deref().unwrap_or("").into(),
            rate: endpoint.rate_limit.as_ref().map(|r| {
                (
                    RateLimiter::new(Duration::from_millis(r.window_ms), r.max_requests),
                    r.key.clone(),
                )
            }),
            latency: endpoint.latency.clone(),
            webhook,
            needs,
            path_as_fields,
            fixed,
        }
    }
}

/// An endpoint's response headers, compiled.
struct ResponseHeaders {
    /// The default content type and every static header.
    fixed: HeaderMap,
    templated: Vec<(HeaderName, Template)>,
    /// The last problem found, when one was: the endpoint then answers 500 naming it.
    broken: Option<String>,
}

impl ResponseHeaders {
    /// Compiles the response headers of `endpoint`, noting in `needs` what their templates
    /// read; `application/json` unless the endpoint names a content type.
    fn compile(
        response: &spec::Response,
        key: &str,
        (item, line): (u32, u32),
        diagnostics: &mut Vec<Diagnostic>,
        needs: &mut Needs,
    ) -> Self {
        let what = format!("{key}.headers");
        let mut headers = Self {
            fixed: HeaderMap::new(),
            templated: Vec::new(),
            broken: None,
        };
        let has_content_type = response
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !has_content_type {
            headers.fixed.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        for (name, value) in &response.headers {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                headers.broken = Some(format!("{name:?} is not a header name"));
                continue;
            };
            match compile_template(value, &what, item, line, diagnostics) {
                Ok(template) if template.is_static() => match HeaderValue::from_str(value) {
                    Ok(v) => {
                        headers.fixed.append(name, v);
                    }
                    Err(_) => {
                        headers.broken =
                            Some(format!("the value of header {name} is not valid in HTTP"));
                    }
                },
                Ok(template) => {
                    needs.read(template.variables());
                    headers.templated.push((name, template));
                }
                Err(message) => headers.broken = Some(message),
            }
        }
        headers
    }
}

/// How rendered values are escaped in a body with these headers' content type, and
/// whether that type is JSON.
fn body_escape(headers: &HeaderMap) -> (Escape, bool) {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .unwrap_or_default();
    let is_json = is_json_media(&media);
    let escape = if is_json {
        Escape::Json
    } else if media == "text/html" {
        Escape::Html
    } else {
        Escape::None
    };
    (escape, is_json)
}

/// The response body of `endpoint`, noting in `needs` what its templates read: broken
/// when its headers are (`broken`); when absent, `null` for JSON (`is_json`) and empty
/// otherwise.
fn compile_body(
    response: &spec::Response,
    key: &str,
    (item, line): (u32, u32),
    broken: Option<String>,
    is_json: bool,
    diagnostics: &mut Vec<Diagnostic>,
    needs: &mut Needs,
) -> BodySource {
    if let Some(message) = broken {
        return BodySource::Broken(message);
    }
    match &response.body {
        Body::Absent => BodySource::Static(if is_json {
            Bytes::from_static(b"null")
        } else {
            Bytes::new()
        }),
        Body::Text(source) => {
            match compile_template(source, &format!("{key}.body"), item, line, diagnostics) {
                Ok(template) if template.is_static() => {
                    BodySource::Static(Bytes::from(template.static_text().unwrap_or("").to_owned()))
                }
                Ok(template) => {
                    needs.read(template.variables());
                    BodySource::Template(template)
                }
                Err(message) => BodySource::Broken(message),
            }
        }
        Body::External(external) => match compile_template(
            &external.path,
            &format!("{key}.external-body.path"),
            item,
            line,
            diagnostics,
        ) {
            Ok(path) => {
                needs.read(path.variables());
                // The file's content is a template too: it may read anything.
                *needs = Needs::EVERYTHING;
                BodySource::External {
                    provider: external.provider.clone(),
                    path,
                    sheet: external.sheet_name.clone(),
                }
            }
            Err(message) => BodySource::Broken(message),
        },
    }
}

/// The webhook of `endpoint`, if it has one that compiles, noting in `needs` what it reads.
fn compile_webhook(
    endpoint: &Endpoint,
    diagnostics: &mut Vec<Diagnostic>,
    needs: &mut Needs,
) -> Option<CompiledWebhook> {
    let webhook = endpoint.webhook.as_ref()?;
    match CompiledWebhook::compile(webhook) {
        Ok(compiled) => {
            needs.read(compiled.variables().iter().map(String::as_str));
            Some(compiled)
        }
        Err(message) => {
            diagnostics.push(
                Diagnostic::warning(endpoint.line, 1, format!("webhook: {message}"))
                    .in_item(endpoint.item, "endpoint.webhook"),
            );
            None
        }
    }
}

/// A path pattern's shape, as the router needs it (parameter names and types aside).
pub(super) fn route_segments(path: &spec::PathPattern) -> Vec<PatternSegment> {
    path.segments
        .iter()
        .map(|s| match s {
            Segment::Static(text) => PatternSegment::Static(text.clone()),
            Segment::Param { .. } => PatternSegment::Param,
        })
        .collect()
}

/// Compiles a template of the spec (`what`, at `line` of item `item`); one that does not
/// compile is a warning in `diagnostics`, and its message.
fn compile_template(
    source: &str,
    what: &str,
    item: u32,
    line: u32,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Template, String> {
    Template::compile(source).map_err(|e| {
        let message = format!("{what}: {e}");
        diagnostics.push(
            Diagnostic::warning(line + e.line.saturating_sub(1), e.column, message.clone())
                .in_item(item, what),
        );
        message
    })
}
