//! Arguments of `kmsctl user …`.

use clap::{Subcommand, ValueEnum};

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
    /// List users, with their lifecycle state.
    List {
        /// Only users in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
    },
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

/// A user's lifecycle state, as `--state` takes it (the server's `state` values).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateArg {
    /// No certificate and no unused enrollment token.
    New,
    /// An enrollment token is pending.
    Invited,
    /// The enrollment token expired unused.
    InvitationExpired,
    /// Has valid certificates.
    Enrolled,
    /// Certificates expire within the server's window.
    Expiring,
    /// Every current certificate not revoked has expired.
    Expired,
    /// Every current certificate is revoked.
    Revoked,
    /// Disabled.
    Disabled,
}

impl StateArg {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            StateArg::New => "new",
            StateArg::Invited => "invited",
            StateArg::InvitationExpired => "invitation-expired",
            StateArg::Enrolled => "enrolled",
            StateArg::Expiring => "expiring",
            StateArg::Expired => "expired",
            StateArg::Revoked => "revoked",
            StateArg::Disabled => "disabled",
        }
    }
}
