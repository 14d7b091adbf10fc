//! The moclojer mock server: a drop-in for the original moclojer (Clojure), and the engine
//! every tenant of moclojer cloud runs on.
//!
//! - [`Engine`]: a spec compiled once — routing table (host, then path, then method; static
//!   beats parameter; first definition wins), templates, rate limiters — and the request
//!   handler on it;
//! - [`load_files`] / [`watch`]: standalone mode, from a file, reloaded on change;
//! - [`reload_unified`]: a unified config (every host's items in one file, as
//!   `moclojer-generator --export` writes it), keeping each host's last good part;
//! - [`CloudSource`] / [`follow`]: cloud mode, the published index followed in the object
//!   store, one host object fetched and built per changed host (digest checked, last
//!   known good kept, only this server's [`moclojer_domain::Shard`]), and [`serve_cloud`]
//!   serving it;
//! - [`HostEngines`] / [`Serving::PerHost`]: cloud mode, one engine per host, so publishing
//!   one mock swaps only its host's engine, and every other host keeps its rate-limit
//!   windows and webhook budget;
//! - [`serve`]: the HTTP server with body limits, header timeouts and graceful shutdown;
//! - [`App`]: the process, from a [`Config`] (standalone from files, or cloud from a store
//!   URL opened by `moclojer-wiring`).
//!
//! It is not the hosted service's control plane: accounts, publishing and DNS live in the
//! api, generator and ops.

mod admin;
mod app;
mod cloud;
mod context;
mod engine;
mod external;
mod hosted;
mod hosts;
mod journal;
mod load;
mod outbound;
mod ratelimit;
mod request;
mod router;
mod server;
mod socket;
mod watch;
mod webhook;

pub use admin::{Admin, serve_admin};
pub use app::{App, Config, Source, StoreSource};
pub use cloud::{
    BUILD_TIMEOUT, CLOUD_POLL_INTERVAL, CloudError, CloudSource, Loaded, MAX_BACKOFF,
    MAX_OBJECT_BYTES, READY_ANYWAY, StoreLook, cloud_options, follow,
};
pub use engine::{
    DEFAULT_RESOURCE_PAGE, Engine, EngineOptions, MAX_RESOURCE_PAGE, Reply, unknown_host,
};
pub use external::{
    EXTERNAL_CACHE_TTL, ExternalFetches, MAX_EXTERNAL_BYTES, MAX_EXTERNAL_FETCHES,
    MAX_EXTERNAL_FETCHES_PER_HOST, MAX_EXTERNAL_URL_BYTES,
};
pub use hosted::{ConfigEvents, listen_for_configs, serve_cloud, serve_cloud_with};
pub use hosts::HostEngines;
pub use journal::{
    JOURNAL_BATCH, JOURNAL_CHANNEL, JOURNAL_LINGER, Recorder, STANDALONE_JOURNAL_HOST,
};
pub use load::{LoadError, ReloadReport, SpecFiles, load_files, reload_unified};
pub use server::{
    HEADER_READ_TIMEOUT, Readiness, SHUTDOWN_GRACE, ServeOptions, Serving, SharedEngine, SystemEnv,
    handle, serve, serve_ready, serve_with,
};
pub use socket::{IDLE_TIMEOUT, MAX_MESSAGE_BYTES};
pub use watch::{POLL_INTERVAL, reload, watch};
pub use webhook::{MAX_PENDING_WEBHOOKS, MAX_PENDING_WEBHOOKS_PER_HOST, WebhookBudget, Webhooks};
