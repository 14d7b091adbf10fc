//! DNS records and PaaS domains in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use moclojer_ports::{
    DnsProvider, DnsRecord, PaasProvider, PortError, PortResult, StoredRecord, check_domain_name,
};

use crate::lock;

#[derive(Debug, Default)]
struct Zone {
    records: BTreeMap<u64, StoredRecord>,
    next_id: u64,
}

/// A DNS zone in memory. Cloning shares the zone.
#[derive(Debug, Clone, Default)]
pub struct InMemoryDns {
    zone: Arc<Mutex<Zone>>,
}

impl InMemoryDns {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record that is *not* ours, as a person or another tool would; we must never
    /// change or remove it. Returns its id.
    pub fn insert_foreign(&self, record: DnsRecord) -> String {
        let mut zone = lock(&self.zone);
        zone.insert(record, false).id
    }
}

impl Zone {
    fn insert(&mut self, record: DnsRecord, ours: bool) -> StoredRecord {
        self.next_id += 1;
        let stored = StoredRecord {
            id: format!("rec-{}", self.next_id),
            record,
            ours,
        };
        self.records.insert(self.next_id, stored.clone());
        stored
    }
}

fn parse_id(id: &str) -> Option<u64> {
    id.strip_prefix("rec-")?.parse().ok()
}

#[async_trait]
impl DnsProvider for InMemoryDns {
    async fn list_records(&self) -> PortResult<Vec<StoredRecord>> {
        let zone = lock(&self.zone);
        let mut all: Vec<StoredRecord> = zone.records.values().cloned().collect();
        all.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        Ok(all)
    }

    async fn ensure_record(&self, record: &DnsRecord) -> PortResult<StoredRecord> {
        check_domain_name(&record.name)?;
        let mut zone = lock(&self.zone);
        let same_name = zone
            .records
            .iter_mut()
            .filter(|(_, r)| r.record.name == record.name);
        let mut ours = None;
        for (_, stored) in same_name {
            if !stored.ours {
                return Err(PortError::conflict(format!(
                    "{} has a record that is not ours",
                    record.name
                )));
            }
            if stored.record.kind == record.kind {
                stored.record = record.clone();
                ours = Some(stored.clone());
            }
        }
        Ok(match ours {
            Some(updated) => updated,
            None => zone.insert(record.clone(), true),
        })
    }

    async fn delete_record(&self, id: &str) -> PortResult<()> {
        let mut zone = lock(&self.zone);
        let Some(key) = parse_id(id) else {
            return Ok(());
        };
        match zone.records.get(&key) {
            None => Ok(()),
            Some(stored) if !stored.ours => {
                Err(PortError::conflict(format!("record {id} is not ours")))
            }
            Some(_) => {
                zone.records.remove(&key);
                Ok(())
            }
        }
    }
}

/// A PaaS app's domain list in memory. Cloning shares the list.
#[derive(Debug, Clone, Default)]
pub struct InMemoryPaas {
    domains: Arc<Mutex<BTreeSet<String>>>,
}

impl InMemoryPaas {
    /// An app with no domains.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PaasProvider for InMemoryPaas {
    async fn list_domains(&self) -> PortResult<Vec<String>> {
        Ok(lock(&self.domains).iter().cloned().collect())
    }

    async fn add_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        lock(&self.domains).insert(domain.to_owned());
        Ok(())
    }

    async fn remove_domain(&self, domain: &str) -> PortResult<()> {
        check_domain_name(domain)?;
        lock(&self.domains).remove(domain);
        Ok(())
    }
}
