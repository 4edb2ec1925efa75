//! The SIGKILL crash test (issue 14): a real `kmsd` under concurrent enroll, renew
//! --new-key, revoke and backup clients is killed at random moments, round after round; after
//! every kill and restart it is checked from outside that nothing acknowledged was lost and
//! nothing was left half done (audit chain, certificates, escrowed keys, CRL, temporaries).
//!
//! `KMS_CRASH_SEED` replays a run's choices (the seed is printed), `KMS_CRASH_ROUNDS` sets the
//! number of rounds (default 10). Every failed check of every round is collected and reported
//! together at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use api::{ClientError, KmsClient, Secret};
use pki::{DigestAlgorithm, Name, PrivateKey};
use rusqlite::{Connection, OpenFlags};

use super::support::{
    Server, TestRng, base64_decode, canon, describe, free_port, hex_bytes, kmsd_bin, ok, run,
    serial_of_pem, start, temporaries, workspace_root,
};

const ADMIN: &str = "admin";
const ADMIN_PW: &str = "crash test admin password";
const BUNDLE_PW: &str = "crash bundle password";
const WORKERS: usize = 3;
const DEFAULT_ROUNDS: usize = 10;
/// How long a restarted server has to serve a CRL that lists every revocation.
const CRL_DEADLINE: Duration = Duration::from_secs(5);
/// Users of earlier rounds whose key recovery is checked again in each round.
const OLD_USERS_RECOVERED: usize = 1;

/// A certificate a client received.
#[derive(Clone, Debug)]
struct AckCert {
    email: String,
    encryption: bool,
    round: usize,
    /// How the client got it (`enroll`, `renew --new-key`, ...).
    how: &'static str,
}

/// What the server acknowledged, shared by the workers and the checker.
#[derive(Default)]
struct Ledger {
    /// Serial (lower-case hex, no leading zeros) -> the certificate.
    certs: BTreeMap<String, AckCert>,
    /// Serials whose revocation was answered 2xx.
    revoked: BTreeSet<String>,
    /// Users enrolled in this round and not revoked: candidates for renew and revoke.
    live: Vec<String>,
    /// Serials received since the last check.
    unchecked: BTreeSet<String>,
    /// Acknowledged operations by kind.
    acked: BTreeMap<&'static str, u64>,
    /// Refused or failed calls while the workers ran, by operation, status and code.
    refused: BTreeMap<String, u64>,
}

impl Ledger {
    fn ack(&mut self, op: &'static str) {
        *self.acked.entry(op).or_default() += 1;
    }

    fn received(&mut self, serial: String, cert: AckCert) {
        self.unchecked.insert(serial.clone());
        self.certs.insert(serial, cert);
    }

    fn refused(&mut self, op: &str, e: &ClientError) {
        let key = match e {
            ClientError::Transport { .. } => format!("{op}: transport (server gone)"),
            ClientError::Api { status, code, .. } => format!("{op}: {status} {code}"),
            other => format!("{op}: {}", other.code()),
        };
        *self.refused.entry(key).or_default() += 1;
    }
}

/// Failed checks: category -> examples (the report shows the first few). A failure seen
/// again after a later restart (the same leftover file, the same orphan key) counts once.
#[derive(Default)]
struct Failures {
    by_category: BTreeMap<String, Vec<String>>,
    seen: BTreeSet<(String, String)>,
}

impl Failures {
    fn add(&mut self, round: usize, category: &str, detail: String) {
        if !self.seen.insert((category.to_string(), detail.clone())) {
            return;
        }
        self.by_category
            .entry(category.to_string())
            .or_default()
            .push(format!("round {round}: {detail}"));
    }
}

/// What the test counted, for the summary.
#[derive(Default)]
struct Tally {
    checks: BTreeMap<&'static str, u64>,
    /// Time spent per kind of check.
    spent: BTreeMap<&'static str, Duration>,
}

impl Tally {
    fn check(&mut self, what: &'static str) {
        *self.checks.entry(what).or_default() += 1;
    }

    fn spent(&mut self, what: &'static str, since: Instant) {
        *self.spent.entry(what).or_default() += since.elapsed();
    }
}

/// What the checks found and counted.
#[derive(Default)]
struct Findings {
    failures: Failures,
    tally: Tally,
}

