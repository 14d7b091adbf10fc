//! Checks on a parsed [`Spec`] that depend on the [`Mode`] or on several items: shadowed
//! routes, templates that do not compile, local external bodies in the hosted service.

use std::collections::HashMap;

use super::read::{Place, Places};
use super::{Body, Endpoint, Method, Mode, PathPattern, Resource, RoutedItem, Segment, Spec};
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
        .map_err(|error| regex_error(&error, "pattern"))
}

/// A regex error on one line: a syntax error's last line, or the size it passed (`what`
/// names the expression: "pattern", "expression").
pub(super) fn regex_error(error: &regex::Error, what: &str) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or("invalid syntax")
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("the {what} compiles to more than {limit} bytes")
        }
        _ => error.to_string(),
    }
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

/// The items on a route so far: the first, and the first that answers in every scenario
/// state, which shadows the ones after it. Until there is one, a later item still answers
/// when no earlier item's scenario state fits.
#[derive(Debug, Clone, Copy)]
struct Route {
    /// The first item on the route.
    item: u32,
    /// `None` while every item so far answers only in a scenario's state; else the first
    /// item that answers in any state, which shadows every later one.
    closed_by: Option<u32>,
}

impl Route {
    /// Records `item` on the route (`scoped`: it answers only in a scenario's state);
    /// returns the item that shadows it, if one does.
    fn add<'s>(
        routes: &mut HashMap<RouteKey<'s>, Route>,
        route: RouteKey<'s>,
        item: u32,
        scoped: bool,
    ) -> Option<u32> {
        let closed_by = (!scoped).then_some(item);
        match routes.get_mut(&route) {
            None => {
                routes.insert(route, Route { item, closed_by });
                None
            }
            Some(Route {
                closed_by: Some(first),
                ..
            }) => Some(*first),
            Some(open) => {
                open.closed_by = closed_by;
                None
            }
        }
    }
}

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
    let mut findings = Findings {
        mode,
        places,
        diagnostics: Vec::new(),
    };
    if spec.endpoints.is_empty()
        && spec.websockets.is_empty()
        && spec.resources.is_empty()
        && !read_failed
    {
        findings.diagnostics.push(Diagnostic::warning(
            1,
            1,
            "the spec defines no endpoints; every request will answer 404",
        ));
    }
    let mut routes: HashMap<RouteKey<'_>, Route> = HashMap::new();
    for owner in spec.routed_items() {
        match owner {
            RoutedItem::Endpoint(endpoint) => {
                findings.check_route(endpoint, &mut routes);
                findings.check_webhook_url(endpoint);
                findings.check_external_body(endpoint);
            }
            RoutedItem::Resource(resource) => findings.check_resource_routes(resource, &mut routes),
        }
    }
    let routes = routes
        .into_iter()
        .map(|(key, route)| (key, route.item))
        .collect();
    findings.check_websockets(spec, &routes);
    findings.check_templates(spec);
    findings.diagnostics
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

/// The findings of one validation, with what decides where and how strictly to report them.
#[derive(Debug)]
struct Findings<'p> {
    mode: Mode,
    places: &'p Places,
    diagnostics: Vec<Diagnostic>,
}

