//! Validated names: handles of users and orgs, mock names, e-mail addresses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Names no user or org may take: they would shadow the service's own hostnames.
///
/// Handles of users and orgs share one namespace, and this list is part of it.
pub const RESERVED_HANDLES: &[&str] = &[
    "admin",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "help",
    "imap",
    "internal",
    "localhost",
    "login",
    "logout",
    "mail",
    "moclojer",
    "ns",
    "ns1",
    "ns2",
    "ops",
    "pop",
    "proxy",
    "root",
    "signin",
    "signup",
    "smtp",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "test",
    "web",
    "webmail",
    "www",
];

/// The unique name of a user's or an org's workspace: `[a-z0-9]{1,30}`, not reserved.
///
/// A handle has no dash, so the host `<mock>-<handle>.<zone>` splits unambiguously at its
/// last dash.
///
/// ```
/// use moclojer_domain::{Handle, HandleError};
/// assert_eq!(Handle::parse("alice42")?.as_str(), "alice42");
/// assert_eq!(Handle::parse("api"), Err(HandleError::Reserved("api".to_owned())));
/// assert_eq!(Handle::parse("Alice"), Err(HandleError::InvalidCharacter('A')));
/// # Ok::<(), HandleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

/// Why a handle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The handle was empty.
    #[error("a handle cannot be empty")]
    Empty,
    /// The handle was longer than [`Handle::MAX_LEN`].
    #[error("a handle has at most 30 characters, this one has {0}")]
    TooLong(usize),
    /// The handle had a character outside `[a-z0-9]`.
    #[error("a handle has only lowercase letters and digits, not {0:?}")]
    InvalidCharacter(char),
    /// The handle is on the reserved list.
    #[error("the handle {0:?} is reserved")]
    Reserved(String),
}

impl Handle {
    /// The longest handle, in characters.
    pub const MAX_LEN: usize = 30;

