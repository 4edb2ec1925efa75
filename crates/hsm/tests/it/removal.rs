//! The token, or the key on it, going away while a key is open (PKI-141 with HSM-004, or
//! HSM-005 for the key), and signing recovering when it comes back, without reopening.
//!
//! SoftHSM keeps one directory per token under its token directory and one file per object
//! in it: renaming the token's directory away is the token pulled out; moving the object
//! files away is the key deleted. SoftHSM notices both at the next call; it only finds a
//! token that came back after the module is initialised again, which `TokenKey` does (at
//! most once a second) when fresh sessions do not find the token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hsm::TokenKey;
use hsm::testing::SoftHsm;
use pki::{DigestAlgorithm, SigningKey};

/// The one token directory under `tokens`.
fn token_dir(tokens: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(tokens)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn expect_unavailable(key: &TokenKey, code: &str) {
    let err = key
        .sign(DigestAlgorithm::Sha256, b"while away")
        .unwrap_err();
    assert_eq!(err.code(), "PKI-141", "{err}");
    assert!(err.to_string().contains(code), "{code} expected: {err}");
    let err = key.check().unwrap_err();
    assert_eq!(err.code(), "PKI-141", "{err}");
    assert!(err.to_string().contains(code), "{code} expected: {err}");
}

fn expect_signing(key: &TokenKey) {
    let message = b"after the token came back";
    let sig = key.sign(DigestAlgorithm::Sha384, message).unwrap();
    key.public_key()
        .verify(DigestAlgorithm::Sha384, message, &sig, "after")
        .unwrap();
    key.check().unwrap();
}

#[test]
fn token_pulled_out_gives_hsm_004_and_signing_recovers_when_it_is_back() {
    let Some(hsm) = SoftHsm::fresh_process(
        "removal::token_pulled_out_gives_hsm_004_and_signing_recovers_when_it_is_back",
    ) else {
        return;
    };
    hsm.init_token("T");
    let key = TokenKey::generate(&SoftHsm::config("T", "ca"), SoftHsm::pin(), 2048).unwrap();
    // A second handle on the same key (clones share the sessions).
    let other = key.clone();
    expect_signing(&key);

    let dir = token_dir(&hsm.token_dir());
    let away = hsm.token_dir().with_file_name("pulled-out");
    std::fs::rename(&dir, &away).unwrap();
    expect_unavailable(&key, "HSM-004");
    expect_unavailable(&other, "HSM-004");

    std::fs::rename(&away, &dir).unwrap();
    // The module is initialised again at most once a second.
    std::thread::sleep(hsm::REINIT_INTERVAL + Duration::from_millis(100));
    expect_signing(&key);
    expect_signing(&other);
    assert!(key.sessions_open() >= 1 && key.sessions_open() <= key.pool_size());

    // Pulled out again and back again: recovers a second time.
    std::fs::rename(&dir, &away).unwrap();
    expect_unavailable(&key, "HSM-004");
    std::fs::rename(&away, &dir).unwrap();
    std::thread::sleep(hsm::REINIT_INTERVAL + Duration::from_millis(100));
    expect_signing(&key);
}

#[test]
fn key_deleted_gives_hsm_005_and_signing_recovers_when_it_is_back() {
    let Some(hsm) = SoftHsm::fresh_process(
        "removal::key_deleted_gives_hsm_005_and_signing_recovers_when_it_is_back",
    ) else {
        return;
    };
    hsm.init_token("T");
    let key = TokenKey::generate(&SoftHsm::config("T", "ca"), SoftHsm::pin(), 2048).unwrap();
    expect_signing(&key);

    // The key pair's object files (all but the token's own), moved aside.
    let dir = token_dir(&hsm.token_dir());
    let aside = hsm.token_dir().with_file_name("aside");
    std::fs::create_dir(&aside).unwrap();
    let mut moved = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".object") && name != "token.object" {
            std::fs::rename(&path, aside.join(&name)).unwrap();
            moved.push(name);
        }
    }
    assert_eq!(
        moved.len(),
        2,
        "a private and a public key object: {moved:?}"
    );
    // SoftHSM re-reads the directory when its generation file changes.
    touch_generation(&dir);
    expect_unavailable(&key, "HSM-005");

    for name in &moved {
        std::fs::rename(aside.join(name), dir.join(name)).unwrap();
    }
    touch_generation(&dir);
    expect_signing(&key);
}

/// Bumps SoftHSM's change counter of the token, as another process changing it would.
fn touch_generation(dir: &Path) {
    let path = dir.join("generation");
    let bytes = std::fs::read(&path).unwrap_or_default();
    let mut n = u64::from_be_bytes(
        bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 8]),
    );
    n += 1;
    std::fs::write(&path, n.to_be_bytes()).unwrap();
}

#[test]
fn token_pulled_out_while_four_threads_sign_recovers_for_all_of_them() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    let Some(hsm) = SoftHsm::fresh_process(
        "removal::token_pulled_out_while_four_threads_sign_recovers_for_all_of_them",
    ) else {
        return;
    };
    hsm.init_token("T");
    let key = TokenKey::generate(&SoftHsm::config("T", "ca"), SoftHsm::pin(), 2048).unwrap();
    let dir = token_dir(&hsm.token_dir());
    let away = hsm.token_dir().with_file_name("pulled-out");
    let stop = AtomicBool::new(false);
    let refused = AtomicUsize::new(0);
    let signed_after = AtomicUsize::new(0);
    let back = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (key, stop, refused, signed_after, back) =
                (key.clone(), &stop, &refused, &signed_after, &back);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let message = format!("thread {t}");
                    match key.sign(DigestAlgorithm::Sha256, message.as_bytes()) {
                        Ok(sig) => {
                            key.public_key()
                                .verify(DigestAlgorithm::Sha256, message.as_bytes(), &sig, "t")
                                .unwrap();
                            if back.load(Ordering::SeqCst) {
                                signed_after.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(e) => {
                            assert_eq!(e.code(), "PKI-141", "{e}");
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        std::fs::rename(&dir, &away).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        std::fs::rename(&away, &dir).unwrap();
        back.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(20);
        while signed_after.load(Ordering::SeqCst) < 40 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "no signature was refused while away"
    );
    assert!(
        signed_after.load(Ordering::SeqCst) >= 40,
        "signing did not resume: {} after the token came back",
        signed_after.load(Ordering::SeqCst)
    );
    assert!(key.sessions_open() <= key.pool_size());
    expect_signing(&key);
}
