//! The backup schedule as an authority setting (`settings` row `backup_schedule`, set under
//! the `backup-schedule` quorum), which wins over the server's `kmsd.toml` once set; and the
//! server's settings file carried inside every backup (`settings` row `server_settings`).

use super::*;

/// The `settings` key of the stored schedule: `every=SECONDS|off keep=N`.
const SCHEDULE_KEY: &str = "backup_schedule";
/// The `settings` key of the server's settings file (`kmsd.toml`) as of the newest backup.
pub const SERVER_SETTINGS_KEY: &str = "server_settings";
/// The shortest interval accepted between scheduled backups.
pub const MIN_BACKUP_INTERVAL: Duration = Duration::from_secs(60);
/// The most backups kept.
pub const MAX_BACKUP_KEEP: usize = 10_000;
/// The largest settings file carried in a backup.
pub const MAX_SERVER_SETTINGS: usize = 64 * 1024;

/// The backup schedule in effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupSchedule {
    /// True when backups are taken on a schedule.
    pub enabled: bool,
    /// Seconds between scheduled backups (`None`: off).
    pub every: Option<u64>,
    /// Backups kept in `DATA_DIR/backups` (older ones are deleted after each new one).
    pub keep: usize,
    /// When the next scheduled backup is due, Unix seconds (`None`: off).
    pub next_at: Option<i64>,
    /// When the newest backup was taken, Unix seconds (`None`: none yet).
    pub last_at: Option<i64>,
    /// Where the schedule comes from: `setting` (set through the API) or `config`
    /// (`kmsd.toml`, until a setting is made).
    pub source: &'static str,
}

/// A stored schedule: the interval (`None`: off) and how many backups to keep.
type Stored = (Option<u64>, usize);

fn parse_stored(value: &str) -> Option<Stored> {
    let mut every = None;
    let mut keep = None;
    for part in value.split_whitespace() {
        match part.split_once('=')? {
            ("every", "off") => every = Some(None),
            ("every", n) => every = Some(Some(n.parse().ok()?)),
            ("keep", n) => keep = Some(n.parse().ok()?),
            _ => return None,
        }
    }
    Some((every?, keep?))
}

fn format_stored((every, keep): Stored) -> String {
    match every {
        Some(s) => format!("every={s} keep={keep}"),
        None => format!("every=off keep={keep}"),
    }
}

fn stored(conn: &Connection) -> Result<Option<Stored>> {
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [SCHEDULE_KEY],
            |r| r.get(0),
        )
        .optional()?;
    value
        .map(|v| {
            parse_stored(&v)
                .ok_or_else(|| Error::Corrupt(format!("setting {SCHEDULE_KEY} is malformed: {v}")))
        })
        .transpose()
}

/// The newest backup's time, from its name (`kms-<unix seconds>-...`).
pub(crate) fn newest_backup_at(files: &[BackupInfo]) -> Option<i64> {
    files
        .iter()
        .filter_map(|b| b.name.strip_prefix("kms-")?.get(..12)?.parse::<i64>().ok())
        .max()
}

impl Authority {
    /// The schedule in effect: the stored setting when one was made, else the configuration
    /// (`kmsd.toml`): the interval (`None`: off), how many to keep, and where it comes from.
    pub(crate) fn effective_schedule(
        &self,
        conn: &Connection,
    ) -> Result<(Option<u64>, usize, &'static str)> {
        Ok(match stored(conn)? {
            Some((every, keep)) => (every, keep.max(1), "setting"),
            None => (
                self.config.backup_interval.map(|d| d.as_secs().max(1)),
                self.config.backup_keep.max(1),
                "config",
            ),
        })
    }

    /// The backup schedule in effect, with the newest backup and the next one due (any role).
    pub fn backup_schedule(&self, _actor: &Admin) -> Result<BackupSchedule> {
        self.schedule_view()
    }

    /// The schedule in effect, for the server's start-up line and the status page.
    pub fn schedule_view(&self) -> Result<BackupSchedule> {
        let st = self.lock();
        let (every, keep, source) = self.effective_schedule(st.store.store().connection())?;
        let last_at = newest_backup_at(&Self::backup_files(&Self::backup_dir(&st))?);
        let now = unix(self.now());
        let next_at = every.map(|e| {
            last_at.map_or(now, |t| {
                t.saturating_add(i64::try_from(e).unwrap_or(i64::MAX / 2))
                    .max(now)
            })
        });
        Ok(BackupSchedule {
            enabled: every.is_some(),
            every,
            keep,
            next_at,
            last_at,
            source,
        })
    }

