//! The public hostname of a mock, `<mock>-<handle>.<zone>`, and the zone it lives in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{Handle, HandleError, MockName, MockNameError};

/// The DNS zone mocks are served under, e.g. `moclojer.com`, or `localhost` on a laptop.
///
/// Lower-cased, without a trailing dot; each label is `[a-z0-9-]{1,63}` with no dash at
/// either end; at most [`Zone::MAX_LEN`] bytes so that every host under it stays within DNS
/// limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

/// Why a zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Empty, or only a dot.
    #[error("a zone cannot be empty")]
    Empty,
    /// Longer than [`Zone::MAX_LEN`].
    #[error("a zone has at most 190 characters")]
    TooLong,
    /// A label broke the DNS label rules.
    #[error("{label:?} is not a valid DNS label")]
    BadLabel {
        /// The offending label.
        label: String,
    },
}

impl Zone {
    /// Longest zone: 253 (a DNS name) less 63 (the mock's label) less the joining dot.
    pub const MAX_LEN: usize = 189;

    /// Normalises (lower case, one trailing dot dropped) and checks `raw`.
    ///
    /// # Errors
    /// A [`ZoneError`] when `raw` is empty, too long, or has a bad label.
    pub fn parse(raw: &str) -> Result<Self, ZoneError> {
        let lowered = raw.trim().to_ascii_lowercase();
        let zone = lowered.strip_suffix('.').unwrap_or(&lowered);
        if zone.is_empty() {
            return Err(ZoneError::Empty);
        }
        if zone.len() > Self::MAX_LEN {
            return Err(ZoneError::TooLong);
        }
        for label in zone.split('.') {
            if !is_dns_label(label) {
                return Err(ZoneError::BadLabel {
                    label: label.to_owned(),
                });
            }
        }
        Ok(Self(zone.to_owned()))
    }

    /// The zone as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A mock's hostname, `<mock>-<handle>.<zone>`, always lower case.
///
/// The server computes it from the mock's name and its workspace's handle; it is never taken
/// from a user's YAML. Because a handle has no dash, parsing splits the first label at its
/// last dash, so `api-v2-acme.moclojer.com` is mock `api-v2` of `acme`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Host {
    full: String,
    name: MockName,
    handle: Handle,
}

