//! The one error shape every port returns.

use std::error::Error as StdError;
use std::fmt;

/// The cases callers branch on. Retries are decided from the kind alone
/// ([`PortErrorKind::is_retryable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortErrorKind {
    /// The thing asked for does not exist, or the caller's scope does not see it.
    NotFound,
    /// The change clashes with existing state: a taken handle or host, a stale version.
    Conflict,
    /// The request itself is malformed for this port (bad key, bad argument).
    Invalid,
    /// The credentials are missing, malformed, expired, revoked or forged.
    Unauthenticated,
    /// The backing service cannot be reached or refused service for now.
    Unavailable,
    /// The backing service did not answer in time.
    Timeout,
    /// Anything else: a bug or corrupt data. Not retryable.
    Internal,
}

impl PortErrorKind {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Timeout)
    }

    /// A short lowercase name, stable for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for PortErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a port: a kind to branch on, a message for people, and the underlying
/// cause for logs.
#[derive(Debug)]
pub struct PortError {
    kind: PortErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// The result of a port call.
pub type PortResult<T> = Result<T, PortError>;

impl PortError {
    /// An error of `kind` with a lowercase message.
    pub fn new(kind: PortErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, keeping `source` as its cause.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// [`PortErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::NotFound, message)
    }

    /// [`PortErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Conflict, message)
    }

    /// [`PortErrorKind::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Invalid, message)
    }

    /// [`PortErrorKind::Unauthenticated`].
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Unauthenticated, message)
    }

    /// [`PortErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Unavailable, message)
    }

    /// [`PortErrorKind::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Timeout, message)
    }

    /// [`PortErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Internal, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> PortErrorKind {
        self.kind
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl StdError for PortError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_decide_retries() {
        let retryable: Vec<_> = [
            PortErrorKind::NotFound,
            PortErrorKind::Conflict,
            PortErrorKind::Invalid,
            PortErrorKind::Unauthenticated,
            PortErrorKind::Unavailable,
            PortErrorKind::Timeout,
            PortErrorKind::Internal,
        ]
        .into_iter()
        .filter(|k| k.is_retryable())
        .collect();
        assert_eq!(
            retryable,
            [PortErrorKind::Unavailable, PortErrorKind::Timeout]
        );
    }

    #[test]
    fn the_cause_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = PortError::unavailable("connect to the database").with_source(io);
        assert_eq!(err.to_string(), "unavailable: connect to the database");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("refused")
        );
        assert!(err.is_retryable());
    }
}
