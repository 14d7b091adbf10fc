//! What the guard allows: the policy, the allow list, and the time and size caps.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

/// How strictly outbound destinations are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse every destination that is not global unicast (loopback, private, link-local,
    /// metadata, ... see [`classify`](crate::classify)), unless an [`AllowRule`] lets it
    /// through. Also refuses `*.internal` and single-label host names. The cloud mode uses
    /// this, and it is the default.
    #[default]
    Strict,
    /// Refuse nothing by address class: a user's own spec on their own machine may call their
    /// own `localhost` services. Schemes, credentials in URLs, sizes, timeouts and the
    /// no-redirect rule still apply. The standalone mode picks this explicitly.
    Open,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "strict",
            Self::Open => "open",
        })
    }
}

/// The text given to [`Policy::from_str`] was neither `strict` nor `open`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown egress policy `{0}`: expected `strict` or `open`")]
pub struct ParsePolicyError(String);

impl FromStr for Policy {
    type Err = ParsePolicyError;

    /// Parses `strict` or `open`, ignoring ASCII case and surrounding spaces.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("strict") {
            Ok(Self::Strict)
        } else if trimmed.eq_ignore_ascii_case("open") {
            Ok(Self::Open)
        } else {
            Err(ParsePolicyError(text.to_owned()))
        }
    }
}

/// One destination that [`Policy::Strict`] lets through even though its address class would
/// be refused. Rules are about destinations only: they never lift the scheme, size, timeout
/// or redirect rules, and they ignore the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// One host name, compared without ASCII case and without a trailing dot. Every address
    /// the name resolves to is allowed.
    Host(String),
    /// Every name strictly below a domain: `Suffix("example.com")`, written
    /// `*.example.com`, matches `a.example.com` and `a.b.example.com`, not `example.com`.
    Suffix(String),
    /// An address block, such as `127.0.0.1/32` or `10.0.0.0/8`. It matches IP-literal URLs
    /// and each resolved address of a name.
    Net(IpNet),
}

/// The text given to [`AllowRule::from_str`] is not a host name, `*.suffix`, address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid egress allow rule `{rule}`: {problem}")]
pub struct ParseAllowRuleError {
    rule: String,
    problem: &'static str,
}

impl FromStr for AllowRule {
    type Err = ParseAllowRuleError;

    /// Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `[::1]`, `*.example.com` or
    /// `hooks.example.com`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |problem| ParseAllowRuleError {
            rule: text.to_owned(),
            problem,
        };
        let trimmed = text.trim();
        if trimmed.contains('/') {
            let net: IpNet = trimmed
                .parse()
                .map_err(|_| fail("not a CIDR block such as 10.0.0.0/8"))?;
            return Ok(Self::Net(net.trunc()));
        }
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(addr) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Net(IpNet::from(addr)));
        }
        let (suffix, name) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let name = normalize_host(name);
        if name.is_empty() {
            return Err(fail("empty host name"));
        }
        let valid = name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(is_host_byte));
        if !valid {
            return Err(fail(
                "a host name has dot-separated labels of letters, digits, `-` and `_`",
            ));
        }
        Ok(if suffix {
            Self::Suffix(name)
        } else {
            Self::Host(name)
        })
    }
}

fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// Lowercases a host name and drops one trailing dot, so `LocalHost.` compares as `localhost`.
pub(crate) fn normalize_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

impl AllowRule {
    /// Whether this rule allows every address of the (normalized) host name `host`.
    pub(crate) fn matches_name(&self, host: &str) -> bool {
        match self {
            Self::Host(name) => normalize_host(name) == host,
            Self::Suffix(suffix) => {
                let suffix = normalize_host(suffix);
                host.len() > suffix.len() + 1
                    && host.ends_with(&suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            Self::Net(_) => false,
        }
    }

    /// Whether this rule allows the address `addr`.
    pub(crate) fn matches_addr(&self, addr: IpAddr) -> bool {
        match self {
            Self::Net(net) => net.contains(&addr),
            Self::Host(_) | Self::Suffix(_) => false,
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(name) => f.write_str(name),
            Self::Suffix(suffix) => write!(f, "*.{suffix}"),
            Self::Net(net) => write!(f, "{net}"),
        }
    }
}

/// Everything the guard needs to know. Build it with [`EgressConfig::strict`],
/// [`EgressConfig::open`] or [`Default`] (strict), then adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// Whether address classes are checked.
    pub policy: Policy,
    /// Destinations allowed under [`Policy::Strict`] whatever their class. Empty by default.
    pub allow: Vec<AllowRule>,
    /// Longest time to resolve the host and open the connection (TLS included). Default 5 s.
    pub connect_timeout: Duration,
    /// Longest time for the whole exchange, from resolving to the last body byte. Default 10 s.
    pub total_timeout: Duration,
    /// Largest response body accepted, in bytes; one byte more is
    /// [`EgressError::TooLarge`](crate::EgressError::TooLarge). Default 5 MiB.
    pub max_response_bytes: usize,
    /// Largest request body sent, in bytes; larger is
    /// [`EgressError::RequestTooLarge`](crate::EgressError::RequestTooLarge). Default 1 MiB.
    pub max_request_bytes: usize,
}

impl EgressConfig {
    /// The cloud-mode configuration: [`Policy::Strict`] with the default caps.
    pub fn strict() -> Self {
        Self {
            policy: Policy::Strict,
            allow: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            max_response_bytes: 5 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
        }
    }

