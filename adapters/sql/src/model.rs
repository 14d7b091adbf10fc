//! Rows as stored, and their conversion to and from domain values.
//!
//! Ids are hyphenated UUID text, timestamps unix milliseconds, revisions and versions
//! 64-bit integers, the publication's two state machines serde JSON text, an outbox payload
//! JSON read back as text, a token digest 32 bytes. A stored value that does not decode
//! into its domain type is corrupt data: `Internal`.
//!
//! Each row reads itself from any driver's row through [`Columns`], so the mapping is
//! written once for every database.

use std::error::Error as StdError;

use moclojer_domain::{
    DnsState, Email, Handle, Host, Member, Mock, MockId, MockName, MockRevision, Publication,
    Revision, Role, ServerState, SpecSource, Timestamp, User, UserId, Workspace, WorkspaceId,
    WorkspaceKind,
};
use moclojer_ports::{
    Lease, LiveMock, PortError, PortResult, RevisionSummary, TokenDigest, TokenId, TokenKind,
    TokenRecord, UserRecord,
};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::query::Columns;

/// A value that did not decode: corrupt data.
fn corrupt<E>(what: &'static str) -> impl FnOnce(E) -> PortError
where
    E: StdError + Send + Sync + 'static,
{
    move |err| PortError::internal(format!("a stored {what} does not decode")).with_source(err)
}

/// A revision as stored.
pub(crate) fn revision_to_sql(revision: Revision) -> PortResult<i64> {
    i64::try_from(revision.get())
        .map_err(|_| PortError::invalid(format!("revision {revision} is out of range")))
}

fn revision_from_sql(raw: i64) -> PortResult<Revision> {
    u64::try_from(raw)
        .ok()
        .and_then(Revision::new)
        .ok_or_else(|| PortError::internal(format!("a stored revision ({raw}) is not positive")))
}

/// A publication version as stored.
pub(crate) fn version_to_sql(version: u64) -> PortResult<i64> {
    i64::try_from(version)
        .map_err(|_| PortError::invalid(format!("publication version {version} is out of range")))
}

fn version_from_sql(raw: i64) -> PortResult<u64> {
    u64::try_from(raw)
        .map_err(|_| PortError::internal(format!("a stored version ({raw}) is negative")))
}

/// The kind column of a workspace.
pub(crate) const PERSONAL: &str = "personal";
/// The kind column of an org.
pub(crate) const ORG: &str = "org";

/// A `users` row.
#[derive(Debug)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    handle: Option<String>,
    password_hash: Option<String>,
    created_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for UserRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            email: row.text("email")?,
            handle: row.maybe_text("handle")?,
            password_hash: row.maybe_text("password_hash")?,
            created_at: row.int("created_at")?,
        })
    }
}

impl UserRow {
    /// The user with their password hash.
    pub(crate) fn into_record(self) -> PortResult<UserRecord> {
        let user = User {
            id: UserId::parse(&self.id).map_err(corrupt("user id"))?,
            email: Email::parse(&self.email).map_err(corrupt("e-mail address"))?,
            handle: self
                .handle
                .as_deref()
                .map(Handle::parse)
                .transpose()
                .map_err(corrupt("handle"))?,
            created_at: Timestamp::from_unix_millis(self.created_at),
        };
        Ok(UserRecord {
            user,
            password_hash: self.password_hash,
        })
    }

    /// The user.
    pub(crate) fn into_user(self) -> PortResult<User> {
        self.into_record().map(|record| record.user)
    }
}

/// A `workspaces` row, without its members.
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceRow {
    /// The id as stored, to find the members.
    pub(crate) id: String,
    pub(crate) handle: String,
    kind: String,
    owner_id: Option<String>,
    name: Option<String>,
    created_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for WorkspaceRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            handle: row.text("handle")?,
            kind: row.text("kind")?,
            owner_id: row.maybe_text("owner_id")?,
            name: row.maybe_text("name")?,
            created_at: row.int("created_at")?,
        })
    }
}

impl WorkspaceRow {
    /// Whether this is a personal workspace.
    pub(crate) fn is_personal(&self) -> bool {
        self.kind == PERSONAL
    }

    /// The handle as stored.
    pub(crate) fn handle(&self) -> &str {
        &self.handle
    }

