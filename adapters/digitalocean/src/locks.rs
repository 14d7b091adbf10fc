//! One async lock per App Platform app for the whole process, so that changes to one app's
//! spec run one at a time while changes to other apps run in parallel.
//!
//! The locks sit in one map, keyed by the app's URL (base URL and app id, so two APIs or
//! two fakes never share a lock). An entry lives only while a change holds or waits for
//! it: the last one to leave removes it, even when its future is dropped while waiting.
//! The map therefore never holds more entries than there are changes in flight (in ops:
//! the worker's batch of events plus a reconcile), and is empty when nothing changes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// An app's lock and how many changes hold or wait for it.
#[derive(Debug, Default)]
struct Entry {
    lock: Arc<tokio::sync::Mutex<()>>,
    users: usize,
}

/// The locks of the apps being changed, by key.
static LOCKS: LazyLock<Mutex<HashMap<String, Entry>>> = LazyLock::new(Mutex::default);

fn locks() -> MutexGuard<'static, HashMap<String, Entry>> {
    LOCKS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A change's claim on an app's entry, from before it waits until after it releases the
/// lock; the last claim to go removes the entry.
#[derive(Debug)]
struct Claim {
    key: String,
}

impl Claim {
    fn new(key: &str) -> (Self, Arc<tokio::sync::Mutex<()>>) {
        let mut locks = locks();
        let entry = locks.entry(key.to_owned()).or_default();
        entry.users += 1;
        let lock = Arc::clone(&entry.lock);
        (
            Self {
                key: key.to_owned(),
            },
            lock,
        )
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut locks = locks();
        if let Some(entry) = locks.get_mut(&self.key) {
            entry.users = entry.users.saturating_sub(1);
            if entry.users == 0 {
                locks.remove(&self.key);
            }
        }
    }
}

/// The app's lock, held until dropped.
#[derive(Debug)]
pub(crate) struct AppGuard {
    // Fields drop in order: the lock is released before the claim goes.
    _held: OwnedMutexGuard<()>,
    _claim: Claim,
}

/// Waits for the lock of the app `key` and holds it. Dropping the future while it waits
/// gives up the wait and leaves no entry behind.
pub(crate) async fn lock_app(key: &str) -> AppGuard {
    let (claim, lock) = Claim::new(key);
    let held = lock.lock_owned().await;
    AppGuard {
        _held: held,
        _claim: claim,
    }
}

/// How many apps have a lock entry now.
#[cfg(test)]
fn entries() -> usize {
    locks().len()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // One test only: the map is process-wide, and tests run in parallel.
    #[tokio::test]
    async fn one_app_at_a_time_others_free_and_no_entry_left_behind() {
        let first = lock_app("test://a").await;
        let other = tokio::time::timeout(Duration::from_secs(5), lock_app("test://b"))
            .await
            .expect("another app is not held up");
        assert_eq!(entries(), 2);

        let mut waiting = Box::pin(lock_app("test://a"));
        assert!(
            futures_poll_once(&mut waiting).await.is_none(),
            "the same app waits"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), &mut waiting)
            .await
            .expect("released to the waiter");
        drop(waiting);
        drop(second);
        drop(other);
        assert_eq!(entries(), 0, "idle entries are dropped");

        // A waiter dropped before it got the lock leaves nothing behind either.
        let held = lock_app("test://a").await;
        let mut abandoned = Box::pin(lock_app("test://a"));
        assert!(futures_poll_once(&mut abandoned).await.is_none());
        drop(abandoned);
        drop(held);
        assert_eq!(entries(), 0, "an abandoned wait leaves no entry");
    }

    /// Polls `future` once: its output if it is ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(
        future: &mut F,
    ) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
