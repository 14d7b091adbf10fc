//! `PaasProvider` on DigitalOcean App Platform: the app spec's `domains`, changed in place.

use std::sync::Arc;

use async_trait::async_trait;
use http::Method;
use moclojer_ports::{HttpClient, PaasProvider, PortError, PortResult, check_domain_name};
use serde_json::{Value, json};

use crate::client::Api;
use crate::config::DigitalOceanConfig;

/// One App Platform app's domains as a `PaasProvider`. Cheap to clone.
///
/// Every change reads the app's spec, changes only its `domains` array and writes the
/// whole spec back (`PUT /apps/{id}` with `{"spec": ...}`); every other field, known or
/// not, is sent back exactly as read. Two writers changing the spec at the same moment
/// can lose one change (the API has no conditional update); ops is the only writer of
/// the domains, and a lost change is redone at its next pass.
#[derive(Debug, Clone)]
pub struct DigitalOceanApps {
    api: Api,
    app_id: String,
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
        Ok(Self {
            api: Api::new(http, config)?,
            app_id: app_id.to_owned(),
        })
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The entry of the spec's `domains` array for `domain`:
    /// `{"domain": "x", "type": "ALIAS"}`, plus `"wildcard": true` for `*.zone`.
    pub fn domain_entry(domain: &str) -> Value {
        if domain.starts_with("*.") {
            json!({"domain": domain, "type": "ALIAS", "wildcard": true})
        } else {
            json!({"domain": domain, "type": "ALIAS"})
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

    /// Changes the spec's `domains` with `change` (which says whether it changed anything)
    /// and writes the spec back when it did. `present` is what the domain list must say
    /// afterwards, to accept a refusal that says it already is so.
    async fn change(
        &self,
        domain: &str,
        present: bool,
        change: impl Fn(&mut Vec<Value>) -> bool + Send,
    ) -> PortResult<()> {
        let mut spec = self.spec().await?;
        let Some(object) = spec.as_object_mut() else {
            return Err(PortError::internal(
                "digitalocean returned a spec that is not an object",
            ));
        };
        let domains = object
            .entry("domains")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(list) = domains.as_array_mut() else {
            return Err(PortError::internal(
                "the app spec's domains is not an array",
            ));
        };
        if !change(list) {
            return Ok(());
        }
        let reply = self.put_spec(spec).await?;
        if (200..300).contains(&reply.status) {
            return Ok(());
        }
        if matches!(reply.status, 400 | 409 | 422) {
            // A concurrent change may have done our work: then it is done.
            let now = self.list_domains().await?;
            if now.iter().any(|d| same(d, domain)) == present {
                return Ok(());
            }
        }
        reply.ok().map(drop)
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn entry_domain(entry: &Value) -> Option<&str> {
    entry["domain"].as_str()
}

#[async_trait]
impl PaasProvider for DigitalOceanApps {
    async fn list_domains(&self) -> PortResult<Vec<String>> {
        let spec = self.spec().await?;
        let mut domains: Vec<String> = spec["domains"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(entry_domain)
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        domains.sort();
        domains.dedup();
        Ok(domains)
    }

    async fn add_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        self.change(domain, true, |list| {
            if list
                .iter()
                .filter_map(entry_domain)
                .any(|d| same(d, domain))
            {
                return false;
            }
            list.push(Self::domain_entry(domain));
            true
        })
        .await
    }

    async fn remove_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        self.change(domain, false, |list| {
            let before = list.len();
            list.retain(|entry| !entry_domain(entry).is_some_and(|d| same(d, domain)));
            list.len() != before
        })
        .await
    }
}
