//! `DnsProvider` on DigitalOcean's Domain Records API, with ownership kept in companion TXT
//! records (see the crate docs).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use http::Method;
use moclojer_ports::{
    DnsProvider, DnsRecord, HttpClient, PortError, PortResult, RecordKind, StoredRecord,
    check_domain_name,
};
use serde_json::{Value, json};

use crate::client::{Api, encode};
use crate::config::DigitalOceanConfig;

/// The first label of every ownership marker's name.
pub const MARKER_LABEL: &str = "_moclojer";
/// What stands for a leading `*` in a marker's name (`*` may only be a first label).
pub const WILDCARD_LABEL: &str = "_wildcard";
/// The owner tag used unless [`DigitalOceanDns::with_owner`] names another.
pub const DEFAULT_OWNER: &str = "moclojer";
/// The lowest TTL DigitalOcean accepts; lower ones are raised to it.
pub const MIN_TTL: u32 = 30;
/// The page size asked for (DigitalOcean's largest).
const PER_PAGE: u32 = 200;
/// A bound on pages followed, against a server that never ends a listing.
const MAX_PAGES: u32 = 10_000;

/// A record as DigitalOcean returns it.
#[derive(Debug, Clone)]
struct DoRecord {
    id: u64,
    kind: String,
    /// Relative to the domain, `@` for the apex.
    name: String,
    data: String,
    ttl: u32,
}

impl DoRecord {
    fn parse(value: &Value) -> PortResult<Self> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        match (
            value["id"].as_u64(),
            text("type"),
            text("name"),
            text("data"),
        ) {
            (Some(id), Some(kind), Some(name), Some(data)) => Ok(Self {
                id,
                kind,
                name: name.to_ascii_lowercase(),
                data,
                ttl: value["ttl"]
                    .as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .unwrap_or(1800),
            }),
            _ => Err(PortError::internal(
                "digitalocean returned a domain record without id, type, name or data",
            )),
        }
    }
}

fn kind_of(name: &str) -> Option<RecordKind> {
    match name {
        "A" => Some(RecordKind::A),
        "AAAA" => Some(RecordKind::Aaaa),
        "CNAME" => Some(RecordKind::Cname),
        "TXT" => Some(RecordKind::Txt),
        _ => None,
    }
}

/// A DigitalOcean DNS domain (zone) as a `DnsProvider`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DigitalOceanDns {
    api: Api,
    zone: String,
    owner: String,
}

impl DigitalOceanDns {
    /// The domain `zone` (as DigitalOcean names it, e.g. `moclojer.com`) reached through
    /// `http`, with the owner tag [`DEFAULT_OWNER`].
    ///
    /// # Errors
    /// `Invalid` for a bad zone name, base URL or an empty token.
    pub fn new(
        http: Arc<dyn HttpClient>,
        config: &DigitalOceanConfig,
        zone: &str,
    ) -> PortResult<Self> {
        check_domain_name(zone)?;
        if zone.starts_with("*.") {
            return Err(PortError::invalid("a zone is not a wildcard"));
        }
        Ok(Self {
            api: Api::new(http, config)?,
            zone: zone.to_owned(),
            owner: DEFAULT_OWNER.to_owned(),
        })
    }

    /// The same zone, claiming records under owner tag `owner` (`[a-z0-9-]`, 1–63 bytes):
    /// instances with different tags never touch each other's records.
    ///
    /// # Errors
    /// `Invalid` for a bad tag.
    pub fn with_owner(mut self, owner: &str) -> PortResult<Self> {
        let fine = !owner.is_empty()
            && owner.len() <= 63
            && owner
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !fine {
            return Err(PortError::invalid(format!(
                "{owner:?} is not an owner tag ([a-z0-9-], 1 to 63 bytes)"
            )));
        }
        self.owner = owner.to_owned();
        Ok(self)
    }

    /// The zone.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The name of the TXT record that marks records named `fqdn` as ours:
    /// `_moclojer.<fqdn>`, a leading `*` written `_wildcard`.
    pub fn marker_name(fqdn: &str) -> String {
        match fqdn.strip_prefix("*.") {
            Some(rest) => format!("{MARKER_LABEL}.{WILDCARD_LABEL}.{rest}"),
            None => format!("{MARKER_LABEL}.{fqdn}"),
        }
    }

