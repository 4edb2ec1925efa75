//! Crash-safe file creation: temp file in the same directory (mode 0600), fsync, rename without
//! overwriting, fsync of the directory.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new temporary file in `dir`, created with mode 0600 and removed when dropped unless
/// persisted.
pub(crate) fn temp_in(dir: &Path, prefix: &str, suffix: &str) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))
}

/// Flushes a directory entry change (create, rename) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Moves a finished, fsynced temporary file to `path`, refusing to replace an existing file,
/// then fsyncs the directory.
pub(crate) fn persist_new(temp: NamedTempFile, path: &Path) -> Result<()> {
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io("fsync", temp.path(), e))?;
    match temp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::FileExists {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(Error::io("rename a temporary file to", path, e.error)),
    }
    sync_dir(&parent_dir(path))
}

/// Creates `path` (which must not exist) with mode 0600 and the content written by `write`,
/// atomically: a reader or a crash sees either no file or the complete file.
pub(crate) fn write_new_file(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    if path.exists() {
        return Err(Error::FileExists {
            path: path.to_path_buf(),
        });
    }
    let dir = parent_dir(path);
    let mut temp = temp_in(&dir, ".escrow-", ".tmp")?;
    write(temp.as_file_mut()).map_err(|e| Error::io("write", temp.path(), e))?;
    persist_new(temp, path)
}

/// Whether `dir` is missing or an empty directory.
pub(crate) fn is_missing_or_empty_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(false),
        Err(e) => Err(Error::io("read directory", dir, e)),
    }
}

/// Creates `dir` (and its parents) if missing; new directories get mode 0700 on Unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.txt");
        write_new_file(&path, |f| io::Write::write_all(f, b"one")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_new_file(&path, |f| io::Write::write_all(f, b"two"));
        assert!(matches!(again, Err(Error::FileExists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
