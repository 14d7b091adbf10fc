//! The URLs a deployment is configured with, read once by one set of rules:
//! [`DatabaseUrl`] (`--database-url`), [`StoreUrl`] (`--store`), [`QueueUrl`]
//! (`--redis-url`), [`JournalUrl`] (`--journal-url`) and [`StateUrl`] (`--state-url`).
//!
//! Every form any app has accepted is accepted by every app. A URL may hold a password, so
//! none of these types ever shows one: their `Display` and `Debug` forms drop it, and an
//! error names the flag and the scheme, never the URL itself.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use moclojer_s3::S3Config;

/// The environment variable the S3 access key id is read from (never from a URL).
pub const S3_ACCESS_KEY_VAR: &str = "MOCLOJER_S3_ACCESS_KEY";
/// The environment variable the S3 secret key is read from (never from a URL).
pub const S3_SECRET_KEY_VAR: &str = "MOCLOJER_S3_SECRET_KEY";

const DATABASE_FORMS: &str = "use sqlite:PATH or postgres://user@host:5432/db";
const STORE_FORMS: &str = "use file:///path/to/dir, a path, or s3://bucket?endpoint=...";
const QUEUE_FORMS: &str = "use redis://host:6379";

/// Why a URL was refused: the flag it was given to and what is wrong, never the URL (it may
/// hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {reason}")]
pub struct UrlError {
    flag: &'static str,
    reason: String,
}

impl UrlError {
    fn new(flag: &'static str, reason: impl Into<String>) -> Self {
        Self {
            flag,
            reason: reason.into(),
        }
    }

    /// What is wrong with the URL.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The lower-case scheme of `raw`, when it is a URL.
fn scheme(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .map(|url| url.scheme().to_ascii_lowercase())
}

/// `raw` with its scheme in lower case (the rest as written).
fn lower_scheme(raw: &str) -> String {
    match raw.split_once(':') {
        Some((scheme, rest)) => format!("{}:{rest}", scheme.to_ascii_lowercase()),
        None => raw.to_owned(),
    }
}

/// `raw` without its password, for logs and errors.
pub(crate) fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            if url.set_password(None).is_err() {
                return "<a url with a password>".to_owned();
            }
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) if raw.contains('@') => "<not a url>".to_owned(),
        Err(_) => raw.to_owned(),
    }
}

