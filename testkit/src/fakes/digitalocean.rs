//! A fake of the DigitalOcean API v2 (Domain Records and App Platform), served on
//! loopback for the `moclojer-digitalocean` adapter's tests.
//!
//! [`FakeDigitalOcean::start`] serves one domain and one app (more with
//! [`FakeDigitalOcean::add_app`]), and behaves as the real API documents:
//!
//! - every request needs `Authorization: Bearer <token>`; otherwise 401
//!   `{"id": "unauthorized", "message": "Unable to authenticate you"}`;
//! - `GET /v2/domains/{domain}/records` pages with `page` and `per_page` (default 20,
//!   at most 200, and at most [`FakeDigitalOcean::set_max_per_page`]), filters on `name`
//!   (fully qualified) and `type`, and answers `{"domain_records": [...], "links":
//!   {"pages": {"first", "prev", "next", "last"}}, "meta": {"total": N}}`, with absolute
//!   page URLs;
//! - `POST /v2/domains/{domain}/records` (201), `GET` / `PUT` (200) and `DELETE` (204)
//!   `/v2/domains/{domain}/records/{id}`, with the record checks of the real API: a known
//!   type, a name (relative, `@` for the apex, `*` as a first label), data fitting the type
//!   (an IPv4 or IPv6 address, a host name ending with a dot for CNAME, MX and NS, or `@`),
//!   a TTL of at least 30 s, and no CNAME sharing its name with another record — all 422
//!   `unprocessable_entity`. Host-name data is stored and returned without its final dot,
//!   as the real API returns it;
//! - `GET /v2/apps/{id}` answers `{"app": {"id", "spec", ...}}`; `PUT /v2/apps/{id}` takes
//!   `{"spec": ...}` and replaces the whole spec, after checking it: a `name`, and
//!   `domains` entries with a valid `domain` (a host name as the spec reference's pattern
//!   has it, `^((xn--)?[a-zA-Z0-9]+(-+[a-zA-Z0-9]+)*\.)+(xn--)?[a-zA-Z0-9]{2,}\.?$`, 4 to 253
//!   characters: no `*`, a wildcard is `"wildcard": true` on the plain name), a boolean
//!   `wildcard`, a known `type`, no domain twice and at most one `PRIMARY` — 400
//!   `invalid_argument` otherwise;
//! - unknown paths, domains, apps and records are 404 `not_found`.
//!
//! Faults are injected with [`FakeDigitalOcean::fail_next_with`] (429 with `retry-after`
//! and `ratelimit-*` headers, or a 5xx) and [`FakeDigitalOcean::fail_all_with`].
//!
//! Races on app specs (the API has no conditional update) are staged with
//! [`FakeDigitalOcean::delay_app_puts`] (a write lands late, as a real one does, which
//! widens every client's read-to-write window), [`FakeDigitalOcean::on_app_put`] (a writer
//! elsewhere changes the spec right after a write, before the client reads it again) and
//! [`FakeDigitalOcean::hold_app_puts`] (writes wait for one another, so that writes that
//! may overlap provably do); [`FakeDigitalOcean::most_app_puts_in_flight`] tells how many
//! writes ever overlapped.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Record types the real API accepts.
const RECORD_TYPES: &[&str] = &["A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"];
/// App domain types the real API accepts.
const DOMAIN_TYPES: &[&str] = &["UNSPECIFIED", "DEFAULT", "PRIMARY", "ALIAS"];
/// The real API's default and largest page sizes.
const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 200;

/// The longest an app write is held by [`FakeDigitalOcean::hold_app_puts`]: well under
/// the clients' timeouts (the egress guard's is 10 s), so a write held in vain is answered,
/// late, rather than timed out and sent again.
pub const HOLD_LIMIT: Duration = Duration::from_secs(3);

