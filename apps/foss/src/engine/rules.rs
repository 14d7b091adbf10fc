//! Response rules and sequences, compiled: the conditions of each rule's `when` ready to
//! test against a request (regular expressions built once), and a sequence's responses
//! with the name its position is kept under.

use std::borrow::Cow;
use std::cell::OnceCell;

use bytes::Bytes;
use http::HeaderMap;
use http::header::HeaderName;
use moclojer_domain::Diagnostic;
use moclojer_domain::spec::{self, Endpoint, Matcher, Scenario};
use serde_json::Value;

use super::endpoint::{CompiledResponse, Needs};
use crate::request::{percent_decode, query_pairs};

/// One condition, ready to test.
#[derive(Debug)]
enum CompiledMatcher {
    Equals(String),
    Matches(regex::Regex),
    Contains(String),
    Present(bool),
    OneOf(Vec<String>),
}

impl CompiledMatcher {
    fn compile(matcher: &Matcher) -> Result<Self, String> {
        Ok(match matcher {
            Matcher::Equals(text) => Self::Equals(text.clone()),
            Matcher::Matches(pattern) => Self::Matches(spec::compile_matches(pattern)?),
            Matcher::Contains(text) => Self::Contains(text.clone()),
            Matcher::Present(on) => Self::Present(*on),
            Matcher::OneOf(values) => Self::OneOf(values.clone()),
        })
    }

    /// Whether the request's values for the condition's name satisfy it: `present` asks
    /// whether there is one; every other kind holds when any value fits.
    fn holds<'v>(&self, mut values: impl Iterator<Item = Cow<'v, str>>) -> bool {
        match self {
            Self::Present(on) => values.next().is_some() == *on,
            Self::Equals(text) => values.any(|v| v == text.as_str()),
            Self::Matches(regex) => values.any(|v| regex.is_match(&v)),
            Self::Contains(text) => values.any(|v| v.contains(text.as_str())),
            Self::OneOf(options) => values.any(|v| options.iter().any(|o| *o == v)),
        }
    }
}

/// A rule's `when`, compiled.
#[derive(Debug, Default)]
pub(super) struct CompiledWhen {
    /// By the path parameter's position; `None` for a name the path does not have.
    path: Vec<(Option<usize>, CompiledMatcher)>,
    headers: Vec<(Option<HeaderName>, CompiledMatcher)>,
    query: Vec<(String, CompiledMatcher)>,
    /// By dotted path, split.
    json: Vec<(Vec<String>, CompiledMatcher)>,
    body_contains: Option<String>,
}

/// What a rule is tested against: the request, with its query and JSON body parsed on
/// first use only.
pub(super) struct RuleRequest<'r> {
    pub(super) params: &'r [&'r str],
    pub(super) headers: &'r HeaderMap,
    pub(super) query: &'r str,
    pub(super) body: &'r Bytes,
    parsed_query: OnceCell<Vec<(String, String)>>,
    json: OnceCell<Option<Value>>,
}

impl<'r> RuleRequest<'r> {
    pub(super) fn new(
        params: &'r [&'r str],
        headers: &'r HeaderMap,
        query: &'r str,
        body: &'r Bytes,
    ) -> Self {
        Self {
            params,
            headers,
            query,
            body,
            parsed_query: OnceCell::new(),
            json: OnceCell::new(),
        }
    }

    fn query(&self) -> &[(String, String)] {
        self.parsed_query.get_or_init(|| query_pairs(self.query))
    }

    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }
}

/// The text a JSON value is compared as: a string's content, anything else its JSON.
fn json_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

