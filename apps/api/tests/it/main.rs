//! The api over real sockets: accounts, orgs, mocks, their request journal and state,
//! errors, who may do what, and the web interface's files.

mod accounts;
mod errors;
mod housekeeping;
mod matrix;
mod mock_state;
mod mocks;
mod orgs;
mod quotas;
mod requests;
mod supabase;
mod support;
mod transfer;
mod web;
