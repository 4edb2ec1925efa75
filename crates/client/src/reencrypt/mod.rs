//! Bulk re-encryption of stored S/MIME mail (`sectool`): every encrypted message of a mailbox
//! (a tree of `.eml` files, a Maildir or an mbox) is decrypted with whichever key of the
//! user's key history it names and encrypted again for the owner's newest encryption key (and
//! the other recipients whose certificates are given) with the target algorithm. Everything
//! else keeps its bytes. Parallel over a bounded queue, streaming, journaled for `--resume`.
//!
//! # What changes
//!
//! * An EnvelopedData / AuthEnvelopedData message is decrypted; its inner entity is encrypted
//!   again *as it is* (so a signature inside still verifies) for the owner's newest encryption
//!   certificate plus each `--to` certificate the message was already encrypted for (matched
//!   by issuer and serial or key identifier: `--to` never adds a reader to a message that did
//!   not have them). Other recipients of the old message are dropped and named in the report.
//!   The header fields outside the encrypted part are kept byte for byte; the `Content-*`
//!   fields are those of the new `application/pkcs7-mime` body. A message stored with bare LF
//!   line ends is written with bare LF.
//! * A message already at the target (same algorithm, same recipient keys) keeps its bytes;
//!   so do plain messages, signed messages, and encrypted-then-signed ones (re-encrypting
//!   would break the outer signature; they are named in the report).
//!
//! # Failure policy
//!
//! A message that cannot be processed (unreadable, no key for it, damaged) is never dropped:
//! it is copied unchanged to the destination (left as it is in place) and reported with its
//! reason; the run goes on and ends with [`Report::failed`] > 0 (`sectool` exits 4). Errors
//! that make the run itself unsafe (cannot write the destination or the journal, the source
//! is not a mailbox) stop it; what was journaled stays done and `--resume` continues.
//!
//! # Durability and `--resume`
//!
//! Every destination file is written atomically (temporary file, fsync, rename, directory
//! fsync) before the journal line that records it ([`journal`]); an mbox destination is
//! appended to and fsynced before the journal lines that record its new length. On resume a
//! tree or Maildir run skips the journaled paths; an mbox run truncates the destination to the
//! last journaled length and continues reading the source at the journaled offset, so nothing
//! is lost or written twice. In place, a tree's original is hard-linked to
//! `SOURCE.sectool-backup/PATH` before the new file is renamed over it, and the backups are
//! removed only when the whole run has finished; an mbox is rewritten to
//! `SOURCE.sectool-new` and swapped in at the end. The mailbox must not change during a run.
//!
//! Memory: one message per worker plus a bounded queue (at most four per worker between the
//! mbox reader and writer); a tree's or Maildir's list of file names is held whole.

pub mod journal;
pub mod mailbox;

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use pki::enveloped::{self, EncryptOptions, RecipientId};
use pki::smime::{self, SmimeKind, SmimeType};
use pki::{Certificate, ContentAlgorithm};
use serde::Serialize;

use crate::keyring::Keyring;
use journal::{Header, Journal, Previous, Record};
use mailbox::{Layout, MboxMessage, MboxReader};

const ID_DATA: &str = "1.2.840.113549.1.7.1";

/// Which algorithm re-encrypted messages get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Keep each message's algorithm (only the keys change).
    Keep,
    /// This algorithm for every message, except that a message already stronger in the
    /// ranking keeps its own algorithm and is reported as "already stronger" (`--algorithm`;
    /// AES-GCM to AES-CBC counts as a downgrade).
    Exactly(ContentAlgorithm),
    /// This algorithm for every message, stronger ones included (`--algorithm` with
    /// `--allow-downgrade`).
    ExactlyAllowingDowngrade(ContentAlgorithm),
    /// Raise anything weaker to this floor; stronger messages keep theirs (`--min-algorithm`).
    AtLeast(ContentAlgorithm),
}

impl Target {
    fn apply(self, old: ContentAlgorithm) -> ContentAlgorithm {
        match self {
            Target::Keep => old,
            Target::Exactly(a) if old.rank() < a.rank() => old,
            Target::Exactly(a) => a,
            Target::ExactlyAllowingDowngrade(a) => a,
            Target::AtLeast(f) if old.is_at_least(f) => old,
            Target::AtLeast(f) => f,
        }
    }

