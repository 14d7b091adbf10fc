//! The engine: a spec compiled into a routing table and ready-to-render endpoints, and the
//! request handler that runs on it.
//!
//! Everything that can be done once is done in [`Engine::build`]: templates compiled,
//! static bodies and headers prepared, rate limiters made. A request then costs a route
//! lookup and, for templated endpoints, one render against a context holding only the parts
//! the templates use.

mod answer;
mod endpoint;
mod resource;
mod rules;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method as HttpMethod, StatusCode};
use moclojer_domain::journal::{Attempt, Matched, NearMiss, near_misses};
use moclojer_domain::spec::{self, Method, Mode, RoutedItem, Spec};
use moclojer_domain::template::{Env, RenderLimits};
use moclojer_domain::{Diagnostic, TrustedProxies};
use moclojer_egress::Egress;
use moclojer_ports::{MockState, PROBE_HEADER, REVISION_HEADER, StateScope};
use serde_json::{Map, Value};

use self::answer::template_error;
use self::endpoint::{CompiledEndpoint, route_segments};
use self::resource::{CompiledResource, ResourceRoute};
pub use self::resource::{DEFAULT_RESOURCE_PAGE, MAX_RESOURCE_PAGE};
use crate::context::coerce;
use crate::external::ExternalFetches;
use crate::request::percent_decode;
use crate::router::{Lookup, METHODS, PatternSegment, RouteTable};
use crate::socket::CompiledSocket;
use crate::webhook::{WebhookBudget, Webhooks};

/// The order methods are listed in `Allow`, as the original lists them.
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
    /// The room for pending webhooks, shared by every engine built on these options (and
    /// their clones): a reload does not reset it.
    pub webhooks: WebhookBudget,
    /// Fetches of external bodies by URL: their budget and cache, shared like `webhooks`.
    pub external: ExternalFetches,
    /// Where sequences, scenarios and resources keep their state: in this process by
    /// default, shared by every replica in the hosted service.
    pub state: Arc<dyn MockState>,
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
            webhooks: WebhookBudget::default(),
            external: ExternalFetches::default(),
            state: Arc::new(moclojer_memory::InMemoryMockState::default()),
        }
    }
}

/// A compiled spec, ready to answer requests. Cheap to share behind an `Arc`; replaced
/// whole on reload.
#[derive(Debug)]
pub struct Engine {
    table: RouteTable,
    handlers: Vec<Handler>,
    /// How many endpoints and resources answer.
    answering: usize,
    /// The revision of the mock this engine serves: state made under an older one is
    /// forgotten on first use.
    revision: u64,
    /// Every scenario the spec names, for `{{state.<name>}}`.
    scenario_names: Vec<String>,
    options: Arc<EngineOptions>,
    warnings: Vec<Diagnostic>,
    spec: Spec,
    webhooks: Webhooks,
    socket_table: RouteTable,
    sockets: Vec<Arc<CompiledSocket>>,
    /// The endpoints' `secret-headers`, with the host each serves.
    secret_headers: Vec<(Option<String>, Vec<String>)>,
}

/// What a route leads to.
#[derive(Debug)]
enum Handler {
    Endpoint(Box<CompiledEndpoint>),
    Resource(Arc<CompiledResource>, ResourceRoute),
}

impl Handler {
    fn at(&self) -> Matched {
        match self {
            Self::Endpoint(endpoint) => endpoint.at,
            Self::Resource(resource, _) => resource.at,
        }
    }
}

/// The answer to a request.
pub type Reply = http::Response<Bytes>;

