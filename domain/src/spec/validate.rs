//! Checks on a parsed [`Spec`] that depend on the [`Mode`] or on several items: shadowed
//! routes, templates that do not compile, local external bodies in the hosted service.

use std::collections::HashMap;

use super::read::{Place, Places};
use super::{Body, Method, Mode, PathPattern, Segment, Spec};
use crate::Diagnostic;
use crate::template::{Condition, Template};

/// The largest compiled form of one WebSocket pattern, in bytes: enough for any realistic
/// message pattern, and it keeps a compile under a few milliseconds.
pub(super) const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

/// Compiles a WebSocket `on-message` pattern as the mock server will use it: anchored (the
/// whole message must match, as Java's `re-matches`), with size limits (linear-time engine).
/// At most [`Limits::max_items`](super::Limits) patterns are compiled per spec.
///
/// # Errors
/// The regex error, on one line.
pub(super) fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|error| match error {
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or("invalid syntax")
                .to_owned(),
            regex::Error::CompiledTooBig(limit) => {
                format!("the pattern compiles to more than {limit} bytes")
            }
            _ => error.to_string(),
        })
}

/// Where to report a finding about `key` of `item`: its recorded place, else the item's line.
fn locate<'p>(
    places: &'p Places,
    item: u32,
    key: &str,
    line: u32,
) -> (u32, u32, String, Option<&'p Place>) {
    match places.get(item, key) {
        Some(place) => (place.line, place.column, place.key.clone(), Some(place)),
        None => (line, 1, key.to_owned(), None),
    }
}

fn is_http_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Host, method and path shape: what makes two endpoints the same route.
type RouteKey<'s> = (Option<&'s str>, Method, Vec<Option<&'s str>>);

/// A route's identity for the shadowing check: static texts, `*` for parameters.
fn route_key(path: &PathPattern) -> Vec<Option<&str>> {
    path.segments
        .iter()
        .map(|segment| match segment {
            Segment::Static(text) => Some(text.as_str()),
            Segment::Param { .. } => None,
        })
        .collect()
}

/// Checks `spec`. `read_failed` says the reader already refused it (so an empty spec is not
/// news: its items had errors).
pub(super) fn validate(
    spec: &Spec,
    mode: Mode,
    places: &Places,
    read_failed: bool,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    if spec.endpoints.is_empty() && spec.websockets.is_empty() && !read_failed {
        diagnostics.push(Diagnostic::warning(
            1,
            1,
            "the spec defines no endpoints; every request will answer 404",
        ));
    }

    let mut routes: HashMap<RouteKey<'_>, u32> = HashMap::new();
    for endpoint in &spec.endpoints {
        let route = (
            endpoint.host.as_deref(),
            endpoint.method,
            route_key(&endpoint.path),
        );
        if let Some(first) = routes.get(&route) {
            let (line, column, key, _) =
                locate(places, endpoint.item, "endpoint.path", endpoint.line);
            let on_host = endpoint
                .host
                .as_deref()
                .map(|host| format!(" on host {host}"))
                .unwrap_or_default();
            diagnostics.push(
                Diagnostic::warning(
                    line,
                    column,
                    format!(
                        "{} {}{on_host} is shadowed by item {first}, which defines the same route \
                         first; this endpoint never answers",
                        endpoint.method, endpoint.path
                    ),
                )
                .in_item(endpoint.item, key),
            );
        } else {
            routes.insert(route, endpoint.item);
        }

        if let Some(webhook) = &endpoint.webhook
            && !is_http_url(&webhook.url)
            && !webhook.url.trim_start().starts_with("{{")
        {
            let (line, column, key, _) =
                locate(places, endpoint.item, "endpoint.webhook.url", endpoint.line);
            let message = format!(
                "the webhook `url` must be an http:// or https:// URL, not `{}`",
                webhook.url
            );
            diagnostics.push(
                match mode {
                    Mode::Cloud => Diagnostic::error(line, column, message),
                    Mode::Standalone => Diagnostic::warning(
                        line,
                        column,
                        format!("{message}; the webhook is not sent"),
                    ),
                }
                .in_item(endpoint.item, key),
            );
        }

        if mode == Mode::Cloud
            && let Body::External(external) = &endpoint.response.body
            && !is_http_url(&external.path)
        {
            let (line, column, key, _) = locate(
                places,
                endpoint.item,
                "endpoint.response.external-body.path",
                endpoint.line,
            );
            diagnostics.push(
                Diagnostic::error(
                    line,
                    column,
                    format!(
                        "local files are not available in the hosted service: `{}` must be an \
                         http:// or https:// URL",
                        external.path
                    ),
                )
                .in_item(endpoint.item, key),
            );
        }
    }

    let mut sockets: HashMap<(Option<&str>, Vec<Option<&str>>), u32> = HashMap::new();
    for socket in &spec.websockets {
        let shape = route_key(&socket.path);
        let (line, column, key, _) = locate(places, socket.item, "websocket.path", socket.line);
        if let Some(first) = sockets.get(&(socket.host.as_deref(), shape.clone())) {
            diagnostics.push(
                Diagnostic::warning(
                    line,
                    column,
                    format!(
                        "websocket {} is shadowed by item {first}, which defines the same route \
                         first",
                        socket.path
                    ),
                )
                .in_item(socket.item, key),
            );
            continue;
        }
        if let Some(first) = routes.get(&(socket.host.as_deref(), Method::Get, shape.clone())) {
            diagnostics.push(
                Diagnostic::warning(
                    line,
                    column,
                    format!(
                        "websocket {} has the same path as the GET endpoint of item {first}; \
                         plain GET requests go to the endpoint, upgrades to the websocket",
                        socket.path
                    ),
                )
                .in_item(socket.item, key),
            );
        }
        sockets.insert((socket.host.as_deref(), shape), socket.item);
    }

    check_templates(spec, mode, places, &mut diagnostics);
    diagnostics
}

