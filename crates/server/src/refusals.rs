//! Auditing the refusals that never reach the authority: no or expired session (AUTH-003),
//! malformed or oversized requests, unknown API routes, calls refused while the authority is
//! locked (423), and the console's own refusals (forged or foreign form posts, malformed
//! forms). One middleware on the API router and the console records every 4xx response marked
//! [`UnauditedRefusal`] by the error types; refusals of the authority's own operations are
//! audited by the authority and not marked.
//!
//! The actor is the session's administrator when the request carries a valid session, else
//! `-`; the client address is in the target when known. Refusals without a signed-in actor can
//! be sent by anyone, so they go through one flood cap keyed by client address (this layer's
//! own, and the sign-in, enrollment and unlock refusals the authority writes, see
//! [`anonymous`]): at most [`UNAUTHENTICATED_PER_MINUTE`] entries per minute per address and
//! [`UNAUTHENTICATED_CEILING_PER_MINUTE`] for all, then one `suppressed K refusals` entry when
//! the minute is over (written by the next such refusal, or by the server's schedule). One
//! client's flood neither fills the log nor hides another client's refusals. Paths and
//! messages are clipped to 300 characters.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::error::UnauditedRefusal;

/// The client's address and whether the connection is TLS, as connect info (set by the
/// accept loop in `limits`, or by `axum::serve` on a plain TCP listener with
/// `router(..).into_make_service_with_connect_info::<Peer>()`).
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The connection is HTTPS.
    pub tls: bool,
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer {
            addr: *s.remote_addr(),
            tls: false,
        }
    }
}

/// The client address of a request, when the server recorded it.
pub(crate) fn peer(req: &axum::http::Extensions) -> Option<SocketAddr> {
    req.get::<ConnectInfo<Peer>>().map(|c| c.0.addr)
}

/// Entries per minute and client address for refusals without a signed-in actor.
pub const UNAUTHENTICATED_PER_MINUTE: u32 = 20;

/// Entries per minute for refusals without a signed-in actor, all addresses together: the
/// ceiling when many addresses flood at once. The addresses tracked in a minute are only
/// those that had an entry written, so the map holds at most this many.
pub const UNAUTHENTICATED_CEILING_PER_MINUTE: u32 = 200;

/// The flood cap's window: per client address, under a global ceiling.
#[derive(Default)]
pub(crate) struct Limiter {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Unix minute the counts belong to.
    minute: i64,
    /// Entries written this minute per client address (at most the ceiling's count of keys).
    written: HashMap<IpAddr, u32>,
    total: u32,
    suppressed: u64,
}

pub(crate) enum Verdict {
    /// Write the entry; first write the summary of `u64` refusals suppressed before.
    Write(Option<(i64, u64)>),
    Suppress,
}

impl Limiter {
    pub(crate) fn admit(&self, addr: IpAddr, now: i64) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now.div_euclid(60);
        let mut summary = None;
        if minute != w.minute {
            if w.suppressed > 0 {
                summary = Some((w.minute, w.suppressed));
            }
            *w = Window {
                minute,
                ..Window::default()
            };
        }
        let mine = w.written.get(&addr).copied().unwrap_or(0);
        if mine >= UNAUTHENTICATED_PER_MINUTE || w.total >= UNAUTHENTICATED_CEILING_PER_MINUTE {
            w.suppressed += 1;
            return Verdict::Suppress;
        }
        w.written.insert(addr, mine + 1);
        w.total += 1;
        Verdict::Write(summary)
    }

    /// Gives back a slot taken by [`Limiter::admit`] for a call that was not refused.
    fn refund(&self, addr: IpAddr, now: i64) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute != now.div_euclid(60) {
            return;
        }
        if let Some(n) = w.written.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.written.remove(&addr);
            }
            w.total = w.total.saturating_sub(1);
        }
    }

    /// Takes back a suppression counted by [`Limiter::admit`] for a call that was not refused.
    fn unsuppress(&self, now: i64) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute == now.div_euclid(60) {
            w.suppressed = w.suppressed.saturating_sub(1);
        }
    }

    /// The summary of a minute that is over, if refusals were suppressed in it (taken once).
    fn take_summary(&self, now: i64) -> Option<(i64, u64)> {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute != now.div_euclid(60) && w.suppressed > 0 {
            let s = (w.minute, w.suppressed);
            w.suppressed = 0;
            return Some(s);
        }
        None
    }
}

/// Whether the flood cap lets `addr` write one more refusal entry now (taking the slot);
/// writes the summary of a finished minute first when one is due.
pub(crate) fn admit(state: &AppState, addr: IpAddr) -> bool {
    match state.refusals.admit(addr, unix_now(&*state.clock)) {
        Verdict::Suppress => false,
        Verdict::Write(summary) => {
            if let Some(s) = summary {
                write_summary(state, s);
            }
            true
        }
    }
}

