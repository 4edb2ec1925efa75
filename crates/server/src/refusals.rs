//! Auditing the refusals that never reach the authority: no or expired session (AUTH-003),
//! malformed or oversized requests, unknown API routes, calls refused while the authority is
//! locked (423). One middleware on the API router records every 4xx response marked
//! [`UnauditedRefusal`] by the error type; refusals of the authority's own operations are
//! audited by the authority and not marked.
//!
//! The actor is the session's administrator when the request carries a valid session, else
//! `-`; the client address is in the target when known. Refusals without a signed-in actor can
//! be sent by anyone, so they are capped: at most [`UNAUTHENTICATED_PER_MINUTE`] entries per
//! minute, then one `suppressed K refusals` entry when the minute is over.

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
}

/// The middleware (see the module doc).
pub(crate) async fn audit_refusals(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    // The full path (this layer sits inside the /api/v1 nest).
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let what = format!("{} {path}", req.method());
    let token = crate::bearer_header(req.headers());
    let peer = peer(req.extensions()).map(|p| p.ip().to_string());
    let response = next.run(req).await;
    let Some(refusal) = response.extensions().get::<UnauditedRefusal>().cloned() else {
        return response;
    };
    let target = match peer {
        Some(p) => format!("{what} from {p}"),
        None => what,
    };
    let detail = format!("[{}] {}", refusal.code, refusal.message);
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
                        if let Some((minute, k)) = summary {
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
    }
}