    /// Sets the backup schedule: a backup every `every` (`None`: off), the newest `keep`
    /// kept (administrator role, under the `backup-schedule` quorum; audited as
    /// `backup.schedule`). The setting wins over `kmsd.toml` from now on.
    pub fn set_backup_schedule(
        &self,
        actor: &Admin,
        every: Option<Duration>,
        keep: usize,
    ) -> Result<BackupSchedule> {
        let value = format_stored((every.map(|d| d.as_secs()), keep));
        let target = value.replace(' ', ",");
        self.audit_op(&actor.name, "backup.schedule", &target, |rec| {
            actor.require_administrator()?;
            if every.is_some_and(|d| d < MIN_BACKUP_INTERVAL || d.as_secs() > 100 * 365 * 86400) {
                return Err(Error::invalid(
                    "backup interval",
                    format!(
                        "give at least {} seconds and at most 100 years, or null to turn the \
                         schedule off",
                        MIN_BACKUP_INTERVAL.as_secs()
                    ),
                ));
            }
            if keep == 0 || keep > MAX_BACKUP_KEEP {
                return Err(Error::invalid(
                    "backups kept",
                    format!("give 1 to {MAX_BACKUP_KEEP}"),
                ));
            }
            self.gate(rec, actor, "backup-schedule", &target)?;
            {
                let mut st = self.lock();
                let tx = st.store.connection_mut().transaction()?;
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![SCHEDULE_KEY, value],
                )?;
                audit::commit(tx, rec, unix(self.now()))?;
            }
            tracing::info!(admin = %actor.name, schedule = %value, "backup schedule set");
            self.schedule_view()
        })
    }

    /// Records the server's settings file (`kmsd.toml`, `None`: there is none) in the store,
    /// so that the next backup carries it; `kmsd restore` writes it back. Called before each
    /// backup with the state lock held.
    pub(crate) fn stash_server_settings(st: &mut State) -> Result<()> {
        let path = st.store.store().data_dir().join(SERVER_SETTINGS_FILE);
        let text = match std::fs::read(&path) {
            Ok(b) if b.len() <= MAX_SERVER_SETTINGS => {
                // Callers see the file's name; the log keeps the path.
                Some(String::from_utf8(b).map_err(|_| {
                    tracing::warn!(path = %path.display(), "the server settings file is not UTF-8");
                    Error::invalid(
                        "server settings",
                        format!("{SERVER_SETTINGS_FILE} is not UTF-8 text"),
                    )
                })?)
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "the server settings file is too large");
                return Err(Error::invalid(
                    "server settings",
                    format!("{SERVER_SETTINGS_FILE} is larger than {MAX_SERVER_SETTINGS} bytes"),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::Corrupt(format!("reading {}: {e}", path.display()))),
        };
        let conn = st.store.store().connection();
        match text {
            Some(t) => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![SERVER_SETTINGS_KEY, t],
            )?,
            None => conn.execute("DELETE FROM settings WHERE key = ?1", [SERVER_SETTINGS_KEY])?,
        };
        Ok(())
    }
}

/// The server's settings file in the data directory, carried in backups.
pub const SERVER_SETTINGS_FILE: &str = "kmsd.toml";

/// The server's settings file carried by a restored store (opened locked, e.g. by `kmsd
/// restore` right after [`escrow::restore`]); `None` for backups made before they carried it.
pub fn carried_server_settings(store: &Store) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [SERVER_SETTINGS_KEY],
            |r| r.get(0),
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_schedules_round_trip_and_junk_is_refused() {
        for s in [(Some(86400), 7), (None, 3)] {
            assert_eq!(parse_stored(&format_stored(s)), Some(s));
        }
        for bad in [
            "",
            "every=1",
            "keep=2",
            "every=x keep=2",
            "every=1 keep=2 extra=3",
        ] {
            assert_eq!(parse_stored(bad), None, "{bad}");
        }
    }
}
