//! Server limits: the start-up unlock's throttle per client address, the OCSP responder's
//! token buckets for fresh signatures (nonce requests), the connection limits
//! (`header_read_timeout`, `idle_timeout`, `max_connections` in `kmsd.toml`) and the accept
//! loop that enforces them on every listener, and the response layers of the API and console
//! listener (HSTS over HTTPS, the `Host` check against DNS rebinding).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::{ApiError, AppState, Peer};

// ------------------------------------------------------------------------------------------
// The unlock throttle.

/// Wrong secrets an address may try before it must wait.
pub const UNLOCK_FREE_TRIES: u32 = 5;
/// The first wait after the free tries; each further wrong secret doubles it.
pub const UNLOCK_FIRST_WAIT_SECS: u64 = 30;
/// The longest wait.
pub const UNLOCK_MAX_WAIT_SECS: u64 = 3600;
/// Addresses remembered at once; beyond, the one idle longest is forgotten.
const UNLOCK_TRACKED: usize = 1024;

/// Wrong start-up secrets per client address: after [`UNLOCK_FREE_TRIES`], the address waits
/// (429 with `Retry-After`) before any password derivation runs.
#[derive(Default)]
pub(crate) struct UnlockThrottle {
    strikes: Mutex<HashMap<IpAddr, Strikes>>,
}

#[derive(Clone, Copy)]
struct Strikes {
    failures: u32,
    /// Unix second from which the address may try again.
    until: i64,
    /// Unix second of the last wrong secret.
    last: i64,
}

impl UnlockThrottle {
    /// `Err(seconds)` while `addr` must wait.
    pub(crate) fn check(&self, addr: IpAddr, now: i64) -> Result<(), u64> {
        let map = self.strikes.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&addr) {
            Some(s) if s.until > now => Err((s.until - now) as u64),
            _ => Ok(()),
        }
    }

    /// Records a wrong secret from `addr`.
    pub(crate) fn failed(&self, addr: IpAddr, now: i64) {
        let mut map = self.strikes.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&addr) && map.len() >= UNLOCK_TRACKED {
            // Forget the address idle longest (waits that are over first).
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| (s.until > now, s.last))
                .map(|(a, _)| *a)
            {
                map.remove(&oldest);
            }
        }
        let s = map.entry(addr).or_insert(Strikes {
            failures: 0,
            until: 0,
            last: now,
        });
        // A day without a wrong secret starts the count again.
        if now - s.last > 86_400 {
            s.failures = 0;
        }
        s.failures += 1;
        s.last = now;
        if s.failures >= UNLOCK_FREE_TRIES {
            let doublings = (s.failures - UNLOCK_FREE_TRIES).min(16);
            let wait = (UNLOCK_FIRST_WAIT_SECS << doublings).min(UNLOCK_MAX_WAIT_SECS);
            s.until = now + wait as i64;
        }
    }

    /// Forgets `addr` after a correct secret.
    pub(crate) fn succeeded(&self, addr: IpAddr) {
        self.strikes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.strikes.lock().unwrap().len()
    }
}

/// 429 with `Retry-After` for an address that must wait before unlocking again.
pub(crate) fn unlock_wait(retry_after: u64) -> ApiError {
    ApiError::too_many_requests(
        format!("too many wrong start-up secrets from this address: try again in {retry_after} s"),
        retry_after,
    )
}

// ------------------------------------------------------------------------------------------
// OCSP fresh signatures.

/// OCSP requests an address may have signed fresh (a nonce, or several certificates) per
/// second, on average.
pub const OCSP_FRESH_PER_SECOND: f64 = 2.0;
/// The burst an address may send before [`OCSP_FRESH_PER_SECOND`] applies.
pub const OCSP_FRESH_BURST: f64 = 10.0;
/// Fresh OCSP signatures per second for all addresses together.
pub const OCSP_FRESH_GLOBAL_PER_SECOND: f64 = 50.0;
/// The global burst.
pub const OCSP_FRESH_GLOBAL_BURST: f64 = 100.0;
/// Addresses tracked at once; beyond, the buckets that are full again are forgotten (and
/// all of them if none is).
const OCSP_TRACKED: usize = 4096;

/// A token bucket: `rate` tokens a second up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }
}

/// Token buckets for the OCSP responder's fresh signatures: one per client address and one
/// for all of them. Requests with a nonce cannot be answered from the cache, so each costs
/// an RSA signature; over either bucket the responder answers from the cache instead (see
/// `authority::Authority::ocsp_respond_limited`). Requests without a nonce never take a
/// token.
#[derive(Debug)]
pub(crate) struct OcspFreshLimiter {
    per_second: f64,
    burst: f64,
    global_per_second: f64,
    global_burst: f64,
    state: Mutex<(Option<Bucket>, HashMap<IpAddr, Bucket>)>,
}

