//! The moclojer spec model: the typed form of a moclojer spec (YAML, EDN, or an OpenAPI
//! document plus mocks), the readers that build it from text, and the validator that the api,
//! the generator, the web lint and the mock server share.
//!
//! Pure: it takes text and returns values with [`Diagnostic`]s (1-based line and column, item
//! index, key); it never reads files. Reading is bounded before and during parsing by
//! [`Limits`]: size first, then nesting depth, values and YAML alias expansion, so an alias
//! bomb or a 100,000-deep `[[[[` is refused in microseconds and no reader recurses without a
//! bound.
//!
//! Meaning of the keys follows the original moclojer, with the decisions in ARCHITECTURE.md:
//! `GET /` is mockable, both spellings of parameter types, `latency:`, per-endpoint rate
//! limits with header keys, webhooks, and templates checked before serving.
//!
//! ```
//! use moclojer_domain::spec::{self, Format, Limits, Mode};
//!
//! let yaml = "- endpoint:\n    path: /hello/:name\n    response:\n      body: '{\"hi\": \"{{path-params.name}}\"}'\n";
//! let (spec, warnings) = spec::check(yaml, Format::Yaml, Mode::Cloud, &Limits::default())
//!     .expect("a valid spec");
//! assert_eq!(spec.endpoints[0].path.to_string(), "/hello/:name");
//! assert!(warnings.is_empty());
//! ```

mod cloud;
mod edn;
mod export;
mod import;
mod openapi;
mod path;
mod read;
mod rules;
mod tree;
mod validate;
mod yaml;

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;

use std::fmt;

pub use cloud::{AnyDestination, CloudCheck, DestinationPolicy};
pub use export::{ExportInfo, export_openapi};
pub use import::{
    ImportFormat, Imported, MAX_EXAMPLE_DEPTH, MAX_EXAMPLE_VALUES, import, import_edn,
    import_openapi,
};
pub use path::{ParamType, PathError, PathPattern, Segment};
pub use rules::{MAX_RULES, compile_matches};

use crate::{Diagnostic, MAX_SPEC_BYTES};

/// Bounds on what a reader accepts, checked before and during parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest source text, in bytes (default 1 MiB, [`MAX_SPEC_BYTES`]). YAML aliases may
    /// expand the text to at most four times this before the spec is refused.
    pub max_bytes: usize,
    /// Deepest nesting of maps and lists, the top-level list included, aliases expanded
    /// (default 64).
    pub max_depth: usize,
    /// Most values (scalars and collections) in the tree, YAML aliases expanded
    /// (default 100,000): this is what bounds alias expansion ("billion laughs").
    pub max_nodes: usize,
    /// Most top-level items, i.e. endpoints and websockets (default 1,000).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_SPEC_BYTES,
            max_depth: 64,
            max_nodes: 100_000,
            max_items: 1_000,
        }
    }
}

impl Limits {
    /// Limits scaled to a larger source: `max_bytes` as given, and the value and item
    /// budgets grown in proportion (one value per 10 bytes, one item per KiB — what the
    /// defaults are for 1 MiB). For a unified cloud config or a big standalone file.
    pub fn for_bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_depth: 64,
            max_nodes: (max_bytes / 10).max(1_000),
            max_items: (max_bytes / 1_000).max(10),
        }
    }
}

/// Where a spec will run, which decides how strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The mock server on a user's own machine: a template that does not compile is a warning
    /// (that endpoint answers 500); local external-body files are allowed.
    Standalone,
    /// The hosted service: a template that does not compile is an error, and external bodies
    /// must be http(s) URLs.
    Cloud,
}

/// The syntax of a spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML 1.1 as the original reads it; JSON is YAML too.
    Yaml,
    /// EDN: a sequence of top-level maps.
    Edn,
}

impl Format {
    /// The format the original picks for a file: `.edn` is EDN (any case), anything else YAML.
    pub fn from_path_extension(path: &str) -> Self {
        let is_edn = path
            .rsplit_once('.')
            .is_some_and(|(_, extension)| extension.eq_ignore_ascii_case("edn"));
        if is_edn { Format::Edn } else { Format::Yaml }
    }
}

