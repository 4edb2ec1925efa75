//! Enrollment throughput and latency over loopback HTTP: 1, 2, 4 and 8 clients, with an
//! RSA-3072 and an RSA-4096 CA, the key pool warm and sustained, and how long the
//! authority's state lock is held.
//!
//! `cargo bench -p kmsd --bench enroll`. Environment:
//! - `ENROLL_N`: enrollments per warm run (default 100);
//! - `ENROLL_CLIENTS`: client counts, comma-separated (default `1,2,4,8`);
//! - `ENROLL_CA`: CA key sizes (default `3072,4096`; the keys are `keys/ca-3072.key.pem` and
//!   `keys/ca2-4096.key.pem`);
//! - `ENROLL_SUSTAINED_N`: enrollments of the sustained run (default 120; 0 skips it).
//!
//! Starts the router in-process on 127.0.0.1 for each CA. A warm run pre-fills the
//! encryption-key pool with copies of a committed test key (key generation, the pool's
//! background job, is not measured), adds N users, then N clients' worth of
//! `POST /api/v1/enroll` calls (each: the CSR checked, two certificates built, linted and
//! signed with the CA key, the key escrowed with the token's use in one durable commit,
//! the key encrypted under the token). The sustained run starts with the pool as the
//! authority keeps it (default size, refilled on every core) and enrolls more users than
//! it holds, so its rate is bounded by key generation. Each run prints throughput, p50 and
//! p99 latency, and the state lock's hold and wait times (p50/p99), which the `lock-stats`
//! feature of `authority` records for this bench only. One-client renewals (two certificates,
//! no key work) are timed last.
//!
//! Before/after in one run: each warm run is made twice, first `before` (the `lock-stats`
//! switch `set_serial_enroll`: enrollments one at a time, each signing and committing with
//! its own fsync while the others wait, as the authority did before issue 17), then `after`
//! (signing with no lock held, group commit). Between them, `after, audit head signed in the
//! request`: the audit log's head signed with the CA key inside the request that crosses
//! every 50th entry, as before the background signer.

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

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(what: &str, mut times: Vec<Duration>, total: Duration) {
    times.sort();
    let mut locks = authority::lock_stats::take();
    locks.holds.sort();
    locks.waits.sort();
    println!(
        "{what}: n={} {:.1}/s p50={:.1} ms p99={:.1} ms | lock held p50={:.3} ms p99={:.3} ms \
         (n={}), waited p50={:.3} ms p99={:.3} ms",
        times.len(),
        times.len() as f64 / total.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&locks.holds, 0.5)),
        ms(percentile(&locks.holds, 0.99)),
        locks.holds.len(),
        ms(percentile(&locks.waits, 0.5)),
        ms(percentile(&locks.waits, 0.99)),
    );
}

/// A running authority behind the HTTP router.
struct Server {
    _tmp: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
    base: String,
    agent: ureq::Agent,
    session: String,
    auth: Arc<AppState>,
    next_user: usize,
}

