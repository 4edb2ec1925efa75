//! The view routes in-process: status, certificate search and details (JSON and DER), user
//! and audit searches, the administrator's own password change and role changes, each with
//! its refusals.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ADMIN_PW, add_and_enroll, call, code, create_admin, fixture, j, login, login_as};

/// Alice and Bob enrolled over the API, Alice revoked; an auditor `aude`. Returns the
/// administrator's and the auditor's session tokens.
async fn populated(app: &Router) -> (String, String) {
    let t = login(app).await;
    for (email, key) in [
        ("alice@example.com", "alice-sign.key.pem"),
        ("bob@example.com", "bob-sign.key.pem"),
    ] {
        add_and_enroll(app, &t, email, key).await;
    }
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"email": "alice@example.com", "reason": "affiliationChanged", "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&t),
        j(json!({"name": "aude", "role": "auditor", "password": "auditor password"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let aude = login_as(app, "aude", "auditor password").await;
    (t, aude)
}

async fn raw(app: &Router, uri: &str, token: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn status_route_for_any_role() {
    let f = fixture();
    let app = &f.app;
    let (_, aude) = populated(app).await;
    let (s, v) = call(app, "GET", "/api/v1/status", Some(&aude), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ca_subject"], "CN=Test CA,O=Example");
    assert_eq!(v["users"], json!({"active": 2, "disabled": 0}));
    assert_eq!(
        v["certificates"],
        json!({"active": 2, "revoked": 2, "expired": 0, "superseded": 0})
    );
    assert_eq!(v["crl"]["number"], 3);
    assert_eq!(v["pending_approvals"], 0);
    assert!(v["last_backup"].is_null());
    let (s, v) = call(app, "GET", "/api/v1/status", None, None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "AUTH-003"));
    let (s, v) = call(app, "GET", "/api/v1/status", Some("forged"), None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "AUTH-003"));
}

#[tokio::test]
async fn certificate_routes_search_show_and_download() {
    let f = fixture();
    let app = &f.app;
    let (_, aude) = populated(app).await;
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/certificates?email=alice&status=revoked&sort=serial&dir=asc",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 2);
    let certs = v["certificates"].as_array().unwrap();
    assert!(certs[0]["serial"].as_str() < certs[1]["serial"].as_str());
    assert!(
        certs
            .iter()
            .all(|c| c["revocation_reason"] == "affiliationChanged")
    );
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/certificates?kind=encryption&status=active",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(v["total"], 1);
    let serial = v["certificates"][0]["serial"].as_str().unwrap().to_string();
    assert_eq!(v["certificates"][0]["email"], "bob@example.com");
    // Paging: one row, the total still counts all four.
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/certificates?limit=1&offset=1",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(
        (
            v["total"].as_i64(),
            v["certificates"].as_array().unwrap().len()
        ),
        (Some(4), 1)
    );
    // Bad filters are 400 with a code; unknown parameters too.
    for (uri, want) in [
        ("/api/v1/certificates?status=lost", "AUTH-009"),
        ("/api/v1/certificates?kind=ca", "AUTH-009"),
        ("/api/v1/certificates?serial=zz", "AUTH-009"),
        ("/api/v1/certificates?limit=0", "AUTH-009"),
        ("/api/v1/certificates?dir=sideways", "AUTH-009"),
        ("/api/v1/certificates?limit=many", "KMS-400"),
        ("/api/v1/certificates?password=x", "KMS-400"),
    ] {
        let (s, v) = call(app, "GET", uri, Some(&aude), None).await;
        assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, want), "{uri}: {v}");
    }

    let (s, v) = call(
        app,
        "GET",
        &format!("/api/v1/certificates/{}", serial.to_uppercase()),
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["serial"], serial.as_str());
    assert_eq!(v["status"], "active");
    assert_eq!(v["emails"], json!(["bob@example.com"]));
    assert_eq!(v["extended_key_usage"], json!(["emailProtection"]));
    assert!(
        v["pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(v.get("der").is_none());
    let fingerprint = v["sha256_fingerprint"].as_str().unwrap().to_string();

    let (s, h, der) = raw(app, &format!("/api/v1/certificates/{serial}/der"), &aude).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/pkix-cert");
    assert!(
        h[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&serial)
    );
    // The OpenSSL CLI reads the download and agrees on the fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.cer");
    std::fs::write(&path, &der).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with(&fingerprint), "{text}");

    let (s, v) = call(app, "GET", "/api/v1/certificates/abcdef", Some(&aude), None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-011"));
    let (s, _, _) = raw(app, "/api/v1/certificates/abcdef/der", &aude).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(app, "GET", "/api/v1/certificates/nothex", Some(&aude), None).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"));
    let (s, _) = call(app, "GET", "/api/v1/certificates", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_and_audit_searches() {
    let f = fixture();
    let app = &f.app;
    let (t, aude) = populated(app).await;
    // Without parameters: every user, as before (now with a total).
    let (_, v) = call(app, "GET", "/api/v1/users", Some(&aude), None).await;
    assert_eq!(
        (v["total"].as_i64(), v["users"].as_array().unwrap().len()),
        (Some(2), 2)
    );
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/users?q=BOB&limit=10",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["total"].as_i64(), v["users"][0]["email"].as_str()),
        (Some(1), Some("bob@example.com"))
    );
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users/bob@example.com/disable",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/users?status=active&sort=email&dir=desc",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
    assert_eq!(v["users"][0]["email"], "alice@example.com");
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/users?sort=password_hash",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"));

    // Audit: the plain list is oldest first as before; a filter makes it a newest-first page.
    let (_, plain) = call(app, "GET", "/api/v1/audit", Some(&aude), None).await;
    let plain = plain["entries"].as_array().unwrap().clone();
    assert!(plain[0]["seq"].as_i64() < plain[1]["seq"].as_i64());
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/audit?action=user.&outcome=ok&actor=admin&limit=2",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 3);
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0]["action"].as_str(), e[0]["target"].as_str()),
        (Some("user.disable"), Some("bob@example.com"))
    );
    assert!(e[0]["seq"].as_i64() > e[1]["seq"].as_i64());
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/audit?since=0&until=1",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(v["total"], 0);
    for uri in [
        "/api/v1/audit?outcome=maybe",
        "/api/v1/audit?since=10&until=10",
        "/api/v1/audit?limit=501",
    ] {
        let (s, v) = call(app, "GET", uri, Some(&aude), None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "AUTH-009"),
            "{uri}"
        );
    }
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/audit?since=yesterday",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "KMS-400"));
}

