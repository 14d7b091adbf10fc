//! The `moclojer-api` binary: flags and environment in, [`App`] out.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use moclojer_api::{App, Config, MocksUrl, Quotas, SupabaseArgs};
use moclojer_domain::Zone;
use moclojer_ports::KeepRevisions;
use moclojer_wiring::{DatabaseArgs, JournalArgs, LogArgs, QueueArgs, StateArgs};

/// The moclojer cloud REST api (`/api/v1`), its OpenAPI document and docs UI.
#[derive(Debug, Parser)]
#[command(name = "moclojer-api", version)]
struct Args {
    /// Where to listen.
    #[arg(long, env = "MOCLOJER_API_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    #[command(flatten)]
    database: DatabaseArgs,
    /// With a queue, the outbox is relayed there for the generator and ops.
    #[command(flatten)]
    queue: QueueArgs,
    /// The zone mock hosts live under: `<mock>-<handle>.<zone>`.
    #[arg(long, env = "MOCLOJER_ZONE", default_value = "localhost")]
    zone: String,
    /// Where mocks answer, for the URLs the api shows: `http://:8080`, `https://`.
    #[arg(long, env = "MOCLOJER_MOCKS_URL", default_value = "http://:8080")]
    mocks_url: String,
    /// Days a session token lasts.
    #[arg(long, env = "MOCLOJER_SESSION_DAYS", default_value_t = 30)]
    session_days: u64,
    #[command(flatten)]
    supabase: SupabaseArgs,
    /// The built web interface (`web/dist`) to serve at `/`; none when unset.
    #[arg(long, env = "MOCLOJER_WEB_DIR")]
    web_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    log: LogArgs,
    /// The request journal the mock servers record to, listed at
    /// `/api/v1/mocks/{id}/requests` (default: the --redis-url's server).
    #[command(flatten)]
    journal: JournalArgs,
    /// What stateful mocks remember, shown at `/api/v1/mocks/{id}/state` and reset at
    /// `/api/v1/mocks/{id}/state/reset` (default: the --redis-url's server; none without
    /// it or --state-url, as the mock servers' memory is not the api's).
    #[command(flatten)]
    state: StateArgs,
    /// Proxies in front (addresses or CIDR ranges, separated by commas) whose `X-Real-IP`
    /// names the client, for the sign-in throttle. None by default: the socket's peer is
    /// the client.
    #[arg(long, env = "MOCLOJER_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: moclojer_domain::TrustedProxies,
    /// How many revisions of each mock an edit keeps (1 to 10000); older ones go, but the
    /// live one stays.
    #[arg(long, env = "MOCLOJER_KEEP_REVISIONS", default_value_t = KeepRevisions::DEFAULT)]
    keep_revisions: KeepRevisions,
    /// What one account may hold.
    #[command(flatten)]
    quotas: QuotaArgs,
}

/// The quotas of every account (a 403 or 422 `quota_exceeded` past them).
#[derive(Debug, Clone, clap::Args)]
struct QuotaArgs {
    /// Most mocks in one workspace.
    #[arg(long, env = "MOCLOJER_MAX_MOCKS_PER_WORKSPACE", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_mocks_per_workspace: u32,
    /// Most endpoints (items) in one mock, at most 1,000 (what a spec may hold).
    #[arg(long, env = "MOCLOJER_MAX_ENDPOINTS_PER_MOCK", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    max_endpoints_per_mock: u32,
    /// Most orgs one user owns.
    #[arg(long, env = "MOCLOJER_MAX_ORGS_PER_USER", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    max_orgs_per_user: u32,
    /// Most personal API tokens one user holds.
    #[arg(long, env = "MOCLOJER_MAX_TOKENS_PER_USER", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    max_tokens_per_user: u32,
}

impl QuotaArgs {
    fn quotas(&self) -> Quotas {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Quotas {
            mocks_per_workspace: size(self.max_mocks_per_workspace),
            endpoints_per_mock: size(self.max_endpoints_per_mock),
            orgs_per_user: size(self.max_orgs_per_user),
            tokens_per_user: size(self.max_tokens_per_user),
        }
    }
}

/// Reads `scheme://[host][:port]`; only the scheme and port matter.
fn mocks_url(raw: &str) -> anyhow::Result<MocksUrl> {
    let (scheme, rest) = raw
        .split_once("://")
        .context("--mocks-url is scheme://[:port], e.g. http://:8080")?;
    if scheme != "http" && scheme != "https" {
        anyhow::bail!("--mocks-url's scheme is http or https");
    }
    let port = match rest.trim_end_matches('/').rsplit_once(':') {
        Some((_, port)) => Some(port.parse().context("--mocks-url's port")?),
        None => None,
    };
    Ok(MocksUrl {
        scheme: scheme.to_owned(),
        port,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init()?;
    let config = Config {
        addr: args.addr,
        queue: args.queue.queue(),
        zone: Zone::parse(&args.zone).map_err(|e| anyhow::anyhow!("--zone: {e}"))?,
        mocks_url: mocks_url(&args.mocks_url)?,
        session_ttl: Duration::from_secs(args.session_days.clamp(1, 365) * 24 * 3600),
        supabase: args.supabase.resolve()?,
        web_dir: args.web_dir,
        journal: args.journal.settings_or(args.queue.queue().as_ref()),
        state: args.state.shared_or(args.queue.queue().as_ref()),
        trusted_proxies: args.trusted_proxies,
        keep_revisions: args.keep_revisions,
        quotas: args.quotas.quotas(),
        ..Config::new(args.database.database_url)
    };
    moclojer_wiring::run_until_signalled::<App>(config).await
}
