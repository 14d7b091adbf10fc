//! [`RedisEventQueue`]: the `EventQueue` port on one Redis stream.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::Client;
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, TransactionInterface};
use fred::types::config::Options;
use fred::types::{ClusterHash, ConnectHandle, CustomCommand, Value};
use moclojer_domain::Event;
use moclojer_ports::{
    DeadLetter, Delivery, EventQueue, MessageId, PortError, PortResult, QueueSettings,
    check_group_name,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::{RedisConfig, dead_stream};
use crate::connect::{Recipe, error_receivers, first_connection};
use crate::error::{bad_reply, is_busy_group, is_no_such_key, port_error};
use crate::reply::{self, Entry};

/// Slack on top of a command's own timeout before the outer guard gives up on it.
const GRACE: Duration = Duration::from_millis(250);

/// How long a receive waits for a blocking connection before it polls instead (and how
/// often it polls while every blocking connection is busy).
const POLL_EVERY: Duration = Duration::from_millis(100);

/// At most this many entries are claimed or read per command.
const BATCH: usize = 1_000;

/// The field an entry keeps its event's JSON in.
const EVENT_FIELD: &str = "event";

/// The event queue on a Redis stream, with one consumer group per service.
///
/// - `publish` appends the event's JSON to the stream, trimmed to about `max_len` entries.
/// - Groups are Redis consumer groups created at the stream's end (`$`), so a group gets
///   what is published after it was created.
/// - `receive` first reclaims messages left unacked for `redeliver_after` (from any
///   consumer of the group), then reads new ones, blocking on a connection of its own.
/// - A message whose delivery count reached `max_deliveries`, or whose entry does not hold
///   an event, is moved to the group's dead-letter stream (`<stream>:dead:<group>`) and
///   acknowledged, in one `MULTI`.
///
/// While Redis is down calls fail at once with `Unavailable` (or `Timeout` after
/// `command_timeout`); the connections come back by themselves when it returns. Note that
/// a Redis restarted without persistence has lost the groups: consumers then get
/// `NotFound` and should call `ensure_group` again.
///
/// Dropping a `receive` while it waits is safe, but a message arriving just then may go to
/// the abandoned read: it then counts as delivered to that consumer and comes back after
/// `redeliver_after`, like any unacked message.
///
/// Cloning shares the connections. Dropping the last clone stops them; [`close`] closes
/// them politely.
///
/// [`close`]: RedisEventQueue::close
#[derive(Clone)]
pub struct RedisEventQueue {
    shared: Arc<Shared>,
}

struct Shared {
    stream: String,
    max_len: String,
    settings: QueueSettings,
    command_timeout: Duration,
    url: String,
    /// Every command but the blocking reads, pipelined on one connection.
    client: Client,
    /// Connections for `XREADGROUP … BLOCK`, which holds its connection while it waits.
    blocking: Arc<BlockingPool>,
    /// Every client above, for `close`.
    all: Vec<Client>,
    /// The connection tasks, stopped when the queue goes away.
    tasks: Vec<ConnectHandle>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisEventQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("RedisEventQueue")
            .field("url", &s.url)
            .field("stream", &s.stream)
            .field("max_len", &s.max_len)
            .field("settings", &s.settings)
            .field("command_timeout", &s.command_timeout)
            .field("blocking_connections", &s.blocking.size)
            .finish_non_exhaustive()
    }
}

/// A few clients, each lent to one blocking read at a time.
#[derive(Debug)]
struct BlockingPool {
    free: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    size: usize,
}

/// One client of the pool, returned to it when dropped.
///
/// A lease dropped while its read is still blocking in Redis (the receive was cancelled)
/// keeps its place until that read has ended: a command sent on that connection meanwhile
/// would wait behind it.
struct Lease {
    pool: Arc<BlockingPool>,
    client: Option<Client>,
    permit: Option<OwnedSemaphorePermit>,
    /// Set while a blocking read is in flight: how long it may still take.
    in_flight: Option<Duration>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (Some(client), Some(permit)) = (self.client.take(), self.permit.take()) else {
            return;
        };
        let pool = Arc::clone(&self.pool);
        match (self.in_flight, tokio::runtime::Handle::try_current()) {
            (Some(settle), Ok(runtime)) => {
                runtime.spawn(async move {
                    // Answered once the abandoned read is over (or the connection broke).
                    let ping = CustomCommand::new_static("PING", ClusterHash::Random, false);
                    let options = Options {
                        timeout: Some(settle),
                        fail_fast: true,
                        ..Options::default()
                    };
                    let waiting = client.with_options(&options);
                    let done = waiting.custom::<Value, Value>(ping, Vec::new());
                    tokio::time::timeout(settle.saturating_add(GRACE), done)
                        .await
                        .ok();
                    pool.give_back(client);
                    drop(permit);
                });
            }
            _ => {
                pool.give_back(client);
                drop(permit);
            }
        }
    }
}

