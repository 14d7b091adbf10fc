//! The api over real sockets: accounts, orgs, mocks, errors, and who may do what.

mod accounts;
mod errors;
mod matrix;
mod mocks;
mod orgs;
mod supabase;
mod support;