/// One answer of the fake: status, extra headers, JSON body (`None`: empty).
type Answer = (StatusCode, Vec<(&'static str, String)>, Option<Value>);

/// What [`FakeDigitalOcean::on_app_put`] calls: app id, the spec before the write, the
/// spec stored (changeable).
type PutHook = Box<dyn FnMut(&str, &Value, &mut Value) + Send>;

struct State {
    domain: String,
    token: String,
    records: BTreeMap<u64, Value>,
    next_id: u64,
    /// The app `start` made.
    app_id: String,
    /// Every app's spec, by id.
    apps: BTreeMap<String, Value>,
    put_hook: Option<PutHook>,
    max_per_page: usize,
    failures: VecDeque<(u16, Option<u64>)>,
    fail_all: Option<u16>,
    requests: Vec<String>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("domain", &self.domain)
            .field("records", &self.records.len())
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .field("put_hook", &self.put_hook.is_some())
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

/// How app writes (`PUT /v2/apps/{id}`) are let through: late, held for one another, and
/// counted while in flight.
#[derive(Debug)]
struct PutGate {
    latency: Mutex<Duration>,
    hold: Mutex<usize>,
    in_flight: Mutex<usize>,
    /// The most app writes ever in flight at once.
    most: watch::Sender<usize>,
}

/// One app write in flight; counted out when dropped.
#[derive(Debug)]
struct InFlight<'g>(&'g PutGate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *lock(&self.0.in_flight) -= 1;
    }
}

impl PutGate {
    fn new() -> Self {
        Self {
            latency: Mutex::new(Duration::ZERO),
            hold: Mutex::new(0),
            in_flight: Mutex::new(0),
            most: watch::Sender::new(0),
        }
    }

    /// Counts a write in, then lets it through once the hold is met (or after
    /// [`HOLD_LIMIT`]) and the latency has passed.
    async fn enter(&self) -> InFlight<'_> {
        let now = {
            let mut in_flight = lock(&self.in_flight);
            *in_flight += 1;
            *in_flight
        };
        self.most.send_if_modified(|most| {
            let more = now > *most;
            *most = (*most).max(now);
            more
        });
        let in_flight = InFlight(self);
        let hold = *lock(&self.hold);
        if hold > 1 {
            let mut most = self.most.subscribe();
            tokio::time::timeout(HOLD_LIMIT, most.wait_for(|m| *m >= hold))
                .await
                .ok();
        }
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        in_flight
    }
}

/// A fake DigitalOcean API on `127.0.0.1` (see the module docs). Stops when dropped.
#[derive(Debug)]
pub struct FakeDigitalOcean {
    base_url: String,
    state: Arc<Mutex<State>>,
    gate: Arc<PutGate>,
    task: JoinHandle<()>,
}

