//! Where the database is: [`DbConfig`] (a SQLite file or a PostgreSQL server), parsed from
//! `postgres://USER@HOST[:PORT]/DB` URLs, with the password taken from a password file the
//! caller names, `PGPASSWORD`, or `PGPASSFILE`/`~/.pgpass` (parsed here: the `postgres` crate
//! does not) — never from the URL, so it is never in argv. `Debug` and `Display` redact.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{DbError, Result};

/// A database password, zeroized when dropped; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Self {
        Password(Zeroizing::new(p.into()))
    }

    /// The password's text, for handing to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether and how the connection to PostgreSQL is encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS (the default for a unix socket or a loopback address).
    Disable,
    /// TLS, the server's certificate verified against `ca_file` (PEM) and its name against
    /// the host (libpq's `verify-full`; `sslmode=require` asks for this too: an unverified
    /// channel would hand the password to whoever answers).
    Verify {
        /// The CA certificate(s) the server's certificate must chain to (`sslrootcert`).
        ca_file: PathBuf,
    },
}

/// Where the password came from (for messages; never the password itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// None found: the server must not ask for one (trust or peer authentication).
    None,
    /// The password file the caller named (`database_password_file` in `kmsd.toml`).
    File,
    /// The `PGPASSWORD` environment variable.
    Environment,
    /// A matching line of `PGPASSFILE` or `~/.pgpass`.
    Pgpass,
    /// Set by the program (tests).
    Given,
}

/// A PostgreSQL server and database to connect to.
#[derive(Clone)]
pub struct PgConfig {
    /// The role to connect as.
    pub user: String,
    /// A host name or address, or a directory holding the server's unix socket (starts with
    /// `/`).
    pub host: String,
    /// The TCP port (also the unix socket's number).
    pub port: u16,
    /// The database.
    pub dbname: String,
    /// TLS to the server.
    pub tls: TlsMode,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity` (`kmsd` by default).
    pub application_name: String,
    password: Option<Password>,
    password_source: PasswordSource,
}

impl PgConfig {
    /// A configuration without a password (set one with [`PgConfig::set_password`] or
    /// [`PgConfig::resolve_password`]).
    pub fn new(user: &str, host: &str, port: u16, dbname: &str) -> Self {
        let tls = if is_local(host) {
            TlsMode::Disable
        } else {
            TlsMode::Verify {
                ca_file: PathBuf::new(),
            }
        };
        PgConfig {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
            dbname: dbname.to_owned(),
            tls,
            connect_timeout: Duration::from_secs(10),
            application_name: "kmsd".to_owned(),
            password: None,
            password_source: PasswordSource::None,
        }
    }

    /// Parses `postgres://USER@HOST[:PORT]/DB[?sslmode=..&sslrootcert=..&host=..]` and finds
    /// the password (see [`PgConfig::resolve_password`]). A password inside the URL is
    /// refused: it would sit in argv, shell history and logs.
    pub fn from_url(url: &str, password_file: Option<&Path>) -> Result<Self> {
        let mut cfg = parse_url(url)?;
        cfg.resolve_password(password_file, &|k| std::env::var_os(k))?;
        Ok(cfg)
    }

    /// Sets the password (for tests and programs that hold it already).
    pub fn set_password(&mut self, password: Password) {
        self.password = Some(password);
        self.password_source = PasswordSource::Given;
    }

    /// The password, if one was found.
    pub fn password(&self) -> Option<&Password> {
        self.password.as_ref()
    }

    /// Where the password came from.
    pub fn password_source(&self) -> PasswordSource {
        self.password_source
    }

    /// Finds the password, first found wins: the file `password_file` (its first line), the
    /// `PGPASSWORD` variable, then the first matching line of `PGPASSFILE` (or `~/.pgpass`),
    /// which is ignored, as libpq does, when group or others may read it. `env` reads the
    /// environment (injectable for tests).
    pub fn resolve_password(
        &mut self,
        password_file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<()> {
        if let Some(path) = password_file {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                DbError::config(format!(
                    "cannot read the database password file {}: {e}",
                    path.display()
                ))
            })?);
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                return Err(DbError::config(format!(
                    "the database password file {} is empty",
                    path.display()
                )));
            }
            self.password = Some(Password::new(line));
            self.password_source = PasswordSource::File;
            return Ok(());
        }
        if let Some(p) = env("PGPASSWORD").and_then(|p| p.into_string().ok())
            && !p.is_empty()
        {
            self.password = Some(Password::new(p));
            self.password_source = PasswordSource::Environment;
            return Ok(());
        }
        let pgpass = env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pgpass")));
        if let Some(path) = pgpass
            && let Some(p) = read_pgpass(&path, self)?
        {
            self.password = Some(p);
            self.password_source = PasswordSource::Pgpass;
        }
        Ok(())
    }

    /// The driver's configuration (with the password).
    pub(crate) fn to_postgres(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name(&self.application_name);
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        if let Some(p) = &self.password {
            c.password(p.expose());
        }
        c
    }
}

