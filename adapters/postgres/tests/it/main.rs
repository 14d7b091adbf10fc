//! Integration tests of `moclojer-postgres` against a real PostgreSQL server.
//!
//! The server is the one `MOCLOJER_TEST_DATABASE_URL` names (an admin URL that may create
//! and drop databases, e.g. `postgres://postgres@127.0.0.1:5432/test`); every test works in
//! a database of its own, created for it and dropped after it. Without the variable the
//! tests say they are skipped, except under `CI=true`, where they fail.
//!
//! What is specific to PostgreSQL lives here: atomicity of a change and its outbox rows
//! under concurrent writers, relays claiming at once, tokens racing for one digest, an
//! unreachable server, timeouts, migrations and reconnecting. The port contracts themselves are checked by
//! `moclojer-testkit`'s suites.

mod atomicity;
mod claims;
mod connection;
mod contracts;
mod helpers;
mod scoping;
mod tokens;