impl BlockingPool {
    fn new(clients: Vec<Client>) -> Self {
        let size = clients.len();
        Self {
            free: Mutex::new(clients),
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    fn give_back(&self, client: Client) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(client);
    }

    /// A client of its own for the caller, if one frees up `within`.
    async fn lease(self: &Arc<Self>, within: Duration) -> Option<Lease> {
        let permit = tokio::time::timeout(within, Arc::clone(&self.permits).acquire_owned())
            .await
            .ok()?
            .ok()?;
        // A permit guarantees a free client: clients are only taken under a permit.
        let client = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()?;
        Some(Lease {
            pool: Arc::clone(self),
            client: Some(client),
            permit: Some(permit),
            in_flight: None,
        })
    }
}

fn text(value: &str) -> Value {
    Value::from(value)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl RedisEventQueue {
    /// Opens the connections to `config.url`: one for ordinary commands and
    /// `config.blocking_connections` for blocking reads.
    ///
    /// Waits up to `command_timeout` for them. If Redis cannot be reached (refused, down,
    /// too slow) the queue is returned all the same and keeps reconnecting in the
    /// background, with a warning logged: its calls fail with `Unavailable` or `Timeout`
    /// until Redis is back. Only a centralized server is supported (no Cluster, no
    /// Sentinel, no TLS).
    ///
    /// # Errors
    /// `Invalid` for a URL that does not parse or a config value out of range; the kind
    /// of the first connection error when it is not a retryable one (for example
    /// `Internal` when Redis rejects the credentials).
    pub async fn connect(config: &RedisConfig) -> PortResult<Self> {
        let recipe = Recipe::of(config)?;
        let url = recipe.url.clone();
        let client = recipe.client();
        let blocking: Vec<Client> = (0..config.blocking_connections)
            .map(|_| recipe.client())
            .collect();
        let all: Vec<Client> = std::iter::once(client.clone())
            .chain(blocking.iter().cloned())
            .collect();
        let errors = error_receivers(&all);
        let tasks = all.iter().map(ClientLike::connect).collect();
        // From here on, dropping `queue` stops the connection tasks.
        let queue = Self {
            shared: Arc::new(Shared {
                stream: config.stream.clone(),
                max_len: config.max_len.to_string(),
                settings: config.settings,
                command_timeout: config.command_timeout,
                url: url.clone(),
                client,
                blocking: Arc::new(BlockingPool::new(blocking)),
                all: all.clone(),
                tasks,
            }),
        };

        first_connection(&all, errors, &url, config.command_timeout).await?;
        Ok(queue)
    }

    /// The stream the events go to.
    pub fn stream(&self) -> &str {
        &self.shared.stream
    }

    /// The key of `group`'s dead-letter stream: `<stream>:dead:<group>`.
    pub fn dead_stream(&self, group: &str) -> String {
        dead_stream(&self.shared.stream, group)
    }

    /// Closes every connection (Redis `QUIT`). Calls made afterwards, on this queue or
    /// its clones, fail with `Unavailable`.
    pub async fn close(&self) {
        let s = &self.shared;
        for client in &s.all {
            if let Err(error) =
                tokio::time::timeout(s.command_timeout.saturating_add(GRACE), client.quit()).await
            {
                tracing::debug!(error = %error, "redis quit timed out");
            }
        }
    }
}

impl Shared {
    /// Runs `name args…` on `client`, failing at once when the connection is down and
    /// after `timeout` when Redis does not answer.
    async fn run_on(
        &self,
        client: &Client,
        name: &'static str,
        args: Vec<Value>,
        timeout: Duration,
        blocking: bool,
    ) -> Result<Value, FredError> {
        let options = Options {
            timeout: Some(timeout),
            fail_fast: true,
            ..Options::default()
        };
        let command = CustomCommand::new_static(name, ClusterHash::FirstKey, blocking);
        let client = client.with_options(&options);
        let call = client.custom::<Value, Value>(command, args);
        match tokio::time::timeout(timeout.saturating_add(GRACE), call).await {
            Ok(result) => result,
            Err(_) => Err(FredError::new(ErrorKind::Timeout, "no reply in time")),
        }
    }

    /// Runs a non-blocking command on the shared connection.
    async fn run(&self, name: &'static str, args: Vec<Value>) -> Result<Value, FredError> {
        self.run_on(&self.client, name, args, self.command_timeout, false)
            .await
    }

    async fn group_exists(&self, group: &str) -> PortResult<bool> {
        match self
            .run("XINFO", vec![text("GROUPS"), text(&self.stream)])
            .await
        {
            Ok(reply) => Ok(reply::group_names(reply)?.iter().any(|g| g == group)),
            Err(e) if is_no_such_key(&e) => Ok(false),
            Err(e) => Err(port_error("list the consumer groups", e)),
        }
    }

    async fn require_group(&self, group: &str) -> PortResult<()> {
        if check_group_name(group).is_ok() && self.group_exists(group).await? {
            Ok(())
        } else {
            Err(no_group(group))
        }
    }

    /// Moves the entry `id` of `group` to the group's dead letters and acknowledges it, in
    /// one transaction.
    async fn bury(
        &self,
        group: &str,
        id: &str,
        raw_event: &[u8],
        attempts: u32,
        why: &str,
    ) -> PortResult<()> {
        let dead = dead_stream(&self.stream, group);
        let trx = self.client.multi();
        let doing = "move a message to the dead letters";
        let xadd = CustomCommand::new_static("XADD", ClusterHash::FirstKey, false);
        trx.custom::<(), Value>(
            xadd,
            vec![
                text(&dead),
                text("MAXLEN"),
                text("~"),
                text(&self.max_len),
                text("*"),
                text(EVENT_FIELD),
                Value::from(raw_event),
                text("attempts"),
                text(&attempts.to_string()),
                text("id"),
                text(id),
            ],
        )
        .await
        .map_err(|e| port_error(doing, e))?;
        let xack = CustomCommand::new_static("XACK", ClusterHash::FirstKey, false);
        trx.custom::<(), Value>(xack, vec![text(&self.stream), text(group), text(id)])
            .await
            .map_err(|e| port_error(doing, e))?;
        match tokio::time::timeout(
            self.command_timeout.saturating_add(GRACE),
            trx.exec::<Value>(true),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(port_error(doing, e)),
            Err(_) => return Err(PortError::timeout(format!("redis: {doing}"))),
        }
        tracing::warn!(
            stream = %self.stream,
            group,
            id,
            attempts,
            reason = why,
            "message moved to the dead letters"
        );
        Ok(())
    }

    /// The delivery counts of `ids` in `group`'s pending list, in one round trip; `None`
    /// for an id no longer pending.
    async fn delivery_counts(&self, group: &str, ids: &[&str]) -> PortResult<Vec<Option<u64>>> {
        let doing = "read delivery counts";
        let pipeline = self.client.pipeline();
        for id in ids {
            let command = CustomCommand::new_static("XPENDING", ClusterHash::FirstKey, false);
            pipeline
                .custom::<(), Value>(
                    command,
                    vec![
                        text(&self.stream),
                        text(group),
                        text(id),
                        text(id),
                        text("1"),
                    ],
                )
                .await
                .map_err(|e| port_error(doing, e))?;
        }
        let replies = tokio::time::timeout(
            self.command_timeout.saturating_add(GRACE),
            pipeline.try_all::<Value>(),
        )
        .await
        .map_err(|_| PortError::timeout(format!("redis: {doing}")))?;
        if replies.len() != ids.len() {
            return Err(bad_reply("XPENDING"));
        }
        replies
            .into_iter()
            .map(|reply| reply::delivery_count(reply.map_err(|e| port_error(doing, e))?))
            .collect()
    }

    /// Claims for `consumer` up to `room` messages of `group` left unacked for
    /// `redeliver_after`, burying those delivered `max_deliveries` times already.
    async fn reclaim(&self, group: &str, consumer: &str, room: usize) -> PortResult<Vec<Delivery>> {
        let min_idle = millis(self.settings.redeliver_after).to_string();
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        loop {
            let want = (room - out.len()).min(BATCH);
            if want == 0 {
                break;
            }
            let claimed = self
                .run(
                    "XAUTOCLAIM",
                    vec![
                        text(&self.stream),
                        text(group),
                        text(consumer),
                        text(&min_idle),
                        text(&cursor),
                        text("COUNT"),
                        text(&want.to_string()),
                    ],
                )
                .await
                .map_err(|e| group_error(group, "claim unacked messages", e))?;
            let claimed = reply::auto_claim(claimed)?;
            if !claimed.deleted.is_empty() {
                tracing::warn!(
                    stream = %self.stream,
                    group,
                    ids = ?claimed.deleted,
                    "unacked messages were trimmed from the stream before being handled"
                );
                if claimed.deleted_still_pending {
                    self.ack_ids(group, claimed.deleted.iter().map(String::as_str).collect())
                        .await?;
                }
            }
            let ids: Vec<&str> = claimed.claimed.iter().map(|e| e.id.as_str()).collect();
            let counts = if ids.is_empty() {
                Vec::new()
            } else {
                self.delivery_counts(group, &ids).await?
            };
            for (entry, count) in claimed.claimed.iter().zip(counts) {
                // Gone meanwhile (acked by its previous consumer): nothing to hand out.
                let Some(count) = count else { continue };
                // XAUTOCLAIM counted this claim as a delivery already.
                let delivered = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX);
                if delivered >= self.settings.max_deliveries {
                    let raw = entry.field(EVENT_FIELD).unwrap_or_default();
                    self.bury(group, &entry.id, raw, delivered, "too many deliveries")
                        .await?;
                    continue;
                }
                match decode(entry) {
                    Ok(event) => out.push(Delivery {
                        id: MessageId(entry.id.clone()),
                        event,
                        attempt: delivered.saturating_add(1),
                    }),
                    Err(why) => {
                        let raw = entry.field(EVENT_FIELD).unwrap_or_default();
                        self.bury(group, &entry.id, raw, delivered, &why).await?;
                    }
                }
            }
            if claimed.cursor == "0-0" {
                break;
            }
            cursor = claimed.cursor;
        }
        Ok(out)
    }

    /// Up to `count` messages of `group` never delivered to it, waiting up to `block` for
    /// one on a connection of its own (none when `block` is under a millisecond). When no
    /// blocking connection frees up within [`POLL_EVERY`] it only looks, and the caller
    /// loops.
    async fn read_new(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> PortResult<Vec<Delivery>> {
        let head = vec![
            text("GROUP"),
            text(group),
            text(consumer),
            text("COUNT"),
            text(&count.min(BATCH).to_string()),
        ];
        let tail = [text("STREAMS"), text(&self.stream), text(">")];
        let mut lease = if block >= Duration::from_millis(1) {
            self.blocking.lease(block.min(POLL_EVERY)).await
        } else {
            None
        };
        let reply = match lease.as_mut() {
            Some(lease) => {
                let client = lease
                    .client
                    .clone()
                    .ok_or_else(|| bad_reply("XREADGROUP"))?;
                let mut args = head;
                args.extend([text("BLOCK"), text(&millis(block).to_string())]);
                args.extend(tail);
                let timeout = block.saturating_add(self.command_timeout);
                lease.in_flight = Some(timeout);
                let reply = self
                    .run_on(&client, "XREADGROUP", args, timeout, true)
                    .await;
                lease.in_flight = None;
                reply
            }
            // No wait asked for, or every blocking connection is busy: just look.
            None => {
                let mut args = head;
                args.extend(tail);
                self.run("XREADGROUP", args).await
            }
        };
        drop(lease);
        let entries =
            reply::read_group(reply.map_err(|e| group_error(group, "read new messages", e))?)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match decode(&entry) {
                Ok(event) => out.push(Delivery {
                    id: MessageId(entry.id),
                    event,
                    attempt: 1,
                }),
                Err(why) => {
                    let raw = entry.field(EVENT_FIELD).unwrap_or_default();
                    self.bury(group, &entry.id, raw, 0, &why).await?;
                }
            }
        }
        Ok(out)
    }

    /// `XACK`s `ids`; returns how many were pending.
    async fn ack_ids(&self, group: &str, ids: Vec<&str>) -> PortResult<u64> {
        let mut args = vec![text(&self.stream), text(group)];
        args.extend(ids.into_iter().map(text));
        let reply = self
            .run("XACK", args)
            .await
            .map_err(|e| group_error(group, "acknowledge messages", e))?;
        reply.as_u64().ok_or_else(|| bad_reply("XACK"))
    }
}

fn no_group(group: &str) -> PortError {
    PortError::not_found(format!("no consumer group {group:?}"))
}

/// `error` as a port error, naming the group when Redis says it does not exist.
fn group_error(group: &str, doing: &str, error: FredError) -> PortError {
    if crate::error::is_no_group(&error) {
        no_group(group).with_source(error)
    } else {
        port_error(doing, error)
    }
}

/// The entry's event, or why there is none.
fn decode(entry: &Entry) -> Result<Event, String> {
    let raw = entry
        .field(EVENT_FIELD)
        .ok_or_else(|| format!("no {EVENT_FIELD:?} field"))?;
    Event::from_json(raw).map_err(|e| e.to_string())
}

/// A dead-letter entry as the port shows it; `None` (logged) when it is not one.
fn dead_letter(stream: &str, entry: &Entry) -> Option<DeadLetter> {
    let parsed = (|| {
        let event = decode(entry)?;
        let attempts = entry
            .field("attempts")
            .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u32>().ok())
            .ok_or("no numeric \"attempts\" field")?;
        let id = entry
            .field("id")
            .and_then(|id| std::str::from_utf8(id).ok())
            .ok_or("no \"id\" field")?;
        Ok::<_, String>(DeadLetter {
            id: MessageId(id.to_owned()),
            event,
            attempts,
        })
    })();
    match parsed {
        Ok(letter) => Some(letter),
        Err(why) => {
            tracing::warn!(
                stream,
                entry = %entry.id,
                reason = %why,
                "dead letter without a readable event left out"
            );
            None
        }
    }
}