    /// True when `old` keeps its algorithm only because it is stronger than the one asked
    /// for (`--algorithm` without `--allow-downgrade`).
    fn keeps_stronger(self, old: ContentAlgorithm) -> bool {
        matches!(self, Target::Exactly(a) if old.rank() < a.rank())
    }
}

/// Why a message keeps its bytes (stable strings, used in reports and the journal).
pub mod reason {
    /// Not S/MIME.
    pub const PLAIN: &str = "plain";
    /// Signed, not encrypted.
    pub const SIGNED: &str = "signed, not encrypted";
    /// Already at the target algorithm and keys.
    pub const AT_TARGET: &str = "already at target";
    /// Stronger than the `--algorithm` asked for (kept, not downgraded); also the reason of a
    /// message re-encrypted for new keys with its own, stronger, algorithm.
    pub const ALREADY_STRONGER: &str = "already stronger";
    /// A signature over an encrypted entity.
    pub const ENCRYPTED_THEN_SIGNED: &str =
        "encrypted then signed (re-encrypting would break the outer signature)";
    /// Another S/MIME type (certs-only, compressed).
    pub const OTHER: &str = "other S/MIME type (not encrypted)";
}

/// Re-encrypts single messages: the decision and the crypto, no I/O.
pub struct Reencryptor<'a> {
    keyring: &'a Keyring,
    own: Certificate,
    to: &'a [Certificate],
    target: Target,
}

/// What to do with a message's bytes.
#[derive(Debug)]
pub enum Change {
    /// Keep the bytes exactly.
    Keep,
    /// Replace them with these.
    New(Vec<u8>),
}

fn record(outcome: &str) -> Record {
    Record {
        id: String::new(),
        outcome: outcome.into(),
        from: None,
        to: None,
        reason: None,
        dropped: Vec::new(),
        n: None,
        src_end: None,
        dest_end: None,
    }
}

fn unchanged(why: &str) -> (Record, Change) {
    let mut r = record("unchanged");
    r.reason = Some(why.into());
    (r, Change::Keep)
}

fn failed(why: String) -> (Record, Change) {
    let mut r = record("failed");
    r.reason = Some(why);
    (r, Change::Keep)
}

impl<'a> Reencryptor<'a> {
    /// A re-encryptor for the owner of `keyring` (its newest encryption certificate is the
    /// new recipient), also for those of `to` that a message was already encrypted for.
    pub fn new(
        keyring: &'a Keyring,
        to: &'a [Certificate],
        target: Target,
    ) -> anyhow::Result<Self> {
        let (_, own) = keyring.encryption_key()?;
        Ok(Self {
            keyring,
            own: own.clone(),
            to,
            target,
        })
    }

    /// Decides what to do with one message and does it.
    pub fn process(&self, message: &[u8]) -> (Record, Change) {
        let parsed = match smime::parse(message) {
            Ok(p) => p,
            Err(e) => return failed(format!("unreadable: {e}")),
        };
        match (parsed.kind, parsed.der.as_deref()) {
            (
                SmimeKind::Pkcs7Mime(t @ (SmimeType::EnvelopedData | SmimeType::AuthEnvelopedData)),
                Some(der),
            ) => {
                let _ = t;
                self.reencrypt(message, &parsed.outer_headers, der)
            }
            (SmimeKind::MultipartSigned, _) => {
                let inner_encrypted = parsed
                    .signed_content
                    .as_deref()
                    .is_some_and(is_encrypted_entity);
                unchanged(if inner_encrypted {
                    reason::ENCRYPTED_THEN_SIGNED
                } else {
                    reason::SIGNED
                })
            }
            (SmimeKind::Pkcs7Mime(SmimeType::SignedData), Some(der)) => {
                match pki::signed::check(der, None, &[]) {
                    Ok(c) if c.content.as_deref().is_some_and(is_encrypted_entity) => {
                        unchanged(reason::ENCRYPTED_THEN_SIGNED)
                    }
                    Ok(_) => unchanged(reason::SIGNED),
                    Err(e) => failed(format!("unreadable signed message: {e}")),
                }
            }
            (SmimeKind::Plain, _) => unchanged(reason::PLAIN),
            _ => unchanged(reason::OTHER),
        }
    }

