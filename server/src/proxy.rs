//! Trusted proxies: whose forwarded headers are believed.
//!
//! A forwarded header (`X-Forwarded-For`, `Forwarded`, `X-Forwarded-Host`, ...) is only
//! as true as the peer that sent it. The server reads them only when the TCP peer is in
//! a `--trusted-proxy` CIDR; otherwise the decision's peer is the TCP peer itself, so a
//! client cannot claim to be `127.0.0.1` to pass a `local` rule.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block, `10.0.0.0/8` or `::1/128` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is inside the block. An IPv4 address written as IPv6
    /// (`::ffff:10.0.0.1`) is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| format!("`{s}` is not a CIDR block ({why}); write it as 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network = unmap(addr.parse::<IpAddr>().map_err(|_| bad("not an IP address"))?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad("the prefix is not a number"))?
            }
            Some(_) => return Err(bad("the prefix is not a number")),
        };
        if prefix > max {
            return Err(bad(&format!("the prefix is more than {max}")));
        }
        let cidr = Cidr { network, prefix };
        // Host bits set (10.0.0.1/8) usually mean a typo: refuse rather than guess.
        if !cidr.contains(network) || masked(network, prefix) != network {
            return Err(bad("host bits are set after the prefix"));
        }
        Ok(cidr)
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The trusted proxy blocks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
}

impl TrustedProxies {
    /// The given blocks.
    pub fn new(blocks: Vec<Cidr>) -> Self {
        TrustedProxies { blocks }
    }

    /// True when `ip` is inside a trusted block.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address as the decision's `peer`: the TCP peer, unless the peer is a
    /// trusted proxy; then the right-most address of the forwarded chain
    /// (`X-Forwarded-For` values, in order, or `Forwarded: for=` when there is no
    /// `X-Forwarded-For`) that is not itself a trusted proxy. An entry that is not an IP
    /// address (`unknown`, a name, garbage) is the answer as written: the core refuses a
    /// peer that is not an address wherever the address matters (`local` mode), where
    /// taking the proxy's own address instead would make every such client local.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str], forwarded: &[&str]) -> String {
        let peer = unmap(peer);
        if !self.trusts(peer) {
            return peer.to_string();
        }
        let chain: Vec<&str> = if !forwarded_for.is_empty() {
            forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim).collect()
        } else {
            forwarded.iter().flat_map(|v| v.split(',')).filter_map(forwarded_for_param).collect()
        };
        let mut client = peer;
        for entry in chain.iter().rev() {
            match parse_node(entry) {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        return ip.to_string();
                    }
                }
                None => return (*entry).to_owned(),
            }
        }
        client.to_string()
    }
}

/// The `for=` of one `Forwarded` element (RFC 7239), quotes removed.
fn forwarded_for_param(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"'))
    })
}

/// An address as forwarded headers write it: `1.2.3.4`, `1.2.3.4:port`, `[v6]`,
/// `[v6]:port` or a bare IPv6 address.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<IpAddr>().ok().map(unmap);
    }
    let (ip, port) = node.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_or_say_why_not() {
        for good in ["10.0.0.0/8", "127.0.0.1", "::1/128", "fd00::/8", "0.0.0.0/0", "192.168.1.0/24"] {
            assert!(good.parse::<Cidr>().is_ok(), "{good}");
        }
        for bad in ["10.0.0.0/33", "10.0.0.1/8", "ten/8", "10.0.0.0/", "10.0.0.0/x", "::/129", "", "10.0.0.0/8/8"] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.contains("is not a CIDR block"), "{bad}: {e}");
        }
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let b: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(b.contains(ip("10.1.2.3")));
        assert!(b.contains(ip("::ffff:10.1.2.3")));
        assert!(!b.contains(ip("10.2.0.0")));
        assert!(!b.contains(ip("::1")));
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_peer() {
        let t = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let client = |peer: &str, xff: &[&str], fwd: &[&str]| t.client(ip(peer), xff, fwd);
        // An untrusted peer: its headers say nothing.
        assert_eq!(client("203.0.113.9", &["127.0.0.1"], &[]), "203.0.113.9");
        // A trusted peer: the right-most address that is not a trusted proxy.
        assert_eq!(client("10.0.0.2", &["127.0.0.1, 198.51.100.7, 10.0.0.5"], &[]), "198.51.100.7");
        assert_eq!(client("10.0.0.2", &["127.0.0.1", "198.51.100.7"], &[]), "198.51.100.7");
        assert_eq!(client("10.0.0.2", &["10.0.0.3"], &[]), "10.0.0.3");
        assert_eq!(client("10.0.0.2", &[], &[]), "10.0.0.2");
        // An entry that is not an address is the peer as written, never the proxy's.
        assert_eq!(client("10.0.0.2", &["1.2.3.4, nonsense, 10.0.0.9"], &[]), "nonsense");
        assert_eq!(client("10.0.0.2", &["localhost"], &[]), "localhost");
        assert_eq!(client("10.0.0.2", &[""], &[]), "");
        // Forwarded (RFC 7239) when there is no X-Forwarded-For.
        assert_eq!(client("10.0.0.2", &[], &["for=192.0.2.60;proto=http, for=\"[2001:db8::1]:80\""]), "2001:db8::1");
        assert_eq!(client("10.0.0.2", &[], &["for=192.0.2.60:8080"]), "192.0.2.60");
        assert_eq!(client("10.0.0.2", &[], &["for=unknown"]), "unknown");
    }
}
