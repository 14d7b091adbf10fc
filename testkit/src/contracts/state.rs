//! The `MockState` contract: sequence positions, scenarios by compare and set, resource
//! records from their seed, revisions that start a state afresh, resets, per-host limits
//! and snapshots. Hosts are unique per run, so a shared server (Redis) may hold other
//! runs' state.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::join_all;
use moclojer_ports::{
    MockState, RecordPage, ResourceRef, SCENARIO_START, StateLimits, StateOutcome, StateScope,
    StateSnapshot, record_bytes,
};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::unique_suffix;

/// A record of a resource.
type Record = Map<String, Value>;

/// How many callers race for sequence positions.
const POSITION_RACERS: u64 = 50;

/// How many callers race to move one scenario.
const TRANSITION_RACERS: usize = 20;

/// Runs every rule of `MockState` against the states `make` gives: one made with the
/// default limits for most rules, and others with tight limits for the limit rules. States
/// made by one `make` may share their data (replicas on one server) or not.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn mock_state_contract<F, Fut>(make: F)
where
    F: Fn(StateLimits) -> Fut,
    Fut: Future<Output = Arc<dyn MockState>>,
{
    let state = make(StateLimits::default()).await;
    let run = unique_suffix();
    let host = |what: &str| format!("{what}-{run}.state.test");

    a_host_without_state_is_empty(state.as_ref(), &host("empty")).await;
    positions_count_per_name_and_host(state.as_ref(), &host("seq-a"), &host("seq-b")).await;
    concurrent_positions_are_unique(&state, &host("seq-race")).await;
    scenarios_move_by_compare_and_set(state.as_ref(), &host("scenario")).await;
    one_concurrent_transition_wins(&state, &host("scenario-race")).await;
    a_newer_revision_starts_afresh(state.as_ref(), &host("revision")).await;
    revisions_compare_as_numbers(state.as_ref(), &host("revision-numbers")).await;
    a_reset_forgets_one_host(state.as_ref(), &host("reset"), &host("kept")).await;
    the_seed_lists_in_order(state.as_ref(), &host("seed")).await;
    records_are_found_by_id(state.as_ref(), &host("get")).await;
    creates_number_records_past_every_id(state.as_ref(), &host("create")).await;
    seeds_without_ids_are_numbered(state.as_ref(), &host("seed-ids")).await;
    updates_replace_or_merge(state.as_ref(), &host("update")).await;
    odd_values_survive_updates(state.as_ref(), &host("odd-values")).await;
    deletes_forget_records(state.as_ref(), &host("delete")).await;
    the_snapshot_counts_everything(state.as_ref(), &host("snapshot")).await;
    unusual_names_do_not_collide(state.as_ref(), &run).await;

    let few = make(StateLimits {
        max_records: 3,
        ..StateLimits::default()
    })
    .await;
    a_host_holds_at_most_max_records(few.as_ref(), &host("few"), &host("few-other")).await;
    let seed_bytes: u64 = users_seed().iter().map(record_bytes).sum();
    let small = make(StateLimits {
        max_bytes: seed_bytes + SMALL_RECORD_BYTES + 1,
        ..StateLimits::default()
    })
    .await;
    a_host_holds_at_most_max_bytes(small.as_ref(), &host("small"), &host("small-other")).await;
}

fn at(host: &str, revision: u64) -> StateScope<'_> {
    StateScope { host, revision }
}

fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        other => panic!("a record is an object, not {other}"),
    }
}

fn users_seed() -> Vec<Record> {
    vec![
        record(json!({"id": 1, "name": "ana"})),
        record(json!({"id": 2, "name": "bia"})),
    ]
}

fn tags_seed() -> Vec<Record> {
    vec![
        record(json!({"slug": "red", "hex": "#f00"})),
        record(json!({"slug": "blue", "hex": "#00f"})),
    ]
}

fn users(seed: &[Record]) -> ResourceRef<'_> {
    ResourceRef {
        name: "/users",
        id_field: "id",
        seed,
    }
}

fn tags(seed: &[Record]) -> ResourceRef<'_> {
    ResourceRef {
        name: "/tags",
        id_field: "slug",
        seed,
    }
}

/// The size of the record [`a_host_holds_at_most_max_bytes`] creates first.
const SMALL_RECORD_BYTES: u64 = 27;

fn ids(records: &[Record], id_field: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.get(id_field).cloned().unwrap_or(Value::Null))
        .collect()
}