    fn reencrypt(
        &self,
        message: &[u8],
        outer: &[smime::HeaderField],
        der: &[u8],
    ) -> (Record, Change) {
        let info = match enveloped::inspect(der) {
            Ok(i) => i,
            Err(e) => return failed(format!("unreadable encrypted message: {e}")),
        };
        let targets: Vec<Certificate> = std::iter::once(self.own.clone())
            .chain(
                self.to
                    .iter()
                    .filter(|c| info.recipients.iter().any(|r| r.matches(c)))
                    .cloned(),
            )
            .collect();
        let same_keys = same_recipients(&info.recipients, &targets);
        if let Some(old) = info.algorithm
            && same_keys
            && self.target.apply(old) == old
        {
            let mut r = record("unchanged");
            r.reason = Some(self.unchanged_reason(old).into());
            r.from = Some(old.name().into());
            r.to = Some(old.name().into());
            return (r, Change::Keep);
        }
        let d = match enveloped::decrypt(der, &self.keyring.keys, &mut pki::os_rng()) {
            Ok(d) => d,
            Err(pki::Error::DecryptFailed) => {
                return failed(
                    "cannot decrypt: the key does not open it (damaged or wrong key)".into(),
                );
            }
            Err(e) => return failed(format!("cannot decrypt: {e}")),
        };
        let old = d.algorithm;
        let new = self.target.apply(old);
        if same_keys && new == old {
            let mut r = record("unchanged");
            r.reason = Some(self.unchanged_reason(old).into());
            r.from = Some(old.name().into());
            r.to = Some(old.name().into());
            return (r, Change::Keep);
        }
        if d.content_type.to_string() != ID_DATA {
            return failed(format!(
                "the encrypted content is {} rather than a MIME entity; left unchanged",
                pki::signed::content_type_name(&d.content_type)
            ));
        }
        let out = enveloped::encrypt(
            &d.content,
            &targets,
            new,
            &EncryptOptions::default(),
            &mut pki::os_rng(),
        )
        .and_then(|der2| {
            let kind = if new.is_aead() {
                SmimeType::AuthEnvelopedData
            } else {
                SmimeType::EnvelopedData
            };
            smime::pkcs7_mime(outer, kind, &der2)
        });
        let mut out = match out {
            Ok(o) => o,
            Err(e) => return failed(format!("cannot encrypt again: {e}")),
        };
        if mailbox::uses_bare_lf(message) {
            out = mailbox::to_lf(&out);
        }
        let mut r = record("reencrypted");
        r.from = Some(old.name().into());
        r.to = Some(new.name().into());
        if self.target.keeps_stronger(old) {
            r.reason = Some(reason::ALREADY_STRONGER.into());
        }
        r.dropped = info
            .recipients
            .iter()
            .filter(|rid| {
                !self.keyring.keys.iter().any(|(_, c)| rid.matches(c))
                    && !targets.iter().any(|c| rid.matches(c))
            })
            .map(|rid| rid.to_string())
            .collect();
        (r, Change::New(out))
    }
}

impl Reencryptor<'_> {
    fn unchanged_reason(&self, old: ContentAlgorithm) -> &'static str {
        if self.target.keeps_stronger(old) {
            reason::ALREADY_STRONGER
        } else {
            reason::AT_TARGET
        }
    }
}

fn is_encrypted_entity(entity: &[u8]) -> bool {
    smime::parse(entity).is_ok_and(|p| {
        matches!(
            p.kind,
            SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData | SmimeType::AuthEnvelopedData)
        )
    })
}

fn same_recipients(rids: &[RecipientId], certs: &[Certificate]) -> bool {
    rids.iter().all(|r| certs.iter().any(|c| r.matches(c)))
        && certs.iter().all(|c| rids.iter().any(|r| r.matches(c)))
}

/// Where the result goes.
#[derive(Clone, Debug)]
pub enum Dest {
    /// A new mailbox of the same layout at this path.
    Path(PathBuf),
    /// The source itself.
    InPlace,
}

