//! [`RedisJournal`]: the `RequestJournal` port on one Redis stream per host.
//!
//! Each host's records are the entries of the stream `{prefix}journal:{host}` (by default
//! `moclojer:journal:{host}`), one JSON [`RequestRecord`] per entry in its `data` field, so
//! every replica of a server on the same Redis sees one journal. An append trims the stream
//! to about `max_records` entries (`XADD MAXLEN ~`: whole radix-tree nodes go, which costs
//! Redis far less than exact trimming at every request) and sets the key's TTL to `max_age`
//! (`PEXPIRE`), in one `MULTI` per call; a listing first trims exactly (`XTRIM MAXLEN =`),
//! then reads newest first (`XREVRANGE`) and leaves out records older than `max_age` by the
//! journal's clock. Ids are the entries'
//! stream ids, `<ms>-<seq>`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::interfaces::{ClientLike, TransactionInterface};
use fred::types::{ClusterHash, CustomCommand, Value};
use moclojer_domain::journal::{RequestRecord, Retention};
use moclojer_ports::{
    Clock, JournalEntry, JournalPage, JournalQuery, PortError, PortResult, RecordId,
    RequestJournal, take_page,
};

use crate::config::RedisConfig;
use crate::error::{bad_reply, port_error};
use crate::reply::{self, Entry};
use crate::single::{Connection, GRACE};

/// The prefix of the journal's keys unless told otherwise: a host's stream is
/// `moclojer:journal:{host}`.
pub const DEFAULT_JOURNAL_PREFIX: &str = "moclojer:";

/// The field an entry keeps its record's JSON in.
const DATA_FIELD: &str = "data";

/// At most this many entries are read per `XREVRANGE`.
const CHUNK: usize = 200;

/// The longest TTL set, in milliseconds (Redis refuses one that overflows with the
/// current time added): about 146 million years.
const MAX_TTL_MS: u64 = (i64::MAX / 2) as u64;

/// The request journal on Redis: one stream per host, shared by every server (replica)
/// connected to the same Redis.
///
/// - `append` groups the records by host and, in one `MULTI`, runs one script per host
///   that adds its records in the order given (`XADD key MAXLEN ~ max_records * data
///   <json>`), then refreshes the key's TTL to `max_age` (`PEXPIRE`): a host holds at most `max_records` and one stream
///   node (100 entries by default) more, and a host no one sends requests to goes away by
///   itself.
/// - `list` trims the stream to exactly `max_records` first (`XTRIM MAXLEN =`), so no
///   listing ever shows more.
/// - `list` reads newest first, in chunks, at most `max_records` entries; an entry that does
///   not hold a record is left out (logged). Records older than `max_age` by the journal's
///   clock are never listed. A cursor that is not a stream id is `Invalid`.
/// - `clear` deletes the host's stream.
///
/// While Redis is down calls fail at once with `Unavailable` (or `Timeout` after
/// `command_timeout`); the connection comes back by itself when it returns. Cloning shares
/// the connection; dropping the last clone stops it.
#[derive(Clone)]
pub struct RedisJournal {
    connection: Arc<Connection>,
    prefix: String,
    retention: Retention,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RedisJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisJournal")
            .field("url", &self.connection.url)
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .field("command_timeout", &self.connection.command_timeout)
            .finish_non_exhaustive()
    }
}

fn text(value: &str) -> Value {
    Value::from(value)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Adds a host's records in one call (the per-command work of Redis, and of the client,
/// paid once per batch): `KEYS[1]` the host's stream, `ARGV[1]` the cap, `ARGV[2]` the TTL
/// in milliseconds, `ARGV[3]` the field a record is kept in, the records after them, in
/// order.
const APPEND_SCRIPT: &str = "\
for i = 4, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', ARGV[3], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return #ARGV - 3";

/// `EVAL`: Redis keeps the compiled script by its digest, so sending its text again costs
/// a hash of a few hundred bytes.
fn script_command() -> CustomCommand {
    CustomCommand::new_static("EVAL", ClusterHash::Random, false)
}

fn command(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, ClusterHash::FirstKey, false)
}