async fn position(state: &dyn MockState, scope: StateScope<'_>, name: &str) -> u64 {
    state
        .next_position(scope, name)
        .await
        .unwrap_or_else(|e| panic!("next_position {scope:?} {name:?}: {e}"))
}

async fn scenarios(state: &dyn MockState, scope: StateScope<'_>) -> BTreeMap<String, String> {
    state
        .scenarios(scope)
        .await
        .unwrap_or_else(|e| panic!("scenarios {scope:?}: {e}"))
}

async fn transition(
    state: &dyn MockState,
    scope: StateScope<'_>,
    name: &str,
    from: &str,
    to: &str,
) -> bool {
    state
        .transition(scope, name, from, to)
        .await
        .unwrap_or_else(|e| panic!("transition {scope:?} {name:?} {from:?}→{to:?}: {e}"))
}

async fn list_all(
    state: &dyn MockState,
    scope: StateScope<'_>,
    resource: ResourceRef<'_>,
) -> RecordPage {
    state
        .list(scope, resource, 0, 1_000)
        .await
        .unwrap_or_else(|e| panic!("list {scope:?} {}: {e}", resource.name))
}

async fn get(
    state: &dyn MockState,
    scope: StateScope<'_>,
    resource: ResourceRef<'_>,
    id: &str,
) -> Option<Record> {
    state
        .get(scope, resource, id)
        .await
        .unwrap_or_else(|e| panic!("get {scope:?} {} {id:?}: {e}", resource.name))
}

async fn create(
    state: &dyn MockState,
    scope: StateScope<'_>,
    resource: ResourceRef<'_>,
    value: Value,
) -> StateOutcome<Record> {
    state
        .create(scope, resource, record(value))
        .await
        .unwrap_or_else(|e| panic!("create {scope:?} {}: {e}", resource.name))
}

async fn update(
    state: &dyn MockState,
    scope: StateScope<'_>,
    resource: ResourceRef<'_>,
    id: &str,
    value: Value,
    merge: bool,
) -> StateOutcome<Record> {
    state
        .update(scope, resource, id, record(value), merge)
        .await
        .unwrap_or_else(|e| panic!("update {scope:?} {} {id:?}: {e}", resource.name))
}

async fn delete(
    state: &dyn MockState,
    scope: StateScope<'_>,
    resource: ResourceRef<'_>,
    id: &str,
) -> bool {
    state
        .delete(scope, resource, id)
        .await
        .unwrap_or_else(|e| panic!("delete {scope:?} {} {id:?}: {e}", resource.name))
}

async fn snapshot(state: &dyn MockState, host: &str) -> StateSnapshot {
    state
        .snapshot(host)
        .await
        .unwrap_or_else(|e| panic!("snapshot {host:?}: {e}"))
}

/// The record a `Done` holds.
#[track_caller]
fn done(outcome: StateOutcome<Record>, what: &str) -> Record {
    match outcome {
        StateOutcome::Done(record) => record,
        other => panic!("{what}: expected Done, got {other:?}"),
    }
}

/// The message a `Full` holds.
#[track_caller]
fn full(outcome: StateOutcome<Record>, what: &str) -> String {
    match outcome {
        StateOutcome::Full(why) => why,
        other => panic!("{what}: expected Full, got {other:?}"),
    }
}

async fn a_host_without_state_is_empty(state: &dyn MockState, host: &str) {
    assert_eq!(
        snapshot(state, host).await,
        StateSnapshot::default(),
        "a host without state has no revision and nothing else"
    );
    state.reset(host).await.expect("resetting an unknown host");
    assert!(
        scenarios(state, at(host, 7)).await.is_empty(),
        "no scenario has moved in a new state"
    );
    let made = snapshot(state, host).await;
    assert_eq!(
        made,
        StateSnapshot {
            revision: Some(7),
            ..StateSnapshot::default()
        },
        "the first call starts a state under its revision"
    );
}

async fn positions_count_per_name_and_host(state: &dyn MockState, a: &str, b: &str) {
    let taken = [
        position(state, at(a, 1), "one").await,
        position(state, at(a, 1), "one").await,
        position(state, at(a, 1), "one").await,
    ];
    assert_eq!(taken, [0, 1, 2], "a sequence counts from 0");
    assert_eq!(
        position(state, at(a, 1), "two").await,
        0,
        "another name has its own positions"
    );
    assert_eq!(
        position(state, at(b, 1), "one").await,
        0,
        "another host has its own positions"
    );
    assert_eq!(
        position(state, at(a, 1), "one").await,
        3,
        "the other names and hosts did not move it"
    );
}