/// Options of [`run`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The mailbox to read.
    pub source: PathBuf,
    /// Where to write.
    pub dest: Dest,
    /// The algorithm rule.
    pub target: Target,
    /// Other recipients' certificates (`--to`).
    pub to: Vec<Certificate>,
    /// Worker threads.
    pub jobs: usize,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// Continue an interrupted run from its journal.
    pub resume: bool,
    /// The progress bar (hidden unless the caller shows it).
    pub progress: ProgressBar,
}

/// One message named in a report.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Note {
    /// The message (relative path, or `mbox message N`).
    pub message: String,
    /// What about it.
    pub reason: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The source, as read.
    pub source: String,
    /// Its layout.
    pub layout: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// Messages finished by the interrupted run that this one resumed.
    pub resumed: usize,
    /// Messages in all.
    pub total: usize,
    /// Messages re-encrypted (or that would be, in a dry run).
    pub reencrypted: usize,
    /// Messages that keep their bytes.
    pub unchanged: usize,
    /// Messages that could not be processed (kept unchanged, listed in `failures`).
    pub failed: usize,
    /// Messages stronger than `--algorithm` that kept their algorithm (unchanged, or
    /// re-encrypted for new keys with their own algorithm); 0 with `--allow-downgrade`.
    pub already_stronger: usize,
    /// Encrypted messages per algorithm before.
    pub from: BTreeMap<String, usize>,
    /// Encrypted messages per algorithm after.
    pub to: BTreeMap<String, usize>,
    /// `old -> new` counts of the re-encrypted messages.
    pub transitions: BTreeMap<String, usize>,
    /// Unchanged messages per reason.
    pub skipped: BTreeMap<String, usize>,
    /// Messages worth naming: encrypted-then-signed, and re-encrypted messages whose other
    /// recipients were dropped (no `--to` certificate for them).
    pub notes: Vec<Note>,
    /// Every failure with its reason.
    pub failures: Vec<Note>,
}

fn display_id(id: &str) -> String {
    match id.strip_prefix('#') {
        Some(n) => format!("mbox message {n}"),
        None => id.to_string(),
    }
}

impl Report {
    fn add(&mut self, r: &Record) {
        self.total += 1;
        if r.reason.as_deref() == Some(reason::ALREADY_STRONGER) {
            self.already_stronger += 1;
        }
        if let Some(f) = &r.from {
            *self.from.entry(f.clone()).or_default() += 1;
        }
        if let Some(t) = &r.to {
            *self.to.entry(t.clone()).or_default() += 1;
        }
        match r.outcome.as_str() {
            "reencrypted" => {
                self.reencrypted += 1;
                let key = format!(
                    "{} -> {}",
                    r.from.as_deref().unwrap_or("?"),
                    r.to.as_deref().unwrap_or("?")
                );
                *self.transitions.entry(key).or_default() += 1;
                if !r.dropped.is_empty() {
                    self.notes.push(Note {
                        message: display_id(&r.id),
                        reason: format!(
                            "not re-encrypted for {} (give their certificates with --to)",
                            r.dropped.join("; ")
                        ),
                    });
                }
            }
            "failed" => {
                self.failed += 1;
                self.failures.push(Note {
                    message: display_id(&r.id),
                    reason: r.reason.clone().unwrap_or_default(),
                });
            }
            _ => {
                self.unchanged += 1;
                let why = r.reason.clone().unwrap_or_default();
                if why == reason::ENCRYPTED_THEN_SIGNED {
                    self.notes.push(Note {
                        message: display_id(&r.id),
                        reason: why.clone(),
                    });
                }
                *self.skipped.entry(why).or_default() += 1;
            }
        }
    }

    fn sort(&mut self) {
        self.notes.sort_by_key(|n| natural(&n.message));
        self.failures.sort_by_key(|n| natural(&n.message));
    }
}

