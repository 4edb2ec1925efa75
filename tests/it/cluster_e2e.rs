//! Two `kmsd` nodes on one PostgreSQL database, end to end (issue 19, "What it must show"):
//! users enrolled through both nodes, revocations through either on the CRL and OCSP of both,
//! a key recovery opened on one node and approved on the other, the audit chain verified on
//! both, the CRL-signing node SIGKILLed under concurrent enrollments (the other keeps serving,
//! loses nothing acknowledged and takes over the CRL), and the database restarted under load
//! (both nodes come back by themselves).
//!
//! The database is a private cluster of `db::testing` (initdb and pg_ctl run here).
//! `KMS_CLUSTER_KEEP=1` keeps the nodes' data directories and logs (the path is printed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use api::{ClientError, KmsClient, Secret};
use db::testing::PgCluster;
use pki::{DigestAlgorithm, Name, PrivateKey};

use super::support::{
    Server, TestRng, canon, describe, free_port, hex_bytes, kmsd_bin, ok, run,
    serial_of_pem as support_serial_of_pem, start, workspace_root,
};

const ADMIN_PW: &str = "cluster e2e admin password";
const BOB_PW: &str = "cluster e2e bob's password";
const DB_PW: &str = "cluster e2e database password";
const BUNDLE_PW: &str = "cluster bundle password";
/// How long a node has to serve a CRL (or OCSP answer) that lists a revocation.
const CRL_DEADLINE: Duration = Duration::from_secs(8);
/// How long a node has to answer /healthz "ok" again once the database is back.
const HEAL_DEADLINE: Duration = Duration::from_secs(30);

fn serial_of_pem(pem: &str) -> String {
    support_serial_of_pem(pem).unwrap_or_else(|e| panic!("a certificate the server sent: {e}"))
}

/// One node: its data directory, ports, log, the running process and clients.
struct Node {
    name: &'static str,
    data: PathBuf,
    ports: (u16, u16),
    log: PathBuf,
    /// Logs of earlier runs of this node (before a restart).
    old_logs: Vec<PathBuf>,
    server: Option<Server>,
    /// The public listener (CRL, OCSP, health).
    public: KmsClient,
}

impl Node {
    fn new(name: &'static str, dir: &Path) -> Node {
        let ports = (free_port(), free_port());
        Node {
            name,
            data: dir.join(name),
            ports,
            log: dir.join(format!("{name}.log")),
            old_logs: Vec::new(),
            server: None,
            public: KmsClient::new(&format!("http://127.0.0.1:{}", ports.1), None).unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.0)
    }

    fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.1)
    }

    fn start(&mut self, key_file: &Path) {
        if self.server.is_some() {
            let n = self.old_logs.len();
            let old = self.log.with_extension(format!("{n}.log"));
            std::fs::rename(&self.log, &old).unwrap();
            self.old_logs.push(old);
        }
        self.server = Some(start(
            &self.data,
            self.ports,
            false,
            Some(key_file),
            &self.log,
        ));
    }

    fn kill(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.0.kill().unwrap(); // SIGKILL
            let _ = s.0.wait();
            let n = self.old_logs.len();
            let old = self.log.with_extension(format!("{n}.log"));
            std::fs::rename(&self.log, &old).unwrap();
            self.old_logs.push(old);
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for p in self.old_logs.iter().chain([&self.log]) {
            text.push_str(&std::fs::read_to_string(p).unwrap_or_default());
        }
        text
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Whether the running node's log says it signs the CRLs.
    fn signs(&self) -> bool {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .contains("this node now signs the CRLs")
    }

    /// Whether the running node's log says, last, that it holds the CRL signer's lock (not
    /// that it lost it or serves another node's CRLs since).
    fn holds_signer(&self) -> bool {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut holds = false;
        for line in log.lines() {
            if line.contains("this node now signs the CRLs") {
                holds = true;
            } else if line.contains("lost the database session holding the CRL signer's lock")
                || line.contains("serving the CRLs another node signed")
            {
                holds = false;
            }
        }
        holds
    }

    /// Signs in as `who` on this node, waiting for it to serve.
    fn login(&self, who: &str, pw: &str) -> KmsClient {
        let client = KmsClient::new(&self.url(), None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.login(who, &Secret::new(pw)) {
                Ok(s) => return client.with_token(s.token),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!(
                    "{}: cannot sign in as {who}: {}\n{}",
                    self.name,
                    describe(&e),
                    self.log_tail()
                ),
            }
        }
    }

    /// The serials of `wanted` missing from this node's CRL (which must verify against `ca`),
    /// waiting up to [`CRL_DEADLINE`] for them to appear.
    fn crl_missing(&self, ca: &pki::Certificate, wanted: &BTreeSet<String>) -> Vec<String> {
        let deadline = Instant::now() + CRL_DEADLINE;
        loop {
            let missing: Result<Vec<String>, String> = self
                .public
                .crl()
                .map_err(|e| describe(&e))
                .and_then(|der| pki::crl::Crl::parse(&der).map_err(|e| e.to_string()))
                .and_then(|crl| {
                    crl.verify_signature(ca)
                        .map_err(|e| format!("the CRL's signature: {e}"))?;
                    Ok(wanted
                        .iter()
                        .filter(|s| crl.lookup(&hex_bytes(s)).is_none())
                        .cloned()
                        .collect())
                });
            match missing {
                Ok(m) if m.is_empty() => return m,
                Ok(m) if Instant::now() >= deadline => return m,
                Err(e) if Instant::now() >= deadline => {
                    panic!("{}: the CRL cannot be fetched or read: {e}", self.name)
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// `openssl ocsp` against this node for the certificate in `cert` (PEM file): the status
    /// word it prints (`good`, `revoked`, ...), waiting up to [`CRL_DEADLINE`] for `want`.
    fn ocsp(&self, ca_pem: &Path, cert: &Path, want: &str) -> String {
        let deadline = Instant::now() + CRL_DEADLINE;
        loop {
            let o = Command::new("openssl")
                .arg("ocsp")
                .arg("-issuer")
                .arg(ca_pem)
                .arg("-CAfile")
                .arg(ca_pem)
                .arg("-cert")
                .arg(cert)
                .args(["-url", &format!("{}/ocsp", self.public_url()), "-no_nonce"])
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let prefix = format!("{}: ", cert.display());
            let got = text
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| format!("no answer: {text}"));
            if got == want || Instant::now() >= deadline {
                assert!(
                    text.contains("Response verify OK"),
                    "{}: the OCSP answer does not verify: {text}",
                    self.name
                );
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What the nodes acknowledged, shared by the workers.
#[derive(Default)]
struct Ledger {
    /// Serial -> (email, node it came through).
    certs: BTreeMap<String, (String, &'static str)>,
    revoked: BTreeSet<String>,
    acked: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
}

fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    fn ack(&mut self, what: String) {
        *self.acked.entry(what).or_default() += 1;
    }

    fn refused(&mut self, node: &str, op: &str, e: &ClientError) {
        let key = match e {
            ClientError::Transport { .. } => format!("{node} {op}: transport"),
            ClientError::Api { status, code, .. } => format!("{node} {op}: {status} {code}"),
            other => format!("{node} {op}: {}", other.code()),
        };
        *self.refused.entry(key).or_default() += 1;
    }
}

/// A signing-key request for `email` from one of the repository's test keys.
fn csr_for(keys: &[PrivateKey], rng: &mut TestRng, email: &str) -> String {
    let key = &keys[rng.below(keys.len() as u64) as usize];
    let subject = Name::from_str(&format!("CN={email}")).unwrap();
    let der = pki::csr::build(key, subject, email, DigestAlgorithm::Sha256).unwrap();
    pki::csr::to_pem(&der)
}

/// Adds `email` and enrolls it through `client`: both certificates (PEM), or the failure.
fn add_and_enroll(
    client: &KmsClient,
    keys: &[PrivateKey],
    rng: &mut TestRng,
    email: &str,
) -> Result<api::Enrolled, (&'static str, ClientError)> {
    let added = client
        .add_user(&api::AddUserRequest {
            email: email.to_string(),
            name: format!("Cluster user {email}"),
            capabilities: Vec::new(),
            ..api::AddUserRequest::default()
        })
        .map_err(|e| ("user add", e))?;
    client
        .enroll(&api::EnrollRequest {
            token: added.enrollment_token,
            csr: csr_for(keys, rng, email),
        })
        .map_err(|e| ("enroll", e))
}

fn revoke_serial(client: &KmsClient, serial: &str) -> Result<api::Revoked, ClientError> {
    client.revoke(&api::RevokeRequest {
        serial: Some(serial.to_string()),
        reason: Some(api::RevocationReason::KeyCompromise),
        ..Default::default()
    })
}

/// A worker enrolling (and now and then revoking) through one node until told to stop or
/// the node is gone (a transport error while `stop_on_transport`).
struct Worker {
    node: &'static str,
    client: KmsClient,
    keys: Arc<Vec<PrivateKey>>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    stop_on_transport: bool,
    tag: String,
}

fn work(w: Worker, mut rng: TestRng) {
    let mut n = 0;
    while !w.stop.load(Ordering::SeqCst) {
        n += 1;
        let email = format!("{}n{n}@cluster.example.com", w.tag);
        match add_and_enroll(&w.client, &w.keys, &mut rng, &email) {
            Ok(got) => {
                let serials = [
                    serial_of_pem(&got.signing_certificate),
                    serial_of_pem(&got.encryption_certificate),
                ];
                let mut l = lock(&w.ledger);
                l.ack(format!("{} enroll", w.node));
                for s in &serials {
                    l.certs.insert(s.clone(), (email.clone(), w.node));
                }
                drop(l);
                if rng.below(3) == 0 {
                    match revoke_serial(&w.client, &serials[0]) {
                        Ok(done) => {
                            let mut l = lock(&w.ledger);
                            l.ack(format!("{} revoke", w.node));
                            l.revoked.extend(done.revoked.iter().map(|s| canon(s)));
                        }
                        Err(e) => lock(&w.ledger).refused(w.node, "revoke", &e),
                    }
                }
            }
            Err((op, e)) => {
                let gone = matches!(e, ClientError::Transport { .. });
                lock(&w.ledger).refused(w.node, op, &e);
                if gone && w.stop_on_transport {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn spawn_workers(
    clients: &[(&'static str, KmsClient)],
    per_node: usize,
    keys: &Arc<Vec<PrivateKey>>,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &Arc<AtomicBool>,
    phase: &str,
    rng: &mut TestRng,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    for (node, client) in clients {
        for i in 0..per_node {
            let w = Worker {
                node,
                client: client.clone(),
                keys: Arc::clone(keys),
                ledger: Arc::clone(ledger),
                stop: Arc::clone(stop),
                stop_on_transport: true,
                tag: format!("{phase}{node}w{i}"),
            };
            let wrng = TestRng::new(rng.next_u64());
            handles.push(std::thread::spawn(move || work(w, wrng)));
        }
    }
    handles
}

/// Waits until `node` answers /healthz 200 `ok`; how long it took.
fn wait_healthy(node: &Node, deadline: Duration) -> Duration {
    wait_health(node, deadline, false)
}

/// Waits until `node` answers /healthz 200: `ok`, or (with `lagging_crl`) `degraded` for
/// no other reason than its CRL lagging revocations that keep coming (under load, a re-sign
/// is due now and then, and a node that follows the signer is a number behind for up to a
/// second); how long it took.
fn wait_health(node: &Node, deadline: Duration, lagging_crl: bool) -> Duration {
    let crl_lag = |r: &String| {
        r.starts_with("a CRL re-sign is due")
            || r.starts_with("the served CRL's number is not the store's")
            || r.starts_with("a CRL re-sign is under way")
            || r.starts_with("the served CRL is not the one the store recorded")
    };
    let t0 = Instant::now();
    loop {
        match node.public.health() {
            Ok(h) if h.status == "ok" => return t0.elapsed(),
            Ok(h) if lagging_crl && h.status == "degraded" && h.reasons.iter().all(crl_lag) => {
                return t0.elapsed();
            }
            other if t0.elapsed() >= deadline => panic!(
                "{}: /healthz not ok {}s after the database came back: {:?}\n{}",
                node.name,
                deadline.as_secs(),
                other
                    .map(|h| (h.status, h.reasons))
                    .map_err(|e| describe(&e)),
                node.log_tail()
            ),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn audit_ok(node: &str, client: &KmsClient) -> u64 {
    let report = client
        .audit_verify()
        .unwrap_or_else(|e| panic!("{node}: audit verify: {}", describe(&e)));
    assert!(
        report.ok,
        "{node}: the audit chain does not verify: {:?}",
        report
            .problem
            .map(|p| format!("seq {} {}: {}", p.seq, p.kind, p.message))
    );
    report.entries as u64
}

#[test]
fn two_nodes_on_one_postgresql_survive_a_killed_node_and_a_database_restart() {
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    println!("cluster e2e: seed {seed}");
    let mut rng = TestRng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    // KMS_CLUSTER_KEEP=1 keeps the nodes' directories and logs (the path is printed).
    let kept;
    let t = if std::env::var_os("KMS_CLUSTER_KEEP").is_some() {
        kept = tmp.keep();
        println!("keeping {}", kept.display());
        kept.as_path()
    } else {
        tmp.path()
    };

    // The database: a private cluster, a role with a password, a C-collation database.
    let cluster = PgCluster::start();
    cluster.admin(&format!("CREATE ROLE kms LOGIN PASSWORD '{DB_PW}'"));
    cluster.admin(
        "CREATE DATABASE kms OWNER kms TEMPLATE template0 ENCODING 'UTF8' \
         LC_COLLATE 'C' LC_CTYPE 'C'",
    );
    let db_url = format!("postgres://kms@127.0.0.1:{}/kms", cluster.port());
    let pw_file = t.join("db.password");
    std::fs::write(&pw_file, format!("{DB_PW}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let mut a = Node::new("A", t);
    let mut b = Node::new("B", t);
    let key_file = t.join("kmsd.keyfile");
    ok(
        run(
            Command::new(kmsd_bin())
                .args(["init", "--database", &db_url])
                .arg("--database-password-file")
                .arg(&pw_file)
                .arg("--data-dir")
                .arg(&a.data)
                .args(["--ca-subject", "CN=Cluster Test CA", "--admin", "admin"])
                .args(["--admin-password-stdin", "--ca-key-bits", "3072"])
                .args(["--public-url", &a.public_url()])
                .args(["--public-listen", &format!("127.0.0.1:{}", a.ports.1)])
                .arg("--key-file")
                .arg(&key_file)
                .arg("--key-file-copy")
                .arg(t.join("kmsd.keyfile.copy")),
            Some(ADMIN_PW),
        ),
        "kmsd init --database",
    );
    ok(
        run(
            Command::new(kmsd_bin())
                .args(["join", "--database", &db_url])
                .arg("--database-password-file")
                .arg(&pw_file)
                .arg("--data-dir")
                .arg(&b.data)
                .args(["--public-listen", &format!("127.0.0.1:{}", b.ports.1)])
                .arg("--key-file")
                .arg(&key_file),
            None,
        ),
        "kmsd join",
    );
    a.start(&key_file);
    b.start(&key_file);
    let admin_a = a.login("admin", ADMIN_PW);
    // Sessions are rows: the session of node A works on node B.
    let token = {
        let c = KmsClient::new(&a.url(), None).unwrap();
        c.login("admin", &Secret::new(ADMIN_PW)).unwrap().token
    };
    let admin_b = KmsClient::new(&b.url(), None)
        .unwrap()
        .with_token(token.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = admin_b.status() {
        assert!(
            Instant::now() < deadline,
            "B does not take A's session: {}\n{}",
            describe(&e),
            b.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in [&a, &b] {
        wait_healthy(n, Duration::from_secs(30));
    }
    let ca_pem = admin_a.ca_pem().unwrap();
    assert_eq!(
        ca_pem,
        admin_b.ca_pem().unwrap(),
        "the nodes serve other CAs"
    );
    let ca = pki::certificate::parse_certificate(ca_pem.as_bytes()).unwrap();
    let ca_file = t.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let keys: Arc<Vec<PrivateKey>> = Arc::new(
        (1..=4)
            .map(|i| {
                let pem = std::fs::read(workspace_root().join(format!("keys/spare-{i}.key.pem")))
                    .unwrap();
                PrivateKey::from_pem_or_der(&pem).unwrap()
            })
            .collect(),
    );
    println!("set up in {:.1} s", started.elapsed().as_secs_f64());

    // 1. Users enrolled through both nodes; revocations through either on both CRLs and
    // both OCSP responders.
    let mut enrolled: Vec<(String, &'static str, api::Enrolled)> = Vec::new();
    for (i, (node, client)) in [
        ("A", &admin_a),
        ("B", &admin_b),
        ("A", &admin_a),
        ("B", &admin_b),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("u{i}{}@cluster.example.com", node.to_lowercase());
        let got = add_and_enroll(client, &keys, &mut rng, &email)
            .unwrap_or_else(|(op, e)| panic!("{op} {email} through {node}: {}", describe(&e)));
        enrolled.push((email, node, got));
    }
    // Each node knows the certificates issued through the other.
    for (email, node, got) in &enrolled {
        let serial = serial_of_pem(&got.signing_certificate);
        for (other, client) in [("A", &admin_a), ("B", &admin_b)] {
            let d = client.certificate(&serial).unwrap_or_else(|e| {
                panic!(
                    "{other} does not know {serial} of {email} (through {node}): {}",
                    describe(&e)
                )
            });
            assert_eq!(canon(&d.summary.serial), serial);
        }
    }
    // Revoke the first user's signing certificate through A, the second's through B.
    let mut revoked = BTreeSet::new();
    for (i, client) in [(0, &admin_a), (1, &admin_b)] {
        let serial = serial_of_pem(&enrolled[i].2.signing_certificate);
        let done = revoke_serial(client, &serial).unwrap();
        revoked.extend(done.revoked.iter().map(|s| canon(s)));
        assert!(revoked.contains(&serial));
    }
    for n in [&a, &b] {
        let missing = n.crl_missing(&ca, &revoked);
        assert!(missing.is_empty(), "{}: CRL lacks {missing:?}", n.name);
    }
    for (i, (_, _, got)) in enrolled.iter().enumerate() {
        std::fs::write(t.join(format!("cert{i}.pem")), &got.signing_certificate).unwrap();
    }
    for n in [&a, &b] {
        for (i, want) in [(0, "revoked"), (1, "revoked"), (2, "good"), (3, "good")] {
            let got = n.ocsp(&ca_file, &t.join(format!("cert{i}.pem")), want);
            assert_eq!(got, want, "{}: OCSP for cert{i}", n.name);
        }
    }
    println!("1. enrolled 4 users through both nodes; 2 revocations on both CRLs and OCSPs");

    // 2. A key recovery opened on B (by bob) and approved on A (by admin) completes.
    admin_a
        .add_admin(&api::AddAdminRequest {
            name: "bob".into(),
            role: api::Role::Administrator,
            password: Secret::new(BOB_PW),
        })
        .unwrap();
    admin_a
        .set_policy(&api::QuorumOperation::RecoverKey, 2)
        .unwrap();
    let bob_b = b.login("bob", BOB_PW);
    let recover = |client: &KmsClient| {
        client.recover(
            &enrolled[2].0,
            &api::RecoverRequest {
                password: Secret::new(BUNDLE_PW),
                reenroll: false,
                why: Some("cluster test".into()),
            },
        )
    };
    let request = match recover(&bob_b) {
        Err(ClientError::Pending(p)) => p.request_id,
        other => panic!(
            "recover-key at quorum 2 did not wait: {:?}",
            other.map(|r| r.keys).map_err(|e| describe(&e))
        ),
    };
    admin_a.approve(request).unwrap();
    let bundle =
        recover(&bob_b).unwrap_or_else(|e| panic!("bob's approved recovery: {}", describe(&e)));
    assert_eq!(bundle.keys, 1);
    println!(
        "2. recovery opened on B, approved on A, carried out on B: {} key",
        bundle.keys
    );

    // 3. The audit chain verifies on both nodes.
    let entries = (audit_ok("A", &admin_a), audit_ok("B", &admin_b));
    println!("3. audit chain verifies on both nodes: {entries:?} entries");

    // 4. Kill the CRL signer in the middle of concurrent enrollments through both nodes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.signs() && !b.signs() {
        assert!(Instant::now() < deadline, "no node says it signs the CRLs");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !(a.signs() && b.signs()),
        "both nodes say they sign the CRLs"
    );
    let (mut killed, survivor, survivor_admin) = if a.signs() {
        (a, b, admin_b.clone())
    } else {
        (b, a, admin_a.clone())
    };
    println!("4. {} signs the CRLs: it is killed", killed.name);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let killed_client = if killed.name == "A" {
        admin_a.clone()
    } else {
        admin_b.clone()
    };
    let handles = spawn_workers(
        &[
            (killed.name, killed_client),
            (survivor.name, survivor_admin.clone()),
        ],
        2,
        &keys,
        &ledger,
        &stop,
        "k",
        &mut rng,
    );
    std::thread::sleep(Duration::from_millis(rng.between(1500, 3000)));
    killed.kill();
    let survivor_enrolls = |l: &Ledger| {
        l.acked
            .get(&format!("{} enroll", survivor.name))
            .copied()
            .unwrap_or(0)
    };
    let at_kill = survivor_enrolls(&lock(&ledger));
    // The survivor keeps serving under load: the load runs until it has enrolled after the
    // kill (at least 1.5 s, at most 10 s; the time it took is printed).
    let killed_at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = killed_at.elapsed();
        if (elapsed >= Duration::from_millis(1500) && survivor_enrolls(&lock(&ledger)) > at_kill)
            || elapsed >= Duration::from_secs(10)
        {
            break;
        }
    }
    println!(
        "4. {} served its first enrollment after the kill within {:?}",
        survivor.name,
        killed_at.elapsed()
    );
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().expect("a worker panicked");
    }
    {
        let l = lock(&ledger);
        assert!(
            survivor_enrolls(&l) > at_kill,
            "{} enrolled nobody after the kill: {:?}",
            survivor.name,
            l.refused
        );
        let through = |n: &str| l.certs.values().filter(|(_, via)| *via == n).count();
        assert!(
            through(killed.name) > 0,
            "nothing enrolled through the killed node"
        );
        assert!(
            through(survivor.name) > 0,
            "nothing enrolled through the survivor"
        );
        for (serial, (email, via)) in &l.certs {
            survivor_admin.certificate(serial).unwrap_or_else(|e| {
                panic!(
                    "acknowledged {serial} of {email} (through {via}) unknown to {}: {}",
                    survivor.name,
                    describe(&e)
                )
            });
        }
        let missing = survivor.crl_missing(&ca, &l.revoked);
        assert!(
            missing.is_empty(),
            "{}: acknowledged revocations missing from the CRL after the kill: {missing:?}",
            survivor.name
        );
        println!(
            "   {} certificates and {} revocations acknowledged, all known to {}; {:?}; refused {:?}",
            l.certs.len(),
            l.revoked.len(),
            survivor.name,
            l.acked,
            l.refused
        );
    }
    // The CRL signer moves to the survivor: a revocation now appears on its CRL.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !survivor.signs() {
        assert!(
            Instant::now() < deadline,
            "{} did not take over the CRL signing\n{}",
            survivor.name,
            survivor.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let serial = serial_of_pem(&enrolled[3].2.signing_certificate);
    revoke_serial(&survivor_admin, &serial).unwrap();
    let after: BTreeSet<String> = [serial].into();
    let missing = survivor.crl_missing(&ca, &after);
    assert!(
        missing.is_empty(),
        "{}: a revocation after the kill is not on its CRL",
        survivor.name
    );
    let got = survivor.ocsp(&ca_file, &t.join("cert3.pem"), "revoked");
    assert_eq!(got, "revoked", "{}: OCSP after the kill", survivor.name);
    println!(
        "   {} signs the CRLs now; a revocation after the kill is on its CRL and OCSP",
        survivor.name
    );
    // The killed node comes back.
    killed.start(&key_file);
    let killed_admin = killed.login("admin", ADMIN_PW);
    wait_healthy(&killed, Duration::from_secs(30));

    // 5. The database restarts under load: both nodes come back by themselves.
    let (a, b, admin_a, admin_b) = if killed.name == "A" {
        (killed, survivor, killed_admin, survivor_admin)
    } else {
        (survivor, killed, survivor_admin, killed_admin)
    };
    let before = lock(&ledger).certs.len();
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Ledger::default()));
    let handles = {
        let mut hs = Vec::new();
        for (node, client) in [("A", admin_a.clone()), ("B", admin_b.clone())] {
            let w = Worker {
                node,
                client,
                keys: Arc::clone(&keys),
                ledger: Arc::clone(&load),
                stop: Arc::clone(&stop),
                stop_on_transport: false,
                tag: format!("d{node}"),
            };
            let wrng = TestRng::new(rng.next_u64());
            hs.push(std::thread::spawn(move || work(w, wrng)));
        }
        hs
    };
    std::thread::sleep(Duration::from_millis(1000));
    cluster.stop();
    let outage = Instant::now();
    // During the outage: /healthz answers 503 `unavailable` with a reason on both nodes.
    let raw: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for n in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = match raw.get(format!("{}/healthz", n.public_url())).call() {
                Ok(mut r) => (
                    r.status().as_u16(),
                    r.body_mut().read_to_string().unwrap_or_default(),
                ),
                Err(e) => (0, e.to_string()),
            };
            if status == 503 {
                let v: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{}: /healthz 503 not JSON ({e}): {body}", n.name));
                assert_eq!(v["status"], "unavailable", "{}: {v}", n.name);
                assert!(
                    v["reasons"].as_array().is_some_and(|r| !r.is_empty()),
                    "{}: /healthz 503 without a reason: {v}",
                    n.name
                );
                let reasons: Vec<&str> = v["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str())
                    .collect();
                for (i, r) in reasons.iter().enumerate() {
                    let again = reasons
                        .iter()
                        .enumerate()
                        .any(|(j, o)| i != j && r.contains(o));
                    assert!(!again, "{}: /healthz repeats a reason: {v}", n.name);
                }
                println!("   {} /healthz during the outage: 503 {reasons:?}", n.name);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: /healthz during the outage: {status} {body}",
                n.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for n in [&a, &b] {
        // A client of its own (no kept-alive connection the node may be closing as idle);
        // A's session of the start works on both nodes.
        let client = KmsClient::new(&n.url(), None)
            .unwrap()
            .with_token(token.clone());
        match client.users(&api::UserListQuery::default()) {
            Err(ClientError::Api {
                status: 503, code, ..
            }) => {
                assert!(!code.starts_with("HTTP-"), "{}: 503 without a code", n.name);
                println!("   {}: a call during the outage: 503 {code}", n.name);
            }
            other => panic!(
                "{}: a call during the outage: {:?}\n{}",
                n.name,
                other.map(|_| "answered").map_err(|e| describe(&e)),
                n.log_tail()
            ),
        }
    }
    std::thread::sleep(Duration::from_millis(2000));
    cluster.restart();
    let down = outage.elapsed();
    // Both nodes serve again by themselves (still under load: their CRL may lag a moment).
    let healed = (
        wait_health(&a, HEAL_DEADLINE, true),
        wait_health(&b, HEAL_DEADLINE, true),
    );
    // Work goes on through both nodes once the database is back.
    let enrolled_before = lock(&load).acked.clone();
    std::thread::sleep(Duration::from_millis(2000));
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().expect("a worker panicked");
    }
    // Once the load stops, both are fully well.
    for n in [&a, &b] {
        wait_healthy(n, Duration::from_secs(10));
    }
    let l = lock(&load);
    for n in ["A", "B"] {
        let key = format!("{n} enroll");
        let now = l.acked.get(&key).copied().unwrap_or(0);
        let then = enrolled_before.get(&key).copied().unwrap_or(0);
        assert!(
            now > then,
            "{n}: no enrollment after the database came back ({:?})",
            l.refused
        );
    }
    for (serial, (email, via)) in &l.certs {
        for (name, client) in [("A", &admin_a), ("B", &admin_b)] {
            client.certificate(serial).unwrap_or_else(|e| {
                panic!(
                    "{name}: acknowledged {serial} of {email} (through {via}) unknown: {}",
                    describe(&e)
                )
            });
        }
    }
    // What the killed node's workers had acknowledged before the kill is known to it again.
    for (serial, (email, via)) in &lock(&ledger).certs {
        for (name, client) in [("A", &admin_a), ("B", &admin_b)] {
            client.certificate(serial).unwrap_or_else(|e| {
                panic!(
                    "{name}: {serial} of {email} (through {via} before the kill) unknown: {}",
                    describe(&e)
                )
            });
        }
    }
    for n in [&a, &b] {
        let missing = n.crl_missing(&ca, &l.revoked);
        assert!(
            missing.is_empty(),
            "{}: CRL lacks {missing:?} after the outage",
            n.name
        );
    }
    // A revocation through each node after the outage is on both CRLs and OCSPs.
    let mut after = BTreeSet::new();
    for (i, client) in [(2, &admin_a), (4, &admin_b)] {
        let pem = if i < enrolled.len() {
            enrolled[i].2.signing_certificate.clone()
        } else {
            let got = add_and_enroll(client, &keys, &mut rng, "late@cluster.example.com")
                .unwrap_or_else(|(op, e)| panic!("{op} after the outage: {}", describe(&e)));
            std::fs::write(t.join(format!("cert{i}.pem")), &got.signing_certificate).unwrap();
            got.signing_certificate
        };
        let serial = serial_of_pem(&pem);
        revoke_serial(client, &serial)
            .unwrap_or_else(|e| panic!("revoking {serial} after the outage: {}", describe(&e)));
        after.insert(serial);
    }
    for n in [&a, &b] {
        let missing = n.crl_missing(&ca, &after);
        assert!(
            missing.is_empty(),
            "{}: revocations after the outage not on its CRL: {missing:?}",
            n.name
        );
        for i in [2, 4] {
            let got = n.ocsp(&ca_file, &t.join(format!("cert{i}.pem")), "revoked");
            assert_eq!(
                got, "revoked",
                "{}: OCSP for cert{i} after the outage",
                n.name
            );
        }
    }
    let signers: Vec<&str> = [&a, &b]
        .into_iter()
        .filter(|n| n.holds_signer())
        .map(|n| n.name)
        .collect();
    assert_eq!(
        signers.len(),
        1,
        "CRL signers after the outage: {signers:?}"
    );
    let entries = (audit_ok("A", &admin_a), audit_ok("B", &admin_b));
    for n in [&a, &b] {
        let logs = n.logs();
        assert!(
            !logs.contains("panicked"),
            "{}: a panic in the log:\n{logs}",
            n.name
        );
    }
    println!(
        "5. database down {:.1} s under load; serving again after {:.1} s (A) and {:.1} s (B); \
         {} certificates and {} revocations acknowledged; {:?}; refused {:?}; audit {entries:?}; \
         revocations after it on both CRLs and OCSPs; {} signs the CRLs",
        down.as_secs_f64(),
        healed.0.as_secs_f64(),
        healed.1.as_secs_f64(),
        l.certs.len(),
        l.revoked.len(),
        l.acked,
        l.refused,
        signers[0]
    );
    println!(
        "cluster e2e: {} certificates acknowledged in all, done in {:.1} s",
        // The four users of part 1 and the one after the outage: two certificates each.
        before + l.certs.len() + 10,
        started.elapsed().as_secs_f64()
    );
}
