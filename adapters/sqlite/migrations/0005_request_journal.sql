-- The request journal: the requests each mock host received, newest first by id. A row
-- holds one RequestRecord as serde JSON; `at` is its arrival in unix milliseconds, kept
-- apart so that old rows can be found without decoding them. The adapter keeps a host's
-- newest rows only (its retention) by deleting the rest when it appends.

CREATE TABLE request_journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    host        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    -- serde JSON of the domain's RequestRecord
    record_json TEXT    NOT NULL
) STRICT;

-- A host's rows, newest first: listing, pruning to the cap, clearing.
CREATE INDEX request_journal_by_host ON request_journal (host, id);
