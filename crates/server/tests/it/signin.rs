//! Sign-in hardening through the router: an outsider cannot lock root out, a lock-out answers
//! exactly like a wrong password, and one client's flood neither delays another client's
//! sign-in nor queues without bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use escrow::Argon2Params;
use kmsd::Peer;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ADMIN_PW, config, fixture, fixture_with};

/// `POST /api/v1/login` from `addr`: status, headers and the body's bytes.
async fn login_from(
    app: &Router,
    addr: &str,
    name: &str,
    password: &str,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method("POST")
        .uri("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": name, "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(Peer {
        addr: addr.parse::<SocketAddr>().unwrap(),
        tls: false,
    }));
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
    (status, headers, body)
}

fn code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn root_cannot_be_locked_out_by_an_outsider() {
    let f = fixture();
    let a = "203.0.113.5:40000";
    let mut throttled = 0;
    for _ in 0..30 {
        let (s, h, b) = login_from(&f.app, a, "admin", "guess guess guess").await;
        match s {
            StatusCode::UNAUTHORIZED => assert_eq!(code(&b), "AUTH-001"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(code(&b), "AUTH-050");
                let wait: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
                assert!(wait > 0 && wait <= 15 * 60, "{wait}");
                throttled += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(throttled, 10, "20 failures, then the address is refused");
    // Root signs in from another address.
    let (s, _, b) = login_from(&f.app, "198.51.100.20:50000", "admin", ADMIN_PW).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test]
async fn locked_and_wrong_password_answers_are_identical() {
    let f = fixture();
    let a = "203.0.113.6:40000";
    for _ in 0..5 {
        let (s, _, _) = login_from(&f.app, a, "admin", "guess guess guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Locked out from A: even the right password is refused, exactly like a wrong one.
    let locked = login_from(&f.app, a, "admin", ADMIN_PW).await;
    let wrong = login_from(&f.app, "203.0.113.7:40000", "admin", "guess guess guess").await;
    let unknown = login_from(&f.app, "203.0.113.8:40000", "nobody", "guess guess guess").await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    for other in [&locked, &unknown] {
        assert_eq!(other.0, wrong.0);
        assert_eq!(
            String::from_utf8_lossy(&other.2),
            String::from_utf8_lossy(&wrong.2)
        );
        assert_eq!(other.1.get(header::RETRY_AFTER), None);
    }
}

/// Password checks costly enough that a queue of them is visible.
fn slow_fixture() -> super::Fixture {
    fixture_with(authority::Config {
        admin_argon2: Argon2Params::new(16 * 1024, 3, 1),
        ..config()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_flood_does_not_delay_another_clients_sign_in() {
    let f = slow_fixture();
    let app = Arc::new(f.app.clone());
    let done = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for i in 0..8 {
        let (app, done) = (app.clone(), done.clone());
        flood.push(tokio::spawn(async move {
            let r = login_from(&app, "203.0.113.9:1", &format!("flood{i}"), "guess guess").await;
            (r.0, done.fetch_add(1, Ordering::SeqCst))
        }));
    }
    // Let the flood queue up first.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (s, _, b) = login_from(&app, "198.51.100.30:2", "admin", ADMIN_PW).await;
    let position = done.fetch_add(1, Ordering::SeqCst);
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let mut flood_done = Vec::new();
    for t in flood {
        let (s, at) = t.await.unwrap();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        flood_done.push(at);
    }
    // The flood's checks run one at a time; the other client's runs beside them, so it
    // finishes before most of the flood (without the per-address step it queued behind all).
    assert!(
        position <= 3,
        "the other client finished after {position} of the flood's attempts"
    );
    assert!(flood_done.iter().filter(|&&at| at > position).count() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_queue_is_capped() {
    let f = slow_fixture();
    let app = Arc::new(f.app.clone());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            login_from(&app, "203.0.113.10:1", &format!("n{i}"), "guess guess").await
        }));
    }
    let mut refused = 0;
    for t in tasks {
        let (s, h, b) = t.await.unwrap();
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(code(&b), "KMS-429");
            assert_eq!(h[header::RETRY_AFTER], "1");
            refused += 1;
        } else {
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
    }
    assert!(refused >= 1, "20 at once from one address: some refused");
    assert!(
        refused <= 20 - 9,
        "one in progress and 8 waiting are kept: {refused}"
    );
}

#[tokio::test]
async fn unlock_route_clears_a_lock_out() {
    let f = fixture();
    let a = "203.0.113.11:1";
    for _ in 0..5 {
        login_from(&f.app, a, "admin", "guess guess guess").await;
    }
    assert_eq!(
        login_from(&f.app, a, "admin", ADMIN_PW).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, _, b) = login_from(&f.app, "198.51.100.40:1", "admin", ADMIN_PW).await;
    let token: Value = serde_json::from_slice(&b).unwrap();
    let token = token["token"].as_str().unwrap();
    let (s, v) = super::call(&f.app, "GET", "/api/v1/admins", Some(token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["admins"][0]["locked_until"].is_i64(), "{v}");
    let (s, v) = super::call(
        &f.app,
        "POST",
        "/api/v1/admins/admin/unlock",
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["unlocked"]["name"], "admin");
    assert!(v["unlocked"]["locked_until"].is_null());
    assert_eq!(
        login_from(&f.app, a, "admin", ADMIN_PW).await.0,
        StatusCode::OK
    );
    let (s, v) = super::call(
        &f.app,
        "POST",
        "/api/v1/admins/nobody/unlock",
        Some(token),
        None,
    )
    .await;
    assert_eq!((s, super::code(&v)), (StatusCode::NOT_FOUND, "AUTH-021"));
}

/// The TOTP second factor through the router: enabling answers the URI once; then sign-in
/// needs a valid unused code, and a missing, wrong or replayed one answers exactly like a
/// wrong password; disabling (own, then by another administrator) brings the password back
/// alone.
#[tokio::test]
async fn totp_second_factor_through_the_api() {
    let f = fixture();
    let t = super::login(&f.app).await;
    let (s, v) = super::call(&f.app, "POST", "/api/v1/admins/me/totp", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let uri = v["otpauth_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("otpauth://totp/KMS:admin?secret="), "{uri}");
    // Only once.
    let (s, v) = super::call(&f.app, "POST", "/api/v1/admins/me/totp", Some(&t), None).await;
    assert_eq!((s, super::code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"));

    let now = 1_800_000_000;
    let good = authority::totp_code(&uri, now).unwrap().to_string();
    let wrong_pw = login_from(&f.app, "198.51.100.1:1", "admin", "not the password").await;
    let sign_in = |totp: Option<&str>| {
        let mut body = json!({"name": "admin", "password": ADMIN_PW});
        if let Some(c) = totp {
            body["totp"] = json!(c);
        }
        super::call(&f.app, "POST", "/api/v1/login", None, super::j(body))
    };
    // Missing and wrong codes: the same status and body as a wrong password.
    let wrong_body: Value = serde_json::from_slice(&wrong_pw.2).unwrap();
    assert_eq!(wrong_pw.0, StatusCode::UNAUTHORIZED);
    let bad = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    for totp in [None, Some(bad.as_str()), Some("")] {
        let (s, v) = sign_in(totp).await;
        assert_eq!((s, &v), (StatusCode::UNAUTHORIZED, &wrong_body), "{totp:?}");
    }
    // The right code signs in, once.
    let (s, v) = sign_in(Some(&good)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t2 = v["token"].as_str().unwrap().to_string();
    let (s, v) = sign_in(Some(&good)).await;
    assert_eq!((s, &v), (StatusCode::UNAUTHORIZED, &wrong_body));

    // Disabling one's own.
    let (s, v) = super::call(
        &f.app,
        "POST",
        "/api/v1/admins/me/totp/disable",
        Some(&t2),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"name": "admin", "had_totp": true}));
    let (s, _) = sign_in(None).await;
    assert_eq!(s, StatusCode::OK);

    // Another administrator's, by an administrator (quorum 1 by default).
    let bob_pw = super::create_admin(&f.app, &t, "bob", "officer").await;
    let tb = super::login_as(&f.app, "bob", &bob_pw).await;
    let (s, _) = super::call(&f.app, "POST", "/api/v1/admins/me/totp", Some(&tb), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = super::call(
        &f.app,
        "POST",
        "/api/v1/admins/admin/totp/disable",
        Some(&tb),
        None,
    )
    .await;
    assert_eq!((s, super::code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"));
    let (s, v) = super::call(
        &f.app,
        "POST",
        "/api/v1/admins/bob/totp/disable",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["had_totp"], json!(true));
    super::login_as(&f.app, "bob", &bob_pw).await;
}
