//! DNS records and PaaS domains for mock hosts.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{PortError, PortResult};

/// A record type we manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias to another name.
    Cname,
    /// Text (verification tokens).
    Txt,
}

impl RecordKind {
    /// The record type as DNS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Txt => "TXT",
        }
    }
}

/// A record as we want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Fully qualified name, lower case, no trailing dot; may start with `*.`.
    pub name: String,
    /// Type.
    pub kind: RecordKind,
    /// Target or value.
    pub content: String,
    /// Whether the provider proxies traffic (Cloudflare's orange cloud); ignored elsewhere.
    pub proxied: bool,
    /// Time to live in seconds.
    pub ttl: u32,
}

/// A record as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The provider's id for it.
    pub id: String,
    /// Its content.
    pub record: DnsRecord,
    /// Whether it carries our ownership tag. Records that do not are never changed or
    /// removed by us.
    pub ours: bool,
}

/// Checks a DNS name we may manage: lower case labels of `[a-z0-9-]`, optionally a leading
/// `*.`, at least two labels, at most 253 bytes.
///
/// # Errors
/// `Invalid` otherwise.
pub fn check_domain_name(name: &str) -> PortResult<()> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    let labels_ok = bare.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if name.len() <= 253 && bare.contains('.') && labels_ok {
        Ok(())
    } else {
        Err(PortError::invalid(format!(
            "{name:?} is not a domain name we manage"
        )))
    }
}

/// A DNS zone's records.
#[async_trait]
pub trait DnsProvider: Debug + Send + Sync + 'static {
    /// Every record in the zone, ours and others' (all pages), by name.
    ///
    /// # Errors
    /// `Unavailable`, `Timeout` or `Unauthenticated` from the provider.
    async fn list_records(&self) -> PortResult<Vec<StoredRecord>>;

    /// Makes the zone hold `record`: creates it, or updates our record of the same name and
    /// type. Doing it twice is the same as doing it once.
    ///
    /// # Errors
    /// `Invalid` for a bad name; `Conflict` when a record of that name that is not ours
    /// exists (we never take over someone else's record).
    async fn ensure_record(&self, record: &DnsRecord) -> PortResult<StoredRecord>;

    /// Removes our record with `id`. Removing an absent record succeeds.
    ///
    /// # Errors
    /// `Conflict` when the record is not ours.
    async fn delete_record(&self, id: &str) -> PortResult<()>;
}

/// The domains a PaaS app answers for.
#[async_trait]
pub trait PaasProvider: Debug + Send + Sync + 'static {
    /// The app's domains, sorted.
    async fn list_domains(&self) -> PortResult<Vec<String>>;

    /// Adds `domain` (may be a wildcard). Adding a present domain succeeds.
    ///
    /// # Errors
    /// `Invalid` for a bad name.
    async fn add_domain(&self, domain: &str) -> PortResult<()>;

    /// Removes `domain`. Removing an absent domain succeeds.
    ///
    /// # Errors
    /// `Invalid` for a bad name.
    async fn remove_domain(&self, domain: &str) -> PortResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        for ok in ["hello-alice.moclojer.com", "*.moclojer.com", "a.b"] {
            assert!(check_domain_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "com",
            "*.com",
            "Hello.com",
            "a..b",
            "-a.com",
            "a_b.com",
            "*.*.a.com",
            "a.com.",
        ] {
            assert!(check_domain_name(bad).is_err(), "{bad}");
        }
    }
}
