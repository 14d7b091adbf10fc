//! `DnsProvider` on the zone's DNS records.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::Method;
use moclojer_ports::{
    DnsProvider, DnsRecord, HttpClient, PortError, PortResult, RecordKind, StoredRecord,
    check_domain_name,
};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ALREADY_EXISTS_CODES, Api};
use crate::config::CloudflareConfig;

/// The most pages one listing reads before it gives up (a safety net against an API that
/// never says it is done: 1000 pages of 5000 records is far beyond any zone we manage).
const MAX_PAGES: u32 = 1000;

/// A zone's DNS records at Cloudflare. A record is ours when its `comment` is exactly the
/// configured tag; records that are not ours are listed, never changed or removed.
///
/// Only A, AAAA, CNAME and TXT records are listed (the kinds the port knows); the zone's
/// other records are left out. Cloudflare keeps the TTL of a proxied record automatic: such
/// a record is sent with TTL 1 ("automatic"), [`ensure_record`](DnsProvider::ensure_record)
/// reports the TTL it was asked for, and [`list_records`](DnsProvider::list_records)
/// reports 1.
pub struct CloudflareDns {
    api: Api,
}

impl fmt::Debug for CloudflareDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareDns")
            .field("api", &self.api)
            .finish()
    }
}

/// A record as the API returns it (the fields we read).
#[derive(Debug, Clone, Deserialize)]
struct ApiRecord {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    proxied: bool,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    comment: Option<String>,
}

fn parse_kind(kind: &str) -> Option<RecordKind> {
    match kind {
        "A" => Some(RecordKind::A),
        "AAAA" => Some(RecordKind::Aaaa),
        "CNAME" => Some(RecordKind::Cname),
        "TXT" => Some(RecordKind::Txt),
        _ => None,
    }
}

impl CloudflareDns {
    /// A provider for the zone `config` names, calling out through `http` (the egress
    /// guard in the apps).
    ///
    /// # Errors
    /// `Invalid` when the configuration does not pass [`CloudflareConfig::check`].
    pub fn new(config: CloudflareConfig, http: Arc<dyn HttpClient>) -> PortResult<Self> {
        config.check()?;
        Ok(Self {
            api: Api::new(config, http),
        })
    }

    fn is_ours(&self, record: &ApiRecord) -> bool {
        record.comment.as_deref() == Some(self.api.config.tag.as_str())
    }

    fn stored(&self, record: &ApiRecord) -> Option<StoredRecord> {
        Some(StoredRecord {
            id: record.id.clone(),
            record: DnsRecord {
                name: record.name.clone(),
                kind: parse_kind(&record.kind)?,
                content: record.content.clone(),
                proxied: record.proxied,
                ttl: record.ttl,
            },
            ours: self.is_ours(record),
        })
    }

    /// `stored` as the caller asked for it: a proxied record's TTL is Cloudflare's
    /// business, so the TTL asked for stands.
    fn as_asked(&self, record: &ApiRecord, asked: &DnsRecord) -> PortResult<StoredRecord> {
        let mut stored = self.stored(record).ok_or_else(|| {
            PortError::internal(format!(
                "cloudflare answered a record of type {:?} for a {} record",
                record.kind,
                asked.kind.as_str()
            ))
        })?;
        if asked.proxied && stored.record.proxied {
            stored.record.ttl = asked.ttl;
        }
        Ok(stored)
    }

