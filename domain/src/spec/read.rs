//! From a [`Node`] tree to a [`Spec`], with a diagnostic for everything that is wrong or
//! suspicious, at the position of the offending node.
//!
//! Reading goes on after an error, so one pass reports as much as it can; an endpoint with an
//! error is left out of the spec, and the spec is refused as a whole.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::path::unknown_type_message;
use super::tree::{Kind, Node, Shape};
use super::{
    Body, Endpoint, ExternalBody, Format, Latency, Limits, MAX_RATE_REQUESTS, MAX_RATE_WINDOW_MS,
    MAX_WEBHOOK_SLEEP_MS, Method, Mode, ParamType, PathPattern, Provider, QueryParam, RateKey,
    RateLimit, Response, Spec, WebSocket, Webhook, edn, validate, yaml,
};
use crate::Diagnostic;

const ITEM_KEYS: &[&str] = &["endpoint", "websocket", "resource"];
const ENDPOINT_KEYS: &[&str] = &[
    "method",
    "host",
    "path",
    "query",
    "body",
    "response",
    "webhook",
    "rate-limit",
    "latency",
    "tag",
    "router-name",
    "secret-headers",
    "responses",
    "sequence",
    "sequence-mode",
    "scenario",
];
const ENDPOINT_HINTS: &[(&str, &str)] = &[
    ("status", "`status` belongs under `response`"),
    ("headers", "`headers` belongs under `response`"),
    ("external-body", "`external-body` belongs under `response`"),
    ("on-connect", "`on-connect` belongs to a `websocket` item"),
    ("on-message", "`on-message` belongs to a `websocket` item"),
    ("url", "`url` belongs under `webhook`"),
    ("sleep-time", "`sleep-time` belongs under `webhook`"),
    ("when", "`when` belongs to a rule under `responses`"),
    ("seed", "`seed` belongs to a `resource` item"),
];
const ITEM_HINTS: &[(&str, &str)] = &[
    (
        "path",
        "`path` belongs under `endpoint` (or `websocket`, `resource`)",
    ),
    ("method", "`method` belongs under `endpoint`"),
    ("response", "`response` belongs under `endpoint`"),
    (
        "host",
        "`host` belongs under `endpoint` (or `websocket`, `resource`)",
    ),
];
const RESPONSE_KEYS: &[&str] = &["status", "headers", "body", "external-body"];
const EXTERNAL_KEYS: &[&str] = &["provider", "path", "sheet-name"];
const WEBHOOK_KEYS: &[&str] = &["url", "method", "headers", "body", "sleep-time", "if"];
const RATE_LIMIT_KEYS: &[&str] = &["window-ms", "max-requests", "key-fn"];
const LATENCY_KEYS: &[&str] = &[
    "min-ms",
    "max-ms",
    "failure-rate",
    "timeout-rate",
    "timeout-ms",
];
const WEBSOCKET_KEYS: &[&str] = &["path", "host", "on-connect", "on-message"];
const ON_CONNECT_KEYS: &[&str] = &["response"];
const ON_MESSAGE_KEYS: &[&str] = &["pattern", "response"];

/// Where a value was found, for the checks that run after reading (templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) line: u32,
    pub(super) column: u32,
    pub(super) shape: Shape,
    /// The key as diagnostics show it.
    pub(super) key: String,
}

/// Places by item and logical key (`endpoint.response.body`, `websocket.on-message[0].response`).
#[derive(Debug, Default)]
pub(super) struct Places {
    entries: HashMap<(u32, String), Place>,
    /// The host each item names, recorded even when the item fails to read, so a bad item
    /// of a unified config can be traced to its tenant.
    pub(super) hosts: std::collections::BTreeMap<u32, String>,
}

impl Places {
    pub(super) fn get(&self, item: u32, key: &str) -> Option<&Place> {
        self.entries.get(&(item, key.to_owned()))
    }
}

/// What a reader produced: a spec (unless reading stopped early), findings, places.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) spec: Option<Spec>,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) places: Places,
}

impl Parsed {
    pub(super) fn fatal(diagnostic: Diagnostic) -> Self {
        Self {
            spec: None,
            diagnostics: vec![diagnostic],
            places: Places::default(),
        }
    }

    pub(super) fn into_spec(self) -> Result<Spec, Vec<Diagnostic>> {
        let mut diagnostics = self.diagnostics;
        sort(&mut diagnostics);
        match self.spec {
            Some(spec) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(spec),
            _ => Err(diagnostics),
        }
    }

