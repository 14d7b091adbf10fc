-- Relays claim outbox rows for a lease, so several can run without publishing the same
-- event twice while their claims hold.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
