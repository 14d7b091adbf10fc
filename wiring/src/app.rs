//! The contract every service follows: a `Config`, [`App::build`], then [`App::run`] until
//! stopped.

use std::future::Future;

use crate::{Resolver, stop_signal};

/// A moclojer service. Its configuration is plain data (flags turn into it in `main`);
/// `build` opens what it names through the shared [`Resolver`] and binds its listeners,
/// so every failure to start shows before anything runs; `run` serves until `stop`
/// completes, then finishes what is under way.
///
/// The all-in-one builds several apps over one resolver, so they share its database pool,
/// store and queue.
pub trait App: Sized + Send + 'static {
    /// What the service is told: addresses, URLs, intervals.
    type Config;

    /// Opens and binds everything the service needs.
    ///
    /// # Errors
    /// When a dependency cannot be opened or an address cannot be bound.
    fn build(
        config: Self::Config,
        resolver: &Resolver,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Runs until `stop` completes.
    ///
    /// # Errors
    /// When serving fails.
    fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a service's `main` does after reading its flags: builds `A` from `config` over a
/// resolver with the environment's credentials, runs it until SIGINT or SIGTERM, and
/// closes what the resolver opened.
///
/// # Errors
/// When the app cannot be built or fails while running.
pub async fn run_until_signalled<A: App>(config: A::Config) -> anyhow::Result<()> {
    let resolver = Resolver::from_env();
    let result = match A::build(config, &resolver).await {
        Ok(app) => app.run(stop_signal()).await,
        Err(e) => Err(e),
    };
    resolver.close().await;
    result
}
