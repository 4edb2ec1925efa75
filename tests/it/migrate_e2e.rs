//! `kmsd migrate` and backups across backends with the real binaries: a SQLite authority with
//! users, a renewal with a new key (key history), a revocation and audit entries is moved to
//! a fresh PostgreSQL database of the throw-away cluster and served from it (every key
//! recovers and opens with `openssl pkcs12`, `audit verify` holds, the CRL lists the
//! revocation under a number above the old one); a backup taken there is verified and
//! restored into a SQLite data directory and into a second empty database, both serving the
//! same users; then the store moves back to a new SQLite directory and the same holds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use db::testing::PgCluster;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ADMIN_PW: &str = "migrate admin password";
const USER_PW: &str = "migrate p12 password";
const BUNDLE_PW: &str = "migrate bundle password";

struct Env {
    t: PathBuf,
    key_file: PathBuf,
    pw_file: PathBuf,
    ports: (u16, u16),
    url: String,
    kmsctl: PathBuf,
    lockbox: PathBuf,
}

impl Env {
    fn p(&self, name: &str) -> String {
        self.t.join(name).to_str().unwrap().to_string()
    }

    fn kmsctl(&self) -> Command {
        let mut c = Command::new(&self.kmsctl);
        c.env("KMS_URL", &self.url)
            .env("KMS_SESSION_FILE", self.t.join("session.json"))
            .env_remove("KMS_CA_CERT");
        c
    }

    fn kmsd(&self) -> Command {
        Command::new(kmsd_bin())
    }

    fn serve(&self, data: &Path, log: &str) -> super::support::Server {
        let server = start(
            data,
            self.ports,
            false,
            Some(&self.key_file),
            &self.t.join(log),
        );
        ok(
            run(
                self.kmsctl()
                    .args(["login", "--admin", "admin", "--password-stdin"]),
                Some(ADMIN_PW),
            ),
            "login",
        );
        server
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_stdin(args, None)
    }

    fn json_stdin(&self, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
        let out = ok(
            run(self.kmsctl().arg("--json").args(args), stdin),
            &args.join(" "),
        );
        serde_json::from_str(&out).unwrap()
    }

    fn enroll(&self, email: &str, token: &str, out: &str) {
        ok(
            run(
                Command::new(&self.lockbox)
                    .env("KMS_ENROLL_TOKEN", token)
                    .args(["enroll", "--server", &self.url, "--email", email])
                    .arg("--password-stdin")
                    .args(["--out", &self.p(out)]),
                Some(USER_PW),
            ),
            &format!("enroll {email}"),
        );
    }

