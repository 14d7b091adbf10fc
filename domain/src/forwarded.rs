//! Who the client is when a request reached us through proxies we trust.
//!
//! A server behind a proxy sees the proxy's address on its socket. The proxy says who its
//! client was in a header, and a server believes that header only when the socket's peer is
//! in its [`TrustedProxies`]; from anyone else the header is the client's own claim and is
//! ignored. The mock server reads `X-Real-IP` (the ports' `REAL_IP_HEADER`), which `moclojer-proxy` always sets
//! (never passing on a client's own); the proxy, behind a load balancer or TLS terminator
//! it trusts, reads that front's `X-Forwarded-For` from the right, where the front appended
//! what it saw, and stops at the first address it does not trust.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Address ranges whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A range list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or a CIDR range (such as 10.0.0.0/8 or fd00::/8)")]
pub struct TrustedProxiesError(String);

impl TrustedProxies {
    /// Trusts nobody: every peer is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// The loopback ranges, `127.0.0.0/8` and `::1`: a proxy on the same machine.
    pub fn loopback() -> Self {
        Self(vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ])
    }

    /// Whether no range is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in a trusted range (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer` by the `X-Forwarded-For` values a trusted `peer` sent: the
    /// rightmost address that is not itself trusted; `peer` when it is not trusted, and the
    /// leftmost address when all are trusted. An entry that is not an address ends the
    /// walk there (what is left of it cannot be believed), and the last trusted address
    /// stands.
    pub fn client_behind<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let chain: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for entry in chain.into_iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The client behind `peer` by the `X-Real-IP` a trusted `peer` sent; `peer`
    /// when it is not trusted or the header is missing or not an address.
    pub fn real_ip(&self, peer: IpAddr, header: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        match header.and_then(parse_entry) {
            Some(ip) if self.trusts(peer) => ip,
            _ => peer,
        }
    }
}

/// One `X-Forwarded-For` entry: an address, with or without brackets and a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // `[v6]:port`, `[v6]` or `v4:port`.
    let host = match entry.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(host, _)| host)?,
        None => entry.rsplit_once(':').map(|(host, _)| host)?,
    };
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// Addresses and CIDR ranges separated by commas or spaces; empty trusts nobody.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| TrustedProxiesError(part.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(text: &str) -> TrustedProxies {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_from_addresses_and_cidrs_separated_by_commas_or_spaces() {
        let list = trusted("10.0.0.0/8, 192.168.1.7 fd00::/8");
        assert!(list.trusts(ip("10.200.3.4")));
        assert!(list.trusts(ip("192.168.1.7")));
        assert!(!list.trusts(ip("192.168.1.8")));
        assert!(list.trusts(ip("fd12::1")));
        assert!(!list.trusts(ip("fe80::1")));
        // An IPv4-mapped IPv6 peer is its IPv4 address.
        assert!(list.trusts(ip("::ffff:10.1.1.1")));
        assert!(trusted("").is_empty());
        assert!(trusted(" , ").is_empty());
        for bad in ["10.0.0.0/33", "example.com", "10.0.0", "*"] {
            let error = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn loopback_is_both_families() {
        let loopback = TrustedProxies::loopback();
        assert!(loopback.trusts(ip("127.0.0.1")));
        assert!(loopback.trusts(ip("127.9.8.7")));
        assert!(loopback.trusts(ip("::1")));
        assert!(!loopback.trusts(ip("10.0.0.1")));
        assert!(!TrustedProxies::none().trusts(ip("127.0.0.1")));
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_address_of_a_trusted_peers_chain() {
        let fronts = trusted("10.0.0.0/8");
        let cases: &[(&str, &[&str], &str)] = &[
            // An untrusted peer is the client, whatever it claims.
            ("203.0.113.9", &["1.2.3.4"], "203.0.113.9"),
            // A trusted peer without a chain: the peer.
            ("10.0.0.2", &[], "10.0.0.2"),
            // What the client wrote on the left is passed over.
            ("10.0.0.2", &["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
            // Trusted hops are walked through, across header lines.
            (
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.7", "10.9.9.9"],
                "198.51.100.7",
            ),
            // Ports and brackets are allowed.
            ("10.0.0.2", &["198.51.100.7:5555"], "198.51.100.7"),
            ("10.0.0.2", &["[2001:db8::7]:443"], "2001:db8::7"),
            ("10.0.0.2", &["2001:db8::8"], "2001:db8::8"),
            // Garbage ends the walk: the last trusted address stands.
            ("10.0.0.2", &["198.51.100.7, unknown"], "10.0.0.2"),
            ("10.0.0.2", &["198.51.100.7, unknown, 10.3.3.3"], "10.3.3.3"),
            // All trusted: the leftmost.
            ("10.0.0.2", &["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
        ];
        for (peer, chain, want) in cases {
            assert_eq!(
                fronts.client_behind(ip(peer), chain.iter().copied()),
                ip(want),
                "peer {peer}, chain {chain:?}"
            );
        }
    }

    #[test]
    fn the_real_ip_header_counts_only_from_a_trusted_peer() {
        let proxies = TrustedProxies::loopback();
        assert_eq!(
            proxies.real_ip(ip("127.0.0.1"), Some("198.51.100.7")),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.real_ip(ip("::ffff:127.0.0.1"), Some(" 2001:db8::1 ")),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.real_ip(ip("203.0.113.9"), Some("198.51.100.7")),
            ip("203.0.113.9")
        );
        assert_eq!(proxies.real_ip(ip("127.0.0.1"), None), ip("127.0.0.1"));
        assert_eq!(
            proxies.real_ip(ip("127.0.0.1"), Some("nobody")),
            ip("127.0.0.1")
        );
        assert_eq!(
            TrustedProxies::none().real_ip(ip("127.0.0.1"), Some("198.51.100.7")),
            ip("127.0.0.1")
        );
    }
}
