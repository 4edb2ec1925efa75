//! The CA key in a PKCS#11 token (SoftHSM2 in a temporary directory, `SOFTHSM2_CONF` given to
//! every kmsd): `kmsd init --ca-key-pkcs11-module` generates it there (sensitive, never
//! extractable, as `pkcs11-tool --list-objects` shows); enrollment with lockbox, revocation,
//! the CRL and OCSP, all verified by OpenSSL against the CA certificate; the CA key in no
//! store file, WAL, backup or restored copy; the token pulled out while serving -> 503
//! AUTH-150 with the token's HSM code and `/healthz` degraded ("no signer") while the CRL, the CA
//! certificate and OCSP keep being served, and back -> signing again. And the refusals at
//! start: a wrong PIN (HSM-003), a wrong module (HSM-001), a key label not on the token
//! (HSM-005), no PIN. And a second node joining a PostgreSQL-backed authority whose CA key is
//! in the token (`kmsd join --settings-from` and the PIN).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hsm::testing::{SoftHsm, USER_PIN};

use super::support::{Server, free_port, kmsd_bin, ok, openssl, run, sibling_bin};

const ADMIN_PW: &str = "hsm e2e admin password";
const P12_PW: &str = "user p12 password";
const TOKEN: &str = "kms";
const KEY_LABEL: &str = "kms-ca";

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `GET url` over plain HTTP/1.0: the status and the body.
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("a plain http:// URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = TcpStream::connect(authority).unwrap_or_else(|e| panic!("{url}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{url}: no HTTP header end"));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{url}: {head}"));
    (status, raw[split + 4..].to_vec())
}