    /// Every record matching `filter` (`&name=...`), reading all pages.
    async fn list_all(&self, filter: &str) -> PortResult<Vec<ApiRecord>> {
        let per_page = self.api.config.page_size;
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let url = self
                .api
                .records_url(&format!("?page={page}&per_page={per_page}{filter}"));
            let envelope = self
                .api
                .call(Method::GET, url, None)
                .await
                .map_err(|f| f.into_port_error("list dns records"))?;
            let records: Vec<ApiRecord> = serde_json::from_value(envelope.result)
                .map_err(|e| PortError::internal(format!("cloudflare record list: {e}")))?;
            let received = records.len();
            all.extend(records);
            let more = match envelope.result_info.and_then(|i| i.total_pages) {
                Some(total) => page < total,
                None => u32::try_from(received).unwrap_or(u32::MAX) >= per_page,
            };
            if !more || received == 0 {
                return Ok(all);
            }
            if page >= MAX_PAGES {
                return Err(PortError::internal(format!(
                    "cloudflare listed more than {MAX_PAGES} pages of dns records"
                )));
            }
            page += 1;
        }
    }

    /// The zone's records named `name`.
    async fn named(&self, name: &str) -> PortResult<Vec<ApiRecord>> {
        let all = self.list_all(&format!("&name={name}")).await?;
        Ok(all.into_iter().filter(|r| r.name == name).collect())
    }

    fn body(&self, record: &DnsRecord) -> serde_json::Value {
        json!({
            "type": record.kind.as_str(),
            "name": record.name,
            "content": record.content,
            "proxied": record.proxied,
            "ttl": if record.proxied { 1 } else { record.ttl },
            "comment": self.api.config.tag,
        })
    }

    fn parse_record(value: serde_json::Value) -> PortResult<ApiRecord> {
        serde_json::from_value(value)
            .map_err(|e| PortError::internal(format!("cloudflare record: {e}")))
    }

    async fn create(&self, record: &DnsRecord) -> PortResult<StoredRecord> {
        let body = self.body(record);
        match self
            .api
            .call(Method::POST, self.api.records_url(""), Some(&body))
            .await
        {
            Ok(envelope) => {
                let made = Self::parse_record(envelope.result)?;
                if made.name != record.name {
                    // Cloudflare puts a name outside the zone inside it (`a.other.net`
                    // becomes `a.other.net.<zone>`): not what was asked, so undo it.
                    self.remove(&made.id).await?;
                    return Err(PortError::invalid(format!(
                        "{} is not in the zone (cloudflare would make it {})",
                        record.name, made.name
                    )));
                }
                self.as_asked(&made, record)
            }
            Err(failure) if failure.has_code(ALREADY_EXISTS_CODES) => {
                // Made meanwhile (a retried POST, or a racing writer): read it back.
                let existing = self.named(&record.name).await?;
                existing
                    .iter()
                    .find(|r| self.is_ours(r) && r.kind == record.kind.as_str())
                    .map(|r| self.as_asked(r, record))
                    .unwrap_or_else(|| {
                        Err(PortError::conflict(format!(
                            "{} has an identical record that is not ours",
                            record.name
                        )))
                    })
            }
            Err(failure) => Err(failure.into_port_error("create a dns record")),
        }
    }

    async fn update(&self, id: &str, record: &DnsRecord) -> PortResult<StoredRecord> {
        let body = self.body(record);
        let envelope = self
            .api
            .call(
                Method::PATCH,
                self.api.records_url(&format!("/{id}")),
                Some(&body),
            )
            .await
            .map_err(|f| f.into_port_error("update a dns record"))?;
        self.as_asked(&Self::parse_record(envelope.result)?, record)
    }

    async fn remove(&self, id: &str) -> PortResult<()> {
        match self
            .api
            .call(
                Method::DELETE,
                self.api.records_url(&format!("/{id}")),
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if failure.is_not_found() => Ok(()),
            Err(failure) => Err(failure.into_port_error("delete a dns record")),
        }
    }
}

/// Whether `existing` already is `wanted` (a proxied record's TTL is not compared).
fn same(existing: &ApiRecord, wanted: &DnsRecord) -> bool {
    existing.content == wanted.content
        && existing.proxied == wanted.proxied
        && (wanted.proxied || existing.ttl == wanted.ttl)
}

/// An id Cloudflare could have made: letters and digits. Anything else is absent, and is
/// never put in a URL.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[async_trait]
impl DnsProvider for CloudflareDns {
    async fn list_records(&self) -> PortResult<Vec<StoredRecord>> {
        let mut all: Vec<StoredRecord> = self
            .list_all("")
            .await?
            .iter()
            .filter_map(|r| self.stored(r))
            .collect();
        all.sort_by(|a, b| {
            (
                a.record.name.as_str(),
                a.record.kind.as_str(),
                a.id.as_str(),
            )
                .cmp(&(
                    b.record.name.as_str(),
                    b.record.kind.as_str(),
                    b.id.as_str(),
                ))
        });
        Ok(all)
    }

    async fn ensure_record(&self, record: &DnsRecord) -> PortResult<StoredRecord> {
        check_domain_name(&record.name)?;
        let existing = self.named(&record.name).await?;
        if existing.iter().any(|r| !self.is_ours(r)) {
            return Err(PortError::conflict(format!(
                "{} has a record that is not ours",
                record.name
            )));
        }
        let mut same_kind = existing.iter().filter(|r| r.kind == record.kind.as_str());
        let Some(first) = same_kind.next() else {
            return self.create(record).await;
        };
        // Duplicates of ours (left by a crash between create and read-back): one stays.
        for extra in same_kind {
            self.remove(&extra.id).await?;
        }
        if same(first, record) {
            self.as_asked(first, record)
        } else {
            tracing::info!(name = %record.name, kind = record.kind.as_str(), "updating a dns record");
            self.update(&first.id, record).await
        }
    }

    async fn delete_record(&self, id: &str) -> PortResult<()> {
        if !plausible_id(id) {
            return Ok(());
        }
        let envelope = match self
            .api
            .call(Method::GET, self.api.records_url(&format!("/{id}")), None)
            .await
        {
            Ok(envelope) => envelope,
            Err(failure) if failure.is_not_found() => return Ok(()),
            Err(failure) => return Err(failure.into_port_error("read a dns record")),
        };
        let found = Self::parse_record(envelope.result)?;
        if !self.is_ours(&found) {
            return Err(PortError::conflict(format!(
                "dns record {id} ({}) is not ours",
                found.name
            )));
        }
        tracing::info!(name = %found.name, kind = %found.kind, "deleting a dns record");
        self.remove(id).await
    }
}
