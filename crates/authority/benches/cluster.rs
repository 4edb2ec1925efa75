//! Cluster benchmarks (issue 19): enrollment throughput and latency on SQLite, on
//! PostgreSQL with one node and with two nodes; then, over a seeded store on both backends,
//! directory lookup, user search, one revoke and a full CRL build, with the database's size.
//!
//! `cargo bench -p authority --bench cluster`. In-process: no HTTP, no TLS, the authority's
//! own calls (`enroll`, `directory`, `search_users`, `revoke`, `refresh_crl_if_due`). The CA
//! key is the committed RSA-4096 `keys/ca2-4096.key.pem` (the default CA size); Argon2 is
//! cheap. PostgreSQL is a throw-away cluster of `db::testing::PgCluster::start_durable()`
//! (fsync and synchronous commit on, as a real deployment; `shared_buffers` 32 MB), on the
//! same disk and the same cores as the benchmark; SQLite is a temporary data directory.
//!
//! Enrollment: each node's encryption-key pool is pre-filled with copies of a committed key
//! (key generation, the pool's background job, is not measured) and every CSR is made from a
//! committed key, so what is measured is the request check, two RSA-4096 signatures, the
//! escrow (AES-GCM) and the durable commit. "Two nodes" is a second `authority::unlock` of
//! the same PostgreSQL store in this process (its own connection, state lock and key pool),
//! as `kmsd join` makes one; the K client threads (`KMS_BENCH_CLIENTS`, default 4) alternate
//! between the nodes. Both nodes share this machine's cores, so the two-node figure shows the
//! database's concurrency, not a second machine's CPU. `KMS_BENCH_ENROLL` enrollments per
//! configuration (default 200) give throughput and p50/p99; criterion then times one
//! enrollment at a time.
//!
//! Scale: `KMS_BENCH_SEED` users (default 10 000; the figure is 1 000 000) with two
//! certificates each (one user in ten has both revoked) are written straight into the store:
//! on SQLite through a second connection with prepared INSERTs, one transaction per batch of
//! 50 000 users; on PostgreSQL with one `INSERT ... SELECT FROM generate_series` per table
//! and batch, one transaction per batch (rows made by the server). Every certificate is the
//! DER of one real certificate this authority issued, its serial patched in place (same
//! length) so each row's DER names its own serial; the signature no longer verifies, which
//! nothing measured here checks. PostgreSQL is then ANALYZEd (autovacuum would do it);
//! SQLite is left as the authority leaves it. Disk (the run prints it; certificates of
//! 1 417 bytes), measured with 1 000 000 users: the SQLite directory 4.7 GiB (4.6 KiB per
//! user in the file, plus a WAL file as large as one seeding transaction, 225 MiB), the
//! PostgreSQL database 4.0 GiB (4.2 KiB per user) plus its WAL (`max_wal_size`, 1 GiB); the
//! SQLite directory is removed before PostgreSQL is seeded, so `KMS_BENCH_SEED=1000000`
//! needs about 6 GB free under the temporary directory (seeding takes 1 and 2 minutes).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authority::{Admin, Authority, Config, InitParams, RevokeTarget, SystemClock, UserQuery};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use db::testing::PgCluster;
use escrow::{Argon2Params, Credential, InitOptions, Password};
use pki::crl::RevocationReason;
use pki::{DigestAlgorithm, Name, PrivateKey};

const ADMIN_PW: &str = "bench admin password";
const STARTUP_PW: &str = "bench start-up password";
/// Users per seeding transaction.
const BATCH: i64 = 50_000;

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn config() -> Config {
    Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        // Revoke latency is the commit; the CRL that lists it is timed apart.
        crl_publish_wait: Duration::ZERO,
        ..Config::default()
    }
}

/// The PostgreSQL cluster of this run (durable settings), started on first use.
fn cluster() -> &'static PgCluster {
    static PG: std::sync::OnceLock<PgCluster> = std::sync::OnceLock::new();
    PG.get_or_init(PgCluster::start_durable)
}

