//! Arguments of `kmsctl revoke`.

use clap::Args;

/// `kmsctl revoke EMAIL | --serial HEX | --serials-from FILE | --emails-from FILE`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Revoke every unrevoked certificate of this user (asks for confirmation when that is
    /// more than one, unless --yes).
    #[arg(
        required_unless_present_any = ["serial", "serials_from", "emails_from"],
        conflicts_with_all = ["serial", "serials_from", "emails_from"]
    )]
    pub email: Option<String>,
    /// Revoke one certificate by serial (hex).
    #[arg(long, conflicts_with_all = ["serials_from", "emails_from"])]
    pub serial: Option<String>,
    /// Revoke the certificates whose serials (hex) FILE lists, one a line (`#` starts a
    /// comment; `-` reads standard input), in one call of at most 100 000 (asks for
    /// confirmation, unless --yes).
    #[arg(long, value_name = "FILE", conflicts_with = "emails_from")]
    pub serials_from: Option<String>,
    /// Revoke every unrevoked certificate of the users whose addresses FILE lists, one a
    /// line, in one call (as --serials-from).
    #[arg(long, value_name = "FILE")]
    pub emails_from: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, caCompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask: revoking several certificates is wanted (without a terminal to ask on,
    /// a revoke that needs confirmation fails with exit 7 unless this is given).
    #[arg(long)]
    pub yes: bool,
}
