//! Encrypted backups: round trip, verify counts, restore with the same secrets; damaged
//! backups are refused by verify and by restore, which then writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use escrow::{Credential, Error, Password, Store, restore, verify_backup};

use crate::common::{Fixture, PASSWORD, init, new_key, random_blob, test_keys};

/// A store with real and random keys over several owners; returns owner -> key DERs.
fn populated() -> (
    Fixture,
    escrow::UnlockedStore,
    BTreeMap<String, Vec<Vec<u8>>>,
) {
    let (fx, mut store) = init();
    let mut expected: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, der) in test_keys() {
        let owner = name.split('-').next().unwrap().to_owned();
        store.escrow(&new_key(&owner, &der, 1)).unwrap();
        expected.entry(owner).or_default().push(der);
    }
    let blobs: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("user{}@example.org", i % 7), random_blob(1200)))
        .collect();
    let batch: Vec<_> = blobs.iter().map(|(o, d)| new_key(o, d, 2)).collect();
    store.escrow_batch(&batch).unwrap();
    for (owner, der) in blobs {
        expected.entry(owner).or_default().push(der);
    }
    (fx, store, expected)
}

fn assert_same_keys(store: &escrow::UnlockedStore, expected: &BTreeMap<String, Vec<Vec<u8>>>) {
    for (owner, ders) in expected {
        let got = store.keys_of(owner).unwrap();
        let got: Vec<&[u8]> = got.iter().map(|k| k.private_key_der.expose()).collect();
        let want: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want, "{owner}");
    }
}

