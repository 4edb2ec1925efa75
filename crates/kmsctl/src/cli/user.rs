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
        /// Given name (written as givenName by the sponsored profiles).
        #[arg(long)]
        given_name: Option<String>,
        /// Surname (written as surname by the sponsored profiles).
        #[arg(long)]
        surname: Option<String>,
        /// Certificate profile: mailbox-strict, mailbox-multipurpose, sponsored-strict or
        /// sponsored-multipurpose (default: the authority's `profile` setting). A sponsored
        /// profile needs --given-name and --surname.
        #[arg(long)]
        profile: Option<String>,
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