#[tokio::test]
async fn own_password_change_route() {
    let f = fixture();
    let app = &f.app;
    let here = login(app).await;
    let other = login(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/me/password",
        Some(&here),
        j(json!({"current": "wrong password", "new": "brand new password"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"));
    assert!(!v.to_string().contains("wrong password"));
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/admins/me/password",
        None,
        j(json!({"current": ADMIN_PW, "new": "brand new password"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/me/password",
        Some(&here),
        j(json!({"current": ADMIN_PW, "new": "brand new password", "extra": 1})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "KMS-400"));
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/me/password",
        Some(&here),
        j(json!({"current": ADMIN_PW, "new": "brand new password"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // This session goes on; the other one ended; the new password signs in.
    let (s, _) = call(app, "GET", "/api/v1/status", Some(&here), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(app, "GET", "/api/v1/status", Some(&other), None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "AUTH-003"));
    login_as(app, "admin", "brand new password").await;
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "admin", "password": ADMIN_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn role_change_route_with_refusals_and_quorum() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    for (name, role) in [
        ("aude", "auditor"),
        ("me", "officer"),
        ("bea", "administrator"),
    ] {
        create_admin(app, &t, name, role).await;
    }
    let aude = login_as(app, "aude", "password of aude").await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/aude/role",
        Some(&aude),
        j(json!({"role": "administrator"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrator")
    );
    // An administrator named "me" is still reachable by name.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/me/role",
        Some(&t),
        j(json!({"role": "auditor"})),
    )
    .await;
    assert_eq!(
        (s, &v["admin"]["role"]),
        (StatusCode::OK, &json!("auditor")),
        "{v}"
    );
    for (uri, body, want) in [
        (
            "/api/v1/admins/aude/role",
            json!({"role": "king"}),
            (StatusCode::BAD_REQUEST, "AUTH-009"),
        ),
        (
            "/api/v1/admins/nobody/role",
            json!({"role": "officer"}),
            (StatusCode::NOT_FOUND, "AUTH-021"),
        ),
        (
            "/api/v1/admins/aude/role",
            json!({}),
            (StatusCode::UNPROCESSABLE_ENTITY, "KMS-400"),
        ),
    ] {
        let (s, v) = call(app, "POST", uri, Some(&t), j(body)).await;
        assert_eq!((s, code(&v)), want, "{uri}: {v}");
    }
    // Under admin-change = 2: 202 with the request; a second administrator approves.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/admin-change",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/aude/role",
        Some(&t),
        j(json!({"role": "officer"})),
    )
    .await;
    assert_eq!(
        (s, code(&v), &v["status"]),
        (StatusCode::ACCEPTED, "AUTH-023", &json!("waiting")),
        "{v}"
    );
    let id = v["request_id"].as_i64().unwrap();
    let bea = login_as(app, "bea", "password of bea").await;
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bea),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/aude/role",
        Some(&t),
        j(json!({"role": "officer"})),
    )
    .await;
    assert_eq!(
        (s, &v["admin"]["role"]),
        (StatusCode::OK, &json!("officer")),
        "{v}"
    );
    // Two administrators and a quorum of two: neither may step down.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/bea/role",
        Some(&t),
        j(json!({"role": "officer"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-027"), "{v}");
}

#[tokio::test]
async fn the_last_administrator_cannot_step_down() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins/admin/role",
        Some(&t),
        j(json!({"role": "officer"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-022"), "{v}");
    let (_, v) = call(app, "GET", "/api/v1/admins", Some(&t), None).await;
    assert_eq!(v["admins"][0]["role"], "administrator");
    let _: Value = v;
}

#[tokio::test]
async fn user_states_in_answers_and_the_state_filter() {
    let f = fixture();
    let app = &f.app;
    let (t, aude) = populated(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "carol@example.com", "name": "Carol"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["state"], "invited", "{v}");
    assert_eq!(v["user"]["state_expires_at"], v["token_expires_at"], "{v}");
    // Every user answer carries `state` beside `status`.
    let (_, v) = call(app, "GET", "/api/v1/users", Some(&aude), None).await;
    let states: Vec<(&str, &str, &str)> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap(),
                u["status"].as_str().unwrap(),
                u["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("alice@example.com", "active", "revoked"),
            ("bob@example.com", "active", "enrolled"),
            ("carol@example.com", "active", "invited"),
        ]
    );
    let (_, bob) = call(
        app,
        "GET",
        "/api/v1/users/bob@example.com",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(bob["state"], "enrolled", "{bob}");
    assert_eq!(
        bob["state_expires_at"], bob["certificates"][0]["not_after"],
        "{bob}"
    );
    assert!(
        bob["state_expires_at_rfc3339"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{bob}"
    );
    assert!(
        v["users"][0].get("state_expires_at").is_none(),
        "revoked: no expiry"
    );
    for (state, want) in [
        ("revoked", vec!["alice@example.com"]),
        ("enrolled", vec!["bob@example.com"]),
        ("invited", vec!["carol@example.com"]),
        ("expiring", vec![]),
    ] {
        let (s, v) = call(
            app,
            "GET",
            &format!("/api/v1/users?state={state}"),
            Some(&aude),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let got: Vec<&str> = v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{state}");
        assert_eq!(v["total"], want.len(), "{state}");
    }
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users/bob@example.com/disable",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/users?state=disabled",
        Some(&aude),
        None,
    )
    .await;
    assert_eq!(v["users"][0]["email"], "bob@example.com", "{v}");
    let (s, v) = call(app, "GET", "/api/v1/users?state=active", Some(&aude), None).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"), "{v}");
}
