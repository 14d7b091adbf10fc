//! The benchmark behind `cargo xtask bench scale`: how the cost of one publish grows with the
//! number of live mocks of all tenants.
//!
//! For each size N:
//!
//! 1. **Seed**: in a fresh data directory, the all-in-one's SQLite database is filled
//!    through the repositories (not the api): about N/10 users, each signed up with a
//!    handle and a personal workspace, and N mocks of two endpoints spread over them, each
//!    enabled, its publication requested and marked published on its revision, and its
//!    DNS side published as ops leaves a verified host (so that the process starts on a
//!    settled state, and ops has nothing to catch up on).
//! 2. **Start**: the release `moclojer-cloud` binary runs on that data directory as a
//!    process of its own; start-up lasts until a sample of the seeded hosts (the first,
//!    the last and a few random ones) answer through the mocks address with their body,
//!    whatever the services do at start to get there.
//! 3. **Publish**: through the api, a bench user creates and publishes P new mocks, each
//!    with its own body. Publish-to-live is the time from sending the publish to the first
//!    right answer on its host, asked every 2 ms. Around each publish the process's I/O
//!    counters are read (`/proc/<pid>/io`): bytes handed to `write`-like calls, of which
//!    the bench's own HTTP traffic is taken out (the polls and the publish cross the
//!    process twice, proxy and mock server, and are counted once: a lower bound of that
//!    traffic), bytes that reached the block layer, and bytes read the same way as
//!    written. Then its resident memory now and at its peak, and the size of the data
//!    directory's `store/` folder.
//!
//! A size whose start takes longer than 15 minutes, or one of whose publishes is not live
//! within 60 s, says `timeout` in its row and the next size runs; the process is always
//! stopped (SIGTERM, then SIGKILL after 10 s) and the data directory removed.
//!
//! With `--services` the same runs on PostgreSQL, Redis and S3 instead of the embedded
//! defaults: the servers the tests use, named by `MOCLOJER_TEST_DATABASE_URL` (an admin URL
//! that may create databases), `MOCLOJER_TEST_REDIS_URL` and `MOCLOJER_TEST_S3_URL` (the S3
//! credentials from `MOCLOJER_S3_ACCESS_KEY` and `MOCLOJER_S3_SECRET_KEY` when set, else
//! the test server's). Each size gets a database, a Redis stream and a bucket of its own
//! (as `moclojer_testkit::services` makes them for tests), seeded through the repositories
//! on that database, and removed after: the database dropped, the stream's keys deleted,
//! the bucket emptied and deleted. The I/O counters and memory stay those of the
//! `moclojer-cloud` process (what the servers do for it is not counted), and `store` is
//! the bytes in the bucket.
//!
//! `bench_scale [--cloud PATH] [--services] [SIZES] [PUBLISHES]`: sizes as a
//! comma-separated list (default `100,1000,10000,50000`), publishes per size (default 20);
//! `--cloud` is the `moclojer-cloud` binary (default: the one next to this example's
//! folder, as `cargo build --release` leaves it). Build both with `--release`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moclojer_domain::{
    Email, Handle, Mock, MockName, Publication, SpecSource, User, Workspace, Zone,
};
use moclojer_ports::{
    Clock, DatabasePorts, IdGenerator, MockRepository, ObjectStore, PublicationRepository,
    RandomIds, Scope, SystemClock,
};
use moclojer_s3::{S3Config, S3ObjectStore};
use moclojer_testkit::services::{
    DATABASE_VAR, REDIS_VAR, S3_TEST_CREDENTIALS, S3_VAR, TestDb, TestStream, unique_bucket,
};
use moclojer_wiring::{DatabaseUrl, Resolver};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

const DEFAULT_SIZES: &[usize] = &[100, 1_000, 10_000, 50_000];
const DEFAULT_PUBLISHES: usize = 20;
/// Mocks per seeded user, on average.
const MOCKS_PER_USER: usize = 10;
/// Repository calls in flight while seeding.
const SEED_BATCH: usize = 64;
/// Seeded hosts asked at start, besides the first and the last.
const RANDOM_SAMPLES: usize = 4;
const START_LIMIT: Duration = Duration::from_secs(15 * 60);
const LIVE_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(2);
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the process is watched doing nothing asked of it, after start.
const IDLE: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The variables of the S3 credentials `moclojer-cloud` reads.
const S3_ACCESS_KEY_VAR: &str = "MOCLOJER_S3_ACCESS_KEY";
const S3_SECRET_KEY_VAR: &str = "MOCLOJER_S3_SECRET_KEY";