fn reply(status: StatusCode, headers: HeaderMap, body: Bytes) -> Reply {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// `status` with no header and no body.
fn empty_reply(status: StatusCode) -> Reply {
    reply(status, HeaderMap::new(), Bytes::new())
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

/// 404 with [`UNKNOWN_HOST_BODY`].
fn unknown_host_not_found() -> Reply {
    reply(
        StatusCode::NOT_FOUND,
        json_headers(),
        Bytes::from_static(UNKNOWN_HOST_BODY.as_bytes()),
    )
}

/// What a server answers for a request whose host no engine serves, exactly as
/// [`Engine::handle`] answers it for a host its spec does not name: 400 when the host does
/// not parse; in cloud mode, 404 with no body to a probe ([`PROBE_HEADER`]); 501 to a method
/// no endpoint can have; else 404, in cloud mode with a JSON body saying no mock answers on
/// this host (empty in standalone mode), with the CORS headers when `options.cors` and the
/// request has an `Origin`.
pub fn unknown_host(parts: &http::request::Parts, options: &EngineOptions) -> Reply {
    if crate::request::request_host(&parts.uri, &parts.headers).is_err() {
        return empty_reply(StatusCode::BAD_REQUEST);
    }
    unserved_host(parts, options)
}

/// [`unknown_host`] for a request whose host is known to parse.
pub(crate) fn unserved_host(parts: &http::request::Parts, options: &EngineOptions) -> Reply {
    if options.mode == Mode::Cloud && parts.headers.contains_key(PROBE_HEADER) {
        return empty_reply(StatusCode::NOT_FOUND);
    }
    if http_method_index(&parts.method).is_none() {
        return empty_reply(StatusCode::NOT_IMPLEMENTED);
    }
    let mut response = if options.mode == Mode::Cloud {
        unknown_host_not_found()
    } else {
        empty_reply(StatusCode::NOT_FOUND)
    };
    if options.cors
        && let Some(origin) = parts.headers.get(header::ORIGIN)
    {
        allow_origin(response.headers_mut(), origin.clone());
    }
    response
}

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
        Self::build_shared(spec, Arc::new(options))
    }

    /// [`Engine::build`] with options shared with other engines: a cloud server builds one
    /// engine per host, all on one options value.
    ///
    /// # Errors
    /// The diagnostics that refuse the spec.
    pub fn build_shared(spec: Spec, options: Arc<EngineOptions>) -> Result<Self, Vec<Diagnostic>> {
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
            for resource in spec.resources.iter().filter(|r| r.host.is_none()) {
                diagnostics.push(
                    Diagnostic::error(
                        resource.line,
                        1,
                        "in the hosted service every resource has a host",
                    )
                    .in_item(resource.item, "resource.host"),
                );
            }
            for socket in spec.websockets.iter().filter(|w| w.host.is_none()) {
                diagnostics.push(
                    Diagnostic::error(
                        socket.line,
                        1,
                        "in the hosted service every websocket has a host",
                    )
                    .in_item(socket.item, "websocket.host"),
                );
            }
        }
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(diagnostics);
        }
        let routes = compile_routes(&spec, &mut diagnostics);
        let (socket_table, sockets) = compile_sockets(&spec, &mut diagnostics);
        let webhooks = Webhooks::new(options.egress.clone(), options.webhooks.clone());
        let secret_headers = spec
            .endpoints
            .iter()
            .filter(|e| !e.secret_headers.is_empty())
            .map(|e| (e.host.clone(), e.secret_headers.clone()))
            .collect();
        let mut scenario_names: Vec<String> = spec
            .endpoints
            .iter()
            .flat_map(|e| {
                e.scenario
                    .iter()
                    .chain(e.rules.iter().flat_map(|r| &r.scenario))
            })
            .map(|s| s.name.clone())
            .collect();
        scenario_names.sort_unstable();
        scenario_names.dedup();
        Ok(Self {
            table: routes.table,
            handlers: routes.handlers,
            answering: spec.endpoints.len() + spec.resources.len(),
            revision: 0,
            scenario_names,
            options,
            warnings: diagnostics,
            spec,
            webhooks,
            socket_table,
            sockets,
            secret_headers,
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

    /// How many endpoints (and resources) answer.
    pub fn endpoint_count(&self) -> usize {
        self.answering
    }

    /// This engine serving `revision` of its mock: state made under an older revision is
    /// forgotten on first use, state of the same revision kept.
    #[must_use]
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// The revision this engine serves.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn scope<'h>(&self, host: &'h str) -> StateScope<'h> {
        StateScope {
            host,
            revision: self.revision,
        }
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
        let host = match crate::request::request_host(&parts.uri, &parts.headers) {
            Ok(host) => host,
            Err(_) => return empty_reply(StatusCode::BAD_REQUEST),
        };
        if self.options.mode == Mode::Cloud && parts.headers.contains_key(PROBE_HEADER) {
            // ops asks whether this host is served, without touching the tenant's routes;
            // the answer names the revision served, for a client waiting on a publish.
            if !self.table.serves_host(&host) {
                return empty_reply(StatusCode::NOT_FOUND);
            }
            let mut served = empty_reply(StatusCode::NO_CONTENT);
            if self.revision > 0 {
                served
                    .headers_mut()
                    .insert(REVISION_HEADER, HeaderValue::from(self.revision));
            }
            return served;
        }
        let path = parts.uri.path();
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .cloned()
            .filter(|_| self.options.cors);
        let Some(method) = http_method_index(&parts.method) else {
            return empty_reply(StatusCode::NOT_IMPLEMENTED);
        };
        let mut response = match self.table.lookup(&host, method, path) {
            Lookup::Found { endpoint, params } => {
                self.dispatch(endpoint, parts, &params, body, remote, env)
                    .await
            }
            Lookup::MethodNotAllowed { allowed }
                if parts.method == HttpMethod::HEAD && allowed[0] =>
            {
                self.head_of_get(&host, parts, body, remote, env).await
            }
            Lookup::MethodNotAllowed { allowed } => {
                method_not_allowed(&allowed, parts, origin.is_some())
            }
            Lookup::NotFound => self.not_found(&host, parts, env),
        };
        if let Some(origin) = origin {
            allow_origin(response.headers_mut(), origin);
        }
        response
    }

    /// Where in the user's file the endpoint is that answers `method` `path` on `host`
    /// (what [`Engine::handle`] runs, a `HEAD` answered by its `GET`); `None` when no
    /// endpoint does.
    pub fn matched(&self, host: &str, method: &HttpMethod, path: &str) -> Option<Matched> {
        let index = http_method_index(method)?;
        let found = match self.table.lookup(host, index, path) {
            Lookup::Found { endpoint, .. } => Some(endpoint),
            Lookup::MethodNotAllowed { allowed } if *method == HttpMethod::HEAD && allowed[0] => {
                match self.table.lookup(host, 0, path) {
                    Lookup::Found { endpoint, .. } => Some(endpoint),
                    _ => None,
                }
            }
            _ => None,
        };
        found
            .and_then(|i| self.handlers.get(i as usize))
            .map(Handler::at)
    }

    /// The client of a request from `remote` with `headers`: the socket's peer, or whom a
    /// trusted proxy in front names in `X-Real-IP`.
    pub fn client(&self, headers: &http::HeaderMap, remote: SocketAddr) -> std::net::IpAddr {
        let real_ip = headers
            .get(moclojer_ports::REAL_IP_HEADER)
            .and_then(|v| v.to_str().ok());
        self.options.trusted_proxies.real_ip(remote.ip(), real_ip)
    }

    /// The headers the endpoints serving `host` mark secret (`secret-headers`), for the
    /// request journal to hide.
    pub fn secret_headers(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .secret_headers
            .iter()
            .filter(|(serves, _)| {
                serves
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host))
            })
            .flat_map(|(_, names)| names.iter().cloned())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The endpoints serving `host` that come closest to `attempt`, which none answered;
    /// with `only`, just what the endpoint of that item wants and `attempt` lacks (a
    /// request its route matched but it refused, e.g. for a missing query parameter).
    pub fn near_misses(
        &self,
        host: &str,
        attempt: &Attempt<'_>,
        only: Option<u32>,
    ) -> Vec<NearMiss> {
        let serving = self.spec.endpoints.iter().filter(|e| {
            only.is_none_or(|item| e.item == item)
                && e.host
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host))
        });
        near_misses(serving, attempt)
    }

    /// `HEAD` of a `GET` route: the `GET` response without its body.
    async fn head_of_get(
        &self,
        host: &str,
        parts: &http::request::Parts,
        body: Bytes,
        remote: SocketAddr,
        env: &(dyn Env + Sync),
    ) -> Reply {
        let Lookup::Found { endpoint, params } = self.table.lookup(host, 0, parts.uri.path())
        else {
            return empty_reply(StatusCode::NOT_FOUND);
        };
        let mut full = self
            .dispatch(endpoint, parts, &params, body, remote, env)
            .await;
        *full.body_mut() = Bytes::new();
        full
    }

    /// Answers a request its route matched to handler `index`: a resource's, or an
    /// endpoint's — the first of the route's endpoints whose scenario is in its state.
    async fn dispatch(
        &self,
        mut index: u32,
        parts: &http::request::Parts,
        params: &[&str],
        body: Bytes,
        remote: SocketAddr,
        env: &(dyn Env + Sync),
    ) -> Reply {
        loop {
            let endpoint = match self.handlers.get(index as usize) {
                Some(Handler::Endpoint(endpoint)) => endpoint,
                Some(Handler::Resource(resource, route)) => {
                    let answer = self.answer_resource(resource, *route, parts, params, body);
                    return Box::pin(answer).await;
                }
                None => return empty_reply(StatusCode::NOT_FOUND),
            };
            if let Some(scenario) = &endpoint.scenario {
                match Box::pin(self.enter(&endpoint.state_host, scenario)).await {
                    Ok(true) => {}
                    Ok(false) => match endpoint.next {
                        Some(next) => {
                            index = next;
                            continue;
                        }
                        None => return not_in_state(&scenario.name),
                    },
                    Err(refused) => return refused,
                }
            }
            return self
                .answer(endpoint, parts, params, body, remote, env)
                .await;
        }
    }

    /// The answer when no endpoint has this request's host and path: a websocket's
    /// greeting to a plain `GET` of its path, as the original answered, else 404.
    fn not_found(&self, host: &str, parts: &http::request::Parts, env: &(dyn Env + Sync)) -> Reply {
        match self.socket_for(&parts.uri, &parts.headers) {
            Some((socket, context)) if parts.method == HttpMethod::GET => {
                match socket.greeting(&context, env, &self.options.render) {
                    Some(Ok(text)) => reply(StatusCode::OK, HeaderMap::new(), Bytes::from(text)),
                    Some(Err(message)) => template_error(&message),
                    None => empty_reply(StatusCode::UPGRADE_REQUIRED),
                }
            }
            // A host no mock is published on says so, as the proxy does for hosts
            // outside the zone; a served host's unknown path stays an empty 404.
            _ if self.options.mode == Mode::Cloud && !self.table.serves_host(host) => {
                unknown_host_not_found()
            }
            _ => empty_reply(StatusCode::NOT_FOUND),
        }
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
}

