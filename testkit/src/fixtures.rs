//! Fixtures and builders shared by the suites and by app tests.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moclojer_domain::{
    Email, Event, EventKind, Handle, Mock, MockName, SpecSource, Timestamp, User, Workspace, Zone,
};
use moclojer_ports::{
    AccountRepository, Clock, IdGenerator, MockRepository, Outbox, PortErrorKind, PortResult,
    PublicationRepository, RandomIds, Scope,
};

/// The repositories of one database, as the suites take them.
#[derive(Debug, Clone)]
pub struct Repos {
    /// Users and workspaces.
    pub accounts: Arc<dyn AccountRepository>,
    /// Mocks.
    pub mocks: Arc<dyn MockRepository>,
    /// Publications.
    pub publications: Arc<dyn PublicationRepository>,
    /// The outbox the writes above record their events in.
    pub outbox: Arc<dyn Outbox>,
}

impl Repos {
    /// All four from one database object.
    pub fn from_database<D>(database: D) -> Self
    where
        D: AccountRepository + MockRepository + PublicationRepository + Outbox + Clone,
    {
        Self {
            accounts: Arc::new(database.clone()),
            mocks: Arc::new(database.clone()),
            publications: Arc::new(database.clone()),
            outbox: Arc::new(database),
        }
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.plus_millis(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Returns once the system clock shows a later millisecond than when called (a store that
/// stamps rows by the millisecond then sees them as past), within 5 s.
pub async fn past_this_millisecond() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    };
    let mark = now();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while now() <= mark {
        assert!(
            std::time::Instant::now() < deadline,
            "the system clock moves on"
        );
        tokio::task::yield_now().await;
    }
}

/// Ten random characters of `[a-z0-9]`, to keep names of one run apart from another's on
/// a shared server.
pub fn unique_suffix() -> String {
    RandomIds
        .uuid()
        .simple()
        .to_string()
        .chars()
        .rev()
        .take(10)
        .collect()
}

/// Asserts that `result` failed with `kind`, naming `what` was tried when it did not.
///
/// # Panics
/// When `result` is a success or another kind of error.
#[track_caller]
pub fn expect_kind<T: Debug>(result: PortResult<T>, kind: PortErrorKind, what: &str) {
    match result {
        Err(e) if e.kind() == kind => {}
        Err(e) => panic!("{what}: expected {kind}, got {e}"),
        Ok(value) => panic!("{what}: expected {kind}, got success: {value:?}"),
    }
}

/// Saves `org` as `scope` over the org as it is stored now (read with the system's
/// scope): for a test whose change is not about a concurrent one.
///
/// # Errors
/// As [`AccountRepository::save_workspace`].
pub async fn save_org(
    accounts: &dyn AccountRepository,
    scope: &Scope,
    org: &Workspace,
) -> PortResult<()> {
    let read = accounts.get_workspace(&Scope::System, org.id).await?;
    accounts.save_workspace(scope, org, &read).await
}

/// Builders for users, workspaces, mocks and events, with a fixed clock and fresh ids.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The time every built value carries (millisecond precision, like the databases).
    pub now: Timestamp,
    /// The zone of every host.
    pub zone: Zone,
    ids: RandomIds,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Builders at a fixed instant, under the zone `test.localhost`.
    pub fn new() -> Self {
        Self {
            now: Timestamp::from_unix_millis(1_795_982_309_123),
            zone: Zone::parse("test.localhost").unwrap_or_else(|e| unreachable!("{e}")),
            ids: RandomIds,
        }
    }

    /// A fresh, unique handle.
    pub fn handle(&self) -> Handle {
        Handle::parse(&format!("h{}", unique_suffix())).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// A user (not stored) with a unique address and no handle.
    pub fn user(&self) -> User {
        let email = Email::parse(&format!("u{}@example.com", unique_suffix()))
            .unwrap_or_else(|e| unreachable!("{e}"));
        User::new(self.ids.user_id(), email, self.now)
    }

    /// Stores a new user with a fresh handle and their personal workspace.
    ///
    /// # Panics
    /// When the repository refuses.
    pub async fn signed_up(&self, repos: &Repos) -> (User, Workspace) {
        let mut user = self.user();
        repos
            .accounts
            .create_user(&user, Some("$argon2id$fixture"))
            .await
            .expect("create user");
        user.choose_handle(self.handle())
            .expect("a fresh user takes a handle");
        let workspace = Workspace::personal(self.ids.workspace_id(), &user, self.now)
            .expect("personal workspace");
        repos
            .accounts
            .create_personal_workspace(&user, &workspace)
            .await
            .expect("create personal workspace");
        (user, workspace)
    }

    /// Stores a new org owned by `owner`.
    ///
    /// # Panics
    /// When the repository refuses.
    pub async fn org(&self, repos: &Repos, owner: &User) -> Workspace {
        let org = Workspace::org(
            self.ids.workspace_id(),
            self.handle(),
            Some("Test Org"),
            owner.id,
            self.now,
        )
        .expect("org");
        repos
            .accounts
            .create_org(&org, &[])
            .await
            .expect("create org");
        org
    }

    /// A mock (not stored) named `name` in `workspace`.
    pub fn mock(&self, workspace: &Workspace, name: &str) -> Mock {
        let name =
            MockName::parse(name).unwrap_or_else(|e| panic!("fixture mock name {name:?}: {e}"));
        let content = SpecSource::new(format!(
            "- endpoint:\n    method: GET\n    path: /{name}\n    response:\n      status: 200\n      body: '{{\"name\": \"{name}\"}}'\n"
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        Mock::create(
            self.ids.mock_id(),
            workspace,
            name,
            &self.zone,
            content,
            self.now,
        )
    }

    /// Stores a new mock named `name` in `workspace`, as `scope`.
    ///
    /// # Panics
    /// When the repository refuses.
    pub async fn stored_mock(
        &self,
        repos: &Repos,
        scope: &Scope,
        workspace: &Workspace,
        name: &str,
    ) -> Mock {
        let mock = self.mock(workspace, name);
        repos
            .mocks
            .create(scope, &mock, &[])
            .await
            .expect("create mock");
        mock
    }

    /// An event of `kind` with a fresh id.
    pub fn event(&self, kind: EventKind) -> Event {
        Event::new(self.ids.event_id(), self.now, kind)
    }
}

/// A plain record of `method` `path` sent to `host` at `at`, answered `status` (one
/// `accept` header, no body, from 127.0.0.1), for journal tests.
pub fn request_record(
    at: moclojer_domain::Timestamp,
    host: &str,
    method: &str,
    path: &str,
    status: u16,
) -> moclojer_domain::journal::RequestRecord {
    moclojer_domain::journal::RequestRecord {
        at,
        host: host.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        query: String::new(),
        headers: vec![("accept".to_owned(), "*/*".to_owned())],
        body: String::new(),
        body_truncated: false,
        status,
        matched: None,
        near_misses: Vec::new(),
        duration_us: 120,
        client: Some("127.0.0.1".to_owned()),
    }
}
