//! Rows as stored, and their conversion to and from domain values.
//!
//! Ids are hyphenated UUID text, timestamps unix milliseconds, revisions and versions
//! integers, the publication's two state machines serde JSON, token digests 32-byte blobs. A stored value that does not
//! decode into its domain type is corrupt data: `Internal`.

use std::error::Error as StdError;
use std::time::{SystemTime, UNIX_EPOCH};

use moclojer_domain::{
    DnsState, Email, Handle, Host, Member, Mock, MockId, MockName, MockRevision, Publication,
    Revision, Role, ServerState, SpecSource, Timestamp, User, UserId, Workspace, WorkspaceId,
    WorkspaceKind,
};
use moclojer_ports::{
    PortError, PortResult, TokenDigest, TokenId, TokenKind, TokenRecord, UserRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};
use uuid::Uuid;

/// Now, in unix milliseconds, for the outbox's bookkeeping columns.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

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

impl FromRow<'_, SqliteRow> for UserRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            handle: row.try_get("handle")?,
            password_hash: row.try_get("password_hash")?,
            created_at: row.try_get("created_at")?,
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
#[derive(Debug)]
pub(crate) struct WorkspaceRow {
    /// The id as stored, to find the members.
    pub(crate) id: String,
    pub(crate) handle: String,
    kind: String,
    owner_id: Option<String>,
    name: Option<String>,
    created_at: i64,
}

impl FromRow<'_, SqliteRow> for WorkspaceRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            handle: row.try_get("handle")?,
            kind: row.try_get("kind")?,
            owner_id: row.try_get("owner_id")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
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

impl FromRow<'_, SqliteRow> for MemberRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            workspace_id: row.try_get("workspace_id")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("role")?,
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

impl FromRow<'_, SqliteRow> for MockRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
            name: row.try_get("name")?,
            host: row.try_get("host")?,
            content: row.try_get("content")?,
            enabled: row.try_get("enabled")?,
            revision: row.try_get("revision")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
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

impl FromRow<'_, SqliteRow> for RevisionRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.try_get("mock_id")?,
            revision: row.try_get("revision")?,
            content: row.try_get("content")?,
            created_at: row.try_get("created_at")?,
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

impl FromRow<'_, SqliteRow> for PublicationRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mock_id: row.try_get("mock_id")?,
            server_json: row.try_get("server_json")?,
            dns_json: row.try_get("dns_json")?,
            requested_revision: row.try_get("requested_revision")?,
            live_revision: row.try_get("live_revision")?,
            version: row.try_get("version")?,
            updated_at: row.try_get("updated_at")?,
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
            server_json: json("server state", serde_json::to_string(&publication.server))?,
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

impl FromRow<'_, SqliteRow> for OutboxRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: row.try_get("seq")?,
            payload: row.try_get("payload")?,
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

impl FromRow<'_, SqliteRow> for TokenRow {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            kind: row.try_get("kind")?,
            name: row.try_get("name")?,
            digest: row.try_get("digest")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
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
