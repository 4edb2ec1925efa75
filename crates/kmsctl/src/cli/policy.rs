//! Arguments of `kmsctl policy …`.

use clap::Subcommand;

/// Quorum policies.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Set an operation's quorum (needs the current policy-change quorum).
    Set {
        /// recover-key, reenroll, admin-change, policy-change, restore, unlock-method,
        /// backup-schedule, …
        operation: String,
        /// Distinct administrators who must approve (1 to the number of administrators).
        quorum: i64,
    },
    /// List the policies.
    List,
}
