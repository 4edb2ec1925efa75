//! RSA-3072 and RSA-4096 PKCS#1 v1.5 SHA-256 signatures per second with the key in SoftHSM
//! (through `TokenKey`'s session pool: the token hashes and signs, we verify each signature)
//! against the software key (`pki::PrivateKey`, aws-lc-rs), from 1 and 4 threads, in one
//! run. `benches/sign_openssl.sh` runs this beside `openssl speed` and `pkcs11-tool --sign`.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when it is initialised, so the bench makes a throw-away
//! token directory and runs itself again in a child process that has the variable set.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use hsm::TokenKey;
use hsm::testing::SoftHsm;
use pki::{DigestAlgorithm, PrivateKey, SigningKey};

/// The committed software keys, by modulus size.
const SOFTWARE: [(u32, &str); 2] = [
    (3072, include_str!("../../../keys/ca-3072.key.pem")),
    (4096, include_str!("../../../keys/ca2-4096.key.pem")),
];

/// Set in the child process, which runs the benchmarks.
const CHILD: &str = "HSM_BENCH_CHILD";

/// A tbsCertificate-sized message.
const MESSAGE: [u8; 1024] = [0x5a; 1024];

/// `iters` signatures split over `threads` threads; the time they took.
fn timed(key: &dyn SigningKey, threads: usize, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads as u64 {
            let share = iters / threads as u64 + u64::from(t < iters % threads as u64);
            s.spawn(move || {
                for _ in 0..share {
                    key.sign(DigestAlgorithm::Sha256, &MESSAGE).expect("sign");
                }
            });
        }
    });
    start.elapsed()
}

fn sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    for (bits, pem) in SOFTWARE {
        let software = PrivateKey::from_pem_or_der(pem.as_bytes()).expect("committed key");
        let cfg = SoftHsm::config("bench", &format!("ca-{bits}"));
        let token = TokenKey::generate(&cfg, SoftHsm::pin(), bits).expect("key in SoftHSM");
        for threads in [1usize, 4] {
            g.bench_function(format!("softhsm rsa{bits} {threads} threads"), |b| {
                b.iter_custom(|iters| timed(&token, threads, iters))
            });
            g.bench_function(format!("software rsa{bits} {threads} threads"), |b| {
                b.iter_custom(|iters| timed(&software, threads, iters))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = sign
}

fn main() {
    if std::env::var_os(CHILD).is_none() {
        let hsm = SoftHsm::new();
        hsm.init_token("bench");
        let exe = std::env::current_exe().expect("the bench binary");
        let status = hsm
            .command(exe)
            .args(std::env::args_os().skip(1))
            .env(CHILD, "1")
            .status()
            .expect("running the bench again");
        drop(hsm); // removes the token directory
        std::process::exit(status.code().unwrap_or(1));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