/// The database a deployment keeps its state in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum DatabaseUrl {
    /// `memory://`: every repository in this process, gone when it ends.
    Memory,
    /// `sqlite:PATH` or `sqlite://PATH`: a SQLite file, made (with its folder) when
    /// missing.
    SqliteFile(PathBuf),
    /// A SQLite URL with options (`sqlite:PATH?mode=ro`, `sqlite::memory:`), taken as
    /// written: without `mode=rwc` a missing file is an error.
    SqliteUrl(String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads a database URL: `sqlite:PATH`, `sqlite://PATH`, a SQLite URL with options,
    /// `postgres://` (`postgresql://`), or `memory://`. The scheme is case-insensitive.
    ///
    /// # Errors
    /// When it is empty, not a URL, or of another scheme; the message names the scheme,
    /// never the URL.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let flag = "--database-url";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::new(
                flag,
                format!("it is empty; {DATABASE_FORMS}"),
            ));
        }
        match scheme(raw).as_deref() {
            Some("memory") => Ok(Self::Memory),
            Some("sqlite") => Self::sqlite(&lower_scheme(raw)),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(lower_scheme(raw))),
            Some(other) => Err(UrlError::new(
                flag,
                format!("the scheme {other:?} is not a database moclojer knows; {DATABASE_FORMS}"),
            )),
            None => Err(UrlError::new(
                flag,
                format!("it is not a URL; {DATABASE_FORMS}"),
            )),
        }
    }

    pub(crate) fn sqlite(url: &str) -> Result<Self, UrlError> {
        let rest = url.strip_prefix("sqlite:").unwrap_or(url);
        if rest.contains('?') || rest.trim_start_matches("//") == ":memory:" {
            return Ok(Self::SqliteUrl(url.to_owned()));
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(UrlError::new(
                "--database-url",
                "sqlite: needs a path, e.g. sqlite:moclojer.sqlite",
            ));
        }
        Ok(Self::SqliteFile(PathBuf::from(path)))
    }

    /// A SQLite file, made when missing.
    pub fn sqlite_file(path: impl Into<PathBuf>) -> Self {
        Self::SqliteFile(path.into())
    }
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for DatabaseUrl {
    /// A form safe to log: the adapter and where, without a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::SqliteFile(path) => write!(f, "sqlite {}", path.display()),
            Self::SqliteUrl(url) => write!(f, "sqlite {}", without_password(url)),
            Self::Postgres(url) => write!(f, "postgres {}", without_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The object store the generated configs live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory://`: objects in this process, gone when it ends.
    Memory,
    /// `file:///dir` or a plain path: a folder on this machine, made when missing.
    Dir(PathBuf),
    /// `s3://bucket[/prefix][?options]`: a bucket on S3 or an S3-compatible server. The
    /// credentials are empty here: they come from the environment
    /// ([`S3_ACCESS_KEY_VAR`], [`S3_SECRET_KEY_VAR`]) when the store is opened.
    S3(S3Config),
}

impl StoreUrl {
    /// Reads a store URL: `file:///dir` (`file://localhost/dir`), a plain path (anything
    /// that is not a URL, such as `/srv/store` or `./store`), `s3://bucket[/prefix]?...`
    /// (the options of [`S3Config::from_url`]) or `memory://`.
    ///
    /// # Errors
    /// When it is empty, of another scheme, a file URL names a host, no absolute path or
    /// the root folder, or the S3 URL is refused (credentials in it included).
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let flag = "--store";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::new(flag, format!("it is empty; {STORE_FORMS}")));
        }
        let Ok(url) = url::Url::parse(raw) else {
            return Ok(Self::Dir(PathBuf::from(raw)));
        };
        match url.scheme() {
            "memory" => Ok(Self::Memory),
            "file" => Self::folder(&url),
            "s3" => Self::bucket(raw, &url),
            other => Err(UrlError::new(
                flag,
                format!(
                    "the scheme {other:?} is not an object store moclojer knows; {STORE_FORMS}"
                ),
            )),
        }
    }

    fn folder(url: &url::Url) -> Result<Self, UrlError> {
        let refuse = |reason: String| Err(UrlError::new("--store", reason));
        if url.query().is_some() || url.fragment().is_some() {
            return refuse("a file URL takes no query or fragment".to_owned());
        }
        match url.host_str() {
            None | Some("" | "localhost") => {}
            Some(host) => {
                return refuse(format!(
                    "a file URL names a folder on this machine, not on {host:?}; for a path use three slashes: file:///path/to/dir"
                ));
            }
        }
        if url.path() == "/" {
            return refuse("the root folder is not an object store; name a folder".to_owned());
        }
        match url.to_file_path() {
            Ok(path) => Ok(Self::Dir(path)),
            Err(()) => refuse("the file URL names no absolute path".to_owned()),
        }
    }

    fn bucket(raw: &str, url: &url::Url) -> Result<Self, UrlError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::new(
                "--store",
                format!(
                    "credentials do not belong in the URL (it ends up in logs); set {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR}"
                ),
            ));
        }
        S3Config::from_url(raw, "", "").map(Self::S3).map_err(|e| {
            let message = e.message();
            let prefix = format!("{raw:?} is not an s3 url: ");
            UrlError::new("--store", message.strip_prefix(&prefix).unwrap_or(message))
        })
    }
}

impl FromStr for StoreUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for StoreUrl {
    /// A form safe to log: the folder, or the bucket, prefix and endpoint (never
    /// credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Dir(path) => write!(f, "folder {}", path.display()),
            Self::S3(config) => {
                write!(f, "s3 bucket {}", config.bucket)?;
                if let Some(prefix) = &config.prefix {
                    write!(f, " under {prefix}")?;
                }
                write!(f, " at {} ({})", config.endpoint, config.region)
            }
        }
    }
}

/// The event queue the services share.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum QueueUrl {
    /// `memory://`: a queue inside this process, shared by the apps it runs.
    Memory,
    /// `redis://[user:password@]host[:port][/db]`: Redis Streams, on `stream` (the
    /// adapter's default stream when `None`).
    Redis {
        /// The server's URL.
        url: String,
        /// The stream every service of the deployment uses.
        stream: Option<String>,
    },
}

