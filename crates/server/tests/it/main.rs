//! The router in-process (`tower::ServiceExt::oneshot`): bad input gets a 4xx JSON error and
//! changes nothing; the locked authority serves only the public URLs and unlock.

mod bulk_revoke;
mod client;
mod console;
mod console_agents;
mod console_governance;
mod console_states;
mod governance_routes;
mod health;
mod limits;
mod ocsp_limits;
mod openapi;
mod ops_routes;
mod public_host;
mod refusals;
mod signin;
mod views;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authority::{Config, InitParams, ManualClock};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use escrow::{Argon2Params, InitOptions, Password, Store};
use kmsd::AppState;
use pki::{DigestAlgorithm, Name, PrivateKey};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_PW: &str = "admin password 1";
const STARTUP_PW: &str = "start-up password";

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn config() -> Config {
    Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        enrollment_pbkdf2_iterations: 1000,
        recovery_pkcs12_iterations: 1000,
        ..Config::default()
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    clock: Arc<ManualClock>,
    state: Arc<AppState>,
    app: Router,
}

fn fixture() -> Fixture {
    fixture_with(config())
}

fn fixture_with(config: Config) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let auth = authority::init(
        InitParams {
            data_dir: &dir,
            ca_subject: "CN=Test CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new(STARTUP_PW)),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(key("ca-3072.key.pem")),
        },
        config.clone(),
        clock.clone(),
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem"), key("spare-2.key.pem")]);
    let state = Arc::new(AppState::unlocked(auth, config, clock.clone()));
    let app = kmsd::router(state.clone());
    Fixture {
        state,
        _tmp: tmp,
        dir,
        clock,
        app,
    }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Body>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            b
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

fn j(v: Value) -> Option<Body> {
    Some(Body::from(v.to_string()))
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Adds an administrator through the API, with the password `password of NAME`.
async fn create_admin(app: &Router, token: &str, name: &str, role: &str) -> String {
    let password = format!("password of {name}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(token),
        j(json!({"name": name, "role": role, "password": password})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["admin"]["role"], role, "{v}");
    password
}

/// Adds user `email` and enrolls them with the test key `key_name` (for signing); returns
/// the enrollment answer.
async fn add_and_enroll(app: &Router, token: &str, email: &str, key_name: &str) -> Value {
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(token),
        j(json!({"email": email, "name": "X"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let enrollment = v["enrollment_token"].as_str().unwrap().to_string();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": enrollment, "csr": csr(key_name, email)})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn login(app: &Router) -> String {
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "admin", "password": ADMIN_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().unwrap().to_string()
}

fn csr(key_name: &str, email: &str) -> String {
    pki::csr::to_pem(
        &pki::csr::build(
            &key(key_name),
            Name::from_str("CN=x").unwrap(),
            email,
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
}

async fn user_count(app: &Router, t: &str) -> usize {
    let (_, v) = call(app, "GET", "/api/v1/users", Some(t), None).await;
    v["users"].as_array().unwrap().len()
}

#[tokio::test]
async fn bad_input_gets_4xx_json_and_changes_nothing() {
    let f = fixture();
    let app = &f.app;
    // Wrong admin password.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "admin", "password": "wrong one"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&v), "AUTH-001");
    let t = login(app).await;

    // No session, a bad session.
    let (s, v) = call(app, "GET", "/api/v1/users", None, None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "AUTH-003"));
    let (s, _) = call(app, "GET", "/api/v1/users", Some("nope"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Malformed JSON, missing fields, unknown fields, oversized body.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        Some(Body::from("{\"email\": ")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().len() > 5);
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "a@example.com"})),
    )
    .await;
    assert!(s.is_client_error());
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "a@example.com", "name": "A", "admin": true})),
    )
    .await;
    assert!(s.is_client_error());
    let big = json!({"email": "a@example.com", "name": "x".repeat(100_000)});
    let (s, v) = call(app, "POST", "/api/v1/users", Some(&t), j(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(code(&v), "KMS-413");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "not-an-address", "name": "A"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"));
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "a@example.com", "name": "A", "capabilities": ["rot13"]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(user_count(app, &t).await, 0);

    // Unknown user.
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/users/nobody@example.com",
        Some(&t),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-005"));
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users/nobody@example.com/token",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"email": "nobody@example.com"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"email": "x@example.com", "reason": "bored"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Enrollment: unknown token, good, reused, expired.
    let (s, v) = call(app, "POST", "/api/v1/users", Some(&t), j(json!({"email": "alice@example.com", "name": "Alice", "capabilities": ["aes256", "3des"]}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["enrollment_token"].as_str().unwrap().to_string();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": "0".repeat(64), "csr": csr("alice-sign.key.pem", "alice@example.com")})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-008"));
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": token, "csr": "garbage"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "AUTH-010")
    );
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": token, "csr": csr("alice-sign.key.pem", "alice@example.com")})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["encrypted_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": token, "csr": csr("alice-sign.key.pem", "alice@example.com")})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-008"));
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/users/alice@example.com",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(v["certificates"].as_array().unwrap().len(), 2);

    let (_, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "bob@example.com", "name": "Bob"})),
    )
    .await;
    let token = v["enrollment_token"].as_str().unwrap().to_string();
    f.clock.advance(Duration::from_secs(8 * 86400));
    let t = login(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/enroll",
        None,
        j(json!({"token": token, "csr": csr("bob-sign.key.pem", "bob@example.com")})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-008"));
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    let (_, v) = call(app, "GET", "/api/v1/users/bob@example.com", Some(&t), None).await;
    assert_eq!(v["certificates"].as_array().unwrap().len(), 0);

    // Directory and revocation.
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/directory/alice@example.com",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["capabilities"], json!(["aes256", "3des"]));
    // Two certificates at once: refused without a confirmation, and nothing is revoked.
    let revoke_alice = |confirm: bool| {
        j(json!({"email": "alice@example.com", "reason": "keyCompromise", "confirm": confirm}))
    };
    let (s, v) = call(app, "POST", "/api/v1/revoke", Some(&t), revoke_alice(false)).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PRECONDITION_REQUIRED, "KMS-428"),
        "{v}"
    );
    let (s, v) = call(app, "POST", "/api/v1/revoke", Some(&t), revoke_alice(true)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"].as_array().unwrap().len(), 2);
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/directory/alice@example.com",
        None,
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-012"));

    // Unknown route, logout.
    let (s, v) = call(app, "GET", "/api/v1/nothing", Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "KMS-404"));
    let (s, _) = call(app, "POST", "/api/v1/logout", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(app, "GET", "/api/v1/users", Some(&t), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_locked_server_without_its_crl_files_answers_503_not_an_empty_crl() {
    // What a store upgraded by migration 0014 (CRL bytes moved to files) looks like until its
    // first unlock re-signs: the state row and no file.
    let f = fixture();
    drop(f.app);
    std::fs::remove_dir_all(f.dir.join(authority::CRL_DIR)).unwrap();
    let store = Store::open(&f.dir).unwrap();
    let app = kmsd::router(Arc::new(
        AppState::locked(store, config(), f.clock.clone()).unwrap(),
    ));
    for path in ["/crl", "/crl/delta"] {
        let (s, v) = call(&app, "GET", path, None, None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::SERVICE_UNAVAILABLE, "KMS-503"),
            "{path}: {v}"
        );
    }
    let (s, _) = call(&app, "GET", "/ca.der", None, None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn locked_serves_public_urls_and_unlock_only() {
    let f = fixture();
    drop(f.app);
    let store = Store::open(&f.dir).unwrap();
    let app = kmsd::router(Arc::new(
        AppState::locked(store, config(), f.clock.clone()).unwrap(),
    ));
    for path in ["/ca", "/ca.der", "/crl", "/crl/delta", "/healthz"] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        if path == "/crl" {
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/pkix-crl");
        }
    }
    let (s, v) = call(&app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!((s, &v["openapi"]), (StatusCode::OK, &json!("3.1.0")));
    let (s, v) = call(&app, "GET", "/healthz", None, None).await;
    assert_eq!((s, &v["locked"]), (StatusCode::OK, &json!(true)));
    for (m, p) in [
        ("POST", "/api/v1/login"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/directory/a@example.com"),
    ] {
        let body = (m == "POST")
            .then(|| Body::from(json!({"name": "admin", "password": ADMIN_PW}).to_string()));
        let (s, v) = call(&app, m, p, None, body).await;
        assert_eq!(s, StatusCode::LOCKED, "{p}");
        assert!(v["error"]["message"].as_str().unwrap().contains("locked"));
    }
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/unlock",
        None,
        j(json!({"password": "wrong"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-014"));
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/unlock",
        None,
        j(json!({"key_file": "!!"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&app, "GET", "/api/v1/users", None, None).await;
    assert_eq!(s, StatusCode::LOCKED);
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/unlock",
        None,
        j(json!({"password": STARTUP_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t = login(&app).await;
    assert_eq!(user_count(&app, &t).await, 0);
    // The refused unlock is in the audit log, after the calls refused while locked (423).
    let (_, v) = call(&app, "GET", "/api/v1/audit", Some(&t), None).await;
    let entries = v["entries"].as_array().unwrap();
    let locked_refusals = entries
        .iter()
        .filter(|e| e["detail"].as_str().unwrap().starts_with("[KMS-423]"))
        .count();
    assert_eq!(locked_refusals, 4, "{v}");
    let first = entries.iter().find(|e| e["action"] == "unlock").unwrap();
    assert_eq!(
        (first["action"].as_str(), first["outcome"].as_str()),
        (Some("unlock"), Some("refused")),
        "{v}"
    );
    assert!(
        first["detail"].as_str().unwrap().contains("AUTH-014"),
        "{v}"
    );
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/unlock",
        None,
        j(json!({"password": STARTUP_PW})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let _ = SystemTime::now();
}

#[tokio::test]
async fn revoke_by_serial_renew_all_and_disable() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    for (email, key) in [
        ("alice@example.com", "alice-sign.key.pem"),
        ("bob@example.com", "bob-sign.key.pem"),
    ] {
        add_and_enroll(app, &t, email, key).await;
    }
    // Renew everyone: two new certificates each, none failed.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/renew",
        Some(&t),
        j(json!({"all": true})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PRECONDITION_REQUIRED, "KMS-428"),
        "{v}"
    );
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/renew",
        Some(&t),
        j(json!({"all": true, "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["renewed"].as_array().unwrap().len(), 2);
    assert_eq!(v["failed"].as_array().unwrap().len(), 0);
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/renew",
        Some(&t),
        j(json!({"all": true, "new_key": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(app, "POST", "/api/v1/renew", Some(&t), j(json!({}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Revoke one certificate by serial, written as OpenSSL prints it.
    let (_, v) = call(
        app,
        "GET",
        "/api/v1/users/alice@example.com",
        Some(&t),
        None,
    )
    .await;
    let serial = v["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"serial": colons.join(":"), "reason": "superseded"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["crl_pending"], false, "{v}");
    assert!(v["crl_number"].as_i64().is_some(), "{v}");
    assert!(v["crl_published_at_rfc3339"].is_string(), "{v}");
    // Revoking again succeeds and changes nothing (a weaker or the same reason).
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"serial": serial})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"], json!([]), "{v}");
    assert_eq!(
        v["already_revoked"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"serial": "abcdef"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-011"));
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/revoke",
        Some(&t),
        j(json!({"serial": "abc", "email": "bob@example.com"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let resp = app
        .clone()
        .oneshot(Request::get("/crl").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let crl = pki::crl::Crl::parse(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!(crl.len(), 1);

    // Disabled: no token, no directory entry.
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users/bob@example.com/disable",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/bob@example.com/token",
        Some(&t),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-007"));
    // The anonymous directory does not tell a disabled user from an unknown address.
    let (s, _) = call(app, "GET", "/api/v1/directory/bob@example.com", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn login_as(app: &Router, name: &str, password: &str) -> String {
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": name, "password": password})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn roles_limit_what_each_administrator_may_do() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    for (name, role) in [
        ("olga", "officer"),
        ("aude", "auditor"),
        ("bob", "administrator"),
    ] {
        create_admin(app, &t, name, role).await;
    }
    // Bad role, duplicate name, short password.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&t),
        j(json!({"name": "x", "role": "root", "password": "long enough"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"), "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&t),
        j(json!({"name": "olga", "role": "auditor", "password": "long enough, surely"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-020"), "{v}");

    let officer = login_as(app, "olga", "password of olga").await;
    let auditor = login_as(app, "aude", "password of aude").await;

    // An officer cannot add an administrator; the refusal names the missing role.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&officer),
        j(json!({"name": "eve", "role": "administrator", "password": "password of eve"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrator role"),
        "{v}"
    );
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/admins/bob/remove",
        Some(&officer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // ... but may add users.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&officer),
        j(json!({"email": "u@example.com", "name": "U"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // An auditor cannot add a user, but reads users and administrators.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&auditor),
        j(json!({"email": "w@example.com", "name": "W"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("officer"),
        "{v}"
    );
    assert_eq!(user_count(app, &auditor).await, 1);
    let (s, v) = call(app, "GET", "/api/v1/admins", Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["admins"].as_array().unwrap().len(), 4);

    // Removing an administrator ends their sessions; the last one cannot be removed.
    let bob = login_as(app, "bob", "password of bob").await;
    let (s, v) = call(app, "POST", "/api/v1/admins/bob/remove", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(app, "GET", "/api/v1/users", Some(&bob), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = call(app, "POST", "/api/v1/admins/admin/remove", Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-022"), "{v}");
    let (s, v) = call(app, "POST", "/api/v1/admins/nobody/remove", Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-021"), "{v}");
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap()
}

async fn verify_audit(app: &Router, t: &str) -> Value {
    let (s, v) = call(app, "GET", "/api/v1/audit/verify", Some(t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn audit_log_records_actions_and_refusals_and_catches_tampering() {
    let f = fixture();
    let app = &f.app;
    // 1: init (naming the CA key that signed); 2: a failed sign-in; 3: a sign-in; 4..6:
    // users; 7: a refusal (user exists).
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "admin", "password": "wrong one"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let t = login(app).await;
    for u in ["a", "b", "c", "a"] {
        call(
            app,
            "POST",
            "/api/v1/users",
            Some(&t),
            j(json!({"email": format!("{u}@example.com"), "name": u})),
        )
        .await;
    }
    let (s, v) = call(app, "GET", "/api/v1/audit", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let entries = v["entries"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("init", "CN=Test CA,O=Example", "ok"),
            ("login", "admin", "refused"),
            ("login", "admin", "ok"),
            ("user.add", "a@example.com", "ok"),
            ("user.add", "b@example.com", "ok"),
            ("user.add", "c@example.com", "ok"),
            ("user.add", "a@example.com", "refused"),
        ]
    );
    assert!(entries[6]["detail"].as_str().unwrap().contains("AUTH-006"));
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("signed-by software:"),
        "{}",
        entries[0]
    );
    // --since filters by time.
    let (_, v) = call(app, "GET", "/api/v1/audit?since=4000000000", Some(&t), None).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 0);
    let (s, v) = call(app, "GET", "/api/v1/audit?since=soon", Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "KMS-400"));
    // ... which never reached the authority, and is audited too (entry 8).
    let (_, v) = call(app, "GET", "/api/v1/audit?since=1", Some(&t), None).await;
    assert_eq!(
        (&v["entries"][7]["action"], &v["entries"][7]["outcome"]),
        (&json!("request"), &json!("refused")),
        "{v}"
    );
    // Sign the head (entry 8), then add two more entries (9: audit.sign, 10: a user).
    let (s, v) = call(app, "POST", "/api/v1/audit/sign", Some(&t), None).await;
    assert_eq!(
        (s, v["signed_through"].as_i64()),
        (StatusCode::OK, Some(8)),
        "{v}"
    );
    call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "d@example.com", "name": "d"})),
    )
    .await;
    let v = verify_audit(app, &t).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (v["entries"].as_i64(), v["signed_through"].as_i64()),
        (Some(10), Some(8))
    );

    // The table is append-only for honest code.
    let conn = db(&f.dir);
    assert!(
        conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 3", [])
            .is_err()
    );
    assert!(
        conn.execute("DELETE FROM audit_log WHERE seq = 3", [])
            .is_err()
    );
    // Verification does not rely on the triggers.
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();

    // Edited: entry 5's target.
    conn.execute(
        "UPDATE audit_log SET target = 'z@example.com' WHERE seq = 5",
        [],
    )
    .unwrap();
    let v = verify_audit(app, &t).await;
    assert_eq!(v["ok"], false);
    assert_eq!(
        (v["problem"]["seq"].as_i64(), v["problem"]["kind"].as_str()),
        (Some(5), Some("altered")),
        "{v}"
    );
    assert!(
        v["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("entry 5"),
        "{v}"
    );
    conn.execute(
        "UPDATE audit_log SET target = 'b@example.com' WHERE seq = 5",
        [],
    )
    .unwrap();
    assert_eq!(verify_audit(app, &t).await["ok"], true);

    // Removed: entry 6.
    conn.execute_batch(
        "CREATE TEMP TABLE keep AS SELECT * FROM audit_log WHERE seq = 6;
         DELETE FROM audit_log WHERE seq = 6;",
    )
    .unwrap();
    let v = verify_audit(app, &t).await;
    assert_eq!(
        (v["problem"]["seq"].as_i64(), v["problem"]["kind"].as_str()),
        (Some(7), Some("removed")),
        "{v}"
    );
    assert!(
        v["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("entry 6 is missing"),
        "{v}"
    );
    conn.execute_batch("INSERT INTO audit_log SELECT * FROM keep; DROP TABLE keep;")
        .unwrap();
    assert_eq!(verify_audit(app, &t).await["ok"], true);

    // Reordered: entries 4 and 5 swap places.
    conn.execute_batch(
        "UPDATE audit_log SET seq = -1 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = 5;
         UPDATE audit_log SET seq = 5 WHERE seq = -1;",
    )
    .unwrap();
    let v = verify_audit(app, &t).await;
    assert_eq!(
        (v["problem"]["seq"].as_i64(), v["problem"]["kind"].as_str()),
        (Some(4), Some("reordered")),
        "{v}"
    );
    conn.execute_batch(
        "UPDATE audit_log SET seq = -1 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = 5;
         UPDATE audit_log SET seq = 5 WHERE seq = -1;",
    )
    .unwrap();
    assert_eq!(verify_audit(app, &t).await["ok"], true);

    // The tail removed, back to before the signed head: the CA checkpoint names it.
    conn.execute("DELETE FROM audit_log WHERE seq >= 8", [])
        .unwrap();
    let v = verify_audit(app, &t).await;
    assert_eq!(
        (v["problem"]["seq"].as_i64(), v["problem"]["kind"].as_str()),
        (Some(8), Some("removed")),
        "{v}"
    );
}

#[tokio::test]
async fn recovery_under_a_quorum_of_two_with_bad_approvals_refused() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    // A quorum cannot exceed the administrators able to approve.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/recover-key",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-027"), "{v}");
    for (name, role) in [
        ("bob", "administrator"),
        ("carol", "administrator"),
        ("olga", "officer"),
    ] {
        create_admin(app, &t, name, role).await;
    }
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/recover-key",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/nonsense",
        Some(&t),
        j(json!({"quorum": 1})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"), "{v}");
    let bob = login_as(app, "bob", "password of bob").await;
    let carol = login_as(app, "carol", "password of carol").await;
    let olga = login_as(app, "olga", "password of olga").await;

    // Alice enrolls, then rolls her encryption key over: two escrowed keys. The roll-over
    // is a key replacement, under `reenroll` (raised to 2 with recover-key): bob approves.
    add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    let roll = json!({"email": "alice@example.com", "new_key": true});
    let (s, v) = call(app, "POST", "/api/v1/renew", Some(&t), j(roll.clone())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["request_id"].as_i64().unwrap();
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(app, "POST", "/api/v1/renew", Some(&t), j(roll)).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // With a new enrollment token too: the request is bound to that parameter.
    let recover = json!({"password": "bundle password", "reenroll": true});
    // An officer may not recover keys at all.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&olga),
        j(recover.clone()),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "AUTH-004"), "{v}");
    // One administrator alone: a pending request.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&t),
        j(recover.clone()),
    )
    .await;
    assert_eq!(
        (s, code(&v), v["status"].as_str()),
        (StatusCode::ACCEPTED, "AUTH-023", Some("waiting")),
        "{v}"
    );
    let id = v["request_id"].as_i64().unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("1 more"),
        "{v}"
    );
    // Again: the same request, still pending.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&t),
        j(recover.clone()),
    )
    .await;
    assert_eq!(
        (s, v["request_id"].as_i64()),
        (StatusCode::ACCEPTED, Some(id)),
        "{v}"
    );
    // Approving one's own request again is refused.
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-024"), "{v}");
    let (s, v) = call(app, "POST", "/api/v1/approvals/999/approve", Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "AUTH-025"), "{v}");
    let (_, v) = call(app, "GET", "/api/v1/approvals", Some(&olga), None).await;
    assert_eq!(v["requests"][0]["target"], "alice@example.com", "{v}");
    // An approval by an administrator removed afterwards does not count.
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // (Removing her is under admin-change, raised to 2 with recover-key: bob approves.)
    let (s, v) = call(app, "POST", "/api/v1/admins/carol/remove", Some(&t), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let removal = v["request_id"].as_i64().unwrap();
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{removal}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(app, "POST", "/api/v1/admins/carol/remove", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&t),
        j(recover.clone()),
    )
    .await;
    assert_eq!(
        (s, v["request_id"].as_i64()),
        (StatusCode::ACCEPTED, Some(id)),
        "{v}"
    );
    // Bob approves; the opener runs the command again and gets the bundle.
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&t),
        j(json!({"password": "bundle password", "reenroll": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["keys"], 2);
    assert!(v["enrollment_token"].as_str().is_some());
    let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(v["pkcs12"].as_str().unwrap())
        .unwrap();
    let p12 = pki::pkcs12::parse(&der, "bundle password").unwrap();
    assert_eq!(p12.keys.len(), 2);
    assert!(p12.keys.iter().all(|k| k.certificate.is_some()));
    // The request is used up: the next recovery needs new approvals.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users/alice@example.com/recover",
        Some(&t),
        j(recover.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id2 = v["request_id"].as_i64().unwrap();
    assert_ne!(id2, id);
    // Approving a closed request is refused; an expired one too.
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-024"), "{v}");
    f.clock.advance(Duration::from_secs(2 * 86400));
    let bob = login_as(app, "bob", "password of bob").await;
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id2}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-024"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    // Every refusal is audited.
    let t = login(app).await;
    let (_, v) = call(app, "GET", "/api/v1/audit", Some(&t), None).await;
    let refused_approvals = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approve" && e["outcome"] == "refused")
        .count();
    assert_eq!(refused_approvals, 4, "{v}");
    let pending = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "recover-key" && e["outcome"] == "pending")
        .count();
    assert!(pending >= 3, "{v}");
    let (_, v) = call(app, "GET", "/api/v1/audit/verify", Some(&t), None).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn scheduled_backups_are_kept_n_deep_and_verify() {
    let f = fixture_with(Config {
        backup_interval: Some(Duration::from_secs(3600)),
        backup_keep: 2,
        ..config()
    });
    let app = &f.app;
    let t = login(app).await;
    let names = |v: &Value| -> Vec<String> {
        v["backups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect()
    };
    f.state.tick();
    f.state.tick(); // not due again yet
    let (_, v) = call(app, "GET", "/api/v1/backups", Some(&t), None).await;
    assert_eq!(names(&v).len(), 1, "{v}");
    for _ in 0..3 {
        f.clock.advance(Duration::from_secs(3601));
        f.state.tick();
    }
    let t = login(app).await;
    let (_, v) = call(app, "GET", "/api/v1/backups", Some(&t), None).await;
    let kept = names(&v);
    assert_eq!(kept.len(), 2, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": kept[1]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["audit"]["ok"], true, "{v}");
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": "nope.kmsbak"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"), "{v}");
    // Paths outside DATA_DIR/backups are refused, whether direct or through `..`; the full
    // path of a real backup is accepted.
    let inside = f.dir.join("backups").join(&kept[1]);
    let escape = format!("{}/../escrow.db", f.dir.join("backups").display());
    for outside in ["/etc/passwd".to_string(), escape] {
        let (s, v) = call(
            app,
            "POST",
            "/api/v1/backups/verify",
            Some(&t),
            j(json!({"name": outside})),
        )
        .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "AUTH-009"),
            "{outside}: {v}"
        );
    }
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": inside.display().to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A damaged backup is refused with a clear error.
    let path = f.dir.join("backups").join(&kept[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/backups/verify",
        Some(&t),
        j(json!({"name": kept[0]})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "AUTH-016"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ESCROW-013"),
        "{v}"
    );
}

#[tokio::test]
async fn unlock_methods_are_managed_under_the_unlock_method_quorum() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let (s, v) = call(app, "GET", "/api/v1/unlock-methods", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let methods = v["methods"].as_array().unwrap().clone();
    assert_eq!(methods.len(), 1, "{v}");
    assert_eq!(methods[0]["kind"], "password");
    let password_id = methods[0]["id"].as_i64().unwrap();
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/unlock-methods",
        Some(&t),
        j(json!({"password": "x", "key_file": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The new key file travels in the answer: refused over plain HTTP unless the client is on
    // this machine (and when the connection is not known at all).
    let key_file_from = |peer: Option<(&str, bool)>| {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/v1/unlock-methods")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"key_file": true}).to_string()))
            .unwrap();
        if let Some((addr, tls)) = peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(kmsd::Peer {
                    addr: addr.parse().unwrap(),
                    tls,
                }));
        }
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    for peer in [None, Some(("192.0.2.1:5000", false))] {
        let (s, v) = key_file_from(peer).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UPGRADE_REQUIRED, "KMS-426"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("HTTPS"),
            "{v}"
        );
    }
    let (_, v) = call(app, "GET", "/api/v1/unlock-methods", Some(&t), None).await;
    assert_eq!(
        v["methods"].as_array().unwrap().len(),
        1,
        "nothing added: {v}"
    );
    // A new key file comes back once (here over plain HTTP from loopback); it is a valid key
    // file.
    let (s, v) = key_file_from(Some(("127.0.0.1:5000", false))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let bytes =
        <base64ct::Base64 as base64ct::Encoding>::decode_vec(v["key_file"].as_str().unwrap())
            .unwrap();
    escrow::KeyFile::from_bytes(&bytes, "test").unwrap();
    assert!(!std::fs::read_dir(&f.dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("new-key-file")
    }));
    // With an unlock-method quorum of two, one administrator alone only opens a request.
    call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&t),
        j(json!({"name": "bob", "role": "administrator", "password": "password of bob"})),
    )
    .await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/unlock-method",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let path = format!("/api/v1/unlock-methods/{password_id}/remove");
    let (s, v) = call(app, "POST", &path, Some(&t), None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("waiting")),
        "{v}"
    );
    let id = v["request_id"].as_i64().unwrap();
    let bob = login_as(app, "bob", "password of bob").await;
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(app, "POST", &path, Some(&t), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(app, "GET", "/api/v1/unlock-methods", Some(&t), None).await;
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 1, "{v}");
    assert_eq!(methods[0]["kind"], "key-file");
    // The last one cannot go.
    let last = format!("/api/v1/unlock-methods/{}/remove", methods[0]["id"]);
    call(app, "POST", &last, Some(&t), None).await;
    let (_, v) = call(app, "GET", "/api/v1/approvals", Some(&t), None).await;
    let id = v["requests"][0]["id"].as_i64().unwrap();
    call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bob),
        None,
    )
    .await;
    let (s, v) = call(app, "POST", &last, Some(&t), None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "AUTH-016"), "{v}");
    // An officer may not touch them.
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/admins",
        Some(&t),
        j(json!({"name": "olga", "role": "officer", "password": "password of olga"})),
    )
    .await;
    // (Adding an administrator is under its own quorum, admin-change, still 1 here.)
    assert_eq!(
        s,
        StatusCode::OK,
        "adding an administrator is under admin-change, not unlock-method: {v}"
    );
}
