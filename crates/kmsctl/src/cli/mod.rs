//! The clap definitions of every `kmsctl` command, one file per noun. Also compiled by
//! `build.rs` (for the completions and man pages made at build time), so this module and its
//! children use nothing of the crate but each other.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod admin;
pub mod agent;
pub mod approvals;
pub mod audit;
pub mod backup;
pub mod cert;
pub mod crl;
pub mod policy;
pub mod recover;
pub mod renew;
pub mod revoke;
pub mod session;
pub mod settings;
pub mod unlock_method;
pub mod user;

/// The exit codes and environment, shown after `--help` and in the man page.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the operation failed; the message says why
  2  bad usage (unknown flag, missing argument, no terminal to ask a password on)
  3  waiting for approvals: a quorum operation was opened or counted, not yet carried out
     (the message names the request; run the same command again once it is approved)
  5  the authority is locked (kmsctl unlock)
  6  not signed in, or the session expired (kmsctl login)
  7  confirmation required: a destructive command without --yes and no terminal to ask on

With --json every answer, and every error as {\"error\":{\"code\":\"…\",\"message\":\"…\"}},
is printed on standard output.

Passwords are asked on the terminal (hidden), or read from standard input with
--password-stdin; never give a secret as an argument.

Environment: KMS_URL (server), KMS_CA_CERT (CA certificate to trust for HTTPS),
KMS_SESSION_FILE (where the session token is kept), NO_COLOR.

Shell completions and man pages:
  kmsctl completions bash > ~/.local/share/bash-completion/completions/kmsctl
  kmsctl completions zsh > ~/.zfunc/_kmsctl     (or fish, elvish, powershell)
  kmsctl man --out ~/.local/share/man/man1";

/// `kmsctl`: administer the key management server over its HTTP API.
#[derive(Parser, Debug)]
#[command(
    name = "kmsctl",
    version,
    about = "Administer the key management server over its HTTP API",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "KMS_URL", global = true)]
    pub server: Option<String>,
    /// Trust the server's HTTPS certificate when it chains to this CA certificate (PEM), e.g.
    /// the authority's own CA from its public /ca URL.
    #[arg(long, env = "KMS_CA_CERT", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Print the server's JSON answer, and errors as JSON, on standard output (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Allow key material (`recover-key --out -`, a key file) to be written to a terminal.
    #[arg(long, global = true)]
    pub force_tty: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in; the session token is kept in a 0600 file.
    Login(session::LoginArgs),
    /// Sign out and forget the session.
    Logout,
    /// Unlock a locked authority.
    Unlock(session::UnlockArgs),
    /// Administrator accounts and their roles (administrator, officer, auditor).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Quorum policies: how many administrators must approve an operation.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Approval requests of quorum operations.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Approve an approval request (then its opener runs the same command again).
    Approve(approvals::ApproveArgs),
    /// Key recovery agents (the cryptographic quorum of key recovery).
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Recover every encryption key a user ever had into one PKCS#12 file (under the
    /// recover-key quorum; exit 3 while approvals are missing).
    RecoverKey(recover::RecoverArgs),
    /// Start-up secrets (passwords, key files) that unlock the store.
    #[command(subcommand)]
    UnlockMethod(unlock_method::UnlockMethodCommand),
    /// Encrypted backups of the store, kept in the server's DATA_DIR/backups, and their
    /// schedule.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Authority settings: the public URL certificates name (under the public-url quorum).
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Users and their enrollment tokens.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Revoke a user's certificates, or one certificate by serial.
    Revoke(revoke::RevokeArgs),
    /// Renew a user's certificates, or every certificate expiring soon.
    Renew(renew::RenewArgs),
    /// Download the CRL.
    Crl(crl::CrlArgs),
    /// The authority at a glance: CA, counts, CRLs, backups and their schedule, approvals.
    Status,
    /// Certificates: search and show.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Download the CA certificate (PEM).
    CaCert(crl::CaCertArgs),
    /// Print a shell completion script on standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (kmsctl.1 and one per subcommand) into a directory.
    Man {
        /// The directory (created if missing), e.g. ~/.local/share/man/man1.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// A duration such as `90s`, `30m`, `24h`, `30d`, `2w` (or plain seconds), in seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}: give a duration like 90m, 24h, 30d or 2w");
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).ok_or_else(bad)
}
