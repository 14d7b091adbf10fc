//! The DigitalOcean adapters against the testkit's fake DigitalOcean API, and the fake
//! against the real API's rules.

mod apps;
mod dns;
mod fake;
mod support;