impl Default for OcspFreshLimiter {
    fn default() -> Self {
        Self::new(
            OCSP_FRESH_PER_SECOND,
            OCSP_FRESH_BURST,
            OCSP_FRESH_GLOBAL_PER_SECOND,
            OCSP_FRESH_GLOBAL_BURST,
        )
    }
}

impl OcspFreshLimiter {
    pub(crate) fn new(
        per_second: f64,
        burst: f64,
        global_per_second: f64,
        global_burst: f64,
    ) -> Self {
        OcspFreshLimiter {
            per_second,
            burst,
            global_per_second,
            global_burst,
            state: Mutex::new((None, HashMap::new())),
        }
    }

    /// Takes a token from `addr`'s bucket and the global one; `false` (nothing taken) when
    /// either is empty.
    pub(crate) fn allow(&self, addr: IpAddr, now: Instant) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (global, per_addr) = &mut *guard;
        let g = global.get_or_insert_with(|| Bucket::full(self.global_burst, now));
        g.refill(self.global_per_second, self.global_burst, now);
        if !per_addr.contains_key(&addr) && per_addr.len() >= OCSP_TRACKED {
            let (rate, burst) = (self.per_second, self.burst);
            per_addr.retain(|_, b| {
                b.refill(rate, burst, now);
                b.tokens < burst
            });
            if per_addr.len() >= OCSP_TRACKED {
                per_addr.clear();
            }
        }
        let b = per_addr
            .entry(addr)
            .or_insert_with(|| Bucket::full(self.burst, now));
        b.refill(self.per_second, self.burst, now);
        if b.tokens < 1.0 || g.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        g.tokens -= 1.0;
        true
    }
}

// ------------------------------------------------------------------------------------------
// Connection limits.

/// The limits of every listener (`kmsd.toml`).
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Time a client has to send a request's header (and, over HTTPS, to finish the
    /// handshake); after it the connection is closed.
    pub header_read_timeout: Duration,
    /// A connection with no bytes in either direction for this long is closed (a request in
    /// progress is finished first). Between requests the header-read timeout, shorter,
    /// closes a kept-alive connection that sends nothing.
    pub idle_timeout: Duration,
    /// Connections served at once on each listener; further clients wait in the listen
    /// queue until one closes.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then lets the
/// connections in progress finish their requests. With `tls`, every connection speaks HTTPS
/// (the handshake within the header-read timeout). The router sees [`Peer`] as connect info.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        // A permit first: beyond the cap, clients wait in the kernel's listen queue.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match acceptor {
                None => serve_connection(stream, addr, false, app, limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => serve_connection(tls, addr, true, app, limits, stop).await,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit: all of them back means all connections are closed.
    let _ = permits
        .acquire_many(limits.max_connections.max(1) as u32)
        .await;
    Ok(())
}

