//! The audit anchor: the audit chain's head (seq and hash), MACed, kept in
//! `DATA_DIR/audit-anchor` outside the database, so that committed work that disappears from
//! the database (a lost or truncated write-ahead log, a store swapped for an older copy) is
//! found at unlock and by `audit verify` instead of passing silently.
//!
//! The file is rewritten (temporary file in the same directory, fsync, rename, fsync of the
//! directory) whenever the head moved: right after unlock, every second by a background
//! thread ([`Authority::spawn_anchor`]), on demand ([`Authority::anchor_now`], e.g. after a
//! commit), around a restore, and at a clean shutdown. It is written only after the head it
//! names committed, so it never runs ahead of a store that kept all its committed work.
//!
//! Format (text, one field a line, every line ending in `\n`):
//!
//! ```text
//! kms-audit-anchor/v1
//! store_id <hex>
//! seq <n>
//! hash <hex of the entry's chain hash; 64 zeros for an empty log>
//! at <Unix seconds>
//! mac <hex HMAC-SHA256 over every line above>
//! ```
//!
//! The MAC key is `HKDF-SHA256(master key, info = "kms-escrow/v1/audit-anchor-mac")`
//! ([`escrow::UnlockedStore::anchor_mac`]). A MAC rather than a CA signature: it is written
//! every second and after commits (an HMAC costs microseconds, an RSA-3072 signature
//! milliseconds and the CA key's use), it can only be checked by the unlocked authority
//! (which is where the check runs), and forging it needs the master key, which guards the CA
//! key as well. The setting `audit_anchor_written` records in the store that an anchor
//! exists; the setting `audit_anchor` holds a copy of the latest one so that every backup
//! carries its anchor inside its encrypted payload, and `kmsd restore` writes it back.

use super::*;

/// The anchor's file name in the data directory.
pub const ANCHOR_FILE: &str = "audit-anchor";
/// Its temporary file while being replaced.
const ANCHOR_TEMP: &str = ".audit-anchor.tmp";
const FIRST_LINE: &str = "kms-audit-anchor/v1";
/// Setting: an anchor was written for this store (a missing file is then worth a warning).
const WRITTEN_SETTING: &str = "audit_anchor_written";
/// Setting: the text of the latest anchor, carried in backups.
const COPY_SETTING: &str = "audit_anchor";

/// What the check of the anchor against the store found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorState {
    /// The anchor names an entry the store holds, with the same hash.
    Ok,
    /// No anchor was ever written for this store (a store made before anchors, or one just
    /// restored from a backup without one).
    NotWritten,
    /// The store says an anchor was written, but the file is gone (a warning).
    Missing,
    /// The file is malformed, of another store, or its MAC does not verify (a refusal).
    Invalid,
    /// The store lacks committed work the anchor names (a refusal).
    Rollback,
    /// A rollback or invalid anchor that the operator accepted (`--accept-rollback`).
    Accepted,
}

/// The result of checking the anchor (at unlock and in `audit verify`).
#[derive(Clone, Debug, Serialize)]
pub struct AnchorReport {
    /// What was found.
    pub state: AnchorState,
    /// True when the authority refuses to serve this store as it is.
    pub refused: bool,
    /// True for a warning (serving goes on).
    pub warning: bool,
    /// The `seq` the anchor names, when it could be read.
    pub anchor_seq: Option<i64>,
    /// When the anchor was written (Unix seconds), when it could be read.
    pub anchor_at: Option<i64>,
    /// The last `seq` of the chain in the database.
    pub head_seq: i64,
    /// A sentence for operators.
    pub message: String,
}

/// The head last written to the file (so unchanged heads are not rewritten).
#[derive(Default)]
pub(crate) struct Anchored(Mutex<Option<(i64, Vec<u8>)>>);

struct Anchor {
    store_id: String,
    seq: i64,
    hash: Vec<u8>,
    at: i64,
}

