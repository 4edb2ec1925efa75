//! The authority's health: the codes and messages of storage faults (`AUTH-060`..`AUTH-065`),
//! the reasons it reports to `/healthz` ([`Authority::health`]), and the offline check of a
//! store that `kmsd check` runs ([`check_store`]): SQLite's full integrity check, its foreign
//! keys, every escrowed key authenticated, the agent-split keys' shares against their agent
//! set, and the CA key matching the CA certificate.

use std::path::Path;

use escrow::{CheckDepth, Credential, KeyId, StorageFault, Store, UnlockedStore};
use pki::certificate;

use crate::{Authority, Error, Result};

/// The authority's code for a storage fault.
pub(crate) fn storage_code(fault: StorageFault) -> &'static str {
    match fault {
        StorageFault::Full => "AUTH-060",
        StorageFault::ReadOnly => "AUTH-061",
        StorageFault::Busy => "AUTH-062",
        StorageFault::Damaged => "AUTH-063",
        StorageFault::Unreachable => "AUTH-065",
        _ => "AUTH-064",
    }
}

/// The message of [`Error::Database`]: the operator's message for a storage fault (the
/// database's own text was logged where the error was classified), the database's message
/// otherwise.
pub(crate) fn database_message(e: &db::DbError) -> String {
    match escrow::classify_db_error(e) {
        Some(fault) => fault.message().to_string(),
        None => format!("database: {e}"),
    }
}

impl Authority {
    /// Why the authority cannot serve at all, for an operator; `None` when it can. `/healthz`
    /// reports it as `unavailable` (503): the PostgreSQL database could not be reached at the
    /// last look (every second); the node reconnects by itself.
    pub fn unavailable(&self) -> Option<String> {
        (!self
            .database_reachable
            .load(std::sync::atomic::Ordering::Relaxed))
        .then(|| StorageFault::Unreachable.message().to_string())
    }

    /// Why the authority is not fully well, one sentence each for an operator; empty when
    /// all is well. `/healthz` reports these as its `reasons` (status `degraded`).
    ///
    /// This is the one place where the authority's own health checks are gathered: the CRL
    /// following the store and the audit anchor add their reasons here.
    pub fn health(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(lag) = self.crl_health() {
            reasons.push(lag);
        }
        if let Some(no_signer) = self.signer_reason() {
            reasons.push(no_signer);
        }
        reasons
    }
}

/// What `kmsd check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Problems the database's integrity and foreign-key checks found (empty: sound).
    pub integrity: Vec<String>,
    /// What the integrity check could not look at, and why (not damage): e.g. PostgreSQL
    /// without the `amcheck` extension.
    pub integrity_notes: Vec<String>,
    /// Where the store is: its data directory, or `postgres://USER@HOST:PORT/DB`.
    pub location: String,
    /// Escrowed keys decrypted and authenticated.
    pub keys_sound: u64,
    /// Their distinct owners.
    pub owners: u64,
    /// Escrowed keys that failed authentication or could not be decoded.
    pub keys_failed: Vec<KeyId>,
    /// What is wrong with the CA key, if anything.
    pub ca_problem: Option<String>,
    /// The agent-split keys checked against the agent set their shares were made for
    /// (never decrypting a share or a wrap key).
    pub split: crate::SplitCheck,
    /// The CA key that was checked: `software:<ski>` (in the store), or `token:<ski>` (on a
    /// token; the store holds only its reference).
    pub ca_key: Option<String>,
    /// A step that could not run, and why (the store would not open or unlock).
    pub not_checked: Option<String>,
}

impl CheckReport {
    /// Whether everything checked is sound and nothing was left unchecked.
    pub fn is_sound(&self) -> bool {
        self.integrity.is_empty()
            && self.keys_failed.is_empty()
            && self.ca_problem.is_none()
            && self.split.problems.is_empty()
            && self.not_checked.is_none()
    }
}

/// Checks the store in `data_dir` in full: SQLite's `integrity_check` and
/// `foreign_key_check` on a read-only connection, then, unlocked with `credential`, every
/// escrowed key decrypted and authenticated and the CA key matched with the CA certificate.
/// Changes nothing (beyond what opening a store does: pending migrations), and may run while
/// the server serves.
///
/// A wrong secret is an error ([`Error::BadSecret`]), never reported as damage.
pub fn check_store(data_dir: &Path, credential: &Credential) -> Result<CheckReport> {
    check_store_in(data_dir, None, credential)
}

