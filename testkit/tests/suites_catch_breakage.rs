//! The suites are worth running only if they fail on a broken adapter. Each test here
//! breaks one rule of a sound in-memory adapter and checks that its suite panics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_domain::{
    Event, Host, Mock, MockId, MockRevision, Revision, Timestamp, UserId, WorkspaceId,
};
use moclojer_memory::{InMemoryDatabase, InMemoryEventQueue, InMemoryObjectStore};
use moclojer_ports::{
    DeadLetter, Delivery, ETag, EventQueue, KeepRevisions, MessageId, MockRepository, Object,
    ObjectKey, ObjectMeta, ObjectStore, PortErrorKind, PortResult, Scope, TokenDigest, TokenId,
    TokenKind, TokenRecord, TokenStore,
};
use moclojer_testkit::{Fixture, ManualClock, Repos, contracts};

/// Runs `suite` and reports whether it panicked.
async fn panics<F>(suite: F) -> bool
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(suite).await.is_err_and(|e| e.is_panic())
}

#[tokio::test]
async fn a_sound_adapter_passes() {
    assert!(
        !panics(contracts::object_store_contract(Arc::new(
            InMemoryObjectStore::new()
        )))
        .await
    );
}

/// Forgets to delete: a get after delete returns the old object.
#[derive(Debug)]
struct UndeletableStore(InMemoryObjectStore);

#[async_trait]
impl ObjectStore for UndeletableStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        self.0.put(key, bytes).await
    }
    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        self.0.get(key).await
    }
    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        self.0.get_if_changed(key, etag).await
    }
    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        self.0.head(key).await
    }
    async fn delete(&self, _key: &ObjectKey) -> PortResult<()> {
        Ok(())
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        self.0.list(prefix).await
    }
}

#[tokio::test]
async fn a_get_after_delete_returning_the_old_object_is_caught() {
    let broken = Arc::new(UndeletableStore(InMemoryObjectStore::new()));
    assert!(panics(contracts::object_store_contract(broken)).await);
}

/// Accepts a mock whose host is taken (and silently drops it).
#[derive(Debug)]
struct LaxHosts(InMemoryDatabase);

#[async_trait]
impl MockRepository for LaxHosts {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        match self.0.create(scope, mock, events).await {
            Err(e) if e.kind() == PortErrorKind::Conflict => Ok(()),
            other => other,
        }
    }
    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        MockRepository::get(&self.0, scope, id).await
    }
    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        self.0.find_by_host(scope, host).await
    }
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        MockRepository::list(&self.0, scope).await
    }
    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        self.0.list_in_workspace(scope, workspace).await
    }
    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        self.0.update(scope, mock, expected, events).await
    }
    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        self.0.delete(scope, id, events).await
    }
    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        self.0.revisions(scope, id).await
    }
    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        self.0.revision(scope, id, revision).await
    }
    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>> {
        self.0.revisions_at(scope, wanted).await
    }
}

#[tokio::test]
async fn a_duplicate_host_accepted_is_caught() {
    let database = InMemoryDatabase::new();
    let mut repos = Repos::from_database(database.clone());
    repos.mocks = Arc::new(LaxHosts(database));
    assert!(panics(contracts::mock_repository_contract(repos)).await);
}

/// Keeps every revision: an edit never cuts the history.
#[derive(Debug)]
struct KeepsEverything(InMemoryDatabase);

impl KeepsEverything {
    const ALL: KeepRevisions = match KeepRevisions::new(KeepRevisions::MAX) {
        Some(keep) => keep,
        None => KeepRevisions::DEFAULT,
    };
}

#[async_trait]
impl MockRepository for KeepsEverything {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        self.0.create(scope, mock, events).await
    }
    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        MockRepository::get(&self.0, scope, id).await
    }
    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        self.0.find_by_host(scope, host).await
    }
    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        MockRepository::list(&self.0, scope).await
    }
    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        self.0.list_in_workspace(scope, workspace).await
    }
    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        self.0
            .update_keeping(scope, mock, expected, events, Self::ALL)
            .await
    }
    async fn update_keeping(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected: Revision,
        events: &[Event],
        _keep: KeepRevisions,
    ) -> PortResult<()> {
        self.0
            .update_keeping(scope, mock, expected, events, Self::ALL)
            .await
    }
    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        self.0.delete(scope, id, events).await
    }
    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        self.0.revisions(scope, id).await
    }
    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        self.0.revision(scope, id, revision).await
    }
    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>> {
        self.0.revisions_at(scope, wanted).await
    }
}