async fn concurrent_positions_are_unique(state: &Arc<dyn MockState>, host: &str) {
    let mut taken =
        join_all((0..POSITION_RACERS).map(|_| position(state.as_ref(), at(host, 1), "joined")))
            .await;
    taken.sort_unstable();
    assert_eq!(
        taken,
        (0..POSITION_RACERS).collect::<Vec<_>>(),
        "concurrent calls (joined) take each position once"
    );

    let mut tasks = JoinSet::new();
    for _ in 0..POSITION_RACERS {
        let (state, host) = (Arc::clone(state), host.to_owned());
        tasks.spawn(async move { position(state.as_ref(), at(&host, 1), "spawned").await });
    }
    let mut taken = tasks.join_all().await;
    taken.sort_unstable();
    assert_eq!(
        taken,
        (0..POSITION_RACERS).collect::<Vec<_>>(),
        "concurrent calls (spawned) take each position once"
    );
}

async fn scenarios_move_by_compare_and_set(state: &dyn MockState, host: &str) {
    let scope = at(host, 1);
    assert!(
        scenarios(state, scope).await.is_empty(),
        "nothing moved yet"
    );
    assert!(
        transition(state, scope, "login", SCENARIO_START, "a").await,
        "a scenario starts in SCENARIO_START"
    );
    assert!(
        !transition(state, scope, "login", SCENARIO_START, "a").await,
        "it is no longer in SCENARIO_START"
    );
    let expected = BTreeMap::from([("login".to_owned(), "a".to_owned())]);
    assert_eq!(scenarios(state, scope).await, expected, "it moved to a");
    assert!(
        transition(state, scope, "login", "a", "a").await,
        "from == to checks it is in a"
    );
    assert!(
        !transition(state, scope, "login", "b", "b").await,
        "from == to checks it is not in b"
    );
    assert!(
        transition(state, scope, "other", SCENARIO_START, SCENARIO_START).await,
        "a scenario never moved is in SCENARIO_START"
    );
    assert_eq!(
        scenarios(state, scope).await,
        expected,
        "checking moves nothing"
    );
    assert!(transition(state, scope, "login", "a", "b").await, "a → b");
    assert!(
        !transition(state, scope, "login", "a", "c").await,
        "no longer in a"
    );
    assert!(transition(state, scope, "back", SCENARIO_START, "x").await);
    assert!(transition(state, scope, "back", "x", SCENARIO_START).await);
    assert_eq!(
        scenarios(state, scope).await,
        BTreeMap::from([("login".to_owned(), "b".to_owned())]),
        "the moved ones; one moved back to SCENARIO_START is absent"
    );
    assert!(
        transition(state, scope, "back", SCENARIO_START, "y").await,
        "one moved back starts again"
    );
}

async fn one_concurrent_transition_wins(state: &Arc<dyn MockState>, host: &str) {
    let mut tasks = JoinSet::new();
    for i in 0..TRANSITION_RACERS {
        let (state, host) = (Arc::clone(state), host.to_owned());
        tasks.spawn(async move {
            let to = format!("x{i}");
            let moved = transition(state.as_ref(), at(&host, 1), "race", SCENARIO_START, &to).await;
            moved.then_some(to)
        });
    }
    let winners: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one racer moves it: {winners:?}");
    assert_eq!(
        scenarios(state.as_ref(), at(host, 1)).await.get("race"),
        winners.first(),
        "it is where the winner moved it"
    );
}

