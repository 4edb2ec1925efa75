//! The audit anchor outside the database (issue 14): written at init and when the head
//! moves; an older copy of the store, a forged or foreign anchor are refused at unlock; a
//! missing anchor is a warning recorded in the log; `--accept-rollback` and a restore through
//! the product re-anchor. Also: unlock sweeps backup leftovers and makes `backups/` 0700.
//! SQLite only: the anchor file and older copies of the SQLite file (on PostgreSQL the anchor
//! is kept in the database and each node's file is its own, `src/anchor.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use authority::{ANCHOR_FILE, AnchorState, Authority, Config, ManualClock};
use escrow::{Credential, Password, Store};

use super::{ADMIN_PW, Fixture, config, fixture};

const STARTUP: &str = "start-up password";

/// The fixture's directory and clock, apart from its authority (which tests close and
/// reopen).
struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    clock: Arc<ManualClock>,
}

fn env() -> (Env, Authority) {
    let Fixture {
        _dir,
        dir,
        clock,
        auth,
        ..
    } = fixture();
    (
        Env {
            _tmp: _dir,
            dir,
            clock,
        },
        auth,
    )
}

fn unlock_with(f: &Env, config: Config) -> authority::Result<Authority> {
    let store = Store::open(&f.dir).unwrap();
    authority::unlock(
        &store,
        &Credential::password(STARTUP),
        config,
        f.clock.clone(),
    )
}

fn unlock(f: &Env) -> authority::Result<Authority> {
    unlock_with(f, config())
}

fn admin(a: &Authority) -> authority::Admin {
    a.login("admin", &Password::new(ADMIN_PW)).unwrap().admin
}