/// A parsed spec: HTTP endpoints and WebSocket endpoints, in definition order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    /// The `endpoint` items.
    pub endpoints: Vec<Endpoint>,
    /// The `websocket` items.
    pub websockets: Vec<WebSocket>,
    /// The `resource` items.
    pub resources: Vec<Resource>,
}

/// One `endpoint` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Index of the top-level item (0-based) it comes from.
    pub item: u32,
    /// 1-based line of the item.
    pub line: u32,
    /// The virtual host, lowercased, port and trailing dot stripped; `None` answers any host.
    pub host: Option<String>,
    /// The request method (default GET).
    pub method: Method,
    /// The route path.
    pub path: PathPattern,
    /// Declared, typed query parameters.
    pub query: Vec<QueryParam>,
    /// The request body example (`body:`), which validates request bodies when given.
    pub body_example: Option<serde_json::Value>,
    /// What to answer.
    pub response: Response,
    /// A request to send after answering.
    pub webhook: Option<Webhook>,
    /// A per-endpoint rate limit; none when absent.
    pub rate_limit: Option<RateLimit>,
    /// Simulated latency, failures and timeouts.
    pub latency: Option<Latency>,
    /// A free-form tag (the original's Swagger tag).
    pub tag: Option<String>,
    /// Header names (lowercase) whose values the request journal hides for every request
    /// to this endpoint's host (`secret-headers: [x-session]`), beside the ones always
    /// hidden.
    pub secret_headers: Vec<String>,
    /// Response rules (`responses:`), tried in order before `response`.
    pub rules: Vec<Rule>,
    /// Responses answered in turn (`sequence:`), in place of `response` when no rule holds.
    pub sequence: Option<Sequence>,
    /// The scenario state the endpoint answers in, and the one it moves to.
    pub scenario: Option<Scenario>,
}

impl Endpoint {
    /// Every response the endpoint may give, with the key it is written under:
    /// `endpoint.response`, each rule's (`endpoint.responses[0]`), then each of its
    /// sequence (`endpoint.sequence[0]`).
    pub fn all_responses(&self) -> Vec<(String, &Response)> {
        let mut all = vec![("endpoint.response".to_owned(), &self.response)];
        for (index, rule) in self.rules.iter().enumerate() {
            all.push((format!("endpoint.responses[{index}]"), &rule.response));
        }
        if let Some(sequence) = &self.sequence {
            for (index, response) in sequence.responses.iter().enumerate() {
                all.push((format!("endpoint.sequence[{index}]"), response));
            }
        }
        all
    }

    /// Whether the endpoint, or one of its rules, names a scenario.
    pub fn has_scenario(&self) -> bool {
        self.scenario.is_some() || self.rules.iter().any(|r| r.scenario.is_some())
    }
}

/// One entry of `responses:`: a response given when its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line of the rule.
    pub line: u32,
    /// The conditions, all of which must hold (none: always).
    pub when: When,
    /// The scenario state the rule answers in, and the one it moves to.
    pub scenario: Option<Scenario>,
    /// What it answers.
    pub response: Response,
}

/// A rule's `when`: conditions on the request, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct When {
    /// On path parameters, by name.
    pub path_params: Vec<(String, Matcher)>,
    /// On headers, by lowercase name (any value of a repeated header may satisfy it).
    pub headers: Vec<(String, Matcher)>,
    /// On query parameters, by name (any value of a repeated one may satisfy it).
    pub query_params: Vec<(String, Matcher)>,
    /// On fields of a JSON body, by dotted path (`user.role`, `items.0.id`).
    pub json_params: Vec<(String, Matcher)>,
    /// Text the raw body must contain.
    pub body_contains: Option<String>,
}

