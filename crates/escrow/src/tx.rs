//! A write transaction on the store that can escrow keys: the handle other crates use to
//! commit an escrowed key together with their own rows (certificates, tokens, audit entries)
//! in one transaction, or nothing.

use std::ops::Deref;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::crypto::Aead;
use crate::error::Result;
use crate::store::{self, KeyId, NewKey};

/// An open IMMEDIATE write transaction on an unlocked store (see [`crate::UnlockedStore::begin`]).
///
/// It derefs to the [`Connection`] for the caller's own SQL; keys go through
/// [`EscrowTx::escrow`], which encrypts them under the master key inside the transaction.
/// Nothing is visible to other connections, nor durable, until [`EscrowTx::commit`]; dropping
/// the handle rolls everything back.
pub struct EscrowTx<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) rows: &'a Aead,
}

impl std::fmt::Debug for EscrowTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscrowTx").finish_non_exhaustive()
    }
}

impl<'a> EscrowTx<'a> {
    pub(crate) fn begin(conn: &'a mut Connection, rows: &'a Aead) -> Result<Self> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(EscrowTx { tx, rows })
    }

    /// Escrows one key inside this transaction; its id is final once the transaction commits.
    pub fn escrow(&self, key: &NewKey<'_>) -> Result<KeyId> {
        Ok(self.escrow_batch(std::slice::from_ref(key))?[0])
    }

    /// Escrows several keys inside this transaction; ids in the order given.
    pub fn escrow_batch(&self, keys: &[NewKey<'_>]) -> Result<Vec<KeyId>> {
        store::insert_keys(&self.tx, self.rows, keys)
    }

    /// Commits everything done through this handle (durable when it returns: the store runs
    /// with `synchronous = FULL`).
    pub fn commit(self) -> Result<()> {
        self.tx.commit()?;
        Ok(())
    }
}

impl Deref for EscrowTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.tx
    }
}

#[cfg(test)]
mod tests {
    use crate::{Argon2Params, InitOptions, KeyUsage, NewKey, Password, Store};

    fn store() -> (tempfile::TempDir, crate::UnlockedStore) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::init(
            &tmp.path().join("d"),
            &InitOptions {
                password: Some(Password::new("a password for tests")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
        )
        .unwrap();
        (tmp, s)
    }

    fn key(owner: &str) -> NewKey<'_> {
        NewKey {
            owner,
            usage: KeyUsage::Encryption,
            private_key_der: b"not really a key, but opaque to the store",
            certificate_der: None,
            created_at: 1,
        }
    }

    #[test]
    fn dropped_transaction_leaves_no_key() {
        let (_tmp, mut s) = store();
        {
            let tx = s.begin().unwrap();
            let id = tx.escrow(&key("alice")).unwrap();
            // Visible inside the transaction, with the caller's own SQL.
            let n: i64 = tx
                .query_row(
                    "SELECT count(*) FROM escrowed_keys WHERE id = ?1",
                    [id.0],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        assert!(s.list().unwrap().is_empty());
        assert!(s.keys_of("alice").unwrap().is_empty());
    }

    #[test]
    fn commit_makes_keys_visible_with_the_callers_rows() {
        let (_tmp, mut s) = store();
        let id = {
            let tx = s.begin().unwrap();
            tx.execute_batch("CREATE TABLE side (k INTEGER)").unwrap();
            let id = tx.escrow(&key("bob")).unwrap();
            tx.execute("INSERT INTO side (k) VALUES (?1)", [id.0])
                .unwrap();
            tx.commit().unwrap();
            id
        };
        let keys = s.keys_of("bob").unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].info.id, id);
        assert_eq!(
            keys[0].private_key_der.expose(),
            b"not really a key, but opaque to the store"
        );
        let side: i64 = s
            .store()
            .connection()
            .query_row("SELECT k FROM side", [], |r| r.get(0))
            .unwrap();
        assert_eq!(side, id.0);
        // A second transaction gets the next id.
        let tx = s.begin().unwrap();
        assert_eq!(tx.escrow(&key("bob")).unwrap().0, id.0 + 1);
    }
}
