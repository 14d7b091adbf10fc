//! The engine: a spec compiled into a routing table and ready-to-render endpoints, and the
//! request handler that runs on it.
//!
//! Everything that can be done once is done in [`Engine::build`]: templates compiled,
//! static bodies and headers prepared, rate limiters made. A request then costs a route
//! lookup and, for templated endpoints, one render against a context holding only the parts
//! the templates use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method as HttpMethod, StatusCode};
use moclojer_domain::spec::{
    self, Body, Endpoint, Latency, Method, Mode, Provider, RateKey, Segment, Spec,
};
use moclojer_domain::template::{Env, Escape, RenderLimits, Template};
use moclojer_domain::{Diagnostic, REAL_IP_HEADER, TrustedProxies};
use serde_json::{Map, Value};

use crate::context::{Refusal, check_against_example, coerce};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::request::{percent_decode, query_pairs};
use crate::router::{Lookup, METHODS, PatternSegment, RouteTable};
use crate::socket::CompiledSocket;
use crate::webhook::{CompiledWebhook, Webhooks};
use moclojer_egress::Egress;

/// The order methods are listed in `Allow`, as the original lists them.
/// The request header with which ops asks, in cloud mode, whether a host is served (204)
/// or not (404).
pub const PROBE_HEADER: &str = "x-moclojer-probe";

const METHOD_ORDER: [Method; METHODS] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Connect,
    Method::Options,
    Method::Trace,
    Method::Patch,
];

fn method_index(method: Method) -> usize {
    METHOD_ORDER.iter().position(|m| *m == method).unwrap_or(0)
}

fn http_method_index(method: &HttpMethod) -> Option<usize> {
    let found = match *method {
        HttpMethod::GET => Method::Get,
        HttpMethod::HEAD => Method::Head,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::DELETE => Method::Delete,
        HttpMethod::CONNECT => Method::Connect,
        HttpMethod::OPTIONS => Method::Options,
        HttpMethod::TRACE => Method::Trace,
        HttpMethod::PATCH => Method::Patch,
        _ => return None,
    };
    Some(method_index(found))
}

/// How the engine behaves beyond what the spec says.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Standalone (a file on the user's machine) or cloud (the hosted service).
    pub mode: Mode,
    /// Answer cross-origin requests permissively (echo the origin). On by default.
    pub cors: bool,
    /// Largest request body read, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Fuel and output cap of every render.
    pub render: RenderLimits,
    /// Where relative external-body paths are looked up (the spec's folder), besides the
    /// working directory. Standalone only.
    pub spec_dir: Option<PathBuf>,
    /// The guard every outbound call (webhooks, external bodies by URL) goes through;
    /// `None` disables outbound calls.
    pub egress: Option<Egress>,
    /// Proxies in front whose `X-Real-IP` names the client (for the `remote-addr` rate-limit
    /// key). None by default: the socket's peer is the client, as in the original.
    pub trusted_proxies: TrustedProxies,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Standalone,
            cors: true,
            max_body_bytes: 1024 * 1024,
            render: RenderLimits::default(),
            spec_dir: None,
            egress: None,
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