async fn serve_connection<I>(
    io: I,
    addr: SocketAddr,
    tls: bool,
    app: Router,
    limits: ServerLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Mutex::new(Instant::now()));
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: io,
        activity: activity.clone(),
    });
    let peer = Peer { addr, tls };
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            use tower::ServiceExt;
            app.oneshot(req.map(axum::body::Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut tick = tokio::time::interval(limits.idle_timeout.min(Duration::from_secs(1)));
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(peer = %addr, error = %e, "connection ended");
                }
                return;
            }
            _ = tick.tick(), if !closing => {
                let idle = activity.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                if idle >= limits.idle_timeout {
                    // Finishes a request in progress, then closes.
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            _ = stop.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// A stream that notes the time of its last read or write (the idle timeout's clock).
struct Watched<I> {
    inner: I,
    activity: Arc<Mutex<Instant>>,
}

impl<I> Watched<I> {
    fn touch(&self) {
        *self.activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ------------------------------------------------------------------------------------------
// Response layers.

/// `Strict-Transport-Security` on every answer of an HTTPS listener.
pub const HSTS: &str = "max-age=31536000";

/// Adds [`HSTS`] to the response.
pub(crate) async fn hsts(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

/// The names a `Host` header may carry on the API and console listener, beside loopback
/// addresses and `localhost` (always allowed): the TLS certificate's names, the public
/// URL's host and `allowed_hosts` in `kmsd.toml`. A `*.example.com` name allows one label.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// From names (DNS names, wildcards or IP addresses; case and a trailing dot ignored).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        AllowedHosts {
            names: names
                .into_iter()
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether a `Host` header value is allowed.
    pub fn allows(&self, host_header: &str) -> bool {
        let host = host_name(host_header).to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        if host == "localhost" {
            return true;
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            if ip.is_loopback() {
                return true;
            }
            return self
                .names
                .iter()
                .any(|n| n.parse::<IpAddr>().is_ok_and(|a| a == ip));
        }
        self.names.iter().any(|n| match n.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => n == host,
        })
    }
}

/// Shortest time between two reads of the public URL prompted by a refused `Host`.
const PUBLIC_HOST_REREAD: Duration = Duration::from_millis(200);

/// The public URL's host as the authority has it now: `kmsctl settings public-url` (and the
/// console's form) change it while kmsd serves, and the `Host` check follows without a
/// restart. Set by the API when a change is applied; a `Host` the other names refuse also
/// makes it re-read the setting (at most every 200 ms, so foreign `Host` headers cannot
/// keep the authority busy), which covers changes applied elsewhere (the console).
#[derive(Debug, Default)]
pub(crate) struct PublicHost {
    host: std::sync::RwLock<Option<AllowedHosts>>,
    last_read: Mutex<Option<Instant>>,
}

impl PublicHost {
    /// Whether the current public host is `host_header`'s.
    pub(crate) fn allows(&self, host_header: &str) -> bool {
        self.host
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| h.allows(host_header))
    }

    /// Records the public URL in effect.
    pub(crate) fn set(&self, public_url: &str) {
        let host = authority::url_host_port(public_url).map(|(h, _)| AllowedHosts::new([h]));
        *self.host.write().unwrap_or_else(|p| p.into_inner()) = host;
    }

    /// Whether the setting may be read again now (and notes that it is).
    pub(crate) fn may_reread(&self, now: Instant) -> bool {
        let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.saturating_duration_since(t) < PUBLIC_HOST_REREAD) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// The host part of a `Host` header: without the port, brackets kept for IPv6.
fn host_name(value: &str) -> &str {
    if value.starts_with('[') {
        return match value.find(']') {
            Some(i) => &value[..=i],
            None => value,
        };
    }
    match value.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => value,
    }
}

/// Refuses a request whose `Host` header names another server (DNS rebinding): 421 with a
/// JSON error (`KMS-421`). A request without a `Host` header (no browser sends one) passes.
pub(crate) async fn check_host(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().map(str::to_string));
    match host {
        None => next.run(req).await,
        Some(Ok(h)) if state.allowed_hosts().allows(&h) || state.public_host_allows(&h) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "KMS-421",
            "this server does not answer to that Host name (add it to allowed_hosts in \
             kmsd.toml if it is one of the server's names)",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn unlock_waits_grow_after_the_free_tries_and_a_success_forgets() {
        let t = UnlockThrottle::default();
        let now = 1_800_000_000;
        for _ in 0..UNLOCK_FREE_TRIES - 1 {
            t.failed(A, now);
            assert_eq!(t.check(A, now), Ok(()));
        }
        t.failed(A, now);
        assert_eq!(t.check(A, now), Err(UNLOCK_FIRST_WAIT_SECS));
        let later = now + UNLOCK_FIRST_WAIT_SECS as i64;
        assert_eq!(t.check(A, later), Ok(()));
        t.failed(A, later);
        assert_eq!(t.check(A, later), Err(2 * UNLOCK_FIRST_WAIT_SECS));
        for _ in 0..40 {
            t.failed(A, later);
        }
        assert_eq!(t.check(A, later), Err(UNLOCK_MAX_WAIT_SECS));
        t.succeeded(A);
        assert_eq!(t.check(A, later), Ok(()));
    }

    #[test]
    fn the_unlock_throttle_forgets_the_oldest_beyond_its_size() {
        let t = UnlockThrottle::default();
        for i in 0..(UNLOCK_TRACKED as u32 + 500) {
            t.failed(IpAddr::V4(std::net::Ipv4Addr::from(i)), 1000 + i64::from(i));
        }
        assert_eq!(t.tracked(), UNLOCK_TRACKED);
    }

    #[test]
    fn ocsp_fresh_signatures_are_limited_per_address_and_globally() {
        let t0 = Instant::now();
        let l = OcspFreshLimiter::new(2.0, 3.0, 10.0, 5.0);
        let b = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert!((0..3).all(|_| l.allow(A, t0)));
        assert!(!l.allow(A, t0), "A's burst is spent");
        assert!(
            l.allow(b, t0) && l.allow(b, t0),
            "another address has its own bucket"
        );
        assert!(!l.allow(b, t0), "the global burst (5) is spent");
        // Half a second: one token for A (2/s), five for all.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.allow(A, t1));
        assert!(!l.allow(A, t1));
        assert!(l.allow(b, t1));
    }

    #[test]
    fn hosts_allowed_are_loopback_localhost_and_the_configured_names() {
        let h = AllowedHosts::new([
            "kms.example.com".into(),
            "*.corp.example".into(),
            "10.0.0.5".into(),
        ]);
        for ok in [
            "localhost",
            "localhost:8443",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:8443",
            "KMS.Example.com.",
            "kms.example.com:443",
            "a.corp.example",
            "10.0.0.5:8443",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "kms.example.com.evil.example",
            "corp.example",
            "a.b.corp.example",
            "10.0.0.6",
            "[2001:db8::1]:443",
            "",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }
}