/// [`check_store`] of the store in the PostgreSQL database `database` when given (this
/// node's files in `data_dir`): PostgreSQL's own checks (`amcheck` where installed) and the
/// same key, share and CA key checks.
pub fn check_store_in(
    data_dir: &Path,
    database: Option<&db::PgConfig>,
    credential: &Credential,
) -> Result<CheckReport> {
    let mut report = CheckReport {
        location: data_dir.display().to_string(),
        ..Default::default()
    };
    if database.is_none() {
        report.integrity = escrow::check_integrity(data_dir, CheckDepth::Full)?;
    }
    let opened = match database {
        Some(pg) => Store::open_database(pg, data_dir),
        None => Store::open(data_dir),
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) if e.storage_fault() == Some(StorageFault::Damaged) => {
            report.not_checked = Some(format!("the store does not open: [{}] {e}", e.code()));
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    if database.is_some() {
        let found = escrow::check_store_integrity(&store, CheckDepth::Full)?;
        report.integrity = found.problems;
        report.integrity_notes = found.notes;
        report.location = store.location();
    }
    let unlocked = match store.unlock(credential) {
        Ok(u) => u,
        Err(escrow::Error::BadSecret) => return Err(Error::BadSecret),
        Err(e) if e.storage_fault() == Some(StorageFault::Damaged) => {
            report.not_checked = Some(format!(
                "the store does not unlock: [{}] {e}",
                storage_code(StorageFault::Damaged)
            ));
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    match unlocked.check_keys() {
        Ok(keys) => {
            report.keys_sound = keys.sound.keys;
            report.owners = keys.sound.owners;
            report.keys_failed = keys.failed;
        }
        Err(e) => {
            report.not_checked = Some(format!(
                "the escrowed keys cannot be read: [{}] {e}",
                e.code()
            ))
        }
    }
    match crate::agents::check_split_keys(&unlocked) {
        Ok(split) => report.split = split,
        Err(e) => report.split.problems.push(format!(
            "the agent-split keys cannot be read: [{}] {e}",
            e.code()
        )),
    }
    match check_ca_key(&unlocked) {
        Ok(r) => report.ca_key = Some(r),
        Err(e) => report.ca_problem = Some(format!("[{}] {e}", e.code())),
    }
    Ok(report)
}

/// Decrypts the CA key and checks it is the key of the CA certificate; for a CA key on a
/// token, checks the escrowed reference names the CA certificate's key (the token itself is
/// not opened here). Returns the key's reference (`software:<ski>` or `token:<ski>`).
fn check_ca_key(store: &UnlockedStore) -> Result<String> {
    match crate::ca_key::read_stored(store)? {
        (ca_der, crate::ca_key::StoredCaKey::Software(key)) => {
            let issuer = pki::Issuer::new(certificate::parse_certificate(&ca_der)?, *key)?;
            Ok(issuer.signing_key().key_ref().to_string())
        }
        (ca_der, crate::ca_key::StoredCaKey::Token(r)) => {
            let cert = certificate::parse_certificate(&ca_der)?;
            let expected = pki::KeyRef::of(pki::KeyStore::Token, &certificate::public_key(&cert)?);
            if expected.to_string() != r {
                return Err(Error::Corrupt(format!(
                    "the CA key reference {r} does not name the CA certificate's key ({expected})"
                )));
            }
            Ok(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_have_their_own_codes_and_clean_messages() {
        let full = Error::Database(db::DbError::new(
            db::ErrorKind::Full,
            "database or disk is full",
        ));
        assert_eq!(full.code(), "AUTH-060");
        assert_eq!(full.storage_fault(), Some(StorageFault::Full));
        assert_eq!(full.to_string(), StorageFault::Full.message());
        let mut codes: Vec<_> = [
            StorageFault::Full,
            StorageFault::ReadOnly,
            StorageFault::Busy,
            StorageFault::Damaged,
            StorageFault::Io,
            StorageFault::Unreachable,
        ]
        .map(|f| Error::Storage(f).code())
        .to_vec();
        codes.dedup();
        assert_eq!(codes.len(), 6);
        let plain = Error::Database(db::DbError::new(db::ErrorKind::Sql, "no such table"));
        assert_eq!(plain.code(), "AUTH-018");
        assert_eq!(plain.storage_fault(), None);
        assert_eq!(
            Error::from(escrow::Error::Storage(StorageFault::Damaged)).code(),
            "AUTH-063"
        );
    }
}