impl When {
    /// Whether the `when` has no condition (it always holds).
    pub fn is_empty(&self) -> bool {
        self.path_params.is_empty()
            && self.headers.is_empty()
            && self.query_params.is_empty()
            && self.json_params.is_empty()
            && self.body_contains.is_none()
    }
}

/// One condition on a request value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// The value is this text (a plain string in YAML, or `equals:`).
    Equals(String),
    /// The value matches this regular expression somewhere (`matches:`; anchor it with
    /// `^…$` for the whole value).
    Matches(String),
    /// The value contains this text (`contains:`).
    Contains(String),
    /// The value is there (`present: true`) or not (`present: false`).
    Present(bool),
    /// The value is one of these (`one-of:`).
    OneOf(Vec<String>),
}

/// `sequence:`: responses answered one per request, in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The responses, in order (at least one).
    pub responses: Vec<Response>,
    /// After the last: start again (`sequence-mode: cycle`) or keep answering the last.
    pub cycle: bool,
}

/// `scenario:` on an endpoint or a rule: answer only in a state, then move to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The scenario's name; every scenario starts in `started`.
    pub name: String,
    /// The state it must be in (`when-state`); any state when absent.
    pub when_state: Option<String>,
    /// The state it moves to after answering (`set-state`); unchanged when absent.
    pub set_state: Option<String>,
}

/// An item that owns HTTP routes.
#[derive(Debug, Clone, Copy)]
pub enum RoutedItem<'s> {
    /// An `endpoint`.
    Endpoint(&'s Endpoint),
    /// A `resource`.
    Resource(&'s Resource),
}

/// The endpoints and resources of a spec in item order ([`Spec::routed_items`]).
#[derive(Debug)]
pub struct RoutedItems<'s> {
    endpoints: std::iter::Peekable<std::slice::Iter<'s, Endpoint>>,
    resources: std::iter::Peekable<std::slice::Iter<'s, Resource>>,
}

impl<'s> Iterator for RoutedItems<'s> {
    type Item = RoutedItem<'s>;

    fn next(&mut self) -> Option<RoutedItem<'s>> {
        match (self.endpoints.peek(), self.resources.peek()) {
            (Some(e), Some(r)) if r.item < e.item => {
                self.resources.next().map(RoutedItem::Resource)
            }
            (Some(_), _) => self.endpoints.next().map(RoutedItem::Endpoint),
            (None, _) => self.resources.next().map(RoutedItem::Resource),
        }
    }
}

impl Spec {
    /// The endpoints and resources in item order: the order the mock server routes them
    /// in, where the first item on a route answers it.
    pub fn routed_items(&self) -> RoutedItems<'_> {
        RoutedItems {
            endpoints: self.endpoints.iter().peekable(),
            resources: self.resources.iter().peekable(),
        }
    }
}

/// One `resource` item: a JSON collection that remembers what is written to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Index of the top-level item (0-based) it comes from.
    pub item: u32,
    /// 1-based line of the item.
    pub line: u32,
    /// The virtual host, normalised as [`Endpoint::host`].
    pub host: Option<String>,
    /// The collection's path (`/users`); records are at `/users/:id`.
    pub path: PathPattern,
    /// The field that names a record (`id`, the default).
    pub id_field: String,
    /// The records a fresh state holds, in order; each has its id field (a string or a
    /// whole number), and no two share one.
    pub seed: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl Resource {
    /// The routes a resource answers, by method and whether the path ends in the record's
    /// id: the collection's GET and POST, the record's GET, PUT, PATCH and DELETE.
    pub const ROUTES: [(Method, bool); 6] = [
        (Method::Get, false),
        (Method::Post, false),
        (Method::Get, true),
        (Method::Put, true),
        (Method::Patch, true),
        (Method::Delete, true),
    ];
}

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH
    Patch,
}

impl Method {
    /// Every method, in the order an `Allow` header lists them.
    pub const ALL: [Method; 9] = [
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

    /// Parses a method name, ignoring ASCII case (`get`, `GET`, `Get`).
    pub fn parse(name: &str) -> Option<Self> {
        Method::ALL
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(name))
    }

