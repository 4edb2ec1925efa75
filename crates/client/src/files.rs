//! File handling for the command-line tools: bounded reads, and every `--out` through the one
//! output writer ([`api::outfile`]): `-` for standard output, links, FIFOs and devices written
//! through, regular files replaced atomically (temp file in the same directory, fsync,
//! rename) so a crash never leaves half a message, key material never on a terminal.

use std::path::Path;

/// Largest input file read whole (a message, a certificate, a CRL, a PKCS#12).
pub const MAX_INPUT: u64 = 512 * 1024 * 1024;

/// Reads `path`, refusing files over [`MAX_INPUT`], with the path in every error.
pub fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use crate::error::Error;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::File(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.len() > MAX_INPUT {
        return Err(Error::File(format!(
            "{what} {} is {} bytes, more than the limit of {MAX_INPUT}",
            path.display(),
            meta.len()
        ))
        .into());
    }
    Ok(std::fs::read(path)
        .map_err(|e| Error::File(format!("cannot read {what} {}: {e}", path.display())))?)
}

pub use api::outfile::Content;

/// Writes `bytes` to `path` by the one output rule of the clients ([`api::outfile`]): `-` is
/// standard output; a FIFO, a device or a symbolic link is written through, never replaced; a
/// regular file is replaced atomically, with mode 0600 unless `content` is public; key
/// material ([`Content::Secret`]: PKCS#12, private keys) never goes to a terminal unless
/// `force_tty` (the user's `--force-tty`). Failures are [`crate::error::Error::File`].
pub fn write(path: &Path, bytes: &[u8], content: Content, force_tty: bool) -> anyhow::Result<()> {
    api::outfile::write(path, bytes, content, force_tty)
        .map(|_| ())
        .map_err(|e| crate::error::Error::File(e.to_string()).into())
}
