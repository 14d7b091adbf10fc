//! `PaasProvider` on DigitalOcean App Platform: the app spec's `domains`, changed in place.

use std::sync::Arc;

use async_trait::async_trait;
use http::Method;
use moclojer_ports::{HttpClient, PaasProvider, PortError, PortResult, check_domain_name};
use serde_json::{Value, json};

use crate::client::Api;
use crate::config::DigitalOceanConfig;
use crate::locks::lock_app;

/// One App Platform app's domains as a `PaasProvider`. Cheap to clone.
///
/// Every change reads the app's spec, changes only its `domains` array and writes the
/// whole spec back (`PUT /apps/{id}` with `{"spec": ...}`); every other field, known or
/// not, is sent back exactly as read. The API has no conditional update, so two writers
/// changing the spec at the same moment can lose one change. Hence:
///
/// - **Changes to one app run one at a time in this process.** Each holds the app's lock
///   (one async mutex per app, in a process-wide map whose entries go when idle) from its
///   read to its verification; changes to other apps run in parallel. The lock is here
///   rather than in ops because this is the one place every spec write passes (ops only
///   sees the `PaasProvider` port, which names no app, and its events, reconcile and any
///   other caller all end here), and because two values of this type for the same app
///   share it.
/// - **Every write is verified.** After the write the spec is read again; when a writer
///   outside this process undid the change meanwhile, the change is made again after a
///   jittered back-off, up to [`RetryPolicy::max_attempts`] times, and then fails as
///   `Conflict` (so the event that asked for it is handed out again).
///
/// [`RetryPolicy::max_attempts`]: crate::RetryPolicy::max_attempts
#[derive(Debug, Clone)]
pub struct DigitalOceanApps {
    api: Api,
    app_id: String,
    /// The app's key in the lock map: the base URL and the app id.
    lock_key: String,
}