/// Runs an authority operation that anyone can call (sign-in, enrollment) with its refusal
/// entries under the flood cap of `addr`: within the cap the authority writes them, beyond it
/// they are counted in the minute's summary instead. Call it on the blocking thread that runs
/// the operation. Successes and pending approvals are always written.
pub(crate) fn anonymous<T>(
    state: &AppState,
    addr: IpAddr,
    op: impl FnOnce() -> authority::Result<T>,
) -> authority::Result<T> {
    let write = admit(state, addr);
    let r = authority::muting_refusals(!write, op);
    let refused = matches!(&r, Err(e) if !matches!(e, authority::Error::ApprovalPending { .. }));
    if !refused {
        let now = unix_now(&*state.clock);
        if write {
            state.refusals.refund(addr, now);
        } else {
            state.refusals.unsuppress(now);
        }
    }
    r
}

/// Longest path and message kept in an entry (both can come from anyone).
const MAX_TEXT: usize = 300;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn write_summary(state: &AppState, (minute, k): (i64, u64)) {
    state.audit_refusal(
        "-",
        "request",
        "-",
        &format!(
            "suppressed {k} refusals without a session in the minute from {}",
            minute * 60
        ),
    );
}

/// Writes the summary of suppressed refusals once their minute is over, when no further
/// refusal came to write it (called by the server's schedule).
pub(crate) fn flush(state: &AppState) {
    if let Some(s) = state.refusals.take_summary(unix_now(&*state.clock)) {
        write_summary(state, s);
    }
}

/// The middleware (see the module doc).
pub(crate) async fn audit_refusals(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    // The full path (on the API this layer sits inside the /api/v1 nest).
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let what = format!("{} {}", req.method(), clip(&path));
    let token = crate::bearer_header(req.headers())
        .or_else(|| crate::console::cookie_value(req.headers(), crate::console::SESSION_COOKIE));
    let addr = state.client_addr(req.extensions(), req.headers());
    let peer = peer(req.extensions()).map(|_| addr.to_string());
    let response = next.run(req).await;
    let Some(refusal) = response.extensions().get::<UnauditedRefusal>().cloned() else {
        return response;
    };
    let target = match peer {
        Some(p) => format!("{what} from {p}"),
        None => what,
    };
    let detail = format!("[{}] {}", refusal.code, clip(&refusal.message));
    let r = tokio::task::spawn_blocking(move || {
        let actor = token
            .and_then(|t| state.authority().ok()?.authenticate(&t).ok())
            .map(|a| a.name);
        match actor {
            Some(actor) => state.audit_refusal(&actor, "request", &target, &detail),
            None => {
                if admit(&state, addr) {
                    state.audit_refusal("-", "request", &target, &detail);
                }
            }
        }
    })
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "auditing a refusal failed");
    }
    response
}

pub(crate) fn unix_now(clock: &dyn authority::Clock) -> i64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn the_cap_admits_n_a_minute_per_address_then_summarises() {
        let l = Limiter::default();
        let t0 = 60 * 30_000_000; // the start of a minute
        for _ in 0..UNAUTHENTICATED_PER_MINUTE {
            assert!(matches!(l.admit(A, t0 + 5), Verdict::Write(None)));
        }
        for _ in 0..7 {
            assert!(matches!(l.admit(A, t0 + 30), Verdict::Suppress));
        }
        // Another client is still heard while A floods.
        assert!(matches!(l.admit(B, t0 + 31), Verdict::Write(None)));
        match l.admit(A, t0 + 61) {
            Verdict::Write(Some((m, 7))) => assert_eq!(m * 60, t0),
            _ => panic!("expected the summary of 7"),
        }
        assert!(matches!(l.admit(A, t0 + 62), Verdict::Write(None)));
        // (2 written above in this minute.) Without a further refusal, the schedule takes the
        // summary once the minute is over.
        for _ in 0..UNAUTHENTICATED_PER_MINUTE + 3 {
            l.admit(A, t0 + 70);
        }
        assert_eq!(l.take_summary(t0 + 100), None, "the minute is not over");
        assert_eq!(l.take_summary(t0 + 121), Some((t0 / 60 + 1, 5)));
        assert_eq!(l.take_summary(t0 + 122), None);
    }

    #[test]
    fn many_addresses_meet_the_ceiling_and_the_map_stays_bounded() {
        let l = Limiter::default();
        let t0 = 60 * 30_000_000;
        let mut written = 0;
        for i in 0..100_000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            if matches!(l.admit(a, t0 + 1), Verdict::Write(_)) {
                written += 1;
            }
        }
        assert_eq!(written, UNAUTHENTICATED_CEILING_PER_MINUTE);
        let w = l.window.lock().unwrap();
        assert_eq!(w.written.len(), UNAUTHENTICATED_CEILING_PER_MINUTE as usize);
        assert_eq!(
            w.suppressed,
            100_000 - u64::from(UNAUTHENTICATED_CEILING_PER_MINUTE)
        );
        drop(w);
        // A refund gives the slot back.
        l.refund(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000)), t0 + 2);
        assert!(matches!(l.admit(A, t0 + 3), Verdict::Write(None)));
    }

    #[test]
    fn long_text_is_clipped() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(1000);
        assert_eq!(clip(&long).chars().count(), MAX_TEXT + 3);
    }
}