impl RedisJournal {
    /// Opens a connection to `config.url` (only its `url` and `command_timeout` matter
    /// here) for a journal keeping what `retention` says, aging records by `clock`. Keys
    /// start with [`DEFAULT_JOURNAL_PREFIX`]; see [`with_key_prefix`].
    ///
    /// Waits up to `command_timeout` for the connection. If Redis cannot be reached the
    /// journal is returned all the same and keeps reconnecting in the background, with a
    /// warning logged: its calls fail with `Unavailable` or `Timeout` until Redis is back.
    ///
    /// # Errors
    /// `Invalid` for a URL that does not parse or a config value out of range; the kind of
    /// the connection error when it is not a retryable one (for example `Internal` when
    /// Redis rejects the credentials).
    ///
    /// [`with_key_prefix`]: RedisJournal::with_key_prefix
    pub async fn connect(
        config: &RedisConfig,
        retention: Retention,
        clock: Arc<dyn Clock>,
    ) -> PortResult<Self> {
        Ok(Self {
            connection: Arc::new(Connection::open(config).await?),
            prefix: DEFAULT_JOURNAL_PREFIX.to_owned(),
            retention,
            clock,
        })
    }

    /// The same journal with keys `{prefix}journal:{host}`; the connection is shared.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key of `host`'s stream: `{prefix}journal:{host}`.
    pub fn key(&self, host: &str) -> String {
        format!("{}journal:{host}", self.prefix)
    }

    /// What the journal keeps.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Closes the connection (Redis `QUIT`). Calls made afterwards, on this journal or its
    /// clones, fail with `Unavailable`.
    pub async fn close(&self) {
        let c = &self.connection;
        if let Err(error) =
            tokio::time::timeout(c.command_timeout.saturating_add(GRACE), c.client.quit()).await
        {
            tracing::debug!(error = %error, "redis quit timed out");
        }
    }

    /// The candidates of a listing, newest first: entries between the bounds, read in
    /// chunks until `take_page` can decide (one admitted record more than the limit) or the
    /// stream ends, and never more than `max_records` entries.
    async fn candidates(
        &self,
        key: &str,
        mut end: String,
        start: &str,
        query: &JournalQuery,
        oldest_kept: i64,
    ) -> PortResult<Vec<JournalEntry>> {
        let limit = query.capped_limit();
        let mut out = Vec::new();
        let (mut read, mut admitted) = (0_usize, 0_usize);
        loop {
            let want = CHUNK.min(self.retention.max_records.saturating_sub(read));
            if want == 0 {
                break;
            }
            let reply = self
                .connection
                .run(
                    command("XREVRANGE"),
                    vec![
                        text(key),
                        text(&end),
                        text(start),
                        text("COUNT"),
                        text(&want.to_string()),
                    ],
                )
                .await
                .map_err(|e| port_error("read the request journal", e))?;
            let entries = reply::range(reply)?;
            read += entries.len();
            let exhausted = entries.len() < want;
            if let Some(last) = entries.last() {
                end = format!("({}", last.id);
            }
            for entry in entries {
                let Some(record) = decode(key, &entry) else {
                    continue;
                };
                if record.at.unix_millis() >= oldest_kept && query.filter.admits(&record) {
                    admitted += 1;
                }
                let id = RecordId::parse(&entry.id).ok_or_else(|| bad_reply("XREVRANGE"))?;
                out.push(JournalEntry { id, record });
            }
            if exhausted || admitted > limit {
                break;
            }
        }
        Ok(out)
    }
}

/// The entry's record; `None` (logged) when it holds none.
fn decode(key: &str, entry: &Entry) -> Option<RequestRecord> {
    let parsed = entry
        .field(DATA_FIELD)
        .ok_or_else(|| format!("no {DATA_FIELD:?} field"))
        .and_then(|raw| serde_json::from_slice(raw).map_err(|e| e.to_string()));
    match parsed {
        Ok(record) => Some(record),
        Err(why) => {
            tracing::warn!(
                key,
                entry = %entry.id,
                reason = %why,
                "journal entry without a readable record left out"
            );
            None
        }
    }
}

/// A cursor as a stream id's numbers, or `Invalid` when it is not one this journal gives.
fn cursor(id: Option<&RecordId>) -> PortResult<Option<(u64, u64)>> {
    id.map(|id| {
        id.as_str()
            .split_once('-')
            .filter(|_| reply::is_stream_id(id.as_str()))
            .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)))
            .ok_or_else(|| PortError::invalid(format!("{id} is not a record id of this journal")))
    })
    .transpose()
}