fn is_missing_or_empty(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn backup_verify_restore_round_trip_with_the_same_secrets() {
    let (fx, store, expected) = populated();
    let total: usize = expected.values().map(Vec::len).sum();
    let backup = fx.path("escrow-2024-01-01.bak");
    let report = store.backup(&backup).unwrap();
    assert_eq!(report.keys as usize, total);
    assert_eq!(report.owners as usize, expected.len());
    assert_eq!(report.unlock_methods, 2);
    assert_eq!(report.store_id, store.store().store_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The store keeps working after a backup.
    let mut store = store;
    store
        .escrow(&new_key("late", b"not in the backup", 3))
        .unwrap();

    for cred in [
        Credential::password(PASSWORD),
        Credential::key_file(&fx.key_file).unwrap(),
        Credential::key_file(&fx.key_file_copy).unwrap(),
    ] {
        let verified = verify_backup(&backup, &cred).unwrap();
        assert_eq!(verified.keys as usize, total);
        assert_eq!(verified.owners as usize, expected.len());
        assert_eq!(verified.store_id, report.store_id);
        assert_eq!(verified.database_bytes, report.database_bytes);
    }

    let restored_dir = fx.path("restored");
    let restored = restore(&backup, &Credential::password(PASSWORD), &restored_dir).unwrap();
    assert_eq!(restored.keys as usize, total);
    let locked = Store::open(&restored_dir).unwrap();
    assert_eq!(locked.store_id(), report.store_id);
    assert_eq!(
        locked.unlock_methods().unwrap(),
        store.unlock_methods().unwrap()
    );
    for unlocked in [
        locked
            .unlock_with_password(&Password::new(PASSWORD))
            .unwrap(),
        locked.unlock_with_key_file(&fx.key_file).unwrap(),
        locked.unlock_with_key_file(&fx.key_file_copy).unwrap(),
    ] {
        assert_same_keys(&unlocked, &expected);
        assert!(unlocked.keys_of("late").unwrap().is_empty());
        assert_eq!(unlocked.list().unwrap().len(), total);
    }
    // Key ids survive the round trip.
    let original: Vec<_> = store.list().unwrap().into_iter().take(total).collect();
    assert_eq!(locked.list().unwrap(), original);

    // A restored store accepts new keys with fresh ids.
    let mut unlocked = locked
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    let id = unlocked
        .escrow(&new_key("new", b"after restore", 4))
        .unwrap();
    assert!(id > original.last().unwrap().id);

    // Restoring again into another directory with the key file works too.
    let again = fx.path("restored-2");
    restore(
        &backup,
        &Credential::key_file(&fx.key_file).unwrap(),
        &again,
    )
    .unwrap();
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn damaged_backups_are_refused_by_verify_and_restore_which_writes_nothing() {
    let (fx, store, _) = populated();
    let backup = fx.path("good.bak");
    store.backup(&backup).unwrap();
    drop(store);
    let good = std::fs::read(&backup).unwrap();
    let len = good.len();

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [0, 20, 40, 100, len / 3, len / 2, len - 20, len - 1] {
        let mut b = good.clone();
        b[at] ^= 0x04;
        cases.push((format!("flip-{at}"), b));
    }
    for keep in [0, 10, 60, len / 2, len - 16, len - 1] {
        cases.push((format!("truncated-{keep}"), good[..keep].to_vec()));
    }
    let mut appended = good.clone();
    appended.extend_from_slice(&[0; 16]);
    cases.push(("appended".into(), appended));

    let cred = Credential::password(PASSWORD);
    for (name, bytes) in cases {
        let path = fx.path(&format!("{name}.bak"));
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_backup(&path, &cred).unwrap_err();
        assert!(
            matches!(err, Error::BackupInvalid { .. } | Error::BadSecret),
            "{name}: {err:?}"
        );
        let target = fx.path(&format!("restore-{name}"));
        let err = restore(&path, &cred, &target).unwrap_err();
        assert!(
            matches!(err, Error::BackupInvalid { .. } | Error::BadSecret),
            "{name}: {err:?}"
        );
        assert!(
            !target.exists(),
            "{name}: restore created {}",
            target.display()
        );
        // An existing empty target stays empty.
        std::fs::create_dir(&target).unwrap();
        restore(&path, &cred, &target).unwrap_err();
        assert!(is_missing_or_empty(&target), "{name}");
        std::fs::remove_file(&path).unwrap();
    }
    // No temporary file anywhere in the working directory.
    let mut left: Vec<String> = std::fs::read_dir(fx.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("restore-"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["data", "disk1-escrow.key", "disk2-escrow.key", "good.bak"]
    );
    // The original still verifies.
    verify_backup(&backup, &cred).unwrap();
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn clear_errors_for_wrong_secrets_and_non_backups() {
    let (fx, store, _) = populated();
    let backup = fx.path("b.bak");
    store.backup(&backup).unwrap();

    let err = verify_backup(&backup, &Credential::password("wrong")).unwrap_err();
    assert!(matches!(err, Error::BadSecret), "{err:?}");
    let (other, _other_store) = init();
    let err = verify_backup(&backup, &Credential::key_file(&other.key_file).unwrap()).unwrap_err();
    assert!(matches!(err, Error::BadSecret), "{err:?}");
    let target = fx.path("r");
    let err = restore(&backup, &Credential::password("wrong"), &target).unwrap_err();
    assert!(matches!(err, Error::BadSecret), "{err:?}");
    assert!(!target.exists());

    let not_backup = fx.path("not.bak");
    std::fs::write(
        &not_backup,
        b"SQLite format 3\0 and so on, but not a backup",
    )
    .unwrap();
    let err = verify_backup(&not_backup, &Credential::password(PASSWORD)).unwrap_err();
    assert!(err.to_string().contains("not an escrow backup"), "{err}");
    assert_eq!(err.code(), "ESCROW-013");
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn restore_refuses_a_non_empty_target_and_backup_an_existing_file() {
    let (fx, store, _) = populated();
    let backup = fx.path("b.bak");
    store.backup(&backup).unwrap();
    let before = std::fs::read(&backup).unwrap();
    let err = store.backup(&backup).unwrap_err();
    assert!(matches!(err, Error::FileExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&backup).unwrap(), before);

    // Restoring over the live store's directory is refused.
    let err = restore(&backup, &Credential::password(PASSWORD), &fx.data).unwrap_err();
    assert!(matches!(err, Error::NotEmpty { .. }), "{err:?}");
    let target = fx.path("t");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("something"), b"x").unwrap();
    let err = restore(&backup, &Credential::password(PASSWORD), &target).unwrap_err();
    assert!(matches!(err, Error::NotEmpty { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn a_restore_killed_half_way_leaves_its_temporary_only_in_the_private_target_and_it_is_swept() {
    let (fx, store, _) = populated();
    let backup = fx.path("b.bak");
    store.backup(&backup).unwrap();
    // What a restore killed while decrypting leaves: a temporary in the (private) target,
    // and, from releases that decrypted beside the target, one in the parent directory.
    let target = fx.path("t");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join(".escrow-restore-killed.db"), b"half a database").unwrap();
    std::fs::write(fx.path(".escrow-restore-older.db"), b"half a database").unwrap();
    let report = restore(&backup, &Credential::password(PASSWORD), &target).unwrap();
    assert!(report.keys > 0);
    let names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![escrow::DB_FILE_NAME.to_string()], "{names:?}");
    assert!(!fx.path(".escrow-restore-older.db").exists());
    Store::open(&target)
        .unwrap()
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    #[cfg(unix)]
    {
        // A directory the restore makes is private: the temporary inside it is never readable
        // by others while it exists.
        use std::os::unix::fs::PermissionsExt;
        let made = fx.path("made");
        restore(&backup, &Credential::password(PASSWORD), &made).unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy; postgres.rs checks the refusal).
#[test]
fn a_tampered_row_inside_a_backup_is_reported() {
    let (fx, store, _) = populated();
    let id = store.list().unwrap()[0].id;
    drop(store);
    crate::common::raw(&fx.data)
        .execute(
            "UPDATE escrowed_keys SET owner = 'mallory' WHERE id = ?1",
            [id.0],
        )
        .unwrap();
    let store = Store::open(&fx.data)
        .unwrap()
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    let backup = fx.path("b.bak");
    store.backup(&backup).unwrap();
    let err = verify_backup(&backup, &Credential::password(PASSWORD)).unwrap_err();
    assert!(
        matches!(err, Error::Tampered { id: got } if got == id),
        "{err:?}"
    );
    let target = fx.path("r");
    restore(&backup, &Credential::password(PASSWORD), &target).unwrap_err();
    assert!(!target.exists());
}
