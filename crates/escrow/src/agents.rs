//! The agent-split escrow (`migrations/sqlite/0013_recovery_agents.sql`): turning an escrowed key's
//! row into its agent-split form (scheme 2) and storing each agent's sealed share under the
//! master key, reading an agent's shares back, and re-making shares. The cryptography of the
//! split itself (wrap key, Shamir, HPKE) is the caller's (`pki::quorum`): this crate never
//! sees a wrap key or a share in the clear, only what is already sealed to an agent.

use db::{Backend, Connection, OptionalExtension, params};

use crate::crypto::{Aad, Aead, NONCE_LEN};
use crate::error::{Error, Result};
use crate::secret::random_array;
use crate::store::{self, EscrowedKey, KeyId, ROW_SCHEME_SPLIT, UnlockedStore};
use crate::tx::EscrowTx;

/// Domain label of a stored share's associated data.
const SHARE_AAD_LABEL: &str = "kms-escrow/v1/agent-share";

/// One agent's share of one key, already sealed to the agent (HPKE; opaque here).
#[derive(Debug, Clone)]
pub struct AgentShare {
    /// The agent (`recovery_agents.id`).
    pub agent_id: i64,
    /// The share sealed to the agent's public key.
    pub sealed: Vec<u8>,
}

/// One agent-split key as a check sees it (`kmsd check`): only the master-key layer is
/// authenticated; no share sealed to an agent is ever opened, no wrap key rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitKeyRow {
    /// The escrowed key.
    pub key: KeyId,
    /// The threshold its shares were made with.
    pub threshold: i64,
    /// When its shares were made (Unix seconds).
    pub split_at: i64,
    /// Whether its escrowed row is in the agent-split form (scheme 2); false also when the
    /// row is missing.
    pub row_split: bool,
    /// Each stored share, by agent id: the length of the share sealed to the agent, or
    /// `None` when its master-key layer failed authentication.
    pub shares: Vec<(i64, Option<usize>)>,
}

fn share_aad(key: KeyId, agent_id: i64) -> Aad {
    let mut aad = Aad::new(SHARE_AAD_LABEL);
    aad.int(key.0).int(agent_id);
    aad
}

