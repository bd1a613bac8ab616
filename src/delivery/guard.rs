//! The address guard: what keeps a subscription (a URL anyone holding a
//! `subscriptions` token may register) from reaching hookgate's own network. A
//! subscription may not be sent to a loopback, private, link-local, shared
//! (carrier-grade NAT), cloud-metadata, multicast or otherwise reserved address,
//! unless the address is on the `subscriptions.allow_addresses` list.
//!
//! It is checked twice: when the subscription is created or changed (its host
//! resolved then), and again by the connector at every new connection, on the
//! addresses the name resolves to at that moment, so a name that resolved to a
//! public address at creation and is later pointed at `127.0.0.1` (DNS rebinding) is
//! refused. IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4)
//! are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;

/// The allow-list, shared by the API (create-time checks) and the connector, and
/// replaced at a reload.
#[derive(Debug, Default)]
pub struct AddressGuard {
    allowed: ArcSwap<Vec<IpNet>>,
}

impl AddressGuard {
    /// A guard allowing `allowed` on top of the public internet.
    pub fn new(allowed: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            allowed: ArcSwap::from_pointee(allowed),
        })
    }

    /// Takes `allowed` as the allow-list from now on.
    pub fn set_allowed(&self, allowed: Vec<IpNet>) {
        self.allowed.store(Arc::new(allowed));
    }

    /// Why `address` may not be connected to (e.g. `loopback`), or `None` if it may.
    pub fn refuses(&self, address: IpAddr) -> Option<&'static str> {
        let kind = forbidden(address)?;
        let embedded = embedded_v4(address).map(IpAddr::V4);
        let allowed = self
            .allowed
            .load()
            .iter()
            .any(|net| net.contains(&address) || embedded.is_some_and(|v4| net.contains(&v4)));
        (!allowed).then_some(kind)
    }
}

/// What kind of non-public address `address` is, if it is one.
pub fn forbidden(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(address) {
            Some(v4) => forbidden_v4(v4).or(forbidden_v6(v6)),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = address.octets();
    let kind = if address.is_unspecified() || a == 0 {
        "unspecified"
    } else if address.is_loopback() {
        "loopback"
    } else if matches!(
        address.octets(),
        [169, 254, 169, 254] | [100, 100, 100, 200] | [192, 0, 0, 192]
    ) {
        "cloud metadata"
    } else if address.is_private() {
        "private"
    } else if address.is_link_local() {
        "link-local"
    } else if a == 100 && (64..128).contains(&b) {
        "shared (carrier-grade NAT)"
    } else if address.is_multicast() || address.is_broadcast() || a >= 240 {
        "multicast or reserved"
    } else if (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
    {
        "reserved"
    } else {
        return None;
    };
    Some(kind)
}

fn forbidden_v6(address: Ipv6Addr) -> Option<&'static str> {
    let segments = address.segments();
    let kind = if address.is_unspecified() {
        "unspecified"
    } else if address.is_loopback() {
        "loopback"
    } else if segments[..4] == [0xfd00, 0x0ec2, 0, 0] && segments[4..] == [0, 0, 0, 0x0254] {
        "cloud metadata"
    } else if segments[0] & 0xfe00 == 0xfc00 {
        "private (unique local)"
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        "link-local"
    } else if segments[0] & 0xff00 == 0xff00 {
        "multicast or reserved"
    } else if segments[..2] == [0x0064, 0xff9b] && segments[2] == 1 {
        "private (local NAT64)"
    } else if (segments[0] == 0x2001 && matches!(segments[1], 0 | 0x0db8))
        || segments[..4] == [0x0100, 0, 0, 0]
    {
        "reserved"
    } else {
        return None;
    };
    Some(kind)
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:ab:cd::`).
fn embedded_v4(address: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = address else {
        return None;
    };
    let s = v6.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(tail()),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail()),
        [0x0064, 0xff9b, 0, 0, 0, 0, ..] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        forbidden(text.parse().unwrap())
    }

    #[test]
    fn refuses_every_non_public_range() {
        for (address, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("224.0.0.1", "multicast or reserved"),
            ("255.255.255.255", "multicast or reserved"),
            ("198.18.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "private"),
            ("2002:7f00:1::", "loopback"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fc00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast or reserved"),
            ("2001:db8::1", "reserved"),
        ] {
            assert_eq!(kind(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn lets_public_addresses_through() {
        for address in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700::1111",
            "64:ff9b::8.8.8.8",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(kind(address), None, "{address}");
        }
    }

    #[test]
    fn the_allow_list_opens_what_it_names_and_nothing_else() {
        let guard = AddressGuard::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.20.0.0/16".parse().unwrap(),
        ]);
        let refuses = |text: &str| guard.refuses(text.parse().unwrap());
        assert_eq!(refuses("127.0.0.1"), None);
        assert_eq!(
            refuses("::ffff:127.0.0.1"),
            None,
            "the embedded address is allowed"
        );
        assert_eq!(refuses("10.20.5.5"), None);
        assert_eq!(refuses("127.0.0.2"), Some("loopback"));
        assert_eq!(refuses("10.21.0.1"), Some("private"));
        assert_eq!(refuses("169.254.169.254"), Some("cloud metadata"));
        guard.set_allowed(Vec::new());
        assert_eq!(
            refuses("127.0.0.1"),
            Some("loopback"),
            "a reload can close it again"
        );
    }
}