    /// `kmsctl crl` until its number is above `above` (the first unlock after a move
    /// re-signs); returns the number and the revoked serials.
    fn crl_above(&self, above: u64, name: &str) -> (u64, BTreeSet<String>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            ok(
                run(self.kmsctl().args(["crl", "--out", &self.p(name)]), None),
                "crl",
            );
            let (n, serials) = crl_of(&self.p(name));
            if n > above || Instant::now() > deadline {
                return (n, serials);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Everything a served store must still hold: both users, every key recovering (opened
    /// with openssl), the audit chain intact, the CRL listing `revoked` above `crl_before`.
    /// Returns the CRL number served.
    fn check_store(&self, tag: &str, crl_before: u64, revoked: &BTreeSet<String>) -> u64 {
        let users = ok(run(self.kmsctl().args(["user", "list"]), None), "user list");
        for u in ["alice@example.com", "bob@example.com"] {
            assert!(users.contains(u), "{tag}: {users}");
        }
        for (who, keys) in [("bob@example.com", 2), ("alice@example.com", 1)] {
            let out = self.p(&format!("{tag}-{who}.p12"));
            let v = self.json_stdin(
                &[
                    "recover-key",
                    who,
                    "--out",
                    &out,
                    "--password-stdin",
                    "--why",
                    "migration check",
                ],
                Some(BUNDLE_PW),
            );
            assert_eq!(v["keys"], keys, "{tag}: {v}");
            let o = openssl(&[
                "pkcs12",
                "-in",
                &out,
                "-nocerts",
                "-noenc",
                "-passin",
                &format!("pass:{BUNDLE_PW}"),
            ]);
            assert!(
                o.status.success(),
                "{tag}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(
                text.matches("BEGIN PRIVATE KEY").count(),
                keys as usize,
                "{tag}: {who}"
            );
        }
        let v = self.json(&["audit", "verify"]);
        assert_eq!(v["ok"], true, "{tag}: {v}");
        let (n, serials) = self.crl_above(crl_before, &format!("{tag}.crl"));
        assert!(n > crl_before, "{tag}: CRL number {n} after {crl_before}");
        assert_eq!(&serials, revoked, "{tag}");
        n
    }
}

/// The CRL number and the revoked serials of the DER CRL at `path`.
fn crl_of(path: &str) -> (u64, BTreeSet<String>) {
    let out = openssl(&["crl", "-inform", "DER", "-in", path, "-noout", "-text"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().map(str::trim);
    let mut number = None;
    let mut serials = BTreeSet::new();
    while let Some(l) = lines.next() {
        if l.starts_with("X509v3 CRL Number") {
            number = lines.next().and_then(|n| n.trim().parse::<u64>().ok());
        } else if let Some(s) = l.strip_prefix("Serial Number:") {
            serials.insert(s.trim().to_ascii_lowercase());
        }
    }
    (
        number.unwrap_or_else(|| panic!("no CRL number: {text}")),
        serials,
    )
}

/// The rows `kmsd migrate` or `kmsd restore --database` printed for `table`.
fn rows_of(out: &str, table: &str) -> u64 {
    let prefix = format!("{table}: ");
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .and_then(|r| r.strip_suffix(" rows"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {table} in {out}"))
}

fn database_url(cfg: &db::PgConfig) -> String {
    format!(
        "postgres://{}@{}:{}/{}?sslmode=disable",
        cfg.user, cfg.host, cfg.port, cfg.dbname
    )
}

fn write_password_file(path: &Path, cfg: &db::PgConfig) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{}\n", cfg.password().unwrap().expose())).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_sqlite_authority_moves_to_postgresql_and_back_and_its_backups_restore_into_either() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_path_buf();
    let cluster = PgCluster::shared();
    let (db1, db2) = (cluster.fresh_db(), cluster.fresh_db());
    let ports = (free_port(), free_port());
    let env = Env {
        key_file: t.join("kmsd.keyfile"),
        pw_file: t.join("db-password"),
        url: format!("http://127.0.0.1:{}", ports.0),
        ports,
        kmsctl: sibling_bin("kmsctl"),
        lockbox: sibling_bin("lockbox"),
        t: t.clone(),
    };
    write_password_file(&env.pw_file, &db1);
    let (url1, url2) = (database_url(&db1), database_url(&db2));
    let data = t.join("data");

    // A SQLite authority with history.
    ok(
        run(
            env.kmsd()
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Move CA",
                ])
                .args(["--admin", "admin", "--admin-password-stdin"])
                .arg("--public-url")
                .arg(format!("http://127.0.0.1:{}", ports.1))
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&env.key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    let server = env.serve(&data, "kmsd-sqlite.log");
    for (email, name) in [("alice@example.com", "Alice"), ("bob@example.com", "Bob")] {
        let v = env.json(&["user", "add", email, "--name", name]);
        let token = v["enrollment_token"].as_str().unwrap().to_string();
        env.enroll(email, &token, &format!("{name}.p12"));
    }
    let v = env.json(&["renew", "bob@example.com", "--new-key"]);
    let token = v["renewed"][0]["enrollment_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.enroll("bob@example.com", &token, "bob-new.p12");
    ok(
        run(
            env.kmsctl().args([
                "revoke",
                "alice@example.com",
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "revoke",
    );
    let (crl0, revoked) = env.crl_above(0, "sqlite.crl");
    assert!(!revoked.is_empty(), "alice's certificates are listed");
    // The SQLite store checks out as the others will.
    let crl0 = env.check_store("sqlite", crl0 - 1, &revoked);

    // In use: refused, nothing written anywhere.
    let migrate_to = |from: &Path, to: &str| {
        run(
            env.kmsd()
                .arg("migrate")
                .arg("--from")
                .arg(from)
                .args(["--to", to])
                .arg("--database-password-file")
                .arg(&env.pw_file),
            None,
        )
    };
    let out = migrate_to(&data, &url1);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use") && err.contains("ESCROW-022"),
        "{err}"
    );
    drop(server);

    // SQLite -> PostgreSQL.
    let out = ok(migrate_to(&data, &url1), "kmsd migrate to PostgreSQL");
    let keys = rows_of(&out, "escrowed_keys");
    assert!(keys >= 3, "{out}");
    assert_eq!(rows_of(&out, "users"), 2, "{out}");
    assert!(out.contains("crl_blobs"), "{out}");
    assert!(out.contains("verified"), "{out}");
    assert!(!out.contains(db1.password().unwrap().expose()), "{out}");
    let toml = std::fs::read_to_string(data.join("kmsd.toml")).unwrap();
    assert!(toml.contains(&format!("database = \"{url1}\"")), "{toml}");
    assert!(!data.join(escrow::DB_FILE_NAME).exists());
    // The data directory serves from the database now: moving it again is refused.
    let out = migrate_to(&data, &url2);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serves from the database"), "{err}");

    let server = env.serve(&data, "kmsd-pg.log");
    let audit = ok(
        run(env.kmsctl().args(["audit", "list"]), None),
        "audit list",
    );
    assert!(audit.contains("store.migrate"), "{audit}");
    let crl1 = env.check_store("pg", crl0, &revoked);

    // A backup of the store on PostgreSQL: the same format, verified by the server and
    // offline with the key file.
    let v = env.json(&["backup", "now"]);
    let backup = PathBuf::from(v["path"].as_str().unwrap());
    let name = backup.file_name().unwrap().to_str().unwrap().to_string();
    let v = env.json(&["backup", "verify", &name]);
    assert_eq!(v["audit"]["ok"], true, "{v}");
    let report = escrow::verify_backup(
        &backup,
        &escrow::Credential::key_file(&env.key_file).unwrap(),
    )
    .unwrap();
    assert_eq!(report.keys, keys, "{report:?}");
    let backup_users = ok(run(env.kmsctl().args(["user", "list"]), None), "users");
    // Restoring over the live PostgreSQL store is refused, naming the offline way.
    let out = run(
        env.kmsctl().args(["backup", "restore", &name, "--yes"]),
        None,
    );
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kmsd restore"), "{err}");
    drop(server);

    let restore = |args: &[&str], dir: &Path| {
        ok(
            run(
                env.kmsd()
                    .arg("restore")
                    .arg(&backup)
                    .arg("--data-dir")
                    .arg(dir)
                    .arg("--key-file")
                    .arg(&env.key_file)
                    .args(args),
                None,
            ),
            "kmsd restore",
        )
    };
    // Into a SQLite data directory: the PostgreSQL node's database lines are not carried.
    let r1 = t.join("restored-sqlite");
    restore(&["--no-tls-cert"], &r1);
    assert!(r1.join(escrow::DB_FILE_NAME).is_file());
    let toml = std::fs::read_to_string(r1.join("kmsd.toml")).unwrap();
    assert!(!toml.contains("\ndatabase ="), "{toml}");
    {
        let _server = env.serve(&r1, "kmsd-r1.log");
        let users = ok(run(env.kmsctl().args(["user", "list"]), None), "users");
        assert_eq!(users, backup_users);
        let v = env.json(&["audit", "verify"]);
        assert_eq!(v["ok"], true, "{v}");
    }
    // Into a second, empty database.
    let r2 = t.join("restored-pg");
    write_password_file(&t.join("db2-password"), &db2);
    let out = restore(
        &[
            "--database",
            &url2,
            "--database-password-file",
            &env.p("db2-password"),
        ],
        &r2,
    );
    assert_eq!(rows_of(&out, "escrowed_keys"), keys, "{out}");
    assert!(!r2.join(escrow::DB_FILE_NAME).exists());
    let toml = std::fs::read_to_string(r2.join("kmsd.toml")).unwrap();
    assert!(toml.contains(&format!("database = \"{url2}\"")), "{toml}");
    {
        let _server = env.serve(&r2, "kmsd-r2.log");
        let users = ok(run(env.kmsctl().args(["user", "list"]), None), "users");
        assert_eq!(users, backup_users);
        let v = env.json(&["audit", "verify"]);
        assert_eq!(v["ok"], true, "{v}");
    }
    // A database holding a store is refused.
    let out = run(
        env.kmsd()
            .arg("restore")
            .arg(&backup)
            .arg("--data-dir")
            .arg(t.join("restored-again"))
            .arg("--key-file")
            .arg(&env.key_file)
            .args(["--database", &url2, "--database-password-file"])
            .arg(t.join("db2-password")),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ESCROW-026"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // PostgreSQL -> a new SQLite data directory.
    let back = t.join("back");
    let out = ok(
        run(
            env.kmsd()
                .args(["migrate", "--from", &url1, "--to"])
                .arg(&back)
                .arg("--database-password-file")
                .arg(&env.pw_file),
            None,
        ),
        "kmsd migrate to SQLite",
    );
    assert_eq!(rows_of(&out, "escrowed_keys"), keys, "{out}");
    assert!(back.join(escrow::DB_FILE_NAME).is_file());
    if let Ok(toml) = std::fs::read_to_string(back.join("kmsd.toml")) {
        assert!(!toml.contains("\ndatabase ="), "{toml}");
    }
    let _server = env.serve(&back, "kmsd-back.log");
    let audit = ok(
        run(env.kmsctl().args(["audit", "list"]), None),
        "audit list",
    );
    assert_eq!(audit.matches("store.migrate").count(), 2, "{audit}");
    env.check_store("back", crl1, &revoked);
}
