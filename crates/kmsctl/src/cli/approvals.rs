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
    /// Request id (kmsctl approvals list; with --agent-key: kmsctl agent requests).
    pub id: i64,
    /// As a key recovery agent: release this agent's shares of exactly the request's keys,
    /// opened with this agent key file on this machine and re-sealed to the request.
    #[arg(long, value_name = "FILE")]
    pub agent_key: Option<std::path::PathBuf>,
    /// Read the agent key file's password from standard input.
    #[arg(long, requires = "agent_key")]
    pub password_stdin: bool,
}
