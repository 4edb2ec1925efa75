//! The operations routes in-process: `POST /api/v1/renew` with a window and its `skipped`
//! list, `GET|POST /api/v1/backups/schedule` (under the `backup-schedule` quorum), the
//! schedule in `GET /api/v1/status`, the directory's signing certificate, and `GET|POST
//! /api/v1/settings/public-url` (under the `public-url` quorum).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{add_and_enroll, call, code, create_admin, fixture, j, login, login_as};

const DAY: u64 = 86_400;

#[tokio::test]
async fn renew_with_a_window_reports_renewed_failed_and_skipped() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "carol@example.com", "name": "Carol"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let renew = |body: Value| {
        let t = t.clone();
        async move { call(app, "POST", "/api/v1/renew", Some(&t), j(body)).await }
    };
    let (s, v) = renew(json!({"all": true, "within": 30 * DAY, "confirm": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"renewed": [], "failed": [], "skipped": [
            {"email": "alice@example.com", "reason": "not expiring within the window"},
            {"email": "carol@example.com", "reason": "not enrolled"},
        ]})
    );
    // Without a window: Alice renewed, Carol skipped (not failed as before).
    let (s, v) = renew(json!({"all": true})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PRECONDITION_REQUIRED, "KMS-428"),
        "{v}"
    );
    let (s, v) = renew(json!({"all": true, "confirm": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["renewed"][0]["email"], "alice@example.com", "{v}");
    assert_eq!(v["renewed"][0]["certificates"].as_array().unwrap().len(), 2);
    assert_eq!(v["failed"], json!([]));
    assert_eq!(
        v["skipped"],
        json!([{"email": "carol@example.com", "reason": "not enrolled"}])
    );
    // One user: the same shape.
    let (s, v) = renew(json!({"email": "alice@example.com"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["renewed"].as_array().unwrap().len(), &v["skipped"]),
        (1, &json!([]))
    );
    // A window goes with "all"; unknown fields and bad types are refused.
    for bad in [
        json!({"email": "alice@example.com", "within": 10}),
        json!({"all": true, "within": -1}),
        json!({"all": true, "within": "30d"}),
        json!({"all": true, "soon": true}),
    ] {
        let (s, v) = renew(bad.clone()).await;
        assert_eq!(s.as_u16() / 100, 4, "{bad}: {v}");
        assert!(code(&v).starts_with("KMS-4"), "{bad}: {v}");
    }
    // 340 days on, Alice's certificates are within a 30-day window again.
    f.clock.advance(Duration::from_secs(340 * DAY));
    let t = login(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/renew",
        Some(&t),
        j(json!({"all": true, "within": 30 * DAY, "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["renewed"][0]["email"], "alice@example.com", "{v}");
}

#[tokio::test]
async fn directory_serves_both_certificates() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let enrolled = add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/directory/alice@example.com",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["certificate"], enrolled["encryption_certificate"], "{v}");
    assert_eq!(
        v["signing_certificate"], enrolled["signing_certificate"],
        "{v}"
    );
    assert_eq!(v["email"], "alice@example.com");
}

#[tokio::test]
async fn backup_schedule_routes_and_status() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let (s, v) = call(app, "GET", "/api/v1/backups/schedule", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["schedule"],
        json!({"enabled": false, "every": null, "keep": 7, "next_at": null, "last_at": null,
               "source": "config"})
    );
    let (s, v) = call(app, "GET", "/api/v1/backups/schedule", None, None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "AUTH-003"));

    // "every" must be given (null turns the schedule off); bad values are refused.
    for (bad, status, c) in [
        (
            json!({"keep": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KMS-400",
        ),
        (
            json!({"every": 5, "keep": 3}),
            StatusCode::BAD_REQUEST,
            "AUTH-009",
        ),
        (
            json!({"every": 3600, "keep": 0}),
            StatusCode::BAD_REQUEST,
            "AUTH-009",
        ),
        (
            json!({"every": "1d"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KMS-400",
        ),
    ] {
        let (s, v) = call(
            app,
            "POST",
            "/api/v1/backups/schedule",
            Some(&t),
            j(bad.clone()),
        )
        .await;
        assert_eq!(code(&v), c, "{bad}: {v}");
        assert_eq!(s.as_u16() / 100, status.as_u16() / 100, "{bad}: {v}");
    }

    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/schedule",
        Some(&t),
        j(json!({"every": 86400, "keep": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            &v["schedule"]["enabled"],
            &v["schedule"]["every"],
            &v["schedule"]["keep"]
        ),
        (&json!(true), &json!(86400), &json!(3))
    );
    f.state.tick();
    let (_, v) = call(app, "GET", "/api/v1/status", Some(&t), None).await;
    let schedule = &v["backup_schedule"];
    assert_eq!(schedule["enabled"], true, "{v}");
    let last = schedule["last_at"]
        .as_i64()
        .expect("a scheduled backup was taken");
    assert_eq!(schedule["next_at"].as_i64(), Some(last + 86400), "{v}");
    let (_, v) = call(app, "GET", "/api/v1/backups", Some(&t), None).await;
    let path = v["backups"][0]["path"].as_str().unwrap();
    assert!(std::path::Path::new(path).is_absolute(), "{path}");

    // "keep" left out keeps the number in effect; officers may not change the schedule.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/schedule",
        Some(&t),
        j(json!({"every": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["schedule"]["enabled"], &v["schedule"]["keep"]),
        (&json!(false), &json!(3))
    );
    let pw = create_admin(app, &t, "olga", "officer").await;
    let olga = login_as(app, "olga", &pw).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/schedule",
        Some(&olga),
        j(json!({"every": 3600})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");

    // Under a quorum of two, the answer is the waiting answer of every quorum operation.
    let pw = create_admin(app, &t, "bob", "administrator").await;
    let bob = login_as(app, "bob", &pw).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/backup-schedule",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let set = json!({"every": 7200, "keep": 5});
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/schedule",
        Some(&t),
        j(set.clone()),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::ACCEPTED, "AUTH-023"), "{v}");
    let id = v["request_id"].as_i64().unwrap();
    let (s, v) = call(app, "GET", "/api/v1/backups/schedule", Some(&t), None).await;
    assert_eq!(
        (s, &v["schedule"]["enabled"]),
        (StatusCode::OK, &json!(false))
    );
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(app, "POST", "/api/v1/backups/schedule", Some(&t), j(set)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["schedule"]["every"], &v["schedule"]["keep"]),
        (&json!(7200), &json!(5))
    );
}

#[tokio::test]
async fn the_public_url_is_shown_and_changed_under_its_quorum() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let (s, v) = call(app, "GET", "/api/v1/settings/public-url", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["public_url"], "http://127.0.0.1:9999", "{v}");
    assert!(v.get("previous").is_none(), "{v}");
    let set = |token: String, body: Value| async move {
        call(
            app,
            "POST",
            "/api/v1/settings/public-url",
            Some(&token),
            j(body),
        )
        .await
    };
    for bad in [
        json!({"url": "https://kms.example.com"}),
        json!({"url": "http://127.0.0.1:8081"}),
    ] {
        let (s, v) = set(t.clone(), bad.clone()).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "AUTH-009"),
            "{bad}: {v}"
        );
    }
    let (s, v) = set(t.clone(), json!({"url": "http://kms.example.com", "x": 1})).await;
    assert_eq!(s.as_u16() / 100, 4, "{v}");
    let pw = create_admin(app, &t, "olga", "officer").await;
    let olga = login_as(app, "olga", &pw).await;
    let (s, v) = set(olga, json!({"url": "http://kms.example.com"})).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");
    let (s, v) = set(t.clone(), json!({"url": "http://kms.example.com:8081"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["public_url"], &v["previous"]),
        (
            &json!("http://kms.example.com:8081"),
            &json!("http://127.0.0.1:9999")
        )
    );
    assert!(v["note"].as_str().unwrap().contains("renew --all"), "{v}");
    // Under a quorum of two: 202 with the waiting request.
    create_admin(app, &t, "bob", "administrator").await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/public-url",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = set(t.clone(), json!({"url": "http://pki.example.org"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        (&v["status"], &v["operation"]),
        (&json!("waiting"), &json!("public-url")),
        "{v}"
    );
}