/// A body: fixed bytes, a template, an external source, or a template that did not compile
/// (standalone mode answers 500 naming the problem).
#[derive(Debug)]
enum BodySource {
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
struct Needs {
    path: bool,
    query: bool,
    json: bool,
    headers: bool,
}

impl Needs {
    /// Notes that a template reads the context root `root`.
    fn read(&mut self, root: &str) {
        match root {
            "path-params" => self.path = true,
            "query-params" => self.query = true,
            "json-params" => self.json = true,
            "header-params" => self.headers = true,
            _ => {}
        }
    }
}

#[derive(Debug)]
struct CompiledEndpoint {
    params: Vec<(String, spec::ParamType)>,
    query: Vec<spec::QueryParam>,
    body_example: Option<Value>,
    status: StatusCode,
    /// Prepared once: the default content type and every static header.
    static_headers: HeaderMap,
    templated_headers: Vec<(HeaderName, Template)>,
    escape: Escape,
    body: BodySource,
    rate: Option<(RateLimiter, RateKey)>,
    latency: Option<Latency>,
    webhook: Option<CompiledWebhook>,
    needs: Needs,
}

/// A compiled spec, ready to answer requests. Cheap to share behind an `Arc`; replaced
/// whole on reload.
#[derive(Debug)]
pub struct Engine {
    table: RouteTable,
    endpoints: Vec<CompiledEndpoint>,
    options: Arc<EngineOptions>,
    warnings: Vec<Diagnostic>,
    spec: Spec,
    webhooks: Webhooks,
    socket_table: RouteTable,
    sockets: Vec<Arc<CompiledSocket>>,
}

/// The answer to a request.
pub type Reply = http::Response<Bytes>;

fn reply(status: StatusCode, headers: HeaderMap, body: Bytes) -> Reply {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

/// The body of a 404 for a host no mock is published on (cloud mode), in the proxy's shape.
const UNKNOWN_HOST_BODY: &str =
    r#"{"error":{"code":"not_found","message":"no mock answers on this host"}}"#;

fn error_reply(status: StatusCode, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message }).to_string();
    reply(status, json_headers(), Bytes::from(body))
}