async fn a_newer_revision_starts_afresh(state: &dyn MockState, host: &str) {
    let seed = users_seed();
    let (one, two) = (at(host, 1), at(host, 2));
    position(state, one, "s").await;
    position(state, one, "s").await;
    assert!(transition(state, one, "flow", SCENARIO_START, "a").await);
    done(
        create(state, one, users(&seed), json!({"name": "cy"})).await,
        "create",
    );
    assert!(
        delete(state, one, users(&seed), "1").await,
        "delete a seed record"
    );

    assert_eq!(
        position(state, two, "s").await,
        0,
        "a newer revision forgets positions"
    );
    assert!(
        scenarios(state, two).await.is_empty(),
        "a newer revision forgets scenarios"
    );
    assert_eq!(
        list_all(state, two, users(&seed)).await.records,
        seed,
        "a newer revision starts records from the seed"
    );

    assert_eq!(
        position(state, one, "s").await,
        1,
        "an older revision works on the newer state"
    );
    assert!(
        transition(state, one, "flow", SCENARIO_START, "b").await,
        "an older revision sees the newer scenarios"
    );
    let created = done(
        create(state, one, users(&seed), json!({"name": "di"})).await,
        "create from an older revision",
    );
    assert_eq!(
        created.get("id"),
        Some(&json!(3)),
        "numbered in the new state"
    );
    assert_eq!(
        list_all(state, two, users(&seed)).await.total,
        3,
        "the older revision's write is in the newer state"
    );
    assert_eq!(position(state, two, "s").await, 2, "no second reset");
    assert_eq!(
        scenarios(state, two).await.get("flow").map(String::as_str),
        Some("b")
    );
    assert_eq!(snapshot(state, host).await.revision, Some(2));
}

async fn revisions_compare_as_numbers(state: &dyn MockState, host: &str) {
    position(state, at(host, 9), "s").await;
    assert_eq!(
        position(state, at(host, 10), "s").await,
        0,
        "10 is newer than 9"
    );
    assert_eq!(
        position(state, at(host, 9), "s").await,
        1,
        "9 is older than 10"
    );
    let big = 1_u64 << 53;
    position(state, at(host, big), "s").await;
    assert_eq!(
        position(state, at(host, big + 1), "s").await,
        0,
        "2^53 + 1 is newer than 2^53"
    );
    assert_eq!(position(state, at(host, u64::MAX), "s").await, 0);
    assert_eq!(position(state, at(host, big + 1), "s").await, 1);
    assert_eq!(snapshot(state, host).await.revision, Some(u64::MAX));
}

async fn a_reset_forgets_one_host(state: &dyn MockState, host: &str, other: &str) {
    let seed = users_seed();
    for h in [host, other] {
        position(state, at(h, 3), "s").await;
        assert!(transition(state, at(h, 3), "flow", SCENARIO_START, "a").await);
        assert!(delete(state, at(h, 3), users(&seed), "2").await);
    }
    state.reset(host).await.expect("reset");
    assert_eq!(
        snapshot(state, host).await,
        StateSnapshot::default(),
        "a reset host has no state"
    );
    assert_eq!(
        position(state, at(host, 1), "s").await,
        0,
        "positions restart"
    );
    assert_eq!(
        snapshot(state, host).await.revision,
        Some(1),
        "the next call starts a state under its revision, older or not"
    );
    assert!(scenarios(state, at(host, 1)).await.is_empty());
    assert_eq!(
        list_all(state, at(host, 1), users(&seed)).await.records,
        seed,
        "the seed is back"
    );

    assert_eq!(
        position(state, at(other, 3), "s").await,
        1,
        "another host keeps its state"
    );
    assert_eq!(scenarios(state, at(other, 3)).await.len(), 1);
    assert_eq!(list_all(state, at(other, 3), users(&seed)).await.total, 1);
    assert_eq!(snapshot(state, other).await.revision, Some(3));
}

async fn the_seed_lists_in_order(state: &dyn MockState, host: &str) {
    let seed = users_seed();
    let scope = at(host, 1);
    assert_eq!(
        list_all(state, scope, users(&seed)).await,
        RecordPage {
            records: seed.clone(),
            total: 2
        },
        "the seed, in order"
    );
    let page = |offset, limit| async move {
        state
            .list(scope, users(&users_seed()), offset, limit)
            .await
            .expect("list")
    };
    assert_eq!(
        page(1, 1).await,
        RecordPage {
            records: seed[1..].to_vec(),
            total: 2
        },
        "offset and limit"
    );
    assert_eq!(page(0, 1).await.records, seed[..1]);
    assert_eq!(
        page(5, 10).await,
        RecordPage {
            records: vec![],
            total: 2
        },
        "past the end"
    );
    assert!(page(0, 0).await.records.is_empty(), "limit 0");
    assert_eq!(page(0, 0).await.total, 2);
}

