//! Arguments of `kmsctl audit …`.

use clap::Subcommand;

/// The audit log.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List entries, oldest first.
    List {
        /// Only entries from this time on: Unix seconds, or an age such as 30m, 12h, 7d.
        #[arg(long, value_name = "T")]
        since: Option<String>,
    },
    /// Check the whole chain and its CA-signed checkpoints; names the first entry that was
    /// altered, removed or reordered (exit 1 then).
    Verify,
    /// Sign the chain head with the CA key now (administrator role).
    Sign,
}
