//! Webhooks: after a response, when the `if` condition holds, send the rendered request
//! after `sleep-time` milliseconds, through the egress guard, fire-and-forget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use moclojer_domain::spec::{Method, Webhook};
use moclojer_domain::template::{Condition, Env, Escape, RenderLimits, Template};
use moclojer_egress::{Egress, OutboundRequest};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
pub struct WebhookBudget(Arc<Budget>);

#[derive(Debug)]
struct Budget {
    total: Arc<Semaphore>,
    /// Pending webhooks by host; a host leaves the map when it has none.
    per_host: Mutex<HashMap<String, usize>>,
    dropped: AtomicU64,
}

impl Default for WebhookBudget {
    fn default() -> Self {
        Self(Arc::new(Budget {
            total: Arc::new(Semaphore::new(MAX_PENDING_WEBHOOKS)),
            per_host: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }))
    }
}

impl WebhookBudget {
    /// How many webhooks were dropped so far for want of room.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// How many webhooks `host` has waiting or in flight.
    pub fn pending(&self, host: &str) -> usize {
        self.hosts().get(host).copied().unwrap_or(0)
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0
            .per_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for one more webhook of `host`, or `None` (counted) when there is no room.
    fn take(&self, host: &str) -> Option<Slot> {
        let mut hosts = self.hosts();
        let held = hosts.get(host).copied().unwrap_or(0);
        let permit = (held < MAX_PENDING_WEBHOOKS_PER_HOST)
            .then(|| Arc::clone(&self.0.total).try_acquire_owned().ok())
            .flatten();
        let Some(permit) = permit else {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        hosts.insert(host.to_owned(), held + 1);
        Some(Slot {
            budget: self.clone(),
            host: host.to_owned(),
            _permit: permit,
        })
    }
}

/// One webhook's room in a [`WebhookBudget`], given back when dropped.
struct Slot {
    budget: WebhookBudget,
    host: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut hosts = self.budget.hosts();
        if let Some(held) = hosts.get_mut(&self.host) {
            *held -= 1;
            if *held == 0 {
                hosts.remove(&self.host);
            }
        }
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
        let Some(slot) = self.budget.take(host) else {
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

/// What a log line shows of a webhook's `url`: its scheme and authority without user
/// information. The rest stays out: a chat service's webhook path is a credential, and a
/// templated URL may carry what a caller sent (a token in a query parameter).
fn destination(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return "[not a URL]".to_owned();
    };
    let scheme = uri.scheme_str().unwrap_or("?");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::destination;

    #[test]
    fn a_logged_destination_keeps_no_path_query_or_user() {
        assert_eq!(
            destination("https://hooks.slack.test/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.test"
        );
        assert_eq!(
            destination("http://user:pw@hooks.test:8443/h?token=abc"),
            "http://hooks.test:8443"
        );
        assert_eq!(destination("not a url at all"), "[not a URL]");
    }
}
