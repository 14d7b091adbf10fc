-- Named leases, so that only one of several worker instances does a periodic job at a
-- time. Times are unix milliseconds by the adapter's clock, as for outbox claims. A
-- released lease stays, expired, so that its fence keeps increasing.

CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    -- the fencing token: increases every time the lease is taken anew, never on renewal
    fence      INTEGER NOT NULL CHECK (fence > 0)
) STRICT;
