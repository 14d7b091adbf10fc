//! Integration tests of `moclojer-sqlite` against real database files.
//!
//! What is specific to SQLite lives here: durability across reopening, atomicity of a
//! change and its outbox rows, migrations, and files that are not databases. The port
//! contracts themselves are checked by `moclojer-testkit`'s suites.

mod atomicity;
mod contracts;
mod files;
mod helpers;
mod scoping;
