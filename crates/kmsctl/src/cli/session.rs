//! Arguments of `login` and `unlock`.

use std::path::PathBuf;

use clap::Args;

/// `kmsctl login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Administrator name.
    #[arg(long)]
    pub admin: String,
    /// Read the password from standard input (without it, it is asked on the terminal).
    #[arg(long)]
    pub password_stdin: bool,
    /// The current 6-digit code of your authenticator, for an account with a second factor
    /// (never asked: a missing code is answered as a wrong password).
    #[arg(long, value_name = "CODE")]
    pub totp: Option<String>,
}

/// `kmsctl unlock`: a start-up password (asked, or from standard input) or a key file.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Read the start-up password from standard input (without it or --key-file, it is
    /// asked on the terminal).
    #[arg(long, conflicts_with = "key_file")]
    pub password_stdin: bool,
    /// Unlock with this key file (its content is sent to the server).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}
