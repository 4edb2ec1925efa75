//! Signing from many threads at once through the session pool: every signature verifies,
//! and the pool never holds more sessions than its size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hsm::TokenKey;
use hsm::testing::SoftHsm;
use pki::{DigestAlgorithm, SigningKey};

/// Signs `per_thread` messages from each of `threads` threads; returns the largest number
/// of sessions seen open.
fn sign_from_threads(key: &TokenKey, threads: usize, per_thread: usize) -> usize {
    let most = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let key = key.clone();
            let most = most.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    let digest = [
                        DigestAlgorithm::Sha256,
                        DigestAlgorithm::Sha384,
                        DigestAlgorithm::Sha512,
                    ][(t + i) % 3];
                    let message = format!("thread {t} message {i}");
                    let sig = key.sign(digest, message.as_bytes()).unwrap();
                    key.public_key()
                        .verify(digest, message.as_bytes(), &sig, "pooled")
                        .unwrap();
                    most.fetch_max(key.sessions_open(), Ordering::Relaxed);
                }
            });
        }
    });
    most.load(Ordering::Relaxed)
}

#[test]
fn eight_threads_sign_through_a_pool_of_four_and_of_one() {
    let Some(hsm) =
        SoftHsm::fresh_process("pool::eight_threads_sign_through_a_pool_of_four_and_of_one")
    else {
        return;
    };
    hsm.init_token("T");
    let cfg = SoftHsm::config("T", "ca");
    drop(TokenKey::generate(&cfg, SoftHsm::pin(), 2048).unwrap());

    let key = TokenKey::open(&cfg, SoftHsm::pin()).unwrap();
    assert_eq!(key.pool_size(), hsm::DEFAULT_POOL_SIZE);
    assert_eq!(key.sessions_open(), 1, "the session of the checks is kept");
    let most = sign_from_threads(&key, 8, 25);
    assert!(
        (1..=hsm::DEFAULT_POOL_SIZE).contains(&most),
        "{most} sessions open"
    );
    assert!(key.sessions_open() <= hsm::DEFAULT_POOL_SIZE);

    // A pool of one: the eight threads take turns.
    let single = TokenKey::open_pooled(&cfg, SoftHsm::pin(), 1).unwrap();
    assert_eq!(sign_from_threads(&single, 8, 10), 1);
    assert_eq!(single.sessions_open(), 1);
}
