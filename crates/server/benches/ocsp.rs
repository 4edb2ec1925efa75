//! OCSP responses per second from the responder's cache over loopback HTTP.
//!
//! `cargo bench -p kmsd --bench ocsp` (set `OCSP_SECS` for the measuring time, default 5, and
//! `OCSP_CLIENTS` for concurrent clients, default 2). Starts the public router in-process on
//! 127.0.0.1, makes the responder (its key a committed test key), signs the one answer
//! asked for once, then has the clients POST the same request over keep-alive connections:
//! every answer after the first comes from the cache (the signature count is checked).
//! The serial asked about is one the CA never issued: its answer ("unknown") is cached and
//! served exactly as a good or revoked one is. Prints the rate and p50/p99.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authority::{Config, InitParams, SystemClock};
use escrow::{Argon2Params, InitOptions, Password};
use kmsd::AppState;
use pki::{DigestAlgorithm, PrivateKey};

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn main() {
    let secs: u64 = std::env::var("OCSP_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let clients: usize = std::env::var("OCSP_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
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
    auth.add_pool_keys(vec![key("spare-2.key.pem")]);
    let ca = pki::certificate::parse_certificate(&auth.published().ca_der).unwrap();
    let id = pki::ocsp::CertId::new(DigestAlgorithm::Sha1, &ca, &[0x42; 16]).unwrap();
    let request = pki::ocsp::encode_request(&[id], None).unwrap();
    let state = Arc::new(AppState::unlocked(auth, config, clock));
    let auth = state.authority().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/ocsp", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, kmsd::public_router(state)).await });

    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let first = agent
        .post(&url)
        .header("Content-Type", "application/ocsp-request")
        .send(&request[..])
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let parsed = pki::ocsp::parse_response(&first, &ca).unwrap();
    assert_eq!(parsed.statuses[0].status, pki::ocsp::CertStatus::Unknown);
    let signs_before = auth.ocsp_signs();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, request, first) = (url.clone(), request.clone(), first.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let body = agent
                        .post(&url)
                        .header("Content-Type", "application/ocsp-request")
                        .send(&request[..])
                        .unwrap()
                        .body_mut()
                        .read_to_vec()
                        .unwrap();
                    times.push(t.elapsed());
                    assert_eq!(body, first);
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let total = start.elapsed();
    assert_eq!(auth.ocsp_signs(), signs_before, "an answer was re-signed");
    times.sort();
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "ocsp (cached, {clients} clients, POST over loopback): n={} {:.0}/s p50={:.2} ms p99={:.2} ms",
        times.len(),
        times.len() as f64 / total.as_secs_f64(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
    );
}
