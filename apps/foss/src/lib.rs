//! The moclojer mock server: a drop-in for the original moclojer (Clojure), and the engine
//! every tenant of moclojer cloud runs on.
//!
//! - [`Engine`]: a spec compiled once — routing table (host, then path, then method; static
//!   beats parameter; first definition wins), templates, rate limiters — and the request
//!   handler on it;
//! - [`load_files`] / [`watch`]: standalone mode, from a file, reloaded on change;
//! - [`reload_unified`]: cloud mode, from the unified config, keeping each host's last good
//!   part;
//! - [`CloudSource`] / [`follow`]: cloud mode, the unified config followed in the object
//!   store (manifest, checksum, last known good), and [`serve_cloud`] serving it;
//! - [`serve`]: the HTTP server with body limits, header timeouts and graceful shutdown;
//! - [`App`]: the process, from a [`Config`] (standalone from files, or cloud from a store
//!   URL opened by `moclojer-wiring`).
//!
//! It is not the hosted service's control plane: accounts, publishing and DNS live in the
//! api, generator and ops.

mod app;
mod cloud;
mod context;
mod engine;
mod external;
mod hosted;
mod load;
mod ratelimit;
mod request;
mod router;
mod server;
mod socket;
mod watch;
mod webhook;

pub use app::{App, Config, MAX_UNIFIED_BYTES, Source, StoreSource};
pub use cloud::{
    BUILD_TIMEOUT, CLOUD_POLL_INTERVAL, CloudError, CloudSource, Loaded, MAX_BACKOFF, StoreLook,
    follow,
};
pub use engine::{Engine, EngineOptions, Reply};
pub use external::MAX_EXTERNAL_BYTES;
pub use hosted::{
    ConfigEvents, cloud_options, empty_engine, listen_for_configs, serve_cloud,
    serve_cloud_with_events,
};
pub use load::{LoadError, ReloadReport, SpecFiles, load_files, reload_unified};
pub use server::{
    HEADER_READ_TIMEOUT, Readiness, SHUTDOWN_GRACE, ServeOptions, SharedEngine, SystemEnv, handle,
    serve, serve_ready, serve_with,
};
pub use socket::{IDLE_TIMEOUT, MAX_MESSAGE_BYTES};
pub use watch::{POLL_INTERVAL, reload, watch};
pub use webhook::{MAX_PENDING_WEBHOOKS, Webhooks};