    /// The workspace with `members`, in their stored order.
    pub(crate) fn into_domain(self, members: Vec<MemberRow>) -> PortResult<Workspace> {
        let kind = match (self.kind.as_str(), self.owner_id, self.name) {
            (PERSONAL, Some(owner), _) => WorkspaceKind::Personal {
                owner: UserId::parse(&owner).map_err(corrupt("workspace owner"))?,
            },
            (ORG, _, Some(name)) => WorkspaceKind::Org { name },
            (other, _, _) => {
                return Err(PortError::internal(format!(
                    "workspace {} has a bad kind ({other:?}) or lacks its owner or name",
                    self.id
                )));
            }
        };
        Ok(Workspace {
            id: WorkspaceId::parse(&self.id).map_err(corrupt("workspace id"))?,
            handle: Handle::parse(&self.handle).map_err(corrupt("handle"))?,
            kind,
            members: members
                .into_iter()
                .map(MemberRow::into_domain)
                .collect::<PortResult<_>>()?,
            created_at: Timestamp::from_unix_millis(self.created_at),
        })
    }
}

/// The kind, owner and name columns of `workspace`.
pub(crate) fn workspace_kind_columns(
    workspace: &Workspace,
) -> (&'static str, Option<String>, Option<&str>) {
    match &workspace.kind {
        WorkspaceKind::Personal { owner } => (PERSONAL, Some(owner.to_string()), None),
        WorkspaceKind::Org { name } => (ORG, None, Some(name.as_str())),
    }
}

/// A `members` row.
#[derive(Debug)]
pub(crate) struct MemberRow {
    /// The workspace's id as stored, to group members by workspace.
    pub(crate) workspace_id: String,
    user_id: String,
    role: String,
}

impl<R: Row + Columns> FromRow<'_, R> for MemberRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            workspace_id: row.text("workspace_id")?,
            user_id: row.text("user_id")?,
            role: row.text("role")?,
        })
    }
}

impl MemberRow {
    fn into_domain(self) -> PortResult<Member> {
        Ok(Member {
            user_id: UserId::parse(&self.user_id).map_err(corrupt("member id"))?,
            role: Role::parse(&self.role).ok_or_else(|| {
                PortError::internal(format!("a stored role ({:?}) is unknown", self.role))
            })?,
        })
    }
}

/// A `mocks` row.
#[derive(Debug)]
pub(crate) struct MockRow {
    id: String,
    workspace_id: String,
    name: String,
    host: String,
    content: String,
    enabled: bool,
    revision: i64,
    created_at: i64,
    updated_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for MockRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            workspace_id: row.text("workspace_id")?,
            name: row.text("name")?,
            host: row.text("host")?,
            content: row.text("content")?,
            enabled: row.flag("enabled")?,
            revision: row.int("revision")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
        })
    }
}

impl MockRow {
    /// The mock.
    pub(crate) fn into_domain(self) -> PortResult<Mock> {
        Ok(Mock {
            id: MockId::parse(&self.id).map_err(corrupt("mock id"))?,
            workspace_id: WorkspaceId::parse(&self.workspace_id)
                .map_err(corrupt("workspace id"))?,
            name: MockName::parse(&self.name).map_err(corrupt("mock name"))?,
            host: Host::parse_any(&self.host).map_err(corrupt("host"))?,
            content: SpecSource::new(self.content).map_err(corrupt("spec"))?,
            enabled: self.enabled,
            revision: revision_from_sql(self.revision)?,
            created_at: Timestamp::from_unix_millis(self.created_at),
            updated_at: Timestamp::from_unix_millis(self.updated_at),
        })
    }
}

/// A `mock_revisions` row.
#[derive(Debug)]
pub(crate) struct RevisionRow {
    mock_id: String,
    revision: i64,
    content: String,
    created_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for RevisionRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.text("mock_id")?,
            revision: row.int("revision")?,
            content: row.text("content")?,
            created_at: row.int("created_at")?,
        })
    }
}

impl RevisionRow {
    /// The revision.
    pub(crate) fn into_domain(self) -> PortResult<MockRevision> {
        Ok(MockRevision {
            mock_id: MockId::parse(&self.mock_id).map_err(corrupt("mock id"))?,
            revision: revision_from_sql(self.revision)?,
            content: SpecSource::new(self.content).map_err(corrupt("spec"))?,
            created_at: Timestamp::from_unix_millis(self.created_at),
        })
    }
}

/// A `mock_revisions` row without its content.
#[derive(Debug)]
pub(crate) struct RevisionSummaryRow {
    mock_id: String,
    revision: i64,
    created_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for RevisionSummaryRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.text("mock_id")?,
            revision: row.int("revision")?,
            created_at: row.int("created_at")?,
        })
    }
}

