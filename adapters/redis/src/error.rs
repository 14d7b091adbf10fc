//! Redis client errors as port errors.

use fred::error::{Error as FredError, ErrorKind};
use moclojer_ports::{PortError, PortErrorKind};

/// Server error prefixes that mean "not now", not "never".
const TRANSIENT_REPLIES: &[&str] = &[
    "LOADING",
    "BUSY ",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "READONLY",
    "NOREPLICAS",
];

/// Whether the server answered that the stream or the group does not exist.
pub(crate) fn is_no_group(error: &FredError) -> bool {
    error.details().starts_with("NOGROUP")
}

/// Whether the server answered that the group already exists.
pub(crate) fn is_busy_group(error: &FredError) -> bool {
    error.details().starts_with("BUSYGROUP")
}

/// Whether the server answered that the key does not exist (`XINFO` on a missing stream).
pub(crate) fn is_no_such_key(error: &FredError) -> bool {
    error.details().contains("no such key")
}

/// The kind callers branch on: connection trouble is retryable, the rest is not.
pub(crate) fn kind_of(error: &FredError) -> PortErrorKind {
    match error.kind() {
        ErrorKind::IO | ErrorKind::Canceled | ErrorKind::Backpressure | ErrorKind::Routing => {
            PortErrorKind::Unavailable
        }
        ErrorKind::Timeout => PortErrorKind::Timeout,
        ErrorKind::Url | ErrorKind::Config => PortErrorKind::Invalid,
        _ if is_no_group(error) => PortErrorKind::NotFound,
        _ if TRANSIENT_REPLIES
            .iter()
            .any(|prefix| error.details().starts_with(prefix)) =>
        {
            PortErrorKind::Unavailable
        }
        // A client that is stopped or not yet started says so in a generic error.
        _ if error.details().contains("not initialized")
            || error.details().contains("Failed to send command") =>
        {
            PortErrorKind::Unavailable
        }
        _ => PortErrorKind::Internal,
    }
}

/// `error` as a port error saying what was being done.
pub(crate) fn port_error(doing: &str, error: FredError) -> PortError {
    PortError::new(kind_of(&error), format!("redis: {doing}")).with_source(error)
}

/// A reply that does not have the shape the command promises.
pub(crate) fn bad_reply(command: &str) -> PortError {
    PortError::internal(format!("redis: unexpected reply to {command}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cases = [
            (
                FredError::new(ErrorKind::IO, "refused"),
                PortErrorKind::Unavailable,
            ),
            (
                FredError::new(ErrorKind::Canceled, "Connection closed unexpectedly."),
                PortErrorKind::Unavailable,
            ),
            (
                FredError::new(ErrorKind::Timeout, "timed out"),
                PortErrorKind::Timeout,
            ),
            (
                FredError::new(
                    ErrorKind::Unknown,
                    "NOGROUP No such key 's' or consumer group 'g'",
                ),
                PortErrorKind::NotFound,
            ),
            (
                FredError::new(
                    ErrorKind::Unknown,
                    "LOADING Redis is loading the dataset in memory",
                ),
                PortErrorKind::Unavailable,
            ),
            (
                FredError::new(ErrorKind::Unknown, "ERR syntax error"),
                PortErrorKind::Internal,
            ),
            (
                FredError::new(ErrorKind::Url, "bad url"),
                PortErrorKind::Invalid,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(kind_of(&error), kind, "{error:?}");
        }
        let busy = FredError::new(
            ErrorKind::Unknown,
            "BUSYGROUP Consumer Group name already exists",
        );
        assert!(is_busy_group(&busy));
        assert!(!is_no_group(&busy));
    }
}