    /// Reads item by item: the items that read and validate make the spec; the others are
    /// dropped, with their findings and the hosts they named. Fails only when the text as a
    /// whole cannot be read.
    pub(super) fn by_item(self, mode: Mode) -> Result<super::ItemReport, Vec<Diagnostic>> {
        let Some(mut spec) = self.spec else {
            let mut diagnostics = self.diagnostics;
            sort(&mut diagnostics);
            return Err(diagnostics);
        };
        let mut diagnostics = self.diagnostics;
        diagnostics.extend(validate::validate(&spec, mode, &self.places, false));
        sort(&mut diagnostics);
        let bad: std::collections::BTreeSet<u32> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.item)
            .collect();
        spec.endpoints.retain(|e| !bad.contains(&e.item));
        spec.websockets.retain(|w| !bad.contains(&w.item));
        spec.resources.retain(|r| !bad.contains(&r.item));
        Ok(super::ItemReport {
            spec,
            diagnostics,
            item_hosts: self.places.hosts,
        })
    }

    pub(super) fn check(self, mode: Mode) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut diagnostics = self.diagnostics;
        if let Some(spec) = &self.spec {
            let read_failed = diagnostics.iter().any(Diagnostic::is_error);
            diagnostics.extend(validate::validate(spec, mode, &self.places, read_failed));
        }
        sort(&mut diagnostics);
        match self.spec {
            Some(spec) if !diagnostics.iter().any(Diagnostic::is_error) => Ok((spec, diagnostics)),
            _ => Err(diagnostics),
        }
    }
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line, d.column));
}

pub(super) fn too_large(len: usize, limits: &Limits) -> Diagnostic {
    Diagnostic::error(
        1,
        1,
        format!(
            "the spec has {len} bytes; at most {} are accepted",
            limits.max_bytes
        ),
    )
}

/// Reads a whole spec file.
pub(super) fn parse_text(source: &str, format: Format, limits: &Limits) -> Parsed {
    if source.len() > limits.max_bytes {
        return Parsed::fatal(too_large(source.len(), limits));
    }
    let root = match format {
        Format::Yaml => yaml::read(source, limits),
        Format::Edn => edn::read(source, limits).map(Some),
    };
    match root {
        Ok(root) => read_spec(root.as_deref(), format, limits),
        Err(diagnostic) => Parsed::fatal(diagnostic),
    }
}

/// Reads the top-level list of items.
pub(super) fn read_spec(root: Option<&Node>, format: Format, limits: &Limits) -> Parsed {
    let mut parsed = Parsed {
        spec: Some(Spec::default()),
        ..Parsed::default()
    };
    let Some(root) = root else {
        return parsed;
    };
    let items = match &root.kind {
        Kind::Seq(items) => items,
        Kind::Map(entries) => {
            let hint = if entries.iter().any(|(key, _)| {
                key.key_name()
                    .is_some_and(|k| ITEM_KEYS.contains(&k.as_str()))
            }) {
                ": put `- ` before `endpoint:` to make it the first item of a list"
            } else {
                ""
            };
            parsed.diagnostics.push(Diagnostic::error(
                root.line,
                root.column,
                format!("a spec must be a list of items (`- endpoint: ...`), not a map{hint}"),
            ));
            parsed.spec = None;
            return parsed;
        }
        _ if root.is_null() => return parsed,
        _ => {
            parsed.diagnostics.push(Diagnostic::error(
                root.line,
                root.column,
                "a spec must be a list of items (`- endpoint: ...`), not a single value",
            ));
            parsed.spec = None;
            return parsed;
        }
    };
    let mut spec = Spec::default();
    let mut patterns_left = limits.max_items;
    for (index, item) in items.iter().enumerate() {
        let Ok(index) = u32::try_from(index) else {
            break;
        };
        if index as usize >= limits.max_items {
            parsed.diagnostics.push(Diagnostic::error(
                item.line,
                item.column,
                format!(
                    "the spec has more than {} items; larger specs are refused",
                    limits.max_items
                ),
            ));
            break;
        }
        let mut reader = Reader {
            diagnostics: &mut parsed.diagnostics,
            places: &mut parsed.places,
            item: index,
            patterns_left: &mut patterns_left,
        };
        reader.item(item, format, &mut spec);
    }
    parsed.spec = Some(spec);
    parsed
}

/// A key path, as stored (logical) and as shown (display). They differ only for OpenAPI
/// mocks, whose responses are shown as `mocks["op"]...` but stored as `endpoint.response...`.
#[derive(Debug, Clone)]
pub(super) struct Key {
    logical: String,
    pub(super) display: String,
}

impl Key {
    pub(super) fn new(logical: &str, display: &str) -> Self {
        Self {
            logical: logical.to_owned(),
            display: display.to_owned(),
        }
    }

    fn root(name: &str) -> Self {
        Self::new(name, name)
    }

    pub(super) fn child(&self, name: &str) -> Self {
        let join = |base: &str| {
            if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}.{name}")
            }
        };
        Self {
            logical: join(&self.logical),
            display: join(&self.display),
        }
    }

    pub(super) fn index(&self, index: usize) -> Self {
        Self {
            logical: format!("{}[{index}]", self.logical),
            display: format!("{}[{index}]", self.display),
        }
    }
}

/// The entries of a map node by name. Lookups return the last occurrence and skip nulls.
#[derive(Debug)]
pub(super) struct Fields<'n> {
    entries: Vec<(String, &'n Rc<Node>, &'n Rc<Node>)>,
}

