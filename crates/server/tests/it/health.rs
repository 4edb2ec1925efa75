//! `/healthz` reasons and the storage-fault answers, in process: a database locked by another
//! program answers 503 with its own code and degrades `/healthz` until a write succeeds; a
//! damaged store makes `/healthz` answer 503 `unavailable`.

use axum::http::StatusCode;
use escrow::StorageFault;
use rusqlite::{Connection, TransactionBehavior};
use serde_json::json;

use super::{call, code, fixture, j, login};

#[tokio::test]
async fn a_locked_database_answers_503_and_degrades_health_until_a_write_succeeds() {
    let f = fixture();
    let token = login(&f.app).await;
    let (s, v) = call(&f.app, "GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"status": "ok", "locked": false}));

    // Another program holds the write lock for longer than the store waits (10 s).
    let mut other = Connection::open(f.dir.join(escrow::DB_FILE_NAME)).unwrap();
    let holder = other
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let add = json!({"email": "busy@example.com", "name": "Busy"});
    let (s, v) = call(
        &f.app,
        "POST",
        "/api/v1/users",
        Some(&token),
        j(add.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(code(&v), "AUTH-062", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another program"),
        "{v}"
    );
    let (s, v) = call(&f.app, "GET", "/healthz", None, None).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &json!("degraded")),
        "{v}"
    );
    assert!(v["reasons"][0].as_str().unwrap().contains("locked"), "{v}");

    holder.rollback().unwrap();
    let (s, v) = call(&f.app, "POST", "/api/v1/users", Some(&token), j(add)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(&f.app, "GET", "/healthz", None, None).await;
    assert_eq!(v, json!({"status": "ok", "locked": false}));
}

#[tokio::test]
async fn a_damaged_store_makes_health_unavailable() {
    let f = fixture();
    f.state
        .health_monitor()
        .storage_fault(StorageFault::Damaged);
    let (s, v) = call(&f.app, "GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["status"], "unavailable");
    assert_eq!(v["locked"], false);
    let reason = v["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("damaged") && reason.contains("kmsd restore"),
        "{reason}"
    );
}
