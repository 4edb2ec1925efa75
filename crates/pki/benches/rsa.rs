//! Benchmarks of the RSA private-key operations every hot path pays (issue 17): PKCS#1 v1.5
//! signing with SHA-256 and PKCS#1 v1.5 decryption of a 32-octet content key, with the
//! committed RSA-2048/3072/4096 keys under `keys/`. `benches/rsa_openssl.sh` runs these and
//! `openssl speed -seconds 3 rsa2048 rsa3072 rsa4096` in one run and prints the ratios.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pki::{DigestAlgorithm, PrivateKey};

/// The committed keys, by modulus size.
const KEYS: [(usize, &str); 3] = [
    (2048, include_str!("../../../keys/alice-enc.key.pem")),
    (3072, include_str!("../../../keys/ca-3072.key.pem")),
    (4096, include_str!("../../../keys/ca2-4096.key.pem")),
];

fn rsa(c: &mut Criterion) {
    // openssl speed signs a 36-octet digest; we sign (and hash) a message of that size.
    let message = [0x5au8; 36];
    let cek = [0x42u8; 32];
    let mut g = c.benchmark_group("rsa");
    g.throughput(Throughput::Elements(1));
    for (bits, pem) in KEYS {
        let key = PrivateKey::from_pem_or_der(pem.as_bytes()).expect("committed key");
        assert_eq!(key.bits(), bits);
        g.bench_function(format!("sign rsa{bits} sha256"), |b| {
            b.iter(|| key.sign(DigestAlgorithm::Sha256, &message).expect("sign"))
        });
        let wrapped = pki::bench::rsa_encrypt_pkcs1v15(&key.public_key(), &cek).expect("encrypt");
        assert_eq!(
            pki::bench::rsa_decrypt_pkcs1v15(&key, &wrapped).as_deref(),
            Some(&cek[..])
        );
        g.bench_function(format!("decrypt rsa{bits} pkcs1v15"), |b| {
            b.iter(|| pki::bench::rsa_decrypt_pkcs1v15(&key, &wrapped).expect("decrypt"))
        });
    }
    g.finish();
}

/// With `RSA_BENCH_KEYGEN=1`: RSA-2048 key generation by the `rsa` crate (what
/// `PrivateKey::generate` does) against AWS-LC's, read back into a `PrivateKey` as
/// `generate` would have to.
fn keygen(c: &mut Criterion) {
    if std::env::var_os("RSA_BENCH_KEYGEN").is_none() {
        return;
    }
    use aws_lc_rs::encoding::AsDer;
    let mut g = c.benchmark_group("keygen");
    g.sample_size(10);
    g.bench_function("rsa2048 rsa crate", |b| {
        b.iter(|| PrivateKey::generate(&mut pki::os_rng(), pki::KeySize::Rsa2048).expect("key"))
    });
    g.bench_function("rsa2048 aws-lc", |b| {
        b.iter(|| {
            let pair =
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
            let der = pair.as_der().expect("PKCS#8");
            PrivateKey::from_der(der.as_ref()).expect("key")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = rsa, keygen
}
criterion_main!(benches);
