//! A small pool of pre-generated RSA-2048 encryption keys, refilled by a background thread,
//! so that an enrollment does not wait for key generation.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use pki::{KeySize, PrivateKey};

use crate::error::Result;

/// The pool. `take` never blocks on the refill thread: when the pool is empty it generates.
#[derive(Debug)]
pub(crate) struct KeyPool {
    keys: Mutex<Vec<PrivateKey>>,
    wanted: usize,
    wake: Condvar,
}

impl KeyPool {
    /// A pool that keeps `wanted` keys ready (0: no thread, generate on demand).
    pub(crate) fn start(wanted: usize) -> Arc<Self> {
        let pool = Arc::new(KeyPool {
            keys: Mutex::new(Vec::new()),
            wanted,
            wake: Condvar::new(),
        });
        if wanted > 0 {
            let weak = Arc::downgrade(&pool);
            let spawned = std::thread::Builder::new()
                .name("key-pool".into())
                .spawn(move || refill(weak));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the key pool thread; keys are generated on demand");
            }
        }
        pool
    }

    /// A key from the pool, or a freshly generated one.
    pub(crate) fn take(&self) -> Result<PrivateKey> {
        let key = self.lock().pop();
        self.wake.notify_one();
        match key {
            Some(k) => Ok(k),
            None => Ok(PrivateKey::generate(&mut pki::os_rng(), KeySize::Rsa2048)?),
        }
    }

    /// Adds keys made elsewhere (tests reuse committed keys this way).
    pub(crate) fn add(&self, keys: Vec<PrivateKey>) {
        self.lock().extend(keys);
    }

    /// Keys ready now.
    pub(crate) fn ready(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PrivateKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn refill(pool: Weak<KeyPool>) {
    loop {
        let Some(p) = pool.upgrade() else { return };
        if p.lock().len() < p.wanted {
            drop(p);
            match PrivateKey::generate(&mut pki::os_rng(), KeySize::Rsa2048) {
                Ok(k) => {
                    if let Some(p) = pool.upgrade() {
                        p.lock().push(k);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "key pool: key generation failed");
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
            continue;
        }
        let guard = p.lock();
        // Wake up when a key is taken, or now and then to notice the pool was dropped.
        let _ = p.wake.wait_timeout(guard, Duration::from_secs(1));
    }
}