    /// The upper-case name: `"GET"`, `"POST"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared query parameter: required, coerced to its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    /// The parameter name.
    pub name: String,
    /// Its type.
    pub ty: ParamType,
}

/// What an endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status (default 200), within 100..=599.
    pub status: u16,
    /// Header name and value template, in order; values are the original's `str` of the
    /// YAML/EDN value (`42` → `"42"`, `yes` → `"true"`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Body::Absent,
        }
    }
}

/// A response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body given.
    Absent,
    /// A template source; a YAML/EDN structure was converted to JSON text first.
    Text(String),
    /// A body loaded per request (`external-body`), which takes precedence over `body`.
    External(ExternalBody),
}

/// `response.external-body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBody {
    /// How to read the content.
    pub provider: Provider,
    /// A template source: a local path or an http(s) URL.
    pub path: String,
    /// The sheet to read (xlsx).
    pub sheet_name: Option<String>,
}

/// An external-body provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// JSON text (itself a template).
    Json,
    /// YAML text, converted to JSON.
    Yaml,
    /// An Excel sheet: first row = keys, each later row an object.
    Xlsx,
    /// Anything else, as written: the original answers `format not supported, read documentation`.
    Unknown(String),
}

/// `endpoint.webhook`: a request sent after the response when `condition` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The target URL, a template.
    pub url: String,
    /// The method (default POST).
    pub method: Method,
    /// Header name and value template.
    pub headers: Vec<(String, String)>,
    /// The body template (a structure converted to JSON text).
    pub body: Option<String>,
    /// Delay before sending, in milliseconds (`sleep-time`, default 0).
    pub sleep_ms: u64,
    /// The `if` expression; `None` is always true.
    pub condition: Option<String>,
}

/// The longest `sleep-time` a webhook may wait before it is sent: one minute.
pub const MAX_WEBHOOK_SLEEP_MS: u64 = 60_000;

/// The longest `rate-limit.window-ms`: one day.
pub const MAX_RATE_WINDOW_MS: u64 = 86_400_000;

/// The most `rate-limit.max-requests`: a million per window.
pub const MAX_RATE_REQUESTS: u64 = 1_000_000;

/// `endpoint.rate-limit`: requests allowed per window, per endpoint and client key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The window, in milliseconds (default 900,000).
    pub window_ms: u64,
    /// Requests allowed per window (default 100).
    pub max_requests: u64,
    /// What identifies a client.
    pub key: RateKey,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            window_ms: 900_000,
            max_requests: 100,
            key: RateKey::RemoteAddr,
        }
    }
}

/// How a rate limit tells clients apart (`key-fn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    /// The client address (`remote-addr`, the default).
    RemoteAddr,
    /// The value of a request header (any other `key-fn`, e.g. `api-key`), lowercased.
    Header(String),
}

/// `endpoint.latency`: simulated delay, failures and timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Shortest delay, ms (default 0).
    pub min_ms: u64,
    /// Longest delay, ms (default 0: no delay).
    pub max_ms: u64,
    /// Probability (0..=1) of a simulated 500 (default 0).
    pub failure_rate: f64,
    /// Probability (0..=1) of a simulated 504 after `timeout_ms` (default 0).
    pub timeout_rate: f64,
    /// The simulated timeout, ms (default 30,000).
    pub timeout_ms: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            min_ms: 0,
            max_ms: 0,
            failure_rate: 0.0,
            timeout_rate: 0.0,
            timeout_ms: 30_000,
        }
    }
}

/// One `websocket` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocket {
    /// Index of the top-level item (0-based) it comes from.
    pub item: u32,
    /// 1-based line of the item.
    pub line: u32,
    /// The virtual host, normalised as [`Endpoint::host`].
    pub host: Option<String>,
    /// The route path.
    pub path: PathPattern,
    /// The template sent when a client connects.
    pub on_connect: Option<String>,
    /// Pattern (a regex matching the whole message) and response template, tried in order.
    pub on_message: Vec<(String, String)>,
}