/// `records` by host, hosts in order of first appearance, each host's in the order given.
fn by_host(records: &[RequestRecord]) -> Vec<(&str, Vec<&RequestRecord>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(&str, Vec<&RequestRecord>)> = Vec::new();
    for record in records {
        let host = record.host.as_str();
        let at = *index.entry(host).or_insert_with(|| {
            groups.push((host, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(record);
    }
    groups
}

#[async_trait]
impl RequestJournal for RedisJournal {
    async fn append(&self, records: Vec<RequestRecord>) -> PortResult<()> {
        const DOING: &str = "append to the request journal";
        if records.is_empty() {
            return Ok(());
        }
        let c = &self.connection;
        let max_len = self.retention.max_records.to_string();
        let ttl = millis(self.retention.max_age)
            .clamp(1, MAX_TTL_MS)
            .to_string();
        let trx = c.client.multi();
        // The transaction takes its options from its first command.
        let queue = trx.with_options(&c.options());
        for (host, records) in by_host(&records) {
            let mut args = Vec::with_capacity(records.len() + 6);
            args.extend([
                text(APPEND_SCRIPT),
                text("1"),
                text(&self.key(host)),
                text(&max_len),
                text(&ttl),
                text(DATA_FIELD),
            ]);
            for record in records {
                let json = serde_json::to_vec(record)
                    .map_err(|e| PortError::internal("request record to JSON").with_source(e))?;
                args.push(Value::from(json.into_boxed_slice()));
            }
            queue
                .custom::<(), Value>(script_command(), args)
                .await
                .map_err(|e| port_error(DOING, e))?;
        }
        c.exec(&trx, DOING).await
    }

    async fn list(&self, host: &str, query: &JournalQuery) -> PortResult<JournalPage> {
        let before = cursor(query.before.as_ref())?;
        let after = cursor(query.after.as_ref())?;
        // Nothing is older than the first id or newer than the last (and Redis refuses
        // those as exclusive bounds).
        if query.capped_limit() == 0
            || before == Some((0, 0))
            || after == Some((u64::MAX, u64::MAX))
        {
            return Ok(JournalPage::default());
        }
        let end = query
            .before
            .as_ref()
            .map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let start = query
            .after
            .as_ref()
            .map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let key = self.key(host);
        self.connection
            .run(
                command("XTRIM"),
                vec![
                    text(&key),
                    text("MAXLEN"),
                    text("="),
                    text(&self.retention.max_records.to_string()),
                ],
            )
            .await
            .map_err(|e| port_error("trim the request journal", e))?;
        let oldest_kept = self.retention.oldest_kept(self.clock.now());
        let candidates = self
            .candidates(&key, end, &start, query, oldest_kept.unix_millis())
            .await?;
        Ok(take_page(candidates, query, oldest_kept))
    }

    async fn clear(&self, host: &str) -> PortResult<()> {
        self.connection
            .run(command("DEL"), vec![text(&self.key(host))])
            .await
            .map_err(|e| port_error("clear the request journal", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use moclojer_domain::Timestamp;
    use moclojer_ports::PortErrorKind;

    use super::*;

    fn record(host: &str, path: &str) -> RequestRecord {
        RequestRecord {
            at: Timestamp::from_unix_millis(0),
            host: host.to_owned(),
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: String::new(),
            body_truncated: false,
            status: 200,
            matched: None,
            near_misses: Vec::new(),
            duration_us: 1,
            client: None,
        }
    }

    #[test]
    fn cursors_are_stream_ids() {
        let id = |raw: &str| RecordId::parse(raw).expect("an id's shape");
        assert_eq!(cursor(None).unwrap(), None);
        assert_eq!(
            cursor(Some(&id("1700000000000-3"))).unwrap(),
            Some((1_700_000_000_000, 3))
        );
        for bogus in [
            "never-given!",
            "12",
            "1-",
            "-1",
            "1-+1",
            "99999999999999999999-0",
        ] {
            assert_eq!(
                cursor(Some(&id(bogus))).map_err(|e| e.kind()),
                Err(PortErrorKind::Invalid),
                "{bogus}"
            );
        }
    }

    #[test]
    fn records_group_by_host_in_order() {
        let records = [
            record("a", "/1"),
            record("b", "/2"),
            record("a", "/3"),
            record("c", "/4"),
            record("b", "/5"),
        ];
        let groups: Vec<(&str, Vec<&str>)> = by_host(&records)
            .into_iter()
            .map(|(host, rs)| (host, rs.iter().map(|r| r.path.as_str()).collect()))
            .collect();
        assert_eq!(
            groups,
            [
                ("a", vec!["/1", "/3"]),
                ("b", vec!["/2", "/5"]),
                ("c", vec!["/4"])
            ]
        );
    }

    #[test]
    fn an_entry_without_a_record_is_left_out() {
        let good = serde_json::to_vec(&record("a", "/")).unwrap();
        let entry = |fields: Vec<(Vec<u8>, Vec<u8>)>| Entry {
            id: "1-0".to_owned(),
            fields,
        };
        assert_eq!(
            decode("k", &entry(vec![(b"data".to_vec(), good)])),
            Some(record("a", "/"))
        );
        assert_eq!(
            decode("k", &entry(vec![(b"data".to_vec(), b"{no".to_vec())])),
            None
        );
        assert_eq!(decode("k", &entry(vec![])), None);
    }
}