/// Whether `host` is a unix socket directory or a loopback name or address.
fn is_local(host: &str) -> bool {
    host.starts_with('/')
        || host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

impl fmt::Display for PgConfig {
    /// The URL without any secret: `postgres://USER@HOST:PORT/DB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.starts_with('/') {
            write!(
                f,
                "postgres://{}@/{}?host={}&port={}",
                self.user, self.dbname, self.host, self.port
            )
        } else {
            write!(
                f,
                "postgres://{}@{}:{}/{}",
                self.user, self.host, self.port, self.dbname
            )
        }
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.to_string())
            .field("tls", &self.tls)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("password_source", &self.password_source)
            .finish_non_exhaustive()
    }
}

/// A database: a SQLite file, or a PostgreSQL server.
#[derive(Clone, Debug)]
pub enum DbConfig {
    /// A SQLite database file.
    Sqlite {
        /// The file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres(PgConfig),
}

impl fmt::Display for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConfig::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            DbConfig::Postgres(p) => p.fmt(f),
        }
    }
}

/// Decodes `%XX` escapes.
fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| DbError::config("a malformed %-escape in the database URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DbError::config("the database URL is not UTF-8"))
}

const URL_FORM: &str = "postgres://USER@HOST[:PORT]/DATABASE";

/// Parses the URL, without looking for a password.
pub fn parse_url(url: &str) -> Result<PgConfig> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| DbError::config(format!("a database URL has the form {URL_FORM}")))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = authority.rsplit_once('@').ok_or_else(|| {
        DbError::config(format!(
            "the database URL names no user: it has the form {URL_FORM}"
        ))
    })?;
    if userinfo.contains(':') {
        // The message must not repeat the URL: it holds the password.
        return Err(DbError::config(
            "the database URL holds a password: remove it from the URL and give it through a \
             password file (database_password_file in kmsd.toml), PGPASSFILE or ~/.pgpass, or \
             the PGPASSWORD environment variable",
        ));
    }
    let user = percent_decode(userinfo)?;
    let bad_port = |p: &str| {
        DbError::config(format!(
            "the database URL's port {p:?} is not a port number"
        ))
    };
    let (mut host, mut port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| DbError::config("the database URL has an unclosed [ in its host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad_port(p))?,
            None if after.is_empty() => 5432,
            None => return Err(bad_port(after)),
        };
        (h.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| bad_port(p))?),
            None => (hostport.to_owned(), 5432),
        }
    };
    let dbname = percent_decode(path)?;
    if user.is_empty() || dbname.is_empty() {
        return Err(DbError::config(format!(
            "the database URL needs a user and a database: {URL_FORM}"
        )));
    }
    let mut sslmode = None;
    let mut rootcert = None;
    let mut timeout = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v)?;
        match k {
            "host" => host = v,
            "port" => port = v.parse().map_err(|_| bad_port(&v))?,
            "sslmode" => sslmode = Some(v),
            "sslrootcert" => rootcert = Some(PathBuf::from(v)),
            "connect_timeout" => {
                timeout = Some(v.parse::<u64>().map_err(|_| {
                    DbError::config(
                        "connect_timeout in the database URL is not a number of seconds",
                    )
                })?)
            }
            "password" => {
                return Err(DbError::config(
                    "the database URL holds a password: use a password file, PGPASSFILE or \
                     ~/.pgpass, or PGPASSWORD instead",
                ));
            }
            other => {
                return Err(DbError::config(format!(
                    "the database URL has an unknown parameter {other:?} (known: host, port, \
                     sslmode, sslrootcert, connect_timeout)"
                )));
            }
        }
    }
    if host.is_empty() {
        return Err(DbError::config(format!(
            "the database URL names no host: {URL_FORM}"
        )));
    }
    let mut cfg = PgConfig::new(&user, &host, port, &dbname);
    if let Some(t) = timeout {
        cfg.connect_timeout = Duration::from_secs(t.max(1));
    }
    cfg.tls = match (sslmode.as_deref(), rootcert) {
        (Some("disable"), _) => TlsMode::Disable,
        (Some("require" | "verify-ca" | "verify-full") | None, Some(ca_file)) => {
            TlsMode::Verify { ca_file }
        }
        (Some("require" | "verify-ca" | "verify-full"), None) => {
            return Err(DbError::config(
                "TLS to the database needs the CA certificate that signed the server's: add \
                 sslrootcert=PATH to the database URL",
            ));
        }
        (None, None) if is_local(&host) => TlsMode::Disable,
        (None, None) => {
            return Err(DbError::config(
                "the database is not on this machine: add sslrootcert=PATH (the CA certificate \
                 of the server's TLS certificate) to the database URL, or sslmode=disable on a \
                 network you trust",
            ));
        }
        (Some(other), _) => {
            return Err(DbError::config(format!(
                "sslmode={other} is not one of disable, require, verify-ca, verify-full"
            )));
        }
    };
    Ok(cfg)
}