async fn records_are_found_by_id(state: &dyn MockState, host: &str) {
    let (seed, tag_seed) = (users_seed(), tags_seed());
    let scope = at(host, 1);
    assert_eq!(
        get(state, scope, users(&seed), "1").await.as_ref(),
        Some(&seed[0]),
        "a whole-number id by its text"
    );
    assert_eq!(
        get(state, scope, users(&seed), "2").await.as_ref(),
        Some(&seed[1])
    );
    assert_eq!(
        get(state, scope, users(&seed), "3").await,
        None,
        "no such id"
    );
    assert_eq!(
        get(state, scope, users(&seed), "01").await,
        None,
        "ids compare as text"
    );
    assert_eq!(
        get(state, scope, tags(&tag_seed), "blue").await.as_ref(),
        Some(&tag_seed[1]),
        "a string id"
    );
    assert_eq!(get(state, scope, tags(&tag_seed), "1").await, None);
}

async fn creates_number_records_past_every_id(state: &dyn MockState, host: &str) {
    let seed = users_seed();
    let (scope, users) = (at(host, 1), users(&seed));
    let third = done(
        create(state, scope, users, json!({"name": "cy"})).await,
        "create",
    );
    assert_eq!(third, record(json!({"id": 3, "name": "cy"})), "max id + 1");
    let fourth = done(
        create(state, scope, users, json!({"name": "di"})).await,
        "create",
    );
    assert_eq!(fourth.get("id"), Some(&json!(4)), "then the next");
    assert_eq!(
        get(state, scope, users, "4").await,
        Some(fourth),
        "reads back"
    );
    for taken in [json!(2), json!("2")] {
        assert_eq!(
            create(state, scope, users, json!({"id": taken, "name": "x"})).await,
            StateOutcome::Exists,
            "id {taken} is taken"
        );
    }
    let named = done(
        create(state, scope, users, json!({"id": "x7", "name": "ed"})).await,
        "create with a new string id",
    );
    assert_eq!(
        named,
        record(json!({"id": "x7", "name": "ed"})),
        "kept as given"
    );
    assert!(delete(state, scope, users, "4").await);
    let fifth = done(create(state, scope, users, json!({})).await, "create");
    assert_eq!(
        fifth,
        record(json!({"id": 5})),
        "a deleted id is not reused"
    );
    let null_id = done(
        create(state, scope, users, json!({"id": null, "name": "fa"})).await,
        "create with a null id",
    );
    assert_eq!(null_id, record(json!({"id": 6, "name": "fa"})), "numbered");
    done(
        create(state, scope, users, json!({"id": "10"})).await,
        "create",
    );
    let next = done(create(state, scope, users, json!({})).await, "create");
    assert_eq!(
        next.get("id"),
        Some(&json!(11)),
        "a string of digits counts"
    );
    let page = list_all(state, scope, users).await;
    assert_eq!(
        ids(&page.records, "id"),
        [
            json!(1),
            json!(2),
            json!(3),
            json!("x7"),
            json!(5),
            json!(6),
            json!("10"),
            json!(11)
        ],
        "creation order, the seed first"
    );
    assert_eq!(page.total, 8);
}

async fn seeds_without_ids_are_numbered(state: &dyn MockState, host: &str) {
    let seed = vec![
        record(json!({"text": "a"})),
        record(json!({"id": 5, "text": "b"})),
        record(json!({"text": "c"})),
        record(json!({"id": "5", "text": "again"})),
    ];
    let notes = ResourceRef {
        name: "/notes",
        id_field: "id",
        seed: &seed,
    };
    let page = list_all(state, at(host, 1), notes).await;
    assert_eq!(
        page.records,
        [
            record(json!({"id": 1, "text": "a"})),
            record(json!({"id": 5, "text": "b"})),
            record(json!({"id": 6, "text": "c"})),
        ],
        "numbered like creates; a repeated id is left out"
    );
    assert_eq!(page.total, 3);
}

