//! The api as a process: its [`Config`] and the [`App`] that runs it, and the [`State`]
//! it is built into.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::spec::Limits;
use moclojer_domain::{TrustedProxies, Zone};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_ports::{
    Clock, DatabasePorts, IdGenerator, KeepRevisions, LocalTokens, RandomIds, Relay, RelaySettings,
    SystemClock,
};
use moclojer_supabase::SupabaseIdentity;
use moclojer_wiring::{DatabaseUrl, JournalSettings, QueueUrl, Resolver, StateSettings};
use tokio::net::TcpListener;

use crate::housekeeping::{HOUSEKEEPING_EVERY, Housekeeping, KEEP_SENT};
use crate::passwords::Passwords;
use crate::signin::Supabase;
use crate::state::{AuthMode, MocksUrl, State};
use crate::throttle::SignInThrottle;

/// How the api process runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the api listens.
    pub addr: SocketAddr,
    /// The database of accounts, mocks and publications.
    pub database: DatabaseUrl,
    /// When set, a relay moves the outbox to this queue for the other services.
    pub queue: Option<QueueUrl>,
    /// How long the relay waits between looks at an empty outbox (each hop of a publish
    /// waits for it).
    pub relay_idle: Duration,
    /// The zone of mock hosts.
    pub zone: Zone,
    /// Where mocks answer, to show their URLs.
    pub mocks_url: MocksUrl,
    /// How long a session token lasts.
    pub session_ttl: Duration,
    /// Supabase sign-in instead of local accounts.
    pub supabase: Option<Supabase>,
    /// The built web interface to serve at `/` (see [`crate::web`]).
    pub web_dir: Option<PathBuf>,
    /// The request journal the mock servers record to; without it the journal routes
    /// answer 503.
    pub journal: Option<JournalSettings>,
    /// What stateful mocks remember, as the mock servers keep it; without it the state
    /// routes answer 503.
    pub state: Option<StateSettings>,
    /// Proxies in front whose `X-Real-IP` names the client (for the sign-in throttle);
    /// none by default: the socket's peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// How many revisions of each mock an edit keeps, besides the live one.
    pub keep_revisions: KeepRevisions,
    /// What one account may hold.
    pub quotas: crate::Quotas,
}

impl Config {
    /// Local accounts on `database`, listening on 127.0.0.1:3000, mocks under `localhost`
    /// on port 8080, sessions of 30 days, no queue.
    ///
    /// # Panics
    /// Never: `localhost` is a valid zone.
    pub fn new(database: DatabaseUrl) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database,
            queue: None,
            relay_idle: Duration::from_millis(50),
            zone: Zone::parse("localhost").expect("localhost is a zone"),
            mocks_url: MocksUrl {
                scheme: "http".to_owned(),
                port: Some(8080),
            },
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            supabase: None,
            web_dir: None,
            journal: None,
            state: None,
            trusted_proxies: TrustedProxies::none(),
            keep_revisions: KeepRevisions::DEFAULT,
            quotas: crate::Quotas::DEFAULT,
        }
    }
}

impl State {
    /// The state over `ports`, signing in by `auth`, reading time from `clock`.
    pub fn over(
        ports: DatabasePorts,
        auth: AuthMode,
        zone: Zone,
        mocks_url: MocksUrl,
        passwords: Passwords,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let ids: Arc<dyn IdGenerator> = Arc::new(RandomIds);
        Self {
            accounts: ports.accounts,
            mocks: ports.mocks,
            publications: ports.publications,
            tokens: LocalTokens::new(ports.tokens, Arc::clone(&clock), Arc::clone(&ids)),
            auth,
            passwords,
            throttle: SignInThrottle::default(),
            clock,
            ids,
            zone,
            mocks_url,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            limits: Limits::default(),
            egress: Egress::new(EgressConfig::strict())
                .expect("the strict egress configuration is valid"),
            web_dir: None,
            supabase_browser: None,
            journal: None,
            mock_state: None,
            keep_revisions: KeepRevisions::DEFAULT,
            quotas: crate::Quotas::DEFAULT,
        }
    }
}

/// The wired api process: state, listener, and the relay when a queue is configured.
#[derive(Debug)]
pub struct App {
    state: Arc<State>,
    relay: Option<Relay>,
    housekeeping: Housekeeping,
    listener: TcpListener,
}

/// This process's relay's name in outbox claims: unique per running api, so replicas never
/// take each other's claims for their own.
fn relay_name() -> String {
    format!(
        "api-{}-{}",
        std::process::id(),
        moclojer_ports::IdGenerator::event_id(&RandomIds)
    )
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Opens the database (and the queue), binds the address.
    async fn build(config: Config, resolver: &Resolver) -> anyhow::Result<Self> {
        let database = resolver.database(&config.database).await?;
        let ports = database.ports().clone();
        let ports_outbox = Arc::clone(&ports.outbox);
        let relay = match &config.queue {
            None => None,
            Some(url) => Some(Relay::new(
                Arc::clone(&ports.outbox),
                resolver.queue(url).await?,
                RelaySettings {
                    idle: config.relay_idle,
                    ..RelaySettings::named(relay_name())
                },
            )),
        };
        let auth = match config.supabase {
            None => AuthMode::Local,
            Some(ref supabase) => AuthMode::External(Arc::new(
                SupabaseIdentity::new(supabase.tokens.clone())
                    .context("configure Supabase sign-in")?,
            )),
        };
        let mut state = State::over(
            ports,
            auth,
            config.zone,
            config.mocks_url,
            Passwords::default(),
            Arc::new(SystemClock),
        );
        state.session_ttl = config.session_ttl;
        state.throttle.trusted_proxies = config.trusted_proxies;
        state.web_dir = config.web_dir;
        state.keep_revisions = config.keep_revisions;
        state.quotas = config.quotas;
        state.supabase_browser = config.supabase.and_then(|s| s.browser);
        if let Some(journal) = &config.journal {
            state.journal = Some(resolver.journal(&journal.url, journal.retention).await?);
        }
        if let Some(settings) = &config.state {
            state.mock_state = Some(resolver.state(&settings.url, settings.limits).await?);
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listen on {} (the api)", config.addr))?;
        let housekeeping = Housekeeping {
            outbox: Arc::clone(&ports_outbox),
            tokens: state.tokens.clone(),
            keep_sent: KEEP_SENT,
        };
        Ok(Self {
            state: Arc::new(state),
            relay,
            housekeeping,
            listener,
        })
    }

    /// Serves until `stop` completes, relaying the outbox to the queue meanwhile when
    /// configured.
    async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let relaying = self.relay.map(Relay::spawn);
        let housekeeping = self.housekeeping.spawn(HOUSEKEEPING_EVERY);
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        let served = crate::serve(self.listener, crate::endpoint(self.state), stop).await;
        housekeeping.abort();
        if let Some(relaying) = relaying {
            relaying.stop().await;
        }
        served.context("serve the api")
    }
}

impl App {
    /// Where the api listens.
    ///
    /// # Errors
    /// When the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The state the handlers share.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_api_process_relays_under_a_name_of_its_own() {
        let (one, other) = (super::relay_name(), super::relay_name());
        assert!(one.starts_with("api-"), "{one}");
        assert_ne!(one, other);
    }
}
