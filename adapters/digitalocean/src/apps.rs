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
        self.change(domain, true, |list| {
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
        self.change(domain, false, |list| {
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
