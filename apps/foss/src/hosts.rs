//! The engines of a cloud server, one per host: publishing one mock rebuilds and swaps only
//! its host's engine, and every other host's engine (with its rate-limit windows and webhook
//! budget) stays as it is.
//!
//! A read takes the lock only to clone one `Arc`; a change touches one entry, so it costs
//! the same with 50,000 hosts as with one. It is not the loader: what fills the map from the
//! object store lives in the cloud follower.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::engine::Engine;

/// A concurrent map from host (lower case, no port, as the request's `Host` resolves) to
/// the engine serving it. Hosts are compared without regard to ASCII case.
#[derive(Default)]
pub struct HostEngines {
    engines: RwLock<HashMap<Box<str>, Arc<Engine>>>,
}

impl HostEngines {
    /// No host served.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine serving `host`, if any.
    #[must_use]
    pub fn get(&self, host: &str) -> Option<Arc<Engine>> {
        self.read().get(lower(host).as_ref()).map(Arc::clone)
    }

    /// Serves `host` with `engine` from the next request on; requests in flight finish on
    /// the engine they started with. Returns the engine it replaces.
    pub fn insert(&self, host: &str, engine: Arc<Engine>) -> Option<Arc<Engine>> {
        let host: Box<str> = lower(host).into();
        self.write().insert(host, engine)
    }

    /// Stops serving `host`. Returns the engine that served it.
    pub fn remove(&self, host: &str) -> Option<Arc<Engine>> {
        self.write().remove(lower(host).as_ref())
    }

    /// How many hosts are served.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no host is served.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The hosts served, sorted.
    #[must_use]
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.read().keys().map(|h| String::from(&**h)).collect();
        hosts.sort_unstable();
        hosts
    }

    /// How many endpoints answer, over every host.
    #[must_use]
    pub fn endpoint_count(&self) -> usize {
        self.read().values().map(|e| e.endpoint_count()).sum()
    }

    /// The map for reading. A writer that panicked cannot have left it half changed (every
    /// change is one `HashMap` call), so a poisoned lock is used as it is.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Box<str>, Arc<Engine>>> {
        self.engines.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Box<str>, Arc<Engine>>> {
        self.engines.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for HostEngines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostEngines")
            .field("hosts", &self.len())
            .finish_non_exhaustive()
    }
}

