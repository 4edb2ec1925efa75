//! Benchmarks of the PKI core: issue one certificate from an existing key, build and sign a
//! CRL of 100 000 entries, generate an RSA-2048 key. `benches/openssl_baseline.sh` measures
//! the same three things with the OpenSSL CLI for the ratios in the issue notes.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::{ContentAlgorithm, KeySize, PrivateKey, Profile};

mod common;

fn issue(c: &mut Criterion) {
    let (ca, period) = (common::ca(), common::period());
    let user = common::key("alice-enc").public_key();
    let profile = Profile::SmimeEncryption(pki::SmimeSubject {
        subject: "CN=Alice,O=Bench".parse().unwrap(),
        email: "alice@example.test".into(),
        capabilities: ContentAlgorithm::RANKING.to_vec(),
        revocation: pki::RevocationUrls {
            crl: Some("http://ca.example.test/crl".into()),
            delta_crl: Some("http://ca.example.test/crl/delta".into()),
            ca_issuers: None,
            ocsp: None,
        },
        sbr: None,
        policy: pki::PolicyExtras::default(),
    });
    let mut rng = pki::os_rng();
    c.bench_function("issue S/MIME certificate (CA RSA-3072, SHA-256)", |b| {
        b.iter(|| ca.issue(&profile, &user, period, &mut rng).unwrap())
    });
}

fn crl(c: &mut Criterion) {
    let (ca, period) = (common::ca(), common::period());
    let entries: Vec<CrlEntry> = (0..100_000u32)
        .map(|i| {
            let mut serial = vec![0x4a; 15];
            serial.extend_from_slice(&i.to_be_bytes());
            CrlEntry {
                serial,
                revoked_at: period.not_before,
                reason: RevocationReason::KeyCompromise,
            }
        })
        .collect();
    let mut g = c.benchmark_group("crl");
    g.sample_size(10);
    g.bench_function("build and sign CRL of 100 000 entries", |b| {
        b.iter(|| {
            let mut builder = CrlBuilder::new(1, period.not_before, period.not_after).unwrap();
            builder.reserve(entries.len());
            for e in &entries {
                builder.add(e).unwrap();
            }
            builder.sign(&ca).unwrap()
        })
    });
    g.finish();
}

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(20));
    let mut rng = pki::os_rng();
    g.bench_function("RSA-2048 key generation", |b| {
        b.iter(|| PrivateKey::generate(&mut rng, KeySize::Rsa2048).unwrap())
    });
    g.finish();
}

criterion_group!(benches, issue, crl, keygen);
criterion_main!(benches);
