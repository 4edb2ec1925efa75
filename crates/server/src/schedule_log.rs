//! The start-up and unlock log line that says whether scheduled backups are on.

/// One line for the log: whether scheduled backups are on, how often, how many are kept and
/// when the next is due.
pub fn describe_schedule(s: &authority::BackupSchedule) -> String {
    match (s.every, s.next_at) {
        (Some(every), Some(next)) => format!(
            "scheduled backups on: every {every} s, keeping {}, next at {next} (Unix seconds; from the {})",
            s.keep,
            if s.source == "setting" {
                "backup-schedule setting"
            } else {
                "kmsd.toml"
            }
        ),
        _ => format!(
            "scheduled backups off (keeping {} of those taken on demand; kmsctl backup schedule)",
            s.keep
        ),
    }
}
