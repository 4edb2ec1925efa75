//! Where the clients' `--out` goes, one rule for `lockbox`, `sectool` and `kmsctl`: `-` is
//! standard output; an existing target that is not a regular file (a device, a FIFO, a
//! symbolic link) is written through, never replaced; a regular file (or a new path) is
//! replaced atomically (temporary file in the same directory, fsync, rename); secrets are never
//! written to a terminal unless the caller says the user asked for it.
//!
//! What is a secret is the caller's call, by [`Content`]: PKCS#12 bundles, private keys and key
//! files are [`Content::Secret`] (mode 0600, refused on a terminal); decrypted mail is
//! [`Content::Private`] (mode 0600, but the user may read it on a terminal, as `gpg -d` does);
//! certificates, CRLs and encrypted or signed mail are [`Content::Public`].

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// What is being written, which decides the mode of a new file and whether a terminal may
/// receive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Certificates, CRLs, encrypted or signed mail: mode 0644 for a new file (before the
    /// umask); an existing regular file keeps its mode.
    Public,
    /// Readable by its owner only (mode 0600), may be shown on a terminal: decrypted mail.
    Private,
    /// Key material (PKCS#12, private keys, key files): mode 0600, and never written to a
    /// terminal unless `allow_terminal` is given to [`write`].
    Secret,
}

/// Where [`write`] put the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Standard output (`-`).
    Stdout,
    /// An existing file that is not a regular file (a FIFO, a device), opened and written.
    Through(PathBuf),
    /// A regular file, replaced atomically; for a symbolic link, the file it points to (the
    /// link stays).
    Replaced(PathBuf),
}

/// The words of the refusal to put a secret on a terminal; callers name their flag after it.
pub const TERMINAL_REFUSAL: &str = "refusing to write key material to a terminal";

/// Writes `bytes` to `target` (see the module's rules). `allow_terminal` lets a
/// [`Content::Secret`] reach a terminal (the user's explicit flag, e.g. `--force-tty`).
///
/// The error says what failed and names the path; a secret refused on a terminal is an error
/// of kind [`io::ErrorKind::PermissionDenied`] whose message starts with [`TERMINAL_REFUSAL`].
pub fn write(
    target: &Path,
    bytes: &[u8],
    content: Content,
    allow_terminal: bool,
) -> io::Result<Written> {
    let guard = |is_tty: bool, shown: &str| -> io::Result<()> {
        if content == Content::Secret && is_tty && !allow_terminal {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{TERMINAL_REFUSAL} ({shown} is a terminal): redirect it to a file, or \
                     pass --force-tty if you mean it"
                ),
            ));
        }
        Ok(())
    };
    if target.as_os_str() == "-" {
        let mut out = io::stdout().lock();
        guard(out.is_terminal(), "standard output")?;
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| context(e, "writing to standard output"))?;
        return Ok(Written::Stdout);
    }
    let link = std::fs::symlink_metadata(target).ok();
    let is_link = link.as_ref().is_some_and(|m| m.file_type().is_symlink());
    // What the path names in the end (through any links).
    let resolved = std::fs::metadata(target).ok();
    match &resolved {
        Some(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is a directory", target.display()),
        )),
        Some(m) if !m.is_file() => {
            // A FIFO, a device, a socket: written through, never replaced.
            let mut f = OpenOptions::new()
                .write(true)
                .open(target)
                .map_err(|e| context(e, &format!("opening {}", target.display())))?;
            guard(f.is_terminal(), &target.display().to_string())?;
            f.write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| context(e, &format!("writing {}", target.display())))?;
            Ok(Written::Through(target.to_path_buf()))
        }
        Some(m) => {
            // A regular file, or a link to one: the file is replaced, the link stays.
            let real = if is_link {
                std::fs::canonicalize(target)
                    .map_err(|e| context(e, &format!("resolving {}", target.display())))?
            } else {
                target.to_path_buf()
            };
            let mode = match content {
                Content::Public => permissions_of(m),
                Content::Private | Content::Secret => 0o600,
            };
            replace(&real, bytes, mode)?;
            Ok(Written::Replaced(real))
        }
        None if is_link => {
            // A dangling link: the file it names is created (the link stays).
            // (O_EXCL would refuse the link itself.)
            let mut f = create_options(mode_for_new(content))
                .create(true)
                .truncate(true)
                .open(target)
                .map_err(|e| context(e, &format!("creating {}", target.display())))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| context(e, &format!("writing {}", target.display())))?;
            Ok(Written::Replaced(target.to_path_buf()))
        }
        None => {
            replace(target, bytes, mode_for_new(content))?;
            Ok(Written::Replaced(target.to_path_buf()))
        }
    }
}

fn mode_for_new(content: Content) -> u32 {
    match content {
        Content::Public => 0o644,
        Content::Private | Content::Secret => 0o600,
    }
}

#[cfg(unix)]
fn permissions_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions_of(_: &std::fs::Metadata) -> u32 {
    0o644
}

fn create_options(mode: u32) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    o
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Replaces the regular file `path` (or creates it): a temporary file beside it with `mode`,
/// the bytes, fsync, rename over `path`, fsync of the directory.
fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let (tmp, mut f) = temp_beside(dir, &name, mode)?;
    let written = (|| {
        #[cfg(unix)]
        {
            // The mode exactly, whatever the umask (a secret must not be group-readable, a
            // public file keeps the mode it had).
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(context(e, &format!("writing {}", path.display())));
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn temp_beside(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match create_options(mode).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(context(e, &format!("creating a file in {}", dir.display())));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary name left")))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_regular_files_are_replaced_with_the_right_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.p12");
        assert_eq!(
            write(&p, b"one", Content::Secret, false).unwrap(),
            Written::Replaced(p.clone())
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(mode(&p), 0o600);
        // A public file keeps the mode it had.
        let c = dir.path().join("ca.pem");
        std::fs::write(&c, b"old").unwrap();
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&c, b"new", Content::Public, false).unwrap();
        assert_eq!(
            (std::fs::read(&c).unwrap(), mode(&c)),
            (b"new".to_vec(), 0o640)
        );
        // A secret over a readable file makes it 0600.
        write(&c, b"key", Content::Secret, false).unwrap();
        assert_eq!(mode(&c), 0o600);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_symbolic_link_stays_and_its_target_is_updated() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.pem");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink("real.pem", &link).unwrap();
        let w = write(&link, b"new", Content::Public, false).unwrap();
        assert_eq!(w, Written::Replaced(std::fs::canonicalize(&real).unwrap()));
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.pem"));
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link: its target is created, the link stays.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("created.pem", &dangling).unwrap();
        write(&dangling, b"fresh", Content::Secret, false).unwrap();
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let created = dir.path().join("created.pem");
        assert_eq!(std::fs::read(&created).unwrap(), b"fresh");
        assert_eq!(mode(&created), 0o600);
    }

    #[test]
    fn a_fifo_stays_a_fifo_and_its_reader_gets_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let w = write(&fifo, b"through the pipe", Content::Private, false).unwrap();
        assert_eq!(w, Written::Through(fifo.clone()));
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn a_character_device_is_written_through() {
        let null = Path::new("/dev/null");
        let w = write(null, b"gone", Content::Private, false).unwrap();
        assert_eq!(w, Written::Through(null.to_path_buf()));
        assert!(
            std::fs::metadata(null)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(dir.path(), b"x", Content::Public, false).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
