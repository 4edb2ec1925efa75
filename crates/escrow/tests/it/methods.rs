//! Adding, changing, replacing and removing unlock methods re-wraps only the master key.

use db::Backend;
use escrow::{Error, InitOptions, MethodKind, Password};

use crate::common::{CHEAP, Fixture, PASSWORD, both, init_on, new_key, test_keys};

fn escrowed_rows(fx: &Fixture) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    fx.raw()
        .query_map(
            "SELECT id, nonce, ciphertext FROM escrowed_keys ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn add_change_and_remove_methods() {
    both(add_change_and_remove_on);
}

fn add_change_and_remove_on(backend: Backend) {
    let fx = Fixture::empty(backend);
    let tmp = &fx.tmp;
    let mut store = fx
        .create(&InitOptions {
            password: Some(Password::new("first password")),
            key_file: None,
            argon2: CHEAP,
        })
        .unwrap();
    for (i, (_, der)) in test_keys().iter().take(4).enumerate() {
        store.escrow(&new_key("alice", der, i as i64)).unwrap();
    }
    let rows_before = escrowed_rows(&fx);
    let methods = store.unlock_methods().unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].kind, MethodKind::Password);
    assert_eq!(methods[0].argon2, Some(CHEAP));
    let first = methods[0].id;

    // Add a key file (and its copy) and a second password.
    let kf = tmp.path().join("k1.key");
    let kf_copy = tmp.path().join("k1-copy.key");
    let kf_id = store.add_key_file(&kf, Some(&kf_copy)).unwrap();
    let second = store
        .add_password(&Password::new("second password"), &CHEAP)
        .unwrap();
    let methods = store.unlock_methods().unwrap();
    assert_eq!(
        methods.iter().map(|m| m.id).collect::<Vec<_>>(),
        [first, kf_id, second]
    );
    assert_eq!(methods[1].kind, MethodKind::KeyFile);
    assert!(methods[1].label.starts_with("key file "));
    assert_eq!(methods[1].key_file_id.as_deref().map(str::len), Some(32));

    // Change the first password.
    store
        .change_password(first, &Password::new("first password, changed"), &CHEAP)
        .unwrap();
    drop(store);
    let locked = fx.open().unwrap();
    assert!(matches!(
        locked.unlock_with_password(&Password::new("first password")),
        Err(Error::BadSecret)
    ));
    for pw in ["first password, changed", "second password"] {
        let s = locked.unlock_with_password(&Password::new(pw)).unwrap();
        assert_eq!(s.keys_of("alice").unwrap().len(), 4);
    }
    for path in [&kf, &kf_copy] {
        assert_eq!(
            locked
                .unlock_with_key_file(path)
                .unwrap()
                .keys_of("alice")
                .unwrap()
                .len(),
            4
        );
    }

    // Only the wraps changed: every escrowed row is byte-for-byte the same.
    assert_eq!(escrowed_rows(&fx), rows_before);

    // Remove methods; the last one cannot be removed.
    let mut store = locked.unlock_with_key_file(&kf).unwrap();
    store.remove_unlock_method(kf_id).unwrap();
    assert!(matches!(
        locked.unlock_with_key_file(&kf),
        Err(Error::BadSecret)
    ));
    store.remove_unlock_method(first).unwrap();
    let err = store.remove_unlock_method(second).unwrap_err();
    assert!(matches!(err, Error::LastUnlockMethod), "{err:?}");
    assert_eq!(err.code(), "ESCROW-009");
    let err = store.remove_unlock_method(first).unwrap_err();
    assert!(matches!(err, Error::UnknownUnlockMethod { .. }), "{err:?}");
    assert_eq!(store.unlock_methods().unwrap().len(), 1);
    locked
        .unlock_with_password(&Password::new("second password"))
        .unwrap();
    // Wrong kind for change_password.
    let err = store
        .change_password(escrow::MethodId(999), &Password::new("x"), &CHEAP)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownUnlockMethod { .. }), "{err:?}");
}

#[test]
fn replacing_a_key_file_retires_the_old_one() {
    both(replacing_a_key_file_on);
}

fn replacing_a_key_file_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    store
        .escrow(&new_key("alice", &test_keys()[0].1, 1))
        .unwrap();
    let kf_method = store
        .unlock_methods()
        .unwrap()
        .into_iter()
        .find(|m| m.kind == MethodKind::KeyFile)
        .unwrap()
        .id;
    let new_kf = fx.path("new.key");
    store.replace_key_file(kf_method, &new_kf, None).unwrap();
    let locked = store.lock();
    assert!(matches!(
        locked.unlock_with_key_file(&fx.key_file),
        Err(Error::BadSecret)
    ));
    assert!(matches!(
        locked.unlock_with_key_file(&fx.key_file_copy),
        Err(Error::BadSecret)
    ));
    let s = locked.unlock_with_key_file(&new_kf).unwrap();
    assert_eq!(s.keys_of("alice").unwrap().len(), 1);
    locked
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
}

#[test]
fn adding_a_key_file_never_overwrites_a_file() {
    both(adding_a_key_file_on);
}

fn adding_a_key_file_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    let methods_before = store.unlock_methods().unwrap();
    let before = std::fs::read(&fx.key_file).unwrap();
    let err = store.add_key_file(&fx.key_file, None).unwrap_err();
    assert!(matches!(err, Error::FileExists { .. }), "{err:?}");
    // Copy target exists: nothing written, not even the first file.
    let fresh = fx.path("fresh.key");
    let err = store
        .add_key_file(&fresh, Some(&fx.key_file_copy))
        .unwrap_err();
    assert!(matches!(err, Error::FileExists { .. }), "{err:?}");
    assert!(!fresh.exists());
    assert_eq!(std::fs::read(&fx.key_file).unwrap(), before);
    assert_eq!(store.unlock_methods().unwrap(), methods_before);
}