fn healthz(public_url: &str) -> serde_json::Value {
    let (status, body) = http_get(&format!("{public_url}/healthz"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls `/healthz` until `pred` holds (at most 20 s).
fn wait_health(public_url: &str, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = healthz(public_url);
        if pred(&v) {
            return;
        }
        assert!(Instant::now() < deadline, "/healthz never said {what}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kmsd init` with the CA key generated in the token `TOKEN` of `hsm`, unlocking with a key
/// file; returns init's output.
fn init(hsm: &SoftHsm, key_file: &Path, data: &Path, public_url: &str, pin_file: &Path) -> String {
    ok(
        run(
            hsm.command(kmsd_bin())
                .args(["init", "--ca-key-bits", "3072"])
                .args(["--ca-subject", "CN=Token CA,O=Example", "--admin", "admin"])
                .args(["--admin-password-stdin", "--public-url", public_url])
                .arg("--data-dir")
                .arg(data)
                .arg("--key-file")
                .arg(key_file)
                .arg("--ca-key-pkcs11-module")
                .arg(SoftHsm::module())
                .args(["--ca-key-token", TOKEN, "--ca-key-label", KEY_LABEL])
                .arg("--pin-file")
                .arg(pin_file),
            Some(ADMIN_PW),
        ),
        "kmsd init with the CA key in SoftHSM",
    )
}

/// `kmsd serve` over plain HTTP with the token's PIN file in `KMS_PKCS11_PIN_FILE`, once both
/// listeners answer.
fn serve(hsm: &SoftHsm, t: &Path, data: &Path, ports: (u16, u16), pin_file: &Path) -> Server {
    let log = std::fs::File::create(t.join("kmsd.log")).unwrap();
    let child = hsm
        .command(kmsd_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{}", ports.0)])
        .args([
            "--public-listen",
            &format!("127.0.0.1:{}", ports.1),
            "--http",
        ])
        .arg("--key-file")
        .arg(t.join("kmsd.keyfile"))
        .env("KMS_PKCS11_PIN_FILE", pin_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", ports.0)).is_err()
        || TcpStream::connect(("127.0.0.1", ports.1)).is_err()
    {
        assert!(
            Instant::now() < deadline,
            "kmsd did not start: {}",
            std::fs::read_to_string(t.join("kmsd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// The one token directory of `hsm` (SoftHSM keeps one per token).
fn token_dir(hsm: &SoftHsm) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(hsm.token_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Where `modulus` occurs in `bytes` in anything but an RSAPublicKey (`SEQUENCE { INTEGER
/// modulus, ... }`, as certificates carry it): a PKCS#1 RSAPrivateKey, alone or inside a
/// PKCS#8 PrivateKeyInfo, has `INTEGER 0` (its version) before the modulus. Returns the
/// offsets of private-key occurrences and the number of public ones.
fn modulus_occurrences(bytes: &[u8], modulus: &[u8]) -> (Vec<usize>, usize) {
    // A 3072-bit modulus: INTEGER of 385 bytes (a leading zero).
    let public_head: &[u8] = &[0x30, 0x82, 0x01, 0x8a, 0x02, 0x82, 0x01, 0x81, 0x00];
    let (mut private, mut public) = (Vec::new(), 0);
    for (i, w) in bytes.windows(modulus.len()).enumerate() {
        if w != modulus {
            continue;
        }
        if i >= public_head.len() && &bytes[i - public_head.len()..i] == public_head {
            public += 1;
        } else {
            private.push(i);
        }
    }
    (private, public)
}

#[test]
fn kmsd_with_its_ca_key_in_softhsm() {
    let hsm = SoftHsm::new();
    hsm.init_token(TOKEN);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    let data = t.join("data");
    let pin_file = t.join("token.pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let public_url = format!("http://127.0.0.1:{}", ports.1);

    // init: the key is generated in the token, named in kmsd.toml; no PIN is written.
    let out = init(&hsm, &t.join("kmsd.keyfile"), &data, &public_url, &pin_file);
    assert!(out.contains("generated") && out.contains("token:"), "{out}");
    let toml = std::fs::read_to_string(data.join("kmsd.toml")).unwrap();
    assert!(
        toml.contains("[ca_key]")
            && toml.contains(&format!("token_label = \"{TOKEN}\""))
            && toml.contains(&format!("key_label = \"{KEY_LABEL}\"")),
        "{toml}"
    );
    assert!(!toml.contains(USER_PIN), "{toml}");
    // The health checks (and the signer check) every second.
    std::fs::write(
        data.join("kmsd.toml"),
        toml.replace("# health_check_seconds = 60", "health_check_seconds = 1"),
    )
    .unwrap();
    let listed = hsm.pkcs11_tool(&[
        "--token-label",
        TOKEN,
        "--login",
        "--pin",
        USER_PIN,
        "--list-objects",
    ]);
    let listed = text(&listed);
    let private = listed
        .split("Private Key Object")
        .nth(1)
        .unwrap_or_else(|| panic!("no private key listed: {listed}"));
    let private = private.split("Object").next().unwrap_or(private);
    assert!(private.contains(KEY_LABEL), "{listed}");
    assert!(private.contains("never extractable"), "{listed}");
    assert!(private.contains("sensitive"), "{listed}");

    let _server = serve(&hsm, t, &data, ports, &pin_file);
    let kmsctl_bin = sibling_bin("kmsctl");
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("session.json"))
            .env_remove("KMS_CA_CERT");
        c
    };
    let lockbox_bin = sibling_bin("lockbox");
    let lockbox = || {
        let mut c = Command::new(&lockbox_bin);
        c.env("LOCKBOX_CRL_CACHE", t.join("cache"))
            .env_remove("KMS_URL")
            .env_remove("KMS_CA_CERT");
        c
    };
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );
    ok(
        run(kmsctl().args(["ca-cert", "--out", &p("ca.pem")]), None),
        "ca-cert",
    );
    let o = openssl(&["verify", "-CAfile", &p("ca.pem"), &p("ca.pem")]);
    assert!(o.status.success(), "{}", text(&o));

    // Enrollment with lockbox, two users.
    for who in ["alice", "bob"] {
        let email = format!("{who}@example.com");
        let out = ok(
            run(
                kmsctl().args(["--json", "user", "add", &email, "--name", who]),
                None,
            ),
            "user add",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        std::fs::write(
            t.join(format!("{who}.token")),
            v["enrollment_token"].as_str().unwrap(),
        )
        .unwrap();
        ok(
            run(
                lockbox()
                    .args(["enroll", "--server", &url, "--email", &email])
                    .args(["--password-stdin", "--token-file"])
                    .arg(t.join(format!("{who}.token")))
                    .args(["--out", &p(&format!("{who}.p12"))]),
                Some(P12_PW),
            ),
            "lockbox enroll",
        );
        let out = ok(
            run(
                kmsctl().args([
                    "--json", "cert", "list", "--email", &email, "--kind", "signing",
                ]),
                None,
            ),
            "cert list",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let serial = v["certificates"][0]["serial"].as_str().unwrap().to_string();
        ok(
            run(
                kmsctl()
                    .args(["cert", "show", &serial, "--out"])
                    .arg(t.join(format!("{who}.der"))),
                None,
            ),
            "cert show",
        );
        let o = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            &p(&format!("{who}.der")),
            "-out",
            &p(&format!("{who}.pem")),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = openssl(&["verify", "-CAfile", &p("ca.pem"), &p(&format!("{who}.pem"))]);
        assert!(o.status.success(), "{who}: {}", text(&o));
    }

    // Revocation; the CRL (signed in the token) verifies and lists Bob.
    ok(
        run(
            kmsctl().args([
                "revoke",
                "bob@example.com",
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "revoke",
    );
    ok(
        run(
            kmsctl().args(["crl", "--pem", "--out", &p("crl.pem")]),
            None,
        ),
        "crl",
    );
    let verify = |who: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &p("ca.pem"),
            "-CRLfile",
            &p("crl.pem"),
            &p(&format!("{who}.pem")),
        ])
    };
    let o = verify("alice");
    assert!(o.status.success(), "{}", text(&o));
    let o = verify("bob");
    assert!(
        !o.status.success() && text(&o).contains("certificate revoked"),
        "{}",
        text(&o)
    );

    // OCSP: the responder's certificate is signed in the token, its key is a software key
    // in the store; openssl checks the chain to the CA certificate.
    let ocsp = |who: &str| {
        text(
            &Command::new("openssl")
                .args(["ocsp", "-issuer", &p("ca.pem"), "-CAfile", &p("ca.pem")])
                .args(["-url", &format!("{public_url}/ocsp"), "-no_nonce"])
                .args(["-cert", &p(&format!("{who}.pem"))])
                .output()
                .unwrap(),
        )
    };
    let out = ocsp("alice");
    assert!(
        out.contains("Response verify OK") && out.contains("alice.pem: good"),
        "{out}"
    );
    let out = ocsp("bob");
    assert!(
        out.contains("Response verify OK") && out.contains("bob.pem: revoked"),
        "{out}"
    );

    // The audit log names the token key for the CA operations.
    let out = ok(
        run(kmsctl().args(["--json", "audit", "list"]), None),
        "audit",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = v["entries"].as_array().or(v.as_array()).cloned().unwrap();
    for action in ["init", "enroll", "revoke:KeyCompromise"] {
        let e = entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} entry: {v}"));
        assert!(
            e["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("signed-by token:")),
            "{e}"
        );
    }

    // A backup, and a copy restored from it (the restore issues its TLS certificate through
    // the token: the PIN from the file).
    let out = ok(
        run(kmsctl().args(["--json", "backup", "now"]), None),
        "backup",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let backup = PathBuf::from(v["path"].as_str().unwrap());
    let restored = t.join("restored");
    ok(
        run(
            hsm.command(kmsd_bin())
                .arg("restore")
                .arg(&backup)
                .arg("--data-dir")
                .arg(&restored)
                .arg("--key-file")
                .arg(t.join("kmsd.keyfile"))
                .arg("--pin-file")
                .arg(&pin_file),
            None,
        ),
        "kmsd restore with the CA key in the token",
    );
    assert!(restored.join("tls.crt").exists());

    // The CA key is in no file of the store (database, WAL), backup or restored copy: its
    // modulus shows only as a public key (the CA certificate), never in a private key.
    let out = openssl(&["x509", "-in", &p("ca.pem"), "-noout", "-modulus"]);
    let hex = String::from_utf8_lossy(&out.stdout)
        .trim()
        .strip_prefix("Modulus=")
        .unwrap()
        .to_string();
    let modulus: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(modulus.len(), 384);
    let mut files = Vec::new();
    files_under(&data, &mut files);
    files_under(&restored, &mut files);
    assert!(files.contains(&backup), "{files:?}");
    let mut public_seen = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let (private, public) = modulus_occurrences(&bytes, &modulus);
        assert!(
            private.is_empty(),
            "the CA key's modulus outside a public key in {} at {private:?}",
            f.display()
        );
        public_seen += public;
    }
    // The scan sees the plaintext: the CA certificate's public key is found.
    assert!(public_seen >= 2, "{public_seen}");

    // The token pulled out while serving: /healthz degraded ("no signer", HSM-004), signing
    // answers 503 AUTH-150, the public URLs keep being served.
    let (status, crl_before) = http_get(&format!("{public_url}/crl"));
    assert_eq!(status, 200);
    let dir = token_dir(&hsm);
    let away = hsm.token_dir().with_file_name("pulled-out");
    std::fs::rename(&dir, &away).unwrap();
    wait_health(&public_url, "no signer", |v| {
        v["status"] == "degraded"
            && v["reasons"].as_array().is_some_and(|r| {
                r.iter().any(|r| {
                    // The token's own code (HSM-004 gone; a check that fails on
                    // C_GetTokenInfo may say HSM-008) is in the reason.
                    r.as_str()
                        .is_some_and(|r| r.starts_with("no signer") && r.contains("HSM-00"))
                })
            })
    });
    let out = run(
        kmsctl().args(["--json", "renew", "alice@example.com"]),
        None,
    );
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("AUTH-150") && said.contains("HSM-00"),
        "{said}"
    );
    let (status, crl_during) = http_get(&format!("{public_url}/crl"));
    assert_eq!((status, &crl_during), (200, &crl_before));
    let (status, _) = http_get(&format!("{public_url}/ca"));
    assert_eq!(status, 200);
    let out = ocsp("alice");
    assert!(
        out.contains("Response verify OK") && out.contains("alice.pem: good"),
        "{out}"
    );

    // Back: healthy again by itself, and signing works.
    std::fs::rename(&away, &dir).unwrap();
    wait_health(&public_url, "ok", |v| v["status"] == "ok");
    ok(
        run(
            kmsctl().args(["--json", "renew", "alice@example.com"]),
            None,
        ),
        "renew after the token came back",
    );
}

/// Runs `kmsd serve` that is expected to refuse to start; its exit code and output.
fn refused_serve(hsm: &SoftHsm, t: &Path, data: &Path, pin_file: Option<&Path>) -> (i32, String) {
    let mut cmd = hsm.command(kmsd_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--public-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--http")
        .arg("--key-file")
        .arg(t.join("kmsd.keyfile"))
        .env_remove("KMS_PKCS11_PIN_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(f) = pin_file {
        cmd.arg("--pin-file").arg(f);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kmsd serve started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn kmsd_refuses_to_start_without_its_token_key() {
    let hsm = SoftHsm::new();
    hsm.init_token(TOKEN);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let pin_file = t.join("token.pin");
    std::fs::write(&pin_file, USER_PIN).unwrap();
    init(
        &hsm,
        &t.join("kmsd.keyfile"),
        &data,
        "http://127.0.0.1:1",
        &pin_file,
    );

    // No PIN.
    let (code, out) = refused_serve(&hsm, t, &data, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--pin-file") && out.contains(TOKEN), "{out}");
    // A wrong PIN: HSM-003, and the PIN is not echoed.
    let wrong = t.join("wrong.pin");
    std::fs::write(&wrong, "not-the-pin-97531").unwrap();
    let (code, out) = refused_serve(&hsm, t, &data, Some(&wrong));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HSM-003"), "{out}");
    assert!(!out.contains("not-the-pin-97531"), "{out}");
    // A key label the token does not hold: HSM-005.
    let toml = std::fs::read_to_string(data.join("kmsd.toml")).unwrap();
    std::fs::write(
        data.join("kmsd.toml"),
        toml.replace(
            &format!("key_label = \"{KEY_LABEL}\""),
            "key_label = \"other\"",
        ),
    )
    .unwrap();
    let (code, out) = refused_serve(&hsm, t, &data, Some(&pin_file));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HSM-005"), "{out}");
    // A module path that is wrong: HSM-001.
    let module = SoftHsm::module();
    std::fs::write(
        data.join("kmsd.toml"),
        toml.replace(
            &module.display().to_string(),
            "/nonexistent/libpkcs11-missing.so",
        ),
    )
    .unwrap();
    let (code, out) = refused_serve(&hsm, t, &data, Some(&pin_file));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HSM-001"), "{out}");
    // Without [ca_key] the store itself says its key is on a token: AUTH-151.
    let without: String = toml.split("[ca_key]").next().unwrap().to_string();
    std::fs::write(data.join("kmsd.toml"), without).unwrap();
    let (code, out) = refused_serve(&hsm, t, &data, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("AUTH-151") && out.contains("[ca_key]"),
        "{out}"
    );
    // And with it back and the right PIN, init's second run on the token uses the existing
    // key rather than generating another.
    std::fs::write(data.join("kmsd.toml"), &toml).unwrap();
    let again = init(
        &hsm,
        &t.join("kmsd2.keyfile"),
        &t.join("data2"),
        "http://127.0.0.1:1",
        &pin_file,
    );
    assert!(again.contains("existing key"), "{again}");
}

/// A PostgreSQL-backed authority whose CA key is in the token: a second node joins with the
/// first node's settings (`--settings-from`: its `[ca_key]`) and the token's PIN; its TLS
/// certificate is signed through the token, and its kmsd.toml names the token and the
/// database; without the PIN the join is refused before anything is written.
#[test]
fn a_node_joins_an_authority_whose_ca_key_is_in_the_token() {
    let hsm = SoftHsm::new();
    hsm.init_token(TOKEN);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pin_file = t.join("token.pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
    let cluster = db::testing::PgCluster::shared();
    let pg = cluster.fresh_db();
    let url = format!("postgres://{}@127.0.0.1:{}/{}", pg.user, pg.port, pg.dbname);
    let pw_file = t.join("db.password");
    std::fs::write(
        &pw_file,
        format!(
            "{}\n",
            pg.password().expect("a test database password").expose()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (a, b) = (t.join("a"), t.join("b"));
    let key_file = t.join("kmsd.keyfile");
    ok(
        run(
            hsm.command(kmsd_bin())
                .args(["init", "--ca-key-bits", "3072", "--database", &url])
                .arg("--database-password-file")
                .arg(&pw_file)
                .args(["--ca-subject", "CN=Token CA,O=Example", "--admin", "admin"])
                .args([
                    "--admin-password-stdin",
                    "--public-url",
                    "http://127.0.0.1:9",
                ])
                .arg("--data-dir")
                .arg(&a)
                .arg("--key-file")
                .arg(&key_file)
                .arg("--ca-key-pkcs11-module")
                .arg(SoftHsm::module())
                .args(["--ca-key-token", TOKEN, "--ca-key-label", KEY_LABEL])
                .arg("--pin-file")
                .arg(&pin_file),
            Some(ADMIN_PW),
        ),
        "kmsd init --database with the CA key in SoftHSM",
    );
    let join = |pin: bool| {
        let mut cmd = hsm.command(kmsd_bin());
        cmd.args(["join", "--database", &url])
            .arg("--database-password-file")
            .arg(&pw_file)
            .arg("--data-dir")
            .arg(&b)
            .arg("--key-file")
            .arg(&key_file)
            .arg("--settings-from")
            .arg(a.join("kmsd.toml"))
            .args(["--tls-name", "node-b.example"]);
        if pin {
            cmd.arg("--pin-file").arg(&pin_file);
        }
        run(&mut cmd, None)
    };
    let refused = join(false);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("PIN"), "{}", text(&refused));
    assert!(!b.join("kmsd.toml").exists() && !b.join("tls.key").exists());

    ok(join(true), "kmsd join --settings-from with the token's PIN");
    let settings = std::fs::read_to_string(b.join("kmsd.toml")).unwrap();
    assert!(
        settings.contains(&format!("database = \"{url}\"")),
        "{settings}"
    );
    assert!(
        settings.contains("[ca_key]") && settings.contains(KEY_LABEL),
        "{settings}"
    );
    // Top-level keys stay before the table.
    assert!(
        settings.find("database =") < settings.find("[ca_key]"),
        "{settings}"
    );
    // The node's certificate chains to the CA whose key is in the token.
    let chain = std::fs::read_to_string(b.join("tls.crt")).unwrap();
    let certs: Vec<&str> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .collect();
    assert_eq!(certs.len(), 2, "{chain}");
    let leaf = pki::certificate::parse_certificate(certs[0].trim().as_bytes()).unwrap();
    let ca = pki::certificate::parse_certificate(certs[1].trim().as_bytes()).unwrap();
    pki::certificate::verify_signed_by(&leaf, &ca).unwrap();
    assert!(text(&x509_text(&hsm, &b)).contains("node-b.example"));
}

/// `openssl x509 -text` of the node's TLS certificate in `data`.
fn x509_text(hsm: &SoftHsm, data: &Path) -> std::process::Output {
    hsm.run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-text",
            "-in",
            data.join("tls.crt").to_str().unwrap(),
        ],
    )
}