fn natural(s: &str) -> (String, u64) {
    match s.strip_prefix("mbox message ") {
        Some(n) => (String::new(), n.parse().unwrap_or(0)),
        None => (s.to_string(), 0),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Runs a re-encryption over a mailbox.
pub fn run(keyring: &Keyring, opts: &Options) -> anyhow::Result<Report> {
    let source = std::fs::canonicalize(&opts.source)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", opts.source.display()))?;
    let layout = Layout::detect(&source)?;
    let engine = Reencryptor::new(keyring, &opts.to, opts.target)?;
    let in_place = matches!(opts.dest, Dest::InPlace);
    let dest = match (&opts.dest, layout) {
        (Dest::Path(p), _) => absolute(p)?,
        (Dest::InPlace, Layout::Mbox) => sibling(&source, ".sectool-new"),
        (Dest::InPlace, _) => source.clone(),
    };
    let journal_path = journal::path_for(if in_place { &source } else { &dest });
    let header = Header {
        sectool_journal: 1,
        source: source.to_string_lossy().into_owned(),
        layout: layout.name().into(),
        in_place,
    };
    if !in_place && (dest == source || dest.starts_with(&source) || source.starts_with(&dest)) {
        anyhow::bail!(
            "the destination {} overlaps the source {}; give another --out, or --in-place",
            dest.display(),
            source.display()
        );
    }
    let mut report = Report {
        source: header.source.clone(),
        layout: header.layout.clone(),
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let (mut journal, previous) = if opts.dry_run {
        (None, Previous::default())
    } else if journal_path.exists() {
        if !opts.resume {
            anyhow::bail!(
                "{} holds the journal of an interrupted run: continue it with --resume, or remove it to start afresh",
                journal_path.display()
            );
        }
        let (j, p) = Journal::resume(&journal_path, &header)?;
        (Some(j), p)
    } else {
        if !in_place && dest_has_content(&dest, layout)? {
            anyhow::bail!(
                "the destination {} already exists and is not empty{}; give a new --out",
                dest.display(),
                if opts.resume {
                    format!(
                        " and there is no journal ({}) to resume",
                        journal_path.display()
                    )
                } else {
                    String::new()
                }
            );
        }
        (
            Some(Journal::create(&journal_path, &header)?),
            Previous::default(),
        )
    };
    for r in &previous.records {
        report.add(r);
    }
    report.resumed = previous.records.len();
    let ctx = Ctx {
        engine: &engine,
        source: &source,
        dest: &dest,
        layout,
        in_place,
        dry_run: opts.dry_run,
        jobs: opts.jobs.max(1),
        progress: &opts.progress,
    };
    match layout {
        Layout::Mbox => run_mbox(&ctx, &previous, journal.as_mut(), &mut report)?,
        _ => run_files(&ctx, &previous, journal.as_mut(), &mut report)?,
    }
    // The run is complete: every message is written and fsynced.
    if !opts.dry_run {
        if in_place {
            match layout {
                Layout::Mbox => swap_mbox(&source, &dest)?,
                _ => {
                    let backups = sibling(&source, ".sectool-backup");
                    if backups.exists() {
                        std::fs::remove_dir_all(&backups).map_err(|e| {
                            anyhow::anyhow!("cannot remove the backups {}: {e}", backups.display())
                        })?;
                        journal::sync_parent(&backups);
                    }
                }
            }
        }
        // Temporary files of an interrupted run (killed between create and rename).
        let temps_in = if in_place { &source } else { &dest };
        if layout != Layout::Mbox {
            mailbox::remove_stale_temps(temps_in)?;
        }
        if let Some(j) = journal {
            j.finish()?;
        }
    }
    opts.progress.finish_and_clear();
    report.sort();
    Ok(report)
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    // Resolve the parent (which must exist) so overlap checks see real paths.
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) if parent.exists() => {
            Ok(std::fs::canonicalize(parent)?.join(name))
        }
        _ => Ok(abs),
    }
}

fn dest_has_content(dest: &Path, layout: Layout) -> anyhow::Result<bool> {
    Ok(match layout {
        Layout::Mbox => dest.exists(),
        _ => dest.exists() && std::fs::read_dir(dest)?.next().is_some(),
    })
}

/// Swaps the new mbox in: the old one is kept as `NAME.sectool-orig` until the new one is in
/// place, then removed.
fn swap_mbox(source: &Path, new: &Path) -> anyhow::Result<()> {
    let orig = sibling(source, ".sectool-orig");
    if !new.exists() {
        // An interrupted run had already swapped.
        let _ = std::fs::remove_file(&orig);
        return Ok(());
    }
    if !orig.exists() {
        std::fs::hard_link(source, &orig).or_else(|_| std::fs::copy(source, &orig).map(|_| ()))?;
    }
    journal::sync_parent(source);
    std::fs::rename(new, source).map_err(|e| {
        anyhow::anyhow!("cannot move {} to {}: {e}", new.display(), source.display())
    })?;
    journal::sync_parent(source);
    std::fs::remove_file(&orig)?;
    journal::sync_parent(source);
    Ok(())
}

struct Ctx<'a> {
    engine: &'a Reencryptor<'a>,
    source: &'a Path,
    dest: &'a Path,
    layout: Layout,
    in_place: bool,
    dry_run: bool,
    jobs: usize,
    progress: &'a ProgressBar,
}