/// A new authority: in `tmp/name` on SQLite (`pg` None), or on the PostgreSQL database `pg`
/// with `tmp/name` as the node's own directory.
fn new_authority(tmp: &Path, name: &str, pg: Option<&db::PgConfig>) -> Authority {
    authority::init_in(
        InitParams {
            data_dir: &tmp.join(name),
            ca_subject: "CN=Bench CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new(STARTUP_PW)),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(key("ca2-4096.key.pem")),
        },
        pg,
        config(),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A second node of the PostgreSQL store `pg` (its own directory `tmp/name`).
fn join(tmp: &Path, name: &str, pg: &db::PgConfig) -> Authority {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let store = escrow::Store::open_database(pg, &dir).unwrap();
    authority::unlock(
        &store,
        &Credential::password(STARTUP_PW),
        config(),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn admin(auth: &Authority) -> Admin {
    auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin
}

/// Makes users and their enrollment requests: (token, CSR PEM).
struct Work {
    signing: PrivateKey,
    next: AtomicUsize,
    tag: String,
}

impl Work {
    fn new(tag: &str) -> Work {
        Work {
            signing: key("alice-sign.key.pem"),
            next: AtomicUsize::new(0),
            tag: tag.into(),
        }
    }

    fn one(&self, auth: &Authority, admin: &Admin) -> (String, Vec<u8>) {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let email = format!("e{i}.{}@enroll.example", self.tag);
        let (_, token) = auth
            .add_user(admin, &email, &format!("Enrolled {i}"), &[])
            .unwrap();
        let csr = pki::csr::build(
            &self.signing,
            Name::from_str("CN=x").unwrap(),
            &email,
            DigestAlgorithm::Sha256,
        )
        .unwrap();
        (token.token.expose().to_string(), csr)
    }
}

/// `n` enrollments by `clients` threads, client `c` on node `c % nodes.len()`: latencies,
/// wall-clock time, failures.
fn enroll_run(
    nodes: &[&Authority],
    admin: &Admin,
    work: &Work,
    n: usize,
    clients: usize,
) -> (Vec<Duration>, Duration, usize) {
    let spare = key("spare-1.key.pem");
    for node in nodes {
        node.add_pool_keys((0..n).map(|_| spare.clone()).collect());
    }
    let jobs: Vec<(String, Vec<u8>)> = (0..n).map(|_| work.one(nodes[0], admin)).collect();
    let start = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(n.div_ceil(clients))
            .enumerate()
            .map(|(c, chunk)| {
                let node = nodes[c % nodes.len()];
                scope.spawn(move || {
                    let mut times = Vec::with_capacity(chunk.len());
                    let mut failed = 0;
                    for (token, csr) in chunk {
                        let t = Instant::now();
                        match node.enroll(token, csr) {
                            Ok(e) => {
                                assert!(!e.encryption_cert.is_empty());
                                times.push(t.elapsed());
                            }
                            Err(e) => {
                                failed += 1;
                                eprintln!("enrollment failed: {e}");
                            }
                        }
                    }
                    (times, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = start.elapsed();
    let failed = results.iter().map(|r| r.1).sum();
    let mut times: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    times.sort();
    (times, total, failed)
}

/// The DER of one certificate the authority issued (its encryption certificate), for seeding.
fn template(auth: &Authority, admin: &Admin) -> Vec<u8> {
    let work = Work::new("template");
    auth.add_pool_keys(vec![key("spare-2.key.pem")]);
    let (token, csr) = work.one(auth, admin);
    auth.enroll(&token, &csr).unwrap().encryption_cert
}

fn enrollment(c: &mut Criterion) {
    let n: usize = env_or("KMS_BENCH_ENROLL", 200);
    let clients: usize = env_or("KMS_BENCH_CLIENTS", 4).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = tempfile::tempdir().unwrap();
    let pg = cluster();
    let sqlite = new_authority(tmp.path(), "sqlite", None);
    let pg_db = pg.fresh_db();
    let pg1 = new_authority(tmp.path(), "pg-node1", Some(&pg_db));
    let pg2 = join(tmp.path(), "pg-node2", &pg_db);
    let cases: [(&str, Vec<&Authority>); 3] = [
        ("SQLite, 1 node", vec![&sqlite]),
        ("PostgreSQL, 1 node", vec![&pg1]),
        ("PostgreSQL, 2 nodes", vec![&pg1, &pg2]),
    ];
    println!(
        "\n== enrollment: {n} per case, {clients} client threads, {cores} cores (shared with other builds), RSA-4096 CA, in-process =="
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "case", "enroll/s", "p50 ms", "p99 ms", "max ms", "failed"
    );
    for (name, nodes) in &cases {
        let admin = admin(nodes[0]);
        let work = Work::new(&name.replace([' ', ','], "").to_lowercase());
        // A few first, so each node's caches and prepared statements are warm.
        enroll_run(nodes, &admin, &work, clients * 2, clients);
        let (times, total, failed) = enroll_run(nodes, &admin, &work, n, clients);
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>7}",
            name,
            times.len() as f64 / total.as_secs_f64(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(times.last().copied().unwrap_or_default()),
            failed
        );
    }
    let mut g = c.benchmark_group("enroll (one at a time)");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    let spare = key("spare-1.key.pem");
    for (name, auth) in [("SQLite", &sqlite), ("PostgreSQL", &pg1)] {
        let admin = admin(auth);
        let work = Work::new(&format!("crit{}", name.to_lowercase()));
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    auth.add_pool_keys(vec![spare.clone()]);
                    work.one(auth, &admin)
                },
                |(token, csr)| auth.enroll(&token, &csr).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// The serial (lower-case hex) that user `u`'s certificate `k` (0 signing, 1 encryption)
/// gets: `len` octets, the first 0x4N (positive, no leading zero).
fn serial_hex(u: i64, k: i64, len: usize) -> String {
    format!("4{:0w$x}", u * 2 + k, w = len * 2 - 1)
}

/// Where the template's serial sits in its DER, and its length.
fn serial_slot(der: &[u8]) -> (usize, usize) {
    let cert = pki::certificate::parse_certificate(der).unwrap();
    let serial = cert.tbs_certificate().serial_number().as_bytes().to_vec();
    let at = der
        .windows(serial.len())
        .position(|w| w == serial.as_slice())
        .unwrap();
    (at, serial.len())
}

/// Seeds `users` users (ids from `first_id`), two certificates each, one user in ten
/// revoked, into the SQLite store in `dir`.
fn seed_sqlite(dir: &Path, first_id: i64, users: i64, der: &[u8]) {
    let (at, len) = serial_slot(der);
    let mut conn = rusqlite::Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap();
    conn.busy_timeout(Duration::from_secs(60)).unwrap();
    let mut body = der.to_vec();
    let mut from = 0;
    while from < users {
        let to = (from + BATCH).min(users);
        let tx = conn.transaction().unwrap();
        {
            let mut user = tx
                .prepare(
                    "INSERT INTO users (id, email, email_key, name, capabilities, status, created_at)
                     VALUES (?1, ?2, ?2, ?3, 'aes256', 'active', 1700000000)",
                )
                .unwrap();
            let mut cert = tx
                .prepare(
                    "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                     VALUES (?1, ?2, ?3, ?4, 1700000000, 4000000000, 1700000000)",
                )
                .unwrap();
            let mut rev = tx
                .prepare(
                    "INSERT INTO revocations (serial, reason, revoked_at, crl_number)
                     VALUES (?1, 'keyCompromise', 1700000000, 1)",
                )
                .unwrap();
            for u in from..to {
                let id = first_id + u;
                user.execute(rusqlite::params![
                    id,
                    format!("user{u}@bench.example"),
                    format!("Bench User {u}")
                ])
                .unwrap();
                for (k, kind) in [(0, "signing"), (1, "encryption")] {
                    let s = serial_hex(u, k, len);
                    body[at..at + len].copy_from_slice(&hex::decode(&s).unwrap());
                    cert.execute(rusqlite::params![s, id, kind, body]).unwrap();
                    if u % 10 == 0 {
                        rev.execute([&s]).unwrap();
                    }
                }
            }
        }
        tx.execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])
            .unwrap();
        tx.commit().unwrap();
        from = to;
    }
}

/// [`seed_sqlite`] on the PostgreSQL database `pg`, the rows made by the server.
fn seed_postgres(pg: &db::PgConfig, first_id: i64, users: i64, der: &[u8]) {
    let (at, len) = serial_slot(der);
    let conn = db::Connection::connect_postgres(pg).unwrap();
    let serial_sql = format!("'4' || lpad(to_hex(u * 2 + k), {}, '0')", len * 2 - 1);
    let mut from = 0;
    while from < users {
        let to = (from + BATCH).min(users) - 1;
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO users (id, email, email_key, name, capabilities, status, created_at)
             SELECT CAST(?1 AS BIGINT) + u, 'user' || u || '@bench.example',
                    'user' || u || '@bench.example', 'Bench User ' || u, 'aes256', 'active',
                    1700000000
             FROM generate_series(CAST(?2 AS BIGINT), CAST(?3 AS BIGINT)) u",
            db::params![first_id, from, to],
        )
        .unwrap();
        tx.execute(
            &format!(
                "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                 SELECT {serial_sql}, CAST(?1 AS BIGINT) + u,
                        CASE k WHEN 0 THEN 'signing' ELSE 'encryption' END,
                        overlay(CAST(?4 AS BYTEA) PLACING decode({serial_sql}, 'hex')
                                FROM {} FOR {len}),
                        1700000000, 4000000000, 1700000000
                 FROM generate_series(CAST(?2 AS BIGINT), CAST(?3 AS BIGINT)) u,
                      generate_series(0, 1) k",
                at + 1
            ),
            db::params![first_id, from, to, der.to_vec()],
        )
        .unwrap();
        tx.execute(
            &format!(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number)
                 SELECT {serial_sql}, 'keyCompromise', 1700000000, 1
                 FROM generate_series(CAST(?1 AS BIGINT), CAST(?2 AS BIGINT)) u,
                      generate_series(0, 1) k
                 WHERE u % 10 = 0"
            ),
            db::params![from, to],
        )
        .unwrap();
        tx.execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])
            .unwrap();
        tx.commit().unwrap();
        from = to + 1;
    }
    conn.query_row(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
        [],
        |r| r.get::<i64>(0),
    )
    .unwrap();
    conn.execute_batch("ANALYZE").unwrap();
}

/// Waits (up to 10 minutes) until the served CRL's number is above `above`; when it was.
fn published_above(auth: &Authority, above: u64, from: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = pki::crl::peek_number(&auth.published().crl_der).unwrap_or(0);
        if n > above || Instant::now() > deadline {
            return from.elapsed();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn crl_number(auth: &Authority) -> u64 {
    pki::crl::peek_number(&auth.published().crl_der).unwrap_or(0)
}

/// Bytes of the files under `dir`.
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

/// Waits (up to 2 minutes) until the served CRL is the store's current one.
fn quiet(auth: &Authority) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while auth.crl_health().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` timings of `f`, sorted.
fn timed(n: usize, mut f: impl FnMut(usize)) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    out.sort();
    out
}

fn line(what: &str, sorted: &[Duration]) {
    println!(
        "  {what:<44} p50 {:>9.2} ms  p99 {:>9.2} ms  (n={})",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        sorted.len()
    );
}

/// One backend's seeded store: what it measures, printed, and criterion's per-call times.
fn scale_on(c: &mut Criterion, backend: &str, tmp: &Path, users: i64) {
    let pg = (backend == "PostgreSQL").then(|| cluster().fresh_db());
    let auth = new_authority(tmp, backend, pg.as_ref());
    let admin = admin(&auth);
    let der = template(&auth, &admin);
    let first_id = 1_000_000_000;
    let t = Instant::now();
    let before = crl_number(&auth);
    match &pg {
        Some(pg) => seed_postgres(pg, first_id, users, &der),
        None => seed_sqlite(&tmp.join(backend), first_id, users, &der),
    }
    let seeded = t.elapsed();
    // The first CRL over the seeded store (the seeding marked it due).
    let t = Instant::now();
    auth.refresh_crl_if_due().unwrap();
    let first_crl = published_above(&auth, before, t);
    let size = match &pg {
        Some(pg) => db::Connection::connect_postgres(pg)
            .unwrap()
            .query_row("SELECT pg_database_size(current_database())", [], |r| {
                r.get::<i64>(0)
            })
            .unwrap() as u64,
        None => du(&tmp.join(backend)),
    };
    let wal = match &pg {
        Some(_) => 0,
        None => std::fs::metadata(
            tmp.join(backend)
                .join(format!("{}-wal", escrow::DB_FILE_NAME)),
        )
        .map_or(0, |m| m.len()),
    };
    let revoked = (users + 9) / 10 * 2;
    println!(
        "\n== {backend}: {users} users, {} certificates, {revoked} revoked ==",
        users * 2
    );
    println!(
        "  seeded in {:.1} s; database {:.1} MiB ({:.2} KiB per user){}; certificate DER {} bytes",
        seeded.as_secs_f64(),
        size as f64 / 1048576.0,
        size as f64 / 1024.0 / users as f64,
        if pg.is_some() {
            " (pg_database_size, WAL not included)".to_string()
        } else {
            format!(
                " (SQLite data directory, of which the WAL file {:.1} MiB)",
                wal as f64 / 1048576.0
            )
        },
        der.len()
    );
    if pg.is_none() {
        println!(
            "  first CRL over the seeded store ({revoked} entries): {:.2} s",
            first_crl.as_secs_f64()
        );
    } else {
        // A cluster's publisher looks every second: it signs while the seeding goes on.
        println!("  first CRL over the seeded store: signed by the publisher during the seeding");
    }
    // Users spread over the corpus, not revoked (u % 10 != 0).
    let pick = |i: usize| -> i64 { ((i as i64 * 7919 + 1) * 10 + 3) % users.max(10) };
    let lookups = timed(200, |i| {
        let u = pick(i);
        if u % 10 != 0 {
            auth.directory(&format!("user{u}@bench.example")).unwrap();
        }
    });
    line("directory lookup (hit)", &lookups);
    let misses = timed(50, |i| {
        let _ = auth.directory(&format!("nobody{i}@bench.example"));
    });
    line("directory lookup (unknown address)", &misses);
    let search = |text: String| {
        auth.search_users(
            &admin,
            &UserQuery {
                text: Some(text),
                ..UserQuery::default()
            },
        )
        .unwrap()
    };
    let found = search(format!("user{}@", users - 1)).total;
    let searches = timed(10, |i| {
        search(format!("user{}@", users - 1 - i as i64));
    });
    line(
        &format!("search_users text 'user{}@' ({found} hit)", users - 1),
        &searches,
    );
    let broad = search("Bench User 1".into()).total;
    let broad_searches = timed(5, |_| {
        search("Bench User 1".into());
    });
    line(
        &format!("search_users text 'Bench User 1' ({broad} hits, page 1)"),
        &broad_searches,
    );
    let mut next_revoke = 0usize;
    let mut revoke_one = |auth: &Authority| {
        let u = pick(1000 + next_revoke);
        next_revoke += 1;
        let s = serial_hex(u, 0, serial_slot(&der).1);
        auth.revoke(
            &admin,
            &RevokeTarget::Serial(s),
            RevocationReason::KeyCompromise,
        )
        .unwrap()
    };
    let revokes = timed(20, |_| {
        revoke_one(&auth);
    });
    line("revoke one certificate (committed)", &revokes);
    // The CRL that lists one revocation, on a quiet publisher.
    let mut publish = Vec::new();
    for _ in 0..3 {
        quiet(&auth);
        let t = Instant::now();
        // The revoke asks the publisher for the CRL (not `refresh_crl_if_due` beside it: on
        // SQLite that signs in this thread too, and two passes at once collide on the CRL
        // file's temporary name).
        let out = revoke_one(&auth);
        publish.push(published_above(&auth, out.crl_number as u64 - 1, t));
    }
    publish.sort();
    line("revoke + the CRL listing it published", &publish);
    // Full CRL builds: the state marked due, then the publisher (or this call) re-signs.
    let mark_due = || match &pg {
        Some(pg) => {
            db::Connection::connect_postgres(pg)
                .unwrap()
                .execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])
                .unwrap();
        }
        None => {
            let conn =
                rusqlite::Connection::open(tmp.join(backend).join(escrow::DB_FILE_NAME)).unwrap();
            conn.busy_timeout(Duration::from_secs(60)).unwrap();
            conn.execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])
                .unwrap();
        }
    };
    let builds = timed(3, |_| {
        quiet(&auth);
        let n = crl_number(&auth);
        mark_due();
        let t = Instant::now();
        auth.refresh_crl_if_due().unwrap();
        published_above(&auth, n, t);
    });
    line(
        &format!("full CRL build + sign (~{revoked} entries)"),
        &builds,
    );
    let mut g = c.benchmark_group(format!("scale {users} users {backend}"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0usize;
    g.bench_function("directory lookup", |b| {
        b.iter(|| {
            i += 1;
            let u = pick(i);
            let _ = auth.directory(&format!("user{u}@bench.example"));
        })
    });
    g.finish();
    drop(auth);
    let _ = std::fs::remove_dir_all(tmp.join(backend));
}

fn scale(c: &mut Criterion) {
    let users: i64 = env_or("KMS_BENCH_SEED", 10_000).max(100);
    let base: PathBuf = std::env::temp_dir();
    let tmp = tempfile::tempdir_in(base).unwrap();
    for backend in ["SQLite", "PostgreSQL"] {
        scale_on(c, backend, tmp.path(), users);
    }
}

criterion_group!(benches, enrollment, scale);
criterion_main!(benches);