    /// The content of the TXT marker that claims the records of type `kind` at a name for
    /// this owner: `heritage=moclojer,owner=<tag>,type=<TYPE>`.
    pub fn marker_content(&self, kind: RecordKind) -> String {
        format!(
            "heritage=moclojer,owner={},type={}",
            self.owner,
            kind.as_str()
        )
    }

    fn relative(&self, fqdn: &str) -> PortResult<String> {
        if fqdn == self.zone {
            return Ok("@".to_owned());
        }
        fqdn.strip_suffix(&self.zone)
            .and_then(|head| head.strip_suffix('.'))
            .filter(|head| !head.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| PortError::invalid(format!("{fqdn} is not in zone {}", self.zone)))
    }

    fn fqdn(&self, relative: &str) -> String {
        let relative = relative.trim_end_matches('.');
        if relative == "@" || relative.is_empty() {
            self.zone.clone()
        } else if relative == self.zone || relative.ends_with(&format!(".{}", self.zone)) {
            relative.to_owned()
        } else {
            format!("{relative}.{}", self.zone)
        }
    }

    /// Whether `record` is a marker (ours or another owner's): bookkeeping, never listed.
    fn is_marker(record: &DoRecord) -> bool {
        record.kind == "TXT"
            && (record.name == MARKER_LABEL || record.name.starts_with("_moclojer."))
            && record.data.starts_with("heritage=moclojer,")
    }

    /// Whether `record` is one of the apex NS or SOA records DigitalOcean keeps for the
    /// zone itself: they belong to no one, and do not make the apex someone else's.
    fn is_zone_infrastructure(record: &DoRecord) -> bool {
        record.name == "@" && matches!(record.kind.as_str(), "NS" | "SOA")
    }

    /// The record types this owner claims at the name a marker stands for, as
    /// `(fqdn, type)`, when `record` is one of this owner's markers.
    fn claim(&self, record: &DoRecord) -> Option<(String, String)> {
        if !Self::is_marker(record) {
            return None;
        }
        let rest = record
            .data
            .strip_prefix(&format!("heritage=moclojer,owner={},type=", self.owner))?;
        let marker = self.fqdn(&record.name);
        let target = marker.strip_prefix("_moclojer.")?;
        let target = match target.strip_prefix("_wildcard.") {
            Some(rest) => format!("*.{rest}"),
            None => target.to_owned(),
        };
        Some((target, rest.to_owned()))
    }

    /// The content as we compare and report it: host names without their final dot, `@`
    /// as the zone.
    fn content(&self, record: &DoRecord) -> String {
        if matches!(record.kind.as_str(), "CNAME" | "MX" | "NS") {
            if record.data == "@" {
                return self.zone.clone();
            }
            return record.data.trim_end_matches('.').to_ascii_lowercase();
        }
        record.data.clone()
    }

    /// The data as DigitalOcean wants it written.
    fn data(kind: RecordKind, content: &str) -> String {
        match kind {
            RecordKind::Cname => format!("{}.", content.trim_end_matches('.')),
            _ => content.to_owned(),
        }
    }