impl RevisionSummaryRow {
    /// The revision's summary.
    pub(crate) fn into_summary(self) -> PortResult<RevisionSummary> {
        Ok(RevisionSummary {
            mock_id: MockId::parse(&self.mock_id).map_err(corrupt("mock id"))?,
            revision: revision_from_sql(self.revision)?,
            created_at: Timestamp::from_unix_millis(self.created_at),
        })
    }
}

/// A `publications` row.
#[derive(Debug)]
pub(crate) struct PublicationRow {
    mock_id: String,
    server_json: String,
    dns_json: String,
    requested_revision: Option<i64>,
    live_revision: Option<i64>,
    version: i64,
    updated_at: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for PublicationRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.text("mock_id")?,
            server_json: row.text("server_json")?,
            dns_json: row.text("dns_json")?,
            requested_revision: row.maybe_int("requested_revision")?,
            live_revision: row.maybe_int("live_revision")?,
            version: row.int("version")?,
            updated_at: row.int("updated_at")?,
        })
    }
}

impl PublicationRow {
    /// The publication.
    pub(crate) fn into_domain(self) -> PortResult<Publication> {
        Ok(Publication {
            mock_id: MockId::parse(&self.mock_id).map_err(corrupt("mock id"))?,
            server: serde_json::from_str::<ServerState>(&self.server_json)
                .map_err(corrupt("server state"))?,
            dns: serde_json::from_str::<DnsState>(&self.dns_json).map_err(corrupt("dns state"))?,
            requested_revision: self.requested_revision.map(revision_from_sql).transpose()?,
            live_revision: self.live_revision.map(revision_from_sql).transpose()?,
            version: version_from_sql(self.version)?,
            updated_at: Timestamp::from_unix_millis(self.updated_at),
        })
    }
}

/// The `server_json` of a publication whose server side is `server`: how every write
/// stores it, so a query can compare the column with the text of a state that carries no
/// details (`offline`, `publishing`, `published`).
pub(crate) fn server_json(server: &ServerState) -> PortResult<String> {
    serde_json::to_string(server)
        .map_err(|err| PortError::internal("the server state does not encode").with_source(err))
}

/// A live mock, as the `live` query returns it: the mock's id, workspace and host, and its
/// publication's live revision (never NULL there).
#[derive(Debug)]
pub(crate) struct LiveMockRow {
    mock_id: String,
    workspace_id: String,
    host: String,
    live_revision: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for LiveMockRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.text("mock_id")?,
            workspace_id: row.text("workspace_id")?,
            host: row.text("host")?,
            live_revision: row.int("live_revision")?,
        })
    }
}

impl LiveMockRow {
    /// The live mock.
    pub(crate) fn into_domain(self) -> PortResult<LiveMock> {
        Ok(LiveMock {
            mock_id: MockId::parse(&self.mock_id).map_err(corrupt("mock id"))?,
            workspace_id: WorkspaceId::parse(&self.workspace_id)
                .map_err(corrupt("workspace id"))?,
            host: Host::parse_any(&self.host)
                .map_err(corrupt("host"))?
                .as_str()
                .to_owned(),
            revision: revision_from_sql(self.live_revision)?,
        })
    }
}

/// A row of one mock id, in a column named `mock_id`.
#[derive(Debug)]
pub(crate) struct MockIdRow {
    mock_id: String,
}

impl<R: Row + Columns> FromRow<'_, R> for MockIdRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.text("mock_id")?,
        })
    }
}

impl MockIdRow {
    /// The mock id.
    pub(crate) fn into_domain(self) -> PortResult<MockId> {
        MockId::parse(&self.mock_id).map_err(corrupt("mock id"))
    }
}

/// The columns of `publication` that are not keys: server JSON, DNS JSON, requested and
/// live revisions.
pub(crate) struct PublicationColumns {
    /// `server_json`.
    pub(crate) server_json: String,
    /// `dns_json`.
    pub(crate) dns_json: String,
    /// `requested_revision`.
    pub(crate) requested_revision: Option<i64>,
    /// `live_revision`.
    pub(crate) live_revision: Option<i64>,
}

impl PublicationColumns {
    /// The columns of `publication`.
    pub(crate) fn of(publication: &Publication) -> PortResult<Self> {
        let json = |what: &'static str, result: serde_json::Result<String>| {
            result.map_err(|err| {
                PortError::internal(format!("the {what} does not encode")).with_source(err)
            })
        };
        Ok(Self {
            server_json: server_json(&publication.server)?,
            dns_json: json("dns state", serde_json::to_string(&publication.dns))?,
            requested_revision: publication
                .requested_revision
                .map(revision_to_sql)
                .transpose()?,
            live_revision: publication.live_revision.map(revision_to_sql).transpose()?,
        })
    }
}

