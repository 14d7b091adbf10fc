//! The object store: generated YAML and manifests.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use bytes::Bytes;

use crate::PortResult;

/// A key in the object store: `/`-separated segments of `[A-Za-z0-9._-]`, none empty, none
/// `.` or `..`, at most 512 bytes. Safe as a relative file path and as an S3 key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Why a text is not an object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} is not an object key: {reason}")]
pub struct ObjectKeyError {
    key: String,
    reason: &'static str,
}

impl ObjectKey {
    /// The longest key, in bytes.
    pub const MAX_LEN: usize = 512;

    /// Checks `raw`.
    ///
    /// # Errors
    /// An [`ObjectKeyError`] saying which rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, ObjectKeyError> {
        let fail = |reason| {
            Err(ObjectKeyError {
                key: raw.to_owned(),
                reason,
            })
        };
        if raw.is_empty() {
            return fail("it is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return fail("it is longer than 512 bytes");
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return fail("it has an empty segment");
            }
            if segment == "." || segment == ".." {
                return fail("it has a relative segment");
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return fail("it has a character outside [A-Za-z0-9._-/]");
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque version tag of an object's content: equal for equal content written by the
/// same store, different when the content differs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object's content and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The bytes.
    pub bytes: Bytes,
    /// Their version tag.
    pub etag: ETag,
}

/// What is known of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its key.
    pub key: ObjectKey,
    /// Its size in bytes.
    pub size: u64,
    /// Its version tag.
    pub etag: ETag,
}

/// A flat store of objects by key. Every write replaces the whole object atomically:
/// a reader sees the old or the new content, never a mix.
#[async_trait]
pub trait ObjectStore: Debug + Send + Sync + 'static {
    /// Writes `bytes` at `key`, replacing what was there; returns the new version tag.
    ///
    /// # Errors
    /// `Unavailable` or `Timeout` when the store cannot be reached; `Conflict` when a store
    /// with real folders (the file system) has `key` as a folder or one of its prefixes as
    /// an object; `Invalid` when a segment is longer than the store allows (255 bytes on
    /// most file systems). Keys the system writes are short and never nest under an object.
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag>;

    /// The object at `key`.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn get(&self, key: &ObjectKey) -> PortResult<Object>;

    /// The object at `key` if its version is no longer `etag`; `None` when unchanged.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>>;

    /// The size and version of the object at `key`.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta>;

    /// Removes the object at `key`. Removing an absent object succeeds (as in S3).
    async fn delete(&self, key: &ObjectKey) -> PortResult<()>;

    /// Every object whose key starts with `prefix` (any text, `""` for all), by key.
    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "moclojer.yml",
            "mocks/ws-1/m_2.yml",
            "a/b/c",
            "manifest.json",
            "..a",
            "a..b",
        ] {
            assert_eq!(ObjectKey::parse(ok).map(|k| k.0), Ok(ok.to_owned()));
        }
        let bad: &[(&str, &str)] = &[
            ("", "it is empty"),
            ("/abs", "it has an empty segment"),
            ("a//b", "it has an empty segment"),
            ("a/", "it has an empty segment"),
            ("../etc/passwd", "it has a relative segment"),
            ("a/./b", "it has a relative segment"),
            ("a/..", "it has a relative segment"),
            ("a\\b", "it has a character outside [A-Za-z0-9._-/]"),
            ("a b", "it has a character outside [A-Za-z0-9._-/]"),
            ("a\0b", "it has a character outside [A-Za-z0-9._-/]"),
            ("é", "it has a character outside [A-Za-z0-9._-/]"),
        ];
        for (raw, reason) in bad {
            let err = ObjectKey::parse(raw).unwrap_err();
            assert_eq!(err.reason, *reason, "{raw:?}");
        }
        assert!(ObjectKey::parse(&"a".repeat(513)).is_err());
        assert!(ObjectKey::parse(&"a".repeat(512)).is_ok());
    }
}