/// What the command line asked for.
struct Args {
    cloud: PathBuf,
    sizes: Vec<usize>,
    publishes: usize,
    /// PostgreSQL, Redis and S3 instead of the embedded defaults (`--services`).
    servers: Option<Servers>,
}

fn args() -> Result<Args, BoxError> {
    let mut raw: Vec<String> = std::env::args().skip(1).collect();
    let mut cloud = None;
    if let Some(at) = raw.iter().position(|a| a == "--cloud") {
        let path = raw.get(at + 1).ok_or("--cloud needs a path")?.clone();
        raw.drain(at..=at + 1);
        cloud = Some(PathBuf::from(path));
    }
    let servers = match raw.iter().position(|a| a == "--services") {
        Some(at) => {
            raw.remove(at);
            Some(Servers::from_env()?)
        }
        None => None,
    };
    let cloud = cloud_binary(cloud)?;
    let sizes = match raw.first() {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().replace('_', "").parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("sizes must be numbers, as 100,1000: {e}"))?,
        None => DEFAULT_SIZES.to_vec(),
    };
    if sizes.contains(&0) {
        return Err("a size must be at least 1".into());
    }
    let publishes = match raw.get(1) {
        Some(n) => n
            .parse()
            .map_err(|e| format!("publishes must be a number: {e}"))?,
        None => DEFAULT_PUBLISHES,
    };
    Ok(Args {
        cloud,
        sizes,
        publishes,
        servers,
    })
}

/// The `moclojer-cloud` binary: `given`, or the one next to this example's folder.
fn cloud_binary(given: Option<PathBuf>) -> Result<PathBuf, BoxError> {
    let cloud = match given {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or("no folder above this example")?
            .join("moclojer-cloud"),
    };
    if !cloud.is_file() {
        return Err(format!(
            "{} is not a file: build it with `cargo build --release -p moclojer-cloud`",
            cloud.display()
        )
        .into());
    }
    Ok(cloud)
}

/// The servers `--services` runs on: those the tests use.
struct Servers {
    /// A PostgreSQL admin URL that may create and drop databases.
    database: String,
    redis: String,
    /// The S3 server's endpoint.
    s3: String,
    /// The S3 access key and secret.
    credentials: (String, String),
}

