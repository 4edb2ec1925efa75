//! Arguments of `kmsctl approvals …` and `kmsctl approve`.

use clap::{Args, Subcommand};

/// Approval requests.
#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// Open requests.
    List,
    /// Cancel an open request.
    Cancel {
        /// Request id.
        id: i64,
    },
}

/// `kmsctl approve ID`.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// Request id (kmsctl approvals list).
    pub id: i64,
}
