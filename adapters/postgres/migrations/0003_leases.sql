-- Named leases, so that only one of several worker instances does a periodic job at a
-- time; the twin of the SQLite adapter's 0004_leases.sql.
--
-- Expiry is the server's own time (TIMESTAMPTZ), as for outbox claims: workers on
-- different machines judge leases by one clock. A released lease stays, expired
-- ('-infinity'), so that its fence keeps increasing.

CREATE TABLE leases (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder     TEXT COLLATE "C" NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    -- the fencing token: increases every time the lease is taken anew, never on renewal
    fence      BIGINT NOT NULL CHECK (fence > 0)
);
