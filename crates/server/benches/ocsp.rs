//! OCSP responses per second from the responder's cache over loopback HTTP (criterion),
//! with OpenSSL's own responder measured by the same client in the same run.
//!
//! `cargo bench -p kmsd --bench ocsp` starts the public router in-process on 127.0.0.1, makes
//! the responder (its key a committed test key), signs the one answer asked for once (a warm
//! cache), then measures with criterion (throughput in answers/s):
//! - `ocsp/post_cached`, `ocsp/get_cached`: one client, POST and RFC 5019 GET, keep-alive;
//! - `ocsp/post_cached_2_clients`: two client threads sharing the iterations.
//!
//! Every answer after the first comes from the cache (the signature count is checked). The
//! serial asked about is one the CA never issued: its answer ("unknown") is cached and served
//! exactly as a good or revoked one is. Afterwards a fixed-time run (`OCSP_SECS`, default 5;
//! `OCSP_CLIENTS`, default 2) prints `kmsd ocsp: N answers/s`. When `OCSP_OPENSSL_URL` and
//! `OCSP_OPENSSL_REQUEST` (a DER request file) are set, the same clients then measure that
//! responder too and print its rate and the ratio: `benches/ocsp_openssl.sh` sets them up
//! with `openssl ocsp -index ... -port ...` (which signs every answer: it has no cache).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authority::{Config, InitParams, SystemClock};
use base64ct::{Base64, Encoding};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use escrow::{Argon2Params, InitOptions, Password};
use kmsd::AppState;
use pki::{DigestAlgorithm, PrivateKey};

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A responder under test: its URL, the request, and the expected answer (for kmsd).
struct Target {
    url: String,
    request: Vec<u8>,
    expect: Option<Vec<u8>>,
}

fn post(agent: &ureq::Agent, t: &Target) -> Vec<u8> {
    agent
        .post(&t.url)
        .header("Content-Type", "application/ocsp-request")
        .send(&t.request[..])
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().build().into()
}

/// `clients` threads POST for `secs`: answers per second.
fn fixed_time(t: &Arc<Target>, clients: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let body = post(&agent, &t);
                    if let Some(e) = &t.expect {
                        assert_eq!(&body, e);
                    } else {
                        assert!(!body.is_empty());
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let n: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

fn ocsp(c: &mut Criterion) {
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
    let base = format!("http://{}/ocsp", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, kmsd::public_router(state)).await });

    let mut target = Target {
        url: base.clone(),
        request: request.clone(),
        expect: None,
    };
    let first = post(&agent(), &target);
    let parsed = pki::ocsp::parse_response(&first, &ca).unwrap();
    assert_eq!(parsed.statuses[0].status, pki::ocsp::CertStatus::Unknown);
    target.expect = Some(first.clone());
    let target = Arc::new(target);
    let get_url = format!(
        "{base}/{}",
        Base64::encode_string(&request).replace('/', "%2F")
    );
    let signs_before = auth.ocsp_signs();

    let mut g = c.benchmark_group("ocsp");
    g.throughput(Throughput::Elements(1));
    let one = agent();
    g.bench_function("post_cached", |b| {
        b.iter(|| assert_eq!(post(&one, &target), first))
    });
    g.bench_function("get_cached", |b| {
        b.iter(|| {
            let body = one
                .get(&get_url)
                .call()
                .unwrap()
                .body_mut()
                .read_to_vec()
                .unwrap();
            assert_eq!(body, first)
        })
    });
    g.bench_function("post_cached_2_clients", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let threads: Vec<_> = [iters / 2, iters - iters / 2]
                .into_iter()
                .map(|n| {
                    let t = target.clone();
                    std::thread::spawn(move || {
                        let agent = agent();
                        for _ in 0..n {
                            assert!(post(&agent, &t).len() > 100);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
    assert_eq!(auth.ocsp_signs(), signs_before, "an answer was re-signed");

    let secs = env_or("OCSP_SECS", 5u64);
    let clients = env_or("OCSP_CLIENTS", 2usize);
    let ours = fixed_time(&target, clients, secs);
    assert_eq!(auth.ocsp_signs(), signs_before, "an answer was re-signed");
    println!("kmsd ocsp (cached, {clients} clients, POST over loopback): {ours:.0} answers/s");
    if let (Ok(url), Ok(file)) = (
        std::env::var("OCSP_OPENSSL_URL"),
        std::env::var("OCSP_OPENSSL_REQUEST"),
    ) {
        let theirs = Arc::new(Target {
            url,
            request: std::fs::read(&file).unwrap(),
            expect: None,
        });
        let rate = fixed_time(&theirs, clients, secs);
        println!(
            "openssl ocsp responder ({clients} clients, POST over loopback, signs every \
             answer): {rate:.0} answers/s; kmsd/openssl = {:.1}",
            ours / rate
        );
    }
}

criterion_group!(benches, ocsp);
criterion_main!(benches);
