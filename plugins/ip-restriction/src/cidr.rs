//! IPv4 and IPv6 networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a bare address
//! for one host), parsed once at load time and matched with a mask.

use std::net::IpAddr;

use portcullis_sdk::Error;

/// A network: its address bits (IPv4 in the low 32 bits) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    /// An IPv4 network.
    V4 { bits: u32, prefix: u8 },
    /// An IPv6 network.
    V6 { bits: u128, prefix: u8 },
}

impl Cidr {
    /// Parses `text` from the list `key`; an address with host bits set is refused (it is
    /// usually a typo), naming the network meant.
    pub(crate) fn parse(key: &str, text: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::new(format!("`{key}` entry `{text}` {why}"));
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            bad("is not an IP address or network: write e.g. `10.0.0.0/8`, `192.0.2.7` or `2001:db8::/32`".into())
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(bad(format!("has an invalid prefix length: 0 to {max}"))),
            },
        };
        let cidr = match addr {
            IpAddr::V4(v4) => Self::V4 {
                bits: u32::from(v4),
                prefix,
            },
            IpAddr::V6(v6) => Self::V6 {
                bits: u128::from(v6),
                prefix,
            },
        };
        let network = cidr.network();
        if network != cidr {
            return Err(bad(format!(
                "has host bits set: did you mean `{}`?",
                network.display()
            )));
        }
        Ok(cidr)
    }

    /// The network with the host bits cleared.
    fn network(self) -> Self {
        match self {
            Self::V4 { bits, prefix } => Self::V4 {
                bits: bits & mask32(prefix),
                prefix,
            },
            Self::V6 { bits, prefix } => Self::V6 {
                bits: bits & mask128(prefix),
                prefix,
            },
        }
    }

    fn display(self) -> String {
        match self {
            Self::V4 { bits, prefix } => format!("{}/{prefix}", std::net::Ipv4Addr::from(bits)),
            Self::V6 { bits, prefix } => format!("{}/{prefix}", std::net::Ipv6Addr::from(bits)),
        }
    }

    /// Whether `ip` is in the network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, from a
    /// dual-stack listener) counts as the IPv4 address.
    pub(crate) fn contains(self, ip: IpAddr) -> bool {
        match (self, ip.to_canonical()) {
            (Self::V4 { bits, prefix }, IpAddr::V4(v4)) => u32::from(v4) & mask32(prefix) == bits,
            (Self::V6 { bits, prefix }, IpAddr::V6(v6)) => u128::from(v6) & mask128(prefix) == bits,
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Whether any network of `list` contains `ip`.
pub(crate) fn any_contains(list: &[Cidr], ip: IpAddr) -> bool {
    list.iter().any(|cidr| cidr.contains(ip))
}
