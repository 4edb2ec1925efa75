//! Creating, opening and unlocking a store; escrowing keys and reading an owner's history
//! (on both backends, except where the data directory holds the database).

use db::Backend;
use escrow::{Credential, Error, InitOptions, KeyFileTargets, KeyUsage, NewKey, Password, Store};

use crate::common::{self, CHEAP, PASSWORD, both, init, init_on, new_key, snapshot, test_keys};

#[test]
fn escrow_and_read_back_each_owners_whole_history_in_order() {
    both(escrow_and_read_back_on);
}

fn escrow_and_read_back_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    assert_eq!(store.store().backend(), backend);
    if backend == Backend::Sqlite {
        assert_eq!(store.store().location(), fx.data.display().to_string());
    }
    let keys = test_keys();
    let alice: Vec<&Vec<u8>> = keys
        .iter()
        .filter(|(n, _)| n.starts_with("alice"))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(alice.len(), 3);
    let mut alice_ids = Vec::new();
    for (i, der) in alice.iter().enumerate() {
        let cert = format!("certificate {i}").into_bytes();
        alice_ids.push(
            store
                .escrow(&NewKey {
                    owner: "alice@example.org",
                    usage: KeyUsage::Encryption,
                    private_key_der: der,
                    certificate_der: Some(&cert),
                    created_at: 1_700_000_000 + i as i64,
                })
                .unwrap(),
        );
        // Interleave another owner's keys.
        store
            .escrow(&new_key("bob@example.org", &keys[i + 3].1, 1_700_000_000))
            .unwrap();
    }
    let ca = &keys.iter().find(|(n, _)| n == "ca-3072").unwrap().1;
    store
        .escrow(&NewKey {
            owner: "ca",
            usage: KeyUsage::Ca,
            private_key_der: ca,
            certificate_der: None,
            created_at: 1_600_000_000,
        })
        .unwrap();

    let history = store.keys_of("alice@example.org").unwrap();
    assert_eq!(history.len(), 3);
    for (i, key) in history.iter().enumerate() {
        assert_eq!(key.info.id, alice_ids[i]);
        assert_eq!(key.private_key_der.expose(), &alice[i][..]);
        assert_eq!(
            key.certificate_der.as_deref(),
            Some(format!("certificate {i}").as_bytes())
        );
        assert_eq!(key.info.created_at, 1_700_000_000 + i as i64);
        assert_eq!(key.info.usage, KeyUsage::Encryption);
    }
    assert!(alice_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.keys_of("bob@example.org").unwrap().len(), 3);
    assert_eq!(store.keys_of("ca").unwrap()[0].info.usage, KeyUsage::Ca);
    assert!(store.keys_of("nobody@example.org").unwrap().is_empty());

    // Metadata without decryption, in id order; also from a locked store.
    let list = store.list().unwrap();
    assert_eq!(list.len(), 7);
    assert!(list.windows(2).all(|w| w[0].id < w[1].id));
    let locked = store.lock();
    assert_eq!(locked.list().unwrap(), list);
    drop(locked);

    // Reopen; both key-file copies and the password unlock it.
    let locked = fx.open().unwrap();
    for unlocked in [
        locked
            .unlock_with_password(&Password::new(PASSWORD))
            .unwrap(),
        locked.unlock_with_key_file(&fx.key_file).unwrap(),
        locked.unlock_with_key_file(&fx.key_file_copy).unwrap(),
        locked.unlock(&Credential::password(PASSWORD)).unwrap(),
    ] {
        let again = unlocked.keys_of("alice@example.org").unwrap();
        assert_eq!(again.len(), 3);
        assert_eq!(again[2].private_key_der.expose(), &alice[2][..]);
    }
    assert_eq!(locked.store_id().len(), 32);
}

#[test]
fn key_files_are_private_and_identical_copies() {
    both(key_files_are_private_on);
}

