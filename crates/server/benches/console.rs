//! Search and console-page latency over a large store, through the in-process router.
//!
//! `cargo bench -p kmsd --bench console` (set `CONSOLE_BENCH_USERS` for the corpus, default
//! 50 000 users with two certificates each, so 100 000 certificates; one in ten users has both
//! revoked). The rows are written straight into the SQLite store (users, certificates,
//! revocations, and one `user.add` audit entry per user), since issuing 100 000 certificates
//! through the authority would take the better part of an hour; the certificate bodies are a
//! placeholder (`30 00`) and the audit rows carry placeholder hashes, which the measured pages
//! never read or check. Then every request goes through `kmsd::router` with
//! `tower::ServiceExt::oneshot`: the API searches with a session token, and the console pages
//! that render them with a session cookie from the console's own sign-in form.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use authority::{Config, InitParams, SystemClock};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use escrow::{Argon2Params, InitOptions, Password};
use kmsd::AppState;
use pki::PrivateKey;
use rusqlite::params;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const ADMIN_PW: &str = "bench admin password";
const HOST: &str = "localhost";

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

/// The number of users (`CONSOLE_BENCH_USERS`, default 50 000); each has two certificates.
fn corpus_users() -> i64 {
    std::env::var("CONSOLE_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &i64| n >= 10)
        .unwrap_or(50_000)
}

/// The certificate serial of user `u`'s signing (`k` = 0) or encryption (`k` = 1) certificate.
fn serial(u: i64, k: i64) -> String {
    format!("{:040x}", u * 2 + k + 0x1000)
}

/// Writes `users` users, two certificates each (one user in ten revoked) and one audit entry
/// per user straight into the store in one transaction.
fn fill(dir: &Path, users: i64) {
    let mut conn = rusqlite::Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap();
    let tx = conn.transaction().unwrap();
    let first_seq: i64 = tx
        .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log", [], |r| {
            r.get(0)
        })
        .unwrap();
    {
        let mut user = tx
            .prepare(
                "INSERT INTO users (email, name, capabilities, status, created_at)
                 VALUES (?1, ?2, 'aes256', 'active', ?3)",
            )
            .unwrap();
        let mut cert = tx
            .prepare(
                "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                 VALUES (?1, ?2, ?3, x'3000', 0, 4000000000, ?4)",
            )
            .unwrap();
        let mut revoke = tx
            .prepare(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number)
                 VALUES (?1, 'keyCompromise', ?2, 1)",
            )
            .unwrap();
        let mut audit = tx
            .prepare(
                "INSERT INTO audit_log (seq, at, actor, action, target, outcome, detail, prev_hash, hash)
                 VALUES (?1, ?2, 'admin', 'user.add', ?3, 'ok', '', zeroblob(32), zeroblob(32))",
            )
            .unwrap();
        for u in 0..users {
            let email = format!("user{u}@example.com");
            user.execute(params![email, format!("User {u}"), u])
                .unwrap();
            let id = tx.last_insert_rowid();
            for (k, kind) in [(0, "signing"), (1, "encryption")] {
                let serial = serial(u, k);
                cert.execute(params![serial, id, kind, u]).unwrap();
                if u % 10 == 0 {
                    revoke.execute(params![serial, u]).unwrap();
                }
            }
            audit.execute(params![first_seq + u, u, email]).unwrap();
        }
    }
    tx.commit().unwrap();
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `name=value` of cookie `name` among the `Set-Cookie` headers.
    fn cookie(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} cookie"))
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = to_bytes(resp.into_body(), 16 << 20).await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// GET with a bearer token (`Auth::Token`) or a console session cookie (`Auth::Cookie`).
enum Auth<'a> {
    Token(&'a str),
    Cookie(&'a str),
}

async fn get(app: &Router, uri: &str, auth: &Auth<'_>) -> Resp {
    let req = Request::get(uri).header(header::HOST, HOST);
    let req = match auth {
        Auth::Token(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Auth::Cookie(c) => req.header(header::COOKIE, *c),
    };
    send(app, req.body(Body::empty()).unwrap()).await
}

/// An API session token from `POST /api/v1/login`.
async fn api_login(app: &Router) -> String {
    let req = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": "admin", "password": ADMIN_PW}).to_string(),
        ))
        .unwrap();
    let r = send(app, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// Signs in through the console's form (pre-session cookie, CSRF field, same-origin post);
/// returns the session cookie `kms_session=...`.
async fn console_sign_in(app: &Router) -> String {
    let form = send(
        app,
        Request::get("/console/signin")
            .header(header::HOST, HOST)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let page = form.text();
    let marker = "name=\"csrf\" value=\"";
    let at = page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &page[at..at + page[at..].find('"').unwrap()];
    let body =
        serde_urlencoded::to_string([("csrf", csrf), ("name", "admin"), ("password", ADMIN_PW)])
            .unwrap();
    let r = send(
        app,
        Request::post("/console/signin")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, form.cookie("kms_pre"))
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    r.cookie("kms_session")
}

fn console(c: &mut Criterion) {
    let users = corpus_users();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let config = Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        ..Config::default()
    };
    let clock = Arc::new(SystemClock);
    let auth = authority::init(
        InitParams {
            data_dir: &dir,
            ca_subject: "CN=Bench CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("bench start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:1",
            ca_key: Some(key("ca-3072.key.pem")),
        },
        config.clone(),
        clock.clone(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    fill(&dir, users);
    eprintln!(
        "corpus: {users} users, {} certificates ({} revoked), {users} audit entries, written in {:.1} s",
        users * 2,
        (users + 9) / 10 * 2,
        started.elapsed().as_secs_f64()
    );
    let app = kmsd::router(Arc::new(AppState::unlocked(auth, config, clock)));
    let rt = Runtime::new().unwrap();
    let token = rt.block_on(api_login(&app));
    let cookie = rt.block_on(console_sign_in(&app));

    let prefix = serial(users / 2, 0)[..37].to_string();
    let email_part = format!("user{}", users * 42 / 500);
    let api = [
        (
            "certificates_first_page",
            "/api/v1/certificates".to_string(),
        ),
        (
            "certificates_last_page",
            format!("/api/v1/certificates?offset={}", users * 2 - 50),
        ),
        (
            "certificates_serial_prefix",
            format!("/api/v1/certificates?serial={prefix}"),
        ),
        (
            "certificates_email_part",
            format!("/api/v1/certificates?email={email_part}"),
        ),
        (
            "certificates_revoked_encryption_by_serial",
            "/api/v1/certificates?status=revoked&kind=encryption&sort=serial".to_string(),
        ),
        (
            "users_text",
            format!("/api/v1/users?q=User%20{}", users - 1),
        ),
        (
            "users_deep_offset",
            format!(
                "/api/v1/users?status=active&sort=name&dir=desc&offset={}",
                users * 4 / 5
            ),
        ),
        ("status", "/api/v1/status".to_string()),
        // Every user's lifecycle state computed to filter on it.
        (
            "users_state_revoked",
            "/api/v1/users?state=revoked".to_string(),
        ),
    ];
    let pages = [
        ("dashboard", "/console".to_string()),
        (
            "users_search",
            format!("/console/users?q=User%20{}", users - 1),
        ),
        (
            "users_deep_page",
            format!("/console/users?page={}", users / 50 * 4 / 5),
        ),
        (
            "certificates_email_search",
            format!("/console/certificates?q={email_part}"),
        ),
        (
            "certificates_serial_search",
            format!("/console/certificates?q={prefix}"),
        ),
        ("audit", "/console/audit".to_string()),
        (
            "audit_filtered",
            "/console/audit?actor=admin&action=user.&outcome=ok".to_string(),
        ),
        (
            "users_state_filter",
            "/console/users?state=expired".to_string(),
        ),
        ("certificates_list", "/console/certificates".to_string()),
        (
            "certificates_list_deep_page",
            format!("/console/certificates?page={}", users * 2 / 50 * 4 / 5),
        ),
    ];

    // Each request once before measuring: it must succeed, and what it found is shown.
    for (name, uri) in &api {
        let r = rt.block_on(get(&app, uri, &Auth::Token(&token)));
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let found = ["certificates", "users"]
            .iter()
            .find_map(|k| v[k].as_array().map(Vec::len));
        eprintln!("api/{name}: {uri} -> total {}, rows {found:?}", v["total"]);
    }
    for (name, uri) in &pages {
        let r = rt.block_on(get(&app, uri, &Auth::Cookie(&cookie)));
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        assert!(r.text().contains("<html"), "{uri}: not a page");
        eprintln!("console/{name}: {uri} -> {} bytes", r.body.len());
    }

    let mut group = c.benchmark_group("api");
    group.sample_size(10);
    for (name, uri) in &api {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let r = rt.block_on(get(&app, uri, &Auth::Token(&token)));
                assert_eq!(r.status, StatusCode::OK);
                black_box(r.body)
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("console");
    group.sample_size(10);
    for (name, uri) in &pages {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let r = rt.block_on(get(&app, uri, &Auth::Cookie(&cookie)));
                assert_eq!(r.status, StatusCode::OK);
                black_box(r.body)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, console);
criterion_main!(benches);
