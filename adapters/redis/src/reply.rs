//! Reading the stream commands' replies (RESP2 shapes, as `fred` hands them over).

use fred::types::Value;
use moclojer_ports::PortResult;

use crate::error::bad_reply;

/// One stream entry: its id and its field-value pairs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The value of the first field named `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Bytes(b) => Some(b.to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn string(value: &Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b).ok())
}

fn array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

/// `[id, [field, value, ...]]`; `None` for a nil entry (one deleted from the stream while
/// pending, as Redis 6.2 reports it).
fn entry(value: Value, command: &str) -> PortResult<Option<Entry>> {
    if value.is_null() {
        return Ok(None);
    }
    let mut parts = array(value).ok_or_else(|| bad_reply(command))?.into_iter();
    let (Some(id), Some(fields), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_reply(command));
    };
    let id = string(&id).ok_or_else(|| bad_reply(command))?;
    if fields.is_null() {
        return Ok(None);
    }
    let flat = array(fields).ok_or_else(|| bad_reply(command))?;
    if flat.len() % 2 != 0 {
        return Err(bad_reply(command));
    }
    let fields = flat
        .chunks(2)
        .map(|pair| Some((bytes(&pair[0])?, bytes(&pair[1])?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad_reply(command))?;
    Ok(Some(Entry { id, fields }))
}

/// A list of entries (`XRANGE`, and the entries part of `XREADGROUP` and `XAUTOCLAIM`).
/// Nil entries come back as the id alone when Redis names one, else are dropped.
fn entries(value: Value, command: &str) -> PortResult<Vec<Result<Entry, Option<String>>>> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    array(value)
        .ok_or_else(|| bad_reply(command))?
        .into_iter()
        .map(|item| {
            // Redis 6.2 answers a deleted entry as `[id, nil]` or as a bare nil.
            let id = match &item {
                Value::Array(parts) => parts.first().and_then(string),
                _ => None,
            };
            Ok(entry(item, command)?.ok_or(id))
        })
        .collect()
}

/// `XRANGE`'s reply.
pub(crate) fn range(value: Value) -> PortResult<Vec<Entry>> {
    Ok(entries(value, "XRANGE")?
        .into_iter()
        .filter_map(Result::ok)
        .collect())
}

/// `XREADGROUP`'s reply for one stream: nil when nothing came, else
/// `[[stream, [entry, ...]]]`.
pub(crate) fn read_group(value: Value) -> PortResult<Vec<Entry>> {
    const COMMAND: &str = "XREADGROUP";
    if value.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for stream in array(value).ok_or_else(|| bad_reply(COMMAND))? {
        let mut parts = array(stream).ok_or_else(|| bad_reply(COMMAND))?.into_iter();
        let (Some(_name), Some(list), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad_reply(COMMAND));
        };
        out.extend(entries(list, COMMAND)?.into_iter().filter_map(Result::ok));
    }
    Ok(out)
}

/// `XAUTOCLAIM`'s reply.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AutoClaim {
    /// Where the next call continues; `0-0` when the scan is complete.
    pub(crate) cursor: String,
    /// The entries now owned by the caller.
    pub(crate) claimed: Vec<Entry>,
    /// Pending ids whose entries were deleted (trimmed) from the stream. Redis 7 drops them
    /// from the pending list itself; Redis 6.2 reports them as nil entries and keeps them.
    pub(crate) deleted: Vec<String>,
    /// Whether `deleted` are still pending (Redis 6.2) and must be acknowledged.
    pub(crate) deleted_still_pending: bool,
}

/// `[cursor, [entry, ...]]` (Redis 6.2) or `[cursor, [entry, ...], [deleted id, ...]]` (7+).
pub(crate) fn auto_claim(value: Value) -> PortResult<AutoClaim> {
    const COMMAND: &str = "XAUTOCLAIM";
    let mut parts = array(value).ok_or_else(|| bad_reply(COMMAND))?.into_iter();
    let (Some(cursor), Some(list)) = (parts.next(), parts.next()) else {
        return Err(bad_reply(COMMAND));
    };
    let cursor = string(&cursor).ok_or_else(|| bad_reply(COMMAND))?;
    let mut out = AutoClaim {
        cursor,
        ..AutoClaim::default()
    };
    for item in entries(list, COMMAND)? {
        match item {
            Ok(entry) => out.claimed.push(entry),
            Err(Some(id)) => {
                out.deleted.push(id);
                out.deleted_still_pending = true;
            }
            Err(None) => {}
        }
    }
    if let Some(deleted) = parts.next() {
        for id in array(deleted).ok_or_else(|| bad_reply(COMMAND))? {
            out.deleted
                .push(string(&id).ok_or_else(|| bad_reply(COMMAND))?);
        }
    }
    Ok(out)
}

