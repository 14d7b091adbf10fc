//! The api over real sockets: accounts, orgs, mocks, errors, who may do what, and the web
//! interface's files.

mod accounts;
mod errors;
mod housekeeping;
mod matrix;
mod mocks;
mod orgs;
mod requests;
mod supabase;
mod support;
mod web;