impl Engine {
    /// Compiles `spec`. In cloud mode every endpoint needs a host, and a template that
    /// does not compile is an error; in standalone mode it is a warning and that endpoint
    /// answers 500.
    ///
    /// # Errors
    /// The diagnostics that refuse the spec.
    pub fn build(spec: Spec, options: EngineOptions) -> Result<Self, Vec<Diagnostic>> {
        let mut diagnostics = spec::validate(&spec, options.mode);
        if options.mode == Mode::Cloud {
            for endpoint in spec.endpoints.iter().filter(|e| e.host.is_none()) {
                diagnostics.push(
                    Diagnostic::error(
                        endpoint.line,
                        1,
                        "in the hosted service every endpoint has a host",
                    )
                    .in_item(endpoint.item, "endpoint.host"),
                );
            }
        }
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(diagnostics);
        }
        let mut table = RouteTable::default();
        let mut endpoints = Vec::with_capacity(spec.endpoints.len());
        for endpoint in &spec.endpoints {
            let index = u32::try_from(endpoints.len()).unwrap_or(u32::MAX);
            let segments = route_segments(&endpoint.path);
            if !table.insert(
                endpoint.host.as_deref(),
                &segments,
                method_index(endpoint.method),
                index,
            ) {
                continue; // shadowed: the first definition wins (validate warned)
            }
            endpoints.push(compile_endpoint(endpoint, &mut diagnostics));
        }
        let mut socket_table = RouteTable::default();
        let mut sockets = Vec::with_capacity(spec.websockets.len());
        for socket in &spec.websockets {
            let index = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
            let segments = route_segments(&socket.path);
            if !socket_table.insert(socket.host.as_deref(), &segments, 0, index) {
                continue;
            }
            let (compiled, problems) = CompiledSocket::compile(socket);
            for problem in problems {
                diagnostics.push(
                    Diagnostic::warning(socket.line, 1, format!("websocket: {problem}"))
                        .in_item(socket.item, "websocket"),
                );
            }
            sockets.push(Arc::new(compiled));
        }
        let webhooks = Webhooks::new(options.egress.clone());
        Ok(Self {
            table,
            endpoints,
            options: Arc::new(options),
            warnings: diagnostics,
            spec,
            webhooks,
            socket_table,
            sockets,
        })
    }

    /// Warnings found while compiling (templates that did not compile in standalone mode,
    /// unknown keys, shadowed routes...).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The spec this engine was built from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// How many endpoints answer.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The options the engine was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Answers one request whose body has been read (at most `max_body_bytes`). In cloud
    /// mode a request carrying [`PROBE_HEADER`] gets 204 when its host is served and 404
    /// when not, whatever its method and path: that is how ops verifies a host.
    pub async fn handle(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        remote: SocketAddr,
        env: &(dyn Env + Sync),
    ) -> Reply {
        let webhooks = &self.webhooks;
        let host = match crate::request::request_host(&parts.uri, &parts.headers) {
            Ok(host) => host,
            Err(_) => return reply(StatusCode::BAD_REQUEST, HeaderMap::new(), Bytes::new()),
        };
        if self.options.mode == Mode::Cloud && parts.headers.contains_key(PROBE_HEADER) {
            // ops asks whether this host is served, without touching the tenant's routes.
            let status = if self.table.serves_host(&host) {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_FOUND
            };
            return reply(status, HeaderMap::new(), Bytes::new());
        }
        let path = parts.uri.path();
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .cloned()
            .filter(|_| self.options.cors);
        let Some(method) = http_method_index(&parts.method) else {
            return reply(StatusCode::NOT_IMPLEMENTED, HeaderMap::new(), Bytes::new());
        };
        let mut response = match self.table.lookup(&host, method, path) {
            Lookup::Found { endpoint, params } => {
                let endpoint = &self.endpoints[endpoint as usize];
                self.answer(endpoint, parts, &params, body, remote, env, webhooks)
                    .await
            }
            Lookup::MethodNotAllowed { allowed }
                if parts.method == HttpMethod::HEAD && allowed[0] =>
            {
                // HEAD of a GET route: the GET response without its body.
                match self.table.lookup(&host, 0, path) {
                    Lookup::Found { endpoint, params } => {
                        let endpoint = &self.endpoints[endpoint as usize];
                        let mut full = self
                            .answer(endpoint, parts, &params, body, remote, env, webhooks)
                            .await;
                        *full.body_mut() = Bytes::new();
                        full
                    }
                    _ => reply(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()),
                }
            }
            Lookup::MethodNotAllowed { allowed } => {
                let allow = allow_header(&allowed);
                if parts.method == HttpMethod::OPTIONS {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::ALLOW, allow.clone());
                    if origin.is_some() {
                        preflight_headers(&mut headers, &parts.headers, &allow);
                    }
                    reply(StatusCode::OK, headers, Bytes::new())
                } else {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::ALLOW, allow);
                    reply(StatusCode::METHOD_NOT_ALLOWED, headers, Bytes::new())
                }
            }
            Lookup::NotFound => match self.socket_for(&parts.uri, &parts.headers) {
                // A plain GET of a websocket path gets the greeting, as the original answered.
                Some((socket, context)) if parts.method == HttpMethod::GET => {
                    match socket.greeting(&context, env, &self.options.render) {
                        Some(Ok(text)) => {
                            reply(StatusCode::OK, HeaderMap::new(), Bytes::from(text))
                        }
                        Some(Err(message)) => template_error(&message),
                        None => reply(StatusCode::UPGRADE_REQUIRED, HeaderMap::new(), Bytes::new()),
                    }
                }
                // A host no mock is published on says so, as the proxy does for hosts
                // outside the zone; a served host's unknown path stays an empty 404.
                _ if self.options.mode == Mode::Cloud && !self.table.serves_host(&host) => reply(
                    StatusCode::NOT_FOUND,
                    json_headers(),
                    Bytes::from_static(UNKNOWN_HOST_BODY.as_bytes()),
                ),
                _ => reply(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()),
            },
        };
        if let Some(origin) = origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("*"),
            );
        }
        response
    }

    /// The websocket endpoint for this request's host and path, with its context (typed
    /// path parameters, query), if any.
    pub(crate) fn socket_for(
        &self,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<(Arc<CompiledSocket>, Value)> {
        let host = crate::request::request_host(uri, headers).ok()?;
        let Lookup::Found { endpoint, params } = self.socket_table.lookup(&host, 0, uri.path())
        else {
            return None;
        };
        let socket = self.sockets.get(endpoint as usize)?;
        let mut path_params = Map::new();
        for ((name, ty), raw) in socket.params.iter().zip(&params) {
            path_params.insert(name.clone(), coerce(&percent_decode(raw), *ty).ok()?);
        }
        Some((
            Arc::clone(socket),
            crate::socket::context(path_params, uri.query().unwrap_or("")),
        ))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one request's parts, passed down once"
    )]
    async fn answer(
        &self,
        endpoint: &CompiledEndpoint,
        parts: &http::request::Parts,
        params: &[&str],
        body: Bytes,
        remote: SocketAddr,
        env: &(dyn Env + Sync),
        webhooks: &Webhooks,
    ) -> Reply {
        let mut rate_headers = None;
        if let Some((limiter, key)) = &endpoint.rate {
            // The client: the socket's peer, or whom a trusted proxy says it serves.
            let address = || {
                let real_ip = parts.headers.get(REAL_IP_HEADER);
                let real_ip = real_ip.and_then(|v| v.to_str().ok());
                self.options
                    .trusted_proxies
                    .real_ip(remote.ip(), real_ip)
                    .to_string()
            };
            let client = match key {
                RateKey::RemoteAddr => address(),
                RateKey::Header(name) => parts
                    .headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map_or_else(address, str::to_owned),
            };
            match limiter.check(&client, Instant::now()) {
                Verdict::Allowed { limit, remaining } => rate_headers = Some((limit, remaining)),
                Verdict::Limited {
                    limit,
                    reset_epoch_ms,
                } => {
                    let mut limited =
                        error_reply(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
                    let headers = limited.headers_mut();
                    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
                    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
                    headers.insert(
                        "x-ratelimit-reset",
                        HeaderValue::from_str(&reset_epoch_ms.to_string())
                            .unwrap_or(HeaderValue::from_static("0")),
                    );
                    return limited;
                }
            }
        }

        if let Some(latency) = &endpoint.latency
            && let Some(simulated) = simulate_latency(latency).await
        {
            return simulated;
        }

        let mut response = match self.context(endpoint, parts, params, &body) {
            Err(refusals) => reply(
                StatusCode::BAD_REQUEST,
                json_headers(),
                Bytes::from(Refusal::body(&refusals)),
            ),
            Ok(context) => {
                let response = self.respond(endpoint, &context, env).await;
                if let Some(webhook) = &endpoint.webhook {
                    webhooks.fire(webhook, &context, env, &self.options.render);
                }
                response
            }
        };
        if let Some((limit, remaining)) = rate_headers {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        }
        response
    }

    /// Builds the template context, refusing values that do not fit their declared types.
    fn context(
        &self,
        endpoint: &CompiledEndpoint,
        parts: &http::request::Parts,
        params: &[&str],
        body: &Bytes,
    ) -> Result<Value, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut root = Map::new();

        let mut path_params = Map::new();
        for ((name, ty), raw) in endpoint.params.iter().zip(params) {
            let decoded = percent_decode(raw);
            match coerce(&decoded, *ty) {
                Ok(value) => {
                    path_params.insert(name.clone(), value);
                }
                Err(problem) => refusals.push(Refusal::new("path-params", name.clone(), problem)),
            }
        }
        if endpoint.needs.path {
            root.insert("path-params".to_owned(), Value::Object(path_params));
        }

        if endpoint.needs.query || !endpoint.query.is_empty() {
            let pairs = query_pairs(parts.uri.query().unwrap_or(""));
            let mut query = Map::new();
            for (key, value) in &pairs {
                match query.get_mut(key) {
                    None => {
                        query.insert(key.clone(), Value::String(value.clone()));
                    }
                    Some(Value::Array(list)) => list.push(Value::String(value.clone())),
                    Some(first) => {
                        let earlier = first.take();
                        *first = Value::Array(vec![earlier, Value::String(value.clone())]);
                    }
                }
            }
            for declared in &endpoint.query {
                match query.get(&declared.name) {
                    None => refusals.push(Refusal::new(
                        "query-params",
                        declared.name.clone(),
                        "missing required key",
                    )),
                    Some(Value::String(raw)) => match coerce(raw, declared.ty) {
                        Ok(value) => {
                            query.insert(declared.name.clone(), value);
                        }
                        Err(problem) => refusals.push(Refusal::new(
                            "query-params",
                            declared.name.clone(),
                            problem,
                        )),
                    },
                    Some(_) => refusals.push(Refusal::new(
                        "query-params",
                        declared.name.clone(),
                        "should be a single value",
                    )),
                }
            }
            root.insert("query-params".to_owned(), Value::Object(query));
        }

        if endpoint.needs.json || endpoint.body_example.is_some() {
            let is_json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| {
                    let essence = ct
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    essence == "application/json" || essence.ends_with("+json")
                });
            let parsed = if is_json && !body.is_empty() {
                match serde_json::from_slice::<Value>(body) {
                    Ok(value) => Some(value),
                    Err(_) => {
                        return Err(vec![Refusal::new("json-params", "body", "malformed JSON")]);
                    }
                }
            } else {
                None
            };
            if let Some(example) = &endpoint.body_example {
                match &parsed {
                    Some(value) => check_against_example(value, example, "", &mut refusals),
                    None => refusals.push(Refusal::new(
                        "json-params",
                        "body",
                        "a JSON body is required",
                    )),
                }
            }
            if let Some(value) = parsed {
                root.insert("json-params".to_owned(), value);
            }
        }

        if endpoint.needs.headers {
            let mut headers = Map::new();
            for (name, value) in &parts.headers {
                if let Ok(text) = value.to_str() {
                    headers
                        .entry(name.as_str().to_owned())
                        .or_insert_with(|| Value::String(text.to_owned()));
                }
            }
            root.insert("header-params".to_owned(), Value::Object(headers));
        }

        if refusals.is_empty() {
            Ok(Value::Object(root))
        } else {
            Err(refusals)
        }
    }

    async fn respond(
        &self,
        endpoint: &CompiledEndpoint,
        context: &Value,
        env: &(dyn Env + Sync),
    ) -> Reply {
        let limits = &self.options.render;
        let mut headers = endpoint.static_headers.clone();
        for (name, template) in &endpoint.templated_headers {
            match template.render(context, Escape::None, env, limits) {
                Ok(text) => match HeaderValue::from_str(&text) {
                    Ok(value) => {
                        headers.insert(name.clone(), value);
                    }
                    Err(_) => {
                        return template_error(&format!(
                            "header {name} rendered to a value HTTP cannot carry"
                        ));
                    }
                },
                Err(e) => return template_error(&e.to_string()),
            }
        }
        let body = match &endpoint.body {
            BodySource::Static(bytes) => bytes.clone(),
            BodySource::Template(template) => {
                match template.render(context, endpoint.escape, env, limits) {
                    Ok(text) => Bytes::from(text),
                    Err(e) => return template_error(&e.to_string()),
                }
            }
            BodySource::External {
                provider,
                path,
                sheet,
            } => {
                match crate::external::load(
                    provider,
                    path,
                    sheet.as_deref(),
                    context,
                    env,
                    &self.options,
                    endpoint.escape,
                )
                .await
                {
                    Ok(bytes) => bytes,
                    Err(message) => {
                        return error_reply(StatusCode::INTERNAL_SERVER_ERROR, &message);
                    }
                }
            }
            BodySource::Broken(message) => return template_error(message),
        };
        reply(endpoint.status, headers, body)
    }
}

