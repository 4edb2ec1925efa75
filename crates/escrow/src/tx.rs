//! A write transaction on the store that can escrow keys: the handle other crates use to
//! commit an escrowed key together with their own rows (certificates, tokens, audit entries)
//! in one transaction, or nothing.

use std::ops::Deref;

use db::{Backend, Connection, Transaction};

use crate::crypto::Aead;
use crate::durable::{GroupSync, Pending};
use crate::error::Result;
use crate::store::{self, KeyId, NewKey};

/// An open write transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL `READ COMMITTED`) on an
/// unlocked store (see [`crate::UnlockedStore::begin`]).
///
/// It derefs to the [`Connection`] for the caller's own SQL; keys go through
/// [`EscrowTx::escrow`], which encrypts them under the master key inside the transaction.
/// Nothing is visible to other connections, nor durable, until [`EscrowTx::commit`]; dropping
/// the handle rolls everything back.
pub struct EscrowTx<'a> {
    /// The open transaction (`None` once committed).
    pub(crate) tx: Option<Transaction<'a>>,
    /// The connection the transaction runs on (to restore its settings afterwards).
    conn: &'a Connection,
    pub(crate) rows: &'a Aead,
    sync: &'a std::sync::Arc<GroupSync>,
    /// Begun with `synchronous = NORMAL` for a grouped commit.
    grouped: bool,
}

impl std::fmt::Debug for EscrowTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscrowTx").finish_non_exhaustive()
    }
}

impl<'a> EscrowTx<'a> {
    pub(crate) fn begin(
        conn: &'a mut Connection,
        rows: &'a Aead,
        sync: &'a std::sync::Arc<GroupSync>,
        grouped: bool,
    ) -> Result<Self> {
        // Held exclusively for 'a (the `&mut`): a shared reborrow carries the transaction and
        // lets a grouped transaction restore `synchronous` once it is over.
        let conn: &'a Connection = conn;
        // PostgreSQL groups commits itself: a grouped transaction there is a plain one.
        let grouped = grouped && conn.backend() == Backend::Sqlite;
        if grouped && let Some(sqlite) = conn.as_sqlite() {
            // SQLite refuses to change the safety level inside a transaction: set it before.
            // The commit then writes the WAL frames without fsync (see `commit_grouped`).
            sqlite.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let mut this = EscrowTx {
            tx: None,
            conn,
            rows,
            sync,
            grouped,
        };
        // On failure `this` drops and restores `synchronous`.
        this.tx = Some(conn.transaction()?);
        Ok(this)
    }

    pub(crate) fn tx(&self) -> &Transaction<'a> {
        // Some from `begin` until a commit, which consumes `self`.
        self.tx
            .as_ref()
            .expect("an EscrowTx is open until committed")
    }

    /// Escrows one key inside this transaction; its id is final once the transaction commits.
    pub fn escrow(&self, key: &NewKey<'_>) -> Result<KeyId> {
        Ok(self.escrow_batch(std::slice::from_ref(key))?[0])
    }

    /// Escrows several keys inside this transaction; ids in the order given.
    pub fn escrow_batch(&self, keys: &[NewKey<'_>]) -> Result<Vec<KeyId>> {
        store::insert_keys(self.tx(), self.rows, keys)
    }

    /// Commits everything done through this handle, durable when it returns (the store runs
    /// with `synchronous = FULL`; a grouped transaction waits for its shared fsync here).
    pub fn commit(self) -> Result<()> {
        self.commit_grouped()?.wait()
    }

    /// Commits; for a transaction begun with
    /// [`UnlockedStore::begin_grouped`](crate::UnlockedStore::begin_grouped), without waiting
    /// for the disk: the change is visible at once and durable once the returned
    /// [`Pending::wait`] returned `Ok` (one fsync shared by every commit waiting then: group
    /// commit, see [`crate::durable`]). Release the locks other writers need before waiting,
    /// and answer no one before it returned. For a transaction begun with
    /// [`UnlockedStore::begin`](crate::UnlockedStore::begin) the commit is durable already and
    /// the ticket returns at once.
    pub fn commit_grouped(mut self) -> Result<Pending> {
        let tx = self.tx.take().expect("an EscrowTx is open until committed");
        tx.commit()?;
        if !self.grouped {
            return Ok(Pending::durable(self.sync));
        }
        // Numbered before `self` drops and restores FULL: a failure to restore still leaves
        // this commit waiting for its fsync.
        Ok(self.sync.committed())
    }
}

impl Drop for EscrowTx<'_> {
    fn drop(&mut self) {
        // Rolls back if not committed.
        drop(self.tx.take());
        if self.grouped
            && let Some(sqlite) = self.conn.as_sqlite()
        {
            if let Err(e) = sqlite.pragma_update(None, "synchronous", "FULL") {
                // Cannot happen outside a transaction short of a broken connection; every
                // grouped commit still waits for its own fsync, and the next grouped begin
                // sets the level again.
                tracing::error!(error = %e, "could not restore synchronous = FULL");
            }
        }
    }
}