    /// Checks `raw` against the handle rules.
    ///
    /// # Errors
    /// A [`HandleError`] naming the first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        if raw.is_empty() {
            return Err(HandleError::Empty);
        }
        let len = raw.chars().count();
        if len > Self::MAX_LEN {
            return Err(HandleError::TooLong(len));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        {
            return Err(HandleError::InvalidCharacter(bad));
        }
        if RESERVED_HANDLES.contains(&raw) {
            return Err(HandleError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a mock: `[a-z0-9-]`, 1 to 30 characters, no leading or trailing dash.
///
/// ```
/// use moclojer_domain::MockName;
/// assert!(MockName::parse("users-api").is_ok());
/// assert!(MockName::parse("-users").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MockName(String);

/// Why a mock name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockNameError {
    /// The name was empty.
    #[error("a mock name cannot be empty")]
    Empty,
    /// The name was longer than [`MockName::MAX_LEN`].
    #[error("a mock name has at most 30 characters, this one has {0}")]
    TooLong(usize),
    /// The name had a character outside `[a-z0-9-]`.
    #[error("a mock name has only lowercase letters, digits and dashes, not {0:?}")]
    InvalidCharacter(char),
    /// The name started or ended with a dash.
    #[error("a mock name cannot start or end with a dash")]
    EdgeDash,
    /// The name starts with `xn--`, the marker of an encoded international label.
    #[error("a mock name cannot start with \"xn--\"")]
    Punycode,
}

impl MockName {
    /// The longest mock name, in characters.
    pub const MAX_LEN: usize = 30;

    /// Checks `raw` against the mock name rules.
    ///
    /// # Errors
    /// A [`MockNameError`] naming the first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, MockNameError> {
        if raw.is_empty() {
            return Err(MockNameError::Empty);
        }
        let len = raw.chars().count();
        if len > Self::MAX_LEN {
            return Err(MockNameError::TooLong(len));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(MockNameError::InvalidCharacter(bad));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(MockNameError::EdgeDash);
        }
        if raw.starts_with("xn--") {
            return Err(MockNameError::Punycode);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, trimmed and lower-cased, with one `@` between a local part and a
/// domain that has a dot. Deliverability is not this type's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("an e-mail address cannot be empty")]
    Empty,
    /// Longer than [`Email::MAX_LEN`].
    #[error("an e-mail address has at most 254 characters")]
    TooLong,
    /// Not of the form `local@domain.tld`, or with white space or control characters.
    #[error("{0:?} is not an e-mail address")]
    Malformed(String),
}

impl Email {
    /// The longest address, in bytes (RFC 5321's path limit less the brackets).
    pub const MAX_LEN: usize = 254;

    /// Normalises and checks `raw`.
    ///
    /// # Errors
    /// An [`EmailError`] when `raw` is empty, too long or not shaped like an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let malformed = || EmailError::Malformed(trimmed.to_owned());
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(malformed());
        }
        let (local, domain) = trimmed.split_once('@').ok_or_else(malformed)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(malformed());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_value {
    ($ty:ident, $err:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
    };
}

text_value!(Handle, HandleError);
text_value!(MockName, MockNameError);
text_value!(Email, EmailError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        let cases: &[(&str, Result<&str, HandleError>)] = &[
            ("alice", Ok("alice")),
            ("a", Ok("a")),
            ("42", Ok("42")),
            (
                "abcdefghijklmnopqrstuvwxyz0123",
                Ok("abcdefghijklmnopqrstuvwxyz0123"),
            ),
            ("", Err(HandleError::Empty)),
            (
                "abcdefghijklmnopqrstuvwxyz01234",
                Err(HandleError::TooLong(31)),
            ),
            ("Alice", Err(HandleError::InvalidCharacter('A'))),
            ("al-ice", Err(HandleError::InvalidCharacter('-'))),
            ("al_ice", Err(HandleError::InvalidCharacter('_'))),
            ("al ice", Err(HandleError::InvalidCharacter(' '))),
            ("alicé", Err(HandleError::InvalidCharacter('é'))),
            ("www", Err(HandleError::Reserved("www".to_owned()))),
            ("api", Err(HandleError::Reserved("api".to_owned()))),
            (
                "moclojer",
                Err(HandleError::Reserved("moclojer".to_owned())),
            ),
            ("admin", Err(HandleError::Reserved("admin".to_owned()))),
        ];
        for (raw, expected) in cases {
            let got = Handle::parse(raw);
            assert_eq!(
                got.as_ref().map(Handle::as_str),
                expected.as_ref().map(|s| *s),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn reserved_handles_are_themselves_well_formed() {
        for reserved in RESERVED_HANDLES {
            assert!(
                reserved
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
        }
    }

    #[test]
    fn mock_names() {
        let cases: &[(&str, Result<&str, MockNameError>)] = &[
            ("hello", Ok("hello")),
            ("users-api", Ok("users-api")),
            ("a-b-c-1", Ok("a-b-c-1")),
            ("x", Ok("x")),
            ("api", Ok("api")),
            ("", Err(MockNameError::Empty)),
            (
                "a234567890123456789012345678901",
                Err(MockNameError::TooLong(31)),
            ),
            ("-hello", Err(MockNameError::EdgeDash)),
            ("hello-", Err(MockNameError::EdgeDash)),
            ("-", Err(MockNameError::EdgeDash)),
            ("Hello", Err(MockNameError::InvalidCharacter('H'))),
            ("hello.world", Err(MockNameError::InvalidCharacter('.'))),
            ("hello_world", Err(MockNameError::InvalidCharacter('_'))),
            ("xn--bcher-kva", Err(MockNameError::Punycode)),
        ];
        for (raw, expected) in cases {
            let got = MockName::parse(raw);
            assert_eq!(
                got.as_ref().map(MockName::as_str),
                expected.as_ref().map(|s| *s),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn emails() {
        let ok: &[(&str, &str)] = &[
            ("alice@example.com", "alice@example.com"),
            ("  Alice@Example.COM ", "alice@example.com"),
            ("a.b+c@sub.example.org", "a.b+c@sub.example.org"),
        ];
        for (raw, normal) in ok {
            assert_eq!(Email::parse(raw).unwrap().as_str(), *normal, "{raw:?}");
        }
        let bad: &[(&str, EmailError)] = &[
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("alice", EmailError::Malformed("alice".to_owned())),
            (
                "@example.com",
                EmailError::Malformed("@example.com".to_owned()),
            ),
            ("alice@", EmailError::Malformed("alice@".to_owned())),
            (
                "alice@localhost",
                EmailError::Malformed("alice@localhost".to_owned()),
            ),
            ("a@b@c.com", EmailError::Malformed("a@b@c.com".to_owned())),
            (
                "al ice@example.com",
                EmailError::Malformed("al ice@example.com".to_owned()),
            ),
            (
                "alice@example..com",
                EmailError::Malformed("alice@example..com".to_owned()),
            ),
            (
                "alice@.example.com",
                EmailError::Malformed("alice@.example.com".to_owned()),
            ),
        ];
        for (raw, expected) in bad {
            assert_eq!(Email::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<Handle>("\"alice\"").is_ok());
        assert!(serde_json::from_str::<Handle>("\"www\"").is_err());
        assert!(serde_json::from_str::<MockName>("\"-x\"").is_err());
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }
}
