//! What stateful mocks remember between requests: sequence positions, scenario states and
//! the records of `resource` items, per host, shared by every mock-server replica and kept
//! across reloads of the same revision.
//!
//! Every call names its [`StateScope`]: the host and the revision of the mock serving it.
//! A call whose revision is newer than the one the host's state was made under first
//! forgets that state (a new revision starts afresh); a call from an older revision (a
//! replica not yet reloaded) works on the state as it is. The first call after a reset
//! starts a new state under its revision.
//!
//! A host's state is bounded by its [`StateLimits`]: a write that would pass them is
//! refused whole with [`StateOutcome::Full`]; nothing is half-written. A resource's seed
//! goes in whole on its first use in a state, past the limits if it must, and counts
//! toward them.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::PortResult;

/// The state every scenario starts in.
pub const SCENARIO_START: &str = "started";

/// The longest name of a sequence, scenario or resource, in bytes.
pub const MAX_STATE_NAME_LEN: usize = 256;

/// Whose state a call works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateScope<'a> {
    /// The host (lower case), or `""` for a standalone server's host-less endpoints.
    pub host: &'a str,
    /// The revision of the mock that serves the host.
    pub revision: u64,
}

/// Bounds on one host's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// The most records over every resource of a host (default 10,000).
    pub max_records: u64,
    /// The most bytes of records (their JSON text) of a host (default 10 MiB).
    pub max_bytes: u64,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// A `resource` item as the state needs it.
#[derive(Debug, Clone, Copy)]
pub struct ResourceRef<'a> {
    /// Its name: the resource's path (`/users`).
    pub name: &'a str,
    /// The field that names a record (`id`).
    pub id_field: &'a str,
    /// The records a fresh state holds, in order. Each is a JSON object whose `id_field`
    /// is a string or a whole number. One without such an id gets the next whole number,
    /// as in [`MockState::create`]; one whose id an earlier one took is left out.
    pub seed: &'a [Map<String, Value>],
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum StateOutcome<T> {
    /// Done: the value it gives.
    Done(T),
    /// Nothing done: the record named does not exist.
    Missing,
    /// Nothing done: a record with that id exists (a create).
    Exists,
    /// Nothing done: the host's state would pass its limits; says which (the message
    /// names `max_records` or `max_bytes`).
    Full(String),
}

/// One page of a resource's records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordPage {
    /// The records, in the order they were created (the seed first).
    pub records: Vec<Map<String, Value>>,
    /// How many records the resource holds.
    pub total: u64,
}

/// A host's state as operators see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSnapshot {
    /// The revision the state was made under; `None` when the host has no state.
    pub revision: Option<u64>,
    /// Each scenario that left its start, and its state.
    pub scenarios: BTreeMap<String, String>,
    /// Each sequence that answered, and how many requests it has answered.
    pub sequences: BTreeMap<String, u64>,
    /// Each resource that was used, and how many records it holds.
    pub resources: BTreeMap<String, u64>,
    /// The records' size, in bytes, over every resource.
    pub bytes: u64,
}

/// Where stateful mocks keep their state.
#[async_trait]
pub trait MockState: Debug + Send + Sync + 'static {
    /// Takes the next position of sequence `name`: 0 for the first call in a state, then
    /// 1, 2, …; concurrent calls never get the same position.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn next_position(&self, scope: StateScope<'_>, name: &str) -> PortResult<u64>;

    /// Every scenario's state; one in [`SCENARIO_START`] (never moved, or moved back) is
    /// absent.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn scenarios(&self, scope: StateScope<'_>) -> PortResult<BTreeMap<String, String>>;

    /// Moves scenario `name` from `from` to `to` when it is in `from` (compare and set);
    /// whether it moved. `from == to` only checks.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn transition(
        &self,
        scope: StateScope<'_>,
        name: &str,
        from: &str,
        to: &str,
    ) -> PortResult<bool>;

    /// Records `offset..offset + limit` of `resource`, with its total.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn list(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        offset: u64,
        limit: u64,
    ) -> PortResult<RecordPage>;

    /// The record `id` of `resource`.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn get(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<Option<Map<String, Value>>>;

    /// Creates `record`. Without its id field (or with one that is neither a string nor a
    /// whole number) it gets the next whole number, as the record's first field: 1, 2, …
    /// above every whole-number id the resource has held in this state, deleted records'
    /// included. An id is a whole number when its text ([`record_id`]) is decimal digits
    /// that fit a `u64` (the string `"7"` counts as 7). `Exists` when its id is taken (ids
    /// compare by their text: `1` and `"1"` are one id), or when it needs a number and
    /// `u64::MAX` is held; `Full` past the limits; else the record as stored.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn create(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        record: Map<String, Value>,
    ) -> PortResult<StateOutcome<Map<String, Value>>>;

    /// Replaces record `id` with `record` (`merge`: sets only the fields `record` has,
    /// the others keep their order and new ones go last); the id field keeps the stored
    /// record's value whatever `record` says (a replaced record starts with it). `Missing`
    /// when there is no such record; `Full` when the record grows the host's bytes past
    /// `max_bytes`.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn update(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
        record: Map<String, Value>,
        merge: bool,
    ) -> PortResult<StateOutcome<Map<String, Value>>>;

    /// Deletes record `id`; whether it existed.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn delete(
        &self,
        scope: StateScope<'_>,
        resource: ResourceRef<'_>,
        id: &str,
    ) -> PortResult<bool>;

    /// What `host`'s state holds.
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn snapshot(&self, host: &str) -> PortResult<StateSnapshot>;

    /// Forgets `host`'s state: the next call starts afresh (seeds included).
    ///
    /// # Errors
    /// When the state cannot be reached.
    async fn reset(&self, host: &str) -> PortResult<()>;
}

/// The text form of a record's id value: a string as it is, a whole number in decimal;
/// `None` for anything else.
pub fn record_id(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        _ => None,
    }
}

/// The size a record counts against [`StateLimits::max_bytes`]: its JSON text.
pub fn record_bytes(record: &Map<String, Value>) -> u64 {
    serde_json::to_vec(record).map_or(0, |bytes| bytes.len() as u64)
}