/// `XPENDING key group start end count` for one id: `[[id, consumer, idle, deliveries]]`,
/// or `[]` when the id is no longer pending. Returns the delivery count.
pub(crate) fn delivery_count(value: Value) -> PortResult<Option<u64>> {
    const COMMAND: &str = "XPENDING";
    let rows = array(value).ok_or_else(|| bad_reply(COMMAND))?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let row = array(row).ok_or_else(|| bad_reply(COMMAND))?;
    row.get(3)
        .and_then(Value::as_u64)
        .map(Some)
        .ok_or_else(|| bad_reply(COMMAND))
}

/// `XINFO GROUPS`: the groups' names. Each group is a flat `[key, value, ...]` list in
/// RESP2 (a map in RESP3).
pub(crate) fn group_names(value: Value) -> PortResult<Vec<String>> {
    const COMMAND: &str = "XINFO GROUPS";
    let mut names = Vec::new();
    for group in array(value).ok_or_else(|| bad_reply(COMMAND))? {
        let flat = group.into_array();
        let name = flat
            .chunks(2)
            .find(|pair| string(&pair[0]).as_deref() == Some("name"))
            .and_then(|pair| pair.get(1).and_then(string))
            .ok_or_else(|| bad_reply(COMMAND))?;
        names.push(name);
    }
    Ok(names)
}

/// Whether `id` is a full stream id, `<ms>-<seq>`.
pub(crate) fn is_stream_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.parse::<u64>().is_ok()
            && seq.parse::<u64>().is_ok()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn a(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    fn raw_entry(id: &str, event: &str) -> Value {
        a(vec![s(id), a(vec![s("event"), s(event)])])
    }

    #[test]
    fn read_group_replies() {
        assert_eq!(read_group(Value::Null).unwrap(), Vec::new());
        let reply = a(vec![a(vec![
            s("stream"),
            a(vec![raw_entry("1-0", "{}"), raw_entry("2-0", "x")]),
        ])]);
        let got = read_group(reply).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "1-0");
        assert_eq!(got[1].field("event"), Some(&b"x"[..]));
        assert_eq!(got[1].field("other"), None);
        assert!(read_group(s("nonsense")).is_err());
    }

    #[test]
    fn auto_claim_replies_of_both_versions() {
        let seven = a(vec![
            s("0-0"),
            a(vec![raw_entry("3-0", "{}")]),
            a(vec![s("1-0")]),
        ]);
        let got = auto_claim(seven).unwrap();
        assert_eq!(got.cursor, "0-0");
        assert_eq!(got.claimed.len(), 1);
        assert_eq!(got.deleted, ["1-0"]);
        assert!(!got.deleted_still_pending);

        let six = a(vec![
            s("5-0"),
            a(vec![a(vec![s("1-0"), Value::Null]), raw_entry("3-0", "{}")]),
        ]);
        let got = auto_claim(six).unwrap();
        assert_eq!(got.cursor, "5-0");
        assert_eq!(got.claimed.len(), 1);
        assert_eq!(got.deleted, ["1-0"]);
        assert!(got.deleted_still_pending);
    }

    #[test]
    fn pending_and_groups() {
        let row = a(vec![a(vec![
            s("1-0"),
            s("c1"),
            Value::Integer(5),
            Value::Integer(2),
        ])]);
        assert_eq!(delivery_count(row).unwrap(), Some(2));
        assert_eq!(delivery_count(a(vec![])).unwrap(), None);
        let groups = a(vec![a(vec![
            s("name"),
            s("g1"),
            s("consumers"),
            Value::Integer(0),
        ])]);
        assert_eq!(group_names(groups).unwrap(), ["g1"]);
    }

    #[test]
    fn stream_ids() {
        assert!(is_stream_id("1700000000000-0"));
        assert!(!is_stream_id("mem-1"));
        assert!(!is_stream_id("1-"));
        assert!(!is_stream_id("-1"));
        assert!(!is_stream_id("1-+1"));
        assert!(!is_stream_id("1"));
    }
}
