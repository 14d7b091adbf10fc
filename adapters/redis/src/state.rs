//! [`RedisMockState`]: the `MockState` port on Redis, one Lua script per call.
//!
//! A host's state lives in keys that share the Redis Cluster hash tag `{h<hex>}`, the host
//! in hexadecimal (so braces or colons in a host cannot break the tag or make two hosts'
//! keys meet; the `h` keeps the tag non-empty for the host-less `""`):
//!
//! - `{prefix}state:{h<hex>}`, the host's hash: `rev` (the revision the state was made
//!   under), `count` and `bytes` (its records, for the limits), and per resource `res:<name>`
//!   (seeded), `n:<name>` (the last creation number) and `m:<name>` (the highest
//!   whole-number id held, in decimal);
//! - `…:seq`, a hash of sequence name → positions taken; `…:scn`, scenario name → state;
//! - `…:r:<name>:o`, a sorted set of a resource's ids by creation number, and `…:r:<name>:d`,
//!   a hash of id → record JSON.
//!
//! Every call runs [`SCRIPT`] once (`EVALSHA`, falling back to `EVAL` when Redis has not
//! seen it), so it is atomic across replicas. The script first compares the host's `rev`
//! with the call's revision, as decimal strings (exact for every `u64`): when absent or
//! older it deletes the host's keys and stores the new one. A resource's seed is sent only
//! when it can be needed: with the call when it is empty, else again after the script
//! answers that the resource is not seeded yet (once per resource and state).
//!
//! The script never decodes JSON (Lua numbers would lose precision and key order): records
//! are built in Rust as serde_json writes them, and the script splices their members as
//! text (a numbered record's id, a merge's fields), so a record's size there is the size
//! `record_bytes` gives.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use fred::error::Error as FredError;
use fred::interfaces::ClientLike;
use fred::types::{ClusterHash, CustomCommand, Value};
use moclojer_ports::{
    MockState, PortError, PortResult, RecordPage, ResourceRef, SCENARIO_START, StateLimits,
    StateOutcome, StateScope, StateSnapshot, record_id,
};
use serde_json::Map;
use sha1::{Digest, Sha1};

use crate::config::RedisConfig;
use crate::error::{bad_reply, port_error};
use crate::single::{Connection, GRACE};

/// The prefix of the state's keys unless told otherwise: a host's hash is
/// `moclojer:state:{h<hex of the host>}`.
pub const DEFAULT_STATE_PREFIX: &str = "moclojer:";

/// A record of a resource.
type Record = Map<String, serde_json::Value>;

/// What the script answers when a resource needs its seed sent.
const NEEDS_SEED: &str = "seed";

/// The one script every call runs. `KEYS`: the host's hash, its sequences, its scenarios,
/// and for the resource calls the resource's order and records. `ARGV[1]` names the
/// operation, `ARGV[2]` the revision (none for `snap` and `reset`); then, for `pos` the
/// sequence; for `move` the scenario, from, to and the start state; for the resource
/// calls the resource's name, its id field as JSON, `max_records`, `max_bytes`, four
/// arguments of the operation, whether a seed follows (`1`) and the seed, two arguments
/// per record as `create` takes them: `=<id>` and the record, or `+` and the record
/// without its id (to be numbered).
const SCRIPT: &str = r#"
local meta, seqs, scns = KEYS[1], KEYS[2], KEYS[3]
local U64 = '18446744073709551615'

