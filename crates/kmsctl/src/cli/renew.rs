//! Arguments of `kmsctl renew`.

use clap::Args;

/// `kmsctl renew EMAIL [--new-key] | --all [--within 30d] [--yes]`.
#[derive(Args, Debug)]
pub struct RenewArgs {
    /// The user to renew.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub email: Option<String>,
    /// Roll the encryption key over: a new escrowed key now, and an enrollment token with
    /// which the user collects it (old keys stay escrowed).
    #[arg(long, conflicts_with = "all")]
    pub new_key: bool,
    /// Renew every enrolled user's certificates that expire within --within (users not
    /// enrolled, disabled or revoked are skipped). Asks for confirmation unless --yes.
    #[arg(long)]
    pub all: bool,
    /// With --all: the window, e.g. 30d (the server's default when absent).
    #[arg(long, value_name = "DURATION", requires = "all", value_parser = super::parse_duration)]
    pub within: Option<u64>,
    /// Do not ask: renewing everyone is wanted.
    #[arg(long, requires = "all")]
    pub yes: bool,
}
