//! A fake of Cloudflare's DNS records API (v4), served on loopback for the adapter's tests.
//!
//! It answers under `/client/v4/zones/{zone_id}/dns_records` as the real API does, in the
//! envelope `{"success", "errors": [{"code", "message", "error_chain"?}], "messages",
//! "result", "result_info"?}`:
//!
//! - `GET` lists with `page` (from 1) and `per_page` (clamped to 5..=5000, 100 by default,
//!   and to [`FakeCloudflare::set_max_per_page`]), filters `name` (or `name.exact`), `type`
//!   and `content`, and `result_info` (`page`, `per_page`, `count`, `total_count`,
//!   `total_pages`). Records come in id order, which is not name order.
//! - `POST` creates, `PATCH` merges, `PUT` replaces, `GET .../{id}` reads and
//!   `DELETE .../{id}` removes one record (`{"id"}` as its result); an unknown id is 404
//!   with code 81044.
//! - Every call needs `Authorization: Bearer <token>`: without it 400 (9106), malformed 400
//!   (6003 with 6111 chained), a wrong token 403 (10000 "Authentication error"). Another
//!   zone id is 400 (7003).
//! - Bodies are validated: a known `type`; a `name` (relative names and names outside the
//!   zone get the zone appended, `@` is the apex, as the real API does); `content` that fits
//!   the type (A: IPv4, AAAA: IPv6, CNAME: a host name); `proxied` only for A, AAAA and
//!   CNAME (a proxied record's TTL becomes 1, automatic); `ttl` 1 or 30..=86400; `comment`
//!   at most 100 characters. These are 400 with code 1004 "DNS Validation Error" and the
//!   detail chained. A CNAME beside any record of its name, or an A/AAAA/CNAME beside a
//!   CNAME, is 400 with 81053 (81054 for a non-CNAME beside a CNAME); an identical record
//!   (type, name, content) is 400 with 81058.
//! - [`FakeCloudflare::fail_next_with`] makes the next calls fail with a status (429 with
//!   `Retry-After`, 5xx), before anything else is checked.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use moclojer_ports::{Clock, DnsRecord, SystemClock};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The record types the fake knows (the real API knows these and a few rarer ones).
const KNOWN_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS",
    "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
];
/// The types Cloudflare can proxy.
const PROXIABLE_TYPES: &[&str] = &["A", "AAAA", "CNAME"];

/// A record as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// 32 hexadecimal characters, as Cloudflare's ids are.
    pub id: String,
    /// `A`, `AAAA`, `CNAME`, `TXT`, ...
    pub kind: String,
    /// Fully qualified, lower case, no trailing dot.
    pub name: String,
    /// The value.
    pub content: String,
    /// Whether Cloudflare proxies it.
    pub proxied: bool,
    /// Seconds; 1 means automatic.
    pub ttl: u32,
    /// The free-text comment (the adapter's ownership tag goes here).
    pub comment: Option<String>,
    /// When it was created (RFC 3339).
    pub created_on: String,
    /// When it was last changed (RFC 3339).
    pub modified_on: String,
}

#[derive(Debug)]
struct State {
    zone_id: String,
    zone_name: String,
    token: String,
    records: BTreeMap<String, FakeRecord>,
    failures: VecDeque<(u16, Option<u64>)>,
    requests: Vec<String>,
    max_per_page: u32,
}

