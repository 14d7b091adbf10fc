//! Events: facts that other services react to, as plain data with a schema version.
//!
//! Events are *hints*: consumers rebuild what they need from the source of truth, so a
//! duplicate or a reordering never corrupts anything. Every event has an id for
//! de-duplication and may carry the correlation id of the request that caused it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{EventId, Host, MockId, Revision, Timestamp};

/// The schema version written into every event. A consumer refuses a newer one instead of
/// guessing at its meaning.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// An id that ties log lines and events to the request that caused them:
/// 1 to 64 characters of `[A-Za-z0-9._-]`, so it is safe to log as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorrelationId(String);

impl CorrelationId {
    /// The longest correlation id.
    pub const MAX_LEN: usize = 64;

    /// Checks `raw` (e.g. an incoming `X-Request-Id`).
    ///
    /// # Errors
    /// A message when `raw` is empty, too long or has other characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!("{raw:?} is not a correlation id"))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<CorrelationId> for String {
    fn from(id: CorrelationId) -> Self {
        id.0
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventKind {
    /// A mock was created, or its content or intent changed.
    #[serde(rename = "mock.changed")]
    MockChanged {
        /// Which mock.
        mock_id: MockId,
        /// Its revision after the change.
        revision: Revision,
    },
    /// A mock was deleted; its host must stop answering.
    #[serde(rename = "mock.deleted")]
    MockDeleted {
        /// Which mock.
        mock_id: MockId,
        /// The host it had.
        host: Host,
    },
    /// A mock's publication was requested, withdrawn or changed state.
    #[serde(rename = "publication.changed")]
    PublicationChanged {
        /// Which mock.
        mock_id: MockId,
    },
    /// A new unified config is in the object store.
    #[serde(rename = "config.published")]
    ConfigPublished {
        /// Monotonic generation number.
        generation: u64,
        /// The object key of the config.
        key: String,
        /// Hex SHA-256 of the config's bytes.
        checksum: String,
    },
    /// A host needs its DNS record and PaaS domain.
    #[serde(rename = "domain.requested")]
    DomainRequested {
        /// Which mock.
        mock_id: MockId,
        /// The host to provision.
        host: Host,
    },
    /// A host's DNS record and PaaS domain must go.
    #[serde(rename = "domain.removed")]
    DomainRemoved {
        /// The host to remove.
        host: Host,
    },
}

impl EventKind {
    /// The event's type name, as written in JSON (`mock.changed`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MockChanged { .. } => "mock.changed",
            Self::MockDeleted { .. } => "mock.deleted",
            Self::PublicationChanged { .. } => "publication.changed",
            Self::ConfigPublished { .. } => "config.published",
            Self::DomainRequested { .. } => "domain.requested",
            Self::DomainRemoved { .. } => "domain.removed",
        }
    }

    /// The mock this event is about, if any.
    pub fn mock_id(&self) -> Option<MockId> {
        match self {
            Self::MockChanged { mock_id, .. }
            | Self::MockDeleted { mock_id, .. }
            | Self::PublicationChanged { mock_id }
            | Self::DomainRequested { mock_id, .. } => Some(*mock_id),
            Self::ConfigPublished { .. } | Self::DomainRemoved { .. } => None,
        }
    }
}

/// An event with its envelope.
///
/// JSON form: `{"schema":1,"id":"…","occurred_at":"…","correlation_id":"…","type":"mock.changed","data":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// [`EVENT_SCHEMA_VERSION`] when written.
    pub schema: u32,
    /// Unique; consumers drop an id they have handled.
    pub id: EventId,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The request that caused it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Why bytes are not an event this version understands.
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    /// Not JSON, or not an object with a numeric `schema`.
    #[error("not an event: {0}")]
    Malformed(String),
    /// Written by a newer version of the system.
    #[error("event schema {0} is newer than the supported {EVENT_SCHEMA_VERSION}")]
    UnsupportedSchema(u64),
    /// The envelope is fine but the type or data is not known.
    #[error("event of schema {EVENT_SCHEMA_VERSION} does not decode: {0}")]
    Invalid(String),
}

impl Event {
    /// A new event of the current schema.
    pub fn new(id: EventId, occurred_at: Timestamp, kind: EventKind) -> Self {
        Self {
            schema: EVENT_SCHEMA_VERSION,
            id,
            occurred_at,
            correlation_id: None,
            kind,
        }
    }

