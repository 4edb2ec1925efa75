//! Arguments of `kmsctl settings …` (authority settings changed through the API).

use clap::Subcommand;

/// `kmsctl settings …`.
#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Show the public URL, or change it (administrator role, under the public-url quorum;
    /// exit 3 while approvals are missing). Certificates issued afterwards name URLs under
    /// it (URL/crl, URL/crl/delta); `kmsctl renew --all` moves existing ones.
    #[command(name = "public-url")]
    PublicUrl {
        /// The new public URL: plain http://HOST[:PORT][/PATH] that relying parties reach,
        /// served by kmsd's public listener (public_listen); not loopback.
        url: Option<String>,
    },
}
