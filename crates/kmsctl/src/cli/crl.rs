//! Arguments of `kmsctl crl` and `kmsctl ca-cert` (the authority's public documents).

use std::path::PathBuf;

use clap::Args;

/// `kmsctl crl --out FILE`.
#[derive(Args, Debug)]
pub struct CrlArgs {
    /// Where to write it (`-`: standard output; a link or FIFO is written through).
    #[arg(long)]
    pub out: PathBuf,
    /// PEM instead of DER.
    #[arg(long)]
    pub pem: bool,
    /// The delta CRL instead of the full one.
    #[arg(long)]
    pub delta: bool,
}

/// `kmsctl ca-cert --out FILE`.
#[derive(Args, Debug)]
pub struct CaCertArgs {
    /// Where to write it (`-`: standard output; a link or FIFO is written through).
    #[arg(long)]
    pub out: PathBuf,
}
