//! The cost of checking the hostile SignedData shapes of issue 15 (`tests/hostile/shapes.rs`)
//! and, for comparison, a normal signed message, with `pki::signed::check`.
//!
//! `cargo bench -p pki --bench hostile` measures with criterion. With `HOSTILE_ONCE=1` each
//! input is instead checked once and the wall time and result printed: that is how the cost
//! before the limits was measured (minutes per input, too slow for criterion's samples);
//! run it under `/usr/bin/time -v` for the peak memory. `benches/openssl_signed.sh` gives
//! OpenSSL's time for a normal message.
//!
//! Measured on the 2-core development machine (one check; before = the code without the
//! limits, after = with them): 16 000 signers over 2 MiB 86.3 s → 19 ms (PKI-090); 650 v1
//! certificates and 9 000 SKI signers 845 s → 5 ms (PKI-091); 32 MiB of BER NULLs 8.9 s and
//! 0.88 GB peak → 18 ms and no tree (PKI-092); at the limits, 64 signers over 2 MiB
//! 254 → 19 ms and 256 certificates with 64 SKI signers 722 → 3.5 ms; a normal 64 KiB
//! message 0.4 ms (`openssl cms -verify -noverify` on 4 KiB: 25 ms with process start).

use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{Criterion, criterion_group};
use pki::signed::{self, SignOptions};

mod common;
#[path = "../tests/hostile/shapes.rs"]
mod shapes;

/// The inputs: a name and the message bytes.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let (k, cert) = common::alice(&common::ca(), true);
    let cert_der = pki::certificate::to_der(&cert).unwrap();
    let spki = k.public_key().to_spki_der().unwrap();
    let options = SignOptions::new(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    let normal = signed::sign(&shapes::content(64 * 1024), &k, &cert, &[], &options).unwrap();
    let only = std::env::var("HOSTILE_ONLY").unwrap_or_default();
    let mut all = vec![
        ("normal 64 KiB, 1 signer", normal),
        (
            "16000 signers over 2 MiB",
            shapes::many_signers(&cert_der, 16_000, 2 * 1024 * 1024),
        ),
        (
            "64 signers over 2 MiB (at the limit)",
            shapes::many_signers(&cert_der, 64, 2 * 1024 * 1024),
        ),
        (
            "650 v1 certificates, 9000 SKI signers",
            shapes::many_ski_certificates(&spki, 650, 9_000),
        ),
        (
            "256 v1 certificates, 64 SKI signers (at the limit)",
            shapes::many_ski_certificates(&spki, 256, 64),
        ),
        (
            "BER SEQUENCE of 32 MiB of NULLs",
            shapes::null_sequence(32 * 1024 * 1024),
        ),
    ];
    if !only.is_empty() {
        all.retain(|(name, _)| name.contains(only.as_str()));
    }
    all
}

fn outcome(input: &[u8]) -> String {
    match signed::check(input, None, &[]) {
        Ok(c) => format!(
            "ok: {} signers, {} valid",
            c.signers.len(),
            c.signers.iter().filter(|s| s.outcome.is_valid()).count()
        ),
        Err(e) => format!("error {}", e.code()),
    }
}

fn hostile(c: &mut Criterion) {
    let mut g = c.benchmark_group("hostile signed-data check");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for (name, input) in inputs() {
        g.bench_function(name, |b| b.iter(|| outcome(&input)));
    }
    g.finish();
}

criterion_group!(benches, hostile);

fn main() {
    if std::env::var_os("HOSTILE_ONCE").is_some() {
        for (name, input) in inputs() {
            let t = Instant::now();
            let result = outcome(&input);
            println!(
                "{name} ({} bytes): {:.3} s, {result}",
                input.len(),
                t.elapsed().as_secs_f64()
            );
        }
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