    /// Every record of the domain, or those named `name` (fully qualified) and of `kind`,
    /// following `links.pages.next` to the last page.
    async fn fetch(&self, name: Option<&str>, kind: Option<&str>) -> PortResult<Vec<DoRecord>> {
        let mut filters = String::new();
        if let Some(name) = name {
            filters.push_str(&format!("&name={}", encode(name)));
        }
        if let Some(kind) = kind {
            filters.push_str(&format!("&type={}", encode(kind)));
        }
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let path = format!(
                "/domains/{}/records?page={page}&per_page={PER_PAGE}{filters}",
                self.zone
            );
            let body = self.api.call(Method::GET, &path, None).await?.ok()?;
            let records = body["domain_records"].as_array().ok_or_else(|| {
                PortError::internal("digitalocean listed records without domain_records")
            })?;
            for record in records {
                all.push(DoRecord::parse(record)?);
            }
            // The next page's number is taken from the link; the URL itself is never
            // followed, so the token only ever goes to the configured base URL.
            let next = body["links"]["pages"]["next"].as_str().and_then(page_of);
            match next {
                Some(next) if next > page && next <= MAX_PAGES => page = next,
                Some(_) => {
                    return Err(PortError::internal(
                        "digitalocean's next page does not move forward",
                    ));
                }
                None => break,
            }
        }
        Ok(all)
    }

    /// This owner's markers for `fqdn`, and the types they claim.
    async fn markers(&self, fqdn: &str) -> PortResult<Vec<(DoRecord, String)>> {
        let found = self
            .fetch(Some(&Self::marker_name(fqdn)), Some("TXT"))
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|r| {
                let (target, kind) = self.claim(&r)?;
                (target == fqdn).then_some((r, kind))
            })
            .collect())
    }

    fn stored(&self, record: &DoRecord, ours: bool) -> Option<StoredRecord> {
        Some(StoredRecord {
            id: record.id.to_string(),
            record: DnsRecord {
                name: self.fqdn(&record.name),
                kind: kind_of(&record.kind)?,
                content: self.content(record),
                proxied: false,
                ttl: record.ttl,
            },
            ours,
        })
    }

    async fn delete_id(&self, id: u64) -> PortResult<()> {
        let path = format!("/domains/{}/records/{id}", self.zone);
        let reply = self.api.call(Method::DELETE, &path, None).await?;
        if reply.status == 404 {
            return Ok(());
        }
        reply.ok().map(drop)
    }

    async fn create(&self, body: &Value) -> PortResult<crate::client::Reply> {
        let path = format!("/domains/{}/records", self.zone);
        self.api.call(Method::POST, &path, Some(body)).await
    }
}

#[async_trait]
impl DnsProvider for DigitalOceanDns {
    async fn list_records(&self) -> PortResult<Vec<StoredRecord>> {
        let all = self.fetch(None, None).await?;
        let claims: BTreeSet<(String, String)> = all.iter().filter_map(|r| self.claim(r)).collect();
        let mut listed: Vec<StoredRecord> = all
            .iter()
            .filter(|r| !Self::is_marker(r))
            .filter_map(|r| {
                let fqdn = self.fqdn(&r.name);
                let ours = claims.contains(&(fqdn, r.kind.clone()));
                self.stored(r, ours)
            })
            .collect();
        listed.sort_by(|a, b| {
            (&a.record.name, a.record.kind.as_str(), &a.id).cmp(&(
                &b.record.name,
                b.record.kind.as_str(),
                &b.id,
            ))
        });
        Ok(listed)
    }