type Shared<T> = Arc<Mutex<Receiver<T>>>;

fn next<T>(rx: &Shared<T>) -> Option<T> {
    rx.lock().ok()?.recv().ok()
}

fn run_files(
    ctx: &Ctx<'_>,
    previous: &Previous,
    mut journal: Option<&mut Journal>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let files = mailbox::list_files(ctx.source, ctx.layout)?;
    let id_of = |rel: &Path| rel.to_string_lossy().into_owned();
    let todo: Vec<PathBuf> = files
        .iter()
        .filter(|rel| !previous.by_id.contains_key(&id_of(rel)))
        .cloned()
        .collect();
    ctx.progress.set_length(files.len() as u64);
    ctx.progress.set_position((files.len() - todo.len()) as u64);
    if !ctx.dry_run && !ctx.in_place {
        std::fs::create_dir_all(ctx.dest)?;
        if ctx.layout == Layout::Maildir {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(ctx.dest.join(sub))?;
            }
        }
    }
    std::thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<PathBuf>(ctx.jobs * 2);
        let work_rx: Shared<PathBuf> = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<anyhow::Result<Record>>(ctx.jobs * 4);
        s.spawn(move || {
            for rel in todo {
                if work_tx.send(rel).is_err() {
                    break;
                }
            }
        });
        for _ in 0..ctx.jobs {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                while let Some(rel) = next(&rx) {
                    let r = file_one(ctx, &rel).map(|mut r| {
                        r.id = id_of(&rel);
                        r
                    });
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            });
        }
        drop((done_tx, work_rx));
        collect(done_rx, |batch| {
            if let Some(j) = journal.as_deref_mut() {
                j.append(&batch)?;
            }
            for r in &batch {
                report.add(r);
            }
            ctx.progress.inc(batch.len() as u64);
            Ok(())
        })
    })
}

/// Receives results until every sender is gone, handing them over in batches (whatever has
/// arrived since the last batch). Returns the first error; dropping the receiver then makes
/// the workers stop.
fn collect<T>(
    rx: Receiver<anyhow::Result<T>>,
    mut handle: impl FnMut(Vec<T>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first?];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(r) => batch.push(r?),
                Err(_) => break,
            }
        }
        handle(batch)?;
    }
    Ok(())
}

fn file_one(ctx: &Ctx<'_>, rel: &Path) -> anyhow::Result<Record> {
    let src = ctx.source.join(rel);
    let backup = sibling(ctx.source, ".sectool-backup").join(rel);
    // In place, a backup left by an interrupted run is the original: start from it, so the
    // outcome (and the report) is what it would have been.
    let had_backup = ctx.in_place && !ctx.dry_run && backup.is_file();
    let read_from = if had_backup { &backup } else { &src };
    let bytes = match crate::files::read(read_from, "message") {
        Ok(b) => b,
        // Unreadable files are reported; there is nothing to copy.
        Err(e) => return Ok(failed(format!("{e:#}")).0),
    };
    let (record, change) = ctx.engine.process(&bytes);
    if ctx.dry_run {
        return Ok(record);
    }
    let mode = mailbox::mode_of(&src);
    let tmp_dir = |root: &Path, target: &Path| -> PathBuf {
        if ctx.layout == Layout::Maildir {
            root.join("tmp")
        } else {
            target.parent().map(Path::to_path_buf).unwrap_or_default()
        }
    };
    if ctx.in_place {
        if let (Change::Keep, true) = (&change, had_backup) {
            mailbox::write_atomic_in(&tmp_dir(ctx.source, &src), &src, &bytes, mode)?;
        }
        if let Change::New(new) = &change {
            if let Some(dir) = backup.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // A backup from an interrupted run is the original: keep it.
            if !backup.exists() {
                if std::fs::hard_link(&src, &backup).is_err() {
                    mailbox::write_atomic_in(
                        backup.parent().unwrap_or(Path::new(".")),
                        &backup,
                        &bytes,
                        mode,
                    )?;
                }
                journal::sync_parent(&backup);
            }
            mailbox::write_atomic_in(&tmp_dir(ctx.source, &src), &src, new, mode)?;
        }
    } else {
        let out = ctx.dest.join(rel);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let data = match &change {
            Change::New(n) => n.as_slice(),
            Change::Keep => bytes.as_slice(),
        };
        mailbox::write_atomic_in(&tmp_dir(ctx.dest, &out), &out, data, mode)?;
    }
    Ok(record)
}