impl QueueUrl {
    /// Reads a queue URL: `redis://…` or `memory://`.
    ///
    /// # Errors
    /// When it is empty, not a URL, or of another scheme (`rediss://` included: this build
    /// has no TLS for Redis); the message never holds the URL.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let flag = "--redis-url";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::new(flag, format!("it is empty; {QUEUE_FORMS}")));
        }
        match scheme(raw).as_deref() {
            Some("memory") => Ok(Self::Memory),
            Some("redis") => Ok(Self::Redis {
                url: lower_scheme(raw),
                stream: None,
            }),
            Some(other) => Err(UrlError::new(
                flag,
                format!("the scheme {other:?} is not a queue moclojer knows; {QUEUE_FORMS}"),
            )),
            None => Err(UrlError::new(
                flag,
                format!("it is not a URL; {QUEUE_FORMS}"),
            )),
        }
    }

    /// The same queue on `stream` (Redis only; `None` keeps the default).
    #[must_use]
    pub fn with_stream(self, stream: Option<String>) -> Self {
        match self {
            Self::Redis { url, stream: old } => Self::Redis {
                url,
                stream: stream.or(old),
            },
            Self::Memory => Self::Memory,
        }
    }
}

impl FromStr for QueueUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for QueueUrl {
    /// A form safe to log: the adapter, the server without its password, and the stream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis { url, stream } => {
                write!(f, "redis {}", without_password(url))?;
                match stream {
                    Some(stream) => write!(f, " (stream {stream})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueUrl({self})")
    }
}

const JOURNAL_FORMS: &str = "use memory://, redis://host:6379 or sqlite:PATH";

/// Where the request journal is kept (`--journal-url`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum JournalUrl {
    /// `memory://`: in this process, shared by the apps it runs (the all-in-one's api and
    /// mock server), gone when it ends.
    Memory,
    /// `redis://…`: a capped stream per host, shared by every mock server replica and the
    /// api; keys start with `prefix` (the adapter's default when `None`).
    Redis {
        /// The server's URL.
        url: String,
        /// What every key starts with.
        prefix: Option<String>,
    },
    /// `sqlite:…`: a table in a SQLite file (the all-in-one's database).
    Sqlite(DatabaseUrl),
}

impl JournalUrl {
    /// Reads a journal URL: `memory://`, `redis://…` or a SQLite URL (`sqlite:PATH`).
    ///
    /// # Errors
    /// When it is empty, not a URL, or of another scheme; the message never holds the URL.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let flag = "--journal-url";
        let raw = raw.trim();
        match scheme(raw).as_deref() {
            Some("memory") => Ok(Self::Memory),
            Some("redis") => Ok(Self::Redis {
                url: lower_scheme(raw),
                prefix: None,
            }),
            Some("sqlite") => DatabaseUrl::sqlite(&lower_scheme(raw))
                .map(Self::Sqlite)
                .map_err(|e| UrlError::new(flag, e.reason)),
            Some(other) => Err(UrlError::new(
                flag,
                format!("the scheme {other:?} is not a journal moclojer knows; {JOURNAL_FORMS}"),
            )),
            None => Err(UrlError::new(
                flag,
                format!("it is not a URL; {JOURNAL_FORMS}"),
            )),
        }
    }
}

impl FromStr for JournalUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl From<&QueueUrl> for JournalUrl {
    /// The journal on the queue's server: Redis for Redis (keys `{stream}:journal:{host}`
    /// when the deployment names its stream, so deployments sharing a server stay apart),
    /// this process for memory.
    fn from(queue: &QueueUrl) -> Self {
        match on_queue_server(queue) {
            None => Self::Memory,
            Some((url, prefix)) => Self::Redis { url, prefix },
        }
    }
}

impl fmt::Display for JournalUrl {
    /// A form safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis { url, prefix } => redis_keys(f, url, prefix.as_deref(), "journal"),
            Self::Sqlite(database) => database.fmt(f),
        }
    }
}

impl fmt::Debug for JournalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JournalUrl({self})")
    }
}

/// The Redis server of `queue` and the key prefix a store kept there uses (its stream's
/// name, so deployments sharing a server stay apart); `None` for a queue in memory.
fn on_queue_server(queue: &QueueUrl) -> Option<(String, Option<String>)> {
    match queue {
        QueueUrl::Memory => None,
        QueueUrl::Redis { url, stream } => {
            Some((url.clone(), stream.as_ref().map(|s| format!("{s}:"))))
        }
    }
}

