//! Collection filters: counts (`length`, `count-is`, `pluralize`), picks (`first`, `last`,
//! `take`, `drop`, `rand-nth`), and arrangements (`join`, `sort…`, `range`). Strings count and
//! iterate by character, maps by `[key, value]` entry, as in Clojure.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::number::{Num, float_to_long};
use super::{Args, Failure, Filter, Outcome, boolean, cow_text, string};
use crate::template::render::{NULL, State, value_text};

/// `length` and `count`.
pub(super) fn length(input: &Value) -> Outcome<Cow<'static, Value>> {
    Ok(Cow::Owned(Value::from(count(input)?)))
}

/// `length-is:n` and `count-is:n`.
pub(super) fn length_is(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    Ok(boolean(count(input)? == args.long(0)?))
}

/// `pluralize[:singular]:plural`: the plural ending (`s` by default) unless the value, or the
/// size of a collection, is 1.
pub(super) fn pluralize(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let n = match input {
        Value::Number(number) => number.as_f64().unwrap_or(0.0),
        other => f64::from(u32::try_from(count(other)?).unwrap_or(u32::MAX)),
    };
    let (singular, plural) = match args.len() {
        0 => (Cow::Borrowed(""), Cow::Borrowed("s")),
        1 => (Cow::Borrowed(""), args.text(0)),
        _ => (args.text(0), args.text(1)),
    };
    #[allow(clippy::float_cmp)]
    let one = n == 1.0;
    Ok(string(if one { singular } else { plural }.into_owned()))
}

/// `rand-nth`: one item, picked with the render's random numbers.
pub(super) fn rand_nth(input: &Value, st: &State<'_>) -> Outcome<Cow<'static, Value>> {
    let Some(items) = sequence(input)? else {
        return Ok(Cow::Borrowed(&NULL));
    };
    if items.is_empty() {
        return Err(Failure::Message(
            "cannot pick from an empty collection".to_owned(),
        ));
    }
    let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
    let index = usize::try_from(st.env.random() % len).unwrap_or(0);
    Ok(Cow::Owned(items[index].clone().into_owned()))
}

fn not_a_collection(value: &Value) -> Failure {
    Failure::Message(format!(
        "Expected '{}' to be a collection of some sort.",
        value_text(value)
    ))
}

/// Clojure's `count`; `nil` counts 0.
fn count(value: &Value) -> Outcome<i64> {
    let n = match value {
        Value::Null => 0,
        Value::String(text) => text.chars().count(),
        Value::Array(array) => array.len(),
        Value::Object(map) => map.len(),
        other => return Err(not_a_collection(other)),
    };
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(super) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(array) => array.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Clojure's `seq`: array elements, the characters of a string, `[key, value]` entries.
/// `None` for a missing value.
fn sequence(value: &Value) -> Outcome<Option<Vec<Cow<'_, Value>>>> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Array(array) => array.iter().map(Cow::Borrowed).collect(),
        Value::String(text) => text
            .chars()
            .map(|c| Cow::Owned(Value::String(c.to_string())))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Cow::Owned(Value::Array(vec![Value::String(k.clone()), v.clone()])))
            .collect(),
        other => return Err(not_a_collection(other)),
    }))
}

fn into_array(items: Vec<Cow<'_, Value>>) -> Value {
    Value::Array(items.into_iter().map(Cow::into_owned).collect())
}

