//! Arguments of `kmsctl recover-key`.

use std::path::PathBuf;

use clap::Args;

/// `kmsctl recover-key EMAIL --out FILE`.
#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// The user's e-mail address.
    pub email: String,
    /// Where to write the PKCS#12 (mode 0600; `-`: standard output, never a terminal without
    /// --force-tty).
    #[arg(long)]
    pub out: PathBuf,
    /// Read the bundle's password from standard input (without it, it is asked twice on the
    /// terminal).
    #[arg(long)]
    pub password_stdin: bool,
    /// Also issue a new enrollment token so the user can enroll again.
    #[arg(long)]
    pub reenroll: bool,
    /// Why the key is recovered (kept in the audit log), e.g. "court order 2026-114".
    #[arg(long, value_name = "TEXT")]
    pub why: Option<String>,
}
