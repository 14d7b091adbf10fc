//! The synchronous ports: time and fresh ids.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use moclojer_domain::{EventId, MockId, Timestamp, UserId, WorkspaceId};
use uuid::Uuid;

/// The current time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Now, to the millisecond.
    fn now(&self) -> Timestamp;
}

/// Fresh, unique ids.
pub trait IdGenerator: Debug + Send + Sync + 'static {
    /// A new UUID, never returned before.
    fn uuid(&self) -> Uuid;

    /// A new user id.
    fn user_id(&self) -> UserId {
        UserId::from_uuid(self.uuid())
    }

    /// A new workspace id.
    fn workspace_id(&self) -> WorkspaceId {
        WorkspaceId::from_uuid(self.uuid())
    }

    /// A new mock id.
    fn mock_id(&self) -> MockId {
        MockId::from_uuid(self.uuid())
    }

    /// A new event id.
    fn event_id(&self) -> EventId {
        EventId::from_uuid(self.uuid())
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_unix_millis(millis)
    }
}

/// UUIDv7 ids: random, and ordered by creation time, which keeps database indexes compact.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}
