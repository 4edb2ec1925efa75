//! Benchmarks of CMS SignedData: sign and check a 4 KiB and a 1 MiB message with SHA-256 and
//! RSA-2048 (encapsulated content, signed attributes, the signer's certificate included).
//! `benches/openssl_signed.sh` times `openssl cms -sign` / `-verify` on the same content.

use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pki::signed::{self, SignOptions};
use pki::{
    Certificate, ContentAlgorithm, DigestAlgorithm, Issuer, Period, PrivateKey, Profile,
    RevocationUrls, SmimeSubject,
};

fn key(name: &str) -> PrivateKey {
    let path = format!("{}/../../keys/{name}.key.pem", env!("CARGO_MANIFEST_DIR"));
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

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

fn signer() -> (PrivateKey, Certificate) {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let period = Period {
        not_before: now,
        not_after: now + Duration::from_secs(365 * 86_400),
    };
    let ca = Issuer::self_signed(
        key("ca-3072"),
        &Profile::Ca {
            subject: "CN=Bench CA".parse().unwrap(),
            path_len: None,
        },
        period,
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    let k = key("alice-sign");
    let cert = ca
        .issue(
            &Profile::SmimeSigning(SmimeSubject {
                subject: "CN=Alice,O=Bench".parse().unwrap(),
                email: "alice@example.test".into(),
                capabilities: ContentAlgorithm::RANKING.to_vec(),
                revocation: RevocationUrls::default(),
            }),
            &k.public_key(),
            period,
            &mut pki::os_rng(),
        )
        .unwrap();
    (k, cert)
}

fn sign_and_check(c: &mut Criterion) {
    let (k, cert) = signer();
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