/// A spec read item by item ([`check_by_item`]).
#[derive(Debug, Clone, Default)]
pub struct ItemReport {
    /// The items that read and validate.
    pub spec: Spec,
    /// Every finding, errors included; an error's `item` names the dropped item.
    pub diagnostics: Vec<Diagnostic>,
    /// The host each item names (lower case), dropped items included.
    pub item_hosts: std::collections::BTreeMap<u32, String>,
}

/// Reads and validates a YAML spec item by item, keeping the items that are fine: for the
/// unified config of the hosted service, where one tenant's bad item must not take down
/// the others.
///
/// # Errors
/// Every finding when the text as a whole cannot be read (syntax, limits, not a list).
pub fn check_by_item(
    source: &str,
    mode: Mode,
    limits: &Limits,
) -> Result<ItemReport, Vec<Diagnostic>> {
    read::parse_text(source, Format::Yaml, limits).by_item(mode)
}

/// Reads any YAML (or JSON) document as a JSON value, within the default limits (size,
/// depth, alias expansion): for external YAML bodies and tools that need the data, not a
/// spec.
///
/// # Errors
/// The diagnostic of a syntax error or a broken limit.
pub fn yaml_to_json(source: &str) -> Result<serde_json::Value, Diagnostic> {
    yaml::read(source, &Limits::default())
        .map(|node| node.map_or(serde_json::Value::Null, |n| n.to_json()))
}

/// Parses a YAML (or JSON) moclojer spec.
///
/// # Errors
/// Every finding (errors and warnings, by position) when at least one is an error: syntax,
/// limits, structure, unknown method or type, bad status, ...
pub fn parse_yaml(source: &str, limits: &Limits) -> Result<Spec, Vec<Diagnostic>> {
    read::parse_text(source, Format::Yaml, limits).into_spec()
}

/// Parses an EDN moclojer spec: a sequence of top-level maps.
///
/// # Errors
/// As [`parse_yaml`].
pub fn parse_edn(source: &str, limits: &Limits) -> Result<Spec, Vec<Diagnostic>> {
    read::parse_text(source, Format::Edn, limits).into_spec()
}

/// Parses an OpenAPI (or Swagger 2.0) document and its mocks file (`operationId` →
/// response). When the mocks file is a YAML list it is used as a moclojer spec and
/// the document is ignored; when it is empty the document is read as a moclojer spec, as the
/// original does.
///
/// Diagnostics about the document have keys like `paths["/pets/{id}"].get`; about the mocks
/// file, `mocks["find pet by id"].status`, with positions in that file.
///
/// # Errors
/// As [`parse_yaml`].
pub fn parse_openapi(
    document: &str,
    mocks: &str,
    limits: &Limits,
) -> Result<Spec, Vec<Diagnostic>> {
    openapi::parse(document, mocks, limits).into_spec()
}

/// Checks a parsed spec beyond its syntax: routes shadowed by an earlier item, templates that
/// do not compile (errors in [`Mode::Cloud`], warnings in [`Mode::Standalone`]), local
/// external-body paths in cloud mode, an empty spec. Positions fall back to the item's line
/// (column 1); [`check`] reports exact positions.
pub fn validate(spec: &Spec, mode: Mode) -> Vec<Diagnostic> {
    validate::validate(spec, mode, &read::Places::default(), false)
}

/// Parses and validates a spec: the one entry point for the api, the web lint and the mock
/// server.
///
/// # Errors
/// Every finding, by position, when at least one is an error.
pub fn check(
    source: &str,
    format: Format,
    mode: Mode,
    limits: &Limits,
) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
    read::parse_text(source, format, limits).check(mode)
}

/// [`check`] for an OpenAPI document and its mocks file (see [`parse_openapi`]).
///
/// # Errors
/// Every finding, by position, when at least one is an error.
pub fn check_openapi(
    document: &str,
    mocks: &str,
    mode: Mode,
    limits: &Limits,
) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
    openapi::parse(document, mocks, limits).check(mode)
}