struct MboxDone {
    number: u64,
    end: u64,
    record: Record,
    bytes: Vec<u8>,
}

fn run_mbox(
    ctx: &Ctx<'_>,
    previous: &Previous,
    mut journal: Option<&mut Journal>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (offset, done, dest_len) = match previous.last_mbox() {
        Some(r) => (
            r.src_end.unwrap_or(0),
            r.n.unwrap_or(0),
            r.dest_end.unwrap_or(0),
        ),
        None => (0, 0, 0),
    };
    let size = std::fs::metadata(ctx.source)?.len();
    ctx.progress.set_length(size);
    ctx.progress.set_position(offset);
    let mut out = if ctx.dry_run {
        None
    } else {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(ctx.dest)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", ctx.dest.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mailbox::mode_of(
                ctx.source,
            )))?;
        }
        // Anything after the last journaled message is from the interrupted run: cut it.
        f.set_len(dest_len)?;
        f.seek(SeekFrom::Start(dest_len))?;
        f.sync_all()?;
        journal::sync_parent(ctx.dest);
        Some(f)
    };
    let mut reader = MboxReader::open(ctx.source, offset, done)?;
    let in_flight = ctx.jobs * 4;
    std::thread::scope(|s| {
        // Tokens bound the messages between the reader and the writer (the reorder buffer).
        let (token_tx, token_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            token_tx.send(())?;
        }
        let (work_tx, work_rx) = sync_channel::<MboxMessage>(ctx.jobs * 2);
        let work_rx: Shared<MboxMessage> = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<anyhow::Result<MboxDone>>(in_flight);
        let reader_tx = done_tx.clone();
        s.spawn(move || {
            while token_rx.recv().is_ok() {
                match reader.next_message() {
                    Ok(Some(m)) => {
                        if work_tx.send(m).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = reader_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        for _ in 0..ctx.jobs {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                while let Some(m) = next(&rx) {
                    let (mut record, change) = ctx.engine.process(&m.message);
                    record.id = format!("#{}", m.number);
                    let bytes = match change {
                        Change::Keep => m.raw(),
                        Change::New(n) => m.rewritten(&n),
                    };
                    let d = MboxDone {
                        number: m.number,
                        end: m.end,
                        record,
                        bytes,
                    };
                    if tx.send(Ok(d)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((done_tx, work_rx));
        let mut pending: HashMap<u64, MboxDone> = HashMap::new();
        let mut next_number = done + 1;
        let mut dest_end = dest_len;
        let mut records = Vec::new();
        let mut last_end = offset;
        collect(done_rx, |batch_in| {
            for d in batch_in {
                pending.insert(d.number, d);
            }
            while let Some(d) = pending.remove(&next_number) {
                if let Some(f) = out.as_mut() {
                    f.write_all(&d.bytes)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", ctx.dest.display()))?;
                }
                dest_end += d.bytes.len() as u64;
                let mut r = d.record;
                r.n = Some(d.number);
                r.src_end = Some(d.end);
                r.dest_end = Some(dest_end);
                last_end = d.end;
                records.push(r);
                next_number += 1;
                let _ = token_tx.send(());
            }
            if records.is_empty() {
                return Ok(());
            }
            if let Some(f) = out.as_mut() {
                f.sync_data()
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", ctx.dest.display()))?;
            }
            if let Some(j) = journal.as_deref_mut() {
                j.append(&records)?;
            }
            for r in &records {
                report.add(r);
            }
            ctx.progress.set_position(last_end);
            records.clear();
            Ok(())
        })?;
        if !pending.is_empty() {
            anyhow::bail!(
                "internal error: {} mbox messages were not written in order",
                pending.len()
            );
        }
        Ok(())
    })
}

/// What a mailbox holds (`sectool scan`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanReport {
    /// The source.
    pub source: String,
    /// Its layout.
    pub layout: String,
    /// Messages in all.
    pub total: usize,
    /// Encrypted messages.
    pub encrypted: usize,
    /// Encrypted messages per algorithm (`cast5 (40/64/128)` when only the key would tell).
    pub by_algorithm: BTreeMap<String, usize>,
    /// Encrypted messages per recipient key (issuer and serial, or key identifier).
    pub by_recipient: BTreeMap<String, usize>,
    /// Signed messages (not encrypted on the outside).
    pub signed: usize,
    /// Plain messages.
    pub plain: usize,
    /// Other S/MIME messages (certs-only, compressed).
    pub other: usize,
    /// Messages that could not be read.
    pub unreadable: usize,
    /// Each unreadable message with why.
    pub unreadable_messages: Vec<Note>,
}

impl ScanReport {
    fn add(&mut self, id: &str, message: &[u8]) {
        self.total += 1;
        let parsed = match smime::parse(message) {
            Ok(p) => p,
            Err(e) => return self.unreadable(id, format!("{e}")),
        };
        match (parsed.kind, parsed.der.as_deref()) {
            (
                SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData | SmimeType::AuthEnvelopedData),
                Some(der),
            ) => match enveloped::inspect(der) {
                Ok(info) => {
                    self.encrypted += 1;
                    let alg = match info.algorithm {
                        Some(a) => a.name().to_string(),
                        None => algorithm_family(&info.possible_algorithms),
                    };
                    *self.by_algorithm.entry(alg).or_default() += 1;
                    for r in &info.recipients {
                        *self.by_recipient.entry(r.to_string()).or_default() += 1;
                    }
                }
                Err(e) => self.unreadable(id, format!("{e}")),
            },
            (SmimeKind::MultipartSigned | SmimeKind::Pkcs7Mime(SmimeType::SignedData), _) => {
                self.signed += 1
            }
            (SmimeKind::Plain, _) => self.plain += 1,
            _ => self.other += 1,
        }
    }

    fn unreadable(&mut self, id: &str, why: String) {
        self.unreadable += 1;
        self.unreadable_messages.push(Note {
            message: display_id(id),
            reason: why,
        });
    }
}

/// `cast5 (40/64/128)` for the possible CAST5 variants of a bare-IV message.
fn algorithm_family(possible: &[ContentAlgorithm]) -> String {
    let bits: Vec<String> = possible
        .iter()
        .rev()
        .map(|a| a.key_bits().to_string())
        .collect();
    let family = if possible.iter().all(|a| a.name().starts_with("cast")) {
        "cast5"
    } else if possible.iter().all(|a| a.name().starts_with("rc2")) {
        "rc2"
    } else {
        "unknown"
    };
    format!("{family} ({})", bits.join("/"))
}

/// Reads a mailbox and reports what it holds, without decrypting anything.
pub fn scan(source: &Path, progress: &ProgressBar) -> anyhow::Result<ScanReport> {
    let layout = Layout::detect(source)?;
    let mut report = ScanReport {
        source: source.display().to_string(),
        layout: layout.name().into(),
        ..ScanReport::default()
    };
    match layout {
        Layout::Mbox => {
            progress.set_length(std::fs::metadata(source)?.len());
            let mut reader = MboxReader::open(source, 0, 0)?;
            while let Some(m) = reader.next_message()? {
                report.add(&format!("#{}", m.number), &m.message);
                progress.set_position(m.end);
            }
        }
        _ => {
            let files = mailbox::list_files(source, layout)?;
            progress.set_length(files.len() as u64);
            for rel in files {
                let id = rel.to_string_lossy().into_owned();
                match crate::files::read(&source.join(&rel), "message") {
                    Ok(bytes) => report.add(&id, &bytes),
                    Err(e) => {
                        report.total += 1;
                        report.unreadable(&id, format!("{e:#}"));
                    }
                }
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    Ok(report)
}