/// The routing table of a spec's endpoints and resources, and what each route leads to.
struct Routes {
    table: RouteTable,
    handlers: Vec<Handler>,
}

/// A route's identity: host, method, shape.
type RouteKey = (Option<String>, usize, Vec<Option<String>>);

fn route_key(host: Option<&str>, method: usize, segments: &[PatternSegment]) -> RouteKey {
    let shape = segments
        .iter()
        .map(|s| match s {
            PatternSegment::Static(text) => Some(text.clone()),
            PatternSegment::Param => None,
        })
        .collect();
    (host.map(str::to_owned), method, shape)
}

/// Compiles the endpoints and resources of `spec` into the routing table, in item order.
/// The first item on a route answers it; a later endpoint on the same route is shadowed
/// (validate warned), unless every endpoint before it on the route names a scenario: it
/// is then tried when their scenarios are not in their states.
fn compile_routes(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) -> Routes {
    let mut routes = Routes {
        table: RouteTable::default(),
        handlers: Vec::with_capacity(spec.endpoints.len() + 6 * spec.resources.len()),
    };
    let mut heads: std::collections::HashMap<RouteKey, u32> = std::collections::HashMap::new();
    for item in spec.routed_items() {
        match item {
            RoutedItem::Endpoint(endpoint) => {
                let segments = route_segments(&endpoint.path);
                let method = method_index(endpoint.method);
                let key = route_key(endpoint.host.as_deref(), method, &segments);
                let index = u32::try_from(routes.handlers.len()).unwrap_or(u32::MAX);
                if routes
                    .table
                    .insert(endpoint.host.as_deref(), &segments, method, index)
                {
                    heads.insert(key, index);
                } else if let Some(last) = heads.get(&key).and_then(|h| routes.open_end(*h)) {
                    if let Some(Handler::Endpoint(last)) = routes.handlers.get_mut(last as usize) {
                        last.next = Some(index);
                    }
                } else {
                    continue;
                }
                let compiled = CompiledEndpoint::compile(endpoint, diagnostics);
                routes.handlers.push(Handler::Endpoint(Box::new(compiled)));
            }
            RoutedItem::Resource(resource) => routes.add_resource(resource, &mut heads),
        }
    }
    routes
}