/// One line of a `.pgpass` file: `hostname:port:database:username:password`, `*` matching
/// anything, `\:` and `\\` escaping.
#[derive(Clone)]
pub struct PgpassEntry {
    fields: [String; 4],
    password: Password,
}

impl fmt::Debug for PgpassEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgpassEntry")
            .field("fields", &self.fields)
            .field("password", &self.password)
            .finish()
    }
}

/// Parses a `.pgpass` file's text; comment (`#`) and malformed lines are skipped, as libpq
/// does.
pub fn parse_pgpass(text: &str) -> Vec<PgpassEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<String> = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                        f.push(n);
                    }
                }
                // The fifth field (the password) may hold unescaped colons.
                ':' if fields.len() < 5 => fields.push(String::new()),
                c => {
                    if let Some(f) = fields.last_mut() {
                        f.push(c);
                    }
                }
            }
        }
        if fields.len() != 5 {
            continue;
        }
        let password = Password::new(fields.pop().unwrap_or_default());
        let fields: [String; 4] = match fields.try_into() {
            Ok(f) => f,
            Err(_) => continue,
        };
        entries.push(PgpassEntry { fields, password });
    }
    entries
}

/// The password of the first entry matching the connection (libpq's rule: a unix-socket
/// connection matches the host name `localhost`).
pub fn pgpass_lookup<'a>(entries: &'a [PgpassEntry], cfg: &PgConfig) -> Option<&'a Password> {
    let host = if cfg.host.starts_with('/') {
        "localhost".to_owned()
    } else {
        cfg.host.clone()
    };
    let wanted = [
        host,
        cfg.port.to_string(),
        cfg.dbname.clone(),
        cfg.user.clone(),
    ];
    entries
        .iter()
        .find(|e| {
            e.fields
                .iter()
                .zip(&wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|e| &e.password)
}

fn read_pgpass(path: &Path, cfg: &PgConfig) -> Result<Option<Password>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DbError::config(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "password file has group or world access; ignored (chmod 0600 it)"
            );
            return Ok(None);
        }
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| DbError::config(format!("cannot read {}: {e}", path.display())))?,
    );
    Ok(pgpass_lookup(&parse_pgpass(&text), cfg).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let c =
            parse_url("postgres://kms@db.example:6543/authority?sslrootcert=/etc/ca.pem").unwrap();
        assert_eq!(
            (c.user.as_str(), c.host.as_str(), c.port, c.dbname.as_str()),
            ("kms", "db.example", 6543, "authority")
        );
        assert_eq!(
            c.tls,
            TlsMode::Verify {
                ca_file: "/etc/ca.pem".into()
            }
        );
        let c = parse_url("postgresql://kms@127.0.0.1/a").unwrap();
        assert_eq!((c.port, c.tls.clone()), (5432, TlsMode::Disable));
        let c = parse_url("postgres://kms@/a?host=/run/pg&port=5433").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("/run/pg", 5433));
        assert_eq!(c.to_string(), "postgres://kms@/a?host=/run/pg&port=5433");
        let c = parse_url("postgres://kms@[::1]:5000/a").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 5000));
        let c = parse_url("postgres://kms@[::1]/a").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls.clone()),
            ("::1", 5432, TlsMode::Disable)
        );
        // A remote server without a CA is refused rather than sent the password in clear.
        let e = parse_url("postgres://kms@db.example/a").unwrap_err();
        assert!(e.message().contains("sslrootcert"), "{e}");
        assert!(parse_url("postgres://kms@db.example/a?sslmode=disable").is_ok());
        assert!(parse_url("mysql://kms@h/a").is_err());
        assert!(parse_url("postgres://h/a").is_err());
        assert!(parse_url("postgres://kms@h:x/a").is_err());
        assert!(parse_url("postgres://kms@h/a?color=red").is_err());
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        for url in [
            "postgres://kms:s3cret-pw@localhost/a",
            "postgres://kms@localhost/a?password=s3cret-pw",
        ] {
            let e = parse_url(url).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config);
            let text = format!("{e} {e:?}");
            assert!(!text.contains("s3cret-pw"), "{text}");
            assert!(text.contains("PGPASSFILE"), "{text}");
        }
    }

    #[test]
    fn debug_and_display_redact() {
        let mut c = parse_url("postgres://kms@localhost/a").unwrap();
        c.set_password(Password::new("hunter2-long-password"));
        let text = format!("{c} {c:?} {:?}", DbConfig::Postgres(c.clone()));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn pgpass_parsing_and_matching() {
        let text = "# comment\n\
                    other:5432:*:kms:wrong\n\
                    db\\:host:*:authority:kms:p\\:1\\\\x\n\
                    *:*:*:kms:pass:with:colons\n\
                    malformed line\n";
        let entries = parse_pgpass(text);
        assert_eq!(entries.len(), 3);
        let mut c = PgConfig::new("kms", "db:host", 5432, "authority");
        assert_eq!(pgpass_lookup(&entries, &c).unwrap().expose(), "p:1\\x");
        c.host = "elsewhere".into();
        assert_eq!(
            pgpass_lookup(&entries, &c).unwrap().expose(),
            "pass:with:colons"
        );
        c.user = "nobody".into();
        assert!(pgpass_lookup(&entries, &c).is_none());
        // A socket connection matches `localhost`.
        let entries = parse_pgpass("localhost:5432:a:kms:sock\n");
        let c = PgConfig::new("kms", "/run/postgresql", 5432, "a");
        assert_eq!(pgpass_lookup(&entries, &c).unwrap().expose(), "sock");
    }

    #[test]
    fn password_sources_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pgpass = dir.path().join("pgpass");
        std::fs::write(&pgpass, "*:*:*:*:from-pgpass\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let pgpass_env = pgpass.clone();
        let env_all = move |k: &str| match k {
            "PGPASSWORD" => Some(OsString::from("from-env")),
            "PGPASSFILE" => Some(pgpass_env.clone().into_os_string()),
            _ => None,
        };
        let mut c = parse_url("postgres://kms@localhost/a").unwrap();
        c.resolve_password(Some(&file), &env_all).unwrap();
        assert_eq!(
            (c.password().unwrap().expose(), c.password_source()),
            ("from-file", PasswordSource::File)
        );
        let mut c = parse_url("postgres://kms@localhost/a").unwrap();
        c.resolve_password(None, &env_all).unwrap();
        assert_eq!(c.password_source(), PasswordSource::Environment);
        let pgpass_env = pgpass.clone();
        let env_file = move |k: &str| match k {
            "PGPASSFILE" => Some(pgpass_env.clone().into_os_string()),
            _ => None,
        };
        let mut c = parse_url("postgres://kms@localhost/a").unwrap();
        c.resolve_password(None, &env_file).unwrap();
        assert_eq!(
            (c.password().unwrap().expose(), c.password_source()),
            ("from-pgpass", PasswordSource::Pgpass)
        );
        // A pgpass readable by others is ignored, as libpq ignores it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
            let mut c = parse_url("postgres://kms@localhost/a").unwrap();
            c.resolve_password(None, &env_file).unwrap();
            assert_eq!(c.password_source(), PasswordSource::None);
        }
        // A named password file that cannot be read is an error, not a silent fallback.
        let mut c = parse_url("postgres://kms@localhost/a").unwrap();
        let e = c
            .resolve_password(Some(&dir.path().join("missing")), &env_all)
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
    }
}