async fn updates_replace_or_merge(state: &dyn MockState, host: &str) {
    let seed = users_seed();
    let (scope, users) = (at(host, 1), users(&seed));
    let replaced = done(
        update(
            state,
            scope,
            users,
            "1",
            json!({"name": "ANA", "id": 99, "age": 3}),
            false,
        )
        .await,
        "replace",
    );
    let expected = record(json!({"id": 1, "name": "ANA", "age": 3}));
    assert_eq!(replaced, expected, "the id field keeps the stored value");
    assert_eq!(replaced.get("id"), Some(&json!(1)), "still a number");
    assert_eq!(get(state, scope, users, "1").await, Some(expected));
    let replaced = done(
        update(state, scope, users, "1", json!({"age": 4}), false).await,
        "replace",
    );
    assert_eq!(
        replaced,
        record(json!({"id": 1, "age": 4})),
        "fields not given are gone"
    );

    let merged = done(
        update(
            state,
            scope,
            users,
            "2",
            json!({"age": 30, "id": "zz"}),
            true,
        )
        .await,
        "merge",
    );
    let expected = record(json!({"id": 2, "name": "bia", "age": 30}));
    assert_eq!(merged, expected, "only the given fields change");
    let keys: Vec<&String> = merged.keys().collect();
    assert_eq!(keys, ["id", "name", "age"], "old fields keep their order");
    let merged = done(
        update(state, scope, users, "2", json!({"name": "BIA"}), true).await,
        "merge",
    );
    assert_eq!(merged, record(json!({"id": 2, "name": "BIA", "age": 30})));
    assert_eq!(get(state, scope, users, "2").await, Some(merged));

    for merge in [false, true] {
        assert_eq!(
            update(state, scope, users, "9", json!({"name": "x"}), merge).await,
            StateOutcome::Missing,
            "no record 9 (merge {merge})"
        );
    }
    assert_eq!(
        get(state, scope, users, "9").await,
        None,
        "an update creates nothing"
    );
    assert_eq!(
        ids(&list_all(state, scope, users).await.records, "id"),
        [json!(1), json!(2)],
        "updates keep the order"
    );
}

/// Values whose text holds JSON's own punctuation, nested values, numbers of every kind.
async fn odd_values_survive_updates(state: &dyn MockState, host: &str) {
    let seed = vec![record(json!({
        "id": "o\"dd,{id}",
        "list": ["a,b", {"x": "}", "y": [1, [2, {}]]}, [], "\\"],
        "text": "say \"hi\", {ok}: [yes]\\",
        "numbers": [-1.5e3, 0, 18_446_744_073_709_551_615_u64, -9_223_372_036_854_775_808_i64],
        "nested": {"id": 5, "a": {"b": [true, false, null]}},
        "unicode": "ü 名 \u{1}",
        "empty": {},
    }))];
    let odd = ResourceRef {
        name: "/odd",
        id_field: "id",
        seed: &seed,
    };
    let (scope, id) = (at(host, 1), "o\"dd,{id}");
    assert_eq!(
        get(state, scope, odd, id).await.as_ref(),
        Some(&seed[0]),
        "reads back"
    );
    let patch = json!({"text": "new, {text}", "extra": {"k": "]"}, "id": "ignored"});
    let merged = done(update(state, scope, odd, id, patch, true).await, "merge");
    let mut expected = seed[0].clone();
    expected.insert("text".to_owned(), json!("new, {text}"));
    expected.insert("extra".to_owned(), json!({"k": "]"}));
    assert_eq!(merged, expected, "a merge changes only the given fields");
    let keys: Vec<&String> = merged.keys().collect();
    let expected_keys = [
        "id", "list", "text", "numbers", "nested", "unicode", "empty", "extra",
    ];
    assert_eq!(keys, expected_keys, "in order, the new field last");
    assert_eq!(get(state, scope, odd, id).await, Some(expected));

    let replaced = done(
        update(state, scope, odd, id, json!({"nested": {"id": 1}}), false).await,
        "replace",
    );
    assert_eq!(replaced, record(json!({"id": id, "nested": {"id": 1}})));
    let numbered = done(
        create(
            state,
            scope,
            odd,
            json!({"a": {"id": 3}, "b": "{\"id\":4}"}),
        )
        .await,
        "create",
    );
    assert_eq!(
        numbered,
        record(json!({"id": 1, "a": {"id": 3}, "b": "{\"id\":4}"})),
        "nested ids are not the record's"
    );
    let records = list_all(state, scope, odd).await.records;
    assert_eq!(
        snapshot(state, host).await.bytes,
        records.iter().map(record_bytes).sum::<u64>(),
        "bytes are the records' JSON text"
    );
}