-- whether decimal a is above decimal b (no leading zeros)
local function above(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

local function wipe()
  for _, field in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(field, 1, 4) == 'res:' then
      local base = meta .. ':r:' .. string.sub(field, 5)
      redis.call('DEL', base .. ':o', base .. ':d')
    end
  end
  redis.call('DEL', meta, seqs, scns)
end

local function enter(revision)
  local held = redis.call('HGET', meta, 'rev')
  if held and not above(revision, held) then return end
  if held then wipe() end
  redis.call('HSET', meta, 'rev', revision, 'count', 0, 'bytes', 0)
end

local function snapshot()
  local revision = redis.call('HGET', meta, 'rev')
  if not revision then return {} end
  local resources = {}
  for _, field in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(field, 1, 4) == 'res:' then
      local name = string.sub(field, 5)
      resources[#resources + 1] = name
      resources[#resources + 1] = redis.call('ZCARD', meta .. ':r:' .. name .. ':o')
    end
  end
  return {revision, redis.call('HGET', meta, 'bytes'), redis.call('HGETALL', scns),
    redis.call('HGETALL', seqs), resources}
end

local op = ARGV[1]
if op == 'snap' then return snapshot() end
if op == 'reset' then wipe() return 1 end
enter(ARGV[2])
if op == 'pos' then return redis.call('HINCRBY', seqs, ARGV[3], 1) - 1 end
if op == 'scn' then return redis.call('HGETALL', scns) end
if op == 'move' then
  local name, from, to, start = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local now = redis.call('HGET', scns, name) or start
  if now ~= from then return 0 end
  if from ~= to then
    if to == start then redis.call('HDEL', scns, name)
    else redis.call('HSET', scns, name, to) end
  end
  return 1
end

local order, data = KEYS[4], KEYS[5]
local name, idkey = ARGV[3], ARGV[4]
local max_records, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6])

-- id as a whole number in decimal without leading zeros; nil when it is not one
local function whole(id)
  if not string.match(id, '^%d+$') then return nil end
  local digits = string.gsub(id, '^0+', '')
  if digits == '' then digits = '0' end
  if above(digits, U64) then return nil end
  return digits
end

local function increment(number)
  local digits, carry = {}, 1
  for i = #number, 1, -1 do
    local d = string.byte(number, i) - 48 + carry
    carry = 0
    if d == 10 then d, carry = 0, 1 end
    digits[i] = string.char(48 + d)
  end
  local out = table.concat(digits)
  if carry == 1 then out = '1' .. out end
  return out
end

-- the index of the quote that closes the string opening at json[at]
local function string_end(json, at)
  local i = at + 1
  while true do
    local q = string.find(json, '["\\]', i)
    if string.byte(json, q) == 34 then return q end
    i = q + 2
  end
end

-- a compact JSON object's members, in order: {raw key, raw value}
local function members(json)
  local out, i = {}, 2
  while string.byte(json, i) == 34 do
    local key_end = string_end(json, i)
    local start, j, depth = key_end + 2, key_end + 2, 0
    while true do
      local p = string.find(json, '["{}%[%],]', j)
      local c = string.byte(json, p)
      if c == 34 then
        j = string_end(json, p) + 1
      elseif c == 123 or c == 91 then
        depth, j = depth + 1, p + 1
      elseif depth > 0 then
        if c ~= 44 then depth = depth - 1 end
        j = p + 1
      else
        out[#out + 1] = {string.sub(json, i, key_end), string.sub(json, start, p - 1)}
        i = p + 1
        break
      end
    end
  end
  return out
end

local function object(parts)
  local texts = {}
  for k, m in ipairs(parts) do texts[k] = m[1] .. ':' .. m[2] end
  return '{' .. table.concat(texts, ',') .. '}'
end

-- body (an object without the id field) with the id first
local function with_id(id, body)
  if body == '{}' then return '{' .. idkey .. ':' .. id .. '}' end
  return '{' .. idkey .. ':' .. id .. ',' .. string.sub(body, 2)
end

-- which limit more records and bytes would pass; nil when they fit
local function refuse(more_records, more_bytes)
  local count = tonumber(redis.call('HGET', meta, 'count'))
  local bytes = tonumber(redis.call('HGET', meta, 'bytes'))
  if more_records > 0 and count + more_records > max_records then return 'max_records' end
  if more_bytes > 0 and bytes + more_bytes > max_bytes then return 'max_bytes' end
  return nil
end

local function insert(spec, body, checked)
  local highest = redis.call('HGET', meta, 'm:' .. name) or '0'
  local id, json = string.sub(spec, 2), body
  if spec == '+' then
    if highest == U64 then return {'exists'} end
    id = increment(highest)
    json = with_id(id, body)
  end
  if redis.call('HEXISTS', data, id) == 1 then return {'exists'} end
  if checked then
    local why = refuse(1, #json)
    if why then return {'full', why} end
  end
  local number = whole(id)
  if number and above(number, highest) then redis.call('HSET', meta, 'm:' .. name, number) end
  redis.call('HSET', data, id, json)
  redis.call('ZADD', order, redis.call('HINCRBY', meta, 'n:' .. name, 1), id)
  redis.call('HINCRBY', meta, 'count', 1)
  redis.call('HINCRBY', meta, 'bytes', #json)
  return {'done', json}
end

if redis.call('HEXISTS', meta, 'res:' .. name) == 0 then
  if ARGV[11] ~= '1' then return {'seed'} end
  redis.call('HSET', meta, 'res:' .. name, 1)
  for i = 12, #ARGV, 2 do insert(ARGV[i], ARGV[i + 1], false) end
end

local a, b, c, d = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if op == 'list' then
  local out = {'ok', redis.call('ZCARD', order)}
  for _, id in ipairs(redis.call('ZRANGE', order, a, b)) do
    out[#out + 1] = redis.call('HGET', data, id)
  end
  return out
end
if op == 'get' then
  local json = redis.call('HGET', data, a)
  if json then return {'ok', json} end
  return {'ok'}
end
if op == 'create' then return insert(a, b, true) end
if op == 'update' then
  local old = redis.call('HGET', data, a)
  if not old then return {'missing'} end
  local parts = members(old)
  local json
  if c == '1' then
    for _, new in ipairs(members(b)) do
      local found = false
      for _, m in ipairs(parts) do
        if m[1] == new[1] then m[2], found = new[2], true break end
      end
      if not found then parts[#parts + 1] = new end
    end
    json = object(parts)
  else
    local id = d
    for _, m in ipairs(parts) do
      if m[1] == idkey then id = m[2] end
    end
    json = with_id(id, b)
  end
  local why = refuse(0, #json - #old)
  if why then return {'full', why} end
  redis.call('HSET', data, a, json)
  redis.call('HINCRBY', meta, 'bytes', #json - #old)
  return {'done', json}
end
if op == 'delete' then
  local old = redis.call('HGET', data, a)
  if not old then return {'ok', 0} end
  redis.call('HDEL', data, a)
  redis.call('ZREM', order, a)
  redis.call('HINCRBY', meta, 'count', -1)
  redis.call('HINCRBY', meta, 'bytes', -#old)
  return {'ok', 1}
end
return redis.error_reply('moclojer state: unknown operation ' .. op)
"#;

/// [`SCRIPT`]'s SHA-1, in hexadecimal, as `EVALSHA` names it.
static SCRIPT_SHA: LazyLock<String> =
    LazyLock::new(|| hex(Sha1::digest(SCRIPT.as_bytes()).as_slice()));

/// What stateful mocks remember, on Redis: one state per host shared by every server
/// (replica) connected to the same Redis, each call one atomic script.
///
/// - A call with a newer revision than the host's state deletes its keys first; one with
///   an older revision works on the state as it is.
/// - Writes past the [`StateLimits`] are refused whole (`Full`); the host's hash counts
///   its records and their bytes.
/// - `reset` deletes every key of the host.
///
/// While Redis is down calls fail at once with `Unavailable` (or `Timeout` after
/// `command_timeout`); the connection comes back by itself when it returns. Cloning shares
/// the connection; dropping the last clone stops it.
#[derive(Clone)]
pub struct RedisMockState {
    connection: Arc<Connection>,
    prefix: String,
    limits: StateLimits,
}

impl fmt::Debug for RedisMockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMockState")
            .field("url", &self.connection.url)
            .field("prefix", &self.prefix)
            .field("limits", &self.limits)
            .field("command_timeout", &self.connection.command_timeout)
            .finish_non_exhaustive()
    }
}

fn text(value: &str) -> Value {
    Value::from(value)
}

/// `bytes` in lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// `EVALSHA` and `EVAL` route by their first key, the third argument.
fn script_command(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, ClusterHash::Offset(2), false)
}

/// Whether Redis answered that it does not know the script (a restart, `SCRIPT FLUSH`).
fn is_no_script(error: &FredError) -> bool {
    error.details().starts_with("NOSCRIPT")
}

impl RedisMockState {
    /// Opens a connection to `config.url` (only its `url` and `command_timeout` matter
    /// here) for a state bounding each host by `limits`. Keys start with
    /// [`DEFAULT_STATE_PREFIX`]; see [`with_key_prefix`].
    ///
    /// Waits up to `command_timeout` for the connection. If Redis cannot be reached the
    /// state is returned all the same and keeps reconnecting in the background, with a
    /// warning logged: its calls fail with `Unavailable` or `Timeout` until Redis is back.
    ///
    /// # Errors
    /// `Invalid` for a URL that does not parse or a config value out of range; the kind of
    /// the connection error when it is not a retryable one (for example `Internal` when
    /// Redis rejects the credentials).
    ///
    /// [`with_key_prefix`]: RedisMockState::with_key_prefix
    pub async fn connect(config: &RedisConfig, limits: StateLimits) -> PortResult<Self> {
        Ok(Self {
            connection: Arc::new(Connection::open(config).await?),
            prefix: DEFAULT_STATE_PREFIX.to_owned(),
            limits,
        })
    }

    /// The same state with keys `{prefix}state:{h<hex>}…`; the connection is shared. The
    /// prefix must not hold `{`, which would move the hash tag.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key of `host`'s hash, `{prefix}state:{h<hex of host>}`; every other key of the
    /// host starts with it.
    pub fn key(&self, host: &str) -> String {
        format!("{}state:{{h{}}}", self.prefix, hex(host.as_bytes()))
    }

    /// The bounds on each host's state.
    pub fn limits(&self) -> StateLimits {
        self.limits
    }

    /// Closes the connection (Redis `QUIT`). Calls made afterwards, on this state or its
    /// clones, fail with `Unavailable`.
    pub async fn close(&self) {
        let c = &self.connection;
        if let Err(error) =
            tokio::time::timeout(c.command_timeout.saturating_add(GRACE), c.client.quit()).await
        {
            tracing::debug!(error = %error, "redis quit timed out");
        }
    }

    /// The host's hash, sequences and scenarios.
    fn host_keys(&self, host: &str) -> Vec<String> {
        let meta = self.key(host);
        let (sequences, scenarios) = (format!("{meta}:seq"), format!("{meta}:scn"));
        vec![meta, sequences, scenarios]
    }

    /// The host's keys and `resource`'s order and records.
    fn resource_keys(&self, host: &str, resource: &str) -> Vec<String> {
        let mut keys = self.host_keys(host);
        let base = format!("{}:r:{resource}", keys[0]);
        keys.extend([format!("{base}:o"), format!("{base}:d")]);
        keys
    }

    /// Runs the script on `keys` with `args`, loading it when Redis does not know it.
    async fn eval(&self, keys: &[String], args: Vec<Value>, doing: &str) -> PortResult<Value> {
        let mut call = Vec::with_capacity(2 + keys.len() + args.len());
        call.push(text(&SCRIPT_SHA));
        call.push(Value::Integer(keys.len() as i64));
        call.extend(keys.iter().map(|key| text(key)));
        call.extend(args);
        let reply = match self
            .connection
            .run(script_command("EVALSHA"), call.clone())
            .await
        {
            Err(error) if is_no_script(&error) => {
                call[0] = text(SCRIPT);
                self.connection.run(script_command("EVAL"), call).await
            }
            other => other,
        };
        reply.map_err(|e| port_error(doing, e))
    }

    /// Runs resource operation `op` with its four arguments, sending `resource`'s seed
    /// when the script asks for it. The reply's items, the first its tag.
    async fn resource_call(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        op: &str,
        op_args: [Value; 4],
        doing: &str,
    ) -> PortResult<Vec<Value>> {
        let keys = self.resource_keys(scope.host, resource.name);
        let id_key = serde_json::to_string(resource.id_field)
            .map_err(|e| PortError::internal("id field to JSON").with_source(e))?;
        let mut with_seed = resource.seed.is_empty();
        loop {
            let mut args = Vec::with_capacity(11 + 2 * resource.seed.len());
            args.extend([
                text(op),
                text(&scope.revision.to_string()),
                text(resource.name),
                text(&id_key),
                text(&self.limits.max_records.to_string()),
                text(&self.limits.max_bytes.to_string()),
            ]);
            args.extend(op_args.iter().cloned());
            args.push(text(if with_seed { "1" } else { "0" }));
            if with_seed {
                for record in resource.seed {
                    args.extend(insert_args(resource.id_field, record)?);
                }
            }
            let reply = self.eval(&keys, args, doing).await?.into_array();
            match reply.first().and_then(text_of).as_deref() {
                Some(NEEDS_SEED) if !with_seed => with_seed = true,
                Some(NEEDS_SEED) | None => return Err(bad_reply(doing)),
                Some(_) => return Ok(reply),
            }
        }
    }

    /// A write's reply as its outcome.
    fn outcome(&self, reply: &[Value], doing: &str) -> PortResult<StateOutcome<Record>> {
        let tag = reply.first().and_then(text_of);
        Ok(match tag.as_deref() {
            Some("done") => StateOutcome::Done(record_of(reply.get(1), doing)?),
            Some("exists") => StateOutcome::Exists,
            Some("missing") => StateOutcome::Missing,
            Some("full") => match reply.get(1).and_then(text_of).as_deref() {
                Some("max_records") => StateOutcome::Full(format!(
                    "max_records: a host holds at most {} records",
                    self.limits.max_records
                )),
                Some("max_bytes") => StateOutcome::Full(format!(
                    "max_bytes: a host's records take at most {} bytes",
                    self.limits.max_bytes
                )),
                _ => return Err(bad_reply(doing)),
            },
            _ => return Err(bad_reply(doing)),
        })
    }
}

/// A record as the script inserts it: `=<id>` and the record, or `+` and the record without
/// its id field (to be numbered, the id put first).
fn insert_args(id_field: &str, record: &Record) -> PortResult<[Value; 2]> {
    Ok(match record.get(id_field).and_then(record_id) {
        Some(id) => [text(&format!("={id}")), json(record)?],
        None => [text("+"), json(&without(record, id_field))?],
    })
}

/// `record` without its `id_field`, in order.
fn without(record: &Record, id_field: &str) -> Record {
    record
        .iter()
        .filter(|(key, _)| *key != id_field)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn json(record: &Record) -> PortResult<Value> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| PortError::internal("record to JSON").with_source(e))?;
    Ok(Value::from(bytes.into_boxed_slice()))
}

/// A bulk string's text.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_string()),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// A whole number, sent as an integer or as its decimal text.
fn number_of(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(i) => u64::try_from(*i).ok(),
        other => text_of(other)?.parse().ok(),
    }
}

/// A stored record's JSON as the record.
fn record_of(value: Option<&Value>, doing: &str) -> PortResult<Record> {
    let raw: &[u8] = match value {
        Some(Value::String(s)) => s.as_bytes(),
        Some(Value::Bytes(b)) => b,
        _ => return Err(bad_reply(doing)),
    };
    serde_json::from_slice(raw).map_err(|e| bad_reply(doing).with_source(e))
}

/// `[key, value, …]` as a map, each value read by `read`.
fn pairs<T>(
    value: Value,
    doing: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> PortResult<BTreeMap<String, T>> {
    let flat = value.into_array();
    if !flat.len().is_multiple_of(2) {
        return Err(bad_reply(doing));
    }
    flat.chunks(2)
        .map(|pair| Some((text_of(&pair[0])?, read(&pair[1])?)))
        .collect::<Option<_>>()
        .ok_or_else(|| bad_reply(doing))
}

/// The script's `snap` reply: nothing for a host without state, else its revision, bytes,
/// scenarios, sequences and resources.
fn snapshot_of(reply: Value, doing: &str) -> PortResult<StateSnapshot> {
    let mut parts = reply.into_array().into_iter();
    let Some(revision) = parts.next() else {
        return Ok(StateSnapshot::default());
    };
    let (Some(bytes), Some(scenarios), Some(sequences), Some(resources), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad_reply(doing));
    };
    Ok(StateSnapshot {
        revision: Some(number_of(&revision).ok_or_else(|| bad_reply(doing))?),
        scenarios: pairs(scenarios, doing, text_of)?,
        sequences: pairs(sequences, doing, number_of)?,
        resources: pairs(resources, doing, number_of)?,
        bytes: number_of(&bytes).ok_or_else(|| bad_reply(doing))?,
    })
}

#[async_trait]
impl MockState for RedisMockState {
    async fn next_position(&self, scope: StateScope<'_>, name: &str) -> PortResult<u64> {
        const DOING: &str = "take a sequence position";
        let args = vec![text("pos"), text(&scope.revision.to_string()), text(name)];
        let reply = self.eval(&self.host_keys(scope.host), args, DOING).await?;
        number_of(&reply).ok_or_else(|| bad_reply(DOING))
    }

    async fn scenarios(&self, scope: StateScope<'_>) -> PortResult<BTreeMap<String, String>> {
        const DOING: &str = "read the scenarios";
        let args = vec![text("scn"), text(&scope.revision.to_string())];
        let reply = self.eval(&self.host_keys(scope.host), args, DOING).await?;
        pairs(reply, DOING, text_of)
    }

    async fn transition(
        &self,
        scope: StateScope<'_>,
        name: &str,
        from: &str,
        to: &str,
    ) -> PortResult<bool> {
        const DOING: &str = "move a scenario";
        let args = vec![
            text("move"),
            text(&scope.revision.to_string()),
            text(name),
            text(from),
            text(to),
            text(SCENARIO_START),
        ];
        let reply = self.eval(&self.host_keys(scope.host), args, DOING).await?;
        match number_of(&reply) {
            Some(moved) if moved <= 1 => Ok(moved == 1),
            _ => Err(bad_reply(DOING)),
        }
    }

    async fn list(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        offset: u64,
        limit: u64,
    ) -> PortResult<RecordPage> {
        const DOING: &str = "list a resource's records";
        const LAST: u64 = i64::MAX as u64;
        // Ranks `start..=stop`; `1..=0` is none (and `0..=-1` would be all).
        let (start, stop) = match limit {
            0 => (1, 0),
            _ => (
                offset.min(LAST),
                (offset.saturating_add(limit) - 1).min(LAST),
            ),
        };
        let op_args = [
            text(&start.to_string()),
            text(&stop.to_string()),
            text(""),
            text(""),
        ];
        let reply = self
            .resource_call(scope, resource, "list", op_args, DOING)
            .await?;
        let total = reply
            .get(1)
            .and_then(number_of)
            .ok_or_else(|| bad_reply(DOING))?;
        let records = reply
            .iter()
            .skip(2)
            .map(|json| record_of(Some(json), DOING))
            .collect::<PortResult<_>>()?;
        Ok(RecordPage { records, total })
    }

    async fn get(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<Option<Record>> {
        const DOING: &str = "read a record";
        let op_args = [text(id), text(""), text(""), text("")];
        let reply = self
            .resource_call(scope, resource, "get", op_args, DOING)
            .await?;
        reply
            .get(1)
            .map(|json| record_of(Some(json), DOING))
            .transpose()
    }

    async fn create(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        record: Record,
    ) -> PortResult<StateOutcome<Record>> {
        const DOING: &str = "create a record";
        let [spec, json] = insert_args(resource.id_field, &record)?;
        let op_args = [spec, json, text(""), text("")];
        let reply = self
            .resource_call(scope, resource, "create", op_args, DOING)
            .await?;
        self.outcome(&reply, DOING)
    }

    async fn update(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
        record: Record,
        merge: bool,
    ) -> PortResult<StateOutcome<Record>> {
        const DOING: &str = "update a record";
        // The id as JSON, for a stored record without its id field (one never is).
        let fallback_id = serde_json::to_string(id)
            .map_err(|e| PortError::internal("id to JSON").with_source(e))?;
        let op_args = [
            text(id),
            json(&without(&record, resource.id_field))?,
            text(if merge { "1" } else { "0" }),
            text(&fallback_id),
        ];
        let reply = self
            .resource_call(scope, resource, "update", op_args, DOING)
            .await?;
        self.outcome(&reply, DOING)
    }

    async fn delete(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<bool> {
        const DOING: &str = "delete a record";
        let op_args = [text(id), text(""), text(""), text("")];
        let reply = self
            .resource_call(scope, resource, "delete", op_args, DOING)
            .await?;
        match reply.get(1).and_then(number_of) {
            Some(existed) if existed <= 1 => Ok(existed == 1),
            _ => Err(bad_reply(DOING)),
        }
    }

    async fn snapshot(&self, host: &str) -> PortResult<StateSnapshot> {
        const DOING: &str = "read a host's state";
        let reply = self
            .eval(&self.host_keys(host), vec![text("snap")], DOING)
            .await?;
        snapshot_of(reply, DOING)
    }

    async fn reset(&self, host: &str) -> PortResult<()> {
        const DOING: &str = "reset a host's state";
        self.eval(&self.host_keys(host), vec![text("reset")], DOING)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_tag_whatever_the_host() {
        let state_key = |host: &str| format!("p:state:{{h{}}}", hex(host.as_bytes()));
        assert_eq!(state_key(""), "p:state:{h}");
        assert_eq!(state_key("a{b}"), "p:state:{h617b627d}");
        assert_ne!(state_key("a:b"), state_key("a"));
    }

    #[test]
    fn records_go_in_with_or_without_their_id() {
        let record = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let [spec, body] =
            insert_args("id", &record(serde_json::json!({"id": 7, "a": 1}))).expect("encodes");
        assert_eq!(text_of(&spec).as_deref(), Some("=7"));
        assert_eq!(text_of(&body).as_deref(), Some(r#"{"id":7,"a":1}"#));
        let [spec, body] = insert_args(
            "id",
            &record(serde_json::json!({"a": 1, "id": null, "b": 2})),
        )
        .expect("encodes");
        assert_eq!(text_of(&spec).as_deref(), Some("+"));
        assert_eq!(text_of(&body).as_deref(), Some(r#"{"a":1,"b":2}"#));
    }

    #[test]
    fn the_script_is_named_by_its_digest() {
        assert_eq!(SCRIPT_SHA.len(), 40);
        assert!(SCRIPT_SHA.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
