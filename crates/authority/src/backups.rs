//! Scheduled and on-demand online backups of the store, kept N deep under
//! `DATA_DIR/backups`, and their verification.

use super::*;

impl Authority {
    // ---------------------------------------------------------------------------------
    // Backups.

    fn backup_dir(st: &State) -> std::path::PathBuf {
        st.store.store().data_dir().join("backups")
    }

    fn backup_files(dir: &Path) -> Result<Vec<BackupInfo>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::Corrupt(format!("reading {}: {e}", dir.display()))),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("kms-") && name.ends_with(".kmsbak") {
                out.push(BackupInfo {
                    path: e.path().display().to_string(),
                    bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
                    name,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Takes an encrypted backup into `DATA_DIR/backups` now and keeps the newest
    /// [`Config::backup_keep`] (administrator role; `None` for the scheduler).
    pub fn backup_now(&self, actor: Option<&Admin>) -> Result<BackupInfo> {
        let r = (|| {
            if let Some(a) = actor {
                a.require_administrator()?;
            }
            let st = self.lock();
            let dir = Self::backup_dir(&st);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Corrupt(format!("creating {}: {e}", dir.display())))?;
            let now = self.now();
            let secs = unix(now);
            let mut n = 0;
            let path = loop {
                let p = dir.join(format!("kms-{secs:012}-{n}.kmsbak"));
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            st.store.backup(&path)?;
            let files = Self::backup_files(&dir)?;
            let keep = self.config.backup_keep.max(1);
            if files.len() > keep {
                for old in &files[..files.len() - keep] {
                    if let Err(e) = std::fs::remove_file(&old.path) {
                        tracing::warn!(file = %old.path, error = %e, "cannot remove an old backup");
                    }
                }
            }
            Ok(BackupInfo {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                path: path.display().to_string(),
            })
        })();
        let who = actor.map_or("-", |a| a.name.as_str());
        let target = r.as_ref().map_or("-".to_string(), |b| b.name.clone());
        self.audited(who, "backup", &target, r)
    }

    /// Takes a scheduled backup when [`Config::backup_interval`] says one is due.
    pub fn backup_if_due(&self) -> Result<Option<BackupInfo>> {
        let Some(every) = self.config.backup_interval else {
            return Ok(None);
        };
        let newest = {
            let st = self.lock();
            Self::backup_files(&Self::backup_dir(&st))?
                .iter()
                .filter_map(|b| b.name.strip_prefix("kms-")?.get(..12)?.parse::<i64>().ok())
                .max()
        };
        let now = unix(self.now());
        if newest.is_some_and(|t| now - t < secs(every)) {
            return Ok(None);
        }
        self.backup_now(None).map(Some)
    }

    /// The backups in `DATA_DIR/backups`, oldest first (any role).
    pub fn backups(&self, _actor: &Admin) -> Result<Vec<BackupInfo>> {
        let st = self.lock();
        Self::backup_files(&Self::backup_dir(&st))
    }

    /// Checks a backup of this store completely with the master key in memory: every chunk,
    /// SQLite's integrity check, every escrowed key, and the audit chain inside (any role).
    /// `name` is a file in `DATA_DIR/backups`, by name or by path; nothing outside it.
    pub fn verify_backup(&self, actor: &Admin, name: &str) -> Result<BackupCheck> {
        let r = (|| {
            let st = self.lock();
            let dir = Self::backup_dir(&st);
            let candidate = if name.contains('/') {
                std::path::PathBuf::from(name)
            } else {
                dir.join(name)
            };
            // Only files inside DATA_DIR/backups: the server must not open arbitrary paths
            // for a caller (symlinks and `..` are resolved before the check).
            let path = match (candidate.canonicalize(), dir.canonicalize()) {
                (Ok(p), Ok(d)) if p.starts_with(&d) && p.is_file() => p,
                _ => {
                    return Err(Error::invalid(
                        "backup",
                        format!(
                            "{name} is not a backup in {} (kmsctl backup list)",
                            dir.display()
                        ),
                    ));
                }
            };
            let ca = certificate::public_key(st.issuer.certificate())?;
            let (report, audit) = st
                .store
                .verify_own_backup(&path, |conn| audit::verify(conn, &ca))?;
            Ok(BackupCheck {
                path: path.display().to_string(),
                keys: report.keys,
                owners: report.owners,
                unlock_methods: report.unlock_methods,
                database_bytes: report.database_bytes,
                audit: audit?,
            })
        })();
        self.audited(&actor.name, "backup.verify", name, r)
    }
}
