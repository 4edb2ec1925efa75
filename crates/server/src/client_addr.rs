//! The client address of a request: the peer's address, or the `X-Forwarded-For` value when
//! (and only when) the peer is one of the configured `trusted_proxies`. Throttles, the refusal
//! limiter and the audit log all key on this address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The address used when the server did not record the peer (in-process router tests).
pub const UNKNOWN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The client address of a request.
///
/// Without a trusted peer the `X-Forwarded-For` header is ignored (anyone can send it). When
/// the peer is a trusted proxy, the header is read from the right (the proxy appends the
/// address it saw): the first address that is not itself a trusted proxy is the client. A
/// missing or malformed header falls back to the peer. An IPv4-mapped IPv6 address is read as
/// the IPv4 address, so one client has one key.
pub fn client_addr(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let Some(peer) = peer.map(|p| canonical(p.ip())) else {
        return UNKNOWN;
    };
    if !trusted.iter().any(|t| canonical(*t) == peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match parse_hop(part.trim()) {
                Some(ip) => hops.push(ip),
                None => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|t| canonical(*t) == *ip))
        .unwrap_or(peer)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    if s.len() > 64 {
        return None;
    }
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))?;
    Some(canonical(ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_peer() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let h = headers(&["203.0.113.7"]);
        assert_eq!(client_addr(Some(peer), &h, &[]), ip("10.0.0.5"));
        assert_eq!(
            client_addr(Some(peer), &h, &[ip("10.0.0.9")]),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_addr(Some(peer), &h, &[ip("10.0.0.5")]),
            ip("203.0.113.7")
        );
        assert_eq!(client_addr(None, &h, &[ip("10.0.0.5")]), UNKNOWN);
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_and_junk_falls_back_to_the_peer() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let trusted = [ip("10.0.0.5"), ip("10.0.0.6")];
        // A client forging a first hop does not choose its address.
        let h = headers(&["1.1.1.1, 203.0.113.7, 10.0.0.6"]);
        assert_eq!(client_addr(Some(peer), &h, &trusted), ip("203.0.113.7"));
        let h = headers(&["1.1.1.1", "[2001:db8::1]:443"]);
        assert_eq!(client_addr(Some(peer), &h, &trusted), ip("2001:db8::1"));
        assert_eq!(
            client_addr(Some(peer), &headers(&["not an address"]), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_addr(Some(peer), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:1".parse().unwrap();
        assert_eq!(
            client_addr(Some(mapped), &headers(&["::ffff:192.0.2.1"]), &trusted),
            ip("192.0.2.1")
        );
    }
}