/// What one call answers.
#[derive(Debug)]
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Reply {
    fn ok(result: Value) -> Self {
        Self {
            status: 200,
            retry_after: None,
            body: json!({"success": true, "errors": [], "messages": [], "result": result}),
        }
    }

    fn error(status: u16, code: u32, message: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: json!({
                "success": false,
                "errors": [{"code": code, "message": message}],
                "messages": [],
                "result": null,
            }),
        }
    }

    fn chained(status: u16, code: u32, message: &str, inner: u32, detail: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: json!({
                "success": false,
                "errors": [{
                    "code": code,
                    "message": message,
                    "error_chain": [{"code": inner, "message": detail}],
                }],
                "messages": [],
                "result": null,
            }),
        }
    }

    fn validation(inner: u32, detail: &str) -> Self {
        Self::chained(400, 1004, "DNS Validation Error", inner, detail)
    }

    fn no_record() -> Self {
        Self::error(404, 81044, "Record does not exist.")
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake. Stops serving when dropped.
#[derive(Debug)]
pub struct FakeCloudflare {
    addr: SocketAddr,
    zone_id: String,
    zone_name: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeCloudflare {
    /// Serves zone `zone_name` with id `zone_id` on `127.0.0.1` at a free port, accepting
    /// only the bearer `token`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(zone_id: &str, zone_name: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake cloudflare");
        let addr = listener.local_addr().expect("the fake's address");
        let state = Arc::new(Mutex::new(State {
            zone_id: zone_id.to_owned(),
            zone_name: zone_name.to_ascii_lowercase(),
            token: token.to_owned(),
            records: BTreeMap::new(),
            failures: VecDeque::new(),
            requests: Vec::new(),
            max_per_page: 5000,
        }));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(respond(&state, request).await) }
                    });
                    // A client that goes away mid-request is no concern of the fake.
                    http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .ok();
                });
            }
        });
        Self {
            addr,
            zone_id: zone_id.to_owned(),
            zone_name: zone_name.to_ascii_lowercase(),
            state,
            server,
        }
    }

    /// The API base to configure a client with: `http://127.0.0.1:<port>/client/v4`.
    pub fn base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    /// The zone's id.
    pub fn zone_id(&self) -> &str {
        &self.zone_id
    }

    /// The zone's name.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Adds a record without a comment, as a person would in the dashboard, bypassing the
    /// API's checks. Returns its id.
    pub fn insert_foreign(&self, record: &DnsRecord) -> String {
        self.insert_with_comment(record, None)
    }

    /// Adds `record` with `comment`, bypassing the API's checks. Returns its id.
    pub fn insert_with_comment(&self, record: &DnsRecord, comment: Option<&str>) -> String {
        let mut state = lock(&self.state);
        let now = SystemClock.now().to_rfc3339();
        let stored = FakeRecord {
            id: new_id(),
            kind: record.kind.as_str().to_owned(),
            name: record.name.to_ascii_lowercase(),
            content: record.content.clone(),
            proxied: record.proxied,
            ttl: if record.proxied { 1 } else { record.ttl },
            comment: comment.map(str::to_owned),
            created_on: now.clone(),
            modified_on: now,
        };
        let id = stored.id.clone();
        state.records.insert(id.clone(), stored);
        id
    }

    /// Every record, by name, then type, then id.
    pub fn records(&self) -> Vec<FakeRecord> {
        let mut all: Vec<FakeRecord> = lock(&self.state).records.values().cloned().collect();
        all.sort_by(|a, b| (&a.name, &a.kind, &a.id).cmp(&(&b.name, &b.kind, &b.id)));
        all
    }

    /// Makes the next call that is not already set to fail answer `status` (429, 500, 503,
    /// ...) with a `Retry-After` of `retry_after` seconds when given. Calls queue up: call
    /// it three times for three failures in a row.
    pub fn fail_next_with(&self, status: u16, retry_after: Option<u64>) {
        lock(&self.state).failures.push_back((status, retry_after));
    }

    /// How many requests the fake has received.
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Every request received, as `METHOD /path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// Caps `per_page` below the API's 5000 (never below its minimum of 5).
    pub fn set_max_per_page(&self, max: u32) {
        lock(&self.state).max_per_page = max.clamp(5, 5000);
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn respond(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let auth = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let reply = lock(state).handle(&method, &path, query.as_deref(), auth.as_deref(), &body);
    let mut response = Response::builder()
        .status(reply.status)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(seconds) = reply.retry_after {
        response = response.header(hyper::header::RETRY_AFTER, seconds.to_string());
    }
    response
        .body(Full::new(Bytes::from(reply.body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

impl State {
    fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        auth: Option<&str>,
        body: &[u8],
    ) -> Reply {
        self.requests.push(match query {
            Some(q) => format!("{method} {path}?{q}"),
            None => format!("{method} {path}"),
        });
        if let Some((status, retry_after)) = self.failures.pop_front() {
            let mut reply = if status == 429 {
                Reply::error(
                    429,
                    971,
                    "Please wait and consider throttling your request speed",
                )
            } else {
                Reply::error(status, 10002, "An unknown error has occurred")
            };
            reply.retry_after = retry_after;
            return reply;
        }
        let Some(rest) = path.strip_prefix("/client/v4/") else {
            return Reply::error(404, 7000, "No route for that URI");
        };
        match auth {
            None => {
                return Reply::error(
                    400,
                    9106,
                    "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
                );
            }
            Some(value) => match value.strip_prefix("Bearer ") {
                None => {
                    return Reply::chained(
                        400,
                        6003,
                        "Invalid request headers",
                        6111,
                        "Invalid format for Authorization header",
                    );
                }
                Some(token) if token != self.token => {
                    return Reply::error(403, 10000, "Authentication error");
                }
                Some(_) => {}
            },
        }
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            ["zones", zone, "dns_records", ..] if *zone != self.zone_id => Reply::error(
                400,
                7003,
                &format!(
                    "Could not route to /zones/{zone}/dns_records, perhaps your object identifier is invalid?"
                ),
            ),
            ["zones", _, "dns_records"] => match method {
                "GET" => self.list(query.unwrap_or("")),
                "POST" => self.create(body),
                _ => Reply::error(405, 7001, "Method not allowed"),
            },
            ["zones", _, "dns_records", id] => match method {
                "GET" => match self.records.get(*id) {
                    Some(record) => Reply::ok(self.to_json(record)),
                    None => Reply::no_record(),
                },
                "PATCH" => self.update(id, body, true),
                "PUT" => self.update(id, body, false),
                "DELETE" => match self.records.remove(*id) {
                    Some(_) => Reply::ok(json!({"id": id})),
                    None => Reply::no_record(),
                },
                _ => Reply::error(405, 7001, "Method not allowed"),
            },
            _ => Reply::error(404, 7000, "No route for that URI"),
        }
    }

    fn to_json(&self, record: &FakeRecord) -> Value {
        json!({
            "id": record.id,
            "zone_id": self.zone_id,
            "zone_name": self.zone_name,
            "name": record.name,
            "type": record.kind,
            "content": record.content,
            "proxiable": PROXIABLE_TYPES.contains(&record.kind.as_str()),
            "proxied": record.proxied,
            "ttl": record.ttl,
            "settings": {},
            "meta": {},
            "comment": record.comment,
            "tags": [],
            "created_on": record.created_on,
            "modified_on": record.modified_on,
        })
    }

    fn list(&self, query: &str) -> Reply {
        let mut page: u64 = 1;
        let mut per_page: u64 = 100;
        let mut name = None;
        let mut kind = None;
        let mut content = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "page" => match value.parse::<u64>() {
                    Ok(n) if n >= 1 => page = n,
                    _ => return Reply::error(400, 1004, "page: must be a positive integer"),
                },
                "per_page" => match value.parse::<u64>() {
                    Ok(n) => per_page = n,
                    _ => return Reply::error(400, 1004, "per_page: must be an integer"),
                },
                "name" | "name.exact" => {
                    name = Some(self.full_name(&value));
                }
                "type" => kind = Some(value.into_owned()),
                "content" | "content.exact" => content = Some(value.into_owned()),
                _ => {}
            }
        }
        let per_page = per_page.clamp(5, u64::from(self.max_per_page));
        let matching: Vec<&FakeRecord> = self
            .records
            .values()
            .filter(|r| name.as_ref().is_none_or(|n| r.name == *n))
            .filter(|r| kind.as_ref().is_none_or(|k| r.kind == *k))
            .filter(|r| content.as_ref().is_none_or(|c| r.content == *c))
            .collect();
        let total = matching.len() as u64;
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let slice: Vec<Value> = matching
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|r| self.to_json(r))
            .collect();
        let mut reply = Reply::ok(Value::Null);
        reply.body["result_info"] = json!({
            "page": page,
            "per_page": per_page,
            "count": slice.len(),
            "total_count": total,
            "total_pages": total.div_ceil(per_page),
        });
        reply.body["result"] = Value::Array(slice);
        reply
    }

    /// `name` as the API stores it: lower case, no trailing dot, `@` for the apex, and the
    /// zone appended to anything not already in it.
    fn full_name(&self, name: &str) -> String {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name == "@" || name == self.zone_name {
            self.zone_name.clone()
        } else if name.ends_with(&format!(".{}", self.zone_name)) {
            name
        } else {
            format!("{name}.{}", self.zone_name)
        }
    }

    fn create(&mut self, body: &[u8]) -> Reply {
        let Some(fields) = parse_object(body) else {
            return Reply::error(400, 9207, "Request body is invalid.");
        };
        let now = SystemClock.now().to_rfc3339();
        let blank = FakeRecord {
            id: new_id(),
            kind: String::new(),
            name: String::new(),
            content: String::new(),
            proxied: false,
            ttl: 1,
            comment: None,
            created_on: now.clone(),
            modified_on: now,
        };
        match self.merged(blank, &fields, false) {
            Ok(record) => {
                let reply = Reply::ok(self.to_json(&record));
                self.records.insert(record.id.clone(), record);
                reply
            }
            Err(reply) => reply,
        }
    }

    fn update(&mut self, id: &str, body: &[u8], partial: bool) -> Reply {
        let Some(existing) = self.records.get(id).cloned() else {
            return Reply::no_record();
        };
        let Some(fields) = parse_object(body) else {
            return Reply::error(400, 9207, "Request body is invalid.");
        };
        match self.merged(existing, &fields, partial) {
            Ok(mut record) => {
                record.modified_on = SystemClock.now().to_rfc3339();
                let reply = Reply::ok(self.to_json(&record));
                self.records.insert(record.id.clone(), record);
                reply
            }
            Err(reply) => reply,
        }
    }

    /// `base` with `fields` applied (only the given ones when `partial`), validated as the
    /// API validates a record, and checked against the zone's other records.
    fn merged(
        &self,
        base: FakeRecord,
        fields: &Map<String, Value>,
        partial: bool,
    ) -> Result<FakeRecord, Reply> {
        let mut record = base;
        let given = |key: &str| fields.get(key).filter(|v| !v.is_null());
        match given("type") {
            Some(Value::String(kind)) if KNOWN_TYPES.contains(&kind.as_str()) => {
                record.kind.clone_from(kind);
            }
            None if partial => {}
            _ => return Err(Reply::validation(9020, "Invalid DNS record type")),
        }
        match given("name") {
            Some(Value::String(name)) if valid_name(name) => record.name = self.full_name(name),
            None if partial => {}
            _ => return Err(Reply::validation(9000, "DNS name is invalid.")),
        }
        match given("content") {
            Some(Value::String(content)) => record.content.clone_from(content),
            None if partial => {}
            _ => return Err(Reply::validation(9021, "Content is required.")),
        }
        match given("proxied") {
            Some(Value::Bool(proxied)) => record.proxied = *proxied,
            None => {
                if !partial {
                    record.proxied = false;
                }
            }
            Some(_) => return Err(Reply::validation(9001, "proxied: must be a boolean")),
        }
        match given("ttl") {
            Some(Value::Number(n)) => match n.as_u64().and_then(|t| u32::try_from(t).ok()) {
                Some(ttl) if ttl == 1 || (30..=86400).contains(&ttl) => record.ttl = ttl,
                _ => {
                    return Err(Reply::validation(
                        9003,
                        "TTL must be between 30 and 86400 seconds, or 1 for Automatic.",
                    ));
                }
            },
            None => {
                if !partial {
                    record.ttl = 1;
                }
            }
            Some(_) => return Err(Reply::validation(9003, "ttl: must be a number")),
        }
        match fields.get("comment") {
            Some(Value::String(comment)) if comment.chars().count() <= 100 => {
                record.comment = Some(comment.clone());
            }
            Some(Value::String(_)) => {
                return Err(Reply::validation(
                    9102,
                    "DNS record comment exceeds the maximum length of 100 characters.",
                ));
            }
            Some(Value::Null) => record.comment = None,
            None => {
                if !partial {
                    record.comment = None;
                }
            }
            Some(_) => return Err(Reply::validation(9102, "comment: must be a string")),
        }
        check_content(&record)?;
        if record.proxied {
            if !PROXIABLE_TYPES.contains(&record.kind.as_str()) {
                return Err(Reply::validation(
                    9004,
                    "This record type cannot be proxied.",
                ));
            }
            record.ttl = 1;
        }
        self.check_clashes(&record)?;
        Ok(record)
    }

    fn check_clashes(&self, record: &FakeRecord) -> Result<(), Reply> {
        let others = self
            .records
            .values()
            .filter(|r| r.id != record.id && r.name == record.name);
        for other in others {
            let same_content = if record.kind == "CNAME" {
                other.content.eq_ignore_ascii_case(&record.content)
            } else {
                other.content == record.content
            };
            if other.kind == record.kind && same_content {
                return Err(Reply::error(
                    400,
                    81058,
                    "An identical record already exists.",
                ));
            }
            if record.kind == "CNAME" {
                return Err(Reply::error(
                    400,
                    81053,
                    "An A, AAAA, or CNAME record with that host already exists.",
                ));
            }
            if other.kind == "CNAME" {
                let code = if matches!(record.kind.as_str(), "A" | "AAAA") {
                    81053
                } else {
                    81054
                };
                let message = if code == 81053 {
                    "An A, AAAA, or CNAME record with that host already exists."
                } else {
                    "A CNAME record with that host already exists."
                };
                return Err(Reply::error(400, code, message));
            }
        }
        Ok(())
    }
}

fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A name the API accepts: `@`, or dot-separated labels of letters, digits, `-` and `_`
/// (a leading `*` label allowed), at most 255 bytes.
fn valid_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if name == "@" {
        return true;
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    !bare.is_empty()
        && name.len() <= 255
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn check_content(record: &FakeRecord) -> Result<(), Reply> {
    let content = record.content.as_str();
    if content.is_empty() {
        return Err(Reply::validation(9021, "Content is required."));
    }
    match record.kind.as_str() {
        "A" if content.parse::<Ipv4Addr>().is_err() => Err(Reply::validation(
            9005,
            "Content for A record must be a valid IPv4 address.",
        )),
        "AAAA" if content.parse::<Ipv6Addr>().is_err() => Err(Reply::validation(
            9006,
            "Content for AAAA record must be a valid IPv6 address.",
        )),
        "CNAME" if !valid_name(content) || content == "@" => Err(Reply::validation(
            9007,
            "Content for CNAME record is invalid.",
        )),
        "TXT" if content.len() > 2048 => Err(Reply::validation(
            9100,
            "Content for TXT record is too long.",
        )),
        _ => Ok(()),
    }
}