impl Routes {
    /// The last endpoint of the route whose first is `head`, when every endpoint on it
    /// names a scenario (so one more may follow).
    fn open_end(&self, head: u32) -> Option<u32> {
        let mut at = head;
        loop {
            let Some(Handler::Endpoint(endpoint)) = self.handlers.get(at as usize) else {
                return None;
            };
            endpoint.scenario.as_ref()?;
            match endpoint.next {
                Some(next) => at = next,
                None => return Some(at),
            }
        }
    }

    /// Routes a resource's six routes, each unless an earlier item has it.
    fn add_resource(
        &mut self,
        resource: &spec::Resource,
        heads: &mut std::collections::HashMap<RouteKey, u32>,
    ) {
        let compiled = Arc::new(CompiledResource::compile(resource));
        for (method, record) in spec::Resource::ROUTES {
            let mut segments = route_segments(&resource.path);
            if record {
                segments.push(PatternSegment::Param);
            }
            let method_at = method_index(method);
            let index = u32::try_from(self.handlers.len()).unwrap_or(u32::MAX);
            let host = resource.host.as_deref();
            if self.table.insert(host, &segments, method_at, index) {
                heads.insert(route_key(host, method_at, &segments), index);
                let route = ResourceRoute { method, record };
                self.handlers
                    .push(Handler::Resource(Arc::clone(&compiled), route));
            }
        }
    }
}