fn key_files_are_private_on(backend: Backend) {
    let (fx, _store) = init_on(backend);
    let a = std::fs::read(&fx.key_file).unwrap();
    let b = std::fs::read(&fx.key_file_copy).unwrap();
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    assert!(text.contains("-----BEGIN KMS ESCROW KEY FILE-----"));
    assert!(text.contains("Version: 1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [&fx.key_file, &fx.key_file_copy] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

#[test]
fn wrong_password_is_refused_and_changes_nothing() {
    both(wrong_password_on);
}

fn wrong_password_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    store
        .escrow(&new_key("alice", &test_keys()[0].1, 1))
        .unwrap();
    drop(store);
    let before = fx.snapshot();
    let key_files_before = (
        std::fs::read(&fx.key_file).unwrap(),
        std::fs::read(&fx.key_file_copy).unwrap(),
    );

    let locked = fx.open().unwrap();
    for wrong in [
        "",
        "wrong",
        "correct horse battery stapl",
        "correct horse battery staple ",
    ] {
        let err = locked
            .unlock_with_password(&Password::new(wrong))
            .unwrap_err();
        assert!(matches!(err, Error::BadSecret), "{err:?}");
        assert_eq!(err.code(), "ESCROW-001");
        assert_eq!(
            err.to_string(),
            "the password or key file does not unlock this store"
        );
    }
    drop(locked);

    assert_eq!(fx.snapshot(), before);
    assert_eq!(std::fs::read(&fx.key_file).unwrap(), key_files_before.0);
    assert_eq!(
        std::fs::read(&fx.key_file_copy).unwrap(),
        key_files_before.1
    );
    // And the right password still works.
    let unlocked = fx.unlock();
    assert_eq!(unlocked.keys_of("alice").unwrap().len(), 1);
}

#[test]
fn corrupted_truncated_or_foreign_key_files_are_refused_and_change_nothing() {
    both(bad_key_files_on);
}

fn bad_key_files_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    store
        .escrow(&new_key("alice", &test_keys()[0].1, 1))
        .unwrap();
    drop(store);
    let before = fx.snapshot();
    let good = std::fs::read_to_string(&fx.key_file).unwrap();
    let locked = fx.open().unwrap();

    // One changed character of the secret.
    let secret_at = good.find("Secret: ").unwrap() + 12;
    let mut flipped = good.clone().into_bytes();
    flipped[secret_at] = if flipped[secret_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    // Cut in the middle.
    let truncated = good[..good.len() / 2].to_owned();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("flipped.key", flipped, "checksum mismatch"),
        ("truncated.key", truncated.into_bytes(), "truncated"),
        ("empty.key", Vec::new(), "not a key file"),
        (
            "v9.key",
            good.replace("Version: 1", "Version: 9").into_bytes(),
            "unsupported key file version 9",
        ),
    ];
    for (name, bytes, problem) in cases {
        let path = fx.path(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = locked.unlock_with_key_file(&path).unwrap_err();
        assert!(
            matches!(err, Error::KeyFileInvalid { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.code(), "ESCROW-002");
        let msg = err.to_string();
        assert!(msg.contains(problem) && msg.contains(name), "{name}: {msg}");
        // The message never echoes the file's content.
        assert!(!msg.contains(&good[secret_at - 4..secret_at + 8]), "{msg}");
    }
    let missing = locked
        .unlock_with_key_file(&fx.path("missing.key"))
        .unwrap_err();
    assert!(
        matches!(missing, Error::KeyFileInvalid { .. }),
        "{missing:?}"
    );

    // A valid key file of another store: the generic "does not unlock" error.
    let (other, _other_store) = init_on(backend);
    let err = locked.unlock_with_key_file(&other.key_file).unwrap_err();
    assert!(matches!(err, Error::BadSecret), "{err:?}");
    drop(locked);

    assert_eq!(fx.snapshot(), before);
    assert_eq!(std::fs::read_to_string(&fx.key_file).unwrap(), good);
}

// SQLite only: the data directory holds the database (postgres.rs has the database's refusals).
#[test]
fn init_refuses_an_existing_store_existing_key_files_and_no_method() {
    let (fx, store) = init();
    drop(store);
    let before = snapshot(&fx.data);
    let again = Store::init(
        &fx.data,
        &InitOptions {
            password: Some(Password::new("another")),
            key_file: None,
            argon2: CHEAP,
        },
    )
    .unwrap_err();
    assert!(matches!(again, Error::NotEmpty { .. }), "{again:?}");
    assert_eq!(snapshot(&fx.data), before);

    let key_file_before = std::fs::read(&fx.key_file).unwrap();
    let err = Store::init(
        &fx.path("data2"),
        &InitOptions {
            password: None,
            key_file: Some(KeyFileTargets {
                path: fx.key_file.clone(),
                copy: None,
            }),
            argon2: CHEAP,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::FileExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&fx.key_file).unwrap(), key_file_before);
    assert!(!fx.path("data2").join(escrow::DB_FILE_NAME).exists());

    let err = Store::init(&fx.path("data3"), &InitOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NoUnlockMethod), "{err:?}");
}

// SQLite only: a directory without a database file (postgres.rs: a database without a store).
#[test]
fn open_without_a_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::NoStore { .. }), "{err:?}");
    assert!(err.to_string().contains("no escrow store"), "{err}");
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    both(bad_arguments_on);
}

fn bad_arguments_on(backend: Backend) {
    let (fx, mut store) = init_on(backend);
    let before = fx.snapshot();
    let der = common::random_blob(1200);
    let too_big = vec![1u8; escrow::MAX_KEY_LEN + 1];
    let long_owner = "x".repeat(escrow::MAX_OWNER_LEN + 1);
    for key in [
        new_key("", &der, 1),
        new_key("alice", &[], 1),
        new_key("alice", &too_big, 1),
        new_key(&long_owner, &der, 1),
    ] {
        let err = store
            .escrow_batch(&[new_key("ok", &der, 1), key])
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    }
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    both(secrets_redacted_on);
}

fn secrets_redacted_on(backend: Backend) {
    let (_fx, mut store) = init_on(backend);
    let der = test_keys()[0].1.clone();
    store.escrow(&new_key("alice", &der, 1)).unwrap();
    let key = store.keys_of("alice").unwrap().remove(0);
    let debug = format!("{key:?} {store:?} {:?}", Password::new(PASSWORD));
    assert!(debug.contains("[redacted]"), "{debug}");
    assert!(!debug.contains(PASSWORD));
    // No run of the key's bytes appears in any common rendering.
    let as_list = format!("{:?}", &der[..8]);
    assert!(!debug.contains(&as_list[1..as_list.len() - 1]), "{debug}");
}
