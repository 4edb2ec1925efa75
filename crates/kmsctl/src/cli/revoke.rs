//! Arguments of `kmsctl revoke`.

use clap::Args;

/// `kmsctl revoke EMAIL | --serial HEX`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Revoke every unrevoked certificate of this user (asks for confirmation when that is
    /// more than one, unless --yes).
    #[arg(required_unless_present = "serial", conflicts_with = "serial")]
    pub email: Option<String>,
    /// Revoke one certificate by serial (hex).
    #[arg(long)]
    pub serial: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, caCompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask: revoking several certificates is wanted.
    #[arg(long)]
    pub yes: bool,
}