async fn deletes_forget_records(state: &dyn MockState, host: &str) {
    let seed = users_seed();
    let (scope, users) = (at(host, 1), users(&seed));
    assert!(delete(state, scope, users, "1").await, "it existed");
    assert_eq!(get(state, scope, users, "1").await, None, "gone");
    assert!(!delete(state, scope, users, "1").await, "no longer exists");
    assert!(!delete(state, scope, users, "nope").await, "never existed");
    let page = list_all(state, scope, users).await;
    assert_eq!(page.records, seed[1..], "the others stay");
    assert_eq!(page.total, 1);
    let shot = snapshot(state, host).await;
    assert_eq!(
        shot.bytes,
        record_bytes(&seed[1]),
        "a deleted record's bytes are freed"
    );
    assert_eq!(shot.resources.get("/users"), Some(&1));
    assert!(delete(state, scope, users, "2").await);
    assert_eq!(
        list_all(state, scope, users).await,
        RecordPage::default(),
        "an emptied resource is not seeded again"
    );
}

async fn the_snapshot_counts_everything(state: &dyn MockState, host: &str) {
    let (seed, tag_seed) = (users_seed(), tags_seed());
    let scope = at(host, 4);
    for _ in 0..3 {
        position(state, scope, "a").await;
    }
    position(state, scope, "b").await;
    assert!(transition(state, scope, "flow", SCENARIO_START, "x").await);
    done(
        create(state, scope, users(&seed), json!({"name": "cy"})).await,
        "create",
    );
    get(state, scope, tags(&tag_seed), "red").await;
    let records = [
        list_all(state, scope, users(&seed)).await.records,
        list_all(state, scope, tags(&tag_seed)).await.records,
    ]
    .concat();
    assert_eq!(
        snapshot(state, host).await,
        StateSnapshot {
            revision: Some(4),
            scenarios: BTreeMap::from([("flow".to_owned(), "x".to_owned())]),
            sequences: BTreeMap::from([("a".to_owned(), 3), ("b".to_owned(), 1)]),
            resources: BTreeMap::from([("/tags".to_owned(), 2), ("/users".to_owned(), 3)]),
            bytes: records.iter().map(record_bytes).sum(),
        },
        "what the host's state holds"
    );
}

async fn unusual_names_do_not_collide(state: &dyn MockState, run: &str) {
    let (joined, split) = (format!("u{run}:b"), format!("u{run}"));
    position(state, at(&joined, 1), "c").await;
    assert_eq!(
        position(state, at(&split, 1), "b:c").await,
        0,
        "host a:b + name c is not host a + name b:c"
    );
    let odd_hosts = [
        format!("{{u{run}}}"),
        format!("u{run}}}"),
        format!("{{u{run}"),
        format!("u {run} é ü 名"),
        format!("u{run}\n:x"),
    ];
    for (i, host) in odd_hosts.iter().enumerate() {
        let taken = u64::try_from(i).expect("small") + 1;
        for _ in 0..taken {
            position(state, at(host, 1), "{s}").await;
        }
        assert!(transition(state, at(host, 1), "a b:{c}", SCENARIO_START, "ü").await);
    }
    for (i, host) in odd_hosts.iter().enumerate() {
        let shot = snapshot(state, host).await;
        let taken = u64::try_from(i).expect("small") + 1;
        assert_eq!(shot.sequences.get("{s}"), Some(&taken), "host {host:?}");
        assert_eq!(shot.scenarios.get("a b:{c}").map(String::as_str), Some("ü"));
    }
    let empty = "";
    state.reset(empty).await.expect("reset the host-less state");
    assert_eq!(
        position(state, at(empty, 1), "s").await,
        0,
        "the host-less state"
    );
    assert_eq!(position(state, at(empty, 1), "s").await, 1);
    assert_eq!(snapshot(state, empty).await.sequences.get("s"), Some(&2));
    state.reset(empty).await.expect("reset the host-less state");

    // Resource names that share prefixes and separators; one also names a sequence.
    let host = format!("names-{run}");
    let names = ["/x", "/x:o", "/x:d", "/x:r", "/x :o", "/{x}", "/ü/名", "s"];
    for (i, name) in names.iter().enumerate() {
        let seed = vec![record(json!({"id": i, "name": name}))];
        let resource = ResourceRef {
            name,
            id_field: "id",
            seed: &seed,
        };
        done(
            create(state, at(&host, 1), resource, json!({"name": name})).await,
            "create",
        );
    }
    position(state, at(&host, 1), "s").await;
    for (i, name) in names.iter().enumerate() {
        let resource = ResourceRef {
            name,
            id_field: "id",
            seed: &[],
        };
        let page = list_all(state, at(&host, 1), resource).await;
        let expected = [json!(i), json!(i + 1)];
        assert_eq!(ids(&page.records, "id"), expected, "resource {name:?}");
        assert!(
            page.records
                .iter()
                .all(|r| r.get("name") == Some(&json!(name)))
        );
    }
    let shot = snapshot(state, &host).await;
    assert_eq!(shot.resources.len(), names.len(), "{:?}", shot.resources);
    assert!(shot.resources.values().all(|&count| count == 2));
    assert_eq!(shot.sequences, BTreeMap::from([("s".to_owned(), 1)]));
}