/// The store as the killed server left it, read before the restart.
struct Snapshot {
    revoked: BTreeSet<String>,
    certs: BTreeSet<String>,
    /// Escrowed encryption keys that no certificate row names: (id, owner).
    orphan_keys: Vec<(i64, String)>,
    /// Encryption certificates without their escrowed key.
    keyless_certs: Vec<String>,
    /// Stored serials not in the schema's form (a leading zero, upper case): reported in the
    /// summary, not a crash-safety failure.
    noncanonical: i64,
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a worker needs.
struct Ctx {
    client: KmsClient,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    /// Set when this worker cannot reach the server any more.
    gone: AtomicBool,
    keys: Arc<Vec<PrivateKey>>,
    round: usize,
}

impl Ctx {
    /// Records a refused or cut-off call; a transport error stops this worker.
    fn refused(&self, op: &str, e: &ClientError) {
        if matches!(e, ClientError::Transport { .. }) {
            self.gone.store(true, Ordering::SeqCst);
        }
        lock(&self.ledger).refused(op, e);
    }
}

/// A signing-key request for `email` from one of the repository's test keys.
fn csr_for(keys: &[PrivateKey], rng: &mut TestRng, email: &str) -> String {
    let key = &keys[rng.below(keys.len() as u64) as usize];
    let subject = Name::from_str(&format!("CN={email}")).unwrap();
    let der = pki::csr::build(key, subject, email, DigestAlgorithm::Sha256).unwrap();
    pki::csr::to_pem(&der)
}

/// Enrolls `email` with `token`; records the two certificates received.
fn enroll(ctx: &Ctx, rng: &mut TestRng, email: &str, token: Secret, how: &'static str) -> bool {
    let req = api::EnrollRequest {
        token,
        csr: csr_for(&ctx.keys, rng, email),
    };
    match ctx.client.enroll(&req) {
        Ok(got) => {
            let mut l = lock(&ctx.ledger);
            l.ack(how);
            for (pem, encryption) in [
                (&got.signing_certificate, false),
                (&got.encryption_certificate, true),
            ] {
                let serial = serial_of_pem(pem)
                    .unwrap_or_else(|e| panic!("{how} of {email} returned a bad certificate: {e}"));
                let cert = AckCert {
                    email: email.to_string(),
                    encryption,
                    round: ctx.round,
                    how,
                };
                l.received(serial, cert);
            }
            true
        }
        Err(e) => {
            ctx.refused(how, &e);
            false
        }
    }
}

fn worker(ctx: &Ctx, index: usize, mut rng: TestRng) {
    let mut n = 0;
    // A transport error means the server is gone (killed): nothing more to send.
    while !ctx.stop.load(Ordering::SeqCst) && !ctx.gone.load(Ordering::SeqCst) {
        n += 1;
        match rng.below(100) {
            0..40 => {
                let email = format!("r{}w{index}n{n}@crash.example.com", ctx.round);
                let added = ctx.client.add_user(&api::AddUserRequest {
                    email: email.clone(),
                    name: format!("Crash user {n}"),
                    capabilities: Vec::new(),
                    ..api::AddUserRequest::default()
                });
                match added {
                    Ok(added) => {
                        lock(&ctx.ledger).ack("user add");
                        if enroll(ctx, &mut rng, &email, added.enrollment_token, "enroll") {
                            lock(&ctx.ledger).live.push(email);
                        }
                    }
                    Err(e) => ctx.refused("user add", &e),
                }
            }
            40..65 => {
                let email = {
                    let l = lock(&ctx.ledger);
                    if l.live.is_empty() {
                        continue;
                    }
                    l.live[rng.below(l.live.len() as u64) as usize].clone()
                };
                let answer = ctx.client.renew(&api::RenewRequest {
                    email: Some(email.clone()),
                    new_key: true,
                    ..Default::default()
                });
                let renewal = match answer {
                    Ok(r) => r,
                    Err(e) => {
                        ctx.refused("renew --new-key", &e);
                        continue;
                    }
                };
                let mut token = None;
                {
                    let mut l = lock(&ctx.ledger);
                    l.ack("renew --new-key");
                    for r in renewal.renewed {
                        for c in &r.certificates {
                            let cert = AckCert {
                                email: r.email.clone(),
                                encryption: c.kind == api::CertKind::Encryption,
                                round: ctx.round,
                                how: "renew --new-key",
                            };
                            l.received(canon(&c.serial), cert);
                        }
                        token = token.or(r.enrollment_token);
                    }
                }
                if let Some(token) = token {
                    enroll(ctx, &mut rng, &email, token, "re-enroll");
                }
            }
            65..92 => {
                let by_user = rng.below(3) == 0;
                let reason = match rng.below(3) {
                    0 => api::RevocationReason::Unspecified,
                    1 => api::RevocationReason::KeyCompromise,
                    _ => api::RevocationReason::Superseded,
                };
                let req = {
                    let l = lock(&ctx.ledger);
                    if by_user {
                        if l.live.is_empty() {
                            continue;
                        }
                        let email = &l.live[rng.below(l.live.len() as u64) as usize];
                        api::RevokeRequest {
                            email: Some(email.clone()),
                            reason: Some(reason),
                            confirm: true,
                            ..Default::default()
                        }
                    } else {
                        let mine: Vec<&String> = l
                            .certs
                            .iter()
                            .filter(|(s, c)| c.round == ctx.round && !l.revoked.contains(*s))
                            .map(|(s, _)| s)
                            .collect();
                        if mine.is_empty() {
                            continue;
                        }
                        api::RevokeRequest {
                            serial: Some(mine[rng.below(mine.len() as u64) as usize].clone()),
                            reason: Some(reason),
                            ..Default::default()
                        }
                    }
                };
                let op = if by_user {
                    "revoke user"
                } else {
                    "revoke serial"
                };
                match ctx.client.revoke(&req) {
                    Ok(done) => {
                        let mut l = lock(&ctx.ledger);
                        l.ack(op);
                        l.revoked.extend(done.revoked.iter().map(|s| canon(s)));
                        if let Some(email) = &req.email {
                            l.live.retain(|e| e != email);
                        }
                    }
                    Err(e) => ctx.refused(op, &e),
                }
            }
            _ => match ctx.client.backup_now() {
                Ok(_) => lock(&ctx.ledger).ack("backup now"),
                Err(e) => ctx.refused("backup now", &e),
            },
        }
    }
}

/// Reads the store the killed server left, read-only, before anything opens it again.
fn snapshot(db: &Path) -> Snapshot {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("opening {} read-only: {e}", db.display()));
    let strings = |sql: &str| -> BTreeSet<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|s| canon(&s.unwrap()))
            .collect()
    };
    let revoked = strings("SELECT serial FROM revocations");
    let certs = strings("SELECT serial FROM certificates");
    let keyless_certs = strings(
        "SELECT c.serial FROM certificates c WHERE c.kind = 'encryption'
           AND (c.escrowed_key_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM escrowed_keys k WHERE k.id = c.escrowed_key_id))",
    )
    .into_iter()
    .collect();
    let mut stmt = conn
        .prepare(
            "SELECT k.id, k.owner FROM escrowed_keys k WHERE k.usage = 'encryption'
               AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.escrowed_key_id = k.id)",
        )
        .unwrap();
    let orphan_keys = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let noncanonical = conn
        .query_row(
            "SELECT COUNT(*) FROM certificates WHERE serial GLOB '0*' OR serial GLOB '*[A-F]*'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    Snapshot {
        revoked,
        certs,
        orphan_keys,
        keyless_certs,
        noncanonical,
    }
}

