//! Benchmarks of lockbox encryption: encrypt and decrypt 1 MiB for one recipient (RSA-2048,
//! PKCS#1 v1.5) with every content algorithm, whole CMS messages and the bare content
//! cipher. `benches/enveloped_openssl.sh` measures `openssl speed -evp` and `openssl cms`
//! on the same input for the ratios in the issue notes.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pki::ContentAlgorithm;
use pki::content::{Cast5Params, ContentEncryption, ContentKey};
use pki::enveloped::{self, EncryptOptions};

mod common;

const MIB: usize = 1024 * 1024;

fn content() -> Vec<u8> {
    (0..MIB).map(|i| (i * 31 + i / 977) as u8).collect()
}

fn messages(c: &mut Criterion) {
    let (key, cert) = common::alice(&common::ca(), false);
    let keys = vec![(key, cert.clone())];
    let recipients = [cert];
    let data = content();
    let mut rng = pki::os_rng();
    let o = EncryptOptions::default();
    let mut g = c.benchmark_group("enveloped 1 MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    for alg in ContentAlgorithm::RANKING {
        g.bench_function(format!("encrypt {alg}"), |b| {
            b.iter(|| enveloped::encrypt(&data, &recipients, alg, &o, &mut rng).unwrap())
        });
        let der = enveloped::encrypt(&data, &recipients, alg, &o, &mut rng).unwrap();
        g.bench_function(format!("decrypt {alg}"), |b| {
            b.iter(|| enveloped::decrypt(&der, &keys, &mut rng).unwrap())
        });
    }
    g.finish();
}

fn ciphers(c: &mut Criterion) {
    let data = content();
    let mut rng = pki::os_rng();
    let mut g = c.benchmark_group("content cipher 1 MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    for alg in ContentAlgorithm::RANKING {
        let ce = ContentEncryption::generate(alg, Cast5Params::Bare, &mut rng);
        let k = ContentKey::generate(alg, &mut rng);
        g.bench_function(format!("encrypt {alg}"), |b| {
            b.iter(|| ce.encrypt(&k, &data).unwrap())
        });
        let sealed = ce.encrypt(&k, &data).unwrap();
        g.bench_function(format!("decrypt {alg}"), |b| {
            b.iter(|| {
                ce.decrypt(k.as_bytes(), &sealed.ciphertext, sealed.tag.as_deref())
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, messages, ciphers);
criterion_main!(benches);