impl Anchor {
    fn body(&self) -> String {
        format!(
            "{FIRST_LINE}\nstore_id {}\nseq {}\nhash {}\nat {}\n",
            self.store_id,
            self.seq,
            hex::encode(&self.hash),
            self.at
        )
    }

    fn encode(&self, store: &UnlockedStore) -> String {
        let body = self.body();
        let mac = store.anchor_mac(body.as_bytes());
        format!("{body}mac {}\n", hex::encode(mac))
    }

    /// Parses `text` and checks its MAC; `Err` says what is wrong.
    fn parse(text: &str, store: &UnlockedStore) -> std::result::Result<Anchor, String> {
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        if lines.len() != 6 || lines[0] != FIRST_LINE {
            return Err("the anchor file is not in the expected format".into());
        }
        let field = |i: usize, name: &str| -> std::result::Result<&str, String> {
            lines[i]
                .strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .ok_or_else(|| format!("the anchor file has no {name} line where expected"))
        };
        let store_id = field(1, "store_id")?.to_string();
        let seq = field(2, "seq")?
            .parse::<i64>()
            .map_err(|_| "the anchor's seq is not a number".to_string())?;
        let hash = hex::decode(field(3, "hash")?)
            .ok()
            .filter(|h| h.len() == 32)
            .ok_or_else(|| "the anchor's hash is not 32 bytes of hex".to_string())?;
        let at = field(4, "at")?
            .parse::<i64>()
            .map_err(|_| "the anchor's time is not a number".to_string())?;
        let mac =
            hex::decode(field(5, "mac")?).map_err(|_| "the anchor's MAC is not hex".to_string())?;
        let anchor = Anchor {
            store_id,
            seq,
            hash,
            at,
        };
        if anchor.store_id != store.store().store_id() {
            return Err(format!(
                "the anchor file belongs to another store ({})",
                anchor.store_id
            ));
        }
        if !store.anchor_mac_verify(anchor.body().as_bytes(), &mac) {
            return Err(
                "the anchor file's MAC does not verify: it was altered or forged".to_string(),
            );
        }
        if seq < 0 {
            return Err("the anchor's seq is negative".into());
        }
        Ok(anchor)
    }
}

/// The chain head in the database: (seq, hash); (0, zeros) for an empty log.
fn db_head(conn: &Connection) -> Result<(i64, Vec<u8>)> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, vec![0; 32])))
}

