//! Sign-in throttling: failed sign-ins counted per client address, and the lock-out of an
//! administrator account per (account, client address) pair. Both live in memory (bounded
//! maps; a restart forgets them). The only write a failed sign-in makes is one counter per
//! hour in `signin_failures` ([`record_failure`], migration 0012), which the dashboard sums
//! over the last day.
//!
//! Why per pair. A lock-out of the whole account after N failures lets anyone who can reach
//! the server lock any administrator, root included, out with N requests. Here the lock-out
//! is keyed by (account, client address): N wrong passwords for `root` from address A lock
//! `root` out *from A only*; `root` still signs in from any address that has not failed.
//! Guessing from many addresses is slowed by the per-address limit instead: an address with
//! [`crate::Config::login_failures_per_address`] failures (any names) in
//! [`crate::Config::login_address_window`] is refused outright (`AUTH-050`, 429 with
//! `Retry-After`) before any account is looked up. IPv6 addresses count per /64 (one
//! customer's prefix), IPv4-mapped IPv6 addresses as IPv4.
//!
//! A lock-out answers exactly like a wrong password (`AUTH-001`, after the same Argon2
//! verification, against a dummy hash): the answer never tells whether an account exists or
//! is locked. The whole-account lock set by wrong current passwords on a signed-in session
//! (`admins.locked_until`, see `self_service.rs`) is honoured the same way; it needs a
//! session, so an outsider cannot trigger it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use zeroize::Zeroizing;

/// Most addresses (and account-address pairs) remembered; beyond it the stalest go.
pub(crate) const MAX_TRACKED: usize = 16_384;

/// The client of a sign-in attempt, and its second factor if any.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignIn {
    /// The client's address (as the server determined it; tools use loopback).
    pub client: IpAddr,
    /// The TOTP code given (see `totp.rs`), for an account with a second factor.
    pub totp: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("client", &self.client)
            .field("totp", &self.totp.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SignIn {
    /// An attempt from `client`.
    pub fn from(client: IpAddr) -> Self {
        SignIn { client, totp: None }
    }

    /// An attempt from this machine without a second factor (tools and tests).
    pub fn local() -> Self {
        SignIn::from(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }

    /// The same attempt with the TOTP code `code` (none when `None`).
    pub fn with_totp(mut self, code: Option<&str>) -> Self {
        self.totp = code.map(|c| Zeroizing::new(c.to_owned()));
        self
    }
}

/// The key an address is counted under: IPv6 by /64, IPv4-mapped as IPv4.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

#[derive(Clone, Copy, Debug)]
struct Count {
    /// Unix seconds of the first failure of the window.
    since: i64,
    failed: u32,
    /// Locked (pairs) until then.
    locked_until: Option<i64>,
}

/// The in-memory counters (see the module doc).
#[derive(Default)]
pub(crate) struct Guard {
    addresses: Mutex<HashMap<IpAddr, Count>>,
    pairs: Mutex<HashMap<(i64, IpAddr), Count>>,
}

/// Keeps `map` under [`MAX_TRACKED`]: drops entries older than `horizon`, then the stalest.
fn make_room<K: Copy + Eq + std::hash::Hash>(map: &mut HashMap<K, Count>, horizon: i64) {
    if map.len() < MAX_TRACKED {
        return;
    }
    map.retain(|_, c| c.since > horizon || c.locked_until.is_some_and(|t| t > horizon));
    while map.len() >= MAX_TRACKED {
        let Some(k) = map
            .iter()
            .min_by_key(|(_, c)| c.locked_until.unwrap_or(c.since))
            .map(|(k, _)| *k)
        else {
            break;
        };
        map.remove(&k);
    }
}

impl Guard {
    /// `Some(seconds to wait)` when `client` is over the per-address limit.
    pub(crate) fn address_throttled(
        &self,
        client: IpAddr,
        now: i64,
        limit: u32,
        window: i64,
    ) -> Option<i64> {
        let map = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.get(&address_key(client))?;
        let end = c.since + window;
        (c.failed >= limit && end > now).then_some(end - now)
    }

    /// Counts a failure of `client` (any name).
    pub(crate) fn address_failed(&self, client: IpAddr, now: i64, window: i64) {
        let mut map = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut map, now - window);
        let c = map.entry(address_key(client)).or_insert(Count {
            since: now,
            failed: 0,
            locked_until: None,
        });
        if c.since + window <= now {
            *c = Count {
                since: now,
                failed: 0,
                locked_until: None,
            };
        }
        c.failed = c.failed.saturating_add(1);
    }

    /// Whether account `id` is locked out for `client`.
    pub(crate) fn pair_locked(&self, id: i64, client: IpAddr, now: i64) -> bool {
        let map = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(id, address_key(client)))
            .and_then(|c| c.locked_until)
            .is_some_and(|t| t > now)
    }

    /// Counts a wrong password for account `id` from `client`; returns the end of the
    /// lock-out when this failure starts one.
    pub(crate) fn pair_failed(
        &self,
        id: i64,
        client: IpAddr,
        now: i64,
        max: u32,
        lockout: i64,
    ) -> Option<i64> {
        let mut map = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut map, now - lockout);
        let c = map.entry((id, address_key(client))).or_insert(Count {
            since: now,
            failed: 0,
            locked_until: None,
        });
        if c.locked_until.is_some_and(|t| t <= now) {
            *c = Count {
                since: now,
                failed: 0,
                locked_until: None,
            };
        }
        c.failed = c.failed.saturating_add(1);
        if c.failed >= max && c.locked_until.is_none() {
            c.locked_until = Some(now + lockout);
            return c.locked_until;
        }
        None
    }

    /// A successful sign-in clears the pair's count and the address's.
    pub(crate) fn succeeded(&self, id: i64, client: IpAddr) {
        let key = address_key(client);
        self.pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(id, key));
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// The latest lock-out of account `id` from any address, if one is running.
    pub(crate) fn locked_until(&self, id: i64, now: i64) -> Option<i64> {
        let map = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|((a, _), _)| *a == id)
            .filter_map(|(_, c)| c.locked_until)
            .filter(|t| *t > now)
            .max()
    }

    /// Clears every lock-out and count of account `id`.
    pub(crate) fn unlock(&self, id: i64) {
        self.pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(a, _), _| *a != id);
    }
}

