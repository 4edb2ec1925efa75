//! The stolen copy (issue 21, "What it must show"): a running authority with three key
//! recovery agents (threshold 2) and users who collected their keys; its whole data directory
//! and its start-up key file are copied, and the copy is opened with every tool of the
//! project — `kmsd check`, `kmsd serve` with `kmsctl recover-key` as every administrator,
//! one agent's `kmsctl approve` (M−1 agents), `kmsctl backup now` and `kmsd restore`,
//! `lockbox enroll` — and with direct SQLite access and the escrow library unlocked with the
//! secret. None of them produces a user's private key: no file, table cell, answer or bundle
//! holds one (PKCS#8 or PKCS#1 DER, the private exponent or a prime; the public modulus only
//! inside certificates). The store's leak scan extended to the quorum: with two agents' keys
//! the test rebuilds alice's shares and wrap key, and finds neither in any file (database,
//! WAL, backup, restored store) or log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::{Connection, OpenFlags, types::ValueRef};
use serde_json::Value;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ROOT_PW: &str = "root's long admin password";
const ADMIN_PW: &str = "another long admin password";
const USER_PW: &str = "a user's p12 password";
const AGENT_PW: &str = "agent key password";
const BUNDLE_PW: &str = "bundle password";

/// One user private key, in every form a leak could take.
struct Secret {
    what: String,
    pkcs8: Vec<u8>,
    pkcs1: Vec<u8>,
    modulus: Vec<u8>,
    /// The private exponent and the two primes.
    private: Vec<Vec<u8>>,
}

/// DER: (tag, contents, rest).
fn der_next(b: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = b[0];
    let (len, hdr) = match b[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (b[2] as usize, 3),
        0x82 => (((b[2] as usize) << 8) | b[3] as usize, 4),
        n => panic!("DER length form {n:#x}"),
    };
    (tag, &b[hdr..hdr + len], &b[hdr + len..])
}

/// The INTEGERs of an RSAPrivateKey (PKCS#1), leading zero bytes dropped.
fn pkcs1_integers(der: &[u8]) -> Vec<Vec<u8>> {
    let (tag, mut body, _) = der_next(der);
    assert_eq!(tag, 0x30);
    let mut out = Vec::new();
    while !body.is_empty() {
        let (tag, v, rest) = der_next(body);
        assert_eq!(tag, 0x02);
        let first = v.iter().position(|&x| x != 0).unwrap_or(v.len());
        out.push(v[first..].to_vec());
        body = rest;
    }
    out
}

