//! The request journal's rules: what a record of one request holds, what of it is hidden
//! (secret header values) or cut (long bodies), how long records are kept, and why a request
//! no endpoint answered missed the endpoints closest to it ([`near_misses`]).
//!
//! A mock server builds a [`RequestRecord`] after answering; a journal stores it under the
//! request's host and lists a host's records newest first. Everything here is plain data
//! and pure functions: no clock, no IO.

mod near;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

pub use near::{Attempt, Difference, MAX_NEAR_MISSES, NearMiss, near_misses};

/// The value a secret header's value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are always hidden: credentials and session cookies.
pub const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// The most body bytes a record keeps; the rest is cut and the record says so.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// What a record says of the endpoint that answered: its item's index in the user's file
/// (0-based) and the item's line (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    /// The top-level item's index, 0-based.
    pub endpoint: u32,
    /// The item's line, 1-based.
    pub line: u32,
}

/// One request a mock received and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When the request arrived.
    pub at: Timestamp,
    /// The host it was sent to, lowercased, without port.
    pub host: String,
    /// The method as sent (`GET`, ...).
    pub method: String,
    /// The path as sent, percent-encoding kept.
    pub path: String,
    /// The query string without `?`; empty when there is none.
    pub query: String,
    /// Header names (lowercase) and values in the order received, secrets redacted.
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_RECORDED_BODY`] bytes.
    pub body: String,
    /// Whether the body was longer and was cut.
    pub body_truncated: bool,
    /// The status answered.
    pub status: u16,
    /// The endpoint that answered; `None` when none did.
    pub matched: Option<Matched>,
    /// For a request no endpoint answered (404, 405): the closest endpoints and how they
    /// differ, closest first.
    pub near_misses: Vec<NearMiss>,
    /// How long answering took, in microseconds.
    pub duration_us: u64,
    /// The client's address, when known.
    pub client: Option<String>,
}

impl RequestRecord {
    /// How long answering took, in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        // Microseconds fit an f64 exactly far beyond any request's duration.
        #[allow(clippy::cast_precision_loss, reason = "exact below 2^53 µs")]
        let us = self.duration_us as f64;
        us / 1000.0
    }
}

/// Whether the value of header `name` is hidden: one of [`SECRET_HEADERS`] or of `marked`
/// (names the mock marks secret), compared without regard to case.
pub fn is_secret_header(name: &str, marked: &[String]) -> bool {
    SECRET_HEADERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
        || marked
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// `headers` with names lowercased and the values of secret headers (see
/// [`is_secret_header`]) replaced by [`REDACTED`].
pub fn redact_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    marked: &[String],
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let value = if is_secret_header(name, marked) {
                REDACTED
            } else {
                value
            };
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect()
}

/// The body as a record keeps it: text (invalid UTF-8 replaced) of at most
/// [`MAX_RECORDED_BODY`] bytes, cut at a character boundary, and whether it was cut.
pub fn recorded_body(bytes: &[u8]) -> (String, bool) {
    let kept = &bytes[..bytes.len().min(MAX_RECORDED_BODY)];
    let mut cut = kept.len() < bytes.len();
    // A character the cut splits is dropped, not replaced.
    let kept = match std::str::from_utf8(kept) {
        Err(e) if cut && e.error_len().is_none() => &kept[..e.valid_up_to()],
        _ => kept,
    };
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if text.len() > MAX_RECORDED_BODY {
        // Replacement characters made it longer than the bytes were.
        let mut end = MAX_RECORDED_BODY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cut = true;
    }
    (text, cut)
}

/// How much of a host's journal is kept: the newest `max_records`, none older than
/// `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The most records kept per host.
    pub max_records: usize,
    /// The age past which a record is gone.
    pub max_age: Duration,
}

impl Retention {
    /// The last 1,000 records, 7 days.
    pub const DEFAULT: Self = Self {
        max_records: 1_000,
        max_age: Duration::from_secs(7 * 24 * 60 * 60),
    };

    /// The oldest time a record may have at `now` and still be kept.
    pub fn oldest_kept(&self, now: Timestamp) -> Timestamp {
        let age = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        Timestamp::from_unix_millis(now.unix_millis().saturating_sub(age))
    }

    /// Whether a record made at `at` is still kept at `now`.
    pub fn keeps(&self, at: Timestamp, now: Timestamp) -> bool {
        at.unix_millis() >= self.oldest_kept(now).unix_millis()
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which of a host's records a listing wants: newest first, older than `before` when given,
/// at most `limit`, and only those the filters let through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JournalFilter {
    /// Only this method (compared without regard to case).
    pub method: Option<String>,
    /// Only this status.
    pub status: Option<u16>,
    /// Only paths starting with this.
    pub path_prefix: Option<String>,
}

impl JournalFilter {
    /// Whether `record` passes.
    pub fn admits(&self, record: &RequestRecord) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&record.method))
            && self.status.is_none_or(|s| s == record.status)
            && self
                .path_prefix
                .as_ref()
                .is_none_or(|p| record.path.starts_with(p.as_str()))
    }
}

/// Where each endpoint and websocket item starts in the user's file: `(item, line)`, item
/// order. A mock server serving a generated object knows its items by index only; this
/// turns an index back into the line the user wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemLines(Vec<(u32, u32)>);

impl ItemLines {
    /// The lines of `spec`'s items.
    pub fn of(spec: &crate::spec::Spec) -> Self {
        let mut lines: Vec<(u32, u32)> = spec
            .endpoints
            .iter()
            .map(|e| (e.item, e.line))
            .chain(spec.websockets.iter().map(|w| (w.item, w.line)))
            .collect();
        lines.sort_unstable();
        lines.dedup_by_key(|(item, _)| *item);
        Self(lines)
    }

    /// The line of item `item`, when the file has it.
    pub fn line(&self, item: u32) -> Option<u32> {
        self.0
            .binary_search_by_key(&item, |(i, _)| *i)
            .ok()
            .map(|at| self.0[at].1)
    }

    /// `record` with the lines of its matched endpoint and near misses taken from here
    /// (those of items the file does not have are left as recorded).
    pub fn relocate(&self, record: &mut RequestRecord) {
        if let Some(matched) = &mut record.matched {
            matched.line = self.line(matched.endpoint).unwrap_or(matched.line);
        }
        for miss in &mut record.near_misses {
            miss.line = self.line(miss.endpoint).unwrap_or(miss.line);
        }
    }
}

#[cfg(test)]
mod tests;
