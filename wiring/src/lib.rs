//! `moclojer-wiring`: the one place where a moclojer service turns its configuration into
//! running parts.
//!
//! - [`DatabaseUrl`], [`StoreUrl`], [`QueueUrl`], [`JournalUrl`] and [`StateUrl`]: the URLs
//!   a deployment is configured with, read by one set of rules in every app, never shown
//!   with a password;
//! - [`Resolver`]: URLs in, adapters out (`Arc<dyn Port>`), each opened once per process
//!   and shared by the apps it runs; S3 credentials come from the environment, read here
//!   and nowhere else;
//! - [`App`]: the contract every service follows (`Config` → [`App::build`] →
//!   [`App::run`] until stopped), and [`run_until_signalled`], the rest of every `main`;
//! - [`LogArgs`] and [`stop_signal`]: the log flags and the SIGINT/SIGTERM handling every
//!   binary shares.
//!
//! Only apps (and testkit) depend on this crate; it depends on the ports and on the
//! adapters it chooses between. It holds no service logic.

mod app;
mod process;
mod resolver;
mod url;

pub use app::{App, run_until_signalled};
pub use process::{
    DatabaseArgs, JournalArgs, JournalSettings, LogArgs, QueueArgs, StateArgs, StateSettings,
    stop_signal,
};
pub use resolver::{Database, Resolver, S3Credentials};
pub use url::{
    DatabaseUrl, JournalUrl, QueueUrl, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR, StateUrl, StoreUrl,
    UrlError, UrlParser,
};
