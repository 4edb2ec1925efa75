//! Enrollment throughput and latency over loopback HTTP, with the key pool warm.
//!
//! `cargo bench -p kmsd --bench enroll` (set `ENROLL_N` for the number of enrollments,
//! default 40, and `ENROLL_CLIENTS` for concurrent clients, default 1). Starts the router in-process on 127.0.0.1, adds N users, pre-fills the
//! encryption-key pool (with copies of a committed test key, so key generation is not
//! measured: that is the pool's background job), then times N sequential
//! `POST /api/v1/enroll` calls (each: CSR check, two certificates issued, the key escrowed
//! with a durable SQLite commit, the key encrypted under the token) and N renewals (two
//! certificates each, no key work). Prints p50/p99 and rates.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authority::{Config, InitParams, SystemClock};
use escrow::{Argon2Params, InitOptions, Password};
use kmsd::AppState;
use pki::{DigestAlgorithm, Name, PrivateKey};
use serde_json::{Value, json};

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(what: &str, mut times: Vec<Duration>, total: Duration, certs_each: usize) {
    times.sort();
    let n = times.len() as f64;
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms  {:.1}/s  ({:.1} certificates/s)",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        n / total.as_secs_f64(),
        n * certs_each as f64 / total.as_secs_f64(),
    );
}

fn main() {
    let n: usize = std::env::var("ENROLL_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        ..Config::default()
    };
    let clock = Arc::new(SystemClock);
    let auth = authority::init(
        InitParams {
            data_dir: &tmp.path().join("data"),
            ca_subject: "CN=Bench CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new("bench admin password"),
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
    let spare = key("spare-1.key.pem");
    auth.add_pool_keys((0..n).map(|_| spare.clone()).collect());
    let state = Arc::new(AppState::unlocked(auth, config, clock));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, kmsd::router(state)).await });

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .build()
        .into();
    let post = |path: &str, token: Option<&str>, body: Value| -> Value {
        let mut r = agent.post(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        r.send_json(body).unwrap().body_mut().read_json().unwrap()
    };
    let session = post(
        "/api/v1/login",
        None,
        json!({"name": "admin", "password": "bench admin password"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let signing = key("alice-sign.key.pem");
    let mut work = Vec::new();
    for i in 0..n {
        let email = format!("user{i}@example.com");
        let v = post(
            "/api/v1/users",
            Some(&session),
            json!({"email": email, "name": format!("User {i}")}),
        );
        let token = v["enrollment_token"].as_str().unwrap().to_string();
        let csr = pki::csr::to_pem(
            &pki::csr::build(
                &signing,
                Name::from_str("CN=x").unwrap(),
                &email,
                DigestAlgorithm::Sha256,
            )
            .unwrap(),
        );
        work.push((email, token, csr));
    }

    // ENROLL_CLIENTS concurrent clients (default 1) share the work.
    let clients: usize = std::env::var("ENROLL_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = Instant::now();
    let times: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(work.len().div_ceil(clients))
            .map(|chunk| {
                let post = &post;
                scope.spawn(move || {
                    let mut times = Vec::new();
                    for (_, token, csr) in chunk {
                        let t = Instant::now();
                        let v = post("/api/v1/enroll", None, json!({"token": token, "csr": csr}));
                        assert!(v["encrypted_key"].is_string());
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    println!("clients: {clients}");
    report("enroll over loopback HTTP", times, start.elapsed(), 2);

    let mut times = Vec::new();
    let start = Instant::now();
    for (email, _, _) in &work {
        let t = Instant::now();
        post("/api/v1/renew", Some(&session), json!({"email": email}));
        times.push(t.elapsed());
    }
    report("renew over loopback HTTP", times, start.elapsed(), 2);
}
