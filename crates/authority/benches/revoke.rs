//! Revocation at scale: revoke latency with 0, 100 000 and (with `REVOKE_BENCH_MILLION=1`)
//! 1 000 000 revocations already listed, and how long the CRL that lists a new one takes
//! to be published; a bulk revoke of 10 000 with its CRL; building and signing a CRL of
//! 1 000 000 entries (time, and the process's peak memory before and after), with
//! `benches/revoke_openssl.sh` run in the same process for OpenSSL's figures (`openssl ca
//! -gencrl` of 1 000 000 entries, `openssl crl` reading the CRL built here).
//!
//! `cargo bench -p authority --bench revoke`. Rows are seeded directly into the store (as
//! the console benchmark does). Each revoke-latency case also times a bare fsync on the
//! same disk (the floor of a durable commit) and `crl_health`'s cost. The CA key is RSA-4096 (the default CA's size). Revoke
//! latency is measured with `crl_publish_wait = 0`: the commit, not the wait for the
//! publisher (which the default configuration adds, up to 2 s, to answer with the CRL).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use authority::{Admin, Authority, BulkTarget, Config, InitParams, RevokeTarget, SystemClock};
use criterion::{Criterion, criterion_group, criterion_main};
use escrow::{Argon2Params, InitOptions, Password};
use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::{Issuer, PrivateKey};
use rusqlite::{Connection, params};

const ADMIN_PW: &str = "admin password 1";

fn ca_key() -> PrivateKey {
    PrivateKey::from_pem_or_der(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys/ca2-4096.key.pem"))
            .unwrap(),
    )
    .unwrap()
}

/// A 19-octet serial, as the authority issues them.
fn serial(tag: u64, i: u64) -> String {
    format!("7{tag:05x}{i:032x}")
}

/// Peak resident memory of this process so far (VmHWM), KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    auth: Authority,
    admin: Admin,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let config = Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        crl_publish_wait: Duration::ZERO,
        ..Config::default()
    };
    let auth = authority::init(
        InitParams {
            data_dir: &dir,
            ca_subject: "CN=Bench CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(ca_key()),
        },
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    Setup {
        _tmp: tmp,
        dir,
        auth,
        admin,
    }
}