    /// The same event, tied to `correlation_id`.
    #[must_use]
    pub fn correlated(mut self, correlation_id: Option<CorrelationId>) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("events always serialise: {e}"))
    }

    /// Reads the JSON form, refusing events from a newer schema by name.
    ///
    /// # Errors
    /// An [`EventDecodeError`] saying whether the bytes are malformed, from a newer schema,
    /// or of an unknown type.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventDecodeError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| EventDecodeError::Malformed(e.to_string()))?;
        let schema = value
            .get("schema")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| EventDecodeError::Malformed("no numeric \"schema\" field".to_owned()))?;
        if schema > u64::from(EVENT_SCHEMA_VERSION) {
            return Err(EventDecodeError::UnsupportedSchema(schema));
        }
        serde_json::from_value(value).map_err(|e| EventDecodeError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> EventId {
        EventId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn mock(n: u128) -> MockId {
        MockId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn all_kinds() -> Vec<EventKind> {
        let host = Host::parse_any("hello-alice.localhost").unwrap();
        vec![
            EventKind::MockChanged {
                mock_id: mock(1),
                revision: Revision::FIRST,
            },
            EventKind::MockDeleted {
                mock_id: mock(1),
                host: host.clone(),
            },
            EventKind::PublicationChanged { mock_id: mock(1) },
            EventKind::ConfigPublished {
                generation: 7,
                key: "moclojer.yml".to_owned(),
                checksum: "ab".repeat(32),
            },
            EventKind::DomainRequested {
                mock_id: mock(1),
                host: host.clone(),
            },
            EventKind::DomainRemoved { host },
        ]
    }

    #[test]
    fn every_kind_round_trips_with_its_name() {
        for kind in all_kinds() {
            let event = Event::new(id(9), Timestamp::from_unix_millis(1_000), kind.clone())
                .correlated(Some(CorrelationId::parse("req-1").unwrap()));
            let json = event.to_json();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["type"], kind.name());
            assert_eq!(value["schema"], EVENT_SCHEMA_VERSION);
            assert_eq!(value["correlation_id"], "req-1");
            assert_eq!(Event::from_json(json.as_bytes()).unwrap(), event);
        }
    }

    #[test]
    fn the_wire_form_is_stable() {
        let event = Event::new(
            id(1),
            Timestamp::from_unix_millis(0),
            EventKind::MockChanged {
                mock_id: mock(2),
                revision: Revision::new(3).unwrap(),
            },
        );
        assert_eq!(
            event.to_json(),
            r#"{"schema":1,"id":"00000000-0000-0000-0000-000000000001","occurred_at":"1970-01-01T00:00:00Z","type":"mock.changed","data":{"mock_id":"00000000-0000-0000-0000-000000000002","revision":3}}"#
        );
    }

    #[test]
    fn bad_events_are_refused_by_kind() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not an event"),
            ("{}", "not an event"),
            (r#"{"schema":"1"}"#, "not an event"),
            (
                r#"{"schema":2,"type":"mock.changed"}"#,
                "event schema 2 is newer",
            ),
            (
                r#"{"schema":1,"id":"00000000-0000-0000-0000-000000000001","occurred_at":"1970-01-01T00:00:00Z","type":"mock.exploded","data":{}}"#,
                "does not decode",
            ),
            (
                r#"{"schema":1,"id":"00000000-0000-0000-0000-000000000001","occurred_at":"1970-01-01T00:00:00Z","type":"mock.changed","data":{"mock_id":"x","revision":1}}"#,
                "does not decode",
            ),
        ];
        for (raw, expected) in cases {
            let err = Event::from_json(raw.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{raw}: {err}");
        }
    }

    #[test]
    fn correlation_ids() {
        assert!(CorrelationId::parse("0b7c-AZ_9.x").is_ok());
        for bad in ["", "a b", "x\ny", "é", &"a".repeat(65)] {
            assert!(CorrelationId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mock_ids_are_reported() {
        let with: Vec<_> = all_kinds().iter().map(EventKind::mock_id).collect();
        assert_eq!(with.iter().filter(|m| m.is_some()).count(), 4);
    }
}