/// 500 with the original's template-error body: `{"error":{"message":M},"message":M}`.
fn template_error(message: &str) -> Reply {
    let body =
        serde_json::json!({ "error": { "message": message }, "message": message }).to_string();
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json_headers(),
        Bytes::from(body),
    )
}

fn allow_header(allowed: &[bool; METHODS]) -> HeaderValue {
    let mut names: Vec<&str> = METHOD_ORDER
        .iter()
        .zip(allowed)
        .filter(|(_, on)| **on)
        .map(|(m, _)| m.as_str())
        .collect();
    if !allowed[method_index(Method::Options)] {
        names.push("OPTIONS");
    }
    HeaderValue::from_str(&names.join(",")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

fn preflight_headers(headers: &mut HeaderMap, request: &HeaderMap, allow: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow.clone());
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

async fn simulate_latency(latency: &Latency) -> Option<Reply> {
    if latency.failure_rate > 0.0 && fastrand::f64() < latency.failure_rate {
        return Some(error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error (simulated)",
        ));
    }
    if latency.timeout_rate > 0.0 && fastrand::f64() < latency.timeout_rate {
        tokio::time::sleep(Duration::from_millis(latency.timeout_ms)).await;
        return Some(error_reply(
            StatusCode::GATEWAY_TIMEOUT,
            "Gateway Timeout (simulated)",
        ));
    }
    if latency.max_ms > 0 {
        let low = latency.min_ms.min(latency.max_ms);
        let ms = fastrand::u64(low..=latency.max_ms);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    None
}

/// A path pattern's shape, as the router needs it (parameter names and types aside).
fn route_segments(path: &spec::PathPattern) -> Vec<PatternSegment> {
    path.segments
        .iter()
        .map(|s| match s {
            Segment::Static(text) => PatternSegment::Static(text.clone()),
            Segment::Param { .. } => PatternSegment::Param,
        })
        .collect()
}

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

fn compile_endpoint(endpoint: &Endpoint, diagnostics: &mut Vec<Diagnostic>) -> CompiledEndpoint {
    let (item, line) = (endpoint.item, endpoint.line);
    let mut needs = Needs::default();
    let mut note = |template: &Template| {
        for root in template.variables() {
            needs.read(root);
        }
    };

    let mut static_headers = HeaderMap::new();
    let mut templated_headers = Vec::new();
    let mut broken = None;
    let has_content_type = endpoint
        .response
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !has_content_type {
        static_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    for (name, value) in &endpoint.response.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            broken = Some(format!("{name:?} is not a header name"));
            continue;
        };
        match compile_template(value, "response.headers", item, line, diagnostics) {
            Ok(template) if template.is_static() => match HeaderValue::from_str(value) {
                Ok(v) => {
                    static_headers.append(name, v);
                }
                Err(_) => broken = Some(format!("the value of header {name} is not valid in HTTP")),
            },
            Ok(template) => {
                note(&template);
                templated_headers.push((name, template));
            }
            Err(message) => broken = Some(message),
        }
    }
    let content_type = static_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_json = content_type == "application/json" || content_type.ends_with("+json");
    let escape = if is_json {
        Escape::Json
    } else if content_type == "text/html" {
        Escape::Html
    } else {
        Escape::None
    };

    let body = match (&endpoint.response.body, broken) {
        (_, Some(message)) => BodySource::Broken(message),
        (Body::Absent, None) => BodySource::Static(if is_json {
            Bytes::from_static(b"null")
        } else {
            Bytes::new()
        }),
        (Body::Text(source), None) => {
            match compile_template(source, "response.body", item, line, diagnostics) {
                Ok(template) if template.is_static() => {
                    BodySource::Static(Bytes::from(template.static_text().unwrap_or("").to_owned()))
                }
                Ok(template) => {
                    note(&template);
                    BodySource::Template(template)
                }
                Err(message) => BodySource::Broken(message),
            }
        }
        (Body::External(external), None) => match compile_template(
            &external.path,
            "response.external-body.path",
            item,
            line,
            diagnostics,
        ) {
            Ok(path) => {
                note(&path);
                // The file's content is a template too: it may read anything.
                needs = Needs {
                    path: true,
                    query: true,
                    json: true,
                    headers: true,
                };
                BodySource::External {
                    provider: external.provider.clone(),
                    path,
                    sheet: external.sheet_name.clone(),
                }
            }
            Err(message) => BodySource::Broken(message),
        },
    };

    let webhook = endpoint
        .webhook
        .as_ref()
        .and_then(|w| match CompiledWebhook::compile(w) {
            Ok(compiled) => {
                for root in compiled.variables() {
                    needs.read(root);
                }
                Some(compiled)
            }
            Err(message) => {
                diagnostics.push(
                    Diagnostic::warning(line, 1, format!("webhook: {message}"))
                        .in_item(item, "endpoint.webhook"),
                );
                None
            }
        });

    let params = endpoint
        .path
        .params()
        .map(|(name, ty)| (name.to_owned(), ty))
        .collect();

    CompiledEndpoint {
        params,
        query: endpoint.query.clone(),
        body_example: endpoint.body_example.clone(),
        status: StatusCode::from_u16(endpoint.response.status).unwrap_or(StatusCode::OK),
        static_headers,
        templated_headers,
        escape,
        body,
        rate: endpoint.rate_limit.as_ref().map(|r| {
            (
                RateLimiter::new(Duration::from_millis(r.window_ms), r.max_requests),
                r.key.clone(),
            )
        }),
        latency: endpoint.latency.clone(),
        webhook,
        needs,
    }
}
