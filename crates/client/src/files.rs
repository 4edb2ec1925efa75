//! File handling for the command-line tools: bounded reads, and writes that are atomic (temp
//! file in the same directory, fsync, rename) so a crash never leaves half a message.

use std::io::Write;
use std::path::Path;

/// Largest input file read whole (a message, a certificate, a CRL, a PKCS#12).
pub const MAX_INPUT: u64 = 512 * 1024 * 1024;

/// Reads `path`, refusing files over [`MAX_INPUT`], with the path in every error.
pub fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))?;
    if meta.len() > MAX_INPUT {
        anyhow::bail!(
            "{what} {} is {} bytes, more than the limit of {MAX_INPUT}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically. `private` makes the file readable by its owner only
/// (decrypted mail, key bundles).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot create a file in {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