impl Drop for FakeDigitalOcean {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeDigitalOcean {
    /// Starts a fake holding the DNS domain `domain` (with the apex NS and SOA records the
    /// real API creates) and the app `app_id` (with [`FakeDigitalOcean::initial_spec`]),
    /// answering requests that carry `token`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(domain: &str, app_id: &str, token: &str) -> Self {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind the fake DigitalOcean API");
        let address = listener.local_addr().expect("local address");
        let base_url = format!("http://{address}/v2");
        let mut state = State {
            domain: domain.to_ascii_lowercase(),
            token: token.to_owned(),
            records: BTreeMap::new(),
            next_id: 1000,
            app_id: app_id.to_owned(),
            apps: BTreeMap::from([(app_id.to_owned(), Self::initial_spec())]),
            put_hook: None,
            max_per_page: MAX_PER_PAGE,
            failures: VecDeque::new(),
            fail_all: None,
            requests: Vec::new(),
        };
        for (kind, data) in [
            ("NS", "ns1.digitalocean.com"),
            ("NS", "ns2.digitalocean.com"),
            ("NS", "ns3.digitalocean.com"),
            ("SOA", "1800"),
        ] {
            state.insert(kind, "@", data, 1800);
        }
        let state = Arc::new(Mutex::new(state));
        let gate = Arc::new(PutGate::new());
        let shared = Arc::clone(&state);
        let shared_gate = Arc::clone(&gate);
        let base = base_url.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let gate = Arc::clone(&shared_gate);
                let base = base.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let state = Arc::clone(&state);
                        let gate = Arc::clone(&gate);
                        let base = base.clone();
                        async move { Ok::<_, Infallible>(serve(&state, &gate, &base, request).await) }
                    });
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                        .ok();
                });
            }
        });
        Self {
            base_url,
            state,
            gate,
            task,
        }
    }

    /// The app spec a new fake starts with: one service, a primary domain, and fields the
    /// adapter knows nothing about (ingress rules, alerts, environment variables, and an
    /// unknown `x_future_field`), so tests can check that they survive an update.
    pub fn initial_spec() -> Value {
        json!({
            "name": "moclojer",
            "region": "ams",
            "services": [{
                "name": "foss",
                "instance_count": 2,
                "instance_size_slug": "apps-s-1vcpu-1gb",
                "http_port": 8080,
                "image": {"registry_type": "DOCR", "repository": "moclojer", "tag": "1.2.3"},
                "envs": [{"key": "RUST_LOG", "value": "info", "scope": "RUN_TIME"}]
            }],
            "domains": [{"domain": "moclojer.com", "type": "PRIMARY", "zone": "moclojer.com"}],
            "ingress": {"rules": [{"match": {"path": {"prefix": "/"}}, "component": {"name": "foss"}}]},
            "alerts": [{"rule": "DEPLOYMENT_FAILED"}],
            "x_future_field": {"nested": [1, 2.5, null, "text", {"deep": true}]}
        })
    }

    /// The API's base URL, `http://127.0.0.1:<port>/v2`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Adds a record as a person would in the control panel, without any checks: `name` is
    /// relative to the domain (`@` for the apex), `data` as the API returns it. Returns its id.
    pub fn insert_foreign(&self, kind: &str, name: &str, data: &str) -> u64 {
        lock(&self.state).insert(kind, name, data, 3600)
    }

    /// Every record of the domain, as the API shows them, by id.
    pub fn records(&self) -> Vec<Value> {
        lock(&self.state).records.values().cloned().collect()
    }

    /// The current spec of the app `start` made.
    pub fn app_spec(&self) -> Value {
        let state = lock(&self.state);
        state.apps[&state.app_id].clone()
    }

    /// Replaces the spec of the app `start` made, as a deploy from elsewhere would,
    /// without any checks.
    pub fn set_app_spec(&self, spec: Value) {
        let mut state = lock(&self.state);
        let id = state.app_id.clone();
        state.apps.insert(id, spec);
    }

    /// Adds the app `app_id` with [`FakeDigitalOcean::initial_spec`] (or resets it to that
    /// spec).
    pub fn add_app(&self, app_id: &str) {
        lock(&self.state)
            .apps
            .insert(app_id.to_owned(), Self::initial_spec());
    }

    /// The current spec of the app `app_id`.
    ///
    /// # Panics
    /// When there is no such app.
    pub fn app_spec_of(&self, app_id: &str) -> Value {
        lock(&self.state).apps[app_id].clone()
    }

    /// Lands every app write (`PUT /v2/apps/{id}`) only `latency` after it arrived, as the
    /// real API, which validates a spec before it stores it, takes its time: every client's
    /// window between reading a spec and its write landing widens by as much.
    pub fn delay_app_puts(&self, latency: Duration) {
        *lock(&self.gate.latency) = latency;
    }

    /// Holds every app write until `writes` app writes have been in flight at once, or
    /// for [`HOLD_LIMIT`] at most: writes that may overlap then provably do, and
    /// [`FakeDigitalOcean::most_app_puts_in_flight`] tells whether they did, without any
    /// timing. 0 or 1 holds nothing.
    pub fn hold_app_puts(&self, writes: usize) {
        *lock(&self.gate.hold) = writes;
    }

    /// The most app writes that were ever in flight at once.
    pub fn most_app_puts_in_flight(&self) -> usize {
        *self.gate.most.borrow()
    }

    /// Calls `hook(app_id, before, stored)` after each app write the fake accepts, before
    /// it answers: `before` is the spec the write replaced, and `stored` the spec now kept,
    /// which the hook may change, as a writer elsewhere would between the client's write
    /// and its next read. Replaces any hook set before.
    pub fn on_app_put(&self, hook: impl FnMut(&str, &Value, &mut Value) + Send + 'static) {
        lock(&self.state).put_hook = Some(Box::new(hook));
    }

    /// Removes the hook of [`FakeDigitalOcean::on_app_put`].
    pub fn clear_app_put_hook(&self) {
        lock(&self.state).put_hook = None;
    }

    /// Caps the page size whatever `per_page` asks (at least 1), to force pagination.
    pub fn set_max_per_page(&self, max: usize) {
        lock(&self.state).max_per_page = max.clamp(1, MAX_PER_PAGE);
    }

    /// Answers the next request not yet failed with `status` (429 or 5xx are what the real
    /// API sends under load), with `retry-after` and `ratelimit-reset` when `retry_after`
    /// (seconds) is given. Calls queue up: three calls fail the next three requests.
    pub fn fail_next_with(&self, status: u16, retry_after: Option<u64>) {
        lock(&self.state).failures.push_back((status, retry_after));
    }

    /// Answers every request with `status` from now on; `None` stops.
    pub fn fail_all_with(&self, status: Option<u16>) {
        lock(&self.state).fail_all = status;
    }

    /// How many requests arrived, failed ones included.
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Every request received, as `METHOD /path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }
}

impl State {
    fn insert(&mut self, kind: &str, name: &str, data: &str, ttl: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.records
            .insert(id, record_json(id, kind, name, data, ttl));
        id
    }

    fn fqdn(&self, name: &str) -> String {
        if name == "@" {
            self.domain.clone()
        } else {
            format!("{name}.{}", self.domain)
        }
    }
}

fn record_json(id: u64, kind: &str, name: &str, data: &str, ttl: u64) -> Value {
    json!({
        "id": id,
        "type": kind,
        "name": name,
        "data": data,
        "priority": null,
        "port": null,
        "ttl": ttl,
        "weight": null,
        "flags": null,
        "tag": null
    })
}

fn error(status: StatusCode, id: &str, message: impl Into<String>) -> Answer {
    (
        status,
        Vec::new(),
        Some(json!({"id": id, "message": message.into()})),
    )
}

fn not_found() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn unprocessable(message: impl Into<String>) -> Answer {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        message,
    )
}

fn bad_spec(message: impl Into<String>) -> Answer {
    error(StatusCode::BAD_REQUEST, "invalid_argument", message)
}

async fn serve(
    state: &Mutex<State>,
    gate: &PutGate,
    base: &str,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let app_write = parts.method == Method::PUT && parts.uri.path().starts_with("/v2/apps/");
    let _in_flight = if app_write {
        Some(gate.enter().await)
    } else {
        None
    };
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let (status, headers, json) = {
        let mut state = lock(state);
        answer(
            &mut state,
            base,
            &parts.method,
            &path,
            &query,
            authorization.as_deref(),
            &body,
        )
    };
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    let bytes = match json {
        Some(json) => {
            response = response.header("content-type", "application/json; charset=utf-8");
            Bytes::from(json.to_string())
        }
        None => Bytes::new(),
    };
    response
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn answer(
    state: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    query: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Answer {
    let mut line = format!("{method} {path}");
    if !query.is_empty() {
        line.push_str(&format!("?{query}"));
    }
    state.requests.push(line);

    let failure = state
        .failures
        .pop_front()
        .or(state.fail_all.map(|s| (s, None)));
    if let Some((status, retry_after)) = failure {
        return injected(status, retry_after);
    }
    if authorization != Some(format!("Bearer {}", state.token).as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unable to authenticate you",
        );
    }
    let json = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(json) => Some(json),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "The request body is not valid JSON.",
                );
            }
        }
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["v2", "domains", domain, "records"]) if *domain == state.domain => {
            list_records(state, base, query)
        }
        (&Method::POST, ["v2", "domains", domain, "records"]) if *domain == state.domain => {
            create_record(state, json.as_ref())
        }
        (m, ["v2", "domains", domain, "records", id]) if *domain == state.domain => {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| state.records.contains_key(id))
            else {
                return not_found();
            };
            match *m {
                Method::GET => ok(json!({"domain_record": state.records[&id]})),
                Method::PUT | Method::PATCH => update_record(state, id, json.as_ref()),
                Method::DELETE => {
                    state.records.remove(&id);
                    (StatusCode::NO_CONTENT, Vec::new(), None)
                }
                _ => not_found(),
            }
        }
        (&Method::GET, ["v2", "apps", id]) if state.apps.contains_key(*id) => {
            ok(app_json(state, id))
        }
        (&Method::PUT, ["v2", "apps", id]) if state.apps.contains_key(*id) => {
            update_app(state, id, json)
        }
        _ => not_found(),
    }
}

fn ok(json: Value) -> Answer {
    (StatusCode::OK, Vec::new(), Some(json))
}

fn injected(status: u16, retry_after: Option<u64>) -> Answer {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = Vec::new();
    if let Some(seconds) = retry_after {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        headers.push(("retry-after", seconds.to_string()));
        headers.push(("ratelimit-limit", "5000".to_owned()));
        headers.push(("ratelimit-remaining", "0".to_owned()));
        headers.push(("ratelimit-reset", (now + seconds).to_string()));
    }
    let (id, message) = if status == StatusCode::TOO_MANY_REQUESTS {
        ("too_many_requests", "API Rate limit exceeded.")
    } else {
        ("server_error", "Server was unable to give you a response.")
    };
    let mut answer = error(status, id, message);
    answer.1 = headers;
    answer
}

fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Undoes the percent-encoding of a query value (enough for host names and `*`).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list_records(state: &State, base: &str, query: &str) -> Answer {
    let number = |key: &str, default: usize| -> Result<usize, Answer> {
        match query_param(query, key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad_spec(format!("{key} must be a positive integer"))),
        }
    };
    let page = match number("page", 1) {
        Ok(page) => page,
        Err(answer) => return answer,
    };
    let per_page = match number("per_page", DEFAULT_PER_PAGE) {
        Ok(n) => n.min(MAX_PER_PAGE).min(state.max_per_page),
        Err(answer) => return answer,
    };
    let name = query_param(query, "name").map(decode);
    let kind = query_param(query, "type").map(decode);
    let matching: Vec<&Value> = state
        .records
        .values()
        .filter(|r| {
            name.as_ref()
                .is_none_or(|n| state.fqdn(r["name"].as_str().unwrap_or_default()) == *n)
                && kind.as_ref().is_none_or(|k| r["type"] == k.as_str())
        })
        .collect();
    let total = matching.len();
    let last = total.div_ceil(per_page).max(1);
    let records: Vec<Value> = matching
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .cloned()
        .collect();
    let mut filters = String::new();
    if let Some(name) = query_param(query, "name") {
        filters.push_str(&format!("&name={name}"));
    }
    if let Some(kind) = query_param(query, "type") {
        filters.push_str(&format!("&type={kind}"));
    }
    let url = |n: usize| {
        format!(
            "{base}/domains/{}/records?page={n}&per_page={per_page}{filters}",
            state.domain
        )
    };
    let mut pages = Map::new();
    if page > 1 {
        pages.insert("first".to_owned(), json!(url(1)));
        pages.insert("prev".to_owned(), json!(url((page - 1).min(last))));
    }
    if page < last {
        pages.insert("next".to_owned(), json!(url(page + 1)));
        pages.insert("last".to_owned(), json!(url(last)));
    }
    let links = if pages.is_empty() {
        json!({})
    } else {
        json!({"pages": pages})
    };
    ok(json!({"domain_records": records, "links": links, "meta": {"total": total}}))
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A relative record name: `@`, or labels, the first of which may be `*`.
fn valid_name(name: &str) -> bool {
    if name == "@" {
        return true;
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    name.len() <= 253 && (name == "*" || rest.split('.').all(is_label))
}

/// A host name written fully qualified (with its final dot), or `@`.
fn valid_target(data: &str) -> bool {
    data == "@"
        || data
            .strip_suffix('.')
            .is_some_and(|host| host.split('.').all(is_label))
}

/// Checks a record's fields; returns them as stored (host names without their final dot).
fn check_record(fields: &Map<String, Value>) -> Result<(String, String, String, u64), Answer> {
    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !RECORD_TYPES.contains(&kind.as_str()) {
        return Err(unprocessable("Type is not included in the list"));
    }
    let name = match fields.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => return Err(unprocessable("Name can't be blank")),
    };
    if !valid_name(&name) {
        return Err(unprocessable("Name is not a valid hostname"));
    }
    let data = match fields.get("data").and_then(Value::as_str) {
        Some(data) if !data.is_empty() => data.to_owned(),
        _ => return Err(unprocessable("Data can't be blank")),
    };
    let data = match kind.as_str() {
        "A" if data.parse::<Ipv4Addr>().is_err() => {
            return Err(unprocessable("Data must be a valid IPv4 address"));
        }
        "AAAA" if data.parse::<Ipv6Addr>().is_err() => {
            return Err(unprocessable("Data must be a valid IPv6 address"));
        }
        "CNAME" | "MX" | "NS" => {
            if data.parse::<IpAddr>().is_ok() || !valid_target(&data) {
                return Err(unprocessable(
                    "Data needs to end with a dot (.) and be a valid hostname",
                ));
            }
            data.strip_suffix('.').unwrap_or(&data).to_ascii_lowercase()
        }
        "TXT" if data.len() > 512 => {
            return Err(unprocessable(
                "Data is too long (maximum is 512 characters)",
            ));
        }
        _ => data,
    };
    let ttl = match fields.get("ttl") {
        None | Some(Value::Null) => 1800,
        Some(ttl) => match ttl.as_u64() {
            Some(ttl) if ttl >= 30 => ttl,
            _ => return Err(unprocessable("Ttl must be greater than or equal to 30")),
        },
    };
    Ok((kind, name, data, ttl))
}

/// Whether a record of `kind` named `name` would break the CNAME rule (a CNAME shares its
/// name with no other record), ignoring the record `except`.
fn cname_clash(state: &State, kind: &str, name: &str, except: Option<u64>) -> bool {
    state.records.iter().any(|(id, r)| {
        Some(*id) != except && r["name"] == name && (kind == "CNAME" || r["type"] == "CNAME")
    })
}

fn create_record(state: &mut State, json: Option<&Value>) -> Answer {
    let Some(fields) = json.and_then(Value::as_object) else {
        return unprocessable("A record needs a JSON object body");
    };
    let (kind, name, data, ttl) = match check_record(fields) {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if cname_clash(state, &kind, &name, None) {
        return unprocessable("CNAME records cannot share a name with other records.");
    }
    let id = state.insert(&kind, &name, &data, ttl);
    (
        StatusCode::CREATED,
        Vec::new(),
        Some(json!({"domain_record": state.records[&id]})),
    )
}

fn update_record(state: &mut State, id: u64, json: Option<&Value>) -> Answer {
    let Some(changes) = json.and_then(Value::as_object) else {
        return unprocessable("A record needs a JSON object body");
    };
    let mut fields = state.records[&id].as_object().cloned().unwrap_or_default();
    if fields
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| matches!(t, "CNAME" | "MX" | "NS") && fields["data"].as_str() != Some("@"))
    {
        // Stored without the final dot; the checks want it written fully qualified.
        let data = format!("{}.", fields["data"].as_str().unwrap_or_default());
        fields.insert("data".to_owned(), json!(data));
    }
    for (key, value) in changes {
        fields.insert(key.clone(), value.clone());
    }
    let (kind, name, data, ttl) = match check_record(&fields) {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if cname_clash(state, &kind, &name, Some(id)) {
        return unprocessable("CNAME records cannot share a name with other records.");
    }
    let record = record_json(id, &kind, &name, &data, ttl);
    state.records.insert(id, record.clone());
    ok(json!({"domain_record": record}))
}

fn app_json(state: &State, id: &str) -> Value {
    json!({"app": {
        "id": id,
        "owner_uuid": "a4e16f25-cdd1-4483-b246-d77f283c9209",
        "spec": state.apps[id],
        "default_ingress": "https://moclojer-abc12.ondigitalocean.app",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "region": {"slug": "ams"}
    }})
}

/// The app spec reference's pattern for `domains[].domain`:
/// `^((xn--)?[a-zA-Z0-9]+(-+[a-zA-Z0-9]+)*\.)+(xn--)?[a-zA-Z0-9]{2,}\.?$`, 4 to 253 long.
fn valid_app_domain(domain: &str) -> bool {
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let label = |l: &str| {
        let l = l.strip_prefix("xn--").unwrap_or(l);
        alnum(l.split('-').next().unwrap_or(""))
            && l.trim_matches(|c: char| c.is_ascii_alphanumeric())
                .split(|c: char| c.is_ascii_alphanumeric())
                .all(|run| run.bytes().all(|b| b == b'-'))
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let bare = domain.strip_suffix('.').unwrap_or(domain);
    let Some((names, top)) = bare.rsplit_once('.') else {
        return false;
    };
    let top = top.strip_prefix("xn--").unwrap_or(top);
    (4..=253).contains(&domain.len()) && alnum(top) && top.len() >= 2 && names.split('.').all(label)
}

fn update_app(state: &mut State, id: &str, json: Option<Value>) -> Answer {
    let Some(Value::Object(mut body)) = json else {
        return bad_spec("the request body must be a JSON object");
    };
    let Some(spec) = body.remove("spec").filter(Value::is_object) else {
        return bad_spec("spec is required");
    };
    if spec["name"].as_str().is_none_or(str::is_empty) {
        return bad_spec("spec.name is required");
    }
    if let Some(domains) = spec.get("domains") {
        let Some(domains) = domains.as_array() else {
            return bad_spec("spec.domains must be an array");
        };
        let mut seen = Vec::new();
        let mut primaries = 0;
        for entry in domains {
            let Some(domain) = entry["domain"].as_str() else {
                return bad_spec("spec.domains[].domain is required");
            };
            if !matches!(
                entry.get("wildcard"),
                None | Some(Value::Null | Value::Bool(_))
            ) {
                return bad_spec("spec.domains[].wildcard must be a boolean");
            }
            if !valid_app_domain(domain) {
                return bad_spec(format!("{domain} is not a valid domain"));
            }
            match entry.get("type") {
                None => {}
                Some(Value::String(t)) if t == "PRIMARY" => primaries += 1,
                Some(Value::String(t)) if DOMAIN_TYPES.contains(&t.as_str()) => {}
                Some(_) => return bad_spec("spec.domains[].type is not a known domain type"),
            }
            let key = domain.trim_end_matches('.').to_ascii_lowercase();
            if seen.contains(&key) {
                return bad_spec(format!("domain {domain} is listed more than once"));
            }
            seen.push(key);
        }
        if primaries > 1 {
            return bad_spec("only one domain may be PRIMARY");
        }
    }
    let before = state.apps.insert(id.to_owned(), spec).unwrap_or_default();
    let answer = ok(app_json(state, id));
    if let Some(hook) = state.put_hook.as_mut()
        && let Some(stored) = state.apps.get_mut(id)
    {
        hook(id, &before, stored);
    }
    answer
}