/// Inserts `n` certificates tagged `tag` (revoked too when `revoked`) in one transaction.
fn seed(dir: &Path, tag: u64, n: u64, revoked: bool) -> Vec<String> {
    let mut conn = Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = conn.transaction().unwrap();
    let mut out = Vec::with_capacity(if revoked { 0 } else { n as usize });
    {
        let mut cert = tx
            .prepare(
                "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                 VALUES (?1, NULL, 'signing', x'3000', 0, 4000000000, 0)",
            )
            .unwrap();
        let mut rev = tx
            .prepare(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number)
                 VALUES (?1, 'keyCompromise', 1700000000, 1)",
            )
            .unwrap();
        for i in 0..n {
            let s = serial(tag, i);
            cert.execute([&s]).unwrap();
            if revoked {
                rev.execute([&s]).unwrap();
            } else {
                out.push(s);
            }
        }
        if revoked {
            tx.execute("UPDATE crl_state SET due = 1 WHERE id = 1", params![])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    out
}

/// Waits until the served CRL's number is at least `number`; how long that took.
fn published_within(auth: &Authority, number: i64, from: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = pki::crl::peek_number(&auth.published().crl_der).unwrap_or(0);
        if n as i64 >= number || Instant::now() > deadline {
            return from.elapsed();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A bare fsync on the store's disk, in the same run: 4 KiB appended to a file and fsynced,
/// `n` times; (p50, p99).
fn fsync_floor(dir: &Path, n: usize) -> (Duration, Duration) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = [0u8; 4096];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(dir.join("fsync-probe"));
    lat.sort();
    (percentile(&lat, 0.5), percentile(&lat, 0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Bytes under `dir`.
fn du(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += if m.is_dir() { du(&e.path()) } else { m.len() };
        }
    }
    total
}

fn revoke_latency(_c: &mut Criterion) {
    let mut sizes = vec![0u64, 100_000];
    if std::env::var_os("REVOKE_BENCH_MILLION").is_some() {
        sizes.push(1_000_000);
    }
    for existing in sizes {
        {
            let s = setup();
            let t0 = Instant::now();
            seed(&s.dir, 1, existing, true);
            let fresh = seed(&s.dir, 2, 300, false);
            let seeded = t0.elapsed();
            let t0 = Instant::now();
            s.auth.refresh_crl_if_due().unwrap();
            let first_sign = t0.elapsed();
            let signs = s.auth.crl_publisher_signs();
            // Sequential revokes as fast as they come (the publisher re-signs meanwhile).
            let mut lat = Vec::new();
            let t_all = Instant::now();
            for serial in &fresh[..200] {
                let t = Instant::now();
                s.auth
                    .revoke(
                        &s.admin,
                        &RevokeTarget::Serial(serial.clone()),
                        RevocationReason::KeyCompromise,
                    )
                    .unwrap();
                lat.push(t.elapsed());
            }
            let all = t_all.elapsed();
            lat.sort();
            let signs = s.auth.crl_publisher_signs() - signs;
            // The CRL that lists one revoke, on a quiet publisher.
            std::thread::sleep(Duration::from_secs(1));
            while s.auth.crl_health().is_some() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut publish = Vec::new();
            for serial in &fresh[200..203] {
                let t = Instant::now();
                let out = s
                    .auth
                    .revoke(
                        &s.admin,
                        &RevokeTarget::Serial(serial.clone()),
                        RevocationReason::KeyCompromise,
                    )
                    .unwrap();
                publish.push(published_within(&s.auth, out.crl_number, t));
            }
            let (f50, f99) = fsync_floor(&s.dir, 200);
            let t = Instant::now();
            let health_n = 200;
            for _ in 0..health_n {
                let _ = s.auth.crl_health();
            }
            let health = t.elapsed() / health_n;
            println!(
                "revoke with {existing} listed: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
                 (200 revokes in {:.2} s, {signs} CRL re-signs meanwhile); bare fsync on this disk p50 {:.2} ms, p99 {:.2} ms; \
                 CRL listing it published after {:?} (3 revokes); crl_health {:.3} ms; \
                 seeding {:.1} s, first CRL sign {:.2} s; data directory {} MiB",
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
                ms(*lat.last().unwrap()),
                all.as_secs_f64(),
                ms(f50),
                ms(f99),
                publish
                    .iter()
                    .map(|d| format!("{:.2} s", d.as_secs_f64()))
                    .collect::<Vec<_>>(),
                ms(health),
                seeded.as_secs_f64(),
                first_sign.as_secs_f64(),
                du(&s.dir) >> 20,
            );
        }
    }
}

fn bulk_revoke(_c: &mut Criterion) {
    for run in 0..3u64 {
        let s = setup();
        let serials = seed(&s.dir, 10 + run, 10_000, false);
        let t = Instant::now();
        let out = s
            .auth
            .revoke_bulk(
                &s.admin,
                &BulkTarget::Serials(serials),
                RevocationReason::AffiliationChanged,
            )
            .unwrap();
        let committed = t.elapsed();
        let total = published_within(&s.auth, out.crl_number, t);
        assert_eq!(out.revoked, 10_000);
        println!(
            "bulk revoke of 10000: committed in {:.3} s, CRL listing them published after {:.3} s",
            committed.as_secs_f64(),
            total.as_secs_f64()
        );
    }
}

fn build(issuer: &Issuer, n: u64) -> Vec<u8> {
    let now = SystemTime::now();
    let mut b = CrlBuilder::new(2, now, now + Duration::from_secs(7 * 86400))
        .unwrap()
        .freshest_crl("http://127.0.0.1:9999/crl/delta");
    b.reserve(n as usize);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in 0..n {
        b.add(&CrlEntry {
            serial: hex::decode(serial(3, i)).unwrap(),
            revoked_at: at,
            reason: RevocationReason::KeyCompromise,
        })
        .unwrap();
    }
    b.sign(issuer).unwrap()
}

fn crl_build(c: &mut Criterion) {
    let ca = {
        let s = setup();
        pki::certificate::parse_certificate(&s.auth.published().ca_der).unwrap()
    };
    let issuer = Issuer::new(ca, ca_key()).unwrap();
    // Peak memory of one build of 1 000 000 entries (first, before anything else large).
    let before = vm_hwm_kib();
    let t = Instant::now();
    let der = build(&issuer, 1_000_000);
    let took = t.elapsed();
    let after = vm_hwm_kib();
    println!(
        "CRL of 1000000 entries: built and signed in {:.3} s, {} bytes; peak RSS {} MiB before, {} MiB after (+{} MiB)",
        took.as_secs_f64(),
        der.len(),
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / 1024
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &der).unwrap();
    drop(der);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/revoke_openssl.sh");
    match std::process::Command::new("bash")
        .arg(&script)
        .arg(file.path())
        .output()
    {
        Ok(o) => print!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("{} could not run: {e}", script.display()),
    }
    let mut g = c.benchmark_group("crl");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("build + sign 1000000 entries (RSA-4096)", |b| {
        b.iter(|| build(&issuer, 1_000_000))
    });
    g.finish();
}

criterion_group!(benches, crl_build, bulk_revoke, revoke_latency);
criterion_main!(benches);