    /// The standalone-mode configuration: [`Policy::Open`] with the default caps.
    pub fn open() -> Self {
        Self {
            policy: Policy::Open,
            ..Self::strict()
        }
    }
}

impl Default for EgressConfig {
    /// The same as [`EgressConfig::strict`]: when in doubt, refuse.
    fn default() -> Self {
        Self::strict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> AllowRule {
        text.parse()
            .unwrap_or_else(|err| panic!("{text} should parse: {err}"))
    }

    #[test]
    fn rules_parse() {
        let net = |text: &str| AllowRule::Net(text.parse().expect("test CIDR"));
        assert_eq!(rule("10.0.0.0/8"), net("10.0.0.0/8"));
        assert_eq!(rule("10.1.2.3/8"), net("10.0.0.0/8"));
        assert_eq!(rule("127.0.0.1"), net("127.0.0.1/32"));
        assert_eq!(rule("[::1]"), net("::1/128"));
        assert_eq!(rule("::1"), net("::1/128"));
        assert_eq!(rule("fd00::/8"), net("fd00::/8"));
        assert_eq!(
            rule("Hooks.Example.COM."),
            AllowRule::Host("hooks.example.com".to_owned())
        );
        assert_eq!(
            rule("*.example.com"),
            AllowRule::Suffix("example.com".to_owned())
        );
        assert_eq!(
            rule(" receiver_1.test "),
            AllowRule::Host("receiver_1.test".to_owned())
        );
        for bad in [
            "",
            "*.",
            "10.0.0.0/33",
            "a/b",
            "http://x",
            "a..b",
            "x y",
            "*.*.example.com",
        ] {
            assert!(
                bad.parse::<AllowRule>().is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn rules_display_as_they_parse() {
        for text in [
            "10.0.0.0/8",
            "::1/128",
            "*.example.com",
            "hooks.example.com",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
    }

    #[test]
    fn name_rules_match() {
        let host = rule("hooks.example.com");
        assert!(host.matches_name("hooks.example.com"));
        assert!(!host.matches_name("x.hooks.example.com"));
        assert!(!host.matches_name("example.com"));

        let suffix = rule("*.example.com");
        assert!(suffix.matches_name("a.example.com"));
        assert!(suffix.matches_name("a.b.example.com"));
        assert!(!suffix.matches_name("example.com"));
        assert!(!suffix.matches_name("badexample.com"));
        assert!(!suffix.matches_name(".example.com"));
        assert!(!suffix.matches_addr("127.0.0.1".parse().expect("test address")));
    }

    #[test]
    fn net_rules_match() {
        let loopback = rule("127.0.0.0/8");
        assert!(loopback.matches_addr("127.0.0.1".parse().expect("test address")));
        assert!(!loopback.matches_addr("10.0.0.1".parse().expect("test address")));
        assert!(!loopback.matches_addr("::ffff:127.0.0.1".parse().expect("test address")));
        assert!(!loopback.matches_name("127.0.0.1"));
    }

    #[test]
    fn policy_parses() {
        assert_eq!("strict".parse(), Ok(Policy::Strict));
        assert_eq!(" OPEN ".parse(), Ok(Policy::Open));
        assert!("lax".parse::<Policy>().is_err());
        assert_eq!(Policy::default(), Policy::Strict);
        assert_eq!(Policy::Open.to_string(), "open");
    }

    #[test]
    fn defaults() {
        let config = EgressConfig::default();
        assert_eq!(config.policy, Policy::Strict);
        assert!(config.allow.is_empty());
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.total_timeout, Duration::from_secs(10));
        assert_eq!(config.max_response_bytes, 5 * 1024 * 1024);
        assert_eq!(config.max_request_bytes, 1024 * 1024);
        assert_eq!(EgressConfig::open().policy, Policy::Open);
    }
}
