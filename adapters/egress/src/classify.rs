//! Address classes: which IP addresses are not global unicast, and why.
//!
//! `std`'s `is_global` is still unstable, so this is an explicit deny list, checked in order
//! (the more specific ranges first so that, say, `169.254.169.254` reads "metadata" rather
//! than "link-local"). Addresses that embed an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) are judged by the embedded address. Every IPv6 address outside the
//! global unicast block `2000::/3` is refused as "reserved".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges that are not global unicast, most specific first.
const V4_CLASSES: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 32), "unspecified"),
    (v4(0, 0, 0, 0, 8), "reserved"), // "this network"; 0.x.y.z reaches the local host on Linux
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 100, 100, 200, 32), "metadata"), // Alibaba Cloud instance metadata
    (v4(100, 64, 0, 0, 10), "cgnat"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 169, 254, 32), "metadata"), // AWS, GCP, Azure, DigitalOcean, OpenStack ...
    (v4(169, 254, 170, 2, 32), "metadata"),   // AWS ECS task metadata
    (v4(169, 254, 170, 23, 32), "metadata"),  // AWS EKS pod identity
    (v4(169, 254, 0, 23, 32), "metadata"),    // Tencent Cloud metadata
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(168, 63, 129, 16, 32), "metadata"), // Azure WireServer (a public address, platform-only)
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "reserved"), // IETF protocol assignments
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 88, 99, 0, 24), "reserved"), // former 6to4 relay anycast
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// IPv6 ranges that are not global unicast, most specific first. The ranges that embed an
/// IPv4 address are handled before this table.
const V6_CLASSES: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), "metadata"), // AWS IMDS over IPv6
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23], 128), "metadata"),  // AWS EKS pod identity
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "private"),        // local-use NAT64 (RFC 8215)
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "teredo"),
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), "benchmarking"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), "reserved"), // IETF protocol assignments
    (v6([0x3ffe, 0, 0, 0, 0, 0, 0, 0], 16), "6bone"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

const NAT64_WELL_KNOWN: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// The class of a non-public address, or `None` when `addr` is global unicast.
///
/// The returned reason is one of `"unspecified"`, `"loopback"`, `"private"`, `"link-local"`,
/// `"cgnat"`, `"metadata"`, `"multicast"`, `"broadcast"`, `"documentation"`,
/// `"benchmarking"`, `"reserved"`, `"unique-local"`, `"site-local"`, `"teredo"`,
/// `"discard"` or `"6bone"`.
///
/// IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:AABB:CCDD::/48`) addresses are classified by the IPv4 address they carry, so
/// `::ffff:127.0.0.1` is "loopback" and `64:ff9b::808:808` is public.
pub fn classify(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(addr) => classify_v4(addr),
        IpAddr::V6(addr) => classify_v6(addr),
    }
}

fn classify_v4(addr: Ipv4Addr) -> Option<&'static str> {
    V4_CLASSES
        .iter()
        .find(|(net, _)| net.contains(&addr))
        .map(|(_, reason)| *reason)
}

fn classify_v6(addr: Ipv6Addr) -> Option<&'static str> {
    if let Some(embedded) = addr.to_ipv4_mapped() {
        return classify_v4(embedded);
    }
    let bits = addr.to_bits();
    if NAT64_WELL_KNOWN.contains(&addr) {
        // The low 32 bits are the IPv4 address; truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        return classify_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if SIX_TO_FOUR.contains(&addr) {
        // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD in bits 16..48.
        #[allow(clippy::cast_possible_truncation)]
        return classify_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    if let Some((_, reason)) = V6_CLASSES.iter().find(|(net, _)| net.contains(&addr)) {
        return Some(reason);
    }
    if !GLOBAL_UNICAST.contains(&addr) {
        return Some("reserved");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[track_caller]
    fn check(addr: &str, expected: Option<&str>) {
        let parsed = addr
            .parse()
            .unwrap_or_else(|err| panic!("bad test address {addr}: {err}"));
        assert_eq!(classify(parsed), expected, "classify({addr})");
    }

    #[test]
    fn ipv4_classes() {
        let table: &[(&str, Option<&str>)] = &[
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("reserved")),
            ("10.0.0.1", Some("private")),
            ("10.255.255.255", Some("private")),
            ("100.63.255.255", None),
            ("100.64.0.1", Some("cgnat")),
            ("100.127.255.255", Some("cgnat")),
            ("100.128.0.0", None),
            ("100.100.100.200", Some("metadata")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("169.254.169.254", Some("metadata")),
            ("169.254.170.2", Some("metadata")),
            ("169.254.170.23", Some("metadata")),
            ("169.254.0.23", Some("metadata")),
            ("169.254.1.1", Some("link-local")),
            ("168.63.129.16", Some("metadata")),
            ("172.15.255.255", None),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.0", None),
            ("192.0.0.8", Some("reserved")),
            ("192.0.2.1", Some("documentation")),
            ("192.88.99.1", Some("reserved")),
            ("192.168.1.1", Some("private")),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.20.0.0", None),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("254.255.255.255", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.215.14", None),
            ("223.255.255.255", None),
        ];
        for (addr, expected) in table {
            check(addr, *expected);
        }
    }

    #[test]
    fn ipv6_classes() {
        let table: &[(&str, Option<&str>)] = &[
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::2", Some("reserved")),
            ("::127.0.0.1", Some("reserved")), // deprecated IPv4-compatible form
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("fc00::1", Some("unique-local")),
            ("fd12:3456::1", Some("unique-local")),
            ("fd00:ec2::254", Some("metadata")),
            ("fd00:ec2::23", Some("metadata")),
            ("ff02::1", Some("multicast")),
            ("ff0e::1", Some("multicast")),
            ("100::1", Some("discard")),
            ("2001::1", Some("teredo")),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("teredo")),
            ("2001:2::1", Some("benchmarking")),
            ("2001:db8::1", Some("documentation")),
            ("2001:10::1", Some("reserved")),
            ("3fff::1", Some("documentation")),
            ("3ffe:831f::1", Some("6bone")),
            ("64:ff9b:1::a00:1", Some("private")),
            ("4000::1", Some("reserved")),
            ("e000::1", Some("reserved")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001::200e", None),
            ("2001:4860:4860::8888", None),
        ];
        for (addr, expected) in table {
            check(addr, *expected);
        }
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_the_ipv4_address() {
        let table: &[(&str, Option<&str>)] = &[
            // IPv4-mapped
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:7f00:1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("metadata")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:0.0.0.0", Some("unspecified")),
            ("::ffff:8.8.8.8", None),
            // NAT64 well-known prefix
            ("64:ff9b::127.0.0.1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("metadata")),
            ("64:ff9b::192.168.0.1", Some("private")),
            ("64:ff9b::808:808", None),
            // 6to4
            ("2002:7f00:1::", Some("loopback")),
            ("2002:a9fe:a9fe::1", Some("metadata")),
            ("2002:c0a8:101::1", Some("private")),
            ("2002:808:808::1", None),
        ];
        for (addr, expected) in table {
            check(addr, *expected);
        }
    }
}
