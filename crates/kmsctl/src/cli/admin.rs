//! Arguments of `kmsctl admin …`.

use clap::Subcommand;

/// `kmsctl admin totp …`.
#[derive(Subcommand, Debug)]
pub enum TotpCommand {
    /// Turn on a TOTP second factor (RFC 6238) for your own account: prints, this once, the
    /// `otpauth://` URI to add to an authenticator app; from then on `kmsctl login` needs
    /// `--totp CODE`.
    Enable,
    /// Turn off the second factor: your own, or (administrator role, under the admin-change
    /// quorum; exit 3 while approvals are missing) another administrator's.
    Disable {
        /// Another administrator's account (default: your own).
        name: Option<String>,
    },
}

/// Administrator accounts.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an administrator account (needs the administrator role).
    Add {
        /// Account name.
        name: String,
        /// administrator (everything), officer (users, tokens, revoke, renew) or auditor
        /// (reads only).
        #[arg(long)]
        role: String,
        /// Read the new account's password from standard input (without it, it is asked
        /// twice on the terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an administrator account and end its sessions (needs the administrator role).
    Remove {
        /// Account name.
        name: String,
    },
    /// Clear an administrator's lock-out after failed sign-ins, from every address (needs the
    /// administrator role; audited).
    Unlock {
        /// Account name.
        name: String,
    },
    /// List administrator accounts.
    List,
    /// The optional TOTP second factor of sign-in.
    #[command(subcommand)]
    Totp(TotpCommand),
    /// Change your own password; ends your other sessions. Asked on the terminal, or read
    /// from standard input (the current and the new password, one per line).
    Passwd {
        /// Read both passwords from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an administrator another role (under the admin-change quorum; exit 3 while
    /// approvals are missing).
    Role {
        /// Account name.
        name: String,
        /// administrator, officer or auditor.
        role: String,
    },
}