pub(super) fn first_or_last(input: Cow<'_, Value>, last: bool) -> Outcome<Cow<'_, Value>> {
    match input {
        Cow::Borrowed(Value::Array(array)) => {
            let item = if last { array.last() } else { array.first() };
            Ok(Cow::Borrowed(item.unwrap_or(&NULL)))
        }
        Cow::Owned(Value::Array(mut array)) => {
            let item = if last {
                array.pop()
            } else if array.is_empty() {
                None
            } else {
                Some(array.swap_remove(0))
            };
            Ok(Cow::Owned(item.unwrap_or(Value::Null)))
        }
        other => {
            let Some(mut items) = sequence(&other)? else {
                return Ok(Cow::Borrowed(&NULL));
            };
            let item = if last {
                items.pop()
            } else {
                items.into_iter().next()
            };
            Ok(Cow::Owned(item.map_or(Value::Null, Cow::into_owned)))
        }
    }
}

pub(super) fn join(
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let Some(items) = sequence(input)? else {
        return Ok(string(String::new()));
    };
    st.spend_items(items.len())?;
    let separator = args.get(0).map(cow_text).unwrap_or_default();
    let texts: Vec<Cow<'_, str>> = items.iter().map(|item| value_text(item)).collect();
    let size = texts
        .iter()
        .map(|t| t.len())
        .sum::<usize>()
        .saturating_add(separator.len().saturating_mul(texts.len()));
    st.check_size(size)?;
    Ok(string(texts.join(&*separator)))
}

pub(super) fn slice(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let n = match args.number(0)? {
        Num::Int(i) => i,
        Num::Float(f) => float_to_long(f.ceil())?,
    };
    let n = usize::try_from(n).unwrap_or(0);
    let Some(mut items) = sequence(input)? else {
        return Ok(Cow::Borrowed(&NULL));
    };
    st.spend_items(items.len())?;
    match filter {
        Filter::Take => items.truncate(n),
        Filter::Drop => {
            items.drain(..n.min(items.len()));
        }
        _ => items.truncate(items.len().saturating_sub(n)),
    }
    Ok(Cow::Owned(into_array(items)))
}

/// Clojure's `compare` for the values JSON has; `None` when they are not comparable.
fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) => Some(Ordering::Less),
        (_, Value::Null) => Some(Ordering::Greater),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(x.len().cmp(&y.len()));
            }
            for (a, b) in x.iter().zip(y) {
                match compare_values(a, b)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(Ordering::Equal)
        }
        _ => None,
    }
}

pub(super) fn sort(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let Some(mut items) = sequence(input)? else {
        return Ok(Cow::Borrowed(&NULL));
    };
    let n = items.len();
    st.spend_items(n.saturating_mul(1 + n.max(1).ilog2() as usize))?;
    let key = match filter {
        Filter::SortBy | Filter::SortByReversed => Some(args.text(0)),
        _ => None,
    };
    let reversed = matches!(filter, Filter::SortReversed | Filter::SortByReversed);
    let pick = |value: &Value| -> Value {
        match (&key, value) {
            (Some(key), Value::Object(map)) => map.get(&**key).cloned().unwrap_or(Value::Null),
            (Some(_), _) => Value::Null,
            (None, value) => value.clone(),
        }
    };
    let mut incomparable = None;
    if key.is_some() {
        let mut keyed: Vec<(Value, Cow<'_, Value>)> =
            items.into_iter().map(|item| (pick(&item), item)).collect();
        keyed.sort_by(|a, b| order(&a.0, &b.0, reversed, &mut incomparable));
        items = keyed.into_iter().map(|(_, item)| item).collect();
    } else {
        items.sort_by(|a, b| order(a, b, reversed, &mut incomparable));
    }
    if let Some((a, b)) = incomparable {
        return Err(Failure::Message(format!("cannot compare '{a}' with '{b}'")));
    }
    Ok(Cow::Owned(into_array(items)))
}

fn order(
    a: &Value,
    b: &Value,
    reversed: bool,
    incomparable: &mut Option<(String, String)>,
) -> Ordering {
    match compare_values(a, b) {
        Some(ordering) if reversed => ordering.reverse(),
        Some(ordering) => ordering,
        None => {
            if incomparable.is_none() {
                *incomparable = Some((value_text(a).into_owned(), value_text(b).into_owned()));
            }
            Ordering::Equal
        }
    }
}

pub(super) fn range(
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let end = match input {
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| Failure::Message(format!("'{number}' is not an integer")))?,
        other => {
            let text = value_text(other);
            text.parse::<i64>()
                .map_err(|_| Failure::Message(format!("'{text}' is not an integer")))?
        }
    };
    let start = args.long_opt(0)?.unwrap_or(0);
    let step = args.long_opt(1)?.unwrap_or(1);
    if step == 0 {
        return Err(Failure::Message(
            "the step of a range cannot be 0".to_owned(),
        ));
    }
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let span = if step > 0 { end - start } else { start - end };
    let count = if span <= 0 {
        0
    } else {
        (span + step.abs() - 1) / step.abs()
    };
    st.spend(u64::try_from(count).unwrap_or(u64::MAX))?;
    let items = (0..count)
        .map(|i| Value::from(i64::try_from(start + i * step).unwrap_or(0)))
        .collect();
    Ok(Cow::Owned(Value::Array(items)))
}