/// Why a hostname is not a mock's host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host is not under the expected zone.
    #[error("{host:?} is not under the zone {zone:?}")]
    OutsideZone {
        /// The host as given.
        host: String,
        /// The zone it was expected under.
        zone: String,
    },
    /// The first label has no dash, so it names no mock and handle.
    #[error("{0:?} is not of the form <mock>-<handle>")]
    NoSeparator(String),
    /// The part before the last dash is not a mock name.
    #[error("bad mock name in host: {0}")]
    Name(#[from] MockNameError),
    /// The part after the last dash is not a handle.
    #[error("bad handle in host: {0}")]
    Handle(#[from] HandleError),
    /// What follows the first label is not a zone.
    #[error("bad zone in host: {0}")]
    Zone(#[from] ZoneError),
}

impl Host {
    /// The host of mock `name` in the workspace `handle`, under `zone`.
    pub fn new(name: &MockName, handle: &Handle, zone: &Zone) -> Self {
        Self {
            full: format!("{name}-{handle}.{zone}"),
            name: name.clone(),
            handle: handle.clone(),
        }
    }

    /// Reads a hostname (as from a `Host` header, port already removed) that must lie under
    /// `zone`. Case is folded and one trailing dot dropped.
    ///
    /// # Errors
    /// A [`HostError`] when the host is outside `zone` or its first label is not
    /// `<mock>-<handle>`.
    pub fn parse(raw: &str, zone: &Zone) -> Result<Self, HostError> {
        // The common case, a host under `zone` as the proxy sees it on every request, with
        // three allocations; anything else takes the general path, which also names what is
        // wrong.
        let trimmed = raw.trim();
        let full = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if let Some((label, rest)) = full.split_once('.')
            && rest.eq_ignore_ascii_case(zone.as_str())
        {
            let lowered;
            let label = if label.bytes().any(|b| b.is_ascii_uppercase()) {
                lowered = label.to_ascii_lowercase();
                lowered.as_str()
            } else {
                label
            };
            let Some((name, handle)) = label.rsplit_once('-') else {
                return Err(HostError::NoSeparator(label.to_owned()));
            };
            let name = MockName::parse(name)?;
            let handle = Handle::parse(handle)?;
            // `label` is `<name>-<handle>`, checked: the host is it and the zone.
            let mut full = String::with_capacity(label.len() + 1 + zone.as_str().len());
            full.push_str(label);
            full.push('.');
            full.push_str(zone.as_str());
            return Ok(Self { full, name, handle });
        }
        let host = Self::parse_any(raw)?;
        if host.zone() != zone.as_str() {
            return Err(HostError::OutsideZone {
                host: raw.to_owned(),
                zone: zone.as_str().to_owned(),
            });
        }
        Ok(host)
    }

    /// Reads a hostname under any zone.
    ///
    /// # Errors
    /// A [`HostError`] when the first label is not `<mock>-<handle>` or the rest is not a
    /// valid zone.
    pub fn parse_any(raw: &str) -> Result<Self, HostError> {
        let lowered = raw.trim().to_ascii_lowercase();
        let full = lowered.strip_suffix('.').unwrap_or(&lowered);
        let Some((label, zone)) = full.split_once('.') else {
            return Err(HostError::Zone(ZoneError::Empty));
        };
        let zone = Zone::parse(zone)?;
        let Some((name, handle)) = label.rsplit_once('-') else {
            return Err(HostError::NoSeparator(label.to_owned()));
        };
        let name = MockName::parse(name)?;
        let handle = Handle::parse(handle)?;
        Ok(Self::new(&name, &handle, &zone))
    }

    /// The hostname as text.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The mock's name, the part of the first label before the last dash.
    pub fn name(&self) -> &MockName {
        &self.name
    }

    /// The workspace's handle, the part of the first label after the last dash.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The zone, everything after the first label.
    pub fn zone(&self) -> &str {
        let label_len = self.name.as_str().len() + 1 + self.handle.as_str().len();
        &self.full[label_len + 1..]
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Host {
    type Error = HostError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse_any(&raw)
    }
}

impl From<Host> for String {
    fn from(host: Host) -> Self {
        host.full
    }
}

impl TryFrom<String> for Zone {
    type Error = ZoneError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> Self {
        zone.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(raw: &str) -> Zone {
        Zone::parse(raw).unwrap()
    }

    #[test]
    fn zones() {
        let ok: &[(&str, &str)] = &[
            ("moclojer.com", "moclojer.com"),
            ("MOCLOJER.com.", "moclojer.com"),
            ("localhost", "localhost"),
            ("mocks.eu-1.example.org", "mocks.eu-1.example.org"),
        ];
        for (raw, normal) in ok {
            assert_eq!(zone(raw).as_str(), *normal);
        }
        let bad: &[(&str, ZoneError)] = &[
            ("", ZoneError::Empty),
            (".", ZoneError::Empty),
            (
                "a..b",
                ZoneError::BadLabel {
                    label: String::new(),
                },
            ),
            (
                "-a.com",
                ZoneError::BadLabel {
                    label: "-a".to_owned(),
                },
            ),
            (
                "a_b.com",
                ZoneError::BadLabel {
                    label: "a_b".to_owned(),
                },
            ),
            (
                "exa mple.com",
                ZoneError::BadLabel {
                    label: "exa mple".to_owned(),
                },
            ),
        ];
        for (raw, expected) in bad {
            assert_eq!(Zone::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
        let long = format!("{}.com", vec!["a".repeat(60); 4].join("."));
        assert_eq!(Zone::parse(&long), Err(ZoneError::TooLong));
    }

    #[test]
    fn host_round_trip() {
        let z = zone("moclojer.com");
        let cases: &[(&str, &str, &str)] = &[
            ("hello", "alice", "hello-alice.moclojer.com"),
            ("api-v2", "acme", "api-v2-acme.moclojer.com"),
            ("a", "b", "a-b.moclojer.com"),
        ];
        for (name, handle, full) in cases {
            let host = Host::new(
                &MockName::parse(name).unwrap(),
                &Handle::parse(handle).unwrap(),
                &z,
            );
            assert_eq!(host.as_str(), *full);
            let parsed = Host::parse(full, &z).unwrap();
            assert_eq!(parsed, host);
            assert_eq!(parsed.name().as_str(), *name);
            assert_eq!(parsed.handle().as_str(), *handle);
            assert_eq!(parsed.zone(), "moclojer.com");
        }
    }

    #[test]
    fn host_parse_normalises() {
        let z = zone("localhost");
        let host = Host::parse("Hello-Alice.LOCALHOST.", &z).unwrap();
        assert_eq!(host.as_str(), "hello-alice.localhost");
    }

    #[test]
    fn host_parse_refusals() {
        let z = zone("moclojer.com");
        let outside = Host::parse("hello-alice.example.com", &z);
        assert!(
            matches!(outside, Err(HostError::OutsideZone { .. })),
            "{outside:?}"
        );
        assert_eq!(
            Host::parse("hello.moclojer.com", &z),
            Err(HostError::NoSeparator("hello".to_owned()))
        );
        assert!(matches!(
            Host::parse("hello-www.moclojer.com", &z),
            Err(HostError::Handle(_))
        ));
        assert!(matches!(
            Host::parse("-alice.moclojer.com", &z),
            Err(HostError::Name(_))
        ));
        assert!(matches!(
            Host::parse("hello-.moclojer.com", &z),
            Err(HostError::Handle(_))
        ));
        assert!(matches!(
            Host::parse("localhost", &z),
            Err(HostError::Zone(_))
        ));
        assert!(matches!(Host::parse("", &z), Err(HostError::Zone(_))));
        // a sub-subdomain is not a mock host of this zone
        assert!(matches!(
            Host::parse("x.hello-alice.moclojer.com", &z),
            Err(HostError::NoSeparator(_))
        ));
    }

    /// The quick path for hosts under the zone answers exactly as the general one would.
    #[test]
    fn host_parse_agrees_with_the_general_path() {
        let z = zone("moclojer.com");
        let general = |raw: &str| {
            Host::parse_any(raw).and_then(|host| {
                if host.zone() == z.as_str() {
                    Ok(host)
                } else {
                    Err(HostError::OutsideZone {
                        host: raw.to_owned(),
                        zone: z.as_str().to_owned(),
                    })
                }
            })
        };
        let cases = [
            "hello-alice.moclojer.com",
            "Hello-ALICE.Moclojer.COM",
            " hello-alice.moclojer.com. ",
            "hello-alice.moclojer.com..",
            "api-v2-acme.moclojer.com",
            "hello-www.moclojer.com",
            "hello.moclojer.com",
            "-alice.moclojer.com",
            "hello-.moclojer.com",
            "héllo-alice.moclojer.com",
            "xn--bcher-kva-alice.moclojer.com",
            "hello-alice.example.com",
            "x.hello-alice.moclojer.com",
            ".moclojer.com",
            "moclojer.com",
            "",
        ];
        for raw in cases {
            assert_eq!(Host::parse(raw, &z), general(raw), "{raw:?}");
        }
    }

    #[test]
    fn host_serde_is_a_string() {
        let host = Host::parse_any("hello-alice.localhost").unwrap();
        let json = serde_json::to_string(&host).unwrap();
        assert_eq!(json, "\"hello-alice.localhost\"");
        assert_eq!(serde_json::from_str::<Host>(&json).unwrap(), host);
        assert!(serde_json::from_str::<Host>("\"nodash.localhost\"").is_err());
    }
}
