//! Server limits in-process: the per-address flood cap of refusals without a signed-in actor
//! (sign-in, enrollment, the refusal layer), the start-up unlock's throttle (429 with
//! `Retry-After`), HSTS over HTTPS, the `Host` check against DNS rebinding, and error
//! messages without the server's paths.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use super::*;

/// A request from `peer` (the real server's connect info) with an optional `Host` header;
/// the status, headers and JSON body.
async fn send(
    app: &Router,
    peer: &str,
    host: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(h) = host {
        req = req.header(header::HOST, h);
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = req.body(body).unwrap();
    req.extensions_mut().insert(ConnectInfo(kmsd::Peer {
        addr: SocketAddr::from_str(peer).unwrap(),
        tls: false,
    }));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// (actor, action, target) of the entries after `after`.
fn entries(dir: &Path, after: i64) -> Vec<(String, String, String)> {
    let db = db(dir);
    let mut stmt = db
        .prepare("SELECT actor, action, target FROM audit_log WHERE seq > ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn head(dir: &Path) -> i64 {
    db(dir)
        .query_row("SELECT coalesce(max(seq), 0) FROM audit_log", [], |r| {
            r.get(0)
        })
        .unwrap()
}

const FLOODER: &str = "192.0.2.10:5000";
const OTHER: &str = "192.0.2.20:5000";

#[tokio::test]
async fn an_anonymous_flood_is_capped_per_address_and_another_address_is_still_heard() {
    let f = fixture();
    let app = &f.app;
    // The start of a minute, so the whole burst falls in one.
    let now = 1_800_000_000u64;
    f.clock.advance(Duration::from_secs(60 - now % 60));
    let start = head(&f.dir);
    // Wrong sign-ins, bad enrollments and session-less calls from one address.
    for i in 0..40 {
        let (s, _, _) = match i % 3 {
            0 => {
                send(
                    app,
                    FLOODER,
                    None,
                    "POST",
                    "/api/v1/login",
                    Some(json!({"name": format!("flood-{i}"), "password": "x"})),
                )
                .await
            }
            1 => {
                send(
                    app,
                    FLOODER,
                    None,
                    "POST",
                    "/api/v1/enroll",
                    Some(json!({"token": format!("flood-token-{i}"), "csr": "x"})),
                )
                .await
            }
            _ => send(app, FLOODER, None, "GET", "/api/v1/users", None).await,
        };
        assert!(s.is_client_error(), "{s}");
    }
    let flood = entries(&f.dir, start);
    let cap = kmsd::UNAUTHENTICATED_REFUSALS_PER_MINUTE as usize;
    assert_eq!(flood.len(), cap, "{flood:#?}");
    assert!(flood.iter().any(|e| e.1 == "login"), "{flood:#?}");
    assert!(flood.iter().any(|e| e.1 == "enroll"), "{flood:#?}");

    // Another address is still recorded, in full: a wrong sign-in, a 60 000-character
    // name (clipped in the entry), a bad enrollment and a session-less call.
    let mid = head(&f.dir);
    let long = "n".repeat(60_000);
    for body in [
        json!({"name": "other-1", "password": "x"}),
        json!({"name": long, "password": "x"}),
    ] {
        let (s, _, _) = send(app, OTHER, None, "POST", "/api/v1/login", Some(body)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _, _) = send(
        app,
        OTHER,
        None,
        "POST",
        "/api/v1/enroll",
        Some(json!({"token": "other-token", "csr": "x"})),
    )
    .await;
    assert!(s.is_client_error());
    let (s, _, _) = send(app, OTHER, None, "GET", "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let other = entries(&f.dir, mid);
    assert_eq!(other.len(), 4, "{other:#?}");
    assert_eq!(other[0].0, "other-1");
    assert!(other[1].0.starts_with("nnnn"), "{:?}", &other[1].0[..10]);
    assert!(
        other[1].0.chars().count() <= authority::MAX_ACTOR + 3
            && other[1].2.chars().count() <= authority::MAX_TARGET + 3,
        "a 60 000-character name became an actor of {} characters",
        other[1].0.len()
    );
    assert_eq!(other[2].1, "enroll");
    assert_eq!(other[3].2, "GET /api/v1/users from 192.0.2.20");

    // A successful sign-in is not counted against the address, and the flood is
    // summarised once its minute is over; the chain stays intact.
    f.clock.advance(Duration::from_secs(60));
    let t = login(app).await;
    let (s, _, _) = send(app, FLOODER, None, "GET", "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let db = db(&f.dir);
    let summaries: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE detail LIKE 'suppressed % refusals%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(summaries, 1);
    assert_eq!(verify_audit(app, &t).await["ok"], true);
}

#[tokio::test]
async fn unlock_is_throttled_per_address_before_any_password_work() {
    let f = fixture();
    drop(f.app);
    drop(f.state);
    let store = Store::open(&f.dir).unwrap();
    let app = kmsd::router(Arc::new(
        AppState::locked(store, config(), f.clock.clone()).unwrap(),
    ));
    let wrong = json!({"password": "not the start-up password"});
    for _ in 0..kmsd::limits::UNLOCK_FREE_TRIES {
        let (s, h, _) = send(
            &app,
            FLOODER,
            None,
            "POST",
            "/api/v1/unlock",
            Some(wrong.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(h.get(header::RETRY_AFTER).is_none());
    }
    // Now the address waits, even with the right secret.
    for body in [wrong.clone(), json!({"password": STARTUP_PW})] {
        let (s, h, v) = send(&app, FLOODER, None, "POST", "/api/v1/unlock", Some(body)).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "KMS-429"),
            "{v}"
        );
        let wait: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert_eq!(wait, kmsd::limits::UNLOCK_FIRST_WAIT_SECS);
    }
    // Another address is not held up by the first one's wrong secrets.
    let (s, _, _) = send(
        &app,
        OTHER,
        None,
        "POST",
        "/api/v1/unlock",
        Some(wrong.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The refused unlocks were audited, and the 429s as refusals of the request.
    let db = db(&f.dir);
    let waits: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'request' AND detail LIKE '[KMS-429]%'
             AND target = 'POST /api/v1/unlock from 192.0.2.10'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(waits, 2);
    let unlocks: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'unlock' AND outcome = 'refused'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unlocks, i64::from(kmsd::limits::UNLOCK_FREE_TRIES) + 1);
    // After the wait the right secret unlocks.
    f.clock
        .advance(Duration::from_secs(kmsd::limits::UNLOCK_FIRST_WAIT_SECS));
    let (s, _, v) = send(
        &app,
        FLOODER,
        None,
        "POST",
        "/api/v1/unlock",
        Some(json!({"password": STARTUP_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn hsts_is_sent_over_https_only() {
    let f = fixture();
    let https = kmsd::router_with(f.state.clone(), true);
    for path in ["/healthz", "/ca", "/api/v1/users", "/console/signin"] {
        let (_, h, _) = send(&https, OTHER, None, "GET", path, None).await;
        assert_eq!(
            h.get(header::STRICT_TRANSPORT_SECURITY)
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
        let (_, h, _) = send(&f.app, OTHER, None, "GET", path, None).await;
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none(), "{path}");
    }
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_the_api_and_console_but_not_on_public_urls() {
    let f = fixture();
    let app = &f.app;
    for path in [
        "/api/v1/users",
        "/api/v1/nothing",
        "/console",
        "/console/signin",
    ] {
        let (s, _, v) = send(app, OTHER, Some("evil.example"), "GET", path, None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::MISDIRECTED_REQUEST, "KMS-421"),
            "{path}"
        );
    }
    let (s, _, v) = send(
        app,
        OTHER,
        Some("evil.example:8443"),
        "POST",
        "/api/v1/login",
        Some(json!({"name": "admin", "password": ADMIN_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::MISDIRECTED_REQUEST, "{v}");
    // Loopback names and addresses pass (and meet the session check).
    for host in [
        "localhost",
        "localhost:8443",
        "127.0.0.1:8443",
        "[::1]:8443",
    ] {
        let (s, _, _) = send(app, OTHER, Some(host), "GET", "/api/v1/users", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{host}");
    }
    // The public URLs and the health check answer any Host.
    for path in ["/healthz", "/ca", "/ca.der", "/crl", "/crl/delta"] {
        let (s, _, _) = send(app, OTHER, Some("evil.example"), "GET", path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    // A configured name passes.
    drop(f.app);
    drop(f.state);
    let store = Store::open(&f.dir).unwrap();
    let named = kmsd::router(Arc::new(
        AppState::locked(store, config(), f.clock.clone())
            .unwrap()
            .with_allowed_hosts(kmsd::limits::AllowedHosts::new([
                "kms.example.com".to_string()
            ])),
    ));
    let (s, _, _) = send(
        &named,
        OTHER,
        Some("kms.example.com"),
        "GET",
        "/api/v1/users",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::LOCKED);
    let (s, _, _) = send(
        &named,
        OTHER,
        Some("evil.example"),
        "GET",
        "/api/v1/users",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn refusals_name_files_not_the_servers_paths() {
    let f = fixture();
    let t = login(&f.app).await;
    // A settings file the backup cannot carry: the answer names the file, not the data dir.
    std::fs::write(f.dir.join("kmsd.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let (s, v) = call(&f.app, "POST", "/api/v1/backups", Some(&t), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("kmsd.toml"), "{message}");
    let dir = f.dir.to_str().unwrap();
    assert!(!message.contains(dir), "{message}");
    // A backup that is not in the backup folder, and one that is damaged.
    let (s, v) = call(
        &f.app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": "kms-nothing.kmsbak"})),
    )
    .await;
    assert!(
        s.is_client_error() && s != StatusCode::NOT_FOUND || code(&v) != "KMS-404",
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kms-nothing.kmsbak"),
        "{v}"
    );
    assert!(!v.to_string().contains(dir), "{v}");
    let backups = f.dir.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("kms-damaged.kmsbak"), b"not a backup").unwrap();
    let (s, v) = call(
        &f.app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": "kms-damaged.kmsbak"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kms-damaged.kmsbak"),
        "{v}"
    );
    assert!(!v.to_string().contains(dir), "{v}");
}
