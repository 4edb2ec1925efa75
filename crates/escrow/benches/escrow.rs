//! Benchmarks of the escrow store: batch escrow (per-key time), one owner's history from a
//! store of 100 000 keys, and unlock time with the default Argon2id parameters.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use escrow::{
    Argon2Params, InitOptions, KeyFileTargets, KeyUsage, NewKey, Password, Store, UnlockedStore,
};

/// Cheap Argon2id parameters for set-up only (the unlock benchmark uses the default).
const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);
/// The size of a PKCS#8 RSA-2048 private key.
const KEY_LEN: usize = 1217;

fn random_blobs(n: usize) -> Vec<Vec<u8>> {
    let mut all = vec![0u8; n * KEY_LEN];
    getrandom::fill(&mut all).unwrap();
    all.chunks(KEY_LEN).map(<[u8]>::to_vec).collect()
}

fn new_store(dir: &std::path::Path, argon2: Argon2Params) -> UnlockedStore {
    Store::init(
        dir,
        &InitOptions {
            password: Some(Password::new("benchmark password")),
            key_file: Some(KeyFileTargets {
                path: dir.with_extension("key"),
                copy: None,
            }),
            argon2,
        },
    )
    .unwrap()
}

fn escrow(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = new_store(&tmp.path().join("data"), CHEAP);
    let blobs = random_blobs(10_000);
    let owners: Vec<String> = (0..10_000)
        .map(|i| format!("user{i}@example.org"))
        .collect();
    let keys: Vec<NewKey<'_>> = blobs
        .iter()
        .zip(&owners)
        .map(|(der, owner)| NewKey {
            owner,
            usage: KeyUsage::Encryption,
            private_key_der: der,
            certificate_der: None,
            created_at: 1_700_000_000,
        })
        .collect();

    let mut group = c.benchmark_group("escrow");
    group.sample_size(10);
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("batch_of_10000_keys", |b| {
        b.iter(|| black_box(store.escrow_batch(&keys).unwrap()))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_key_per_transaction", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(store.escrow(&keys[i]).unwrap())
        })
    });
    group.finish();
}

fn history(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = new_store(&tmp.path().join("data"), CHEAP);
    // 100 000 keys: 10 000 owners with 10 keys each, written in 10 batches of 10 000.
    let blobs = random_blobs(10_000);
    let owners: Vec<String> = (0..10_000)
        .map(|i| format!("user{i}@example.org"))
        .collect();
    for round in 0..10 {
        let keys: Vec<NewKey<'_>> = blobs
            .iter()
            .zip(&owners)
            .map(|(der, owner)| NewKey {
                owner,
                usage: KeyUsage::Encryption,
                private_key_der: der,
                certificate_der: Some(b"certificate DER would be here"),
                created_at: 1_700_000_000 + round,
            })
            .collect();
        store.escrow_batch(&keys).unwrap();
    }
    assert_eq!(store.list().unwrap().len(), 100_000);

    let mut group = c.benchmark_group("history");
    group.throughput(Throughput::Elements(10));
    let mut i = 0;
    group.bench_function("keys_of_one_owner_10_keys_in_100000", |b| {
        b.iter(|| {
            i = (i + 7919) % owners.len();
            let keys = store.keys_of(&owners[i]).unwrap();
            assert_eq!(keys.len(), 10);
            black_box(keys)
        })
    });
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("list_metadata_100000", |b| {
        b.iter(|| black_box(store.list().unwrap()))
    });
    group.finish();
}

fn unlock(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = new_store(&data, Argon2Params::default());
    let locked = store.lock();
    let password = Password::new("benchmark password");

    let mut group = c.benchmark_group("unlock");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("password_default_argon2id_128MiB_t3_p1", |b| {
        b.iter(|| black_box(locked.unlock_with_password(&password).unwrap()))
    });
    group.bench_function("key_file", |b| {
        b.iter(|| {
            black_box(
                locked
                    .unlock_with_key_file(&data.with_extension("key"))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, escrow, history, unlock);
criterion_main!(benches);
