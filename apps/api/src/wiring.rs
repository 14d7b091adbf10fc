//! The one place that picks adapters for the api process: SQLite or PostgreSQL by URL, an
//! optional Redis the outbox is relayed to, and local or Supabase sign-in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use moclojer_domain::Zone;
use moclojer_domain::spec::Limits;
use moclojer_egress::{Egress, EgressConfig};
use moclojer_ports::{
    AccountRepository, Clock, IdGenerator, LeaseStore, LocalTokens, MockRepository, Outbox,
    PublicationRepository, RandomIds, Relay, RelaySettings, SystemClock, TokenStore,
};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_sqlite::SqliteDatabase;
use moclojer_supabase::SupabaseIdentity;
use tokio::net::TcpListener;

use crate::passwords::Passwords;
use crate::signin::Supabase;
use crate::state::{AuthMode, MocksUrl, State};

/// How the api process runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the api listens.
    pub addr: SocketAddr,
    /// `sqlite:PATH` (made when missing) or `postgres://…`.
    pub database_url: String,
    /// When set, a relay moves the outbox to this Redis for the other services.
    pub redis_url: Option<String>,
    /// The Redis stream the events go to (the adapter's default when `None`).
    pub redis_stream: Option<String>,
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
}

impl Config {
    /// Local accounts on `database_url`, listening on 127.0.0.1:3000, mocks under
    /// `localhost` on port 8080, sessions of 30 days.
    ///
    /// # Panics
    /// Never: `localhost` is a valid zone.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: database_url.into(),
            redis_url: None,
            redis_stream: None,
            zone: Zone::parse("localhost").expect("localhost is a zone"),
            mocks_url: MocksUrl {
                scheme: "http".to_owned(),
                port: Some(8080),
            },
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            supabase: None,
            web_dir: None,
        }
    }
}

/// A database the api can run on, with every port it needs.
#[derive(Debug, Clone)]
pub enum DatabaseChoice {
    /// The embedded default.
    Sqlite(SqliteDatabase),
    /// The real service.
    Postgres(PostgresDatabase),
}

/// Every port of one database, as the apps hold them.
#[derive(Debug, Clone)]
pub struct DatabasePorts {
    /// Users and workspaces.
    pub accounts: Arc<dyn AccountRepository>,
    /// Mocks.
    pub mocks: Arc<dyn MockRepository>,
    /// Publications.
    pub publications: Arc<dyn PublicationRepository>,
    /// The outbox the writes record their events in.
    pub outbox: Arc<dyn Outbox>,
    /// The service's own tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Leases, for work one instance does at a time.
    pub leases: Arc<dyn LeaseStore>,
}

fn ports<D>(database: &D) -> DatabasePorts
where
    D: AccountRepository
        + MockRepository
        + PublicationRepository
        + Outbox
        + TokenStore
        + LeaseStore
        + Clone,
{
    DatabasePorts {
        accounts: Arc::new(database.clone()),
        mocks: Arc::new(database.clone()),
        publications: Arc::new(database.clone()),
        outbox: Arc::new(database.clone()),
        tokens: Arc::new(database.clone()),
        leases: Arc::new(database.clone()),
    }
}

impl DatabaseChoice {
    /// Opens (and migrates) the database `url` names.
    ///
    /// # Errors
    /// An unknown scheme, or a database that cannot be opened.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let db = PostgresDatabase::connect(&PostgresConfig::new(url))
                .await
                .context("connect to PostgreSQL")?;
            return Ok(Self::Postgres(db));
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                bail!("sqlite: needs a path, e.g. sqlite:moclojer.sqlite");
            }
            let path = std::path::Path::new(path);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("create {}", parent.display()))?;
            }
            let db = SqliteDatabase::open(path)
                .await
                .with_context(|| format!("open the SQLite database {}", path.display()))?;
            return Ok(Self::Sqlite(db));
        }
        bail!("the database URL must start with sqlite: or postgres:// (got {url:?})")
    }

    /// Its ports.
    pub fn ports(&self) -> DatabasePorts {
        match self {
            Self::Sqlite(db) => ports(db),
            Self::Postgres(db) => ports(db),
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(db) => db.close().await,
            Self::Postgres(db) => db.close().await,
        }
    }
}

impl State {
    /// The state over `database`, with local sign-in.
    pub fn local(
        database: &DatabaseChoice,
        zone: Zone,
        mocks_url: MocksUrl,
        passwords: Passwords,
    ) -> Self {
        Self::local_over(database.ports(), zone, mocks_url, passwords)
    }

    /// The state over `ports`, with local sign-in.
    pub fn local_over(
        ports: DatabasePorts,
        zone: Zone,
        mocks_url: MocksUrl,
        passwords: Passwords,
    ) -> Self {
        Self::over(
            ports,
            AuthMode::Local,
            zone,
            mocks_url,
            passwords,
            Arc::new(SystemClock),
        )
    }

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
        }
    }
}

/// The wired api process: state, listener, and the relay when Redis is configured.
#[derive(Debug)]
pub struct App {
    state: Arc<State>,
    database: DatabaseChoice,
    outbox: Arc<dyn Outbox>,
    queue: Option<RedisEventQueue>,
    listener: TcpListener,
}

impl App {
    /// Opens the database (and Redis), binds the address.
    ///
    /// # Errors
    /// When a dependency cannot be reached or the address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = DatabaseChoice::open(&config.database_url).await?;
        let ports = database.ports();
        let outbox = Arc::clone(&ports.outbox);
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
        state.web_dir = config.web_dir;
        state.supabase_browser = config.supabase.and_then(|s| s.browser);
        let queue = match &config.redis_url {
            None => None,
            Some(url) => {
                let mut redis = RedisConfig::new(url.clone());
                if let Some(stream) = &config.redis_stream {
                    redis.stream.clone_from(stream);
                }
                Some(
                    RedisEventQueue::connect(&redis)
                        .await
                        .context("connect to Redis")?,
                )
            }
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listen on {}", config.addr))?;
        Ok(Self {
            state: Arc::new(state),
            database,
            outbox,
            queue,
            listener,
        })
    }

    /// Where the api listens.
    ///
    /// # Errors
    /// When the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes, relaying the outbox to Redis meanwhile when
    /// configured.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let stopping = Arc::new(tokio::sync::Notify::new());
        let relaying = self.queue.as_ref().map(|queue| {
            let relay = Relay::new(
                Arc::clone(&self.outbox),
                Arc::new(queue.clone()),
                RelaySettings {
                    idle: Duration::from_millis(50),
                    ..RelaySettings::named("api")
                },
            );
            let stopping = Arc::clone(&stopping);
            tokio::spawn(relay.run(async move { stopping.notified().await }))
        });
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        let served = crate::serve(self.listener, crate::endpoint(self.state), stop).await;
        stopping.notify_waiters();
        if let Some(relaying) = relaying {
            relaying.await.ok();
        }
        if let Some(queue) = &self.queue {
            queue.close().await;
        }
        self.database.close().await;
        served.context("serve the api")
    }
}