/// `host` in lower case; borrowed when it already is, as request hosts are.
fn lower(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use moclojer_domain::spec::{self, Limits, Mode};

    use super::*;
    use crate::engine::EngineOptions;

    fn engine(host: &str, paths: &[&str]) -> Arc<Engine> {
        let yaml: String = paths
            .iter()
            .map(|path| {
                format!(
                    "- endpoint:\n    host: {host}\n    path: {path}\n    response:\n      body: ok\n"
                )
            })
            .collect();
        let spec = spec::parse_yaml(&yaml, &Limits::default()).expect("spec parses");
        let options = Arc::new(EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        });
        Arc::new(Engine::build_shared(spec, options).expect("engine builds"))
    }

    #[test]
    fn an_empty_map_serves_nothing() {
        let hosts = HostEngines::new();
        assert!(hosts.is_empty());
        assert_eq!(hosts.len(), 0);
        assert!(hosts.get("a.test").is_none());
        assert!(hosts.remove("a.test").is_none());
        assert!(hosts.hosts().is_empty());
        assert_eq!(hosts.endpoint_count(), 0);
    }

    #[test]
    fn insert_returns_the_engine_it_replaces_and_get_the_one_inserted() {
        let hosts = HostEngines::new();
        let first = engine("a.test", &["/one"]);
        let second = engine("a.test", &["/one", "/two"]);
        assert!(hosts.insert("a.test", Arc::clone(&first)).is_none());
        let got = hosts.get("a.test").expect("served");
        assert!(Arc::ptr_eq(&got, &first));
        let replaced = hosts
            .insert("a.test", Arc::clone(&second))
            .expect("replaced");
        assert!(Arc::ptr_eq(&replaced, &first));
        assert!(Arc::ptr_eq(&hosts.get("a.test").expect("served"), &second));
        assert_eq!(hosts.len(), 1);
    }

    #[test]
    fn changing_one_host_leaves_the_others_alone() {
        let hosts = HostEngines::new();
        let b = engine("b.test", &["/b"]);
        hosts.insert("a.test", engine("a.test", &["/a"]));
        hosts.insert("b.test", Arc::clone(&b));
        hosts.insert("a.test", engine("a.test", &["/a", "/aa"]));
        assert!(Arc::ptr_eq(&hosts.get("b.test").expect("served"), &b));
        hosts.remove("a.test");
        assert!(Arc::ptr_eq(&hosts.get("b.test").expect("served"), &b));
    }

    #[test]
    fn remove_returns_the_engine_and_stops_serving_the_host() {
        let hosts = HostEngines::new();
        let a = engine("a.test", &["/a"]);
        hosts.insert("a.test", Arc::clone(&a));
        let removed = hosts.remove("a.test").expect("removed");
        assert!(Arc::ptr_eq(&removed, &a));
        assert!(hosts.get("a.test").is_none());
        assert!(hosts.is_empty());
    }

    #[test]
    fn hosts_are_listed_sorted_and_endpoints_summed() {
        let hosts = HostEngines::new();
        hosts.insert("c.test", engine("c.test", &["/1"]));
        hosts.insert("a.test", engine("a.test", &["/1", "/2"]));
        hosts.insert("b.test", engine("b.test", &["/1", "/2", "/3"]));
        assert_eq!(hosts.hosts(), ["a.test", "b.test", "c.test"]);
        assert_eq!(hosts.len(), 3);
        assert_eq!(hosts.endpoint_count(), 6);
    }

    #[test]
    fn hosts_are_compared_without_regard_to_case() {
        let hosts = HostEngines::new();
        let a = engine("a.test", &["/a"]);
        hosts.insert("A.Test", Arc::clone(&a));
        assert_eq!(hosts.hosts(), ["a.test"]);
        assert!(Arc::ptr_eq(&hosts.get("a.test").expect("served"), &a));
        assert!(Arc::ptr_eq(&hosts.get("A.TEST").expect("served"), &a));
        assert!(hosts.remove("a.TEST").is_some());
        assert!(hosts.is_empty());
    }

    #[test]
    fn debug_prints_the_count_not_the_map() {
        let hosts = HostEngines::new();
        hosts.insert("secret-tenant.test", engine("secret-tenant.test", &["/a"]));
        let printed = format!("{hosts:?}");
        assert!(printed.contains("hosts: 1"), "{printed}");
        assert!(!printed.contains("secret-tenant"), "{printed}");
    }

    #[test]
    fn a_poisoned_lock_does_not_stop_serving() {
        let hosts = Arc::new(HostEngines::new());
        let a = engine("a.test", &["/a"]);
        hosts.insert("a.test", Arc::clone(&a));
        let poisoner = Arc::clone(&hosts);
        let outcome = std::thread::spawn(move || {
            let _held = poisoner.engines.write();
            panic!("a writer panics while holding the lock");
        })
        .join();
        assert!(outcome.is_err());
        assert!(hosts.engines.is_poisoned());
        assert!(Arc::ptr_eq(&hosts.get("a.test").expect("served"), &a));
        hosts.insert("b.test", engine("b.test", &["/b"]));
        assert_eq!(hosts.hosts(), ["a.test", "b.test"]);
        assert_eq!(hosts.endpoint_count(), 2);
    }

    #[test]
    fn readers_and_writers_on_many_threads_agree() {
        let hosts = Arc::new(HostEngines::new());
        let shared = engine("shared.test", &["/s"]);
        hosts.insert("shared.test", Arc::clone(&shared));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let hosts = Arc::clone(&hosts);
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let host = format!("h{t}.test");
                    let mine = engine(&host, &["/x"]);
                    for _ in 0..200 {
                        hosts.insert(&host, Arc::clone(&mine));
                        let got = hosts.get("shared.test").expect("served");
                        assert!(Arc::ptr_eq(&got, &shared));
                        hosts.remove(&host);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert_eq!(hosts.hosts(), ["shared.test"]);
    }
}
