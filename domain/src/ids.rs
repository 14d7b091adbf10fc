//! Typed identifiers. They wrap UUIDs; minting new ones is the job of the `IdGenerator` port,
//! so the domain stays free of randomness and clocks.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a text is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} id {raw:?} is not a UUID")]
pub struct IdError {
    kind: &'static str,
    raw: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Reads the hyphenated (or simple) UUID text form.
            ///
            /// # Errors
            /// An [`IdError`] when `raw` is not a UUID.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                Uuid::try_parse(raw.trim())
                    .map(Self)
                    .map_err(|_| IdError { kind: $kind, raw: raw.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId,
    "user"
);
id_type!(
    /// A workspace, personal or org.
    WorkspaceId,
    "workspace"
);
id_type!(
    /// A mock.
    MockId,
    "mock"
);
id_type!(
    /// An event, unique across the system; consumers use it to drop duplicates.
    EventId,
    "event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_print() {
        let text = "0190f5c4-7e1b-7cc0-8000-000000000001";
        let id = MockId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(
            MockId::parse(" 0190f5c47e1b7cc08000000000000001 ").unwrap(),
            id
        );
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn bad_ids_are_refused() {
        for raw in [
            "",
            "42",
            "not-a-uuid",
            "0190f5c4-7e1b-7cc0-8000-00000000000g",
        ] {
            let err = UserId::parse(raw).unwrap_err();
            assert_eq!(err.to_string(), format!("user id {raw:?} is not a UUID"));
        }
        assert!(serde_json::from_str::<WorkspaceId>("\"x\"").is_err());
    }
}