/// A Redis store in a form safe to log: the server without its password, and its `kind`
/// of keys under `prefix` when there is one.
fn redis_keys(
    f: &mut fmt::Formatter<'_>,
    url: &str,
    prefix: Option<&str>,
    kind: &str,
) -> fmt::Result {
    write!(f, "redis {}", without_password(url))?;
    match prefix {
        Some(prefix) => write!(f, " (keys {prefix}{kind}:*)"),
        None => Ok(()),
    }
}

const STATE_FORMS: &str = "use memory:// or redis://host:6379";

/// Where stateful mocks keep their state (`--state-url`): sequence positions, scenario
/// states and resource records, per host.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum StateUrl {
    /// `memory://`: in this process, shared by the apps it runs (the all-in-one's api and
    /// mock server, or one standalone server), gone when it ends.
    Memory,
    /// `redis://…`: shared by every mock server replica and the api; keys start with
    /// `prefix` (the adapter's default when `None`).
    Redis {
        /// The server's URL.
        url: String,
        /// What every key starts with.
        prefix: Option<String>,
    },
}

impl StateUrl {
    /// Reads a state URL: `memory://` or `redis://…`. The scheme is case-insensitive.
    ///
    /// # Errors
    /// When it is empty, not a URL, or of another scheme (`rediss://` included: this build
    /// has no TLS for Redis); the message never holds the URL.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let flag = "--state-url";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::new(flag, format!("it is empty; {STATE_FORMS}")));
        }
        match scheme(raw).as_deref() {
            Some("memory") => Ok(Self::Memory),
            Some("redis") => Ok(Self::Redis {
                url: lower_scheme(raw),
                prefix: None,
            }),
            Some(other) => Err(UrlError::new(
                flag,
                format!("the scheme {other:?} is not a state store moclojer knows; {STATE_FORMS}"),
            )),
            None => Err(UrlError::new(
                flag,
                format!("it is not a URL; {STATE_FORMS}"),
            )),
        }
    }
}

impl FromStr for StateUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl From<&QueueUrl> for StateUrl {
    /// The state on the queue's server: Redis for Redis (keys `{stream}:state:*` when the
    /// deployment names its stream, so deployments sharing a server stay apart), this
    /// process for memory.
    fn from(queue: &QueueUrl) -> Self {
        match on_queue_server(queue) {
            None => Self::Memory,
            Some((url, prefix)) => Self::Redis { url, prefix },
        }
    }
}

impl fmt::Display for StateUrl {
    /// A form safe to log: the adapter, the server without its password, and the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis { url, prefix } => redis_keys(f, url, prefix.as_deref(), "state"),
        }
    }
}

impl fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateUrl({self})")
    }
}

/// The command-line parser of a URL flag: the URL's own rules, and an error that never
/// repeats the value (clap's default would print it whole, password included).
#[derive(Clone, Copy)]
pub struct UrlParser<T> {
    parse: fn(&str) -> Result<T, UrlError>,
}

impl<T> fmt::Debug for UrlParser<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UrlParser")
    }
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for UrlParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        use clap::error::ErrorKind;
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(ErrorKind::InvalidUtf8, "a URL flag's value is not UTF-8\n")
                .with_cmd(cmd)
        })?;
        (self.parse)(text).map_err(|e| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{e}\n")).with_cmd(cmd)
        })
    }
}

macro_rules! url_flag {
    ($type:ty) => {
        impl clap::builder::ValueParserFactory for $type {
            type Parser = UrlParser<$type>;

            fn value_parser() -> Self::Parser {
                UrlParser {
                    parse: <$type>::parse,
                }
            }
        }
    };
}