/// What a template source is, for compiling it and for saying what a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Part of an endpoint's response: a failure answers 500.
    Response,
    /// Part of a webhook: a failure means the webhook is not sent.
    Webhook,
    /// A webhook `if`, compiled as a [`Condition`].
    Condition,
    /// A WebSocket message template.
    Message,
}

/// Template checks: every template source compiles (`Template::compile`), every webhook `if`
/// too (`Condition::compile`). In [`Mode::Cloud`] a failure is an error; in
/// [`Mode::Standalone`] a warning, and the endpoint answers 500 naming the problem.
fn check_templates(spec: &Spec, mode: Mode, places: &Places, diagnostics: &mut Vec<Diagnostic>) {
    for endpoint in &spec.endpoints {
        let mut sources: Vec<(String, &str, Source)> = Vec::new();
        let response = &endpoint.response;
        match &response.body {
            Body::Text(text) => {
                sources.push(("endpoint.response.body".to_owned(), text, Source::Response));
            }
            Body::External(external) => sources.push((
                "endpoint.response.external-body.path".to_owned(),
                &external.path,
                Source::Response,
            )),
            Body::Absent => {}
        }
        for (name, value) in &response.headers {
            sources.push((
                format!("endpoint.response.headers.{name}"),
                value,
                Source::Response,
            ));
        }
        if let Some(webhook) = &endpoint.webhook {
            sources.push((
                "endpoint.webhook.url".to_owned(),
                &webhook.url,
                Source::Webhook,
            ));
            if let Some(body) = &webhook.body {
                sources.push(("endpoint.webhook.body".to_owned(), body, Source::Webhook));
            }
            for (name, value) in &webhook.headers {
                sources.push((
                    format!("endpoint.webhook.headers.{name}"),
                    value,
                    Source::Webhook,
                ));
            }
            if let Some(condition) = &webhook.condition {
                sources.push((
                    "endpoint.webhook.if".to_owned(),
                    condition,
                    Source::Condition,
                ));
            }
        }
        for (key, text, source) in sources {
            check_one(
                (endpoint.item, endpoint.line),
                &key,
                text,
                source,
                mode,
                places,
                diagnostics,
            );
        }
    }
    for socket in &spec.websockets {
        if let Some(text) = &socket.on_connect {
            check_one(
                (socket.item, socket.line),
                "websocket.on-connect.response",
                text,
                Source::Message,
                mode,
                places,
                diagnostics,
            );
        }
        for (index, (_, text)) in socket.on_message.iter().enumerate() {
            check_one(
                (socket.item, socket.line),
                &format!("websocket.on-message[{index}].response"),
                text,
                Source::Message,
                mode,
                places,
                diagnostics,
            );
        }
    }
}

fn check_one(
    (item, line): (u32, u32),
    key: &str,
    text: &str,
    source: Source,
    mode: Mode,
    places: &Places,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let result = match source {
        Source::Condition => Condition::compile(text).map(drop),
        _ => Template::compile(text).map(drop),
    };
    let Err(error) = result else {
        return;
    };
    let (mut at_line, mut at_column, shown_key, place) = locate(places, item, key, line);
    let exact = place.and_then(|place| place.shape.locate(error.line, error.column));
    let mut message = match source {
        Source::Condition => format!("the webhook `if` does not compile: {}", error.message),
        _ => format!("the template does not compile: {}", error.message),
    };
    match exact {
        Some((line, column)) => (at_line, at_column) = (line, column),
        None => message.push_str(&format!(
            " (at line {}, column {} of the template)",
            error.line, error.column
        )),
    }
    let diagnostic = match mode {
        Mode::Cloud => Diagnostic::error(at_line, at_column, message),
        Mode::Standalone => {
            message.push_str(match source {
                Source::Response => "; this endpoint answers 500 until it is fixed",
                Source::Webhook | Source::Condition => "; the webhook is not sent",
                Source::Message => "; this message is not sent",
            });
            Diagnostic::warning(at_line, at_column, message)
        }
    };
    diagnostics.push(diagnostic.in_item(item, shown_key));
}
