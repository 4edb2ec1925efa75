//! Test support (cargo feature `testing`): [`PgCluster`], a throw-away PostgreSQL cluster
//! (`initdb` and `pg_ctl` from the newest `/usr/lib/postgresql/*/bin`, run as the `postgres`
//! system user when the tests run as root, its own temporary directory, port and socket,
//! stopped by a watchdog once the test process is gone), one per test process
//! ([`PgCluster::shared`]) with a fresh database per test ([`PgCluster::fresh_db`]), and
//! [`both`], which runs one test body against a fresh SQLite and a fresh PostgreSQL database.
//!
//! Without PostgreSQL installed, the PostgreSQL tests fail saying what to install: they are
//! never skipped silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::config::{Password, PgConfig, TlsMode};
use crate::conn::Connection;

/// What a test run without the server says.
pub const MISSING: &str = "PostgreSQL tests need the server: apt-get install postgresql";

/// The directory of the newest installed PostgreSQL's programs (`DB_TEST_PG_BIN` overrides).
pub fn pg_bin_dir() -> Option<PathBuf> {
    find_pg_bin(
        std::env::var_os("DB_TEST_PG_BIN").map(PathBuf::from),
        Path::new("/usr/lib/postgresql"),
    )
}

/// `overridden` if it holds `initdb`, else the newest `VERSION/bin` under `root` that does.
fn find_pg_bin(overridden: Option<PathBuf>, root: &Path) -> Option<PathBuf> {
    if let Some(dir) = overridden {
        return dir.join("initdb").is_file().then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A PostgreSQL cluster of its own, in a temporary directory, listening on 127.0.0.1 on a
/// free port (and a unix socket in that directory), the superuser `postgres` with a random
/// password. Settings favour speed over durability (`fsync = off`) unless made with
/// [`PgCluster::start_durable`]. Stopped and removed when dropped, and by its watchdog when
/// the test process ends.
pub struct PgCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    /// Run the server's programs through `runuser -u postgres` (the tests run as root).
    as_postgres: bool,
    next_db: AtomicU32,
    admin: Mutex<Option<Connection>>,
    /// Stopped and removed when dropped (not the shared one, which its watchdog removes).
    owned: bool,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        run(
            Command::new("id").args([flag, "postgres"]),
            "looking up the postgres user",
        )
        .trim()
        .parse()
        .expect("id prints a number")
    };
    (id("-u"), id("-g"))
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl PgCluster {
    /// A new cluster of its own (initdb takes a second or two); panics with [`MISSING`] when
    /// PostgreSQL is not installed.
    pub fn start() -> PgCluster {
        Self::start_with(false)
    }

    /// A new cluster with PostgreSQL's durable defaults (`fsync`, synchronous commit), for
    /// measurements.
    pub fn start_durable() -> PgCluster {
        Self::start_with(true)
    }

    /// The cluster this test process shares (started on first use).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut c = Self::start_with(false);
            c.owned = false;
            c
        })
    }

    fn start_with(durable: bool) -> PgCluster {
        let bin = pg_bin_dir().unwrap_or_else(|| panic!("{MISSING}"));
        let as_postgres = running_as_root();
        // Under /tmp when the server runs as `postgres`: TMPDIR may be inside a home
        // directory that user cannot enter.
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("db-pg-");
            b
        };
        let root = if as_postgres {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("a temporary directory")
        .keep();
        let seed = format!(
            "{:?}{}{:?}",
            std::time::SystemTime::now(),
            std::process::id(),
            root
        );
        let password = hex(&Sha256::digest(seed.as_bytes())[..16]);
        let pwfile = root.join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("writing the password file");
        if as_postgres {
            let (uid, gid) = postgres_ids();
            for p in [&root, &pwfile] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let data = root.join("data");
        let c = PgCluster {
            root,
            bin,
            port: free_port(),
            password,
            as_postgres,
            next_db: AtomicU32::new(0),
            admin: Mutex::new(None),
            owned: true,
        };
        run(
            c.command("initdb").args([
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--pwfile",
                path_str(&pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        );
        let mut conf = format!(
            "\n# db::testing\nport = {}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 100\nshared_buffers = 32MB\n",
            c.port,
            c.root.display()
        );
        if !durable {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("reading postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_path, text).expect("writing postgresql.conf");
        c.start_server();
        c.watchdog();
        c
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn start_server(&self) {
        let log = self.root.join("server.log");
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                path_str(&self.data()),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
            ])
            .arg("start")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let ok = out.is_ok_and(|s| s.success());
        if !ok {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("PostgreSQL did not start on port {}:\n{tail}", self.port);
        }
    }

    /// Stops the process's server once the test process is gone (and removes its files).
    fn watchdog(&self) {
        let runas = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runas}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            root = self.root.display(),
        );
        // `setsid -f`: the watchdog runs in a session of its own (a Ctrl-C of the tests does
        // not reach it) and `setsid` itself returns at once.
        let started = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            started.is_ok_and(|s| s.success()),
            "starting the cluster's watchdog (setsid, sh)"
        );
    }

    /// Stops the server (fast shutdown: open connections are cut).
    pub fn stop(&self) {
        run(
            self.command("pg_ctl")
                .args(["-D", path_str(&self.data()), "-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        );
        *self.admin.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Starts the server again after [`PgCluster::stop`] (same port, same databases).
    pub fn restart(&self) {
        self.start_server();
    }

    /// Switches TLS on with the server certificate `cert` and key `key` (PEM files, copied
    /// into the cluster's directory), restarting the server.
    pub fn enable_tls(&self, cert: &Path, key: &Path) {
        let cert_to = self.root.join("server.crt");
        let key_to = self.root.join("server.key");
        std::fs::copy(cert, &cert_to).expect("copying the server certificate");
        std::fs::copy(key, &key_to).expect("copying the server key");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_to, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 0600 the server key");
        }
        if self.as_postgres {
            let (uid, gid) = postgres_ids();
            for p in [&cert_to, &key_to] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let conf_path = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("reading postgresql.conf");
        text.push_str(&format!(
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            cert_to.display(),
            key_to.display()
        ));
        std::fs::write(&conf_path, text).expect("writing postgresql.conf");
        self.stop();
        self.restart();
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's configuration for the database `dbname`.
    pub fn config(&self, dbname: &str) -> PgConfig {
        let mut cfg = PgConfig::new("postgres", "127.0.0.1", self.port, dbname);
        cfg.tls = TlsMode::Disable;
        cfg.set_password(Password::new(self.password.clone()));
        cfg
    }

    /// Runs `sql` as the superuser on the `postgres` database (CREATE DATABASE, ROLE).
    pub fn admin(&self, sql: &str) {
        let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if admin.is_none() {
            *admin = Some(
                Connection::connect_postgres(&self.config("postgres"))
                    .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}")),
            );
        }
        if let Some(conn) = admin.as_ref() {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("test cluster: {e}"));
        }
    }

    /// A new, empty database; the superuser's configuration for it.
    pub fn fresh_db(&self) -> PgConfig {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.next_db.fetch_add(1, Ordering::Relaxed)
        );
        self.admin(&format!("CREATE DATABASE {name}"));
        self.config(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        *self.admin.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        let _ = self
            .command("pg_ctl")
            .args(["-D", path_str(&self.data()), "-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fresh SQLite database file in `dir`.
pub fn fresh_sqlite(dir: &Path) -> Connection {
    Connection::open_sqlite(&dir.join("test.db")).expect("opening a SQLite database")
}

/// Runs `test` against a fresh SQLite database, then against a fresh PostgreSQL database of
/// the shared cluster; a failure says which backend failed.
pub fn both(test: impl Fn(&mut Connection)) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut sqlite = fresh_sqlite(dir.path());
    on_backend("sqlite", || test(&mut sqlite));
    let mut pg = Connection::connect_postgres(&PgCluster::shared().fresh_db())
        .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
    on_backend("postgres", || test(&mut pg));
}

fn on_backend(name: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        eprintln!("db::testing::both: the test failed on {name}");
        std::panic::resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_server_or_none() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(find_pg_bin(None, root.path()), None);
        assert_eq!(find_pg_bin(None, &root.path().join("missing")), None);
        for v in ["9.6", "13", "15", "notaversion"] {
            let bin = root.path().join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if v != "15" {
                std::fs::write(bin.join("initdb"), "").unwrap();
            }
        }
        // 15 has no initdb: 13 is the newest usable one.
        assert_eq!(
            find_pg_bin(None, root.path()),
            Some(root.path().join("13").join("bin"))
        );
        // An override without initdb is no server at all (the tests then fail with MISSING).
        assert_eq!(
            find_pg_bin(Some(root.path().join("15/bin")), root.path()),
            None
        );
        assert!(MISSING.contains("apt-get install postgresql"));
    }
}