async fn a_host_holds_at_most_max_records(state: &dyn MockState, host: &str, other: &str) {
    let seed = users_seed();
    let (scope, users) = (at(host, 1), users(&seed));
    done(
        create(state, scope, users, json!({"name": "cy"})).await,
        "the third",
    );
    let why = full(
        create(state, scope, users, json!({"name": "di"})).await,
        "a fourth with max_records 3 (the seed counts)",
    );
    assert!(why.contains("max_records"), "says which limit: {why}");
    let other_resource = tags(&[]);
    let why = full(
        create(state, scope, other_resource, json!({"slug": "x"})).await,
        "a fourth in another resource",
    );
    assert!(why.contains("max_records"), "says which limit: {why}");
    let page = list_all(state, scope, users).await;
    assert_eq!(page.total, 3, "nothing was added");
    assert_eq!(ids(&page.records, "id"), [json!(1), json!(2), json!(3)]);
    assert_eq!(snapshot(state, host).await.resources.get("/tags"), Some(&0));

    assert!(delete(state, scope, users, "1").await);
    let again = done(
        create(state, scope, users, json!({})).await,
        "after a delete",
    );
    assert_eq!(
        again.get("id"),
        Some(&json!(4)),
        "a refused create took no id"
    );
    assert!(
        matches!(
            update(state, scope, users, "2", json!({"more": "fields"}), true).await,
            StateOutcome::Done(_)
        ),
        "an update adds no record"
    );

    done(
        create(state, at(other, 1), users, json!({"name": "cy"})).await,
        "another host has limits of its own",
    );
}

async fn a_host_holds_at_most_max_bytes(state: &dyn MockState, host: &str, other: &str) {
    let seed = users_seed();
    let (scope, users) = (at(host, 1), users(&seed));
    let small = json!({"name": "abcdefghi"});
    let created = done(create(state, scope, users, small.clone()).await, "small");
    assert_eq!(record_bytes(&created), SMALL_RECORD_BYTES, "{created:?}");
    let before = snapshot(state, host).await;
    let big = json!({"name": "x".repeat(11)});
    let why = full(create(state, scope, users, big).await, "past max_bytes");
    assert!(why.contains("max_bytes"), "says which limit: {why}");
    assert_eq!(snapshot(state, host).await, before, "nothing changed");
    assert_eq!(list_all(state, scope, users).await.total, 3);

    let why = full(
        update(
            state,
            scope,
            users,
            "3",
            json!({"name": "x".repeat(30)}),
            false,
        )
        .await,
        "an update growing past max_bytes",
    );
    assert!(why.contains("max_bytes"), "says which limit: {why}");
    let why = full(
        update(
            state,
            scope,
            users,
            "1",
            json!({"more": "x".repeat(30)}),
            true,
        )
        .await,
        "a merge growing past max_bytes",
    );
    assert!(why.contains("max_bytes"), "says which limit: {why}");
    assert_eq!(
        get(state, scope, users, "3").await,
        Some(created),
        "the old record is intact"
    );
    assert_eq!(get(state, scope, users, "1").await.as_ref(), Some(&seed[0]));
    assert_eq!(snapshot(state, host).await, before, "nothing changed");

    done(
        update(
            state,
            scope,
            users,
            "3",
            json!({"name": "abcdefghij"}),
            false,
        )
        .await,
        "growing by one byte, to the limit exactly",
    );
    done(
        update(state, scope, users, "3", json!({}), false).await,
        "shrinking",
    );
    let bytes: u64 = list_all(state, scope, users)
        .await
        .records
        .iter()
        .map(record_bytes)
        .sum();
    assert_eq!(
        snapshot(state, host).await.bytes,
        bytes,
        "bytes follow updates"
    );

    done(
        create(state, at(other, 1), users, small).await,
        "another host has limits of its own",
    );
}
