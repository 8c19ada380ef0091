//! Which address a request comes from, for the per-address limits. Behind a reverse proxy every
//! request arrives from the proxy, so `X-Forwarded-For` says who the client is — but anyone can
//! send that header, so it is believed only from `api.trusted_proxies`, and only as far back as
//! the hops are trusted: the client is the last hop before the first proxy that is ours.

use std::net::IpAddr;

use axum::http::HeaderMap;
use serde::Deserialize;

/// An address range in CIDR form (`10.0.0.0/8`, `::1/128`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl TryFrom<String> for AddressRange {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an address or CIDR range (e.g. 10.0.0.0/8, ::1)");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (text.as_str(), None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { network, prefix })
    }
}

impl AddressRange {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask(u32::from(net).into(), 32, self.prefix) == mask(u32::from(a).into(), 32, self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask(u128::from(net), 128, self.prefix) == mask(u128::from(a), 128, self.prefix),
            _ => false,
        }
    }
}

fn mask(bits: u128, width: u32, prefix: u8) -> u128 {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 { 0 } else { bits >> (width - prefix) }
}

/// IPv4 clients reached over IPv6 (`::ffff:1.2.3.4`) are IPv4 clients.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: `peer` itself unless it is a trusted proxy; then the nearest hop of
/// `X-Forwarded-For` (all such headers, in order) that is not one.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[AddressRange]) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|range| range.contains(a));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.into_iter().rev() {
        // A garbled hop ends the chain: what is behind it cannot be believed either.
        let Ok(address) = hop.parse::<IpAddr>() else { break };
        client = canonical(address);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> AddressRange {
        AddressRange::try_from(text.to_owned()).unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_through_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.1.2.3".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_address(proxy, &headers, &[range("10.0.0.0/8")]), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(stranger, &headers, &[range("10.0.0.0/8")]), stranger);
        assert!(AddressRange::try_from("10.0.0.0/33".to_owned()).is_err());
        assert!(range("::1").contains("::1".parse().unwrap()));
    }
}
