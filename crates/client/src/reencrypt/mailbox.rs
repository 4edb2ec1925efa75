//! Mailbox layouts for `sectool`: a directory tree of `.eml` files, a Maildir (`cur`, `new`,
//! `tmp`), or an mbox file read message by message ("From " lines), plus the write helpers
//! (atomic file writes, mboxrd escaping).
//!
//! mbox: a message starts at a line beginning with `From ` that is the first line of the file
//! or follows an empty line (mboxo/mboxrd). A message's bytes for processing are the lines
//! after its `From ` line, without the empty separator line before the next `From ` line;
//! `>From ` lines are *not* un-escaped (the encrypted body is base64, so no escaped line can
//! matter to decryption). Untouched messages are copied to the destination byte for byte,
//! `From ` line and separator included; a rewritten message keeps its `From ` line, and every
//! line of the new content that starts with `>*From ` gets one more `>` (mboxrd).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::files::MAX_INPUT;

/// What a SOURCE is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A directory tree; every `*.eml` file in it is a message.
    Tree,
    /// A Maildir: every file in `cur/` and `new/` is a message.
    Maildir,
    /// An mbox file.
    Mbox,
}

impl Layout {
    /// Tells what `source` is: a file is an mbox; a directory with `cur/` and `new/` is a
    /// Maildir; any other directory is a tree of `.eml` files.
    pub fn detect(source: &Path) -> anyhow::Result<Layout> {
        let meta = std::fs::metadata(source)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", source.display()))?;
        if meta.is_file() {
            Ok(Layout::Mbox)
        } else if meta.is_dir() {
            if source.join("cur").is_dir() && source.join("new").is_dir() {
                Ok(Layout::Maildir)
            } else {
                Ok(Layout::Tree)
            }
        } else {
            anyhow::bail!(
                "{} is neither a file (mbox) nor a directory",
                source.display()
            )
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Tree => "tree",
            Layout::Maildir => "maildir",
            Layout::Mbox => "mbox",
        }
    }
}

/// Every message file of a tree or Maildir, as paths relative to `root`, sorted. Hidden files
/// and directories (names starting with `.`) are left out, and so is a Maildir's `tmp/`.
pub fn list_files(root: &Path, layout: Layout) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match layout {
        Layout::Maildir => {
            for sub in ["cur", "new"] {
                walk(root, Path::new(sub), false, &mut out)?;
            }
        }
        Layout::Tree => walk(root, Path::new(""), true, &mut out)?,
        Layout::Mbox => anyhow::bail!("an mbox has no files to list"),
    }
    out.sort();
    Ok(out)
}

fn walk(root: &Path, rel: &Path, recurse_eml: bool, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        let child = rel.join(&name);
        if ty.is_dir() {
            if recurse_eml {
                walk(root, &child, true, out)?;
            }
        } else if ty.is_file() {
            let is_eml = Path::new(&name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("eml"));
            if !recurse_eml || is_eml {
                out.push(child);
            }
        }
    }
    Ok(())
}

/// One message of an mbox.
#[derive(Debug)]
pub struct MboxMessage {
    /// Its number, from 1.
    pub number: u64,
    /// The `From ` line, with its line end.
    pub from_line: Vec<u8>,
    /// The message (without the `From ` line and the separator line).
    pub message: Vec<u8>,
    /// What followed the message up to the next `From ` line (the empty separator line, or
    /// nothing at the end of the file).
    pub separator: Vec<u8>,
    /// The offset in the file just after this message's record (the next `From ` line).
    pub end: u64,
}

impl MboxMessage {
    /// The record exactly as it was in the file.
    pub fn raw(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.from_line.len() + self.message.len() + self.separator.len());
        out.extend_from_slice(&self.from_line);
        out.extend_from_slice(&self.message);
        out.extend_from_slice(&self.separator);
        out
    }

    /// The record with `message` as its new content (mboxrd-escaped), the same `From ` line,
    /// and an empty separator line.
    pub fn rewritten(&self, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.from_line.len() + message.len() + 64);
        out.extend_from_slice(&self.from_line);
        out.extend_from_slice(&escape_from(message));
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }
}

/// Reads an mbox message by message, holding one message at a time.
pub struct MboxReader {
    input: BufReader<File>,
    /// Offset of the next byte to read.
    pos: u64,
    /// The `From ` line already read for the next message.
    next_from: Option<Vec<u8>>,
    number: u64,
}

