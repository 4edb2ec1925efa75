//! An attacker with write access to the database (the file, or a connection to the server):
//! edited, moved or swapped rows are reported as tampered (naming the key), never returned;
//! escrowed rows cannot be deleted. Every test runs on both backends.

use db::{Backend, ErrorKind};
use escrow::{Error, KeyId, Password};

use crate::common::{Fixture, PASSWORD, both, init_on, new_key, test_keys};

fn store_with_two_owners(backend: Backend) -> (Fixture, Vec<KeyId>) {
    let (fx, mut store) = init_on(backend);
    let keys = test_keys();
    let mut ids = Vec::new();
    for (i, (_, der)) in keys.iter().take(6).enumerate() {
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        ids.push(store.escrow(&new_key(owner, der, i as i64)).unwrap());
    }
    drop(store);
    (fx, ids)
}

fn unlock(fx: &Fixture) -> escrow::UnlockedStore {
    fx.unlock()
}

#[test]
fn one_flipped_ciphertext_byte_is_detected_and_not_returned() {
    both(one_flipped_ciphertext_byte_is_detected_and_not_returned_on);
}

fn one_flipped_ciphertext_byte_is_detected_and_not_returned_on(backend: Backend) {
    let (fx, ids) = store_with_two_owners(backend);
    let target = ids[2]; // alice's second key
    let conn = fx.raw();
    let mut ct: Vec<u8> = conn
        .query_row(
            "SELECT ciphertext FROM escrowed_keys WHERE id = ?1",
            [target.0],
            |r| r.get(0),
        )
        .unwrap();
    let mid = ct.len() / 2;
    ct[mid] ^= 0x20;
    conn.execute(
        "UPDATE escrowed_keys SET ciphertext = ?1 WHERE id = ?2",
        db::params![ct, target.0],
    )
    .unwrap();
    drop(conn);

    let store = unlock(&fx);
    let err = store.keys_of("alice").unwrap_err();
    assert!(
        matches!(err, Error::Tampered { id } if id == target),
        "{err:?}"
    );
    assert_eq!(err.code(), "ESCROW-003");
    assert!(
        err.to_string().contains(&format!("escrowed key {target}")),
        "{err}"
    );
    assert!(matches!(store.key(target), Err(Error::Tampered { .. })));
    assert!(matches!(store.verify_keys(), Err(Error::Tampered { id }) if id == target));
    // Other rows are unaffected.
    assert_eq!(store.keys_of("bob").unwrap().len(), 3);
    assert!(store.key(ids[0]).unwrap().is_some());
}

#[test]
fn flipped_nonce_is_detected() {
    both(flipped_nonce_is_detected_on);
}

fn flipped_nonce_is_detected_on(backend: Backend) {
    let (fx, ids) = store_with_two_owners(backend);
    let conn = fx.raw();
    conn.execute(
        "UPDATE escrowed_keys SET nonce = ?2 WHERE id = ?1",
        db::params![ids[1].0, vec![0u8; 12]],
    )
    .unwrap();
    drop(conn);
    let err = unlock(&fx).keys_of("bob").unwrap_err();
    assert!(
        matches!(err, Error::Tampered { id } if id == ids[1]),
        "{err:?}"
    );
}

#[test]
fn a_row_moved_to_another_owner_or_usage_fails() {
    both(a_row_moved_to_another_owner_or_usage_fails_on);
}

fn a_row_moved_to_another_owner_or_usage_fails_on(backend: Backend) {
    let (fx, ids) = store_with_two_owners(backend);
    let conn = fx.raw();
    conn.execute(
        "UPDATE escrowed_keys SET owner = 'mallory' WHERE id = ?1",
        [ids[0].0],
    )
    .unwrap();
    conn.execute(
        "UPDATE escrowed_keys SET usage = 'ca' WHERE id = ?1",
        [ids[1].0],
    )
    .unwrap();
    drop(conn);
    let store = unlock(&fx);
    let err = store.keys_of("mallory").unwrap_err();
    assert!(
        matches!(err, Error::Tampered { id } if id == ids[0]),
        "{err:?}"
    );
    let err = store.keys_of("bob").unwrap_err();
    assert!(
        matches!(err, Error::Tampered { id } if id == ids[1]),
        "{err:?}"
    );
}

#[test]
fn swapped_ciphertexts_or_ids_fail() {
    both(swapped_ciphertexts_or_ids_fail_on);
}

fn swapped_ciphertexts_or_ids_fail_on(backend: Backend) {
    let (fx, ids) = store_with_two_owners(backend);
    let conn = fx.raw();
    // Give alice's first row bob's first ciphertext and nonce (both valid under the master key).
    conn.execute(
        "UPDATE escrowed_keys SET (nonce, ciphertext) =
             (SELECT nonce, ciphertext FROM escrowed_keys WHERE id = ?2)
         WHERE id = ?1",
        [ids[0].0, ids[1].0],
    )
    .unwrap();
    // Renumber one of bob's rows.
    conn.execute(
        "UPDATE escrowed_keys SET id = 1000 WHERE id = ?1",
        [ids[5].0],
    )
    .unwrap();
    drop(conn);
    let store = unlock(&fx);
    assert!(matches!(store.keys_of("alice"), Err(Error::Tampered { id }) if id == ids[0]));
    assert!(matches!(store.key(KeyId(1000)), Err(Error::Tampered { id }) if id == KeyId(1000)));
}

#[test]
fn escrowed_rows_cannot_be_deleted() {
    both(escrowed_rows_cannot_be_deleted_on);
}

fn escrowed_rows_cannot_be_deleted_on(backend: Backend) {
    let (fx, ids) = store_with_two_owners(backend);
    let conn = fx.raw();
    let err = conn
        .execute("DELETE FROM escrowed_keys WHERE id = ?1", [ids[0].0])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Constraint, "{err}");
    assert!(err.to_string().contains("never deleted"), "{err}");
    drop(conn);
    assert_eq!(unlock(&fx).keys_of("alice").unwrap().len(), 3);
}

#[test]
fn an_altered_wrap_only_disables_its_own_method() {
    both(an_altered_wrap_on);
}

fn an_altered_wrap_on(backend: Backend) {
    let (fx, _ids) = store_with_two_owners(backend);
    let conn = fx.raw();
    let mut wrapped: Vec<u8> = conn
        .query_row(
            "SELECT wrapped_key FROM unlock_methods WHERE kind = 'password'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    wrapped[0] ^= 1;
    conn.execute(
        "UPDATE unlock_methods SET wrapped_key = ?1 WHERE kind = 'password'",
        [wrapped],
    )
    .unwrap();
    // Lowering the stored Argon2 cost does not help an attacker either: it changes the KEK
    // and the associated data.
    drop(conn);
    let locked = fx.open().unwrap();
    assert!(matches!(
        locked.unlock_with_password(&Password::new(PASSWORD)),
        Err(Error::BadSecret)
    ));
    let store = locked.unlock_with_key_file(&fx.key_file).unwrap();
    assert_eq!(store.keys_of("alice").unwrap().len(), 3);
}