fn insert_shares(conn: &Connection, rows: &Aead, id: KeyId, shares: &[AgentShare]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO key_shares (key_id, agent_id, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for s in shares {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let ct = rows.seal(&nonce, share_aad(id, s.agent_id).as_slice(), &s.sealed)?;
        stmt.execute(params![id.0, s.agent_id, &nonce[..], ct])?;
    }
    Ok(())
}

impl EscrowTx<'_> {
    /// One escrowed key by id, decrypted, inside this transaction.
    pub fn key(&self, id: KeyId) -> Result<Option<EscrowedKey>> {
        store::read_key(self.tx(), self.rows, id)
    }

    /// Replaces key `id`'s master-key-only copy by its agent-split form: `wrapped` (the key
    /// under a wrap key, `pki::quorum::wrap`) goes under the master key in place of the
    /// PKCS#8, and each agent's sealed share is stored under the master key. The old
    /// ciphertext is overwritten in the same row (the store runs with `secure_delete`).
    /// Refused for a key already split.
    pub fn split_key(
        &self,
        id: KeyId,
        wrapped: &[u8],
        threshold: i64,
        shares: &[AgentShare],
        now: i64,
    ) -> Result<()> {
        let (nonce, ct) = self.seal_wrapped(id, wrapped, threshold, shares, false)?;
        let n = self.tx().execute(
            "UPDATE escrowed_keys SET scheme = ?2, nonce = ?3, ciphertext = ?4
             WHERE id = ?1 AND scheme = 1",
            params![id.0, ROW_SCHEME_SPLIT, &nonce[..], ct],
        )?;
        if n != 1 {
            return Err(Error::agent_split(id, "the row changed under the split"));
        }
        self.tx().execute(
            "INSERT INTO split_keys (key_id, threshold, split_at) VALUES (?1, ?2, ?3)",
            params![id.0, threshold, now],
        )?;
        insert_shares(self.tx(), self.rows, id, shares)
    }

    /// Re-makes an already split key's shares (after the agent set changed): the old shares
    /// are deleted, `shares` stored, and the key's row takes the new `wrapped` form (a new
    /// wrap key: the old shares open nothing any more).
    pub fn reshare_key(
        &self,
        id: KeyId,
        wrapped: &[u8],
        threshold: i64,
        shares: &[AgentShare],
        now: i64,
    ) -> Result<()> {
        let (nonce, ct) = self.seal_wrapped(id, wrapped, threshold, shares, true)?;
        self.tx().execute(
            "UPDATE escrowed_keys SET nonce = ?2, ciphertext = ?3 WHERE id = ?1",
            params![id.0, &nonce[..], ct],
        )?;
        self.tx()
            .execute("DELETE FROM key_shares WHERE key_id = ?1", [id.0])?;
        self.tx().execute(
            "UPDATE split_keys SET threshold = ?2, split_at = ?3 WHERE key_id = ?1",
            params![id.0, threshold, now],
        )?;
        insert_shares(self.tx(), self.rows, id, shares)
    }

    /// Checks key `id` for a split (`split`: it must be split already, else not yet) with
    /// `shares` and `threshold`, and seals `wrapped` under the master key as that row's new
    /// ciphertext: (nonce, ciphertext).
    fn seal_wrapped(
        &self,
        id: KeyId,
        wrapped: &[u8],
        threshold: i64,
        shares: &[AgentShare],
        split: bool,
    ) -> Result<([u8; NONCE_LEN], Vec<u8>)> {
        let key = self
            .key(id)?
            .ok_or_else(|| Error::agent_split(id, "no such key"))?;
        match (key.agent_split.is_some(), split) {
            (true, false) => {
                return Err(Error::agent_split(id, "already split among the agents"));
            }
            (false, true) => return Err(Error::agent_split(id, "not split among the agents yet")),
            _ => {}
        }
        if (shares.len() as i64) < threshold || threshold < 2 {
            return Err(Error::invalid(
                "shares",
                "fewer shares than the threshold, or a threshold below 2",
            ));
        }
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let aad = store::row_aad(id, &key.info.owner, key.info.usage.as_str());
        let ct = self.rows.seal(&nonce, aad.as_slice(), wrapped)?;
        Ok((nonce, ct))
    }
}

