-- The first schema of moclojer cloud's embedded database.
--
-- Ids are hyphenated lowercase UUIDs; timestamps are unix milliseconds (UTC).
-- Users and orgs share one handle namespace: a personal workspace has its user's handle,
-- so the UNIQUE on workspaces.handle guards both.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    handle        TEXT    UNIQUE,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE workspaces (
    id         TEXT    NOT NULL PRIMARY KEY,
    handle     TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('personal', 'org')),
    -- the user a personal workspace belongs to; NULL for an org
    owner_id   TEXT    UNIQUE REFERENCES users (id),
    -- an org's display name; NULL for a personal workspace
    name       TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'personal' AND owner_id IS NOT NULL AND name IS NULL)
        OR (kind = 'org' AND owner_id IS NULL AND name IS NOT NULL))
) STRICT;

CREATE TABLE members (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id),
    role         TEXT    NOT NULL CHECK (role IN ('owner', 'member')),
    -- the member's place in the workspace's list, which is kept as it was given
    position     INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) STRICT;

CREATE INDEX members_by_user ON members (user_id, workspace_id);

CREATE TABLE mocks (
    id           TEXT    NOT NULL PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    name         TEXT    NOT NULL,
    host         TEXT    NOT NULL UNIQUE,
    content      TEXT    NOT NULL,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    revision     INTEGER NOT NULL CHECK (revision >= 1),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX mocks_by_workspace ON mocks (workspace_id, host);

CREATE TABLE mock_revisions (
    mock_id    TEXT    NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL CHECK (revision >= 1),
    content    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (mock_id, revision)
) STRICT;

CREATE TABLE publications (
    mock_id            TEXT    NOT NULL PRIMARY KEY REFERENCES mocks (id) ON DELETE CASCADE,
    -- serde JSON of the domain's ServerState and DnsState
    server_json        TEXT    NOT NULL,
    dns_json           TEXT    NOT NULL,
    requested_revision INTEGER,
    live_revision      INTEGER,
    version            INTEGER NOT NULL CHECK (version >= 0),
    updated_at         INTEGER NOT NULL
) STRICT;

-- The transactional outbox: events written with the change that caused them.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Event::to_json()
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
) STRICT;

CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
