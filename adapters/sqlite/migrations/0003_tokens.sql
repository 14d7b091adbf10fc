-- The service's own bearer tokens: session tokens from sign-in and personal API tokens.
-- Only the SHA-256 of a token is kept (`digest`, 32 bytes), so the table holds nothing a
-- caller could present. A token goes with its user.

CREATE TABLE tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('session', 'personal')),
    -- the name the user gave a personal token; empty for a session token
    name       TEXT    NOT NULL,
    digest     BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    created_at INTEGER NOT NULL,
    -- NULL: a personal token that does not expire
    expires_at INTEGER
) STRICT;

-- A user's tokens of one kind, oldest first.
CREATE INDEX tokens_by_user ON tokens (user_id, kind, created_at);

-- What a purge deletes.
CREATE INDEX tokens_by_expiry ON tokens (expires_at) WHERE expires_at IS NOT NULL;