    async fn ensure_record(&self, record: &DnsRecord) -> PortResult<StoredRecord> {
        check_domain_name(&record.name)?;
        let relative = self.relative(&record.name)?;
        let kind = record.kind.as_str();
        let ttl = record.ttl.max(MIN_TTL);
        let wanted = DnsRecord {
            ttl,
            ..record.clone()
        };
        let answer = |id: u64| StoredRecord {
            id: id.to_string(),
            record: wanted.clone(),
            ours: true,
        };
        let markers = self.markers(&record.name).await?;
        let claimed = |k: &str| markers.iter().any(|(_, c)| c == k);
        let same_name: Vec<DoRecord> = self
            .fetch(Some(&record.name), None)
            .await?
            .into_iter()
            .filter(|r| !Self::is_marker(r) && !Self::is_zone_infrastructure(r))
            .collect();
        if let Some(foreign) = same_name.iter().find(|r| !claimed(&r.kind)) {
            return Err(PortError::conflict(format!(
                "{} has a {} record that is not ours",
                record.name, foreign.kind
            )));
        }
        let body = json!({
            "type": kind,
            "name": relative,
            "data": Self::data(record.kind, &record.content),
            "ttl": ttl,
        });
        let wanted_content = Self::data(record.kind, &record.content);
        let same = |r: &DoRecord| {
            let probe = DoRecord {
                data: wanted_content.clone(),
                ..r.clone()
            };
            self.content(r) == self.content(&probe) && r.ttl == ttl
        };
        if let Some(existing) = same_name.iter().find(|r| r.kind == kind) {
            if same(existing) {
                return Ok(answer(existing.id));
            }
            let path = format!("/domains/{}/records/{}", self.zone, existing.id);
            self.api.call(Method::PUT, &path, Some(&body)).await?.ok()?;
            return Ok(answer(existing.id));
        }

        // Claim first, then create: a crash in between leaves a marker without a record,
        // which the next ensure uses, rather than a record nobody may manage.
        let mut new_marker = None;
        if !claimed(kind) {
            let marker = json!({
                "type": "TXT",
                "name": self.relative(&Self::marker_name(&record.name))?,
                "data": self.marker_content(record.kind),
                "ttl": 3600,
            });
            let reply = self.create(&marker).await?;
            let created = reply.ok()?;
            new_marker = DoRecord::parse(&created["domain_record"])
                .ok()
                .map(|r| r.id);
        }
        let reply = self.create(&body).await?;
        if (200..300).contains(&reply.status) {
            let created = DoRecord::parse(&reply.body["domain_record"])?;
            return Ok(answer(created.id));
        }
        if reply.status == 422 {
            // Someone (perhaps another instance of ours) created it meanwhile: fine if
            // it is now ours and as asked.
            let again = self.fetch(Some(&record.name), Some(kind)).await?;
            if let Some(existing) = again.iter().find(|r| same(r)) {
                return Ok(answer(existing.id));
            }
        }
        if let Some(id) = new_marker {
            // Leave no claim behind on a name we did not take.
            if let Err(e) = self.delete_id(id).await {
                tracing::warn!(name = %record.name, error = %e, "could not remove an unused ownership marker");
            }
        }
        let error = reply.ok().err().unwrap_or_else(|| {
            PortError::internal("digitalocean refused the record without an error")
        });
        Err(error)
    }

    async fn delete_record(&self, id: &str) -> PortResult<()> {
        // DigitalOcean's ids are integers: anything else names no record.
        let Ok(id) = id.parse::<u64>() else {
            return Ok(());
        };
        let path = format!("/domains/{}/records/{id}", self.zone);
        let reply = self.api.call(Method::GET, &path, None).await?;
        if reply.status == 404 {
            return Ok(());
        }
        let record = DoRecord::parse(&reply.ok()?["domain_record"])?;
        if Self::is_marker(&record) {
            return Err(PortError::conflict(format!(
                "record {id} is an ownership marker, not a record we manage"
            )));
        }
        let fqdn = self.fqdn(&record.name);
        let markers = self.markers(&fqdn).await?;
        if !markers.iter().any(|(_, kind)| *kind == record.kind) {
            return Err(PortError::conflict(format!("record {id} is not ours")));
        }
        self.delete_id(id).await?;
        let left = self.fetch(Some(&fqdn), Some(&record.kind)).await?;
        if left.is_empty() {
            for (marker, _) in markers.iter().filter(|(_, kind)| *kind == record.kind) {
                self.delete_id(marker.id).await?;
            }
        }
        Ok(())
    }
}

/// The `page` parameter of a page link.
fn page_of(link: &str) -> Option<u32> {
    let url = url::Url::parse(link).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_names() {
        assert_eq!(
            DigitalOceanDns::marker_name("a-b.moclojer.com"),
            "_moclojer.a-b.moclojer.com"
        );
        assert_eq!(
            DigitalOceanDns::marker_name("*.x.moclojer.com"),
            "_moclojer._wildcard.x.moclojer.com"
        );
        assert_eq!(
            DigitalOceanDns::marker_name("moclojer.com"),
            "_moclojer.moclojer.com"
        );
    }

    #[test]
    fn page_links() {
        assert_eq!(
            page_of("https://api.digitalocean.com/v2/domains/x/records?page=3&per_page=200"),
            Some(3)
        );
        assert_eq!(page_of("https://api.digitalocean.com/v2/x"), None);
    }
}
