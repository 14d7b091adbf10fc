//! Webhooks: after a response, when the `if` condition holds, send the rendered request
//! after `sleep-time` milliseconds, through the egress guard, fire-and-forget.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moclojer_domain::spec::{Method, Webhook};
use moclojer_domain::template::{Condition, Env, Escape, RenderLimits, Template};
use moclojer_egress::{Egress, OutboundRequest};
use serde_json::Value;

use crate::outbound::{HostBudget, destination};

/// How many webhooks may wait or be in flight at once in a server; more are dropped with a
/// warning and counted.
pub const MAX_PENDING_WEBHOOKS: usize = 1024;

/// How many of those one host may hold: a tenant's slow receiver or long `sleep-time`
/// cannot take every other tenant's webhooks.
pub const MAX_PENDING_WEBHOOKS_PER_HOST: usize = 64;

/// A webhook with its templates compiled.
#[derive(Debug)]
pub(crate) struct CompiledWebhook {
    url: Template,
    method: Method,
    headers: Vec<(String, Template)>,
    body: Option<Template>,
    sleep: Duration,
    condition: Option<Condition>,
    roots: Vec<String>,
}

impl CompiledWebhook {
    pub(crate) fn compile(webhook: &Webhook) -> Result<Self, String> {
        let compile = |what: &str, source: &str| {
            Template::compile(source).map_err(|e| format!("{what}: {e}"))
        };
        let url = compile("url", &webhook.url)?;
        let body = webhook
            .body
            .as_deref()
            .map(|b| compile("body", b))
            .transpose()?;
        let headers = webhook
            .headers
            .iter()
            .map(|(name, value)| compile("headers", value).map(|t| (name.clone(), t)))
            .collect::<Result<Vec<_>, _>>()?;
        let condition = match webhook.condition.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(expr) => Some(Condition::compile(expr).map_err(|e| format!("if: {e}"))?),
        };
        let mut roots: Vec<String> = url.variables().map(str::to_owned).collect();
        for t in body.iter().chain(headers.iter().map(|(_, t)| t)) {
            roots.extend(t.variables().map(str::to_owned));
        }
        if condition.is_some() {
            // A condition may read any part of the request.
            roots.extend(
                [
                    "path-params",
                    "query-params",
                    "json-params",
                    "header-params",
                ]
                .map(str::to_owned),
            );
        }
        Ok(Self {
            url,
            method: webhook.method,
            headers,
            body,
            sleep: Duration::from_millis(webhook.sleep_ms),
            condition,
            roots,
        })
    }

    /// The context roots the webhook's templates read.
    pub(crate) fn variables(&self) -> &[String] {
        &self.roots
    }
}

/// The webhooks a server may have waiting or in flight: at most [`MAX_PENDING_WEBHOOKS`]
/// in all and [`MAX_PENDING_WEBHOOKS_PER_HOST`] per host. One budget is shared by every
/// engine built on the same [`crate::EngineOptions`], so publishing (a new engine) does not
/// hand out a fresh one. Cloning shares it.
#[derive(Debug, Clone)]
pub struct WebhookBudget(Arc<HostBudget>);

impl Default for WebhookBudget {
    fn default() -> Self {
        Self(HostBudget::new(
            MAX_PENDING_WEBHOOKS,
            MAX_PENDING_WEBHOOKS_PER_HOST,
        ))
    }
}

impl WebhookBudget {
    /// How many webhooks were dropped so far for want of room.
    pub fn dropped(&self) -> u64 {
        self.0.refused()
    }

    /// How many webhooks `host` has waiting or in flight.
    pub fn pending(&self, host: &str) -> usize {
        self.0.held(host)
    }
}

/// Sends webhooks in the background, within a [`WebhookBudget`].
#[derive(Debug, Clone)]
pub struct Webhooks {
    egress: Option<Egress>,
    budget: WebhookBudget,
}

impl Webhooks {
    /// Webhooks sent through `egress` within `budget`; with no egress they are logged and
    /// not sent.
    pub fn new(egress: Option<Egress>, budget: WebhookBudget) -> Self {
        Self { egress, budget }
    }

    /// Evaluates the condition and renders the request now (with this request's context),
    /// then sends it after the delay without holding up the response.
    pub(crate) fn fire(
        &self,
        host: &str,
        hook: &CompiledWebhook,
        context: &Value,
        env: &dyn Env,
        limits: &RenderLimits,
    ) {
        if let Some(condition) = &hook.condition {
            match condition.eval(context, env, limits) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook condition failed; not sent");
                    return;
                }
            }
        }
        let rendered = (|| -> Result<OutboundRequest, String> {
            let url = hook
                .url
                .render(context, Escape::None, env, limits)
                .map_err(|e| e.to_string())?;
            let body = match &hook.body {
                Some(t) => t
                    .render(context, Escape::Json, env, limits)
                    .map_err(|e| e.to_string())?,
                None => "{}".to_owned(),
            };
            let mut headers = Vec::with_capacity(hook.headers.len() + 1);
            if !hook
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            for (name, template) in &hook.headers {
                headers.push((
                    name.clone(),
                    template
                        .render(context, Escape::None, env, limits)
                        .map_err(|e| e.to_string())?,
                ));
            }
            let method = moclojer_egress::Method::from_bytes(hook.method.as_str().as_bytes())
                .map_err(|e| e.to_string())?;
            Ok(OutboundRequest {
                method,
                url: url.trim().to_owned(),
                headers,
                body: Bytes::from(body),
            })
        })();
        let request = match rendered {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "webhook did not render; not sent");
                return;
            }
        };
        let Some(egress) = self.egress.clone() else {
            tracing::warn!(to = %destination(&request.url), "webhooks are disabled; not sent");
            return;
        };
        let Some(slot) = self.budget.0.take(host) else {
            tracing::warn!(
                to = %destination(&request.url),
                dropped_total = self.budget.dropped(),
                "too many webhooks pending; dropped"
            );
            return;
        };
        let sleep = hook.sleep;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::time::sleep(sleep).await;
            let to = destination(&request.url);
            match egress.send(request).await {
                Ok(response) => tracing::info!(%to, status = response.status, "webhook sent"),
                Err(e) => tracing::warn!(%to, error = %e, "webhook failed"),
            }
        });
    }
}