fn actions(a: &Authority) -> Vec<String> {
    a.audit_list(&admin(a), None)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Closes `a` (its connection checkpoints the WAL into the database file).
fn close(a: Authority) {
    drop(a);
}

fn copy_store(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = from.join(format!("{}{suffix}", escrow::DB_FILE_NAME));
        let dst = to.join(format!("{}{suffix}", escrow::DB_FILE_NAME));
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// An anchor for (`seq`, `hash`) with a valid MAC, made with the store's own master key (as
/// only the unlocked authority can).
fn write_anchor(f: &Env, seq: i64, hash: &[u8]) {
    let store = Store::open(&f.dir).unwrap();
    let unlocked = store.unlock(&Credential::password(STARTUP)).unwrap();
    let body = format!(
        "kms-audit-anchor/v1\nstore_id {}\nseq {seq}\nhash {}\nat 1800000000\n",
        unlocked.store().store_id(),
        hex(hash)
    );
    let mac = unlocked.anchor_mac(body.as_bytes());
    std::fs::write(
        f.dir.join(ANCHOR_FILE),
        format!("{body}mac {}\n", hex(&mac)),
    )
    .unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn anchor_text(f: &Env) -> String {
    std::fs::read_to_string(f.dir.join(ANCHOR_FILE)).unwrap()
}

#[test]
fn the_anchor_follows_the_head_and_an_older_copy_of_the_store_is_refused() {
    let (f, auth) = env();
    let anchor = f.dir.join(ANCHOR_FILE);
    let text = anchor_text(&f);
    assert!(
        text.starts_with("kms-audit-anchor/v1\n"),
        "init writes the anchor: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&anchor).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let a = admin(&auth);
    auth.add_user(&a, "early@example.com", "Early", &[])
        .unwrap();
    assert!(auth.anchor_now().unwrap(), "the head moved");
    assert!(!auth.anchor_now().unwrap(), "nothing changed since");
    let head = auth.audit_list(&a, None).unwrap().last().unwrap().seq;
    assert!(anchor_text(&f).contains(&format!("\nseq {head}\n")));
    close(auth);

    // An older copy of the store, taken while stopped; then more work.
    let old = tempfile::tempdir().unwrap();
    copy_store(&f.dir, old.path());
    let auth = unlock(&f).unwrap();
    let a = admin(&auth);
    auth.add_user(&a, "late@example.com", "Late", &[]).unwrap();
    auth.anchor_now().unwrap();
    let report = auth.audit_verify(&a).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.anchor.as_ref().unwrap().state, AnchorState::Ok);
    close(auth);

    // The older copy put back: refused, naming the problem.
    copy_store(old.path(), &f.dir);
    let err = unlock(&f).unwrap_err();
    assert_eq!(err.code(), "AUTH-070", "{err}");
    let msg = err.to_string();
    assert!(msg.contains("committed work is missing"), "{msg}");
    assert!(msg.contains("older copy"), "{msg}");
    // Refused every time, not only once.
    assert_eq!(unlock(&f).unwrap_err().code(), "AUTH-070");

    // On the operator's word: accepted, recorded, and re-anchored.
    let accepting = Config {
        accept_rollback: true,
        ..config()
    };
    let auth = unlock_with(&f, accepting).unwrap();
    assert!(actions(&auth).contains(&"audit.accept-rollback".to_string()));
    let report = auth.audit_verify(&admin(&auth)).unwrap();
    assert!(report.ok, "{report:?}");
    close(auth);
    let auth = unlock(&f).unwrap();
    let a = admin(&auth);
    assert!(auth.user(&a, "early@example.com").is_ok());
    assert_eq!(
        auth.user(&a, "late@example.com").unwrap_err().code(),
        "AUTH-005",
        "the older copy is what serves"
    );
}

#[test]
fn a_forged_or_foreign_anchor_is_refused_and_a_missing_one_is_a_recorded_warning() {
    let (f, auth) = env();
    let a = admin(&auth);
    auth.add_user(&a, "x@example.com", "X", &[]).unwrap();
    auth.anchor_now().unwrap();
    let entries = auth.audit_list(&a, None).unwrap();
    let last = entries.last().unwrap().clone();
    close(auth);
    let good = anchor_text(&f);

    // Edited without the key: the MAC fails.
    let edited = good.replace(&format!("\nseq {}\n", last.seq), "\nseq 1\n");
    assert_ne!(edited, good);
    std::fs::write(f.dir.join(ANCHOR_FILE), &edited).unwrap();
    let err = unlock(&f).unwrap_err();
    assert_eq!(err.code(), "AUTH-071", "{err}");
    assert!(err.to_string().contains("MAC"), "{err}");
    // Not an anchor at all.
    std::fs::write(f.dir.join(ANCHOR_FILE), "hello\n").unwrap();
    assert_eq!(unlock(&f).unwrap_err().code(), "AUTH-071");

    // A valid MAC naming an entry the database lacks, or another hash at a seq it has.
    write_anchor(&f, last.seq + 5, &[1; 32]);
    let err = unlock(&f).unwrap_err();
    assert_eq!(err.code(), "AUTH-070", "{err}");
    assert!(
        err.to_string()
            .contains(&format!("names entry {}", last.seq + 5)),
        "{err}"
    );
    write_anchor(&f, last.seq, &[1; 32]);
    let err = unlock(&f).unwrap_err();
    assert_eq!(err.code(), "AUTH-070", "{err}");
    assert!(err.to_string().contains("differs"), "{err}");
    // A valid anchor of an earlier head is fine (the anchor may lag the store).
    let earlier = &entries[entries.len() - 2];
    let earlier_hash: Vec<u8> = (0..earlier.hash.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&earlier.hash[i..i + 2], 16).unwrap())
        .collect();
    write_anchor(&f, earlier.seq, &earlier_hash);
    close(unlock(&f).unwrap());

    // Missing: a warning, recorded in the log, and a new anchor written.
    std::fs::remove_file(f.dir.join(ANCHOR_FILE)).unwrap();
    let auth = unlock(&f).unwrap();
    assert!(f.dir.join(ANCHOR_FILE).exists(), "re-anchored");
    assert!(actions(&auth).contains(&"audit.anchor-missing".to_string()));
    let report = auth.audit_verify(&admin(&auth)).unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn a_restore_through_the_product_re_anchors_even_after_a_crash_before_it_could() {
    let (f, auth) = env();
    let a = admin(&auth);
    auth.add_user(&a, "early@example.com", "Early", &[])
        .unwrap();
    let backup = auth.backup_now(Some(&a)).unwrap();
    auth.add_user(&a, "late@example.com", "Late", &[]).unwrap();
    auth.anchor_now().unwrap();
    let before = anchor_text(&f);
    auth.restore_backup(&a, &backup.name).unwrap();
    assert_ne!(anchor_text(&f), before, "re-anchored at once");
    let report = auth.audit_verify(&admin(&auth)).unwrap();
    assert!(report.ok, "{report:?}");
    let restore_entry = auth
        .audit_list(&admin(&auth), None)
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.action == "restore" && e.outcome == "ok")
        .unwrap();
    close(auth);
    // As if the process died between the restore's commit and the re-anchoring: the anchor
    // still names the replaced head, which the `restore` entry names too.
    let replaced = restore_entry
        .target
        .split("replaced audit head ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (seq, hash) = replaced.split_once(':').unwrap();
    let hash: Vec<u8> = (0..hash.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hash[i..i + 2], 16).unwrap())
        .collect();
    write_anchor(&f, seq.parse().unwrap(), &hash);
    let auth = unlock(&f).unwrap();
    assert_eq!(auth.check_anchor().unwrap().state, AnchorState::Ok);
}

#[test]
fn unlock_sweeps_backup_leftovers_and_makes_the_backup_folder_private() {
    use std::os::unix::fs::PermissionsExt;
    let (f, auth) = env();
    let a = admin(&auth);
    auth.backup_now(Some(&a)).unwrap();
    let backups = f.dir.join("backups");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backups), 0o700, "created private");
    close(auth);
    std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o755)).unwrap();
    let leftovers = [
        backups.join(".escrow-backup-Ab12Cd.sqlite"),
        backups.join(".escrow-backup-Ab12Cd.sqlite-journal"),
        backups.join(".escrow-backup-Ef34Gh.part"),
        f.dir.join(".escrow-restore-Ij56Kl.db"),
        f.dir.join(".escrow-verify-Mn78Op.db"),
    ];
    for p in &leftovers {
        std::fs::write(p, b"SQLite format 3\0 a plaintext copy").unwrap();
    }
    let auth = unlock(&f).unwrap();
    for p in &leftovers {
        assert!(!p.exists(), "{} swept at unlock", p.display());
    }
    assert_eq!(mode(&backups), 0o700, "an existing folder made private");
    assert_eq!(
        auth.backups(&admin(&auth)).unwrap().len(),
        1,
        "backups kept"
    );
}
