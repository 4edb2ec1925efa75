//! Hostile backup headers (issue 15): a header that asks for thousands of Argon2 derivations
//! at the per-wrap maximum (1 GiB, 64 passes) is refused with `ESCROW-030` before any
//! derivation runs; leftovers of an interrupted backup are swept, and a backup leaves only
//! its file. `costly_backup_header` below is the generator of the hostile input.

use std::path::Path;

use escrow::{Credential, Error, verify_backup};
use sha2::{Digest, Sha256};

use crate::common::{PASSWORD, init};

/// Argon2 memory in KiB and passes of every wrap the generator writes: the per-wrap maxima.
const HOSTILE_M_KIB: u32 = 1024 * 1024;
const HOSTILE_T: u32 = 64;

/// Generator: the bytes of a backup file (format version 1, see `escrow/src/backup.rs`) whose
/// header lists `wraps` password wraps, each asking for Argon2id with `m_kib` KiB and `t`
/// passes; a correct header checksum, and no chunks (the refusal must come before them).
pub fn costly_backup_header(wraps: u16, m_kib: u32, t: u32) -> Vec<u8> {
    fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&u16::try_from(b.len()).unwrap().to_be_bytes());
        out.extend_from_slice(b);
    }
    let mut header = Vec::new();
    header.extend_from_slice(&[7u8; 16]); // store id
    header.extend_from_slice(&1u32.to_be_bytes()); // schema version
    header.extend_from_slice(&4096u64.to_be_bytes()); // database length
    header.extend_from_slice(&4096u32.to_be_bytes()); // chunk size
    header.extend_from_slice(&[9u8; 32]); // salt
    header.extend_from_slice(&wraps.to_be_bytes());
    for i in 0..wraps {
        header.extend_from_slice(&i64::from(i + 1).to_be_bytes()); // method id
        header.push(1); // kind: password
        put_bytes(&mut header, b"password");
        header.push(0); // no key-file id
        header.push(1); // Argon2 parameters follow
        for v in [m_kib, t, 1] {
            header.extend_from_slice(&v.to_be_bytes());
        }
        put_bytes(&mut header, &[1u8; 16]); // salt
        header.extend_from_slice(&[2u8; 12]); // nonce
        put_bytes(&mut header, &[3u8; 48]); // wrapped master key
    }
    let mut file = b"KMSESCROWBACKUP\0".to_vec();
    file.extend_from_slice(&1u16.to_be_bytes());
    file.extend_from_slice(&u32::try_from(header.len()).unwrap().to_be_bytes());
    file.extend_from_slice(&header);
    let hash = Sha256::digest(&file);
    file.extend_from_slice(&hash);
    file
}

fn assert_too_costly(path: &Path) {
    // If any derivation ran, this would take hours (1 GiB, 64 passes each): the error kind
    // says the refusal came from the cost check, which runs before the first derivation.
    let err = verify_backup(path, &Credential::password(PASSWORD)).unwrap_err();
    assert!(matches!(err, Error::BackupTooCostly { .. }), "{err}");
    assert_eq!(err.code(), "ESCROW-030");
    assert!(
        err.to_string().contains("refused before deriving any key"),
        "{err}"
    );
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy).
#[test]
fn thousands_of_maximal_password_wraps_are_refused_before_any_derivation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.kmsbak");
    std::fs::write(&path, costly_backup_header(5000, HOSTILE_M_KIB, HOSTILE_T)).unwrap();
    assert_too_costly(&path);
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy).
#[test]
fn a_few_wraps_whose_total_cost_is_too_high_are_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    // Two wraps, each within the per-wrap limits, together above the total limit.
    let path = dir.path().join("two.kmsbak");
    std::fs::write(&path, costly_backup_header(2, HOSTILE_M_KIB, HOSTILE_T)).unwrap();
    assert_too_costly(&path);
    // One wrap above the per-wrap memory limit.
    let path = dir.path().join("one.kmsbak");
    std::fs::write(&path, costly_backup_header(1, u32::MAX, 1)).unwrap();
    assert_too_costly(&path);
    // Many cheap wraps: refused on their number alone.
    let path = dir.path().join("many.kmsbak");
    std::fs::write(&path, costly_backup_header(65, 64, 1)).unwrap();
    assert_too_costly(&path);
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy).
#[test]
fn a_cheap_header_from_the_generator_gets_past_the_cost_check() {
    // The generator's output is a well-formed header: with affordable costs it is refused
    // only later (no wrap opens with this password), so the cost check is what fired above.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cheap.kmsbak");
    std::fs::write(&path, costly_backup_header(3, 64, 1)).unwrap();
    let err = verify_backup(&path, &Credential::password(PASSWORD)).unwrap_err();
    assert_eq!(err.code(), "ESCROW-001", "{err}");
}

// SQLite only: backups copy the SQLite image (PostgreSQL's come with db::copy).
#[test]
fn backups_sweep_leftovers_and_leave_only_the_backup() {
    let (fx, store) = init();
    let dir = fx.path("backups");
    std::fs::create_dir(&dir).unwrap();
    let leftovers = [
        ".escrow-backup-AbC123.sqlite",
        ".escrow-backup-AbC123.sqlite-journal",
        ".escrow-backup-XyZ789.part",
    ];
    for name in leftovers {
        std::fs::write(dir.join(name), b"SQLite format 3\0 plaintext copy").unwrap();
    }
    std::fs::write(dir.join("keep-me.txt"), b"not ours").unwrap();
    store.backup(&dir.join("b1.kmsbak")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["b1.kmsbak", "keep-me.txt"]);
    // The sweep also runs on its own (at unlock); a missing folder has nothing to sweep.
    std::fs::write(dir.join(".escrow-restore-1.db"), b"x").unwrap();
    assert_eq!(escrow::sweep_temporaries(&dir).unwrap(), 1);
    assert_eq!(escrow::sweep_temporaries(&fx.path("nowhere")).unwrap(), 0);
    // And the backup is good.
    let report = verify_backup(&dir.join("b1.kmsbak"), &Credential::password(PASSWORD)).unwrap();
    assert_eq!(report.unlock_methods, 2);
}