/// Writes `contents` to `dir/ANCHOR_FILE` atomically and durably (mode 0600).
fn write_atomically(dir: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temp = dir.join(ANCHOR_TEMP);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&temp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&temp, dir.join(ANCHOR_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

impl Authority {
    /// Writes the anchor file now if the chain head moved since it was last written; true
    /// when it wrote. Cheap when nothing changed (one indexed query): call it after commits.
    pub fn anchor_now(&self) -> Result<bool> {
        let st = self.lock();
        self.anchor_locked(&st)
    }

    /// [`Authority::anchor_now`] under the state lock already held.
    pub(crate) fn anchor_locked(&self, st: &State) -> Result<bool> {
        let conn = st.store.store().connection();
        let (seq, hash) = db_head(conn)?;
        let mut last = self.anchored.0.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_some_and(|(s, h)| *s == seq && *h == hash) {
            return Ok(false);
        }
        let anchor = Anchor {
            store_id: st.store.store().store_id(),
            seq,
            hash: hash.clone(),
            at: unix(self.now()),
        };
        let text = anchor.encode(&st.store);
        let dir = st.store.store().data_dir();
        write_atomically(dir, text.as_bytes()).map_err(|e| {
            Error::Corrupt(format!(
                "cannot write the audit anchor {}: {e}",
                dir.join(ANCHOR_FILE).display()
            ))
        })?;
        // Recorded in the store (and copied into every backup) with the head it names; this
        // write does not move the chain head.
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, '1'), (?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![WRITTEN_SETTING, COPY_SETTING, text],
        )?;
        *last = Some((seq, hash));
        Ok(true)
    }

    /// Checks the anchor file against the store (any role through `audit verify`).
    pub fn check_anchor(&self) -> Result<AnchorReport> {
        let st = self.lock();
        check_locked(&st)
    }

    /// Starts the background thread that writes the anchor every `every` while this
    /// authority lives (it holds only a weak reference and ends after the authority is gone).
    pub fn spawn_anchor(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("audit-anchor".into())
            .spawn(move || {
                let mut failing = false;
                loop {
                    std::thread::sleep(every);
                    let Some(auth) = weak.upgrade() else { break };
                    match auth.anchor_now() {
                        Ok(_) => failing = false,
                        Err(e) if !failing => {
                            failing = true;
                            tracing::error!(error = %e, "cannot write the audit anchor");
                        }
                        Err(_) => {}
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the audit anchor thread");
        }
    }

    /// At unlock: checks the anchor; a refusal ends the unlock unless
    /// [`Config::accept_rollback`], which records the acceptance in the audit log; a missing
    /// anchor is a warning, also recorded. Then writes the anchor of the head as it is.
    pub(crate) fn check_anchor_at_unlock(&self) -> Result<AnchorReport> {
        let st = self.lock();
        let mut report = check_locked(&st)?;
        let conn = st.store.store().connection();
        let now = unix(self.now());
        let note = |action: &str, report: &AnchorReport| -> Result<()> {
            audit::append(
                conn,
                &audit::Record {
                    at: now,
                    actor: "-",
                    action,
                    target: &format!(
                        "anchor seq {} against database head {}: {}",
                        report
                            .anchor_seq
                            .map_or_else(|| "-".to_string(), |s| s.to_string()),
                        report.head_seq,
                        report.message
                    ),
                    refusal: None,
                    pending: false,
                },
            )?;
            Ok(())
        };
        if report.refused {
            if !self.config.accept_rollback {
                tracing::error!(state = ?report.state, "{}", report.message);
                return Err(match report.state {
                    AnchorState::Rollback => Error::AnchorRollback(report.message),
                    _ => Error::AnchorInvalid(report.message),
                });
            }
            tracing::warn!(state = ?report.state, "accepted on the operator's word (--accept-rollback): {}", report.message);
            note("audit.accept-rollback", &report)?;
            report.state = AnchorState::Accepted;
            report.refused = false;
            report.warning = true;
        } else if report.warning {
            tracing::warn!("{}", report.message);
            note("audit.anchor-missing", &report)?;
        }
        // A full or read-only disk is reported by the storage checks; it does not stop the
        // unlock (the background thread retries every second).
        if let Err(e) = self.anchor_locked(&st) {
            tracing::error!(error = %e, "cannot write the audit anchor at unlock");
        }
        Ok(report)
    }
}

/// Checks the anchor file of the store held by `st`.
pub(crate) fn check_locked(st: &State) -> Result<AnchorReport> {
    let conn = st.store.store().connection();
    let (head_seq, _) = db_head(conn)?;
    let path = st.store.store().data_dir().join(ANCHOR_FILE);
    let report = |state: AnchorState, anchor: Option<&Anchor>, message: String| AnchorReport {
        state,
        refused: matches!(state, AnchorState::Invalid | AnchorState::Rollback),
        warning: state == AnchorState::Missing,
        anchor_seq: anchor.map(|a| a.seq),
        anchor_at: anchor.map(|a| a.at),
        head_seq,
        message,
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // On PostgreSQL each node keeps its own anchor of the chain as it saw it: a node
            // that never wrote one (a new node, `kmsd join`) has none, and the store-wide
            // record says nothing about this node.
            let written = conn.backend() == db::Backend::Sqlite
                && conn
                    .query_row(
                        "SELECT value FROM settings WHERE key = ?1",
                        [WRITTEN_SETTING],
                        |r| r.get::<String>(0),
                    )
                    .optional()?
                    .is_some();
            return Ok(if written {
                report(
                    AnchorState::Missing,
                    None,
                    format!(
                        "the audit anchor file {ANCHOR_FILE} is missing from the data directory \
                         although one was written for this store: committed work lost since \
                         then cannot be detected; a new anchor is written now"
                    ),
                )
            } else {
                report(
                    AnchorState::NotWritten,
                    None,
                    "no audit anchor was written for this store yet".into(),
                )
            });
        }
        Err(e) => {
            return Ok(report(
                AnchorState::Invalid,
                None,
                format!("the audit anchor file {ANCHOR_FILE} cannot be read: {e}"),
            ));
        }
    };
    let text = String::from_utf8_lossy(&text);
    let anchor = match Anchor::parse(&text, &st.store) {
        Ok(a) => a,
        Err(why) => {
            return Ok(report(
                AnchorState::Invalid,
                None,
                format!("{why} (file {ANCHOR_FILE} in the data directory); refusing to serve"),
            ));
        }
    };
    let lost = |detail: String| {
        format!(
            "committed work is missing: {detail}: the write-ahead log was lost or truncated, or \
             the store was replaced by an older copy; restore the latest backup (kmsd restore), \
             or start once with --accept-rollback if this store was put back on purpose"
        )
    };
    let stored: Option<Vec<u8>> = if anchor.seq == 0 {
        Some(vec![0; 32])
    } else {
        conn.query_row(
            "SELECT hash FROM audit_log WHERE seq = ?1",
            [anchor.seq],
            |r| r.get(0),
        )
        .optional()?
    };
    match stored {
        Some(h) if h == anchor.hash => Ok(report(
            AnchorState::Ok,
            Some(&anchor),
            format!(
                "the audit anchor (entry {}) matches the store (head {head_seq})",
                anchor.seq
            ),
        )),
        _ if restored_over(conn, &anchor)? => Ok(report(
            AnchorState::Ok,
            Some(&anchor),
            format!(
                "the store was restored from a backup over the anchored head (entry {}); \
                 re-anchored",
                anchor.seq
            ),
        )),
        None => Ok(report(
            AnchorState::Rollback,
            Some(&anchor),
            lost(format!(
                "the audit anchor written at {} names entry {} but the database ends at entry \
                 {head_seq}",
                anchor.at, anchor.seq
            )),
        )),
        Some(_) => Ok(report(
            AnchorState::Rollback,
            Some(&anchor),
            lost(format!(
                "entry {} in the database differs from the one the audit anchor written at {} \
                 names",
                anchor.seq, anchor.at
            )),
        )),
    }
}

/// Whether a restore through the product replaced exactly the anchored head (its `restore`
/// entry names the head it replaced).
fn restored_over(conn: &Connection, anchor: &Anchor) -> Result<bool> {
    let needle = format!(
        "replaced audit head {}:{}",
        anchor.seq,
        hex::encode(&anchor.hash)
    );
    let contains = match conn.backend() {
        db::Backend::Sqlite => "instr(target, ?1) > 0",
        db::Backend::Postgres => "strpos(target, ?1) > 0",
    };
    Ok(conn.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM audit_log WHERE action = 'restore' AND outcome = 'ok'
                            AND {contains})"
        ),
        [needle],
        |r| r.get(0),
    )?)
}

/// After `kmsd restore` into a new data directory: writes the anchor the backup carries
/// (the store's head when the backup was taken, MACed with the same master key) back to
/// `DATA_DIR/audit-anchor`. A backup made before backups carried anchors has none: the
/// store is then marked as never anchored (no false warning), and the first unlock anchors
/// it. Returns whether an anchor was written.
pub fn restore_anchor_file(store: &Store) -> Result<bool> {
    let conn = store.connection();
    let copy: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [COPY_SETTING],
            |r| r.get(0),
        )
        .optional()?;
    let Some(text) = copy else {
        conn.execute("DELETE FROM settings WHERE key = ?1", [WRITTEN_SETTING])?;
        return Ok(false);
    };
    let dir = store.data_dir();
    write_atomically(dir, text.as_bytes()).map_err(|e| {
        Error::Corrupt(format!(
            "cannot write the audit anchor {}: {e}",
            dir.join(ANCHOR_FILE).display()
        ))
    })?;
    Ok(true)
}
