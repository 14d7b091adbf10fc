-- The first schema of moclojer cloud on PostgreSQL: the twin of the SQLite adapter's
-- 0001_initial.sql and 0002_outbox_claims.sql, in one step.
--
-- Ids are hyphenated lowercase UUIDs as text; domain timestamps are unix milliseconds
-- (UTC), as in every database of the project. Text that is compared or sorted uses the
-- "C" collation, so orderings are byte orderings whatever the database's locale is (the
-- other adapters sort bytes too: `a-b` comes before `ab`).
-- Users and orgs share one handle namespace: a personal workspace has its user's handle,
-- so the UNIQUE on workspaces.handle guards both.

CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL UNIQUE,
    handle        TEXT COLLATE "C" UNIQUE,
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    handle     TEXT COLLATE "C" NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('personal', 'org')),
    -- the user a personal workspace belongs to; NULL for an org
    owner_id   TEXT COLLATE "C" UNIQUE REFERENCES users (id),
    -- an org's display name; NULL for a personal workspace
    name       TEXT,
    created_at BIGINT NOT NULL,
    CHECK ((kind = 'personal' AND owner_id IS NOT NULL AND name IS NULL)
        OR (kind = 'org' AND owner_id IS NULL AND name IS NOT NULL))
);

CREATE TABLE members (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    role         TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    -- the member's place in the workspace's list, which is kept as it was given
    position     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

CREATE INDEX members_by_user ON members (user_id, workspace_id);

CREATE TABLE mocks (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    -- unique across every workspace: the host is the mock's address
    host         TEXT COLLATE "C" NOT NULL UNIQUE,
    content      TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    revision     BIGINT NOT NULL CHECK (revision >= 1),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX mocks_by_workspace ON mocks (workspace_id, host);

CREATE TABLE mock_revisions (
    mock_id    TEXT COLLATE "C" NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    revision   BIGINT NOT NULL CHECK (revision >= 1),
    content    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mock_id, revision)
);

CREATE TABLE publications (
    mock_id            TEXT COLLATE "C" NOT NULL PRIMARY KEY
                           REFERENCES mocks (id) ON DELETE CASCADE,
    -- serde JSON of the domain's ServerState and DnsState
    server_json        TEXT NOT NULL,
    dns_json           TEXT NOT NULL,
    requested_revision BIGINT,
    live_revision      BIGINT,
    version            BIGINT NOT NULL CHECK (version >= 0),
    updated_at         BIGINT NOT NULL
);

-- The transactional outbox: events written with the change that caused them.
-- Its bookkeeping columns are the server's own time (TIMESTAMPTZ): relays on different
-- machines judge leases by one clock. Relays claim rows for a lease (claimed_by,
-- claimed_until), so several can run without publishing the same event twice while their
-- claims hold.
CREATE TABLE outbox (
    seq           BIGSERIAL PRIMARY KEY,
    -- Event::to_json()
    payload       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at       TIMESTAMPTZ,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ
);

CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