/// Every private key of a PKCS#12 (OpenSSL reads it).
fn secrets_of(p12: &Path, pw: &str, dir: &Path, who: &str) -> Vec<Secret> {
    let pem = dir.join(format!("{who}-keys.pem"));
    let out = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-nocerts",
        "-nodes",
        "-passin",
        &format!("pass:{pw}"),
        "-out",
        pem.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&pem).unwrap();
    let mut secrets = Vec::new();
    for (i, block) in text
        .split("-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .enumerate()
    {
        let k = dir.join(format!("{who}-{i}.key"));
        std::fs::write(&k, format!("-----BEGIN PRIVATE KEY-----{block}")).unwrap();
        let der = |args: &[&str], to: &str| {
            let f = dir.join(format!("{who}-{i}.{to}"));
            let mut all = args.to_vec();
            all.extend(["-in", k.to_str().unwrap(), "-outform", "DER", "-out"]);
            all.push(f.to_str().unwrap());
            let out = openssl(&all);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::read(f).unwrap()
        };
        let pkcs8 = der(&["pkey"], "p8");
        let pkcs1 = der(&["rsa", "-traditional"], "p1");
        let ints = pkcs1_integers(&pkcs1);
        // version, n, e, d, p, q, dp, dq, qinv
        assert_eq!(ints.len(), 9);
        secrets.push(Secret {
            what: format!("{who}'s key {i}"),
            pkcs8,
            pkcs1,
            modulus: ints[1].clone(),
            private: vec![ints[3].clone(), ints[4].clone(), ints[5].clone()],
        });
    }
    assert_eq!(secrets.len(), 2, "{who}: a signing and an encryption key");
    secrets
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Which private form of which key `bytes` holds, if any: a 32-byte window from the middle
/// of either DER encoding, or of the private exponent or a prime.
fn private_leak(bytes: &[u8], secrets: &[Secret]) -> Option<String> {
    for s in secrets {
        let mid = |v: &[u8]| v[v.len() / 2..v.len() / 2 + 32].to_vec();
        let mut probes = vec![("PKCS#8", mid(&s.pkcs8)), ("PKCS#1", mid(&s.pkcs1))];
        for (i, p) in s.private.iter().enumerate() {
            probes.push((["d", "p", "q"][i], mid(p)));
            probes.push((["d", "p", "q"][i], p[..32].to_vec()));
        }
        for (form, probe) in probes {
            if contains(bytes, &probe) {
                return Some(format!("{} ({form})", s.what));
            }
        }
    }
    None
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_no_private_key_in_files(dir: &Path, secrets: &[Secret]) -> usize {
    let all = files(dir);
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        if let Some(what) = private_leak(&bytes, secrets) {
            panic!("{} holds {what}", f.display());
        }
    }
    all.len()
}

fn assert_no_private_key_in_output(out: &Output, secrets: &[Secret], what: &str) {
    for bytes in [&out.stdout, &out.stderr] {
        assert!(
            private_leak(bytes, secrets).is_none(),
            "{what} printed a private key"
        );
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("PRIVATE KEY"), "{what}: {text}");
    }
}

