//! Arguments of `kmsctl cert …`.

use std::path::PathBuf;

use clap::Subcommand;

/// Certificates.
#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Search certificates, newest first.
    List {
        /// Part of the owner's e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Serial in hex, or its start.
        #[arg(long)]
        serial: Option<String>,
        /// active, revoked, expired or superseded.
        #[arg(long)]
        status: Option<String>,
        /// signing, encryption or tls.
        #[arg(long)]
        kind: Option<String>,
        /// Rows to show (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show one certificate in full.
    Show {
        /// Serial (hex).
        serial: String,
        /// Also write the certificate (DER) here (`-`: standard output, instead of the
        /// summary).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a certificate file (PEM or DER) against the S/MIME Baseline Requirements
    /// profiles, with the lint the authority runs before it issues anything. Exit 1 when a
    /// rule is broken (each finding names its rule).
    Lint {
        /// The certificate (PEM or DER).
        file: PathBuf,
        /// Judge it as this profile (mailbox-strict, mailbox-multipurpose,
        /// sponsored-strict, sponsored-multipurpose); default: the one its policy names.
        #[arg(long)]
        profile: Option<String>,
    },
}