impl Servers {
    /// The servers the tests' variables name; an error naming the variables unset.
    fn from_env() -> Result<Self, BoxError> {
        let read = |var: &str| {
            std::env::var(var)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let (database, redis, s3) = (read(DATABASE_VAR), read(REDIS_VAR), read(S3_VAR));
        let (Some(database), Some(redis), Some(s3)) = (&database, &redis, &s3) else {
            let unset: Vec<&str> = [
                (DATABASE_VAR, &database),
                (REDIS_VAR, &redis),
                (S3_VAR, &s3),
            ]
            .into_iter()
            .filter(|(_, value)| value.is_none())
            .map(|(var, _)| var)
            .collect();
            return Err(format!(
                "--services runs on the servers the tests use, named by {DATABASE_VAR} \
                 (a PostgreSQL admin URL, e.g. postgres://postgres@127.0.0.1:5432/test), \
                 {REDIS_VAR} (e.g. redis://127.0.0.1:6379) and {S3_VAR} (e.g. \
                 http://127.0.0.1:9000); not set: {}",
                unset.join(", "),
            )
            .into());
        };
        let credentials = match (read(S3_ACCESS_KEY_VAR), read(S3_SECRET_KEY_VAR)) {
            (Some(access), Some(secret)) => (access, secret),
            _ => (
                S3_TEST_CREDENTIALS.0.to_owned(),
                S3_TEST_CREDENTIALS.1.to_owned(),
            ),
        };
        Ok(Self {
            database: database.clone(),
            redis: redis.clone(),
            s3: s3.trim_end_matches('/').to_owned(),
            credentials,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Seeding through the repositories.

/// The spec of a seeded mock: two endpoints, the first answering `{"mock": "<word>"}`.
fn seeded_spec(word: &str) -> String {
    format!(
        "- endpoint:\n    method: GET\n    path: /hello\n    response:\n      status: 200\n      body: '{{\"mock\": \"{word}\"}}'\n\
         - endpoint:\n    method: GET\n    path: /users/:id\n    response:\n      status: 200\n      body: '{{\"id\": \"{{{{path-params.id}}}}\", \"mock\": \"{word}\"}}'\n"
    )
}

/// The word a seeded mock answers with, from its user and its place among the user's mocks.
fn seeded_word(user: usize, mock: usize) -> String {
    format!("m{mock}-s{user}")
}

/// Signs up `users` users, each with a handle `s<i>` and a personal workspace.
async fn seed_users(ports: &DatabasePorts, users: usize) -> Result<Vec<Workspace>, BoxError> {
    let mut workspaces = Vec::with_capacity(users);
    let mut tasks = JoinSet::new();
    for i in 0..users {
        let accounts = Arc::clone(&ports.accounts);
        tasks.spawn(async move {
            let now = SystemClock.now();
            let email = Email::parse(&format!("seed{i}@example.com"))?;
            let mut user = User::new(RandomIds.user_id(), email, now);
            accounts.create_user(&user, None).await?;
            user.choose_handle(Handle::parse(&format!("s{i}"))?)?;
            let workspace = Workspace::personal(RandomIds.workspace_id(), &user, now)?;
            accounts
                .create_personal_workspace(&user, &workspace)
                .await?;
            Ok::<_, BoxError>((i, workspace))
        });
        if tasks.len() >= SEED_BATCH || i + 1 == users {
            while let Some(done) = tasks.join_next().await {
                workspaces.push(done??);
            }
            progress("users", workspaces.len(), users);
        }
    }
    workspaces.sort_by_key(|(i, _)| *i);
    Ok(workspaces.into_iter().map(|(_, w)| w).collect())
}

/// Stores one enabled mock with its publication published on its revision and its DNS
/// side published.
async fn seed_mock(
    mocks: Arc<dyn MockRepository>,
    publications: Arc<dyn PublicationRepository>,
    workspace: Workspace,
    word: String,
    name: String,
) -> Result<(), BoxError> {
    let now = SystemClock.now();
    let zone = Zone::parse("localhost")?;
    let content = SpecSource::new(seeded_spec(&word))?;
    let mut mock = Mock::create(
        RandomIds.mock_id(),
        &workspace,
        MockName::parse(&name)?,
        &zone,
        content,
        now,
    );
    mock.set_enabled(true, now);
    mocks.create(&Scope::System, &mock, &[]).await?;
    let mut publication: Publication = publications.get(&Scope::System, mock.id).await?;
    publication.request_publish(mock.revision, now)?;
    publication.mark_published(mock.revision, now)?;
    // Its host verified, as ops leaves it: otherwise ops verifies every seeded host after
    // start, each verification a publication change that wakes the generator.
    publication.dns_requested(now)?;
    publication.dns_published(now)?;
    publications.save(&Scope::System, &publication, &[]).await?;
    Ok(())
}

/// Seeds `size` live mocks over about `size / 10` users in the database `url` names
/// (migrated first); the hosts of every mock, in order, with the word each answers.
async fn seed(url: &DatabaseUrl, size: usize) -> Result<Vec<(String, String)>, BoxError> {
    let resolver = Resolver::default();
    let database = resolver.database(url).await.map_err(|e| format!("{e:#}"))?;
    let ports = database.ports().clone();
    let users = size.div_ceil(MOCKS_PER_USER);
    let workspaces = seed_users(&ports, users).await?;
    let mut hosts = Vec::with_capacity(size);
    let mut tasks = JoinSet::new();
    let mut stored = 0;
    for i in 0..size {
        // Mock i is mock i / users of user i % users: the users share the mocks evenly.
        let (user, nth) = (i % users, i / users);
        let name = format!("m{nth}");
        let word = seeded_word(user, nth);
        hosts.push((format!("{name}-s{user}.localhost"), word.clone()));
        tasks.spawn(seed_mock(
            Arc::clone(&ports.mocks),
            Arc::clone(&ports.publications),
            workspaces[user].clone(),
            word,
            name,
        ));
        if tasks.len() >= SEED_BATCH || i + 1 == size {
            while let Some(done) = tasks.join_next().await {
                done??;
                stored += 1;
            }
            progress("mocks", stored, size);
        }
    }
    drop(ports);
    drop(database);
    resolver.close().await;
    Ok(hosts)
}

/// `what done/total` on stderr, over the previous one, and a new line at the end.
fn progress(what: &str, done: usize, total: usize) {
    eprint!("\r  seeding {what} {done}/{total}   ");
    if done == total {
        eprintln!();
    }
    std::io::stderr().flush().ok();
}

// ---------------------------------------------------------------------------------------
// Where one size keeps its state.

/// The state of one size, made fresh for it: the embedded defaults in its data directory,
/// or a database, a Redis stream and a bucket of its own on the servers.
struct Space {
    data_dir: PathBuf,
    services: Option<OnServices>,
}

/// What one size has of its own on the servers. The database is dropped and the stream's
/// keys deleted when this value goes; the bucket by [`Space::remove`].
struct OnServices {
    database: TestDb,
    stream: TestStream,
    redis: String,
    bucket: S3ObjectStore,
    /// The bucket as `moclojer-cloud --store` takes it.
    store_url: String,
    endpoint: String,
    credentials: (String, String),
}

impl Space {
    /// A fresh space under `data_dir`, on `servers` when given.
    async fn make(data_dir: PathBuf, servers: Option<&Servers>) -> Result<Self, BoxError> {
        let Some(servers) = servers else {
            return Ok(Self {
                data_dir,
                services: None,
            });
        };
        // TestDb panics when the server refuses: on a task, that is this size's error.
        let admin = servers.database.clone();
        let database = tokio::spawn(async move { TestDb::create(&admin).await })
            .await
            .map_err(|e| format!("create a database on {DATABASE_VAR}'s server: {e}"))?;
        let stream = TestStream::new(&servers.redis, "bench-scale");
        let name = unique_bucket("bench-scale");
        let (access, secret) = servers.credentials.clone();
        let mut config = S3Config::new(&servers.s3, name.clone(), access, secret.as_str());
        config.create_bucket = true;
        let bucket = S3ObjectStore::connect(&config)
            .await
            .map_err(|e| format!("create the bucket {name} on {}: {e:#}", servers.s3))?;
        let store_url = format!(
            "s3://{name}?endpoint={}&region={}",
            servers.s3, config.region
        );
        Ok(Self {
            data_dir,
            services: Some(OnServices {
                database,
                stream,
                redis: servers.redis.clone(),
                bucket,
                store_url,
                endpoint: servers.s3.clone(),
                credentials: servers.credentials.clone(),
            }),
        })
    }

    /// The database `moclojer-cloud` runs on.
    fn database_url(&self) -> Result<DatabaseUrl, BoxError> {
        match &self.services {
            None => Ok(DatabaseUrl::sqlite_file(
                self.data_dir.join("moclojer.sqlite"),
            )),
            Some(on) => Ok(DatabaseUrl::parse(on.database.url())?),
        }
    }

    /// The flags and environment that put `moclojer-cloud` in this space (none of the
    /// caller's own: only the data directory, or the servers).
    fn configure(&self, command: &mut Command) {
        command.arg("--data-dir").arg(&self.data_dir);
        for var in [
            "MOCLOJER_DATABASE_URL",
            "MOCLOJER_REDIS_URL",
            "MOCLOJER_REDIS_STREAM",
            "MOCLOJER_STORE",
            S3_ACCESS_KEY_VAR,
            S3_SECRET_KEY_VAR,
        ] {
            command.env_remove(var);
        }
        if let Some(on) = &self.services {
            command
                .args(["--database-url", on.database.url()])
                .args(["--redis-url", &on.redis])
                .args(["--redis-stream", on.stream.name()])
                .args(["--store", &on.store_url])
                .env(S3_ACCESS_KEY_VAR, &on.credentials.0)
                .env(S3_SECRET_KEY_VAR, &on.credentials.1);
        }
    }

    /// The bytes of what the store holds: the files under `store/`, or the bucket's objects.
    async fn store_bytes(&self) -> Result<u64, BoxError> {
        match &self.services {
            None => Ok(size_on_disk(&self.data_dir.join("store"))),
            Some(on) => Ok(on.bucket.list("").await?.iter().map(|o| o.size).sum()),
        }
    }

    /// Removes what the servers hold for this size: the bucket emptied and deleted, then
    /// (on drop) the database and the stream. Says on stderr what could not be removed.
    async fn remove(self) {
        let Some(on) = self.services else {
            return;
        };
        let name = on.bucket.bucket().to_owned();
        if let Err(e) = empty_bucket(&on.bucket).await {
            eprintln!("  the bucket {name} is left behind: {e}");
            return;
        }
        // moclojer-s3 has no call that deletes a bucket: an unsigned DELETE, which the test
        // server (moto) takes for an empty bucket.
        let deleted = reqwest::Client::new()
            .delete(format!("{}/{name}", on.endpoint))
            .send()
            .await;
        match deleted {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => eprintln!(
                "  the bucket {name} is left behind, empty: DELETE answered {}",
                answer.status()
            ),
            Err(e) => eprintln!("  the bucket {name} is left behind, empty: {e}"),
        }
    }
}

/// Deletes every object of `bucket`.
async fn empty_bucket(bucket: &S3ObjectStore) -> Result<(), BoxError> {
    let objects = bucket.list("").await?;
    let mut tasks = JoinSet::new();
    for object in objects {
        let bucket = bucket.clone();
        tasks.spawn(async move { bucket.delete(&object.key).await });
        if tasks.len() >= SEED_BATCH {
            tasks.join_next().await.transpose()?.transpose()?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The all-in-one as a process.

/// The all-in-one running; stopped (SIGTERM, then SIGKILL) when dropped.
struct Cloud {
    child: Child,
    api: SocketAddr,
    mocks: SocketAddr,
}

impl Cloud {
    fn start(binary: &Path, space: &Space, log: &Path) -> Result<Self, BoxError> {
        let (api, mocks) = (free_port()?, free_port()?);
        let log = std::fs::File::create(log)?;
        let mut command = Command::new(binary);
        space.configure(&mut command);
        let child = command
            .args(["--api-addr", &api.to_string()])
            .args(["--mocks-addr", &mocks.to_string()])
            .arg("--web-dir")
            .arg(space.data_dir.join("no-web-interface"))
            .args(["--log-filter", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        Ok(Self { child, api, mocks })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    fn check_running(&mut self) -> Result<(), BoxError> {
        match self.child.try_wait()? {
            Some(status) => Err(format!("moclojer-cloud exited: {status}").into()),
            None => Ok(()),
        }
    }

    /// Its I/O counters now.
    fn io(&self) -> Io {
        Io::of(self.pid())
    }

    /// Its resident memory now and at its peak, in bytes.
    fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, and SIGKILL when it has not exited within [`STOP_GRACE`].
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .ok();
        let asked = Instant::now();
        while asked.elapsed() < STOP_GRACE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("  moclojer-cloud did not stop within {STOP_GRACE:?}; killed");
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback address with a port free a moment ago.
fn free_port() -> Result<SocketAddr, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A process's I/O counters (`/proc/<pid>/io`) and CPU time (`/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, Default)]
struct Io {
    /// User and system CPU time, in clock ticks of 1/100 s.
    cpu_ticks: u64,
    /// Bytes handed to `read`-like calls.
    rchar: u64,
    /// Bytes handed to `write`-like calls.
    wchar: u64,
    /// Bytes sent to the block layer.
    write_bytes: u64,
}

impl Io {
    fn of(pid: u32) -> Self {
        let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // utime and stime: fields 14 and 15, the 12th and 13th after the command name (which
        // is in parentheses and may hold spaces).
        let after_name: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| after_name.get(i).and_then(|v| v.parse::<u64>().ok());
        Self {
            cpu_ticks: ticks(11).unwrap_or(0) + ticks(12).unwrap_or(0),
            rchar: field("rchar:"),
            wchar: field("wchar:"),
            write_bytes: field("write_bytes:"),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            cpu_ticks: self.cpu_ticks.saturating_sub(before.cpu_ticks),
            rchar: self.rchar.saturating_sub(before.rchar),
            wchar: self.wchar.saturating_sub(before.wchar),
            write_bytes: self.write_bytes.saturating_sub(before.write_bytes),
        }
    }
}

/// Total size of the files under `path`, in bytes.
fn size_on_disk(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| size_on_disk(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Asking hosts.

/// What one request to a host gave, with the bytes that crossed the connection.
struct Answer {
    right: bool,
    status: u16,
    bytes: u64,
}

/// `GET /hello` on `host` through `mocks`: whether it answered 200 with `word` in it.
async fn ask(mocks: SocketAddr, host: &str, word: &str) -> Answer {
    let mut answer = Answer {
        right: false,
        status: 0,
        bytes: 0,
    };
    let Ok(mut stream) = tokio::net::TcpStream::connect(mocks).await else {
        return answer;
    };
    let request = format!("GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return answer;
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.ok();
    let text = String::from_utf8_lossy(&bytes);
    answer.bytes = (request.len() + bytes.len()) as u64;
    answer.status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    answer.right = answer.status == 200 && text.contains(&format!("\"{word}\""));
    answer
}

/// The seeded hosts asked at start: the first, the last and a few random ones.
fn sample(hosts: &[(String, String)]) -> Vec<(String, String)> {
    let mut picked = vec![0, hosts.len() - 1];
    for _ in 0..RANDOM_SAMPLES {
        let random = uuid::Uuid::new_v4().as_u128();
        picked.push(usize::try_from(random % hosts.len() as u128).unwrap_or(0));
    }
    picked.sort_unstable();
    picked.dedup();
    picked.into_iter().map(|i| hosts[i].clone()).collect()
}

/// Waits until every host of `sample` answers with its word, or [`START_LIMIT`].
async fn wait_serving(cloud: &mut Cloud, sample: &[(String, String)]) -> Result<Timed, BoxError> {
    let started = Instant::now();
    let mut waiting: Vec<(&(String, String), u16)> = sample.iter().map(|e| (e, 0)).collect();
    while !waiting.is_empty() {
        if started.elapsed() > START_LIMIT {
            eprintln!();
            for ((host, _), status) in &waiting {
                eprintln!("  {host} not live; it last answered {status}");
            }
            return Ok(Timed::Timeout);
        }
        cloud.check_running()?;
        let mut still = Vec::new();
        for (entry, _) in waiting {
            let answer = ask(cloud.mocks, &entry.0, &entry.1).await;
            if !answer.right {
                still.push((entry, answer.status));
            }
        }
        waiting = still;
        let done = sample.len() - waiting.len();
        eprint!(
            "\r  starting: {done}/{} sample hosts live after {:.0} s   ",
            sample.len(),
            started.elapsed().as_secs_f64()
        );
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!();
    Ok(Timed::Took(started.elapsed()))
}

// ---------------------------------------------------------------------------------------
// Publishing through the api.

/// A signed-in client of the api.
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    /// Signs a user up as `bench`, with that handle.
    async fn sign_up(api: SocketAddr) -> Result<Self, BoxError> {
        let http = reqwest::Client::new();
        let base = format!("http://{api}/api/v1");
        let signup: Value = http
            .post(format!("{base}/auth/signup"))
            .json(&json!({"email": "bench@example.com", "password": "correct horse battery"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = signup["token"].as_str().ok_or("no token")?.to_owned();
        http.put(format!("{base}/me"))
            .bearer_auth(&token)
            .json(&json!({"handle": "bench"}))
            .send()
            .await?
            .error_for_status()?;
        Ok(Self { base, http, token })
    }

    /// POSTs `body` to `path`; the answer's JSON and the bytes of the exchange's bodies.
    async fn post(&self, path: &str, body: Value) -> Result<(Value, u64), BoxError> {
        let sent = body.to_string();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(sent.clone())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {text}").into());
        }
        let bytes = (sent.len() + text.len()) as u64;
        Ok((serde_json::from_str(&text).unwrap_or(Value::Null), bytes))
    }
}

/// The spec of a published mock: one endpoint answering `{"hello": "<word>"}`.
fn published_spec(word: &str) -> String {
    format!(
        "- endpoint:\n    method: GET\n    path: /hello\n    response:\n      status: 200\n      body: '{{\"hello\": \"{word}\"}}'\n"
    )
}

/// What one publish cost.
struct Publish {
    lag: Duration,
    io: Io,
    /// Bytes of the bench's own HTTP exchanges with the process meanwhile.
    traffic: u64,
    /// Answers refused with 429 while polling.
    limited: usize,
}

/// Creates mock `i` of the bench user and publishes it, timing the publish to its first
/// right answer; `None` when it is not live within [`LIVE_LIMIT`].
async fn publish_one(api: &Api, cloud: &mut Cloud, i: usize) -> Result<Option<Publish>, BoxError> {
    let word = format!("word{i}-{}", uuid::Uuid::new_v4().simple());
    let (mock, _) = api
        .post(
            "/mocks",
            json!({"workspace": "bench", "name": format!("live{i}"), "content": published_spec(&word)}),
        )
        .await?;
    let id = mock["id"].as_str().ok_or("no id")?.to_owned();
    let host = mock["host"].as_str().ok_or("no host")?.to_owned();
    let before = cloud.io();
    let sent = Instant::now();
    let (_, mut traffic) = api.post(&format!("/mocks/{id}/publish"), json!({})).await?;
    let mut limited = 0;
    loop {
        let answer = ask(cloud.mocks, &host, &word).await;
        traffic += answer.bytes;
        if answer.right {
            break;
        }
        limited += usize::from(answer.status == 429);
        if sent.elapsed() > LIVE_LIMIT {
            return Ok(None);
        }
        cloud.check_running()?;
        tokio::time::sleep(POLL).await;
    }
    let lag = sent.elapsed();
    Ok(Some(Publish {
        lag,
        io: cloud.io().since(before),
        traffic,
        limited,
    }))
}

/// `publishes` publishes one after the other; stops at the first that is not live in time.
async fn publish_all(
    cloud: &mut Cloud,
    publishes: usize,
) -> Result<(Vec<Publish>, bool), BoxError> {
    let api = Api::sign_up(cloud.api).await?;
    let mut done = Vec::with_capacity(publishes);
    for i in 0..publishes {
        match publish_one(&api, cloud, i).await? {
            Some(publish) => done.push(publish),
            None => {
                eprintln!("\n  publish {} not live within {LIVE_LIMIT:?}", i + 1);
                return Ok((done, true));
            }
        }
        eprint!(
            "\r  publishing {}/{publishes} (last {:.0} ms)   ",
            i + 1,
            done.last().map_or(0.0, |p| p.lag.as_secs_f64() * 1000.0)
        );
    }
    eprintln!();
    Ok((done, false))
}

// ---------------------------------------------------------------------------------------
// One size, and the table.

/// A duration that may have run out.
#[derive(Debug, Clone, Copy)]
enum Timed {
    Took(Duration),
    Timeout,
}

/// What one size measured.
#[derive(Default)]
struct Row {
    size: usize,
    seed: Option<Duration>,
    start: Option<Timed>,
    /// What the process did in the [`IDLE`] after start.
    idle: Option<Io>,
    publishes: Vec<Publish>,
    publish_timeout: bool,
    memory: Option<(u64, u64)>,
    store: Option<u64>,
    error: Option<String>,
}

/// Seeds, starts, publishes and measures one size; the row says what went wrong, if
/// anything did.
async fn run_size(binary: &Path, size: usize, publishes: usize, servers: Option<&Servers>) -> Row {
    let mut row = Row {
        size,
        ..Row::default()
    };
    if let Err(e) = measure(binary, &mut row, publishes, servers).await {
        row.error = Some(e.to_string());
    }
    row
}

/// [`run_size`] in a fresh [`Space`], removed after.
async fn measure(
    binary: &Path,
    row: &mut Row,
    publishes: usize,
    servers: Option<&Servers>,
) -> Result<(), BoxError> {
    let work = tempfile::Builder::new().prefix("bench-scale-").tempdir()?;
    let log = work.path().join("moclojer-cloud.log");
    eprintln!("\n{} live mocks", row.size);
    let space = Space::make(work.path().join("data"), servers).await?;
    let outcome = measure_in(binary, &space, &log, row, publishes).await;
    space.remove().await;
    outcome
}

async fn measure_in(
    binary: &Path,
    space: &Space,
    log: &Path,
    row: &mut Row,
    publishes: usize,
) -> Result<(), BoxError> {
    let seeding = Instant::now();
    let hosts = seed(&space.database_url()?, row.size).await?;
    row.seed = Some(seeding.elapsed());
    let mut cloud = Cloud::start(binary, space, log)?;
    let outcome = run_cloud(&mut cloud, &hosts, row, publishes).await;
    row.memory = Some(cloud.memory());
    match space.store_bytes().await {
        Ok(bytes) => row.store = Some(bytes),
        Err(e) => eprintln!("  the store's size is unknown: {e}"),
    }
    cloud.stop();
    let timed_out = row.publish_timeout || matches!(row.start, Some(Timed::Timeout));
    if outcome.is_err() || timed_out {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(20).collect();
        eprintln!("  the process said (last lines):");
        for line in tail.into_iter().rev() {
            eprintln!("    {line}");
        }
    }
    outcome
}

async fn run_cloud(
    cloud: &mut Cloud,
    hosts: &[(String, String)],
    row: &mut Row,
    publishes: usize,
) -> Result<(), BoxError> {
    let start = wait_serving(cloud, &sample(hosts)).await?;
    row.start = Some(start);
    if matches!(start, Timed::Timeout) {
        return Ok(());
    }
    let before = cloud.io();
    tokio::time::sleep(IDLE).await;
    row.idle = Some(cloud.io().since(before));
    let (done, timed_out) = publish_all(cloud, publishes).await?;
    row.publishes = done;
    row.publish_timeout = timed_out;
    Ok(())
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn bytes(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.0} KB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

/// Lag percentiles, and mean CPU and I/O per publish: p50, worst, CPU, written, to disk,
/// read.
fn publish_cells(row: &Row) -> [String; 6] {
    let n = row.publishes.len();
    if n == 0 {
        let what = if row.publish_timeout || matches!(row.start, Some(Timed::Timeout)) {
            "timeout"
        } else {
            "-"
        };
        return std::array::from_fn(|_| what.to_owned());
    }
    let mut lags: Vec<Duration> = row.publishes.iter().map(|p| p.lag).collect();
    lags.sort();
    let mean = |f: &dyn Fn(&Publish) -> u64| {
        row.publishes.iter().map(|p| f(p) as f64).sum::<f64>() / n as f64
    };
    let worst = if row.publish_timeout {
        "timeout".to_owned()
    } else {
        ms(lags[n - 1])
    };
    [
        ms(lags[(n - 1) / 2]),
        worst,
        ms(Duration::from_secs_f64(mean(&|p| p.io.cpu_ticks) / 100.0)),
        bytes(mean(&|p| p.io.wchar.saturating_sub(p.traffic))),
        bytes(mean(&|p| p.io.write_bytes)),
        bytes(mean(&|p| p.io.rchar.saturating_sub(p.traffic))),
    ]
}

/// `on` says where the all-in-one kept its state.
fn print_table(rows: &[Row], publishes: usize, on: &str) {
    println!("\npublish cost by live mocks, on {on} ({publishes} publishes a size):\n");
    println!(
        "| live mocks | start | publish-to-live p50 | worst | CPU/publish | written/publish | to disk/publish | read/publish | RSS | peak RSS | store |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let start = match row.start {
            Some(Timed::Took(d)) => ms(d),
            Some(Timed::Timeout) => "timeout".to_owned(),
            None => "-".to_owned(),
        };
        let [p50, worst, cpu, written, disk, read] = publish_cells(row);
        let (rss, peak) = row
            .memory
            .map_or(("-".to_owned(), "-".to_owned()), |(r, p)| {
                (bytes(r as f64), bytes(p as f64))
            });
        let store = row.store.map_or("-".to_owned(), |s| bytes(s as f64));
        println!(
            "| {} | {start} | {p50} | {worst} | {cpu} | {written} | {disk} | {read} | {rss} | {peak} | {store} |",
            row.size
        );
    }
    println!();
    for row in rows {
        let seed = row.seed.map_or("-".to_owned(), ms);
        let limited: usize = row.publishes.iter().map(|p| p.limited).sum();
        println!(
            "{} live mocks: seeded in {seed}; {} publishes live; {limited} polls answered 429",
            row.size,
            row.publishes.len()
        );
        if let Some(idle) = row.idle {
            let per_second = |n: u64| bytes(n as f64 / IDLE.as_secs_f64());
            println!(
                "  idle, the {} s after start: CPU {:.0} %, {}/s written, {}/s to disk, {}/s read",
                IDLE.as_secs(),
                idle.cpu_ticks as f64 / IDLE.as_secs_f64(),
                per_second(idle.wchar),
                per_second(idle.write_bytes),
                per_second(idle.rchar),
            );
        }
        if let Some(error) = &row.error {
            println!("  failed: {error}");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let mut rows = Vec::with_capacity(args.sizes.len());
    let servers = args.servers.as_ref();
    for &size in &args.sizes {
        rows.push(run_size(&args.cloud, size, args.publishes, servers).await);
    }
    let on = match servers {
        None => "the embedded defaults: SQLite, the in-process queue, a folder store",
        Some(_) => {
            "PostgreSQL, Redis and S3; CPU, I/O and memory are moclojer-cloud's own, not the servers'"
        }
    };
    print_table(&rows, args.publishes, on);
    if servers.is_some() {
        println!(
            "\nOn the servers, written and read miss most of what moclojer-cloud exchanges with them: \
             /proc/<pid>/io counts read(2) and write(2) but not recvfrom(2) and sendto(2), \
             through which it gets every answer and sends part of its requests."
        );
    }
    Ok(())
}
