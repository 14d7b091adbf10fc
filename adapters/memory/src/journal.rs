//! [`RequestJournal`] in memory: a ring of records per host, for the standalone server and
//! the all-in-one. Ids are one counter's values, so they order records across hosts too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use moclojer_domain::journal::{RequestRecord, Retention};
use moclojer_ports::{
    Clock, JournalEntry, JournalPage, JournalQuery, PortError, PortResult, RecordId,
    RequestJournal, take_page,
};

/// The most hosts held; appending for one more forgets the host appended to least recently
/// (a standalone server records whatever `Host` a client sends).
pub const MAX_JOURNAL_HOSTS: usize = 10_000;

/// A journal held in this process; clones share it.
#[derive(Debug, Clone)]
pub struct InMemoryJournal {
    state: Arc<Mutex<State>>,
    retention: Retention,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    hosts: HashMap<String, Ring>,
    /// The last id given.
    last: u64,
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    records: VecDeque<(u64, RequestRecord)>,
    /// The id of the last append.
    touched: u64,
}

impl InMemoryJournal {
    /// An empty journal keeping what `retention` says, aging records by `clock`.
    pub fn new(retention: Retention, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            retention,
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change is a few collection calls that cannot leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn cursor(id: Option<&RecordId>) -> PortResult<Option<u64>> {
    id.map(|id| {
        id.as_str()
            .parse::<u64>()
            .map_err(|_| PortError::invalid(format!("{id} is not a record id of this journal")))
    })
    .transpose()
}

impl State {
    /// Makes room for `host` when it is new and the map is full.
    fn room_for(&mut self, host: &str) {
        if self.hosts.len() < MAX_JOURNAL_HOSTS || self.hosts.contains_key(host) {
            return;
        }
        let stalest = self
            .hosts
            .iter()
            .min_by_key(|(_, ring)| ring.touched)
            .map(|(name, _)| name.clone());
        if let Some(stalest) = stalest {
            self.hosts.remove(&stalest);
        }
    }
}

#[async_trait]
impl RequestJournal for InMemoryJournal {
    async fn append(&self, records: Vec<RequestRecord>) -> PortResult<()> {
        let mut state = self.lock();
        for record in records {
            state.room_for(&record.host);
            state.last += 1;
            let id = state.last;
            let ring = state.hosts.entry(record.host.clone()).or_default();
            ring.records.push_back((id, record));
            ring.touched = id;
            while ring.records.len() > self.retention.max_records {
                ring.records.pop_front();
            }
        }
        Ok(())
    }

    async fn list(&self, host: &str, query: &JournalQuery) -> PortResult<JournalPage> {
        let before = cursor(query.before.as_ref())?.unwrap_or(u64::MAX);
        let after = cursor(query.after.as_ref())?.unwrap_or(0);
        let oldest_kept = self.retention.oldest_kept(self.clock.now());
        let state = self.lock();
        let Some(ring) = state.hosts.get(host) else {
            return Ok(JournalPage::default());
        };
        let candidates = ring
            .records
            .iter()
            .rev()
            .skip_while(|(id, _)| *id >= before)
            .take_while(|(id, _)| *id > after)
            .map(|(id, record)| JournalEntry {
                id: RecordId::parse(&id.to_string()).unwrap_or_else(|| unreachable!("digits")),
                record: record.clone(),
            });
        Ok(take_page(candidates, query, oldest_kept))
    }

    async fn clear(&self, host: &str) -> PortResult<()> {
        self.lock().hosts.remove(host);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use moclojer_domain::Timestamp;
    use moclojer_ports::SystemClock;

    use super::*;

    fn record(host: &str) -> RequestRecord {
        RequestRecord {
            at: Timestamp::from_unix_millis(0),
            host: host.to_owned(),
            method: "GET".to_owned(),
            path: "/".to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: String::new(),
            body_truncated: false,
            status: 200,
            matched: None,
            near_misses: Vec::new(),
            duration_us: 1,
            client: None,
        }
    }

    #[tokio::test]
    async fn one_host_too_many_forgets_the_stalest() {
        let journal = InMemoryJournal::new(Retention::DEFAULT, Arc::new(SystemClock));
        let hosts: Vec<RequestRecord> = (0..=MAX_JOURNAL_HOSTS)
            .map(|i| record(&format!("h{i}")))
            .collect();
        journal.append(hosts).await.unwrap();
        let state = journal.lock();
        assert_eq!(state.hosts.len(), MAX_JOURNAL_HOSTS);
        assert!(!state.hosts.contains_key("h0"));
        assert!(state.hosts.contains_key(&format!("h{MAX_JOURNAL_HOSTS}")));
    }
}