impl MboxReader {
    /// Opens `path` at `offset` (0, or the start of a message as a journal recorded it), with
    /// `done` messages before that offset.
    pub fn open(path: &Path, offset: u64, done: u64) -> anyhow::Result<Self> {
        let mut file =
            File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            input: BufReader::with_capacity(256 * 1024, file),
            pos: offset,
            next_from: None,
            number: done,
        })
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.clear();
        let n = (&mut self.input).take(MAX_INPUT).read_until(b'\n', buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    /// The next message, or `None` at the end of the file. Fails when the file (at this
    /// point) does not start with a `From ` line, or a message is larger than the limit.
    pub fn next_message(&mut self) -> anyhow::Result<Option<MboxMessage>> {
        let from_line = match self.next_from.take() {
            Some(l) => l,
            None => {
                let mut l = Vec::new();
                if self.line(&mut l)? == 0 {
                    return Ok(None);
                }
                if !l.starts_with(b"From ") {
                    anyhow::bail!(
                        "not an mbox: the text at byte {} does not start with a \"From \" line",
                        self.pos - l.len() as u64
                    );
                }
                l
            }
        };
        let mut body = Vec::new();
        let mut line = Vec::new();
        let mut prev_blank = false;
        loop {
            let start = self.pos;
            if self.line(&mut line)? == 0 {
                break;
            }
            if prev_blank && line.starts_with(b"From ") {
                // The next record starts at this line.
                self.next_from = Some(std::mem::take(&mut line));
                return Ok(Some(self.finish(from_line, body, start)));
            }
            prev_blank = line == b"\n" || line == b"\r\n";
            body.extend_from_slice(&line);
            if body.len() as u64 > MAX_INPUT {
                anyhow::bail!(
                    "mbox message {} is larger than the limit of {MAX_INPUT} bytes",
                    self.number + 1
                );
            }
        }
        let end = self.pos;
        Ok(Some(self.finish(from_line, body, end)))
    }

    fn finish(&mut self, from_line: Vec<u8>, mut body: Vec<u8>, end: u64) -> MboxMessage {
        self.number += 1;
        let sep_len = if self.next_from.is_some() {
            if body.ends_with(b"\r\n\r\n") || body == b"\r\n" {
                2
            } else if body.ends_with(b"\n\n") || body == b"\n" {
                1
            } else {
                0
            }
        } else {
            0
        };
        let separator = body.split_off(body.len() - sep_len);
        MboxMessage {
            number: self.number,
            from_line,
            message: body,
            separator,
            end,
        }
    }
}

/// mboxrd escaping: one more `>` before every line that starts with `>*From `.
pub fn escape_from(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|b| *b == b'\n') {
        let quoted = line.iter().take_while(|b| **b == b'>').count();
        if line[quoted..].starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    out
}

/// Converts every CRLF to LF (for messages stored with bare LF line ends).
pub fn to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// True when the message's first line ends in a bare LF (the message is stored in the Unix
/// form, as mbox files and OpenSSL's output are).
pub fn uses_bare_lf(message: &[u8]) -> bool {
    match message.iter().position(|b| *b == b'\n') {
        Some(i) => i == 0 || message[i - 1] != b'\r',
        None => false,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in `tmp_dir` (same file system),
/// fsynced, renamed over `path`, and the directory fsynced. Keeps `mode`.
pub fn write_atomic_in(tmp_dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".sectool-")
        .tempfile_in(tmp_dir)
        .map_err(|e| anyhow::anyhow!("cannot create a file in {}: {e}", tmp_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the temporary files [`write_atomic_in`] leaves when a run is killed between
/// creating and renaming one (`.sectool-*` files anywhere under `root`).
pub fn remove_stale_temps(root: &Path) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    for entry in entries {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            remove_stale_temps(&entry.path())?;
        } else if ty.is_file() && entry.file_name().to_string_lossy().starts_with(".sectool-") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The permission bits of `path` (0o600 when unknown: mail is private).
pub fn mode_of(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_records_round_trip_and_split() {
        let text = b"From a@x Thu Jan  1 00:00:00 2026\nSubject: one\n\nbody\nFrom inside\n\nFrom b@x Thu Jan  1 00:00:00 2026\nSubject: two\n\n>From quoted\n";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, text).unwrap();
        let mut r = MboxReader::open(&p, 0, 0).unwrap();
        let a = r.next_message().unwrap().unwrap();
        assert_eq!(a.number, 1);
        assert_eq!(a.message, b"Subject: one\n\nbody\nFrom inside\n");
        assert_eq!(a.separator, b"\n");
        let b = r.next_message().unwrap().unwrap();
        assert_eq!(b.number, 2);
        assert_eq!(a.end, text.len() as u64 - b.raw().len() as u64);
        assert_eq!(b.end, text.len() as u64);
        assert!(r.next_message().unwrap().is_none());
        let mut all = a.raw();
        all.extend(b.raw());
        assert_eq!(all, text);
        // Resuming at the second record.
        let mut r = MboxReader::open(&p, a.end, 1).unwrap();
        let b2 = r.next_message().unwrap().unwrap();
        assert_eq!((b2.number, b2.raw()), (2, b.raw()));
    }

    #[test]
    fn mboxrd_escaping() {
        assert_eq!(
            escape_from(b"a\nFrom x\n>From y\nnot From\n"),
            b"a\n>From x\n>>From y\nnot From\n"
        );
        assert_eq!(to_lf(b"a\r\nb\rc\r\n"), b"a\nb\rc\n");
        assert!(uses_bare_lf(b"a\nb\r\n"));
        assert!(!uses_bare_lf(b"a\r\nb\n"));
    }
}
