//! Answering a request its route matched to an endpoint: the rate limit, the simulated
//! latency, the template context built from the request, then the response rendered and
//! the webhook fired.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http::header::HeaderValue;
use moclojer_domain::spec::{Latency, RateKey, Scenario};
use moclojer_domain::template::{Context, Env, Escape, RenderError, RenderLimits, Template};
use moclojer_ports::SCENARIO_START;
use serde_json::{Map, Value};

use super::endpoint::{BodySource, CompiledEndpoint, CompiledResponse};
use super::resource::state_unavailable;
use super::rules::RuleRequest;
use super::{Engine, Reply, error_reply, json_headers, reply};
use crate::context::{Refusal, header_params, json_params, path_params, query_params};
use crate::external::ExternalError;
use crate::ratelimit::Verdict;

impl Engine {
    /// Answers a request for `endpoint`, whose path parameters are `params`.
    pub(super) async fn answer(
        &self,
        endpoint: &CompiledEndpoint,
        parts: &http::request::Parts,
        params: &[&str],
        body: Bytes,
        remote: SocketAddr,
        env: &(dyn Env + Sync),
    ) -> Reply {
        if endpoint.fixed
            && let BodySource::Static(bytes) = &endpoint.response.body
        {
            // Nothing is read from the request: the prepared answer, its headers cloned and
            // its body shared.
            return reply(
                endpoint.response.status,
                endpoint.response.static_headers.clone(),
                bytes.clone(),
            );
        }
        let rate_headers = match self.check_rate(endpoint, parts, remote) {
            None => None,
            Some(Verdict::Allowed { limit, remaining }) => Some((limit, remaining)),
            Some(Verdict::Limited {
                limit,
                reset_epoch_ms,
            }) => return rate_limited(limit, reset_epoch_ms),
        };

        // Boxed: the rare waits stay out of the future every request moves around.
        if let Some(latency) = &endpoint.latency
            && let Some(simulated) = Box::pin(simulate_latency(latency)).await
        {
            return simulated;
        }

        let mut response = match endpoint.context(parts, params, &body) {
            Err(refusals) => reply(
                StatusCode::BAD_REQUEST,
                json_headers(),
                Bytes::from(Refusal::body(&refusals)),
            ),
            Ok(mut context) => {
                let chosen = if endpoint.rules.is_empty() && endpoint.sequence.is_none() {
                    Ok(&endpoint.response)
                } else {
                    Box::pin(self.choose(endpoint, parts, params, &body)).await
                };
                let chosen = match chosen {
                    Ok(chosen) => chosen,
                    Err(refused) => return refused,
                };
                if endpoint.needs.state
                    && let Err(refused) = Box::pin(self.read_states(endpoint, &mut context)).await
                {
                    return refused;
                }
                let response = self.respond(chosen, parts, &context, env).await;
                if let Some(webhook) = &endpoint.webhook {
                    self.webhooks.fire(
                        &tenant(parts),
                        webhook,
                        context.whole(),
                        env,
                        &self.options.render,
                    );
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

    /// Counts the request against the endpoint's rate limit, if it has one.
    fn check_rate(
        &self,
        endpoint: &CompiledEndpoint,
        parts: &http::request::Parts,
        remote: SocketAddr,
    ) -> Option<Verdict> {
        let (limiter, key) = endpoint.rate.as_ref()?;
        // The client: the socket's peer, or whom a trusted proxy says it serves.
        let address = || self.client(&parts.headers, remote).to_string();
        let client = match key {
            RateKey::RemoteAddr => address(),
            RateKey::Header(name) => parts
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map_or_else(address, str::to_owned),
        };
        Some(limiter.check(&client, Instant::now()))
    }

    /// The response `chosen` for `endpoint`: the first rule that holds (and whose
    /// scenario is in its state), else the sequence's next, else `response`.
    async fn choose<'e>(
        &self,
        endpoint: &'e CompiledEndpoint,
        parts: &http::request::Parts,
        params: &[&str],
        body: &Bytes,
    ) -> Result<&'e CompiledResponse, Reply> {
        let query = parts.uri.query().unwrap_or("");
        // The query and the JSON body are parsed once, on first use, for every rule.
        let request = RuleRequest::new(params, &parts.headers, query, body);
        let mut from = 0;
        while let Some(found) = endpoint.rules[from..]
            .iter()
            .position(|rule| rule.when.holds(&request))
        {
            let rule = &endpoint.rules[from + found];
            match &rule.scenario {
                None => return Ok(&rule.response),
                Some(scenario) => {
                    if self.enter(&endpoint.state_host, scenario).await? {
                        return Ok(&rule.response);
                    }
                }
            }
            from += found + 1;
        }
        let Some(sequence) = &endpoint.sequence else {
            return Ok(&endpoint.response);
        };
        let position = self
            .options
            .state
            .next_position(self.scope(&endpoint.state_host), &sequence.name)
            .await
            .map_err(|e| state_unavailable(&e))?;
        Ok(sequence.at(position))
    }

    /// Puts the host's scenario states in `context` as `state`: every scenario the spec
    /// names, in `started` until it moves.
    async fn read_states(
        &self,
        endpoint: &CompiledEndpoint,
        context: &mut RequestContext<'_>,
    ) -> Result<(), Reply> {
        let stored = self
            .options
            .state
            .scenarios(self.scope(&endpoint.state_host))
            .await
            .map_err(|e| state_unavailable(&e))?;
        let mut states = Map::new();
        for name in &self.scenario_names {
            let state = stored.get(name).map_or(SCENARIO_START, String::as_str);
            states.insert(name.clone(), Value::String(state.to_owned()));
        }
        if let Value::Object(root) = &mut context.root {
            root.insert("state".to_owned(), Value::Object(states));
        }
        Ok(())
    }

    /// Whether `scenario` lets its endpoint or rule answer, moving it to its `set-state`
    /// when it does (compare and set: of concurrent requests in a state, one moves it).
    pub(super) async fn enter(&self, host: &str, scenario: &Scenario) -> Result<bool, Reply> {
        let state = &self.options.state;
        let scope = self.scope(host);
        let name = scenario.name.as_str();
        let entered = match (&scenario.when_state, &scenario.set_state) {
            (Some(from), to) => {
                let to = to.as_deref().unwrap_or(from);
                state.transition(scope, name, from, to).await
            }
            (None, Some(to)) => match state.scenarios(scope).await {
                Ok(states) => {
                    let from = states.get(name).map_or(SCENARIO_START, String::as_str);
                    state.transition(scope, name, from, to).await.map(|_| true)
                }
                Err(e) => Err(e),
            },
            (None, None) => Ok(true),
        };
        entered.map_err(|e| state_unavailable(&e))
    }

    /// A response, its templates rendered against `context`.
    async fn respond(
        &self,
        endpoint: &CompiledResponse,
        parts: &http::request::Parts,
        context: &RequestContext<'_>,
        env: &(dyn Env + Sync),
    ) -> Reply {
        let limits = &self.options.render;
        let mut headers = endpoint.static_headers.clone();
        for (name, template) in &endpoint.templated_headers {
            let mut text = String::new();
            match context.render_into(template, &mut text, Escape::None, env, limits) {
                Ok(()) => match HeaderValue::from_str(&text) {
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
                let mut text = String::with_capacity(endpoint.body_capacity);
                match context.render_into(template, &mut text, endpoint.escape, env, limits) {
                    Ok(()) => Bytes::from(text),
                    Err(e) => return template_error(&e.to_string()),
                }
            }
            BodySource::External {
                provider,
                path,
                sheet,
            } => {
                // Boxed: the fetch's large future stays out of the one every request moves.
                let host =
                    crate::request::request_host(&parts.uri, &parts.headers).unwrap_or_default();
                let load = Box::pin(crate::external::load(
                    &host,
                    provider,
                    path,
                    sheet.as_deref(),
                    context.whole(),
                    env,
                    &self.options,
                    endpoint.escape,
                ));
                match load.await {
                    Ok(bytes) => bytes,
                    Err(ExternalError::Busy) => {
                        return error_reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too many external bodies are being fetched; try again",
                        );
                    }
                    Err(ExternalError::Fetch(message)) => {
                        return error_reply(StatusCode::BAD_GATEWAY, &message);
                    }
                    Err(ExternalError::Failed(message)) => {
                        return error_reply(StatusCode::INTERNAL_SERVER_ERROR, &message);
                    }
                }
            }
            BodySource::Broken(message) => return template_error(message),
        };
        reply(endpoint.status, headers, body)
    }
}

/// Whose budget a request's outbound calls (webhooks, external bodies) come out of: the
/// host it was sent to.
fn tenant(parts: &http::request::Parts) -> std::borrow::Cow<'_, str> {
    crate::request::request_host(&parts.uri, &parts.headers).unwrap_or_default()
}

/// The template context of one request. `path-params` is kept as its fields (no JSON
/// object built) unless a webhook or an external body needs the context whole; the other
/// roots are in one JSON object.
pub(super) struct RequestContext<'e> {
    /// `path-params`, as fields, when the templates read it and `root` does not hold it.
    path: Option<Vec<(&'e str, Value)>>,
    pub(super) root: Value,
}

impl RequestContext<'_> {
    /// Renders `template` against this context, appending to `out`.
    fn render_into(
        &self,
        template: &Template,
        out: &mut String,
        escape: Escape,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Result<(), RenderError> {
        let path;
        let fields: &[(&str, &[(&str, Value)])] = match &self.path {
            Some(fields) => {
                path = [("path-params", fields.as_slice())];
                &path
            }
            None => &[],
        };
        let context = Context {
            value: &self.root,
            fields,
        };
        template.render_context_into(out, context, escape, env, limits)
    }

    /// The whole context as one JSON object: built so for an endpoint with a webhook or
    /// an external body (see [`CompiledEndpoint::path_as_fields`]).
    fn whole(&self) -> &Value {
        debug_assert!(self.path.is_none(), "path-params kept apart");
        &self.root
    }
}

impl CompiledEndpoint {
    /// The template context of a request, with only the parts the templates read (and
    /// those the endpoint declares types for); the refusals when a value does not fit its
    /// declared type.
    fn context(
        &self,
        parts: &http::request::Parts,
        params: &[&str],
        body: &Bytes,
    ) -> Result<RequestContext<'_>, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut root = Map::new();
        let mut context_path = None;
        let path = path_params(&self.params, params, &mut refusals);
        if self.needs.path {
            if self.path_as_fields {
                context_path = Some(path);
            } else {
                let object = path
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect();
                root.insert("path-params".to_owned(), Value::Object(object));
            }
        }
        if self.needs.query || !self.query.is_empty() {
            let query = parts.uri.query().unwrap_or("");
            let query = query_params(query, &self.query, &mut refusals);
            root.insert("query-params".to_owned(), Value::Object(query));
        }
        if self.needs.json || self.body_example.is_some() {
            let example = self.body_example.as_ref();
            match json_params(&parts.headers, body, example, &mut refusals) {
                Ok(Some(json)) => {
                    root.insert("json-params".to_owned(), json);
                }
                Ok(None) => {}
                Err(malformed) => return Err(vec![malformed]),
            }
        }
        if self.needs.headers {
            let headers = header_params(&parts.headers);
            root.insert("header-params".to_owned(), Value::Object(headers));
        }
        if refusals.is_empty() {
            Ok(RequestContext {
                path: context_path,
                root: Value::Object(root),
            })
        } else {
            Err(refusals)
        }
    }
}

/// 429, with the limit and when the window frees a slot.
fn rate_limited(limit: u64, reset_epoch_ms: u128) -> Reply {
    let mut limited = error_reply(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
    let headers = limited.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert(
        "x-ratelimit-reset",
        HeaderValue::from_str(&reset_epoch_ms.to_string()).unwrap_or(HeaderValue::from_static("0")),
    );
    limited
}

/// 500 with the original's template-error body: `{"error":{"message":M},"message":M}`.
pub(super) fn template_error(message: &str) -> Reply {
    let body =
        serde_json::json!({ "error": { "message": message }, "message": message }).to_string();
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json_headers(),
        Bytes::from(body),
    )
}

/// The simulated failure, timeout or delay of `latency`: a failure or timeout answers in
/// place of the endpoint; a delay only waits.
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