impl Server {
    fn start(ca_key: PrivateKey, key_pool_size: usize) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            admin_argon2: Argon2Params::new(64, 1, 1),
            key_pool_size,
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
                ca_key: Some(ca_key),
            },
            config.clone(),
            clock.clone(),
        )
        .unwrap();
        let state = Arc::new(AppState::unlocked(auth, config, clock));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = kmsd::router(state.clone());
        rt.spawn(async move { axum::serve(listener, router).await });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(true)
            .build()
            .into();
        let mut server = Server {
            _tmp: tmp,
            _rt: rt,
            base,
            agent,
            session: String::new(),
            auth: state,
            next_user: 0,
        };
        server.session = server.post(
            "/api/v1/login",
            None,
            json!({"name": "admin", "password": "bench admin password"}),
        )["token"]
            .as_str()
            .unwrap()
            .to_string();
        server
    }

    fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        r.send_json(body).unwrap().body_mut().read_json().unwrap()
    }

    /// `n` new users: (e-mail, token, CSR).
    fn users(&mut self, n: usize, signing: &PrivateKey) -> Vec<(String, String, String)> {
        (0..n)
            .map(|_| {
                let i = self.next_user;
                self.next_user += 1;
                let email = format!("user{i}@example.com");
                let v = self.post(
                    "/api/v1/users",
                    Some(&self.session),
                    json!({"email": email, "name": format!("User {i}")}),
                );
                let token = v["enrollment_token"].as_str().unwrap().to_string();
                let csr = pki::csr::to_pem(
                    &pki::csr::build(
                        signing,
                        Name::from_str("CN=x").unwrap(),
                        &email,
                        DigestAlgorithm::Sha256,
                    )
                    .unwrap(),
                );
                (email, token, csr)
            })
            .collect()
    }

    /// Enrolls every user of `work` with `clients` concurrent clients; latencies and the
    /// wall-clock time.
    fn enroll(
        &self,
        work: &[(String, String, String)],
        clients: usize,
    ) -> (Vec<Duration>, Duration) {
        let _ = authority::lock_stats::take();
        let start = Instant::now();
        let times = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(work.len().div_ceil(clients))
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut times = Vec::new();
                        for (_, token, csr) in chunk {
                            let t = Instant::now();
                            let v = self.post(
                                "/api/v1/enroll",
                                None,
                                json!({"token": token, "csr": csr}),
                            );
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
        (times, start.elapsed())
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let n: usize = env_or("ENROLL_N", 100);
    let sustained_n: usize = env_or("ENROLL_SUSTAINED_N", 120);
    let clients = env_list("ENROLL_CLIENTS", "1,2,4,8");
    let cas = env_list("ENROLL_CA", "3072,4096");
    let signing = key("alice-sign.key.pem");
    let spare = key("spare-1.key.pem");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("enroll bench: {cores} cores, {n} enrollments per warm run");
    for bits in cas {
        let ca = match bits {
            3072 => key("ca-3072.key.pem"),
            4096 => key("ca2-4096.key.pem"),
            other => panic!("no committed RSA-{other} CA key under keys/"),
        };
        // Warm pool: a pool without refill threads, filled before each run.
        let mut server = Server::start(ca.clone(), 0);
        for &c in &clients {
            for (mode, serial, inline_audit) in [
                ("before", true, true),
                ("after, audit head signed in the request", false, true),
                ("after", false, false),
            ] {
                authority::lock_stats::set_serial_enroll(serial);
                authority::lock_stats::set_inline_audit_sign(inline_audit);
                let work = server.users(n, &signing);
                let authority = server.auth.authority().unwrap();
                authority.add_pool_keys((0..n).map(|_| spare.clone()).collect());
                drop(authority);
                let (times, total) = server.enroll(&work, c.max(1));
                report(
                    &format!("RSA-{bits} CA, warm pool, {c} clients, {mode}"),
                    times,
                    total,
                );
            }
        }
        authority::lock_stats::set_serial_enroll(false);
        authority::lock_stats::set_inline_audit_sign(false);
        // Renewals, one client: two certificates each, no key work.
        let work = server.users(n.min(40), &signing);
        server.enroll(&work, 1);
        let _ = authority::lock_stats::take();
        let start = Instant::now();
        let mut times = Vec::new();
        for (email, _, _) in &work {
            let t = Instant::now();
            server.post(
                "/api/v1/renew",
                Some(&server.session),
                json!({"email": email}),
            );
            times.push(t.elapsed());
        }
        report(
            &format!("RSA-{bits} CA, renew, 1 client"),
            times,
            start.elapsed(),
        );
        drop(server);

        if sustained_n > 0 {
            // Sustained: the authority's own pool (default size, refilled on every core),
            // full at the start, drained by more enrollments than it holds.
            let mut server = Server::start(ca, Config::default().key_pool_size);
            let work = server.users(sustained_n, &signing);
            let authority = server.auth.authority().unwrap();
            let wanted = Config::default().key_pool_size;
            let deadline = Instant::now() + Duration::from_secs(600);
            while authority.pool_ready() < wanted && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(authority);
            let c = 4;
            let (times, total) = server.enroll(&work, c);
            report(
                &format!("RSA-{bits} CA, sustained ({wanted}-key pool, refilled), {c} clients"),
                times,
                total,
            );
        }
    }
}