/// 404 when no endpoint of a route answers in its scenario's state.
fn not_in_state(scenario: &str) -> Reply {
    error_reply(
        StatusCode::NOT_FOUND,
        &format!("no endpoint answers in the current state of scenario `{scenario}`"),
    )
}

/// Compiles the websockets of `spec` into their routing table; the first definition of a
/// path wins.
fn compile_sockets(
    spec: &Spec,
    diagnostics: &mut Vec<Diagnostic>,
) -> (RouteTable, Vec<Arc<CompiledSocket>>) {
    let mut table = RouteTable::default();
    let mut sockets = Vec::with_capacity(spec.websockets.len());
    for socket in &spec.websockets {
        let index = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
        let segments = route_segments(&socket.path);
        if !table.insert(socket.host.as_deref(), &segments, 0, index) {
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
    (table, sockets)
}

/// 405 with the methods the path has in `Allow`; to `OPTIONS`, 200 with them, and the
/// preflight's answers for a cross-origin request (`cross_origin`).
fn method_not_allowed(
    allowed: &[bool; METHODS],
    parts: &http::request::Parts,
    cross_origin: bool,
) -> Reply {
    let allow = allow_header(allowed);
    let mut headers = HeaderMap::new();
    if parts.method != HttpMethod::OPTIONS {
        headers.insert(header::ALLOW, allow);
        return reply(StatusCode::METHOD_NOT_ALLOWED, headers, Bytes::new());
    }
    headers.insert(header::ALLOW, allow.clone());
    if cross_origin {
        preflight_headers(&mut headers, &parts.headers, &allow);
    }
    reply(StatusCode::OK, headers, Bytes::new())
}

/// Lets the page at `origin` read the response, credentials and every header included.
fn allow_origin(headers: &mut HeaderMap, origin: HeaderValue) {
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

#[cfg(test)]
mod tests {
    use moclojer_domain::spec::Limits;

    use super::*;
    use crate::server::SystemEnv;

    const SPEC: &str = r#"
- endpoint:
    host: served.test
    path: /hello
    response:
      body: '{"hello": "world"}'
- endpoint:
    host: served.test
    method: POST
    path: /hello
    response:
      body: '{"posted": true}'
"#;

    fn engine(options: EngineOptions) -> Engine {
        let spec = spec::parse_yaml(SPEC, &Limits::default()).expect("spec parses");
        Engine::build(spec, options).expect("engine builds")
    }

    fn request(method: &str, host: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/hello")
            .header(header::HOST, host);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    /// What `Engine::handle` answers for `parts`, with an empty body.
    async fn through_engine(engine: &Engine, parts: &http::request::Parts) -> Reply {
        let remote = SocketAddr::from(([127, 0, 0, 1], 50_000));
        engine.handle(parts, Bytes::new(), remote, &SystemEnv).await
    }

    fn same(left: &Reply, right: &Reply) -> bool {
        left.status() == right.status()
            && left.headers() == right.headers()
            && left.body() == right.body()
    }

    /// A request's method, `Host` and other headers.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    #[tokio::test]
    async fn unknown_host_answers_what_an_engine_answers_for_a_host_it_does_not_serve() {
        let origin = ("origin", "https://app.example");
        let cases: &[Case<'_>] = &[
            ("GET", "other.test", &[]),
            ("GET", "Other.Test:8080", &[]),
            ("GET", "other.test", &[origin]),
            ("POST", "other.test", &[origin]),
            ("HEAD", "other.test", &[]),
            (
                "OPTIONS",
                "other.test",
                &[origin, ("access-control-request-method", "GET")],
            ),
            ("GET", "other.test", &[(PROBE_HEADER, "1")]),
            ("GET", "other.test", &[(PROBE_HEADER, "1"), origin]),
            ("PURGE", "other.test", &[origin]),
            ("GET", "bad host!", &[origin]),
        ];
        let cloud = EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        };
        let all_options = [
            cloud.clone(),
            EngineOptions {
                cors: false,
                ..cloud
            },
            EngineOptions::default(),
        ];
        for options in all_options {
            let engine = engine(options.clone());
            for (method, host, headers) in cases {
                let parts = request(method, host, headers);
                let expected = through_engine(&engine, &parts).await;
                let got = unknown_host(&parts, &options);
                assert!(
                    same(&got, &expected),
                    "{method} {host} {headers:?} ({:?}, cors {}): {got:?} vs {expected:?}",
                    options.mode,
                    options.cors,
                );
            }
        }
    }

    #[test]
    fn a_cloud_server_says_no_mock_answers_on_an_unknown_host() {
        let options = EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        };
        let plain = unknown_host(&request("GET", "other.test", &[]), &options);
        assert_eq!(plain.status(), StatusCode::NOT_FOUND);
        assert_eq!(plain.body().as_ref(), UNKNOWN_HOST_BODY.as_bytes());
        assert_eq!(
            plain.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
        assert!(
            plain
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );

        let cross = unknown_host(
            &request("GET", "other.test", &[("origin", "https://app.example")]),
            &options,
        );
        assert_eq!(
            cross.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(&HeaderValue::from_static("https://app.example"))
        );

        let probe = unknown_host(
            &request("GET", "other.test", &[(PROBE_HEADER, "1")]),
            &options,
        );
        assert_eq!(probe.status(), StatusCode::NOT_FOUND);
        assert!(probe.body().is_empty());
        assert!(probe.headers().is_empty());

        let unparsable = unknown_host(&request("GET", "bad host!", &[]), &options);
        assert_eq!(unparsable.status(), StatusCode::BAD_REQUEST);
        assert!(unparsable.body().is_empty());
    }

    #[test]
    fn engines_built_on_shared_options_share_them() {
        let options = Arc::new(EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        });
        let build = || {
            let spec = spec::parse_yaml(SPEC, &Limits::default()).expect("spec parses");
            Engine::build_shared(spec, Arc::clone(&options)).expect("engine builds")
        };
        let (first, second) = (build(), build());
        assert!(std::ptr::eq(first.options(), second.options()));
        assert!(std::ptr::eq(first.options(), &*options));
        assert_eq!(first.endpoint_count(), 2);
    }

    #[test]
    fn build_shared_refuses_what_build_refuses() {
        let hostless = "- endpoint:\n    path: /x\n    response:\n      body: ok\n";
        let spec = spec::parse_yaml(hostless, &Limits::default()).expect("spec parses");
        let cloud = EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        };
        let refused = Engine::build_shared(spec.clone(), Arc::new(cloud.clone()))
            .expect_err("a host-less endpoint is refused in cloud mode");
        let also = Engine::build(spec, cloud).expect_err("refused too");
        assert_eq!(refused.len(), also.len());
    }
}