impl Findings<'_> {
    /// Warns when an earlier item has the same route (host, method, path shape) and
    /// answers it in any scenario state, so it always answers first; records the route.
    fn check_route<'s>(
        &mut self,
        endpoint: &'s Endpoint,
        routes: &mut HashMap<RouteKey<'s>, Route>,
    ) {
        let route = (
            endpoint.host.as_deref(),
            endpoint.method,
            route_key(&endpoint.path),
        );
        // A scenario without `when-state` answers in every state: it shadows like any.
        let scoped = endpoint
            .scenario
            .as_ref()
            .is_some_and(|scenario| scenario.when_state.is_some());
        let Some(first) = Route::add(routes, route, endpoint.item, scoped) else {
            return;
        };
        let (line, column, key, _) =
            locate(self.places, endpoint.item, "endpoint.path", endpoint.line);
        let on_host = endpoint
            .host
            .as_deref()
            .map(|host| format!(" on host {host}"))
            .unwrap_or_default();
        self.diagnostics.push(
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
    }

    /// Warns when an earlier item defines one of a resource's routes (that item answers
    /// it); records the routes otherwise.
    fn check_resource_routes<'s>(
        &mut self,
        resource: &'s Resource,
        routes: &mut HashMap<RouteKey<'s>, Route>,
    ) {
        for (method, record) in Resource::ROUTES {
            let mut shape = route_key(&resource.path);
            if record {
                shape.push(None);
            }
            let route = (resource.host.as_deref(), method, shape);
            let Some(first) = Route::add(routes, route, resource.item, false) else {
                continue;
            };
            let (line, column, key, _) =
                locate(self.places, resource.item, "resource.path", resource.line);
            let id = if record { "/:id" } else { "" };
            let message = format!(
                "{method} {}{id} of this resource is shadowed by item {first}, which defines \
                 the same route first",
                resource.path
            );
            self.diagnostics
                .push(Diagnostic::warning(line, column, message).in_item(resource.item, key));
        }
    }

    /// A webhook `url` must be http(s) (or a template that makes one): an error in the
    /// cloud, a warning (the webhook is not sent) standalone.
    fn check_webhook_url(&mut self, endpoint: &Endpoint) {
        let Some(webhook) = &endpoint.webhook else {
            return;
        };
        if is_http_url(&webhook.url) || webhook.url.trim_start().starts_with("{{") {
            return;
        }
        let (line, column, key, _) = locate(
            self.places,
            endpoint.item,
            "endpoint.webhook.url",
            endpoint.line,
        );
        let message = format!(
            "the webhook `url` must be an http:// or https:// URL, not `{}`",
            webhook.url
        );
        let diagnostic = match self.mode {
            Mode::Cloud => Diagnostic::error(line, column, message),
            Mode::Standalone => {
                Diagnostic::warning(line, column, format!("{message}; the webhook is not sent"))
            }
        };
        self.diagnostics
            .push(diagnostic.in_item(endpoint.item, key));
    }

    /// In the cloud an external body must be an http(s) URL: there are no local files.
    fn check_external_body(&mut self, endpoint: &Endpoint) {
        if self.mode != Mode::Cloud {
            return;
        }
        for (response_key, response) in endpoint.all_responses() {
            let Body::External(external) = &response.body else {
                continue;
            };
            if is_http_url(&external.path) {
                continue;
            }
            let path_key = format!("{response_key}.external-body.path");
            self.local_external_body(endpoint, &path_key, &external.path);
        }
    }

    fn local_external_body(&mut self, endpoint: &Endpoint, path_key: &str, path: &str) {
        let (line, column, key, _) = locate(self.places, endpoint.item, path_key, endpoint.line);
        self.diagnostics.push(
            Diagnostic::error(
                line,
                column,
                format!(
                    "local files are not available in the hosted service: `{path}` must be an \
                     http:// or https:// URL"
                ),
            )
            .in_item(endpoint.item, key),
        );
    }

    /// Warns about a websocket shadowed by an earlier one, and about one that shares its path
    /// with a GET endpoint (plain requests go to the endpoint, upgrades to the websocket).
    fn check_websockets(&mut self, spec: &Spec, routes: &HashMap<RouteKey<'_>, u32>) {
        let mut sockets: HashMap<(Option<&str>, Vec<Option<&str>>), u32> = HashMap::new();
        for socket in &spec.websockets {
            let shape = route_key(&socket.path);
            let (line, column, key, _) =
                locate(self.places, socket.item, "websocket.path", socket.line);
            if let Some(first) = sockets.get(&(socket.host.as_deref(), shape.clone())) {
                let message = format!(
                    "websocket {} is shadowed by item {first}, which defines the same route first",
                    socket.path
                );
                self.diagnostics
                    .push(Diagnostic::warning(line, column, message).in_item(socket.item, key));
                continue;
            }
            if let Some(first) = routes.get(&(socket.host.as_deref(), Method::Get, shape.clone())) {
                let message = format!(
                    "websocket {} has the same path as the GET endpoint of item {first}; plain \
                     GET requests go to the endpoint, upgrades to the websocket",
                    socket.path
                );
                self.diagnostics
                    .push(Diagnostic::warning(line, column, message).in_item(socket.item, key));
            }
            sockets.insert((socket.host.as_deref(), shape), socket.item);
        }
    }

    /// Template checks: every template source compiles (`Template::compile`), every webhook
    /// `if` too (`Condition::compile`). In [`Mode::Cloud`] a failure is an error; in
    /// [`Mode::Standalone`] a warning, and the endpoint answers 500 naming the problem.
    fn check_templates(&mut self, spec: &Spec) {
        for endpoint in &spec.endpoints {
            for (key, text, source) in endpoint_sources(endpoint) {
                self.check_one((endpoint.item, endpoint.line), &key, text, source);
            }
        }
        for socket in &spec.websockets {
            let at = (socket.item, socket.line);
            if let Some(text) = &socket.on_connect {
                self.check_one(at, "websocket.on-connect.response", text, Source::Message);
            }
            for (index, (_, text)) in socket.on_message.iter().enumerate() {
                let key = format!("websocket.on-message[{index}].response");
                self.check_one(at, &key, text, Source::Message);
            }
        }
    }

    fn check_one(&mut self, (item, line): (u32, u32), key: &str, text: &str, source: Source) {
        let result = match source {
            Source::Condition => Condition::compile(text).map(drop),
            _ => Template::compile(text).map(drop),
        };
        let Err(error) = result else {
            return;
        };
        let (mut at_line, mut at_column, shown_key, place) = locate(self.places, item, key, line);
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
        let diagnostic = match self.mode {
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
        self.diagnostics.push(diagnostic.in_item(item, shown_key));
    }
}

/// The template sources of an endpoint, in the order they are checked: the response body
/// (or external-body path) and headers, then the webhook's url, body, headers and `if`.
fn endpoint_sources(endpoint: &Endpoint) -> Vec<(String, &str, Source)> {
    let mut sources: Vec<(String, &str, Source)> = Vec::new();
    for (base, response) in endpoint.all_responses() {
        match &response.body {
            Body::Text(text) => sources.push((format!("{base}.body"), text, Source::Response)),
            Body::External(external) => sources.push((
                format!("{base}.external-body.path"),
                &external.path,
                Source::Response,
            )),
            Body::Absent => {}
        }
        for (name, value) in &response.headers {
            let key = format!("{base}.headers.{name}");
            sources.push((key, value, Source::Response));
        }
    }
    let Some(webhook) = &endpoint.webhook else {
        return sources;
    };
    sources.push((
        "endpoint.webhook.url".to_owned(),
        &webhook.url,
        Source::Webhook,
    ));
    if let Some(body) = &webhook.body {
        sources.push(("endpoint.webhook.body".to_owned(), body, Source::Webhook));
    }
    for (name, value) in &webhook.headers {
        let key = format!("endpoint.webhook.headers.{name}");
        sources.push((key, value, Source::Webhook));
    }
    if let Some(condition) = &webhook.condition {
        sources.push((
            "endpoint.webhook.if".to_owned(),
            condition,
            Source::Condition,
        ));
    }
    sources
}
