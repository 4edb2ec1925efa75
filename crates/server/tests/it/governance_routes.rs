//! The four routes by which a lone administrator reached an escrowed key (issue 13), through
//! the real API with `recover-key` = 2: a sock-puppet administrator, lowering the policy,
//! restoring the past, and redeeming someone else's approval. None gives a bundle; the honest
//! two-administrator recovery still works, and only for its opener.

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{add_and_enroll, call, code, create_admin, fixture, j, login, login_as};

const ALICE: &str = "alice@example.com";

async fn post(app: &Router, t: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", &format!("/api/v1{uri}"), Some(t), j(body)).await
}

async fn get(app: &Router, t: &str, uri: &str) -> (StatusCode, Value) {
    call(app, "GET", &format!("/api/v1{uri}"), Some(t), None).await
}

/// A waiting quorum operation: 202, its request id, and no bundle.
fn waiting(s: StatusCode, v: &Value) -> i64 {
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(code(v), "AUTH-023", "{v}");
    assert!(v.get("pkcs12").is_none(), "{v}");
    v["request_id"].as_i64().unwrap()
}

async fn approve(app: &Router, t: &str, id: i64) {
    let (s, v) = post(app, t, &format!("/approvals/{id}/approve"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn recover(app: &Router, t: &str, password: &str) -> (StatusCode, Value) {
    post(
        app,
        t,
        &format!("/users/{ALICE}/recover"),
        json!({"password": password}),
    )
    .await
}

async fn policy(app: &Router, t: &str, op: &str) -> i64 {
    let (_, v) = get(app, t, "/policies").await;
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["operation"] == op)
        .unwrap()["quorum"]
        .as_i64()
        .unwrap()
}

struct Team {
    root: String,
    bob: String,
    carol: String,
    olga: String,
    backup: String,
}

/// Root, administrators bob and carol, officer olga; alice enrolled; a backup taken while
/// every quorum was 1; then recover-key raised to 2.
async fn team(app: &Router) -> Team {
    let root = login(app).await;
    for (name, role) in [
        ("bob", "administrator"),
        ("carol", "administrator"),
        ("olga", "officer"),
    ] {
        create_admin(app, &root, name, role).await;
    }
    add_and_enroll(app, &root, ALICE, "alice-sign.key.pem").await;
    let (s, v) = post(app, &root, "/backups", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let backup = v["backup"]["name"].as_str().unwrap().to_string();
    let (s, v) = post(app, &root, "/policies/recover-key", json!({"quorum": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["policy"]["quorum"], 2);
    let raised: Vec<&str> = v["raised"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["operation"].as_str().unwrap())
        .collect();
    for op in [
        "admin-change",
        "policy-change",
        "restore",
        "unlock-method",
        "reenroll",
    ] {
        assert!(raised.contains(&op), "{op} not in {v}");
    }
    Team {
        bob: login_as(app, "bob", "password of bob").await,
        carol: login_as(app, "carol", "password of carol").await,
        olga: login_as(app, "olga", "password of olga").await,
        root,
        backup,
    }
}

#[tokio::test]
async fn sock_puppet_gets_no_bundle() {
    let f = fixture();
    let app = &f.app;
    let t = team(app).await;
    // Adding an administrator alone waits (admin-change was raised with recover-key) ...
    let (s, v) = post(
        app,
        &t.root,
        "/admins",
        json!({"name": "puppet", "role": "administrator", "password": "puppet's long password"}),
    )
    .await;
    let id = waiting(s, &v);
    // ... and the opener cannot approve their own request.
    let (s, v) = post(app, &t.root, &format!("/approvals/{id}/approve"), json!({})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-024"), "{v}");
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "puppet", "password": "puppet's long password"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = recover(app, &t.root, "bundle password").await;
    waiting(s, &v);
}

#[tokio::test]
async fn lowering_the_policy_gets_no_bundle() {
    let f = fixture();
    let app = &f.app;
    let t = team(app).await;
    let (s, v) = post(app, &t.root, "/policies/recover-key", json!({"quorum": 1})).await;
    waiting(s, &v);
    // A governing quorum below the operational one is refused outright.
    for op in ["policy-change", "admin-change", "restore"] {
        let (s, v) = post(
            app,
            &t.root,
            &format!("/policies/{op}"),
            json!({"quorum": 1}),
        )
        .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "AUTH-026"),
            "{v}"
        );
    }
    assert_eq!(policy(app, &t.root, "recover-key").await, 2);
    let (s, v) = recover(app, &t.root, "bundle password").await;
    waiting(s, &v);
}

#[tokio::test]
async fn restoring_the_past_gets_no_bundle_and_keeps_governance_and_history() {
    let f = fixture();
    let app = &f.app;
    let t = team(app).await;
    // Unconfirmed: refused before anything (no request opened).
    let (s, v) = post(
        app,
        &t.root,
        &format!("/backups/{}/restore", t.backup),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PRECONDITION_REQUIRED, "KMS-428"),
        "{v}"
    );
    // Alone: the restore waits.
    let (s, v) = post(
        app,
        &t.root,
        &format!("/backups/{}/restore", t.backup),
        json!({"confirm": true}),
    )
    .await;
    let id = waiting(s, &v);
    let (s, v) = recover(app, &t.root, "bundle password").await;
    waiting(s, &v);
    // Honestly approved, the restore keeps the raised policy and the whole history.
    approve(app, &t.bob, id).await;
    let (s, r) = post(
        app,
        &t.root,
        &format!("/backups/{}/restore", t.backup),
        json!({"confirm": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let root = login(app).await;
    assert_eq!(policy(app, &root, "recover-key").await, 2);
    assert_eq!(policy(app, &root, "admin-change").await, 2);
    let (s, v) = get(app, &root, "/audit/verify").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(r["audit_entries_carried"].as_i64().unwrap() > 0, "{r}");
    assert!(
        v["entries"].as_i64().unwrap() > r["replaced_head_seq"].as_i64().unwrap(),
        "{v} {r}"
    );
    let (s, v) = recover(app, &root, "bundle password").await;
    waiting(s, &v);
    // Safety backups survive rotation by ordinary backups.
    let safety = r["safety_backup"].as_str().unwrap().to_string();
    for _ in 0..9 {
        f.clock.advance(std::time::Duration::from_secs(1));
        let (s, v) = post(app, &root, "/backups", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (_, v) = get(app, &root, "/backups").await;
    let names: Vec<&str> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&safety.as_str()), "{names:?}");
}

#[tokio::test]
async fn redeeming_someone_elses_approval_gets_no_bundle_and_the_opener_still_can() {
    let f = fixture();
    let app = &f.app;
    let t = team(app).await;
    // Root opens (with a reason), bob approves.
    let (s, v) = post(
        app,
        &t.root,
        &format!("/users/{ALICE}/recover"),
        json!({"password": "root's bundle password", "why": "legal hold 42"}),
    )
    .await;
    let id = waiting(s, &v);
    let (_, v) = get(app, &t.bob, "/approvals").await;
    assert_eq!(v["requests"][0]["why"], "legal hold 42", "{v}");
    approve(app, &t.bob, id).await;
    // Carol, and bob himself, running the command only open their own requests.
    for who in [&t.carol, &t.bob] {
        let (s, v) = recover(app, who, "redeemer's password").await;
        let other = waiting(s, &v);
        assert_ne!(other, id);
    }
    // The approved add of an administrator does not transfer to another password.
    let (s, v) = post(
        app,
        &t.root,
        "/admins",
        json!({"name": "dave", "role": "administrator", "password": "approved password 1"}),
    )
    .await;
    let add = waiting(s, &v);
    approve(app, &t.bob, add).await;
    let (s, v) = post(
        app,
        &t.carol,
        "/admins",
        json!({"name": "dave", "role": "administrator", "password": "approved password 1"}),
    )
    .await;
    waiting(s, &v);
    let (s, v) = post(
        app,
        &t.root,
        "/admins",
        json!({"name": "dave", "role": "administrator", "password": "another password 2"}),
    )
    .await;
    assert_ne!(waiting(s, &v), add);
    // The honest recovery: the opener carries it out, with the password chosen now.
    let (s, v) = recover(app, &t.root, "chosen at carry-out").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(v["pkcs12"].as_str().unwrap())
        .unwrap();
    assert!(pki::pkcs12::parse(&der, "chosen at carry-out").is_ok());
    // The approved administrator, added by the opener, must change the password first.
    let (s, v) = post(
        app,
        &t.root,
        "/admins",
        json!({"name": "dave", "role": "administrator", "password": "approved password 1"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let dave = login_as(app, "dave", "approved password 1").await;
    let (s, v) = get(app, &dave, "/users").await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-028"), "{v}");
    let (s, v) = post(
        app,
        &dave,
        "/admins/me/password",
        json!({"current": "approved password 1", "new": "dave's own long phrase"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = get(app, &dave, "/users").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn officer_reenrollment_waits_once_reenroll_is_two() {
    let f = fixture();
    let app = &f.app;
    let t = team(app).await;
    assert_eq!(policy(app, &t.root, "reenroll").await, 2);
    let (s, v) = post(app, &t.olga, &format!("/users/{ALICE}/token"), json!({})).await;
    waiting(s, &v);
    assert!(v.get("enrollment_token").is_none(), "{v}");
    let (s, v) = post(
        app,
        &t.olga,
        "/renew",
        json!({"email": ALICE, "new_key": true}),
    )
    .await;
    waiting(s, &v);
    // Renewal without a new key is not a key replacement.
    let (s, v) = post(app, &t.olga, "/renew", json!({"email": ALICE})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn the_anonymous_directory_answers_no_certificate_alike() {
    let f = fixture();
    let app = &f.app;
    let root = login(app).await;
    for email in ["pending@example.org", "gone@example.org"] {
        let (s, v) = post(app, &root, "/users", json!({"email": email, "name": "X"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, _) = post(app, &root, "/users/gone@example.org/disable", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let mut answers = Vec::new();
    for email in [
        "nobody@example.org",
        "pending@example.org",
        "gone@example.org",
    ] {
        let (s, v) = call(
            app,
            "GET",
            &format!("/api/v1/directory/{email}"),
            None,
            None,
        )
        .await;
        answers.push((
            s,
            code(&v).to_string(),
            v["error"]["message"]
                .as_str()
                .unwrap()
                .replace(email, "ADDRESS"),
        ));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
}