impl DigitalOceanApps {
    /// The app `app_id` (its UUID) reached through `http`.
    ///
    /// # Errors
    /// `Invalid` for a bad app id, base URL or an empty token.
    pub fn new(
        http: Arc<dyn HttpClient>,
        config: &DigitalOceanConfig,
        app_id: &str,
    ) -> PortResult<Self> {
        let fine = !app_id.is_empty()
            && app_id.len() <= 64
            && app_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !fine {
            return Err(PortError::invalid(format!("{app_id:?} is not an app id")));
        }
        let api = Api::new(http, config)?;
        Ok(Self {
            lock_key: format!("{}/apps/{app_id}", api.base()),
            api,
            app_id: app_id.to_owned(),
        })
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The entry of the spec's `domains` array for `domain`: `{"domain": "x", "type":
    /// "ALIAS"}`; for `*.zone`, as the app spec documents wildcards (a `domain` is a plain
    /// host name, and `wildcard` "includes all sub-domains, in addition to the given
    /// domain"): `{"domain": "zone", "type": "ALIAS", "wildcard": true}`.
    pub fn domain_entry(domain: &str) -> Value {
        match domain.strip_prefix("*.") {
            Some(zone) => json!({"domain": zone, "type": "ALIAS", "wildcard": true}),
            None => json!({"domain": domain, "type": "ALIAS"}),
        }
    }

    async fn spec(&self) -> PortResult<Value> {
        let path = format!("/apps/{}", self.app_id);
        let mut body = self.api.call(Method::GET, &path, None).await?.ok()?;
        let spec = body["app"]["spec"].take();
        if !spec.is_object() {
            return Err(PortError::internal(
                "digitalocean returned an app without a spec",
            ));
        }
        Ok(spec)
    }

    async fn put_spec(&self, spec: Value) -> PortResult<crate::client::Reply> {
        let path = format!("/apps/{}", self.app_id);
        self.api
            .call(Method::PUT, &path, Some(&json!({"spec": spec})))
            .await
    }

    /// Makes the spec's `domains` hold the change `change` makes to them (`change` says
    /// whether it changed anything; applied again to its own result, it changes nothing).
    ///
    /// Each attempt holds this app's lock ([`lock_app`]) for a read-modify-write of the
    /// spec and a fresh read that verifies it. The API has no conditional update: a writer
    /// outside this process may read the spec before our write and write it back after,
    /// undoing our change. The re-read sees that (the change would still change
    /// something), and the attempt is made again after a jittered back-off, up to the retry
    /// policy's attempts. The lock is not held while waiting.
    ///
    /// # Errors
    /// `Conflict` when the change was undone at every attempt; the API's errors otherwise.
    async fn change(
        &self,
        domain: &str,
        change: impl Fn(&mut Vec<Value>) -> bool + Send + Sync,
    ) -> PortResult<()> {
        let retry = *self.api.retry();
        for attempt in 1..=retry.max_attempts {
            let in_place = {
                let _app = lock_app(&self.lock_key).await;
                self.change_once(&change).await?
            };
            if in_place {
                return Ok(());
            }
            if attempt < retry.max_attempts {
                let wait = retry.backoff(attempt);
                tracing::warn!(app = %self.app_id, domain, attempt, ?wait, "the app spec lost our change to another writer; changing it again");
                tokio::time::sleep(wait).await;
            }
        }
        Err(PortError::conflict(format!(
            "the spec of app {} lost the change to domain {domain} {} times in a row: another \
             writer keeps changing it",
            self.app_id, retry.max_attempts
        )))
    }

    /// One read-modify-write of the spec, under the app's lock: whether the spec holds the
    /// change afterwards, as a fresh read shows it.
    async fn change_once(
        &self,
        change: &(impl Fn(&mut Vec<Value>) -> bool + Send + Sync),
    ) -> PortResult<bool> {
        let mut spec = self.spec().await?;
        if !change(domains_of(&mut spec)?) {
            return Ok(true);
        }
        let reply = self.put_spec(spec).await?;
        if (200..300).contains(&reply.status) {
            return self.holds(change).await;
        }
        // A concurrent change may have done our work: then it is done.
        if matches!(reply.status, 400 | 409 | 422) && self.holds(change).await? {
            return Ok(true);
        }
        reply.ok().map(|_| true)
    }

    /// Whether the spec, read afresh, holds the change (it would change nothing).
    async fn holds(&self, change: &(impl Fn(&mut Vec<Value>) -> bool + Sync)) -> PortResult<bool> {
        let mut spec = self.spec().await?;
        Ok(!change(domains_of(&mut spec)?))
    }
}

/// The spec's `domains` array, made empty when absent.
fn domains_of(spec: &mut Value) -> PortResult<&mut Vec<Value>> {
    let Some(object) = spec.as_object_mut() else {
        return Err(PortError::internal(
            "digitalocean returned a spec that is not an object",
        ));
    };
    object
        .entry("domains")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| PortError::internal("the app spec's domains is not an array"))
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn is_wildcard(entry: &Value) -> bool {
    entry["wildcard"].as_bool() == Some(true)
}

/// Whether `entry` is exactly what [`DigitalOceanApps::domain_entry`] writes for a wildcard,
/// so removing the wildcard may remove the entry.
fn is_our_wildcard(entry: &Value) -> bool {
    entry.as_object().is_some_and(|fields| {
        fields.len() == 3
            && is_wildcard(entry)
            && entry["type"] == "ALIAS"
            && entry["domain"].is_string()
    })
}

/// The domains an entry stands for, as the port names them: `*.zone` for a wildcard entry,
/// and the plain name too when the entry is someone else's (a wildcard "includes all
/// sub-domains, in addition to the given domain").
fn entry_domains(entry: &Value) -> Vec<String> {
    let Some(domain) = entry["domain"].as_str() else {
        return Vec::new();
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    match (is_wildcard(entry), is_our_wildcard(entry)) {
        (false, _) => vec![domain],
        (true, true) => vec![format!("*.{domain}")],
        (true, false) => vec![format!("*.{domain}"), domain],
    }
}

#[async_trait]
impl PaasProvider for DigitalOceanApps {
    async fn list_domains(&self) -> PortResult<Vec<String>> {
        let spec = self.spec().await?;
        let mut domains: Vec<String> = spec["domains"]
            .as_array()
            .map(|list| list.iter().flat_map(entry_domains).collect())
            .unwrap_or_default();
        domains.sort();
        domains.dedup();
        Ok(domains)
    }

    async fn add_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        self.change(domain, |list| {
            if list
                .iter()
                .flat_map(entry_domains)
                .any(|d| same(&d, domain))
            {
                return false;
            }
            // A wildcard over a name the app already has widens that entry: the spec holds
            // a name once.
            if let Some(zone) = domain.strip_prefix("*.")
                && let Some(entry) = list
                    .iter_mut()
                    .find(|e| e["domain"].as_str().is_some_and(|d| same(d, zone)))
                && let Some(fields) = entry.as_object_mut()
            {
                fields.insert("wildcard".to_owned(), Value::Bool(true));
                return true;
            }
            list.push(Self::domain_entry(domain));
            true
        })
        .await
    }

    async fn remove_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        self.change(domain, |list| {
            let named =
                |entry: &Value, name: &str| entry["domain"].as_str().is_some_and(|d| same(d, name));
            match domain.strip_prefix("*.") {
                Some(zone) => {
                    let mut changed = false;
                    list.retain_mut(|entry| {
                        if !named(entry, zone) || !is_wildcard(entry) {
                            return true;
                        }
                        changed = true;
                        if is_our_wildcard(entry) {
                            return false;
                        }
                        // Someone else's entry that we widened: narrow it back.
                        if let Some(fields) = entry.as_object_mut() {
                            fields.remove("wildcard");
                        }
                        true
                    });
                    changed
                }
                None => {
                    let before = list.len();
                    list.retain(|entry| !named(entry, domain) || is_wildcard(entry));
                    list.len() != before
                }
            }
        })
        .await
    }
}
