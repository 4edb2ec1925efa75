//! Auditing the refusals that never reach the authority: no or expired session (AUTH-003),
//! malformed or oversized requests, unknown API routes, calls refused while the authority is
//! locked (423), and the console's own refusals (forged or foreign form posts, malformed
//! forms). One middleware on the API router and the console records every 4xx response marked
//! [`UnauditedRefusal`] by the error types; refusals of the authority's own operations are
//! audited by the authority and not marked.
//!
//! The actor is the session's administrator when the request carries a valid session, else
//! `-`; the client address is in the target when known. Refusals without a signed-in actor can
//! be sent by anyone, so they are capped: at most [`UNAUTHENTICATED_PER_MINUTE`] entries per
//! minute, then one `suppressed K refusals` entry when the minute is over (written by the next
//! such refusal, or by the server's schedule). Paths and messages are clipped to 300 characters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::error::UnauditedRefusal;

/// The client's address and whether the connection is TLS, as connect info for both
/// listeners (plain TCP and [`crate::tls::TlsListener`]):
/// `router(..).into_make_service_with_connect_info::<Peer>()`.
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

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        Peer {
            addr: *s.remote_addr(),
            tls: true,
        }
    }
}

/// The client address of a request, when the server recorded it.
pub(crate) fn peer(req: &axum::http::Extensions) -> Option<SocketAddr> {
    req.get::<ConnectInfo<Peer>>().map(|c| c.0.addr)
}

/// Entries per minute for refusals without a signed-in actor.
pub const UNAUTHENTICATED_PER_MINUTE: u32 = 20;

/// The flood cap's window.
#[derive(Default)]
pub(crate) struct Limiter {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Unix minute the counts belong to.
    minute: i64,
    written: u32,
    suppressed: u64,
}

enum Verdict {
    /// Write the entry; first write the summary of `u64` refusals suppressed before.
    Write(Option<(i64, u64)>),
    Suppress,
}

impl Limiter {
    fn admit(&self, now: i64) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now.div_euclid(60);
        let mut summary = None;
        if minute != w.minute {
            if w.suppressed > 0 {
                summary = Some((w.minute, w.suppressed));
            }
            *w = Window {
                minute,
                written: 0,
                suppressed: 0,
            };
        }
        if w.written >= UNAUTHENTICATED_PER_MINUTE {
            w.suppressed += 1;
            return Verdict::Suppress;
        }
        w.written += 1;
        Verdict::Write(summary)
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
    if let Some(s) = state.refusals.take_summary(authority_unix(&*state.clock)) {
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
    let peer = peer(req.extensions()).map(|_| {
        state
            .client_addr(req.extensions(), req.headers())
            .to_string()
    });
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
                let now = authority_unix(&*state.clock);
                match state.refusals.admit(now) {
                    Verdict::Suppress => {}
                    Verdict::Write(summary) => {
                        if let Some(s) = summary {
                            write_summary(&state, s);
                        }
                        state.audit_refusal("-", "request", &target, &detail);
                    }
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

fn authority_unix(clock: &dyn authority::Clock) -> i64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_admits_n_a_minute_then_summarises() {
        let l = Limiter::default();
        let t0 = 60 * 30_000_000; // the start of a minute
        for _ in 0..UNAUTHENTICATED_PER_MINUTE {
            assert!(matches!(l.admit(t0 + 5), Verdict::Write(None)));
        }
        for _ in 0..7 {
            assert!(matches!(l.admit(t0 + 30), Verdict::Suppress));
        }
        match l.admit(t0 + 61) {
            Verdict::Write(Some((m, 7))) => assert_eq!(m * 60, t0),
            _ => panic!("expected the summary of 7"),
        }
        assert!(matches!(l.admit(t0 + 62), Verdict::Write(None)));
        // (2 written above in this minute.) Without a further refusal, the schedule takes the
        // summary once the minute is over.
        for _ in 0..UNAUTHENTICATED_PER_MINUTE + 3 {
            l.admit(t0 + 70);
        }
        assert_eq!(l.take_summary(t0 + 100), None, "the minute is not over");
        assert_eq!(l.take_summary(t0 + 121), Some((t0 / 60 + 1, 5)));
        assert_eq!(l.take_summary(t0 + 122), None);
    }

    #[test]
    fn long_text_is_clipped() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(1000);
        assert_eq!(clip(&long).chars().count(), MAX_TEXT + 3);
    }
}