/// The PEM blocks labelled `label` in `text`.
fn pem_blocks<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(&begin) {
        let Some(e) = rest[b..].find(&end) else {
            break;
        };
        out.push(&rest[b..b + e + end.len()]);
        rest = &rest[b + e + end.len()..];
    }
    out
}

/// Opens a recover-key bundle with `openssl pkcs12`: each certificate's serial, and whether
/// the bundle holds the private key of that certificate's public key.
fn open_bundle(dir: &Path, der: &[u8]) -> Result<BTreeMap<String, bool>, String> {
    let file = dir.join("recovered.p12");
    std::fs::write(&file, der).map_err(|e| e.to_string())?;
    let out = Command::new("openssl")
        .arg("pkcs12")
        .arg("-in")
        .arg(&file)
        .args(["-passin", &format!("pass:{BUNDLE_PW}"), "-nodes"])
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err(format!(
            "openssl pkcs12: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let keys: Vec<pki::PublicKey> = pem_blocks(&text, "PRIVATE KEY")
        .into_iter()
        .map(|pem| PrivateKey::from_pem_or_der(pem.as_bytes()).map(|k| k.public_key()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a key in the bundle: {e}"))?;
    let mut held = BTreeMap::new();
    for pem in pem_blocks(&text, "CERTIFICATE") {
        let cert = pki::certificate::parse_certificate(pem.as_bytes())
            .map_err(|e| format!("a certificate in the bundle: {e}"))?;
        let info = pki::CertificateInfo::from_certificate(&cert).map_err(|e| e.to_string())?;
        let public = pki::certificate::public_key(&cert).map_err(|e| e.to_string())?;
        held.insert(canon(&info.serial_hex), keys.contains(&public));
    }
    Ok(held)
}

/// The serials the server lists as revoked (`GET /certificates?status=revoked`, every page).
fn listed_revoked(client: &KmsClient) -> Result<BTreeSet<String>, ClientError> {
    let mut out = BTreeSet::new();
    let mut offset = 0;
    loop {
        let page = client.certificates(&api::CertListQuery {
            status: Some("revoked".into()),
            limit: Some(500),
            offset: Some(offset),
            ..Default::default()
        })?;
        let n = page.certificates.len() as i64;
        out.extend(page.certificates.into_iter().map(|c| canon(&c.serial)));
        offset += n;
        if n == 0 || offset >= page.total {
            return Ok(out);
        }
    }
}

/// Everything the test drives: the data directory, ports, the signing keys for requests.
struct Rig {
    data: PathBuf,
    key_file: PathBuf,
    logs: PathBuf,
    ports: (u16, u16),
    url: String,
    /// A client of the plain-HTTP public listener (`/crl` as relying parties fetch it).
    public: KmsClient,
    keys: Arc<Vec<PrivateKey>>,
    /// The CA certificate, as the server serves it (fetched at the first start).
    ca: Option<pki::Certificate>,
}

impl Rig {
    fn start(&self, round: usize) -> (Server, KmsClient) {
        let log = self.logs.join(format!("kmsd-{round}.log"));
        let server = start(&self.data, self.ports, false, Some(&self.key_file), &log);
        let client = KmsClient::new(&self.url, None).unwrap();
        // Started with the key file it is unlocked; wait until it says it serves.
        let deadline = Instant::now() + Duration::from_secs(30);
        let session = loop {
            match client.login(ADMIN, &Secret::new(ADMIN_PW)) {
                Ok(s) => break s,
                Err(e) => {
                    if Instant::now() >= deadline {
                        let log = std::fs::read_to_string(&log).unwrap_or_default();
                        let tail: Vec<&str> = log.lines().rev().take(20).collect();
                        panic!(
                            "round {round}: cannot sign in after the restart: {e}\nkmsd's log \
                             ends:\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        (server, client.with_token(session.token))
    }
}

/// The checks after a restart. `snap` is the store as the kill left it (none before the first
/// kill).
fn check(
    rig: &Rig,
    client: &KmsClient,
    round: usize,
    snap: Option<&Snapshot>,
    ledger: &Mutex<Ledger>,
    rng: &mut TestRng,
    findings: &mut Findings,
) {
    let Findings { failures, tally } = findings;
    let mut l = lock(ledger);
    let phase = Instant::now();

    // The store as the kill left it: every acknowledged certificate and revocation is in it,
    // and nothing is half done.
    if let Some(snap) = snap {
        tally.check("store: orphan escrowed keys");
        for (id, owner) in &snap.orphan_keys {
            failures.add(
                round,
                "escrowed key without its certificate record (half-done issuance)",
                format!("escrowed_keys.id {id} of {owner}: no certificates row names it"),
            );
        }
        tally.check("store: encryption certificates without their key");
        for serial in &snap.keyless_certs {
            failures.add(
                round,
                "encryption certificate without its escrowed key",
                format!("certificate {serial}"),
            );
        }
        for (serial, cert) in &l.certs {
            tally.check("store: acknowledged certificate present");
            if !snap.certs.contains(serial) {
                failures.add(
                    round,
                    "acknowledged certificate missing from the store after the kill",
                    format!("{serial} of {} ({})", cert.email, cert.how),
                );
            }
        }
        for serial in &l.revoked {
            tally.check("store: acknowledged revocation present");
            if !snap.revoked.contains(serial) {
                failures.add(
                    round,
                    "acknowledged revocation missing from the store after the kill",
                    serial.clone(),
                );
            }
        }
    }

    tally.spent("store", phase);
    let phase = Instant::now();
    // The audit chain verifies.
    tally.check("audit verify");
    match client.audit_verify() {
        Ok(report) if report.ok => {}
        Ok(report) => failures.add(
            round,
            "audit chain does not verify",
            format!(
                "{} entries, problem {:?}",
                report.entries,
                report
                    .problem
                    .map(|p| format!("seq {} {}: {}", p.seq, p.kind, p.message))
            ),
        ),
        Err(e) => failures.add(round, "audit verify call failed", describe(&e)),
    }

    tally.spent("audit", phase);
    let phase = Instant::now();
    // No temporaries: a file still there half a second later is a leftover, not a write in
    // progress.
    tally.check("no temporary files");
    let first = temporaries(&rig.data);
    if !first.is_empty() {
        std::thread::sleep(Duration::from_millis(500));
        let second = temporaries(&rig.data);
        for path in first.iter().filter(|p| second.contains(p)) {
            let rel = path.strip_prefix(&rig.data).unwrap_or(path);
            failures.add(
                round,
                "temporary file left in the data directory",
                rel.display().to_string(),
            );
        }
    }

    tally.spent("temporaries", phase);
    let phase = Instant::now();
    // The served CRL lists every revocation: acknowledged ones, the store's, the listing's.
    let mut expected: BTreeSet<String> = l.revoked.clone();
    if let Some(snap) = snap {
        expected.extend(snap.revoked.iter().cloned());
    }
    match listed_revoked(client) {
        Ok(listed) => expected.extend(listed),
        Err(e) => failures.add(round, "listing revoked certificates failed", describe(&e)),
    }
    tally.check("CRL lists every revocation");
    let deadline = Instant::now() + CRL_DEADLINE;
    let missing = loop {
        let missing: Result<Vec<String>, String> = rig
            .public
            .crl()
            .map_err(|e| describe(&e))
            .and_then(|der| pki::crl::Crl::parse(&der).map_err(|e| e.to_string()))
            .and_then(|crl| {
                let ca = rig.ca.as_ref().ok_or("no CA certificate")?;
                crl.verify_signature(ca)
                    .map_err(|e| format!("the CRL's signature: {e}"))?;
                Ok(expected
                    .iter()
                    .filter(|s| crl.lookup(&hex_bytes(s)).is_none())
                    .cloned()
                    .collect())
            });
        match missing {
            Ok(m) if m.is_empty() => break m,
            Err(e) => {
                failures.add(round, "the CRL cannot be fetched or read", e);
                break Vec::new();
            }
            Ok(m) if Instant::now() >= deadline => break m,
            Ok(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    if !missing.is_empty() {
        failures.add(
            round,
            "revocations missing from the served CRL (CRL lags the store)",
            format!(
                "{} of {} revoked serials not on /crl {}s after the restart: {}",
                missing.len(),
                expected.len(),
                CRL_DEADLINE.as_secs(),
                missing.join(", ")
            ),
        );
    }

    tally.spent("crl", phase);
    let phase = Instant::now();
    // Every acknowledged certificate is known to the server.
    for (serial, cert) in &l.certs {
        tally.check("cert show: acknowledged certificate known");
        match client.certificate(serial) {
            Ok(d) if canon(&d.summary.serial) == *serial => {}
            Ok(d) => failures.add(
                round,
                "cert show answers another certificate",
                format!("asked {serial}, got {}", d.summary.serial),
            ),
            Err(e) => failures.add(
                round,
                "acknowledged certificate unknown to the server",
                format!(
                    "{serial} of {} ({}): {}",
                    cert.email,
                    cert.how,
                    describe(&e)
                ),
            ),
        }
    }

    tally.spent("cert show", phase);
    let phase = Instant::now();
    // Keys recoverable: every user with a certificate received since the last check, and a
    // few users of earlier rounds; the bundle holds every acknowledged encryption key.
    let mut users: BTreeSet<String> = l
        .unchecked
        .iter()
        .filter_map(|s| l.certs.get(s))
        .map(|c| c.email.clone())
        .collect();
    let older: Vec<String> = l
        .certs
        .values()
        .filter(|c| c.encryption && !users.contains(&c.email))
        .map(|c| c.email.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for _ in 0..OLD_USERS_RECOVERED.min(older.len()) {
        users.insert(older[rng.below(older.len() as u64) as usize].clone());
    }
    for email in &users {
        let wanted: BTreeSet<&String> = l
            .certs
            .iter()
            .filter(|(_, c)| c.encryption && c.email == *email)
            .map(|(s, _)| s)
            .collect();
        tally.check("recover-key: bundle holds every acknowledged key");
        let call = Instant::now();
        let recovered = client.recover(
            email,
            &api::RecoverRequest {
                password: Secret::new(BUNDLE_PW),
                reenroll: false,
                why: Some("crash test".into()),
            },
        );
        let bundle = match recovered {
            Ok(r) => r,
            Err(e) => {
                failures.add(
                    round,
                    "recover-key failed",
                    format!("{email}: {}", describe(&e)),
                );
                continue;
            }
        };
        tally.spent("recover-key: server", call);
        let Some(der) = base64_decode(bundle.pkcs12.expose()) else {
            failures.add(round, "recover-key bundle is not base64", email.clone());
            continue;
        };
        // OpenSSL reads the bundle (the PKCS#12 key derivations run slowly in this crate's
        // unoptimised test build): serials held -> whether a key in it matches.
        let held = match open_bundle(&rig.logs, &der) {
            Ok(h) => h,
            Err(e) => {
                failures.add(
                    round,
                    "recover-key bundle does not open",
                    format!("{email}: {e}"),
                );
                continue;
            }
        };
        for serial in wanted {
            if held.get(serial) == Some(&false) {
                failures.add(
                    round,
                    "recover-key bundle holds a certificate without its key",
                    format!("{serial} of {email}"),
                );
            } else if !held.contains_key(serial) {
                let how = l.certs.get(serial).map_or("?", |c| c.how);
                failures.add(
                    round,
                    "acknowledged encryption key not recoverable",
                    format!("{serial} of {email} ({how}) not in the recover-key bundle"),
                );
            }
        }
    }

    tally.spent("recover-key", phase);
    let phase = Instant::now();
    // Revocable: every certificate received since the last check, revoked or not yet (an
    // already revoked one must answer 2xx too).
    let unchecked: Vec<String> = std::mem::take(&mut l.unchecked).into_iter().collect();
    for serial in unchecked {
        tally.check("revoke: acknowledged certificate revocable");
        let was_revoked =
            l.revoked.contains(&serial) || snap.is_some_and(|s| s.revoked.contains(&serial));
        let answer = client.revoke(&api::RevokeRequest {
            serial: Some(serial.clone()),
            reason: Some(api::RevocationReason::Unspecified),
            ..Default::default()
        });
        match answer {
            Ok(_) => {
                l.revoked.insert(serial);
            }
            Err(e) => {
                let cert = l.certs.get(&serial).cloned();
                let who = cert.map_or_else(String::new, |c| format!(" of {} ({})", c.email, c.how));
                let category = if was_revoked {
                    "revoking an already revoked certificate is refused"
                } else {
                    "acknowledged certificate cannot be revoked"
                };
                failures.add(round, category, format!("{serial}{who}: {}", describe(&e)));
            }
        }
    }
    tally.spent("revoke", phase);
    l.live.clear();
}

#[test]
fn a_sigkilled_kmsd_keeps_everything_acknowledged_and_leaves_nothing_half_done() {
    let seed = std::env::var("KMS_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let rounds = std::env::var("KMS_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    println!("crash test: seed {seed} (KMS_CRASH_SEED={seed} replays it), {rounds} rounds");
    let mut rng = TestRng::new(seed);

    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Crash Test CA",
                    "--admin",
                    ADMIN,
                ])
                .arg("--admin-password-stdin")
                .args(["--public-url", &format!("http://127.0.0.1:{}", ports.1)])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file)
                .arg("--key-file-copy")
                .arg(t.join("kmsd.keyfile.copy")),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    let keys: Vec<PrivateKey> = (1..=4)
        .map(|i| {
            let pem =
                std::fs::read(workspace_root().join(format!("keys/spare-{i}.key.pem"))).unwrap();
            PrivateKey::from_pem_or_der(&pem).unwrap()
        })
        .collect();
    let mut rig = Rig {
        data,
        key_file,
        logs: t.to_path_buf(),
        ports,
        url: format!("http://127.0.0.1:{}", ports.0),
        public: KmsClient::new(&format!("http://127.0.0.1:{}", ports.1), None).unwrap(),
        keys: Arc::new(keys),
        ca: None,
    };
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut findings = Findings::default();
    let mut snap: Option<Snapshot> = None;
    let started = Instant::now();

    for round in 0..=rounds {
        let t0 = Instant::now();
        let (mut server, client) = rig.start(round);
        let started_in = t0.elapsed();
        if round == 0 {
            rig.ca = Some(
                pki::certificate::parse_certificate(client.ca_pem().unwrap().as_bytes()).unwrap(),
            );
            // The checks recover keys alone: recover-key and reenroll (renew --new-key) must
            // not wait for a second administrator.
            for p in client.policies().unwrap().policies {
                let op = p.operation.as_str().to_string();
                if op == "recover-key" || op == "reenroll" {
                    assert_eq!(p.quorum, 1, "the crash test needs {op} at quorum 1");
                }
            }
        }
        check(
            &rig,
            &client,
            round,
            snap.as_ref(),
            &ledger,
            &mut rng,
            &mut findings,
        );
        let checked_in = t0.elapsed() - started_in;
        println!(
            "round {round}: started and signed in in {} ms, checked in {} ms",
            started_in.as_millis(),
            checked_in.as_millis()
        );
        if round == rounds {
            break;
        }

        // Workers, then SIGKILL at a random moment while they run.
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let ctx = Ctx {
                    client: client.clone(),
                    ledger: Arc::clone(&ledger),
                    stop: Arc::clone(&stop),
                    gone: AtomicBool::new(false),
                    keys: Arc::clone(&rig.keys),
                    round,
                };
                let wrng = TestRng::new(rng.next_u64());
                std::thread::spawn(move || worker(&ctx, w, wrng))
            })
            .collect();
        let run_for = Duration::from_millis(rng.between(300, 2000));
        std::thread::sleep(run_for);
        server.0.kill().unwrap(); // SIGKILL
        let _ = server.0.wait();
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            h.join().expect("a worker panicked");
        }
        drop(server);
        snap = Some(snapshot(&rig.data.join("escrow.db")));
        let (certs, revoked) = {
            let l = lock(&ledger);
            (l.certs.len(), l.revoked.len())
        };
        println!(
            "round {round}: killed after {} ms; {certs} certificates and {revoked} revocations \
             acknowledged so far",
            run_for.as_millis()
        );
    }

    let l = lock(&ledger);
    println!(
        "crash test summary: seed {seed}, {rounds} rounds in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  acknowledged: {} certificates, {} revocations; operations {:?}",
        l.certs.len(),
        l.revoked.len(),
        l.acked
    );
    println!("  refused or cut off while running: {:?}", l.refused);
    if let Some(n) = snap.as_ref().map(|s| s.noncanonical).filter(|n| *n > 0) {
        println!("  note: {n} stored serials have a leading zero or upper case (issue 14)");
    }
    println!("  checks: {:?}", findings.tally.checks);
    println!("  time spent checking: {:?}", findings.tally.spent);
    assert!(
        l.acked.get("enroll").copied().unwrap_or(0) >= 1,
        "no enrollment was acknowledged in {rounds} rounds: the test exercised nothing"
    );
    if !findings.failures.by_category.is_empty() {
        let mut report = format!("crash test (seed {seed}) failed checks:\n");
        for (category, examples) in &findings.failures.by_category {
            report.push_str(&format!("- {category}: {} times\n", examples.len()));
            for e in examples.iter().take(3) {
                report.push_str(&format!("    {e}\n"));
            }
        }
        panic!("{report}");
    }
}