/// Hours of failure counts kept (older rows are dropped as new ones are written).
const KEEP_FAILURE_HOURS: i64 = 90 * 24;

/// Counts one failed sign-in at `now` in its hour's row of `signin_failures`.
pub(crate) fn record_failure(conn: &db::Connection, now: i64) -> db::Result<()> {
    let hour = now.div_euclid(3600) * 3600;
    conn.execute(
        // The old row's column qualified: PostgreSQL finds a bare `failures` ambiguous
        // (the table's or `excluded`'s).
        "INSERT INTO signin_failures (hour, failures) VALUES (?1, 1)
         ON CONFLICT (hour) DO UPDATE SET failures = signin_failures.failures + 1",
        [hour],
    )?;
    conn.execute(
        "DELETE FROM signin_failures WHERE hour < ?1",
        [hour - KEEP_FAILURE_HOURS * 3600],
    )?;
    Ok(())
}

/// Failed sign-ins counted in the hours that end after `since` (the hour holding `since`
/// included).
pub(crate) fn failures_since(conn: &db::Connection, since: i64) -> crate::Result<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(failures), 0) FROM signin_failures WHERE hour > ?1",
        [since - 3600],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_prefix_and_mapped_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn pairs_lock_per_address_and_the_maps_stay_bounded() {
        let g = Guard::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..4 {
            assert_eq!(g.pair_failed(1, a, 100 + i, 5, 900), None);
        }
        assert_eq!(g.pair_failed(1, a, 110, 5, 900), Some(1010));
        assert!(g.pair_locked(1, a, 500));
        assert!(!g.pair_locked(1, b, 500), "another address is not locked");
        assert!(!g.pair_locked(2, a, 500), "another account is not locked");
        assert!(!g.pair_locked(1, a, 1010), "the lock-out ends");
        assert_eq!(g.locked_until(1, 500), Some(1010));
        g.unlock(1);
        assert!(!g.pair_locked(1, a, 500));

        for i in 0..(MAX_TRACKED as u32 + 10) {
            g.address_failed(IpAddr::from(i.to_be_bytes()), 1000, 900);
        }
        assert!(g.addresses.lock().unwrap().len() <= MAX_TRACKED);
    }
}
