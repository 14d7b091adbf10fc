//! Integration tests of `moclojer-postgres` against a real PostgreSQL server.
//!
//! The server is the one `MOCLOJER_TEST_DATABASE_URL` names (an admin URL that may create
//! and drop databases, e.g. `postgres://postgres@127.0.0.1:5432/test`); every test works in
//! a database of its own, created for it and dropped after it. Without the variable the
//! tests say they are skipped, except under `CI=true`, where they fail.
//!
//! What is specific to PostgreSQL lives here: concurrent writers of one thing getting one
//! winner, relays claiming at once, tokens racing for one digest, what is stored, an
//! unreachable server, timeouts, migrations and sessions. The port contracts, and the
//! checks behind the ports that the SQL adapters share (atomicity of a change and its
//! outbox rows, durability), are `moclojer-testkit`'s suites, run from `contracts.rs`.

mod atomicity;
mod claims;
mod connection;
mod contracts;
mod helpers;
mod tokens;
