//! Accounts, mocks, publications, the outbox and the service's own tokens in one in-memory
//! state; named leases beside it, judged by the database's [`Clock`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use moclojer_domain::{
    Email, Event, Handle, Host, Mock, MockId, MockRevision, Publication, Revision, Role,
    ServerStatus, Timestamp, User, UserId, Workspace, WorkspaceId, WorkspaceKind,
};
use moclojer_ports::{
    AccountRepository, Clock, KeepRevisions, Lease, LeaseStore, LiveMock, MockRepository, Outbox,
    OutboxEntry, PortError, PortResult, PublicationRepository, RevisionPage, RevisionQuery,
    RevisionSummary, Scope, SystemClock, TokenDigest, TokenId, TokenKind, TokenRecord, TokenStore,
    UserRecord, check_lease_name, lease_ttl_millis,
};

use crate::lock;

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<UserId, UserRecord>,
    workspaces: BTreeMap<WorkspaceId, Workspace>,
    mocks: BTreeMap<MockId, Mock>,
    revisions: BTreeMap<(MockId, Revision), MockRevision>,
    publications: BTreeMap<MockId, Publication>,
    outbox: BTreeMap<u64, Event>,
    /// Relay claims on outbox entries: who, and until when.
    claims: BTreeMap<u64, (String, std::time::Instant)>,
    next_seq: u64,
    /// The service's own tokens (digests, never secrets), by id.
    tokens: BTreeMap<TokenId, TokenRecord>,
    /// The id of the token with each digest: how a bearer token is looked up.
    token_ids: HashMap<TokenDigest, TokenId>,
}

/// The repositories, the outbox, the token store and the lease store in memory. Cloning
/// shares the data.
#[derive(Debug, Clone)]
pub struct InMemoryDatabase {
    state: Arc<Mutex<State>>,
    /// Named leases by name; a released one stays, expired, to keep its fence.
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
    /// What lease expiry is judged by.
    clock: Arc<dyn Clock>,
}

impl Default for InMemoryDatabase {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl InMemoryDatabase {
    /// An empty database on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty database whose leases ([`LeaseStore`]) expire by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::default(),
            leases: Arc::default(),
            clock,
        }
    }
}

impl State {
    fn record(&mut self, events: &[Event]) {
        for event in events {
            self.next_seq += 1;
            self.outbox.insert(self.next_seq, event.clone());
        }
    }

    fn handle_taken(&self, handle: &Handle) -> bool {
        self.workspaces.values().any(|w| w.handle == *handle)
            || self
                .users
                .values()
                .any(|u| u.user.handle.as_ref() == Some(handle))
    }

    fn visible_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<&Workspace> {
        self.workspaces
            .get(&id)
            .filter(|w| scope.sees(w))
            .ok_or_else(|| PortError::not_found(format!("workspace {id} not found")))
    }

    fn visible_mock(&self, scope: &Scope, id: MockId) -> PortResult<&Mock> {
        self.mocks
            .get(&id)
            .filter(|m| {
                self.workspaces
                    .get(&m.workspace_id)
                    .is_some_and(|w| scope.sees(w))
            })
            .ok_or_else(|| PortError::not_found(format!("mock {id} not found")))
    }

    fn check_members_exist(&self, workspace: &Workspace) -> PortResult<()> {
        match workspace
            .members
            .iter()
            .find(|m| !self.users.contains_key(&m.user_id))
        {
            Some(missing) => Err(PortError::not_found(format!(
                "user {} not found",
                missing.user_id
            ))),
            None => Ok(()),
        }
    }

    fn remove_token(&mut self, id: TokenId) -> Option<TokenRecord> {
        let record = self.tokens.remove(&id)?;
        self.token_ids.remove(&record.digest);
        Some(record)
    }

    /// Drops the revisions of mock `id` older than the newest `keep` (it is at `current`),
    /// but its publication's live revision and the one being published.
    fn prune_revisions(&mut self, id: MockId, current: Revision, keep: KeepRevisions) {
        let Some(newest_dropped) = keep.newest_dropped(current) else {
            return;
        };
        let kept: Vec<Revision> = self
            .publications
            .get(&id)
            .map(|p| [p.live_revision, p.requested_revision])
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let doomed: Vec<(MockId, Revision)> = self
            .revisions
            .range((id, Revision::FIRST)..=(id, newest_dropped))
            .map(|(key, _)| *key)
            .filter(|(_, revision)| !kept.contains(revision))
            .collect();
        for key in doomed {
            self.revisions.remove(&key);
        }
    }