/// The value at a dotted path (`user.role`, `items.0.id`).
fn at_path<'v>(mut value: &'v Value, path: &[String]) -> Option<&'v Value> {
    for step in path {
        value = match value {
            Value::Object(fields) => fields.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

impl CompiledWhen {
    fn compile(when: &spec::When, endpoint: &Endpoint) -> Result<Self, String> {
        let names: Vec<&str> = endpoint.path.params().map(|(name, _)| name).collect();
        let mut compiled = Self {
            body_contains: when.body_contains.clone(),
            ..Self::default()
        };
        for (name, matcher) in &when.path_params {
            let position = names.iter().position(|n| n == name);
            compiled
                .path
                .push((position, CompiledMatcher::compile(matcher)?));
        }
        for (name, matcher) in &when.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).ok();
            compiled
                .headers
                .push((header, CompiledMatcher::compile(matcher)?));
        }
        for (name, matcher) in &when.query_params {
            compiled
                .query
                .push((name.clone(), CompiledMatcher::compile(matcher)?));
        }
        for (path, matcher) in &when.json_params {
            let steps = path.split('.').map(str::to_owned).collect();
            compiled
                .json
                .push((steps, CompiledMatcher::compile(matcher)?));
        }
        Ok(compiled)
    }

    /// Whether every condition holds for `request`.
    pub(super) fn holds(&self, request: &RuleRequest<'_>) -> bool {
        let path = self.path.iter().all(|(position, matcher)| {
            let raw = position.and_then(|p| request.params.get(p));
            matcher.holds(raw.into_iter().map(|raw| percent_decode(raw)))
        });
        let headers = || {
            self.headers.iter().all(|(name, matcher)| {
                let values = name
                    .iter()
                    .flat_map(|name| request.headers.get_all(name))
                    .filter_map(|v| v.to_str().ok())
                    .map(Cow::Borrowed);
                matcher.holds(values)
            })
        };
        let query = || {
            self.query.iter().all(|(name, matcher)| {
                let values = request
                    .query()
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| Cow::Borrowed(v.as_str()));
                matcher.holds(values)
            })
        };
        let json = || {
            self.json.iter().all(|(path, matcher)| {
                let value = request.json().and_then(|json| at_path(json, path));
                matcher.holds(value.into_iter().map(json_text))
            })
        };
        let body = || {
            self.body_contains
                .as_ref()
                .is_none_or(|text| String::from_utf8_lossy(request.body).contains(text.as_str()))
        };
        path && headers() && query() && json() && body()
    }
}

/// One rule of `responses:`, compiled.
#[derive(Debug)]
pub(super) struct CompiledRule {
    pub(super) when: CompiledWhen,
    pub(super) scenario: Option<Scenario>,
    pub(super) response: CompiledResponse,
}

impl CompiledRule {
    /// The rules of `endpoint`; a rule whose expression does not compile (the validator
    /// refuses those first) never holds, with a warning.
    pub(super) fn compile_all(
        endpoint: &Endpoint,
        diagnostics: &mut Vec<Diagnostic>,
        needs: &mut Needs,
    ) -> Vec<Self> {
        let at = (endpoint.item, endpoint.line);
        let mut rules = Vec::with_capacity(endpoint.rules.len());
        for (index, rule) in endpoint.rules.iter().enumerate() {
            let key = format!("responses[{index}]");
            let response = CompiledResponse::compile(&rule.response, &key, at, diagnostics, needs);
            let when = match CompiledWhen::compile(&rule.when, endpoint) {
                Ok(when) => when,
                Err(message) => {
                    diagnostics.push(
                        Diagnostic::warning(rule.line, 1, format!("{key}.when: {message}"))
                            .in_item(endpoint.item, format!("endpoint.{key}.when")),
                    );
                    continue;
                }
            };
            rules.push(Self {
                when,
                scenario: rule.scenario.clone(),
                response,
            });
        }
        rules
    }
}

/// `sequence:`, compiled, with the name its position is kept under.
#[derive(Debug)]
pub(super) struct CompiledSequence {
    pub(super) responses: Vec<CompiledResponse>,
    pub(super) cycle: bool,
    pub(super) name: String,
}

impl CompiledSequence {
    pub(super) fn compile(
        endpoint: &Endpoint,
        diagnostics: &mut Vec<Diagnostic>,
        needs: &mut Needs,
    ) -> Option<Self> {
        let sequence = endpoint.sequence.as_ref()?;
        let at = (endpoint.item, endpoint.line);
        let responses = sequence
            .responses
            .iter()
            .enumerate()
            .map(|(index, response)| {
                let key = format!("sequence[{index}]");
                CompiledResponse::compile(response, &key, at, diagnostics, needs)
            })
            .collect();
        Some(Self {
            responses,
            cycle: sequence.cycle,
            name: format!(
                "{} {} (item {})",
                endpoint.method, endpoint.path, endpoint.item
            ),
        })
    }

    /// The response for the request that took `position`: in turn, then the last one
    /// again, or from the first again when it cycles.
    pub(super) fn at(&self, position: u64) -> &CompiledResponse {
        let len = self.responses.len().max(1);
        let index = usize::try_from(position).unwrap_or(usize::MAX);
        let index = if self.cycle {
            index % len
        } else {
            index.min(len - 1)
        };
        &self.responses[index]
    }
}
