//! [`InMemoryMockState`]: the `MockState` port in one process's memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use moclojer_ports::{
    MockState, PortResult, RecordPage, ResourceRef, SCENARIO_START, StateLimits, StateOutcome,
    StateScope, StateSnapshot, record_bytes, record_id,
};
use serde_json::{Map, Value};

use crate::lock;

/// A record of a resource.
type Record = Map<String, Value>;

/// What stateful mocks remember, for one process: every host's state behind one lock, so
/// each call sees and leaves a whole state. Hosts are kept until [`MockState::reset`];
/// each is bounded by the [`StateLimits`] it was made with.
#[derive(Debug, Default)]
pub struct InMemoryMockState {
    limits: StateLimits,
    hosts: Mutex<HashMap<String, HostState>>,
}

impl InMemoryMockState {
    /// An empty state bounding each host by `limits`.
    pub fn new(limits: StateLimits) -> Self {
        Self {
            limits,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The bounds on each host's state.
    pub fn limits(&self) -> StateLimits {
        self.limits
    }

    /// Runs `work` on the state of `scope`'s host, made afresh first when there is none or
    /// it was made under an older revision.
    fn with_host<T>(&self, scope: StateScope<'_>, work: impl FnOnce(&mut HostState) -> T) -> T {
        let mut hosts = lock(&self.hosts);
        let host = hosts
            .entry(scope.host.to_owned())
            .or_insert_with(|| HostState::new(scope.revision));
        if scope.revision > host.revision {
            *host = HostState::new(scope.revision);
        }
        work(host)
    }

    /// Runs `work` on `resource` of `scope`'s host (seeded on its first use), with the
    /// host's totals.
    fn with_resource<T>(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        work: impl FnOnce(&mut Resource, &mut Totals) -> T,
    ) -> T {
        self.with_host(scope, |host| {
            let HostState {
                resources, totals, ..
            } = host;
            let records = resources
                .entry(resource.name.to_owned())
                .or_insert_with(|| Resource::seeded(resource, totals));
            work(records, totals)
        })
    }
}

/// One host's state.
#[derive(Debug)]
struct HostState {
    revision: u64,
    sequences: BTreeMap<String, u64>,
    scenarios: BTreeMap<String, String>,
    resources: HashMap<String, Resource>,
    totals: Totals,
}

impl HostState {
    fn new(revision: u64) -> Self {
        Self {
            revision,
            sequences: BTreeMap::new(),
            scenarios: BTreeMap::new(),
            resources: HashMap::new(),
            totals: Totals::default(),
        }
    }
}

/// What a host's records count against its limits.
#[derive(Debug, Default)]
struct Totals {
    records: u64,
    bytes: u64,
}

impl Totals {
    /// Why `more_records` records and `more_bytes` bytes more would pass `limits`; `None`
    /// when they fit (or add nothing).
    fn refuses(&self, more_records: u64, more_bytes: u64, limits: StateLimits) -> Option<String> {
        if more_records > 0 && self.records.saturating_add(more_records) > limits.max_records {
            return Some(format!(
                "max_records: a host holds at most {} records",
                limits.max_records
            ));
        }
        if more_bytes > 0 && self.bytes.saturating_add(more_bytes) > limits.max_bytes {
            return Some(format!(
                "max_bytes: a host's records take at most {} bytes",
                limits.max_bytes
            ));
        }
        None
    }
}

/// One resource's records.
#[derive(Debug, Default)]
struct Resource {
    /// Creation number → id: the records in the order they were created.
    order: BTreeMap<u64, String>,
    records: HashMap<String, Stored>,
    /// The last creation number given.
    created: u64,
    /// The highest whole-number id the resource has held.
    highest: u64,
}

/// A record and what the resource knows of it.
#[derive(Debug)]
struct Stored {
    created: u64,
    bytes: u64,
    record: Record,
}

/// `id` as a whole number: decimal digits that fit a `u64`.
fn whole_number(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// `record` without its `id_field`, in order.
fn without(record: Record, id_field: &str) -> impl Iterator<Item = (String, Value)> {
    record.into_iter().filter(move |(key, _)| key != id_field)
}

impl Resource {
    /// `resource`'s seed, its records counted in `totals` (past the limits if they must).
    fn seeded(resource: ResourceRef<'_>, totals: &mut Totals) -> Self {
        let mut seeded = Self::default();
        for record in resource.seed {
            // A seed record whose id is taken is left out.
            seeded.insert(resource.id_field, record.clone(), totals, None);
        }
        seeded
    }

    /// Adds `record` (numbered when it has no id), checked against `limits` when given.
    fn insert(
        &mut self,
        id_field: &str,
        record: Record,
        totals: &mut Totals,
        limits: Option<StateLimits>,
    ) -> StateOutcome<Record> {
        let (id, record) = match record.get(id_field).and_then(record_id) {
            Some(id) => (id, record),
            None => {
                let Some(next) = self.highest.checked_add(1) else {
                    return StateOutcome::Exists;
                };
                let mut numbered = Record::new();
                numbered.insert(id_field.to_owned(), Value::from(next));
                numbered.extend(without(record, id_field));
                (next.to_string(), numbered)
            }
        };
        if self.records.contains_key(&id) {
            return StateOutcome::Exists;
        }
        let bytes = record_bytes(&record);
        if let Some(why) = limits.and_then(|limits| totals.refuses(1, bytes, limits)) {
            return StateOutcome::Full(why);
        }
        if let Some(number) = whole_number(&id) {
            self.highest = self.highest.max(number);
        }
        self.created += 1;
        self.order.insert(self.created, id.clone());
        let stored = Stored {
            created: self.created,
            bytes,
            record: record.clone(),
        };
        self.records.insert(id, stored);
        totals.records += 1;
        totals.bytes += bytes;
        StateOutcome::Done(record)
    }

    /// Replaces or merges record `id`, checked against `limits`.
    fn update(
        &mut self,
        id_field: &str,
        id: &str,
        record: Record,
        merge: bool,
        totals: &mut Totals,
        limits: StateLimits,
    ) -> StateOutcome<Record> {
        let Some(stored) = self.records.get_mut(id) else {
            return StateOutcome::Missing;
        };
        let changed = if merge {
            let mut merged = stored.record.clone();
            merged.extend(without(record, id_field));
            merged
        } else {
            let kept = stored
                .record
                .get(id_field)
                .cloned()
                .unwrap_or_else(|| Value::from(id));
            let mut replaced = Record::new();
            replaced.insert(id_field.to_owned(), kept);
            replaced.extend(without(record, id_field));
            replaced
        };
        let bytes = record_bytes(&changed);
        let growth = bytes.saturating_sub(stored.bytes);
        if let Some(why) = totals.refuses(0, growth, limits) {
            return StateOutcome::Full(why);
        }
        totals.bytes = totals.bytes - stored.bytes + bytes;
        stored.bytes = bytes;
        stored.record = changed.clone();
        StateOutcome::Done(changed)
    }

    /// Deletes record `id`; whether it existed.
    fn delete(&mut self, id: &str, totals: &mut Totals) -> bool {
        let Some(stored) = self.records.remove(id) else {
            return false;
        };
        self.order.remove(&stored.created);
        totals.records -= 1;
        totals.bytes -= stored.bytes;
        true
    }

    /// Records `offset..offset + limit`, in creation order, and the total.
    fn page(&self, offset: u64, limit: u64) -> RecordPage {
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        let records = self
            .order
            .values()
            .skip(skip)
            .take(take)
            .filter_map(|id| self.records.get(id))
            .map(|stored| stored.record.clone())
            .collect();
        RecordPage {
            records,
            total: self.records.len() as u64,
        }
    }
}

#[async_trait]
impl MockState for InMemoryMockState {
    async fn next_position(&self, scope: StateScope<'_>, name: &str) -> PortResult<u64> {
        Ok(self.with_host(scope, |host| {
            let taken = host.sequences.entry(name.to_owned()).or_insert(0);
            *taken += 1;
            *taken - 1
        }))
    }

    async fn scenarios(&self, scope: StateScope<'_>) -> PortResult<BTreeMap<String, String>> {
        Ok(self.with_host(scope, |host| host.scenarios.clone()))
    }

    async fn transition(
        &self,
        scope: StateScope<'_>,
        name: &str,
        from: &str,
        to: &str,
    ) -> PortResult<bool> {
        Ok(self.with_host(scope, |host| {
            let now = host
                .scenarios
                .get(name)
                .map_or(SCENARIO_START, String::as_str);
            if now != from {
                return false;
            }
            if from != to {
                if to == SCENARIO_START {
                    host.scenarios.remove(name);
                } else {
                    host.scenarios.insert(name.to_owned(), to.to_owned());
                }
            }
            true
        }))
    }

    async fn list(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        offset: u64,
        limit: u64,
    ) -> PortResult<RecordPage> {
        Ok(self.with_resource(scope, resource, |records, _| records.page(offset, limit)))
    }

    async fn get(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<Option<Record>> {
        Ok(self.with_resource(scope, resource, |records, _| {
            records.records.get(id).map(|stored| stored.record.clone())
        }))
    }

    async fn create(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        record: Record,
    ) -> PortResult<StateOutcome<Record>> {
        let limits = self.limits;
        Ok(self.with_resource(scope, resource, |records, totals| {
            records.insert(resource.id_field, record, totals, Some(limits))
        }))
    }

    async fn update(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
        record: Record,
        merge: bool,
    ) -> PortResult<StateOutcome<Record>> {
        let limits = self.limits;
        Ok(self.with_resource(scope, resource, |records, totals| {
            records.update(resource.id_field, id, record, merge, totals, limits)
        }))
    }

    async fn delete(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<bool> {
        Ok(self.with_resource(scope, resource, |records, totals| {
            records.delete(id, totals)
        }))
    }

    async fn snapshot(&self, host: &str) -> PortResult<StateSnapshot> {
        let hosts = lock(&self.hosts);
        let Some(state) = hosts.get(host) else {
            return Ok(StateSnapshot::default());
        };
        Ok(StateSnapshot {
            revision: Some(state.revision),
            scenarios: state.scenarios.clone(),
            sequences: state.sequences.clone(),
            resources: state
                .resources
                .iter()
                .map(|(name, records)| (name.clone(), records.records.len() as u64))
                .collect(),
            bytes: state.totals.bytes,
        })
    }

    async fn reset(&self, host: &str) -> PortResult<()> {
        lock(&self.hosts).remove(host);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_digits_that_fit() {
        assert_eq!(whole_number("7"), Some(7));
        assert_eq!(whole_number("007"), Some(7));
        assert_eq!(whole_number("18446744073709551615"), Some(u64::MAX));
        for not in ["", "+7", "-7", "7a", "18446744073709551616", " 7"] {
            assert_eq!(whole_number(not), None, "{not:?}");
        }
    }
}