/// Direct SQLite access to a store: every cell of every table, read-only. No cell holds a
/// private form of a key, and the modulus (public) appears only in certificate columns.
/// Returns the cells read and how many certificate cells hold a user's modulus (the scan
/// sees the keys' public halves where they belong).
fn scan_database(db: &Path, secrets: &[Secret]) -> (usize, usize) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(tables.iter().any(|t| t == "key_shares"), "{tables:?}");
    let mut cells = 0;
    let mut in_certificates = 0;
    for table in &tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for (i, col) in names.iter().enumerate() {
                let bytes: Vec<u8> = match row.get_ref(i).unwrap() {
                    ValueRef::Blob(b) => b.to_vec(),
                    ValueRef::Text(t) => t.to_vec(),
                    _ => continue,
                };
                cells += 1;
                if let Some(what) = private_leak(&bytes, secrets) {
                    panic!("{table}.{col} holds {what}");
                }
                let certificate_column = matches!(col.as_str(), "der" | "certificate");
                for s in secrets {
                    let found = contains(&bytes, &s.modulus[..32]);
                    assert!(
                        !found || certificate_column,
                        "{table}.{col} holds the modulus of {}",
                        s.what
                    );
                    in_certificates += usize::from(found);
                }
            }
        }
    }
    (cells, in_certificates)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_copy_of_the_data_directory_and_its_secret_opens_no_users_key_with_any_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    ok(
        run(
            Command::new(kmsd_bin())
                .args(["init", "--ca-subject", "CN=Copy CA", "--admin", "root"])
                .arg("--admin-password-stdin")
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file)
                .arg("--key-file-copy")
                .arg(t.join("kmsd.keyfile.copy")),
            Some(ROOT_PW),
        ),
        "kmsd init",
    );
    let server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));
    let kmsctl_bin = sibling_bin("kmsctl");
    let kmsctl = |url: &str, session: &str| {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", url)
            .env("KMS_SESSION_FILE", t.join(session))
            .env_remove("KMS_CA_CERT")
            .arg("--json");
        c
    };
    let root = || kmsctl(&url, "root.json");
    let lockbox = || Command::new(sibling_bin("lockbox"));
    ok(
        run(
            root().args(["login", "--admin", "root", "--password-stdin"]),
            Some(ROOT_PW),
        ),
        "login",
    );
    let admins = ["root", "bob", "carol"];
    for name in &admins[1..] {
        ok(
            run(
                root()
                    .args(["admin", "add", name, "--role", "administrator"])
                    .arg("--password-stdin"),
                Some(ADMIN_PW),
            ),
            "admin add",
        );
    }
    for i in 0..3 {
        let v: Value = serde_json::from_str(&ok(
            run(
                root()
                    .args(["agent", "keygen", "--out", &p(&format!("agent{i}.key"))])
                    .arg("--password-stdin"),
                Some(AGENT_PW),
            ),
            "agent keygen",
        ))
        .unwrap();
        let pk = v["public_key"].as_str().unwrap().to_string();
        ok(
            run(
                root().args(["agent", "add", &format!("agent{i}"), &pk]),
                None,
            ),
            "agent add",
        );
    }
    ok(
        run(root().args(["agent", "threshold", "2"]), None),
        "agent threshold",
    );

    // Two users enroll and collect their keys.
    let users = ["alice@example.com", "dave@example.com"];
    let mut tokens = Vec::new();
    let mut secrets = Vec::new();
    for (i, email) in users.iter().enumerate() {
        let v: Value = serde_json::from_str(&ok(
            run(
                root().args(["user", "add", email, "--name", "Some User"]),
                None,
            ),
            "user add",
        ))
        .unwrap();
        let token = v["enrollment_token"].as_str().unwrap().to_string();
        let out = p(&format!("user{i}.p12"));
        ok(
            run(
                lockbox()
                    .env("KMS_ENROLL_TOKEN", &token)
                    .args(["enroll", "--server", &url, "--email", email])
                    .args(["--out", &out])
                    .arg("--password-stdin"),
                Some(USER_PW),
            ),
            "lockbox enroll",
        );
        secrets.extend(secrets_of(Path::new(&out), USER_PW, t, &format!("user{i}")));
        tokens.push(token);
    }
    let v: Value =
        serde_json::from_str(&ok(run(root().args(["agent", "list"]), None), "agent list")).unwrap();
    assert_eq!(
        (v["split_keys"].as_i64(), v["master_only_keys"].as_i64()),
        (Some(2), Some(0))
    );

    // The thief's copy: the whole data directory of the running authority and its key file.
    let stolen = t.join("stolen");
    copy_dir(&data, &stolen);
    let stolen_key = t.join("stolen.keyfile");
    std::fs::copy(&key_file, &stolen_key).unwrap();
    drop(server);

    // Direct SQLite access, every cell; every file's bytes.
    // (The probes find a key where one is: the PKCS#1 file made from alice's bundle.)
    assert!(private_leak(&std::fs::read(t.join("user0-1.p1")).unwrap(), &secrets).is_some());
    let (cells, certificates) = scan_database(&stolen.join(escrow::DB_FILE_NAME), &secrets);
    assert!(cells > 100, "{cells} cells read");
    assert!(certificates >= secrets.len(), "{certificates}");
    assert!(assert_no_private_key_in_files(&stolen, &secrets) >= 2);

    // The escrow library with the start-up secret: every escrowed row decrypts, and none is
    // a user's key (the users' encryption keys are agent-split; their PKCS#8 is gone).
    {
        let store = escrow::Store::open(&stolen).unwrap();
        let un = store
            .unlock(&escrow::Credential::key_file(&stolen_key).unwrap())
            .unwrap();
        let mut split = 0;
        for info in un.list().unwrap() {
            let k = un.key(info.id).unwrap().unwrap();
            let der = k.private_key_der.expose();
            assert!(private_leak(der, &secrets).is_none(), "row {}", info.id);
            if let Some(w) = &k.agent_split {
                assert!(der.is_empty());
                assert!(private_leak(w.expose(), &secrets).is_none());
                split += 1;
            }
        }
        assert_eq!(split, 2);
    }

    // Alice's shares in the clear and her wrap key, as two agents would rebuild them: the
    // needles of the leak scan below (checked to be the real ones: they unwrap her row).
    let mut clear: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let store = escrow::Store::open(&stolen).unwrap();
        let un = store
            .unlock(&escrow::Credential::key_file(&stolen_key).unwrap())
            .unwrap();
        let alice = &un.keys_of(users[0]).unwrap()[0];
        let id = alice.info.id;
        let mut shares = Vec::new();
        for agent in 0..2 {
            let pem = std::fs::read(t.join(format!("agent{agent}.key"))).unwrap();
            let key =
                pki::quorum::AgentSecretKey::from_encrypted_pem(&pem, AGENT_PW.as_bytes()).unwrap();
            let pk = key.public_key().unwrap();
            let sealed = un.agent_shares(agent + 1, &[id]).unwrap();
            assert_eq!(
                sealed.len(),
                1,
                "agent{agent} holds one share of alice's key"
            );
            let share =
                pki::quorum::open(&key, &pki::quorum::share_info(id.0, &pk), &sealed[0].1).unwrap();
            clear.push((format!("agent{agent}'s share"), share.to_vec()));
            shares.push(pki::quorum::Share::from_bytes(&share).unwrap());
        }
        let wrap_key = pki::quorum::combine(&shares).unwrap();
        let label = pki::quorum::KeyLabel {
            id: id.0,
            owner: users[0],
            usage: "encryption",
        };
        let der = pki::quorum::unwrap(
            &wrap_key,
            &label,
            alice.agent_split.as_ref().unwrap().expose(),
        )
        .unwrap();
        assert!(private_leak(&der, &secrets).is_some(), "it is alice's key");
        clear.push(("alice's wrap key".into(), wrap_key.expose().to_vec()));
    }
    let assert_no_quorum_secret = |dir: &Path| {
        for f in files(dir) {
            let bytes = std::fs::read(&f).unwrap();
            for (what, needle) in &clear {
                assert!(!contains(&bytes, needle), "{} holds {what}", f.display());
            }
        }
    };

    // `kmsd check` on the copy: sound, the split keys verified, nothing secret printed.
    let out = run(
        Command::new(kmsd_bin())
            .args(["check", "--data-dir"])
            .arg(&stolen)
            .arg("--key-file")
            .arg(&stolen_key),
        None,
    );
    assert_no_private_key_in_output(&out, &secrets, "kmsd check");
    let text = ok(out, "kmsd check");
    assert!(
        text.contains("agent-split keys: 2 (6 shares authenticated, none opened; threshold 2 of 3 agents), 0 with problems"),
        "{text}"
    );

    // `kmsd serve` on the copy; every administrator asks for alice's keys: each waits for
    // the agents, and no bundle is written.
    let cports = (free_port(), free_port());
    let curl = format!("http://127.0.0.1:{}", cports.0);
    let copy_server = start(
        &stolen,
        cports,
        false,
        Some(&stolen_key),
        &t.join("copy.log"),
    );
    let on_copy = |admin: &str| kmsctl(&curl, &format!("copy-{admin}.json"));
    let mut requests = Vec::new();
    for admin in admins {
        let pw = if admin == "root" { ROOT_PW } else { ADMIN_PW };
        ok(
            run(
                on_copy(admin).args(["login", "--admin", admin, "--password-stdin"]),
                Some(pw),
            ),
            "login on the copy",
        );
        let bundle = p(&format!("{admin}-recovered.p12"));
        let out = run(
            on_copy(admin)
                .args(["recover-key", users[0], "--out", &bundle])
                .arg("--password-stdin"),
            Some(BUNDLE_PW),
        );
        assert_no_private_key_in_output(&out, &secrets, "recover-key");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{admin}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], "waiting", "{v}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("waiting for 2 more key recovery agents"),
            "{said}"
        );
        requests.push(v["request_id"].as_i64().unwrap());
        assert!(!Path::new(&bundle).exists());
    }

    // M−1 agents: one agent's answer leaves root's request waiting (1 of 2), and the
    // bundle is never written.
    let id = requests[0].to_string();
    let out = run(
        on_copy("root")
            .args(["approve", &id, "--agent-key", &p("agent0.key")])
            .arg("--password-stdin"),
        Some(AGENT_PW),
    );
    assert_no_private_key_in_output(&out, &secrets, "approve --agent-key");
    ok(out, "one agent releases");
    let v: Value = serde_json::from_str(&ok(
        run(on_copy("root").args(["agent", "requests"]), None),
        "agent requests",
    ))
    .unwrap();
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 3, "{v}");
    let mine = reqs.iter().find(|r| r["id"] == requests[0]).unwrap();
    assert_eq!(mine["released_by"], serde_json::json!(["agent0"]), "{v}");
    assert_eq!(
        (mine["needed"].as_i64(), mine["keys"].as_i64()),
        (Some(2), Some(1))
    );
    let bundle = p("root-recovered.p12");
    let out = run(
        on_copy("root")
            .args(["recover-key", users[0], "--out", &bundle])
            .arg("--password-stdin"),
        Some(BUNDLE_PW),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(!Path::new(&bundle).exists());

    // lockbox: the collected enrollment token opens nothing on the copy.
    let again = p("again.p12");
    let out = run(
        lockbox()
            .env("KMS_ENROLL_TOKEN", &tokens[0])
            .args(["enroll", "--server", &curl, "--email", users[0]])
            .args(["--out", &again])
            .arg("--password-stdin"),
        Some(USER_PW),
    );
    assert_no_private_key_in_output(&out, &secrets, "lockbox enroll");
    assert_eq!(out.status.code(), Some(1));
    assert!(!Path::new(&again).exists());

    // A backup of the copy, restored offline: neither the backup nor the restored store
    // holds a user's key, and the restored store checks sound with its keys still split.
    let v: Value = serde_json::from_str(&ok(
        run(on_copy("root").args(["backup", "now"]), None),
        "backup now",
    ))
    .unwrap();
    let backup = PathBuf::from(v["path"].as_str().unwrap());
    drop(copy_server);
    assert!(private_leak(&std::fs::read(&backup).unwrap(), &secrets).is_none());
    let restored = t.join("restored");
    let out = run(
        Command::new(kmsd_bin())
            .arg("restore")
            .arg(&backup)
            .arg("--data-dir")
            .arg(&restored)
            .arg("--key-file")
            .arg(&stolen_key)
            .arg("--no-tls-cert"),
        None,
    );
    assert_no_private_key_in_output(&out, &secrets, "kmsd restore");
    ok(out, "kmsd restore");
    assert_no_private_key_in_files(&restored, &secrets);
    scan_database(&restored.join(escrow::DB_FILE_NAME), &secrets);
    let out = run(
        Command::new(kmsd_bin())
            .args(["check", "--data-dir"])
            .arg(&restored)
            .arg("--key-file")
            .arg(&stolen_key),
        None,
    );
    let text = ok(out, "kmsd check of the restored copy");
    assert!(text.contains("agent-split keys: 2 "), "{text}");

    // Everything the copy's server wrote (its log, the requests it opened) holds no key;
    // no share in the clear and no wrap key anywhere: the original and the copy, their WAL,
    // the backup, the restored store, both servers' logs.
    assert_no_private_key_in_files(&stolen, &secrets);
    let log = std::fs::read(t.join("copy.log")).unwrap();
    assert!(private_leak(&log, &secrets).is_none());
    for dir in [&data, &stolen, &restored] {
        assert_no_quorum_secret(dir);
    }
    for f in [t.join("kmsd.log"), t.join("copy.log"), backup] {
        let bytes = std::fs::read(&f).unwrap();
        for (what, needle) in &clear {
            assert!(!contains(&bytes, needle), "{} holds {what}", f.display());
        }
    }
}
