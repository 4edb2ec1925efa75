//! Arguments of `kmsctl user …`.

use clap::Subcommand;

/// Users and their enrollment tokens.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; prints their one-time enrollment token.
    Add {
        /// E-mail address.
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Content algorithms the user's client supports, e.g. aes256-gcm,aes128,3des.
        #[arg(long)]
        caps: Option<String>,
    },
    /// List users.
    List,
    /// Show a user and their certificates.
    Show {
        /// E-mail address.
        email: String,
    },
    /// Disable a user (outstanding tokens stop working).
    Disable {
        /// E-mail address.
        email: String,
    },
    /// Issue a new enrollment token (earlier ones stop working).
    Token {
        /// E-mail address.
        email: String,
    },
}