    fn remove_mock(&mut self, id: MockId) -> Option<Mock> {
        let mock = self.mocks.remove(&id)?;
        self.revisions.retain(|(mock_id, _), _| *mock_id != id);
        self.publications.remove(&id);
        Some(mock)
    }
}

fn sorted_by_host(mut mocks: Vec<Mock>) -> Vec<Mock> {
    mocks.sort_by(|a, b| a.host.cmp(&b.host));
    mocks
}

#[async_trait]
impl AccountRepository for InMemoryDatabase {
    async fn create_user(&self, user: &User, password_hash: Option<&str>) -> PortResult<()> {
        let mut state = lock(&self.state);
        if state.users.contains_key(&user.id) {
            return Err(PortError::conflict(format!("user {} exists", user.id)));
        }
        if state.users.values().any(|u| u.user.email == user.email) {
            return Err(PortError::conflict("the e-mail address is taken"));
        }
        if user.handle.is_some() {
            return Err(PortError::invalid("a new user has no handle yet"));
        }
        let record = UserRecord {
            user: user.clone(),
            password_hash: password_hash.map(str::to_owned),
        };
        state.users.insert(user.id, record);
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> PortResult<User> {
        let state = lock(&self.state);
        state
            .users
            .get(&id)
            .map(|r| r.user.clone())
            .ok_or_else(|| PortError::not_found(format!("user {id} not found")))
    }

    async fn find_user_by_email(&self, email: &Email) -> PortResult<UserRecord> {
        let state = lock(&self.state);
        state
            .users
            .values()
            .find(|r| r.user.email == *email)
            .cloned()
            .ok_or_else(|| PortError::not_found("no user has that e-mail address"))
    }

    async fn find_user_by_handle(&self, handle: &Handle) -> PortResult<User> {
        let state = lock(&self.state);
        state
            .users
            .values()
            .find(|r| r.user.handle.as_ref() == Some(handle))
            .map(|r| r.user.clone())
            .ok_or_else(|| PortError::not_found(format!("no user has the handle {handle}")))
    }

    async fn handle_available(&self, handle: &Handle) -> PortResult<bool> {
        Ok(!lock(&self.state).handle_taken(handle))
    }

    async fn create_personal_workspace(
        &self,
        user: &User,
        workspace: &Workspace,
    ) -> PortResult<()> {
        let handle = user
            .handle
            .as_ref()
            .ok_or_else(|| PortError::invalid("the user has no handle"))?;
        let is_theirs = workspace.handle == *handle
            && workspace.kind == WorkspaceKind::Personal { owner: user.id };
        if !is_theirs {
            return Err(PortError::invalid(
                "the workspace is not the user's personal workspace",
            ));
        }
        let mut state = lock(&self.state);
        let stored = state
            .users
            .get(&user.id)
            .ok_or_else(|| PortError::not_found(format!("user {} not found", user.id)))?;
        if stored.user.handle.is_some() {
            return Err(PortError::conflict("the user already has a handle"));
        }
        if state.handle_taken(handle) {
            return Err(PortError::conflict(format!("the handle {handle} is taken")));
        }
        if state.workspaces.contains_key(&workspace.id) {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        if let Some(record) = state.users.get_mut(&user.id) {
            record.user.handle = Some(handle.clone());
        }
        state.workspaces.insert(workspace.id, workspace.clone());
        Ok(())
    }

    async fn create_org(&self, workspace: &Workspace, events: &[Event]) -> PortResult<()> {
        if !workspace.is_org() {
            return Err(PortError::invalid("not an org"));
        }
        let mut state = lock(&self.state);
        if state.workspaces.contains_key(&workspace.id) {
            return Err(PortError::conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        if state.handle_taken(&workspace.handle) {
            return Err(PortError::conflict(format!(
                "the handle {} is taken",
                workspace.handle
            )));
        }
        state.check_members_exist(workspace)?;
        state.workspaces.insert(workspace.id, workspace.clone());
        state.record(events);
        Ok(())
    }

    async fn get_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<Workspace> {
        lock(&self.state).visible_workspace(scope, id).cloned()
    }

    async fn find_workspace(&self, scope: &Scope, handle: &Handle) -> PortResult<Workspace> {
        let state = lock(&self.state);
        state
            .workspaces
            .values()
            .find(|w| w.handle == *handle && scope.sees(w))
            .cloned()
            .ok_or_else(|| PortError::not_found(format!("workspace {handle} not found")))
    }

    async fn list_workspaces(&self, scope: &Scope) -> PortResult<Vec<Workspace>> {
        let state = lock(&self.state);
        let mut found: Vec<Workspace> = state
            .workspaces
            .values()
            .filter(|w| scope.sees(w))
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.is_org(), &a.handle).cmp(&(b.is_org(), &b.handle)));
        Ok(found)
    }

    async fn save_workspace(
        &self,
        scope: &Scope,
        workspace: &Workspace,
        read: &Workspace,
    ) -> PortResult<()> {
        let mut state = lock(&self.state);
        let stored = state.visible_workspace(scope, workspace.id)?;
        if !stored.is_as_read(read) {
            return Err(PortError::conflict(
                "the org changed since it was read; load it again",
            ));
        }
        if !stored.is_org() || !workspace.is_org() {
            return Err(PortError::invalid("only an org's name and members change"));
        }
        if stored.handle != workspace.handle {
            return Err(PortError::invalid("a workspace's handle does not change"));
        }
        if !workspace.members.iter().any(|m| m.role == Role::Owner) {
            return Err(PortError::invalid("an org keeps at least one owner"));
        }
        state.check_members_exist(workspace)?;
        let created_at = stored.created_at;
        state.workspaces.insert(
            workspace.id,
            Workspace {
                created_at,
                ..workspace.clone()
            },
        );
        Ok(())
    }

    async fn delete_org(
        &self,
        scope: &Scope,
        id: WorkspaceId,
        expected_mocks: &[MockId],
        events: &[Event],
    ) -> PortResult<()> {
        let mut state = lock(&self.state);
        if !state.visible_workspace(scope, id)?.is_org() {
            return Err(PortError::invalid(
                "a personal workspace is not deleted this way",
            ));
        }
        let actual: BTreeSet<MockId> = state
            .mocks
            .values()
            .filter(|m| m.workspace_id == id)
            .map(|m| m.id)
            .collect();
        let expected: BTreeSet<MockId> = expected_mocks.iter().copied().collect();
        if actual != expected {
            return Err(PortError::conflict(
                "the org's mocks changed; load them again",
            ));
        }
        for mock_id in actual {
            state.remove_mock(mock_id);
        }
        state.workspaces.remove(&id);
        state.record(events);
        Ok(())
    }
}

#[async_trait]
impl MockRepository for InMemoryDatabase {
    async fn create(&self, scope: &Scope, mock: &Mock, events: &[Event]) -> PortResult<()> {
        let mut state = lock(&self.state);
        if state.visible_workspace(scope, mock.workspace_id)?.handle != *mock.host.handle() {
            return Err(PortError::invalid(
                "the host is not under the workspace's handle",
            ));
        }
        if state.mocks.contains_key(&mock.id) {
            return Err(PortError::conflict(format!("mock {} exists", mock.id)));
        }
        if state.mocks.values().any(|m| m.host == mock.host) {
            return Err(PortError::conflict(format!(
                "the host {} is taken",
                mock.host
            )));
        }
        state.mocks.insert(mock.id, mock.clone());
        state
            .revisions
            .insert((mock.id, mock.revision), mock.current_revision());
        state
            .publications
            .insert(mock.id, Publication::new(mock.id, mock.created_at));
        state.record(events);
        Ok(())
    }

    async fn get(&self, scope: &Scope, id: MockId) -> PortResult<Mock> {
        lock(&self.state).visible_mock(scope, id).cloned()
    }

    async fn find_by_host(&self, scope: &Scope, host: &Host) -> PortResult<Mock> {
        let state = lock(&self.state);
        let id = state
            .mocks
            .values()
            .find(|m| m.host == *host)
            .map(|m| m.id)
            .ok_or_else(|| PortError::not_found(format!("no mock at {host}")))?;
        state.visible_mock(scope, id).cloned()
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Mock>> {
        let state = lock(&self.state);
        let found = state
            .mocks
            .values()
            .filter(|m| {
                state
                    .workspaces
                    .get(&m.workspace_id)
                    .is_some_and(|w| scope.sees(w))
            })
            .cloned()
            .collect();
        Ok(sorted_by_host(found))
    }

    async fn list_in_workspace(
        &self,
        scope: &Scope,
        workspace: WorkspaceId,
    ) -> PortResult<Vec<Mock>> {
        let state = lock(&self.state);
        state.visible_workspace(scope, workspace)?;
        let found = state
            .mocks
            .values()
            .filter(|m| m.workspace_id == workspace)
            .cloned()
            .collect();
        Ok(sorted_by_host(found))
    }

    async fn update(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
    ) -> PortResult<()> {
        self.update_keeping(
            scope,
            mock,
            expected_revision,
            events,
            KeepRevisions::DEFAULT,
        )
        .await
    }

    async fn update_keeping(
        &self,
        scope: &Scope,
        mock: &Mock,
        expected_revision: Revision,
        events: &[Event],
        keep: KeepRevisions,
    ) -> PortResult<()> {
        let mut state = lock(&self.state);
        let stored = state.visible_mock(scope, mock.id)?;
        if stored.revision != expected_revision {
            return Err(PortError::conflict(format!(
                "the mock is at revision {}, not {expected_revision}",
                stored.revision
            )));
        }
        if mock.revision != expected_revision && mock.revision != expected_revision.next() {
            return Err(PortError::invalid("the revision moves by one at most"));
        }
        if stored.name != mock.name
            || stored.host != mock.host
            || stored.workspace_id != mock.workspace_id
        {
            return Err(PortError::invalid(
                "a mock's name, host and workspace do not change",
            ));
        }
        let created_at = stored.created_at;
        if mock.revision != expected_revision {
            state
                .revisions
                .insert((mock.id, mock.revision), mock.current_revision());
            state.prune_revisions(mock.id, mock.revision, keep);
        }
        state.mocks.insert(
            mock.id,
            Mock {
                created_at,
                ..mock.clone()
            },
        );
        state.record(events);
        Ok(())
    }

    async fn delete(&self, scope: &Scope, id: MockId, events: &[Event]) -> PortResult<Mock> {
        let mut state = lock(&self.state);
        state.visible_mock(scope, id)?;
        let mock = state
            .remove_mock(id)
            .ok_or_else(|| PortError::not_found(format!("mock {id} not found")))?;
        state.record(events);
        Ok(mock)
    }

    async fn revisions(&self, scope: &Scope, id: MockId) -> PortResult<Vec<MockRevision>> {
        let state = lock(&self.state);
        state.visible_mock(scope, id)?;
        let mut found: Vec<MockRevision> = state
            .revisions
            .range((id, Revision::FIRST)..)
            .take_while(|((mock_id, _), _)| *mock_id == id)
            .map(|(_, r)| r.clone())
            .collect();
        found.reverse();
        Ok(found)
    }

    async fn revision_page(
        &self,
        scope: &Scope,
        id: MockId,
        query: &RevisionQuery,
    ) -> PortResult<RevisionPage> {
        let state = lock(&self.state);
        state.visible_mock(scope, id)?;
        let last = Revision::new(u64::MAX).expect("u64::MAX is a revision");
        let newest_first = state
            .revisions
            .range((id, Revision::FIRST)..=(id, last))
            .rev()
            .map(|(_, r)| RevisionSummary::from(r));
        Ok(RevisionPage::of(newest_first, query))
    }

    async fn revision(
        &self,
        scope: &Scope,
        id: MockId,
        revision: Revision,
    ) -> PortResult<MockRevision> {
        let state = lock(&self.state);
        state.visible_mock(scope, id)?;
        state
            .revisions
            .get(&(id, revision))
            .cloned()
            .ok_or_else(|| PortError::not_found(format!("mock {id} has no revision {revision}")))
    }

    async fn revisions_at(
        &self,
        scope: &Scope,
        wanted: &[(MockId, Revision)],
    ) -> PortResult<Vec<MockRevision>> {
        let state = lock(&self.state);
        Ok(wanted
            .iter()
            .filter(|(id, _)| state.visible_mock(scope, *id).is_ok())
            .filter_map(|key| state.revisions.get(key).cloned())
            .collect())
    }
}

#[async_trait]
impl PublicationRepository for InMemoryDatabase {
    async fn get(&self, scope: &Scope, mock_id: MockId) -> PortResult<Publication> {
        let state = lock(&self.state);
        state.visible_mock(scope, mock_id)?;
        state
            .publications
            .get(&mock_id)
            .cloned()
            .ok_or_else(|| PortError::internal(format!("mock {mock_id} has no publication")))
    }

    async fn list(&self, scope: &Scope) -> PortResult<Vec<Publication>> {
        let state = lock(&self.state);
        Ok(state
            .publications
            .values()
            .filter(|p| state.visible_mock(scope, p.mock_id).is_ok())
            .cloned()
            .collect())
    }

    async fn live(&self, scope: &Scope) -> PortResult<Vec<LiveMock>> {
        let state = lock(&self.state);
        let mut live: Vec<LiveMock> = state
            .publications
            .values()
            .filter(|p| p.is_live())
            .filter_map(|p| {
                let revision = p.live_revision?;
                let mock = state.visible_mock(scope, p.mock_id).ok()?;
                mock.enabled.then(|| LiveMock {
                    mock_id: mock.id,
                    workspace_id: mock.workspace_id,
                    host: mock.host.as_str().to_owned(),
                    revision,
                })
            })
            .collect();
        live.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(live)
    }

    async fn publishing(&self, scope: &Scope) -> PortResult<Vec<MockId>> {
        let state = lock(&self.state);
        Ok(state
            .publications
            .values()
            .filter(|p| p.server.status() == ServerStatus::Publishing)
            .filter(|p| state.visible_mock(scope, p.mock_id).is_ok())
            .map(|p| p.mock_id)
            .collect())
    }

    async fn save(
        &self,
        scope: &Scope,
        publication: &Publication,
        events: &[Event],
    ) -> PortResult<Publication> {
        let mut state = lock(&self.state);
        state.visible_mock(scope, publication.mock_id)?;
        let stored_version = state
            .publications
            .get(&publication.mock_id)
            .map_or(0, |p| p.version);
        if stored_version != publication.version {
            return Err(PortError::conflict(format!(
                "the publication is at version {stored_version}, not {}",
                publication.version
            )));
        }
        let saved = Publication {
            version: publication.version + 1,
            ..publication.clone()
        };
        state
            .publications
            .insert(publication.mock_id, saved.clone());
        state.record(events);
        Ok(saved)
    }
}

#[async_trait]
impl Outbox for InMemoryDatabase {
    async fn append(&self, events: &[Event]) -> PortResult<()> {
        lock(&self.state).record(events);
        Ok(())
    }

    async fn pending(&self, limit: usize) -> PortResult<Vec<OutboxEntry>> {
        let state = lock(&self.state);
        Ok(state
            .outbox
            .iter()
            .take(limit)
            .map(|(seq, event)| OutboxEntry {
                seq: *seq,
                event: event.clone(),
            })
            .collect())
    }

    async fn claim(
        &self,
        relay: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> PortResult<Vec<OutboxEntry>> {
        if relay.is_empty() || limit == 0 {
            return Err(PortError::invalid(
                "a claim needs a relay name and a limit above zero",
            ));
        }
        let now = std::time::Instant::now();
        let mut state = lock(&self.state);
        let state = &mut *state;
        let mut claimed = Vec::new();
        for (seq, event) in &state.outbox {
            if claimed.len() == limit {
                break;
            }
            let free = match state.claims.get(seq) {
                None => true,
                Some((holder, until)) => holder == relay || *until <= now,
            };
            if free {
                state.claims.insert(*seq, (relay.to_owned(), now + lease));
                claimed.push(OutboxEntry {
                    seq: *seq,
                    event: event.clone(),
                });
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, seqs: &[u64]) -> PortResult<()> {
        let mut state = lock(&self.state);
        for seq in seqs {
            state.outbox.remove(seq);
            state.claims.remove(seq);
        }
        Ok(())
    }

    /// Sent entries are forgotten when marked: none to delete.
    async fn purge_sent(&self, _older_than: std::time::Duration) -> PortResult<u64> {
        Ok(0)
    }
}

/// When a released lease "expires": before any instant a clock can show.
const RELEASED: Timestamp = Timestamp::from_unix_millis(i64::MIN);

#[async_trait]
impl LeaseStore for InMemoryDatabase {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> PortResult<Option<Lease>> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        let ttl = lease_ttl_millis(ttl)?;
        let now = self.clock.now();
        let expires_at = now.plus_millis(ttl);
        let mut leases = lock(&self.leases);
        // An unknown lease is taken as a released one that was never held (fence 0).
        let lease = leases.entry(name.to_owned()).or_insert_with(|| Lease {
            name: name.to_owned(),
            holder: String::new(),
            expires_at: RELEASED,
            fence: 0,
        });
        if lease.expires_at <= now {
            lease.holder = holder.to_owned();
            lease.fence += 1;
        } else if lease.holder != holder {
            return Ok(None);
        }
        lease.expires_at = expires_at;
        Ok(Some(lease.clone()))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> PortResult<()> {
        check_lease_name("name", name)?;
        check_lease_name("holder", holder)?;
        if let Some(lease) = lock(&self.leases)
            .get_mut(name)
            .filter(|lease| lease.holder == holder)
        {
            lease.expires_at = RELEASED;
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for InMemoryDatabase {
    async fn insert_token(&self, record: &TokenRecord) -> PortResult<()> {
        let mut state = lock(&self.state);
        if !state.users.contains_key(&record.user_id) {
            return Err(PortError::not_found(format!(
                "user {} not found",
                record.user_id
            )));
        }
        if state.tokens.contains_key(&record.id) {
            return Err(PortError::conflict(format!("token {} exists", record.id)));
        }
        if state.token_ids.contains_key(&record.digest) {
            return Err(PortError::conflict("a token with that digest exists"));
        }
        state.token_ids.insert(record.digest, record.id);
        state.tokens.insert(record.id, record.clone());
        Ok(())
    }

    async fn find_token(&self, digest: &TokenDigest) -> PortResult<TokenRecord> {
        let state = lock(&self.state);
        state
            .token_ids
            .get(digest)
            .and_then(|id| state.tokens.get(id))
            .cloned()
            .ok_or_else(|| PortError::not_found("no token has that digest"))
    }

    async fn list_tokens(&self, user: UserId, kind: TokenKind) -> PortResult<Vec<TokenRecord>> {
        let state = lock(&self.state);
        let mut found: Vec<TokenRecord> = state
            .tokens
            .values()
            .filter(|t| t.user_id == user && t.kind == kind)
            .cloned()
            .collect();
        found.sort_by_key(|t| (t.created_at, t.id));
        Ok(found)
    }

    async fn delete_token(&self, user: UserId, id: TokenId) -> PortResult<()> {
        let mut state = lock(&self.state);
        // Another user's token is not found either.
        match state.tokens.get(&id) {
            Some(token) if token.user_id == user => {
                state.remove_token(id);
                Ok(())
            }
            _ => Err(PortError::not_found(format!("token {id} not found"))),
        }
    }

    async fn delete_token_by_digest(&self, digest: &TokenDigest) -> PortResult<()> {
        let mut state = lock(&self.state);
        if let Some(id) = state.token_ids.get(digest).copied() {
            state.remove_token(id);
        }
        Ok(())
    }

    async fn delete_expired_tokens(&self, now: Timestamp) -> PortResult<u64> {
        let mut state = lock(&self.state);
        let expired: Vec<TokenId> = state
            .tokens
            .values()
            .filter(|t| t.expires_at.is_some_and(|at| at <= now))
            .map(|t| t.id)
            .collect();
        for id in &expired {
            state.remove_token(*id);
        }
        Ok(u64::try_from(expired.len()).unwrap_or(u64::MAX))
    }
}