impl UnlockedStore {
    /// Agent `agent_id`'s sealed shares of `keys` (those it has), in the order asked. Each
    /// row is authenticated under the master key; [`Error::ShareTampered`] if one fails.
    pub fn agent_shares(&self, agent_id: i64, keys: &[KeyId]) -> Result<Vec<(KeyId, Vec<u8>)>> {
        let conn = self.store().connection();
        let mut stmt = conn.prepare_cached(
            "SELECT nonce, ciphertext FROM key_shares WHERE key_id = ?1 AND agent_id = ?2",
        )?;
        let mut out = Vec::new();
        for &id in keys {
            let row: Option<(Vec<u8>, Vec<u8>)> = stmt
                .query_row(params![id.0, agent_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((nonce, ct)) = row else { continue };
            let tampered = || Error::ShareTampered {
                key_id: id,
                agent_id,
            };
            let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| tampered())?;
            let sealed = self
                .row_cipher()
                .open(&nonce, share_aad(id, agent_id).as_slice(), &ct)
                .ok_or_else(tampered)?;
            out.push((id, sealed.expose().to_vec()));
        }
        Ok(out)
    }

    /// Every agent-split key with its stored shares, each share's master-key layer
    /// authenticated (the share inside, sealed to its agent, stays sealed and is dropped at
    /// once), and the escrowed keys in the agent-split form that `split_keys` does not list.
    pub fn split_key_rows(&self) -> Result<(Vec<SplitKeyRow>, Vec<KeyId>)> {
        let conn = self.store().connection();
        let mut keys: Vec<SplitKeyRow> = {
            let mut stmt = conn.prepare(
                "SELECT s.key_id, s.threshold, s.split_at,
                        coalesce((SELECT scheme FROM escrowed_keys k WHERE k.id = s.key_id), 0)
                 FROM split_keys s ORDER BY s.key_id",
            )?;
            stmt.query_map([], |r| {
                Ok(SplitKeyRow {
                    key: KeyId(r.get(0)?),
                    threshold: r.get(1)?,
                    split_at: r.get(2)?,
                    row_split: r.get::<i64>(3)? == ROW_SCHEME_SPLIT,
                    shares: Vec::new(),
                })
            })?
            .collect::<db::Result<_>>()?
        };
        let mut at = 0;
        conn.query_each(
            "SELECT key_id, agent_id, nonce, ciphertext FROM key_shares ORDER BY key_id, agent_id",
            [],
            |row| {
                let id = KeyId(row.get(0)?);
                let agent_id: i64 = row.get(1)?;
                let nonce: Vec<u8> = row.get(2)?;
                let ct: Vec<u8> = row.get(3)?;
                let len = <[u8; NONCE_LEN]>::try_from(nonce.as_slice())
                    .ok()
                    .and_then(|n| {
                        self.row_cipher()
                            .open(&n, share_aad(id, agent_id).as_slice(), &ct)
                    })
                    .map(|sealed| sealed.expose().len());
                while at < keys.len() && keys[at].key.0 < id.0 {
                    at += 1;
                }
                // A share of a key split_keys does not list has no place: the foreign key
                // check reports it.
                if let Some(k) = keys.get_mut(at).filter(|k| k.key == id) {
                    k.shares.push((agent_id, len));
                }
                Ok(())
            },
        )?;
        let unlisted: Vec<KeyId> = {
            let mut stmt = conn.prepare(
                "SELECT id FROM escrowed_keys WHERE scheme = ?1
                 AND id NOT IN (SELECT key_id FROM split_keys) ORDER BY id",
            )?;
            stmt.query_map([ROW_SCHEME_SPLIT], |r| Ok(KeyId(r.get(0)?)))?
                .collect::<db::Result<_>>()?
        };
        Ok((keys, unlisted))
    }

    /// Moves the WAL's content into the database file and truncates the WAL, so that a row
    /// rewritten since (an agent split) leaves no older copy in the WAL (best effort: a
    /// reader holding a snapshot makes it partial; the next checkpoint completes it).
    /// PostgreSQL keeps its own write-ahead log (nothing to do here).
    pub fn checkpoint(&self) -> Result<()> {
        let conn = self.store().connection();
        if conn.backend() == Backend::Sqlite {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use db::Backend;

    use crate::test_support::both;
    use crate::{KeyId, KeyUsage, NewKey};

    use super::AgentShare;

    fn agents(s: &mut crate::UnlockedStore, n: usize) -> Vec<i64> {
        (0..n)
            .map(|i| {
                s.connection_mut()
                    .query_row(
                        "INSERT INTO recovery_agents (name, public_key, added_at, added_by)
                         VALUES (?1, ?2, 1, 'test') RETURNING id",
                        db::params![format!("agent{i}"), vec![i as u8 + 1; 32]],
                        |r| r.get(0),
                    )
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_split_key_no_longer_holds_the_pkcs8_and_its_shares_round_trip() {
        both(|mut s| {
            let ids = agents(&mut s, 3);
            let secret = b"the PKCS#8 of a key that must vanish from the store".to_vec();
            let tx = s.begin().unwrap();
            let id = tx
                .escrow(&NewKey {
                    owner: "alice",
                    usage: KeyUsage::Encryption,
                    private_key_der: &secret,
                    certificate_der: None,
                    created_at: 1,
                })
                .unwrap();
            let shares: Vec<AgentShare> = ids
                .iter()
                .map(|&a| AgentShare {
                    agent_id: a,
                    sealed: vec![a as u8; 50],
                })
                .collect();
            tx.split_key(id, b"wrapped form, opaque here", 2, &shares, 5)
                .unwrap();
            // Twice is refused.
            assert!(tx.split_key(id, b"again", 2, &shares, 5).is_err());
            tx.commit().unwrap();

            let k = s.key(id).unwrap().unwrap();
            assert!(k.private_key_der.is_empty());
            assert_eq!(
                k.agent_split.as_ref().unwrap().expose(),
                b"wrapped form, opaque here"
            );
            assert_eq!(s.verify_keys().unwrap().keys, 1);
            let got = s.agent_shares(ids[1], &[id, KeyId(99)]).unwrap();
            assert_eq!(got, vec![(id, vec![ids[1] as u8; 50])]);

            // Another agent's share row copied onto this agent's fails authentication.
            s.connection_mut()
                .execute(
                    "UPDATE key_shares SET ciphertext = (SELECT ciphertext FROM key_shares
                     WHERE agent_id = ?1) WHERE agent_id = ?2",
                    [ids[0], ids[1]],
                )
                .unwrap();
            assert!(matches!(
                s.agent_shares(ids[1], &[id]),
                Err(crate::Error::ShareTampered { .. })
            ));

            // The old PKCS#8 is nowhere in the database file once checkpointed (SQLite: the
            // store's own file; PostgreSQL's pages are the server's).
            s.checkpoint().unwrap();
            if s.store().backend() != Backend::Sqlite {
                return;
            }
            let db = std::fs::read(s.store().data_dir().join(crate::DB_FILE_NAME)).unwrap();
            assert!(!db.windows(secret.len()).any(|w| w == secret.as_slice()));
        });
    }

    #[test]
    fn split_key_rows_authenticate_each_share_without_opening_it() {
        both(|mut s| {
            let ids = agents(&mut s, 3);
            let tx = s.begin().unwrap();
            let id = tx
                .escrow(&NewKey {
                    owner: "carol",
                    usage: KeyUsage::Encryption,
                    private_key_der: b"key",
                    certificate_der: None,
                    created_at: 1,
                })
                .unwrap();
            let shares: Vec<AgentShare> = ids
                .iter()
                .map(|&a| AgentShare {
                    agent_id: a,
                    sealed: vec![7; 81],
                })
                .collect();
            tx.split_key(id, b"w", 2, &shares, 9).unwrap();
            tx.commit().unwrap();
            let (rows, unlisted) = s.split_key_rows().unwrap();
            assert!(unlisted.is_empty());
            assert_eq!(rows.len(), 1);
            let r = &rows[0];
            assert_eq!(
                (r.key, r.threshold, r.split_at, r.row_split),
                (id, 2, 9, true)
            );
            let want: Vec<(i64, Option<usize>)> = ids.iter().map(|&a| (a, Some(81))).collect();
            assert_eq!(r.shares, want);

            // A share row altered fails; a split row no record lists is reported.
            s.connection_mut()
                .execute(
                    "UPDATE key_shares SET nonce = ?2 WHERE agent_id = ?1",
                    db::params![ids[2], vec![0u8; 12]],
                )
                .unwrap();
            let (rows, _) = s.split_key_rows().unwrap();
            assert_eq!(rows[0].shares[2], (ids[2], None));
            assert_eq!(rows[0].shares[..2], want[..2]);
            s.connection_mut()
                .execute_batch("DELETE FROM key_shares; DELETE FROM split_keys;")
                .unwrap();
            let (rows, unlisted) = s.split_key_rows().unwrap();
            assert!(rows.is_empty());
            assert_eq!(unlisted, vec![id]);
        });
    }

    #[test]
    fn reshare_replaces_every_share() {
        both(|mut s| {
            let ids = agents(&mut s, 3);
            let tx = s.begin().unwrap();
            let id = tx
                .escrow(&NewKey {
                    owner: "bob",
                    usage: KeyUsage::Encryption,
                    private_key_der: b"key",
                    certificate_der: None,
                    created_at: 1,
                })
                .unwrap();
            let mk = |v: u8| -> Vec<AgentShare> {
                ids.iter()
                    .map(|&a| AgentShare {
                        agent_id: a,
                        sealed: vec![v; 40],
                    })
                    .collect()
            };
            assert!(tx.reshare_key(id, b"w", 2, &mk(1), 1).is_err());
            tx.split_key(id, b"w1", 2, &mk(1), 1).unwrap();
            tx.reshare_key(id, b"w2", 3, &mk(2), 2).unwrap();
            tx.commit().unwrap();
            assert_eq!(
                s.key(id).unwrap().unwrap().agent_split.unwrap().expose(),
                b"w2"
            );
            assert_eq!(s.agent_shares(ids[0], &[id]).unwrap()[0].1, vec![2u8; 40]);
        });
    }
}