/// An `outbox` row.
#[derive(Debug)]
pub(crate) struct OutboxRow {
    seq: i64,
    payload: String,
}

impl<R: Row + Columns> FromRow<'_, R> for OutboxRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: row.int("seq")?,
            payload: row.text("payload")?,
        })
    }
}

impl OutboxRow {
    /// The position, for ordering.
    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

    /// The entry.
    pub(crate) fn into_entry(self) -> PortResult<moclojer_ports::OutboxEntry> {
        let seq = u64::try_from(self.seq)
            .map_err(|_| PortError::internal(format!("outbox seq {} is negative", self.seq)))?;
        let event = moclojer_domain::Event::from_json(self.payload.as_bytes()).map_err(|err| {
            PortError::internal(format!("the event at outbox seq {seq} does not decode"))
                .with_source(err)
        })?;
        Ok(moclojer_ports::OutboxEntry { seq, event })
    }
}

/// A `tokens` row.
#[derive(Debug)]
pub(crate) struct TokenRow {
    id: String,
    user_id: String,
    kind: String,
    name: String,
    digest: Vec<u8>,
    created_at: i64,
    expires_at: Option<i64>,
}

impl<R: Row + Columns> FromRow<'_, R> for TokenRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            user_id: row.text("user_id")?,
            kind: row.text("kind")?,
            name: row.text("name")?,
            digest: row.bytes("digest")?,
            created_at: row.int("created_at")?,
            expires_at: row.maybe_int("expires_at")?,
        })
    }
}

impl TokenRow {
    /// The token's record.
    pub(crate) fn into_domain(self) -> PortResult<TokenRecord> {
        let digest: [u8; 32] = self
            .digest
            .as_slice()
            .try_into()
            .map_err(corrupt("token digest"))?;
        Ok(TokenRecord {
            id: TokenId::from_uuid(Uuid::try_parse(&self.id).map_err(corrupt("token id"))?),
            user_id: UserId::parse(&self.user_id).map_err(corrupt("user id"))?,
            kind: TokenKind::parse(&self.kind).ok_or_else(|| {
                PortError::internal(format!("a stored token kind ({:?}) is unknown", self.kind))
            })?,
            name: self.name,
            digest: TokenDigest::from_bytes(digest),
            created_at: Timestamp::from_unix_millis(self.created_at),
            expires_at: self.expires_at.map(Timestamp::from_unix_millis),
        })
    }
}

/// A `leases` row, as a lease statement returns it.
#[derive(Debug)]
pub(crate) struct LeaseRow {
    holder: String,
    /// Unix milliseconds.
    expires_at: i64,
    fence: i64,
}

impl<R: Row + Columns> FromRow<'_, R> for LeaseRow {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            holder: row.text("holder")?,
            expires_at: row.int("expires_at")?,
            fence: row.int("fence")?,
        })
    }
}

impl LeaseRow {
    /// The lease named `name`.
    pub(crate) fn into_lease(self, name: &str) -> PortResult<Lease> {
        let fence = u64::try_from(self.fence).map_err(|_| {
            PortError::internal(format!("lease {name:?} has a corrupt fence {}", self.fence))
        })?;
        Ok(Lease {
            name: name.to_owned(),
            holder: self.holder,
            expires_at: Timestamp::from_unix_millis(self.expires_at),
            fence,
        })
    }
}

/// A row of one column named `value`: what a statement that reads a single value returns
/// (`SELECT EXISTS (...) AS value`, `... RETURNING id AS value`).
#[derive(Debug)]
pub(crate) struct Value<T>(pub(crate) T);

/// A type a [`Value`] is read as.
pub(crate) trait ValueType: Sized {
    /// The `value` column of `row`.
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error>;
}

impl ValueType for bool {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        row.flag("value")
    }
}

impl ValueType for i64 {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        row.int("value")
    }
}

impl ValueType for String {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        row.text("value")
    }
}

impl ValueType for Option<String> {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        row.maybe_text("value")
    }
}

impl<R: Row + Columns, T: ValueType> FromRow<'_, R> for Value<T> {
    fn from_row(row: &R) -> Result<Self, sqlx::Error> {
        T::read(row).map(Value)
    }
}