url_flag!(DatabaseUrl);
url_flag!(StoreUrl);
url_flag!(QueueUrl);
url_flag!(JournalUrl);
url_flag!(StateUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_picked_by_scheme() {
        let cases = [
            (
                "sqlite:/var/lib/moclojer/db.sqlite",
                DatabaseUrl::SqliteFile("/var/lib/moclojer/db.sqlite".into()),
            ),
            (
                "sqlite:///var/lib/moclojer/db.sqlite",
                DatabaseUrl::SqliteFile("/var/lib/moclojer/db.sqlite".into()),
            ),
            (
                "sqlite://data/db.sqlite",
                DatabaseUrl::SqliteFile("data/db.sqlite".into()),
            ),
            (
                "sqlite:moclojer.sqlite",
                DatabaseUrl::SqliteFile("moclojer.sqlite".into()),
            ),
            (
                "SQLITE:moclojer.sqlite",
                DatabaseUrl::SqliteFile("moclojer.sqlite".into()),
            ),
            (
                "sqlite://db.sqlite?mode=rwc",
                DatabaseUrl::SqliteUrl("sqlite://db.sqlite?mode=rwc".to_owned()),
            ),
            (
                "sqlite::memory:",
                DatabaseUrl::SqliteUrl("sqlite::memory:".to_owned()),
            ),
            ("memory://", DatabaseUrl::Memory),
            (
                "postgres://moclojer:pw@db.internal:5432/moclojer",
                DatabaseUrl::Postgres("postgres://moclojer:pw@db.internal:5432/moclojer".into()),
            ),
            (
                "postgresql://db.internal/moclojer?sslmode=require",
                DatabaseUrl::Postgres("postgresql://db.internal/moclojer?sslmode=require".into()),
            ),
            (
                " POSTGRES://db/moclojer ",
                DatabaseUrl::Postgres("postgres://db/moclojer".into()),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(DatabaseUrl::parse(raw), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn unknown_database_schemes_are_refused_without_echoing_the_url() {
        for (url, named) in [
            ("mysql://root:hunter2@db/moclojer", "\"mysql\""),
            ("redis://127.0.0.1:6379", "\"redis\""),
            ("s3://bucket", "\"s3\""),
        ] {
            let err = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(err.starts_with("--database-url"), "{err}");
            assert!(err.contains(named), "{err}");
            assert!(err.contains("sqlite:PATH or postgres://"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        for url in ["", "   ", "db.sqlite", "/var/lib/db.sqlite"] {
            let err = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains("sqlite:PATH or postgres://"), "{url:?}: {err}");
        }
        let err = DatabaseUrl::parse("sqlite:").unwrap_err().to_string();
        assert!(err.contains("needs a path"), "{err}");
    }

    #[test]
    fn stores_are_picked_by_scheme() {
        let cases = [
            ("file:///srv/moclojer/store", "/srv/moclojer/store"),
            ("file://localhost/srv/store", "/srv/store"),
            ("file:///tmp/with%20space", "/tmp/with space"),
            ("/srv/store", "/srv/store"),
            ("./.moclojer/store", "./.moclojer/store"),
            ("store", "store"),
        ];
        for (raw, path) in cases {
            assert_eq!(
                StoreUrl::parse(raw),
                Ok(StoreUrl::Dir(path.into())),
                "{raw}"
            );
        }
        assert_eq!(StoreUrl::parse("memory://"), Ok(StoreUrl::Memory));
        let Ok(StoreUrl::S3(config)) =
            StoreUrl::parse("s3://moclojer/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1")
        else {
            panic!("an s3 store")
        };
        assert_eq!(config.bucket, "moclojer");
        assert_eq!(config.prefix.as_deref(), Some("prod"));
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(config.region, "eu-west-1");
        assert!(config.access_key.is_empty() && config.secret_key.expose().is_empty());
    }

    #[test]
    fn bad_stores_are_refused_with_the_reason() {
        let refused = [
            ("file://relative/dir", "three slashes"),
            ("file://example.com/srv", "not on \"example.com\""),
            ("file:///", "the root folder"),
            ("file:///srv?x=1", "no query"),
            ("file:///srv#x", "no query or fragment"),
            ("s3://user:pass@bucket", "credentials do not belong"),
            ("s3://bucket?colour=blue", "unknown option"),
            ("s3://bucket?region=a&region=b", "given twice"),
            ("s3://", "names no bucket"),
            (
                "ftp://files.example.com/store",
                "the scheme \"ftp\" is not an object store",
            ),
            ("gs://bucket", "file:///path/to/dir"),
            ("http://127.0.0.1:9000/bucket", "s3://bucket"),
            ("", "it is empty"),
        ];
        for (raw, reason) in refused {
            let err = StoreUrl::parse(raw).expect_err(raw);
            assert!(err.reason().contains(reason), "{raw}: {err}");
            assert!(err.to_string().starts_with("--store"), "{err}");
            assert!(!err.to_string().contains("pass@"), "{err}");
        }
        let err = StoreUrl::parse("s3://key:secret@bucket").unwrap_err();
        assert!(err.reason().contains(S3_ACCESS_KEY_VAR), "{err}");
    }

    #[test]
    fn queues_are_picked_by_scheme() {
        assert_eq!(
            QueueUrl::parse("redis://user:pw@redis.internal:6379/2"),
            Ok(QueueUrl::Redis {
                url: "redis://user:pw@redis.internal:6379/2".to_owned(),
                stream: None
            })
        );
        assert_eq!(QueueUrl::parse("memory://"), Ok(QueueUrl::Memory));
        let on_stream = QueueUrl::parse("redis://127.0.0.1:6379")
            .unwrap()
            .with_stream(Some("s".to_owned()));
        assert_eq!(
            on_stream.to_string(),
            "redis redis://127.0.0.1:6379 (stream s)"
        );
        for url in [
            "amqp://user:hunter2@rabbit/",
            "rediss://redis.internal:6380",
            "127.0.0.1:6379",
            "",
        ] {
            let err = QueueUrl::parse(url).unwrap_err().to_string();
            assert!(err.starts_with("--redis-url"), "{err}");
            assert!(err.contains("redis://host:6379"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn flags_never_repeat_a_refused_url() {
        use clap::Parser;

        #[derive(Debug, Parser)]
        struct Args {
            #[arg(long)]
            database_url: DatabaseUrl,
            #[arg(long)]
            redis_url: Option<QueueUrl>,
            #[arg(long)]
            store: Option<StoreUrl>,
        }
        let parsed = Args::try_parse_from([
            "x",
            "--database-url",
            "postgres://u:pw@db/m",
            "--redis-url",
            "memory://",
            "--store",
            "/srv/store",
        ])
        .unwrap();
        assert_eq!(parsed.redis_url, Some(QueueUrl::Memory));
        assert_eq!(parsed.store, Some(StoreUrl::Dir("/srv/store".into())));
        for argv in [
            ["x", "--database-url", "mysql://root:hunter2@db/m"],
            ["x", "--redis-url", "amqp://user:hunter2@rabbit/"],
            ["x", "--store", "s3://key:hunter2@bucket"],
        ] {
            let err = Args::try_parse_from(argv).unwrap_err().to_string();
            assert!(
                err.contains("the scheme") || err.contains("credentials"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn states_are_picked_by_scheme_and_follow_the_queue() {
        assert_eq!(StateUrl::parse("memory://"), Ok(StateUrl::Memory));
        assert_eq!(
            StateUrl::parse(" REDIS://:pw@redis.internal:6379/2 "),
            Ok(StateUrl::Redis {
                url: "redis://:pw@redis.internal:6379/2".to_owned(),
                prefix: None
            })
        );
        for url in [
            "",
            "sqlite:state.sqlite",
            "rediss://user:hunter2@redis:6380",
            "127.0.0.1:6379",
        ] {
            let err = StateUrl::parse(url).unwrap_err().to_string();
            assert!(err.starts_with("--state-url"), "{err}");
            assert!(err.contains("memory:// or redis://host:6379"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert_eq!(StateUrl::from(&QueueUrl::Memory), StateUrl::Memory);
        let queue = QueueUrl::parse("redis://:hunter2@redis:6379")
            .unwrap()
            .with_stream(Some("deploy".to_owned()));
        let state = StateUrl::from(&queue);
        assert_eq!(
            state,
            StateUrl::Redis {
                url: "redis://:hunter2@redis:6379".to_owned(),
                prefix: Some("deploy:".to_owned())
            }
        );
        let shown = format!("{state} {state:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            state.to_string(),
            "redis redis://redis:6379 (keys deploy:state:*)"
        );
    }

    #[test]
    fn shown_urls_hide_passwords() {
        let database = DatabaseUrl::parse("postgres://moclojer:hunter2@db:5432/m").unwrap();
        let queue = QueueUrl::parse("redis://:hunter2@redis:6379").unwrap();
        let shown = format!("{database} {database:?} {queue} {queue:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db:5432/m"), "{shown}");
        assert!(shown.contains("redis://redis:6379"), "{shown}");
        assert_eq!(without_password("not a url but@secret"), "<not a url>");
    }
}
