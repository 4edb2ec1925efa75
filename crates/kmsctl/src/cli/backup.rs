//! Arguments of `kmsctl backup …`.

use clap::Subcommand;

/// Backups and their schedule.
#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Take a backup now; prints its path on the server.
    Now,
    /// List the backups.
    List,
    /// Check a backup on the server: every chunk, every key, the audit chain inside.
    Verify {
        /// A name from `backup list`, or a path on the server.
        name: String,
    },
    /// Restore a backup over the live store (under the restore quorum; exit 3 while
    /// approvals are missing). Checks it first and takes a safety backup; everything written
    /// after the backup is gone and every session ends (sign in again). Asks for confirmation
    /// unless --yes is given (exit 7 when there is no terminal to ask on).
    Restore {
        /// A name from `backup list`.
        name: String,
        /// Do not ask: the restore is wanted.
        #[arg(long)]
        yes: bool,
    },
    /// Show the backup schedule, or set it (under the backup-schedule quorum; exit 3 while
    /// approvals are missing).
    Schedule {
        /// Take a backup this often, e.g. 24h, 12h, 7d.
        #[arg(long, value_name = "DURATION", value_parser = super::parse_duration,
              conflicts_with = "off")]
        every: Option<u64>,
        /// Keep this many scheduled backups (older ones are deleted); alone, changes only
        /// that.
        #[arg(long, value_name = "N")]
        keep: Option<u32>,
        /// Stop taking scheduled backups.
        #[arg(long)]
        off: bool,
    },
}
