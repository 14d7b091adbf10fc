//! What webhooks and external bodies by URL share: a budget of calls under way per server
//! and per host, and what a log line may show of a destination.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Room for at most `total` outbound calls under way in a server and `per_host` for one
/// host; a call that finds none is refused (and counted) at once, never queued.
#[derive(Debug)]
pub(crate) struct HostBudget {
    total: Arc<Semaphore>,
    per_host_max: usize,
    /// Calls under way by host; a host leaves the map when it has none.
    per_host: Mutex<HashMap<String, usize>>,
    refused: AtomicU64,
}

impl HostBudget {
    pub(crate) fn new(total: usize, per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(total)),
            per_host_max: per_host,
            per_host: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// How many calls were refused so far for want of room.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// How many calls `host` has under way.
    pub(crate) fn held(&self, host: &str) -> usize {
        self.hosts().get(host).copied().unwrap_or(0)
    }

    fn hosts(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.per_host.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Room for one more call of `host`, given back when the slot is dropped; `None`
    /// (counted) when there is none.
    pub(crate) fn take(self: &Arc<Self>, host: &str) -> Option<HostSlot> {
        let mut hosts = self.hosts();
        let held = hosts.get(host).copied().unwrap_or(0);
        let permit = (held < self.per_host_max)
            .then(|| Arc::clone(&self.total).try_acquire_owned().ok())
            .flatten();
        let Some(permit) = permit else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        hosts.insert(host.to_owned(), held + 1);
        Some(HostSlot {
            budget: Arc::clone(self),
            host: host.to_owned(),
            _permit: permit,
        })
    }
}

/// One call's room in a [`HostBudget`].
#[derive(Debug)]
pub(crate) struct HostSlot {
    budget: Arc<HostBudget>,
    host: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for HostSlot {
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

/// What a log line shows of an outbound `url`: its scheme and authority without user
/// information. The rest stays out: a chat service's webhook path is a credential, and a
/// templated URL may carry what a caller sent (a token in a query parameter).
pub(crate) fn destination(url: &str) -> String {
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
    use super::{HostBudget, destination};

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

    #[test]
    fn a_host_gets_its_share_and_gives_it_back() {
        let budget = HostBudget::new(3, 2);
        let a1 = budget.take("a").expect("room");
        let _a2 = budget.take("a").expect("room");
        assert!(budget.take("a").is_none(), "a's share is used");
        let b1 = budget.take("b").expect("b has room");
        assert!(budget.take("c").is_none(), "the server's room is used");
        assert_eq!(budget.refused(), 2);
        drop(a1);
        drop(b1);
        assert_eq!(budget.held("a"), 1);
        assert_eq!(budget.held("b"), 0);
        assert!(budget.take("c").is_some(), "room given back");
    }
}