#[async_trait]
impl EventQueue for RedisEventQueue {
    async fn publish(&self, event: &Event) -> PortResult<MessageId> {
        let s = &self.shared;
        let reply = s
            .run(
                "XADD",
                vec![
                    text(&s.stream),
                    text("MAXLEN"),
                    text("~"),
                    text(&s.max_len),
                    text("*"),
                    text(EVENT_FIELD),
                    Value::from(event.to_json()),
                ],
            )
            .await
            .map_err(|e| port_error("append to the stream", e))?;
        reply
            .as_string()
            .filter(|id| reply::is_stream_id(id))
            .map(MessageId)
            .ok_or_else(|| bad_reply("XADD"))
    }

    async fn ensure_group(&self, group: &str) -> PortResult<()> {
        check_group_name(group)?;
        let s = &self.shared;
        match s
            .run(
                "XGROUP",
                vec![
                    text("CREATE"),
                    text(&s.stream),
                    text(group),
                    text("$"),
                    text("MKSTREAM"),
                ],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_busy_group(&e) => Ok(()),
            Err(e) => Err(port_error("create a consumer group", e)),
        }
    }

    async fn receive(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>> {
        check_group_name(group)?;
        check_group_name(consumer)?;
        if max == 0 {
            return Err(PortError::invalid("receive at least one message"));
        }
        let s = &self.shared;
        let start = Instant::now();
        // A wait too long to represent is as good as a year.
        let deadline = start
            .checked_add(wait)
            .unwrap_or_else(|| start + Duration::from_secs(365 * 86_400));
        loop {
            let mut out = s.reclaim(group, consumer, max).await?;
            let room = max - out.len();
            if room > 0 {
                // Block only when there is nothing to hand out yet, and never past the
                // moment a pending message could fall due, so it is reclaimed in time.
                let block = if out.is_empty() {
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(s.settings.redeliver_after)
                } else {
                    Duration::ZERO
                };
                out.extend(s.read_new(group, consumer, room, block).await?);
            }
            if !out.is_empty() || Instant::now() >= deadline {
                return Ok(out);
            }
        }
    }

    async fn ack(&self, group: &str, ids: &[MessageId]) -> PortResult<()> {
        let s = &self.shared;
        if check_group_name(group).is_err() {
            return Err(no_group(group));
        }
        // Ids that are not stream ids were never handed out by this queue.
        let ids: Vec<&str> = ids
            .iter()
            .map(|id| id.0.as_str())
            .filter(|id| reply::is_stream_id(id))
            .collect();
        let wanted = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        // XACK answers 0 for an unknown group: look only when something was not pending.
        if ids.is_empty() || s.ack_ids(group, ids).await? < wanted {
            s.require_group(group).await?;
        }
        Ok(())
    }

    async fn dead_letters(&self, group: &str) -> PortResult<Vec<DeadLetter>> {
        let s = &self.shared;
        s.require_group(group).await?;
        let key = dead_stream(&s.stream, group);
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let reply = s
                .run(
                    "XRANGE",
                    vec![
                        text(&key),
                        text(&start),
                        text("+"),
                        text("COUNT"),
                        text(&BATCH.to_string()),
                    ],
                )
                .await
                .map_err(|e| port_error("read the dead letters", e))?;
            let entries = reply::range(reply)?;
            out.extend(entries.iter().filter_map(|e| dead_letter(&key, e)));
            match entries.last() {
                Some(last) if entries.len() == BATCH => start = format!("({}", last.id),
                _ => break,
            }
        }
        Ok(out)
    }
}
