//! The `sectool reencrypt` journal: an append-only file of JSON lines beside the destination
//! that records every finished message, so `--resume` continues an interrupted run without
//! redoing or losing one.
//!
//! Line 1 is a header naming the source and layout. Every further line is one [`Record`]:
//! the message (relative path, or mbox number), what was done, and for an mbox the source
//! offset after the message and the length of the destination after it was written. Lines
//! are written in batches (group commit): the destination is fsynced before the lines that
//! describe it, and the journal is fsynced after them. A torn last line (the run was killed
//! while writing it) is ignored on reading.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The journal's header line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// Format version (1).
    pub sectool_journal: u32,
    /// The source, as given (absolute).
    pub source: String,
    /// The layout name (`tree`, `maildir`, `mbox`).
    pub layout: String,
    /// True for an in-place run.
    pub in_place: bool,
}

/// What happened to one message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The message: its path relative to the source, or `#N` for mbox message N.
    pub id: String,
    /// `reencrypted`, `unchanged` or `failed`.
    pub outcome: String,
    /// The algorithm before (encrypted messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The algorithm after (re-encrypted and already-at-target messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why a message was left unchanged or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Recipients of the old message that the new one is not encrypted for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// mbox: the message number (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// mbox: the source offset just after this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_end: Option<u64>,
    /// mbox: the destination length just after this message was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_end: Option<u64>,
}

/// The journal file of a run.
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// What an earlier, interrupted run left in its journal.
#[derive(Debug, Default)]
pub struct Previous {
    /// Every finished message, by id, in journal order.
    pub records: Vec<Record>,
    /// Index into `records` by id.
    pub by_id: HashMap<String, usize>,
}

impl Previous {
    /// The last mbox record (the highest message number written).
    pub fn last_mbox(&self) -> Option<&Record> {
        self.records
            .iter()
            .filter(|r| r.n.is_some())
            .max_by_key(|r| r.n)
    }
}

/// The journal path for a destination: `DEST.sectool-journal`, beside it.
pub fn path_for(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "dest".into());
    name.push(".sectool-journal");
    dest.with_file_name(name)
}

impl Journal {
    /// Creates a new journal at `path` with `header` (fsynced). Fails if one exists.
    pub fn create(path: &Path, header: &Header) -> anyhow::Result<Self> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create the journal {}: {e}", path.display()))?;
        let mut line = serde_json::to_vec(header)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_all()?;
        sync_parent(path);
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens the journal of an interrupted run, checks that it is for the same source, and
    /// reads what it recorded. A torn last line is cut off so appends start on a clean line.
    pub fn resume(path: &Path, header: &Header) -> anyhow::Result<(Self, Previous)> {
        let file = File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the journal {}: {e}", path.display()))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let found: Header = serde_json::from_slice(&line)
            .map_err(|e| anyhow::anyhow!("{} is not a sectool journal: {e}", path.display()))?;
        if &found != header {
            anyhow::bail!(
                "the journal {} is for another run (source {}, {}{}); remove it to start afresh",
                path.display(),
                found.source,
                found.layout,
                if found.in_place { ", in place" } else { "" }
            );
        }
        let mut good_len = line.len() as u64;
        let mut previous = Previous::default();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || !line.ends_with(b"\n") {
                break;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(r) => {
                    good_len += n as u64;
                    previous.by_id.insert(r.id.clone(), previous.records.len());
                    previous.records.push(r);
                }
                Err(_) => break,
            }
        }
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(good_len)?;
        file.sync_all()?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
            },
            previous,
        ))
    }

    /// Appends `records` and fsyncs.
    pub fn append(&mut self, records: &[Record]) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 128);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| anyhow::anyhow!("cannot write the journal {}: {e}", self.path.display()))
    }

    /// Removes the journal at the end of a finished run.
    pub fn finish(self) -> anyhow::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)?;
        sync_parent(&self.path);
        Ok(())
    }
}

/// Fsyncs the directory holding `path` (so a create, rename or remove is durable).
pub fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_dropped_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let h = Header {
            sectool_journal: 1,
            source: "/x".into(),
            layout: "tree".into(),
            in_place: false,
        };
        let mut j = Journal::create(&p, &h).unwrap();
        let r = Record {
            id: "a.eml".into(),
            outcome: "unchanged".into(),
            from: None,
            to: None,
            reason: Some("plain".into()),
            dropped: vec![],
            n: None,
            src_end: None,
            dest_end: None,
        };
        j.append(std::slice::from_ref(&r)).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"id\":\"b.eml\",\"outc").unwrap();
        let (mut j, prev) = Journal::resume(&p, &h).unwrap();
        assert_eq!(prev.records, vec![r.clone()]);
        let mut r2 = r.clone();
        r2.id = "b.eml".into();
        j.append(std::slice::from_ref(&r2)).unwrap();
        let (_, prev) = Journal::resume(&p, &h).unwrap();
        assert_eq!(prev.records, vec![r, r2]);
        let other = Header {
            source: "/y".into(),
            ..h
        };
        assert!(Journal::resume(&p, &other).is_err());
    }
}