impl Deref for EscrowTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.tx()
    }
}

#[cfg(test)]
mod tests {
    use db::Backend;

    use crate::test_support::both;
    use crate::{KeyUsage, NewKey};

    fn store() -> (tempfile::TempDir, crate::UnlockedStore) {
        let tmp = tempfile::tempdir().unwrap();
        let s = crate::test_support::sqlite_store(tmp.path());
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
        both(|mut s| {
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
        });
    }

    #[test]
    fn commit_makes_keys_visible_with_the_callers_rows() {
        both(|mut s| {
            let id = {
                let tx = s.begin().unwrap();
                tx.execute_batch("CREATE TABLE side (k BIGINT)").unwrap();
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
            // A second transaction gets the next id; a batch gets consecutive ones in order.
            let tx = s.begin().unwrap();
            assert_eq!(tx.escrow(&key("bob")).unwrap().0, id.0 + 1);
            let batch = tx
                .escrow_batch(&[key("carol"), key("dave"), key("carol")])
                .unwrap();
            assert_eq!(
                batch.iter().map(|k| k.0).collect::<Vec<_>>(),
                [id.0 + 2, id.0 + 3, id.0 + 4]
            );
            tx.commit().unwrap();
            assert_eq!(s.keys_of("carol").unwrap()[1].info.id, batch[2]);
        });
    }

    #[test]
    fn a_grouped_transaction_on_postgresql_is_a_plain_one() {
        both(|mut s| {
            if s.store().backend() != Backend::Postgres {
                return;
            }
            let tx = s.begin_grouped().unwrap();
            tx.escrow(&key("erin")).unwrap();
            tx.commit_grouped().unwrap().wait().unwrap();
            assert_eq!(s.group_fsyncs(), 0);
            assert_eq!(s.keys_of("erin").unwrap().len(), 1);
        });
    }

    fn synchronous(s: &crate::UnlockedStore) -> i64 {
        s.store()
            .connection()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    // SQLite only: PRAGMA synchronous and the WAL file's fsync.
    #[test]
    fn grouped_commits_share_one_fsync_and_restore_full() {
        const FULL: i64 = 2;
        let (_tmp, mut s) = store();
        assert_eq!(synchronous(&s), FULL);
        let mut pending = Vec::new();
        for owner in ["a", "b", "c"] {
            let tx = s.begin_grouped().unwrap();
            tx.escrow(&key(owner)).unwrap();
            pending.push(tx.commit_grouped().unwrap());
            // Visible at once, and the connection is back to FULL for everyone else.
            assert_eq!(s.keys_of(owner).unwrap().len(), 1);
            assert_eq!(synchronous(&s), FULL);
        }
        assert_eq!(s.group_fsyncs(), 0);
        for p in pending {
            p.wait().unwrap();
        }
        // The first wait's fsync covered all three commits.
        assert_eq!(s.group_fsyncs(), 1);

        // A grouped transaction dropped uncommitted rolls back and restores FULL too.
        {
            let tx = s.begin_grouped().unwrap();
            tx.escrow(&key("d")).unwrap();
        }
        assert!(s.keys_of("d").unwrap().is_empty());
        assert_eq!(synchronous(&s), FULL);

        // A plain transaction's ticket is durable already: no fsync of ours.
        let tx = s.begin().unwrap();
        tx.escrow(&key("e")).unwrap();
        tx.commit_grouped().unwrap().wait().unwrap();
        assert_eq!(s.group_fsyncs(), 1);
        // And `commit` on a grouped transaction waits for its fsync.
        let tx = s.begin_grouped().unwrap();
        tx.escrow(&key("f")).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.group_fsyncs(), 2);
    }

    // SQLite only: the shared fsync of grouped commits.
    #[test]
    fn concurrent_waiters_are_all_answered() {
        let (_tmp, mut s) = store();
        let mut pending = Vec::new();
        for i in 0..16 {
            let tx = s.begin_grouped().unwrap();
            tx.escrow(&key(&format!("u{i}"))).unwrap();
            pending.push(tx.commit_grouped().unwrap());
        }
        std::thread::scope(|scope| {
            for p in pending {
                scope.spawn(move || p.wait().unwrap());
            }
        });
        let fsyncs = s.group_fsyncs();
        assert!((1..=16).contains(&fsyncs), "{fsyncs}");
        assert_eq!(s.list().unwrap().len(), 16);
    }
}
