//! Benchmarks of CMS SignedData: sign and check a 4 KiB and a 1 MiB message with SHA-256 and
//! RSA-2048 (encapsulated content, signed attributes, the signer's certificate included).
//! `benches/openssl_signed.sh` times `openssl cms -sign` / `-verify` on the same content.

use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pki::ContentAlgorithm;
use pki::signed::{self, SignOptions};

mod common;

/// The benchmark content: this line repeated and cut at `size` bytes (the OpenSSL script
/// writes the same bytes).
fn content(size: usize) -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog 0123456789\r\n"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect()
}

fn sign_and_check(c: &mut Criterion) {
    let (k, cert) = common::alice(&common::ca(), true);
    let options = SignOptions {
        capabilities: ContentAlgorithm::RANKING.to_vec(),
        ..SignOptions::new(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    };
    let mut g = c.benchmark_group("signed-data sha256");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for (label, size) in [("4 KiB", 4 * 1024), ("1 MiB", 1024 * 1024)] {
        let msg = content(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("sign {label}"), |b| {
            b.iter(|| signed::sign(&msg, &k, &cert, &[], &options).unwrap())
        });
        let der = signed::sign(&msg, &k, &cert, &[], &options).unwrap();
        g.bench_function(format!("check {label}"), |b| {
            b.iter(|| {
                let check = signed::check(&der, None, &[]).unwrap();
                assert!(check.is_valid());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sign_and_check);
criterion_main!(benches);