impl<'n> Fields<'n> {
    pub(super) fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .rev()
            .find(|(key, _, _)| key == name)
            .map(|(_, _, value)| (*value).as_ref())
            .filter(|value| !value.is_null())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &'n Node, &'n Node)> {
        self.entries
            .iter()
            .map(|(name, key, value)| (name.as_str(), (*key).as_ref(), (*value).as_ref()))
    }
}

/// Reads the parts of one item, reporting into shared lists.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    pub(super) diagnostics: &'a mut Vec<Diagnostic>,
    pub(super) places: &'a mut Places,
    pub(super) item: u32,
    /// How many more regular expressions (WebSocket patterns and `matches` conditions) may
    /// be compiled (each costs up to a few ms).
    pub(super) patterns_left: &'a mut usize,
}

/// The closest candidate within a small edit distance (Levenshtein, in characters), compared
/// without case; the first of equally close candidates.
pub(super) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|candidate| {
            (
                strsim::levenshtein(&word, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `Api.Example.com:8080.` → `api.example.com`.
pub(super) fn normalize_host(raw: &str) -> Result<String, String> {
    let host = raw.trim();
    if host.contains("://") {
        return Err(format!(
            "`{host}` is a URL; `host` takes a host name such as `api.example.com`"
        ));
    }
    if host.is_empty() || host.contains(['/', ' ', '\t', '?', '#', '@']) {
        return Err(format!("`{host}` is not a host name"));
    }
    let host = host.to_ascii_lowercase();
    let host = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => host[..=end].to_owned(),
            None => return Err(format!("`{host}` is not a host name")),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
            Some(_) => return Err(format!("`{host}` is not a host name")),
            None => host,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
    if host.is_empty() {
        return Err("`host` is empty".to_owned());
    }
    Ok(host)
}

/// A body value: a string is the template itself; a structure (or a number, a boolean) is
/// converted to JSON text first; a null is no body.
fn body_text(node: &Node) -> Option<String> {
    if node.is_null() {
        return None;
    }
    match node.as_string() {
        Some(text) => Some(text.to_owned()),
        None => Some(node.to_json().to_string()),
    }
}

impl Reader<'_> {
    pub(super) fn error(&mut self, node: &Node, key: &Key, message: impl Into<String>) {
        self.error_at((node.line, node.column), key, message);
    }

    pub(super) fn warning(&mut self, node: &Node, key: &Key, message: impl Into<String>) {
        self.warning_at((node.line, node.column), key, message);
    }

    fn located(&self, diagnostic: Diagnostic, key: &Key) -> Diagnostic {
        let mut diagnostic = diagnostic.in_item(self.item, key.display.clone());
        if key.display.is_empty() {
            diagnostic.key = None;
        }
        diagnostic
    }

    fn error_at(&mut self, (line, column): (u32, u32), key: &Key, message: impl Into<String>) {
        let diagnostic = self.located(Diagnostic::error(line, column, message), key);
        self.diagnostics.push(diagnostic);
    }

    fn warning_at(&mut self, (line, column): (u32, u32), key: &Key, message: impl Into<String>) {
        let diagnostic = self.located(Diagnostic::warning(line, column, message), key);
        self.diagnostics.push(diagnostic);
    }

    pub(super) fn place(&mut self, key: &Key, node: &Node) {
        self.places.entries.insert(
            (self.item, key.logical.clone()),
            Place {
                line: node.line,
                column: node.column,
                shape: node.shape,
                key: key.display.clone(),
            },
        );
    }

    /// The entries of a map node (`None` if it is not a map), warning about unknown keys
    /// (with a "did you mean"), duplicated keys and keys that are not names.
    pub(super) fn fields<'n>(
        &mut self,
        node: &'n Node,
        key: &Key,
        known: &[&str],
        hints: &[(&str, &str)],
    ) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            return None;
        };
        let mut fields = Fields {
            entries: Vec::with_capacity(entries.len()),
        };
        let mut seen = HashSet::with_capacity(entries.len());
        for (name_node, value) in entries {
            let Some(name) = name_node.key_name() else {
                self.warning(
                    name_node,
                    key,
                    "a key must be a name; this entry is ignored",
                );
                continue;
            };
            let here = key.child(&name);
            if !seen.insert(name.clone()) {
                self.warning(
                    name_node,
                    &here,
                    format!("`{name}` is given twice; the last one is used"),
                );
            }
            if !known.is_empty() && !known.contains(&name.as_str()) {
                let message = match hints.iter().find(|(hinted, _)| *hinted == name) {
                    Some((_, hint)) => format!("unknown key `{name}`: {hint}"),
                    None => match suggest(&name, known) {
                        Some(near) => format!("unknown key `{name}`; did you mean `{near}`?"),
                        None => format!(
                            "unknown key `{name}` (known here: {}); it is ignored",
                            known.join(", ")
                        ),
                    },
                };
                self.warning(name_node, &here, message);
            }
            fields.entries.push((name, name_node, value));
        }
        Some(fields)
    }

    pub(super) fn string(&mut self, node: &Node, key: &Key, what: &str) -> Option<String> {
        if let Some(text) = node.text() {
            return Some(text);
        }
        self.error(node, key, format!("{what} must be a string"));
        None
    }

    fn uint(&mut self, node: &Node, key: &Key, what: &str) -> Option<u64> {
        match node.as_int().map(u64::try_from) {
            Some(Ok(value)) => Some(value),
            _ => {
                let shown = node
                    .text()
                    .map(|t| format!(", not `{t}`"))
                    .unwrap_or_default();
                self.error(
                    node,
                    key,
                    format!("{what} must be a whole number of at least 0{shown}"),
                );
                None
            }
        }
    }

    /// [`Self::uint`] within `range` (a shared server's limit on work a spec may ask for).
    fn uint_in(
        &mut self,
        node: &Node,
        key: &Key,
        what: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        let value = self.uint(node, key, what)?;
        if range.contains(&value) {
            return Some(value);
        }
        self.error(
            node,
            key,
            format!(
                "{what} must be from {} to {}, not {value}",
                range.start(),
                range.end()
            ),
        );
        None
    }

    fn rate(&mut self, node: &Node, key: &Key, what: &str) -> Option<f64> {
        match node.as_number() {
            Some(value) if (0.0..=1.0).contains(&value) => Some(value),
            _ => {
                self.error(node, key, format!("{what} must be a number from 0 to 1"));
                None
            }
        }
    }

    fn item(&mut self, node: &Node, format: Format, spec: &mut Spec) {
        let key = Key::root("");
        let Some(fields) = self.fields(node, &key, ITEM_KEYS, ITEM_HINTS) else {
            let message = match (&node.kind, format) {
                (Kind::Seq(_), Format::Edn) => {
                    "this item is a vector, not a map, and is ignored: an EDN spec is a sequence \
                     of maps written one after another, without an enclosing `[ ]`"
                }
                _ if node.is_null() => "this item is empty and is ignored",
                _ => "this item is not a map and is ignored; items look like `- endpoint: ...`",
            };
            self.warning(node, &key, message);
            return;
        };
        let endpoint = fields.get("endpoint");
        let websocket = fields.get("websocket");
        let resource = fields.get("resource");
        if let Some(resource) = resource
            && let Some(resource) = self.resource(node, resource)
        {
            spec.resources.push(resource);
        }
        if let Some(endpoint) = endpoint
            && let Some(endpoint) = self.endpoint(node, endpoint)
        {
            spec.endpoints.push(endpoint);
        }
        if let Some(websocket) = websocket
            && let Some(websocket) = self.websocket(node, websocket)
        {
            spec.websockets.push(websocket);
        }
        if endpoint.is_none() && websocket.is_none() && resource.is_none() {
            self.warning(
                node,
                &key,
                "this item has no `endpoint`, `websocket` or `resource` and is ignored",
            );
        }
    }

    fn endpoint(&mut self, item: &Node, node: &Node) -> Option<Endpoint> {
        let key = Key::root("endpoint");
        let Some(fields) = self.fields(node, &key, ENDPOINT_KEYS, ENDPOINT_HINTS) else {
            self.error(
                node,
                &key,
                "`endpoint` must be a map with `path`, `method`, `response`, ...",
            );
            return None;
        };
        self.place(&key, item);
        let mut ok = true;

        let method = match fields.get("method") {
            None => Some(Method::Get),
            Some(value) => self.method(value, &key.child("method")),
        };
        ok &= method.is_some();

        let path = self.path(node, fields.get("path"), &key);
        ok &= path.is_some();

        let host = match fields.get("host") {
            None => Some(None),
            Some(value) => self.host(value, &key.child("host")).map(Some),
        };
        ok &= host.is_some();

        let query = match fields.get("query") {
            None => Some(Vec::new()),
            Some(value) => self.query(value, &key.child("query")),
        };
        ok &= query.is_some();

        let body_example = fields
            .get("body")
            .and_then(|value| self.body_example(value, &key.child("body")));

        let response = match fields.get("response") {
            None => Some(Response::default()),
            Some(value) => self.response(value, &key.child("response")),
        };
        ok &= response.is_some();

        let webhook = match fields.get("webhook") {
            None => Some(None),
            Some(value) => self.webhook(value, &key.child("webhook")).map(Some),
        };
        ok &= webhook.is_some();

        let rate_limit = match fields.get("rate-limit") {
            None => Some(None),
            Some(value) => self.rate_limit(value, &key.child("rate-limit")).map(Some),
        };
        ok &= rate_limit.is_some();

        let latency = match fields.get("latency") {
            None => Some(None),
            Some(value) => self.latency(value, &key.child("latency")).map(Some),
        };
        ok &= latency.is_some();

        let tag = match fields.get("tag") {
            None => Some(None),
            Some(value) => self.string(value, &key.child("tag"), "`tag`").map(Some),
        };
        ok &= tag.is_some();

        let secret_headers = match fields.get("secret-headers") {
            None => Some(Vec::new()),
            Some(value) => self.header_names(value, &key.child("secret-headers")),
        };
        ok &= secret_headers.is_some();

        let stateful = self.stateful(&fields, &key);
        ok &= stateful.is_some();

        if !ok {
            return None;
        }
        let (rules, sequence, scenario) = stateful?;
        Some(Endpoint {
            item: self.item,
            line: item.line,
            host: host?,
            method: method?,
            path: path?,
            query: query?,
            body_example,
            response: response?,
            webhook: webhook?,
            rate_limit: rate_limit?,
            latency: latency?,
            tag: tag?,
            secret_headers: secret_headers?,
            rules,
            sequence,
            scenario,
        })
    }

    /// A list of header names (`[x-session, X-Token]`), lowercased.
    fn header_names(&mut self, node: &Node, key: &Key) -> Option<Vec<String>> {
        let Kind::Seq(entries) = &node.kind else {
            self.error(
                node,
                key,
                format!("`{}` must be a list of header names", key.display),
            );
            return None;
        };
        let mut names = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let here = key.index(index);
            let name = self.string(entry, &here, "a header name")?;
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                self.error(entry, &here, format!("`{name}` is not a header name"));
                return None;
            }
            names.push(name.to_ascii_lowercase());
        }
        self.place(key, node);
        Some(names)
    }

    pub(super) fn method(&mut self, node: &Node, key: &Key) -> Option<Method> {
        let name = self.string(node, key, "`method`")?;
        if let Some(method) = Method::parse(&name) {
            self.place(key, node);
            return Some(method);
        }
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        let hint = suggest(&name, &names)
            .map(|near| format!("; did you mean `{near}`?"))
            .unwrap_or_default();
        self.error(
            node,
            key,
            format!(
                "unknown method `{name}` (expected one of {}){hint}",
                names.join(", ")
            ),
        );
        None
    }

    /// The required `path` of an endpoint or websocket map `parent`.
    pub(super) fn path(
        &mut self,
        parent: &Node,
        node: Option<&Node>,
        base: &Key,
    ) -> Option<PathPattern> {
        let key = base.child("path");
        let Some(node) = node else {
            self.error(
                parent,
                &key,
                format!(
                    "missing `{}`: every {} needs a path such as `/users/:id`",
                    key.display, base.display
                ),
            );
            return None;
        };
        let raw = self.string(node, &key, "`path`")?;
        self.place(&key, node);
        match PathPattern::parse(&raw) {
            Ok(path) => {
                if path.segments.iter().any(|segment| {
                    matches!(segment, super::Segment::Static(text) if text.starts_with('*'))
                }) {
                    self.warning(
                        node,
                        &key,
                        "catch-all segments (`*name`) are not supported; the segment is matched literally",
                    );
                }
                Some(path)
            }
            Err(error) => {
                let offset = u32::try_from(error.offset).unwrap_or(0);
                let at = node
                    .shape
                    .locate(1, offset + 1)
                    .unwrap_or((node.line, node.column));
                self.error_at(at, &key, error.message);
                None
            }
        }
    }

    pub(super) fn host(&mut self, node: &Node, key: &Key) -> Option<String> {
        let raw = self.string(node, key, "`host`")?;
        match normalize_host(&raw) {
            Ok(host) => {
                self.places.hosts.insert(self.item, host.clone());
                Some(host)
            }
            Err(message) => {
                self.error(node, key, message);
                None
            }
        }
    }

    fn query(&mut self, node: &Node, key: &Key) -> Option<Vec<QueryParam>> {
        let Some(fields) = self.fields(node, key, &[], &[]) else {
            self.error(
                node,
                key,
                "`query` must be a map of parameter name to type, such as `page: int`",
            );
            return None;
        };
        let mut params = Vec::new();
        let mut ok = true;
        for (name, _, value) in fields.iter() {
            let here = key.child(name);
            let ty = match value.text() {
                Some(ty) if !value.is_collection() => ty,
                _ => {
                    self.error(
                        value,
                        &here,
                        format!(
                            "query parameter `{name}` needs a type name ({})",
                            ParamType::NAMES
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            match ParamType::parse(&ty) {
                Some(ty) => params.push(QueryParam {
                    name: name.to_owned(),
                    ty,
                }),
                None => {
                    self.error(value, &here, unknown_type_message(&ty));
                    ok = false;
                }
            }
        }
        ok.then_some(params)
    }

    fn body_example(&mut self, node: &Node, key: &Key) -> Option<serde_json::Value> {
        let Some(text) = node.as_string() else {
            self.warning(
                node,
                key,
                "`body` (a request body example) must be a JSON string; this value is ignored, \
                 as the original ignores it",
            );
            return None;
        };
        match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(error) => {
                let line = u32::try_from(error.line()).unwrap_or(1);
                let column = u32::try_from(error.column()).unwrap_or(1);
                let at = node
                    .shape
                    .locate(line, column)
                    .unwrap_or((node.line, node.column));
                let message = format!(
                    "`body` (a request body example) is not valid JSON ({error}); it is \
                     ignored, as the original ignores it"
                );
                self.warning_at(at, key, message);
                None
            }
        }
    }

    /// A response map (also used for OpenAPI mocks).
    pub(super) fn response(&mut self, node: &Node, key: &Key) -> Option<Response> {
        let Some(fields) = self.fields(node, key, RESPONSE_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`response` must be a map with `status`, `headers`, `body`, ...",
            );
            return None;
        };
        self.response_fields(&fields, key)
    }

    /// The response keys among `fields`, already read (and their unknown keys warned
    /// about) by the caller: a response map, or a rule, whose keys include `when`.
    pub(super) fn response_fields(&mut self, fields: &Fields<'_>, key: &Key) -> Option<Response> {
        let mut ok = true;
        let status = match fields.get("status") {
            None => Some(200),
            Some(value) => self.status(value, &key.child("status")),
        };
        ok &= status.is_some();
        let headers = match fields.get("headers") {
            None => Some(Vec::new()),
            Some(value) => self.headers(value, &key.child("headers")),
        };
        ok &= headers.is_some();
        let body = fields.get("body");
        let mut result = Body::Absent;
        if let Some(value) = body {
            let body_key = key.child("body");
            self.place(&body_key, value);
            if let Some(text) = body_text(value) {
                result = Body::Text(text);
            }
        }
        if let Some(value) = fields.get("external-body") {
            let external_key = key.child("external-body");
            if let Some(body) = body {
                self.warning(
                    body,
                    &key.child("body"),
                    "`body` is ignored: `external-body` takes precedence",
                );
            }
            match self.external_body(value, &external_key) {
                Some(external) => result = Body::External(external),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(Response {
            status: status?,
            headers: headers?,
            body: result,
        })
    }

    fn status(&mut self, node: &Node, key: &Key) -> Option<u16> {
        match node.as_int() {
            Some(code @ 100..=599) => u16::try_from(code).ok(),
            Some(code) => {
                self.error(
                    node,
                    key,
                    format!("status {code} is out of range: a status is from 100 to 599"),
                );
                None
            }
            None => {
                let shown = node
                    .text()
                    .map(|t| format!(", not `{t}`"))
                    .unwrap_or_default();
                self.error(
                    node,
                    key,
                    format!("`status` must be an integer from 100 to 599{shown}"),
                );
                None
            }
        }
    }

    fn headers(&mut self, node: &Node, key: &Key) -> Option<Vec<(String, String)>> {
        let Some(fields) = self.fields(node, key, &[], &[]) else {
            self.error(node, key, "`headers` must be a map of header name to value");
            return None;
        };
        let mut headers = Vec::new();
        let mut ok = true;
        for (name, name_node, value) in fields.iter() {
            let here = key.child(name);
            if !is_header_name(name) {
                self.error(
                    name_node,
                    &here,
                    format!("`{name}` is not a valid header name"),
                );
                ok = false;
                continue;
            }
            let Some(text) = value.clojure_str() else {
                let what = if matches!(value.kind, Kind::Map(_)) {
                    "a map"
                } else {
                    "a list"
                };
                self.error(
                    value,
                    &here,
                    format!(
                        "header `{name}` has {what} as value; a header value must be a string, \
                         a number or a boolean"
                    ),
                );
                ok = false;
                continue;
            };
            if text.contains(['\r', '\n']) {
                self.error(
                    value,
                    &here,
                    format!("the value of header `{name}` contains a line break"),
                );
                ok = false;
                continue;
            }
            self.place(&here, value);
            headers.push((name.to_owned(), text));
        }
        ok.then_some(headers)
    }

    fn external_body(&mut self, node: &Node, key: &Key) -> Option<ExternalBody> {
        let Some(fields) = self.fields(node, key, EXTERNAL_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`external-body` must be a map with `provider` and `path`",
            );
            return None;
        };
        let provider = match fields.get("provider") {
            None => {
                self.warning(
                    node,
                    &key.child("provider"),
                    "`external-body` has no `provider` (json, yaml or xlsx); the endpoint will \
                     answer `format not supported, read documentation`",
                );
                Provider::Unknown(String::new())
            }
            Some(value) => {
                let name = self.string(value, &key.child("provider"), "`provider`")?;
                match name.to_ascii_lowercase().as_str() {
                    "json" => Provider::Json,
                    "yaml" | "yml" => Provider::Yaml,
                    "xlsx" => Provider::Xlsx,
                    _ => {
                        let hint = suggest(&name, &["json", "yaml", "xlsx"])
                            .map(|near| format!(" Did you mean `{near}`?"))
                            .unwrap_or_default();
                        self.warning(
                            value,
                            &key.child("provider"),
                            format!(
                                "unknown provider `{name}` (json, yaml or xlsx): the endpoint \
                                 will answer `format not supported, read documentation`.{hint}"
                            ),
                        );
                        Provider::Unknown(name)
                    }
                }
            }
        };
        let path_key = key.child("path");
        let Some(path_node) = fields.get("path") else {
            self.error(
                node,
                &path_key,
                "`external-body` needs a `path`: a file path or an http(s) URL",
            );
            return None;
        };
        let path = self.string(path_node, &path_key, "`path`")?;
        self.place(&path_key, path_node);
        let sheet_name = match fields.get("sheet-name") {
            None => None,
            Some(value) => Some(self.string(value, &key.child("sheet-name"), "`sheet-name`")?),
        };
        if provider == Provider::Xlsx && sheet_name.is_none() {
            self.warning(
                node,
                &key.child("sheet-name"),
                "an xlsx `external-body` should name its sheet with `sheet-name`",
            );
        }
        Some(ExternalBody {
            provider,
            path,
            sheet_name,
        })
    }

    fn webhook(&mut self, node: &Node, key: &Key) -> Option<Webhook> {
        let Some(fields) = self.fields(node, key, WEBHOOK_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`webhook` must be a map with `url`, `method`, `body`, ...",
            );
            return None;
        };
        let mut ok = true;
        let url_key = key.child("url");
        let url = match fields.get("url") {
            None => {
                self.error(node, &url_key, "a webhook needs a `url`");
                None
            }
            Some(value) => {
                let url = self.string(value, &url_key, "`url`");
                if url.is_some() {
                    self.place(&url_key, value);
                }
                url
            }
        };
        ok &= url.is_some();
        let method = match fields.get("method") {
            None => Some(Method::Post),
            Some(value) => self.method(value, &key.child("method")),
        };
        ok &= method.is_some();
        let headers = match fields.get("headers") {
            None => Some(Vec::new()),
            Some(value) => self.headers(value, &key.child("headers")),
        };
        ok &= headers.is_some();
        let body = fields.get("body").and_then(|value| {
            self.place(&key.child("body"), value);
            body_text(value)
        });
        let sleep_ms = match fields.get("sleep-time") {
            None => Some(0),
            Some(value) => self.uint_in(
                value,
                &key.child("sleep-time"),
                "`sleep-time` (milliseconds)",
                0..=MAX_WEBHOOK_SLEEP_MS,
            ),
        };
        ok &= sleep_ms.is_some();
        let if_key = key.child("if");
        let condition = match fields.get("if") {
            None => Some(None),
            Some(value) => match value.clojure_str() {
                // An empty condition is no condition: always true, as in the original.
                Some(text) if text.trim().is_empty() => Some(None),
                Some(text) => {
                    self.place(&if_key, value);
                    Some(Some(text))
                }
                None => {
                    self.error(
                        value,
                        &if_key,
                        "`if` must be an expression such as `path-params.id = \"1\"`",
                    );
                    None
                }
            },
        };
        ok &= condition.is_some();
        if !ok {
            return None;
        }
        Some(Webhook {
            url: url?,
            method: method?,
            headers: headers?,
            body,
            sleep_ms: sleep_ms?,
            condition: condition?,
        })
    }

    fn rate_limit(&mut self, node: &Node, key: &Key) -> Option<RateLimit> {
        let Some(fields) = self.fields(node, key, RATE_LIMIT_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`rate-limit` must be a map with `window-ms`, `max-requests`, `key-fn`",
            );
            return None;
        };
        let defaults = RateLimit::default();
        let mut ok = true;
        let window_ms = match fields.get("window-ms") {
            None => Some(defaults.window_ms),
            Some(value) => self.uint_in(
                value,
                &key.child("window-ms"),
                "`window-ms`",
                1..=MAX_RATE_WINDOW_MS,
            ),
        };
        ok &= window_ms.is_some();
        let max_requests = match fields.get("max-requests") {
            None => Some(defaults.max_requests),
            Some(value) => self.uint_in(
                value,
                &key.child("max-requests"),
                "`max-requests`",
                0..=MAX_RATE_REQUESTS,
            ),
        };
        ok &= max_requests.is_some();
        let rate_key = match fields.get("key-fn") {
            None => Some(RateKey::RemoteAddr),
            Some(value) => {
                let here = key.child("key-fn");
                match self.string(value, &here, "`key-fn`") {
                    Some(name) if name.eq_ignore_ascii_case("remote-addr") => {
                        Some(RateKey::RemoteAddr)
                    }
                    Some(name) if is_header_name(&name) => {
                        Some(RateKey::Header(name.to_ascii_lowercase()))
                    }
                    Some(name) => {
                        self.error(
                            value,
                            &here,
                            format!(
                                "`key-fn` must be `remote-addr` or a header name, not `{name}`"
                            ),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        ok &= rate_key.is_some();
        if !ok {
            return None;
        }
        Some(RateLimit {
            window_ms: window_ms?,
            max_requests: max_requests?,
            key: rate_key?,
        })
    }

    fn latency(&mut self, node: &Node, key: &Key) -> Option<Latency> {
        let Some(fields) = self.fields(node, key, LATENCY_KEYS, &[]) else {
            self.error(
                node,
                key,
                "`latency` must be a map with `min-ms`, `max-ms`, `failure-rate`, `timeout-rate`, `timeout-ms`",
            );
            return None;
        };
        let mut latency = Latency::default();
        let mut ok = true;
        for (name, _, value) in fields.iter() {
            if value.is_null() {
                continue;
            }
            let here = key.child(name);
            let what = format!("`{name}`");
            match name {
                "min-ms" | "max-ms" | "timeout-ms" => match self.uint(value, &here, &what) {
                    Some(ms) if name == "min-ms" => latency.min_ms = ms,
                    Some(ms) if name == "max-ms" => latency.max_ms = ms,
                    Some(ms) => latency.timeout_ms = ms,
                    None => ok = false,
                },
                "failure-rate" | "timeout-rate" => match self.rate(value, &here, &what) {
                    Some(rate) if name == "failure-rate" => latency.failure_rate = rate,
                    Some(rate) => latency.timeout_rate = rate,
                    None => ok = false,
                },
                _ => {}
            }
        }
        if ok && latency.min_ms > latency.max_ms {
            self.error(
                fields.get("min-ms").unwrap_or(node),
                &key.child("min-ms"),
                format!(
                    "`min-ms` ({}) is larger than `max-ms` ({})",
                    latency.min_ms, latency.max_ms
                ),
            );
            ok = false;
        }
        ok.then_some(latency)
    }

    fn websocket(&mut self, item: &Node, node: &Node) -> Option<WebSocket> {
        let key = Key::root("websocket");
        let Some(fields) = self.fields(node, &key, WEBSOCKET_KEYS, &[]) else {
            self.error(
                node,
                &key,
                "`websocket` must be a map with `path`, `on-connect`, `on-message`",
            );
            return None;
        };
        self.place(&key, item);
        let mut ok = true;
        let path = self.path(node, fields.get("path"), &key);
        ok &= path.is_some();
        let host = match fields.get("host") {
            None => Some(None),
            Some(value) => self.host(value, &key.child("host")).map(Some),
        };
        ok &= host.is_some();
        let mut on_connect = None;
        if let Some(value) = fields.get("on-connect") {
            let here = key.child("on-connect");
            match self.fields(value, &here, ON_CONNECT_KEYS, &[]) {
                Some(connect) => {
                    if let Some(response) = connect.get("response") {
                        self.place(&here.child("response"), response);
                        on_connect = body_text(response);
                    }
                }
                None => {
                    self.error(value, &here, "`on-connect` must be a map with a `response`");
                    ok = false;
                }
            }
        }
        let mut on_message = Vec::new();
        if let Some(value) = fields.get("on-message") {
            let here = key.child("on-message");
            match &value.kind {
                Kind::Seq(entries) => {
                    for (index, entry) in entries.iter().enumerate() {
                        match self.on_message(entry, &here.index(index)) {
                            Some(pair) => on_message.push(pair),
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    self.error(
                        value,
                        &here,
                        "`on-message` must be a list of `{pattern, response}` maps",
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        Some(WebSocket {
            item: self.item,
            line: item.line,
            host: host?,
            path: path?,
            on_connect,
            on_message,
        })
    }

    fn on_message(&mut self, node: &Node, key: &Key) -> Option<(String, String)> {
        let Some(fields) = self.fields(node, key, ON_MESSAGE_KEYS, &[]) else {
            self.error(
                node,
                key,
                "an `on-message` entry must be a map with `pattern` and `response`",
            );
            return None;
        };
        let pattern_key = key.child("pattern");
        let Some(pattern_node) = fields.get("pattern") else {
            self.error(
                node,
                &pattern_key,
                "an `on-message` entry needs a `pattern`",
            );
            return None;
        };
        let pattern = self.string(pattern_node, &pattern_key, "`pattern`")?;
        if *self.patterns_left == 0 {
            self.error(
                pattern_node,
                &pattern_key,
                "the spec has too many `on-message` patterns; larger specs are refused",
            );
            return None;
        }
        *self.patterns_left -= 1;
        let valid = match validate::compile_pattern(&pattern) {
            Ok(_) => true,
            Err(message) => {
                self.error(
                    pattern_node,
                    &pattern_key,
                    format!("`{pattern}` is not a valid regular expression: {message}"),
                );
                false
            }
        };
        let response_key = key.child("response");
        let response = match fields.get("response") {
            None => {
                self.warning(
                    node,
                    &response_key,
                    "this `on-message` entry has no `response`; nothing is sent when it matches",
                );
                String::new()
            }
            Some(value) => {
                self.place(&response_key, value);
                body_text(value).unwrap_or_default()
            }
        };
        valid.then_some((pattern, response))
    }
}

/// Whether `b` may be in a header name (an RFC 9110 token).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn suggestions_are_near_in_characters_and_ignore_case() {
        let keys = ["path", "method", "response", "rate-limit"];
        assert_eq!(suggest("pth", &keys), Some("path"));
        assert_eq!(suggest("PATH", &keys), Some("path"));
        assert_eq!(suggest("respnse", &keys), Some("response"));
        assert_eq!(suggest("ratelimit", &keys), Some("rate-limit"));
        // Short words must match exactly, longer ones may be one or two edits away.
        assert_eq!(suggest("pa", &["pb"]), None);
        assert_eq!(suggest("ab", &["AB"]), Some("AB"));
        assert_eq!(suggest("mthd", &keys), None);
        assert_eq!(suggest("reponsse", &keys), Some("response"));
        // Distances count characters, not bytes; ties go to the first candidate.
        assert_eq!(suggest("caf", &["café"]), Some("café"));
        assert_eq!(suggest("bat", &["cat", "hat"]), Some("cat"));
        assert_eq!(suggest("anything", &[]), None);
    }
}