#[tokio::test]
async fn a_history_never_cut_is_caught() {
    let database = InMemoryDatabase::new();
    let mut repos = Repos::from_database(database.clone());
    repos.mocks = Arc::new(KeepsEverything(database));
    assert!(panics(contracts::mock_repository_contract(repos)).await);
}

/// Never redelivers: deliveries after the first attempt are dropped on the floor.
#[derive(Debug)]
struct NoRedelivery(InMemoryEventQueue);

#[async_trait]
impl EventQueue for NoRedelivery {
    async fn publish(&self, event: &Event) -> PortResult<MessageId> {
        self.0.publish(event).await
    }
    async fn ensure_group(&self, group: &str) -> PortResult<()> {
        self.0.ensure_group(group).await
    }
    async fn receive(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>> {
        let got = self.0.receive(group, consumer, max, wait).await?;
        Ok(got.into_iter().filter(|d| d.attempt == 1).collect())
    }
    async fn ack(&self, group: &str, ids: &[MessageId]) -> PortResult<()> {
        self.0.ack(group, ids).await
    }
    async fn dead_letters(&self, group: &str) -> PortResult<Vec<DeadLetter>> {
        self.0.dead_letters(group).await
    }
}

#[tokio::test]
async fn an_unacked_message_never_redelivered_is_caught() {
    let broken = Arc::new(NoRedelivery(InMemoryEventQueue::new(
        contracts::CONTRACT_QUEUE_SETTINGS,
    )));
    assert!(panics(contracts::event_queue_contract(broken)).await);
}

/// One rule of the token store broken at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenFault {
    /// Sound: breaks nothing.
    None,
    /// Revoking a token by id that is not the caller's (or unknown) quietly succeeds.
    RevokeByIdNeverFails,
    /// Purges tokens expired *before* now only, keeping those expiring at this instant.
    PurgeSparesTheExpiringInstant,
    /// Lists tokens by id instead of by age.
    ListsById,
}

#[derive(Debug)]
struct FaultyTokens(InMemoryDatabase, TokenFault);

#[async_trait]
impl TokenStore for FaultyTokens {
    async fn insert_token(&self, record: &TokenRecord) -> PortResult<()> {
        self.0.insert_token(record).await
    }
    async fn find_token(&self, digest: &TokenDigest) -> PortResult<TokenRecord> {
        self.0.find_token(digest).await
    }
    async fn list_tokens(&self, user: UserId, kind: TokenKind) -> PortResult<Vec<TokenRecord>> {
        let mut found = self.0.list_tokens(user, kind).await?;
        if self.1 == TokenFault::ListsById {
            found.sort_by_key(|t| t.id);
        }
        Ok(found)
    }
    async fn delete_token(&self, user: UserId, id: TokenId) -> PortResult<()> {
        match self.0.delete_token(user, id).await {
            Err(e)
                if self.1 == TokenFault::RevokeByIdNeverFails
                    && e.kind() == PortErrorKind::NotFound =>
            {
                Ok(())
            }
            other => other,
        }
    }
    async fn delete_token_by_digest(&self, digest: &TokenDigest) -> PortResult<()> {
        self.0.delete_token_by_digest(digest).await
    }
    async fn delete_expired_tokens(&self, now: Timestamp) -> PortResult<u64> {
        let now = if self.1 == TokenFault::PurgeSparesTheExpiringInstant {
            now.plus_millis(-1)
        } else {
            now
        };
        self.0.delete_expired_tokens(now).await
    }
}

/// Whether the identity suite fails on a token store with `fault`.
async fn identity_suite_panics(fault: TokenFault) -> bool {
    let database = InMemoryDatabase::new();
    panics(contracts::identity_contract(
        Arc::new(FaultyTokens(database.clone(), fault)),
        Arc::new(database),
        ManualClock::new(Fixture::new().now),
    ))
    .await
}

#[tokio::test]
async fn broken_token_stores_are_caught() {
    assert!(
        !identity_suite_panics(TokenFault::None).await,
        "the wrapper itself is sound"
    );
    for fault in [
        TokenFault::RevokeByIdNeverFails,
        TokenFault::PurgeSparesTheExpiringInstant,
        TokenFault::ListsById,
    ] {
        assert!(
            identity_suite_panics(fault).await,
            "{fault:?} went unnoticed"
        );
    }
}
