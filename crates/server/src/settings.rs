//! `kmsd.toml` in the data directory: listen addresses and the authority's tunables.
//! Command-line flags win over the file; the file wins over the built-in defaults. Unknown
//! keys are refused, so a misspelt setting is an error rather than silently ignored.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use authority::Config;
use serde::Deserialize;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "kmsd.toml";

/// What `kmsd init` writes: every setting, commented out at its default.
pub const TEMPLATE: &str = r#"# kmsd settings. Command-line flags override these; delete the leading '#' to set one.

# Address of the API (HTTPS unless `kmsd serve --http`).
# listen = "127.0.0.1:8080"
# Plain-HTTP listener serving only /ca, /ca.der, /crl, /crl/delta and /healthz: the URLs
# certificates name (the public URL; `kmsctl settings public-url` changes it). `kmsd init`
# turns it on (its --public-listen, default 0.0.0.0:8081).
# public_listen = "0.0.0.0:8081"
# Accept a loopback public URL in `kmsctl settings public-url` (certificates would name URLs
# only this machine can fetch; `kmsd serve --dev` allows it anyway).
# allow_loopback_public_url = false

# How long an enrollment token stays valid.
# token_ttl_hours = 168
# How long an administrator's session stays valid.
# session_ttl_minutes = 480
# A session unused this long ends (each call moves it on).
# session_idle_minutes = 30
# Validity of user certificates (at most 824: the S/MIME Baseline Requirements allow 825).
# cert_validity_days = 365
# A user whose earliest current certificate expires within this many days is "expiring"
# (the users list's state, its filter, and the certificates list's status).
# expiring_window_days = 30

# Certificate profile (S/MIME Baseline Requirements) of users without their own
# (`kmsctl user add --profile`): mailbox-strict, mailbox-multipurpose, sponsored-strict or
# sponsored-multipurpose. Sponsored profiles name the organisation and the person.
# profile = "mailbox-strict"
# The organisation's name in sponsored subjects (default: the CA subject's O).
# organization = "Example Ltd"
# The organisation's registration identifier in sponsored subjects (required by them):
# scheme (NTR, VAT, PSD, LEI, GOV, INT), country, '-', reference.
# organization_identifier = "NTRGB-12345678"
# The organisation's own certificate policy OID, written beside the reserved one.
# policy_oid = "1.3.6.1.4.1.99999.1.1"
# URL of the certification practice statement (http:// or https://).
# cps_url = "http://pki.example.com/cps"
# nextUpdate of every CRL (the CRL is re-signed before it).
# crl_validity_hours = 168
# The dashboard warns when the CRL's nextUpdate is nearer than this (default: only when the
# CRL was not re-signed in time).
# crl_warning_hours = 24
# How often the dashboard's health checks are recomputed in the background (at least 1).
# health_check_seconds = 60
# Encryption keys generated ahead of enrollments, on every core (default: 4 per core).
# key_pool_size = 8
# Failed sign-ins in a row before an administrator is locked out for 15 minutes, from the
# client address the failures came from (other addresses can still sign in).
# max_failed_logins = 5
# Failed sign-ins (any names) from one client address before it is refused for 15 minutes.
# login_failures_per_address = 20
# Scheduled encrypted backups into DATA_DIR/backups, every this many hours (0: off).
# Once set through the API (kmsctl backup schedule), that setting wins over these two.
# backup_interval_hours = 0
# Backups kept in DATA_DIR/backups.
# backup_keep = 7
# Content-encryption algorithms new users' certificates list (SMIMECapabilities, written
# strongest first) when none are given: known names, each once. The default is what Outlook
# and Thunderbird both read (NSS reads neither AES-GCM nor RSA-OAEP).
# capabilities = ["aes256", "aes128", "3des"]

# Reverse proxies whose X-Forwarded-For header names the client (throttles and the audit log
# key on the client address). Only list proxies you run: anyone else can forge the header.
# trusted_proxies = ["127.0.0.1"]
# Host names the API and console answer to, beside the TLS certificate's names, the public
# URL's host, loopback addresses and localhost (others get 421: DNS rebinding).
# allowed_hosts = ["kms.example.com"]

# Seconds a client has to send a request's header (and to finish the TLS handshake).
# header_read_timeout_seconds = 10
# Seconds without traffic during a request after which the connection is closed (between
# requests, the header-read timeout applies).
# idle_timeout_seconds = 60
# Connections served at once on each listener (further clients wait until one closes).
# max_connections = 1024

# The authority's database when it is PostgreSQL (several kmsd nodes on one database):
# postgres://USER@HOST[:PORT]/DB (written by `kmsd init --database` and `kmsd join`; absent:
# the SQLite store in this directory). Never put the password in the URL: it comes from
# database_password_file, PGPASSWORD, or PGPASSFILE / ~/.pgpass (0600). TLS to the database:
# ?sslmode=verify-full&sslrootcert=/path/to/ca.pem.
# database = "postgres://kms@db.example.com/kms"
# A file holding the database password (one line, mode 0600).
# database_password_file = "/etc/kms/db-password"

# `kmsd serve` runs SQLite's quick check of the store before unlocking when the store is at
# most this many bytes; a larger store is checked after unlocking, in the background, and
# /healthz reports the outcome (0: always in the background).
# integrity_check_max_bytes = 268435456

# (A table: keep it last in this file.)
# The CA key on a PKCS#11 token (HSM) instead of in the store: written by `kmsd init
# --ca-key-pkcs11-module PATH --ca-key-token LABEL --ca-key-label LABEL`. Every kmsd command
# that unlocks then opens the key with the token's user PIN from --pin-stdin, --pin-file FILE
# or the file named by KMS_PKCS11_PIN_FILE (never on the command line). An authority made with
# a software CA key cannot move it into a token.
# [ca_key]
# pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
# token_label = "kms"
# key_label = "kms-ca"
"#;

/// `kmsd.toml`'s `database` and `database_password_file` lines for a PostgreSQL-backed node
/// (TOML strings, escaped), appended before any table.
pub fn database_lines(url: &str, password_file: Option<&Path>) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!("database = {}\n", q(url));
    if let Some(f) = password_file {
        out.push_str(&format!(
            "database_password_file = {}\n",
            q(&f.to_string_lossy())
        ));
    }
    out
}

/// `text` (a `kmsd.toml`) with its top-level `database` and `database_password_file` lines
/// taken out and, when given, `lines` ([`database_lines`]) put in their place: before the
/// first table (`[ca_key]`), where top-level keys must stand. Comments and every other
/// setting are kept as they are (`kmsd migrate` and `kmsd restore --database`).
pub fn with_database_lines(text: &str, lines: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len() + 128);
    let mut in_table = false;
    let mut inserted = lines.is_none();
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            if !inserted {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(lines.unwrap_or_default());
                out.push('\n');
                inserted = true;
            }
            in_table = true;
        }
        let key = t.split('=').next().unwrap_or_default().trim();
        if !in_table && t.contains('=') && (key == "database" || key == "database_password_file") {
            continue;
        }
        out.push_str(line);
    }
    if !inserted {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(lines.unwrap_or_default());
    }
    out
}

/// [`TEMPLATE`] with the public listener turned on at `addr` (what `kmsd init` writes).
pub fn template_with_public_listen(addr: SocketAddr) -> String {
    TEMPLATE.replacen(
        "# public_listen = \"0.0.0.0:8081\"",
        &format!("public_listen = \"{addr}\""),
        1,
    )
}

/// The default of `integrity_check_max_bytes`: 256 MiB.
pub const DEFAULT_INTEGRITY_CHECK_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// API address.
    pub listen: Option<SocketAddr>,
    /// Public listener address.
    pub public_listen: Option<SocketAddr>,
    /// Accept a loopback public URL when it is changed.
    pub allow_loopback_public_url: Option<bool>,
    /// Enrollment token lifetime.
    pub token_ttl_hours: Option<u64>,
    /// Session lifetime.
    pub session_ttl_minutes: Option<u64>,
    /// Session idle timeout.
    pub session_idle_minutes: Option<u64>,
    /// Certificate validity.
    pub cert_validity_days: Option<u64>,
    /// Days before notAfter in which a user's state is `expiring`.
    pub expiring_window_days: Option<u32>,
    /// CRL validity.
    pub crl_validity_hours: Option<u64>,
    /// The dashboard's CRL warning threshold.
    pub crl_warning_hours: Option<u64>,
    /// How often the health checks are recomputed.
    pub health_check_seconds: Option<u64>,
    /// Key pool size.
    pub key_pool_size: Option<usize>,
    /// Lock-out threshold.
    pub max_failed_logins: Option<u32>,
    /// Failed sign-ins per client address before it is refused.
    pub login_failures_per_address: Option<u32>,
    /// Hours between scheduled backups (0: off).
    pub backup_interval_hours: Option<u64>,
    /// Backups kept.
    pub backup_keep: Option<usize>,
    /// Capabilities of new users (names, checked by [`FileSettings::parse`]).
    pub capabilities: Option<Vec<String>>,
    /// Peers whose `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Further `Host` names of the API and console.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Header-read (and TLS handshake) timeout.
    pub header_read_timeout_seconds: Option<u64>,
    /// Idle connection timeout.
    pub idle_timeout_seconds: Option<u64>,
    /// Concurrent connections per listener.
    pub max_connections: Option<usize>,
    /// Largest store checked before unlocking (larger: in the background).
    pub integrity_check_max_bytes: Option<u64>,
    /// The S/MIME Baseline Requirements profile of users without their own.
    pub profile: Option<String>,
    /// The organisation's name in sponsored subjects.
    pub organization: Option<String>,
    /// The organisation's organizationIdentifier in sponsored subjects.
    pub organization_identifier: Option<String>,
    /// The organisation's own certificate policy OID.
    pub policy_oid: Option<String>,
    /// The CPS URL.
    pub cps_url: Option<String>,
    /// The PostgreSQL database (`postgres://USER@HOST[:PORT]/DB`); absent: the SQLite store
    /// in the data directory.
    pub database: Option<String>,
    /// A file holding the database password.
    pub database_password_file: Option<std::path::PathBuf>,
    /// The CA key on a PKCS#11 token (`[ca_key]`); absent: a software key in the store.
    pub ca_key: Option<CaKeySettings>,
}

/// `[ca_key]`: where the CA key is when it is on a PKCS#11 token.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CaKeySettings {
    /// The PKCS#11 module (shared library) to load.
    pub pkcs11_module: std::path::PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The CA private key's label on the token.
    pub key_label: String,
}

impl CaKeySettings {
    /// The section as written into `kmsd.toml` (TOML strings, escaped).
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        format!(
            "[ca_key]\npkcs11_module = {}\ntoken_label = {}\nkey_label = {}\n",
            q(&self.pkcs11_module.to_string_lossy()),
            q(&self.token_label),
            q(&self.key_label)
        )
    }
}

impl FileSettings {
    /// The PostgreSQL database this node serves, with its password resolved (the password
    /// file named here, then `PGPASSWORD`, then `PGPASSFILE` / `~/.pgpass`); `None` for the
    /// SQLite store in the data directory. `url` (from `--database`) wins over the file's.
    pub fn database_config(&self, url: Option<&str>) -> anyhow::Result<Option<db::PgConfig>> {
        let Some(url) = url.or(self.database.as_deref()) else {
            return Ok(None);
        };
        let cfg = db::PgConfig::from_url(url, self.database_password_file.as_deref())
            .map_err(|e| anyhow::anyhow!("[{}] database: {e}", e.code()))?;
        Ok(Some(cfg))
    }

    /// Reads `kmsd.toml` from `data_dir`; no file means all defaults.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and checks the settings.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let s: FileSettings = toml::from_str(text)?;
        for (name, v) in [
            ("token_ttl_hours", s.token_ttl_hours),
            ("session_ttl_minutes", s.session_ttl_minutes),
            ("session_idle_minutes", s.session_idle_minutes),
            ("cert_validity_days", s.cert_validity_days),
            ("crl_validity_hours", s.crl_validity_hours),
            ("crl_warning_hours", s.crl_warning_hours),
            ("health_check_seconds", s.health_check_seconds),
        ] {
            if v == Some(0) || v.is_some_and(|v| v > 100 * 365 * 24 * 60) {
                bail!("{name} must be a positive number of sensible size");
            }
        }
        if s.expiring_window_days.is_some_and(|d| d == 0 || d > 825) {
            bail!("expiring_window_days must be 1 to 825");
        }
        // Certificates are back-dated 5 minutes: 824 days stays under the SBR's 825.
        if s.cert_validity_days.is_some_and(|d| d > 824) {
            bail!(
                "cert_validity_days must be at most 824 (the S/MIME Baseline Requirements allow 825)"
            );
        }
        if let Some(p) = &s.profile {
            let profile =
                pki::SbrProfile::by_name(p).map_err(|e| anyhow::anyhow!("profile: {e}"))?;
            // Every sponsored certificate names the organisation's registration identifier
            // (SBR §7.1.4.2.2 d; pkilint errors without it): refused here, at start, rather
            // than at every issuance.
            if profile.validation == pki::profile::Validation::Sponsored
                && s.organization_identifier
                    .as_deref()
                    .is_none_or(|i| i.trim().is_empty())
            {
                bail!(
                    "profile = \"{}\" needs organization_identifier (the organisation's \
                     registration identifier, e.g. \"NTRGB-12345678\"; S/MIME Baseline \
                     Requirements 7.1.4.2.2 d): sponsored certificates name it, and without it \
                     every issuance would be refused (sbr.subject.organization_identifier)",
                    profile.name
                );
            }
        }
        if let Some(id) = &s.organization_identifier {
            pki::profile::check_organization_identifier(id)
                .map_err(|e| anyhow::anyhow!("organization_identifier: {e}"))?;
        }
        if let Some(o) = &s.organization
            && (o.trim().is_empty() || o.chars().count() > 64 || o.chars().any(char::is_control))
        {
            bail!("organization must be 1 to 64 printable characters");
        }
        if let Some(oid) = &s.policy_oid {
            oid.parse::<pki::profile::PolicyOid>()
                .map_err(|e| anyhow::anyhow!("policy_oid {oid:?}: {e}"))?;
        }
        if let Some(url) = &s.cps_url {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) || !url.is_ascii() {
                bail!("cps_url must be an http:// or https:// URL");
            }
        }
        if s.crl_validity_hours.is_some_and(|h| h < 2) {
            bail!("crl_validity_hours must be at least 2");
        }
        if s.key_pool_size.is_some_and(|n| n > 1000) {
            bail!("key_pool_size must be at most 1000");
        }
        if s.backup_keep == Some(0) || s.backup_keep.is_some_and(|n| n > 10_000) {
            bail!("backup_keep must be 1 to 10000");
        }
        if s.backup_interval_hours.is_some_and(|h| h > 100 * 365 * 24) {
            bail!("backup_interval_hours must be of sensible size");
        }
        if s.max_failed_logins == Some(0) {
            bail!("max_failed_logins must be at least 1");
        }
        if s.login_failures_per_address == Some(0) {
            bail!("login_failures_per_address must be at least 1");
        }
        for (name, v) in [
            ("header_read_timeout_seconds", s.header_read_timeout_seconds),
            ("idle_timeout_seconds", s.idle_timeout_seconds),
        ] {
            if v == Some(0) || v.is_some_and(|v| v > 86_400) {
                bail!("{name} must be 1 to 86400");
            }
        }
        if s.max_connections == Some(0) || s.max_connections.is_some_and(|n| n > 1_000_000) {
            bail!("max_connections must be 1 to 1000000");
        }
        if let Some(url) = &s.database {
            // Checked now (a password inside is refused with the ways to give it).
            db::config::parse_url(url).map_err(|e| anyhow::anyhow!("database: {e}"))?;
        }
        if s.database_password_file.is_some() && s.database.is_none() {
            bail!("database_password_file is only for a PostgreSQL database (set database)");
        }
        if let Some(k) = &s.ca_key
            && (k.pkcs11_module.as_os_str().is_empty()
                || k.token_label.trim().is_empty()
                || k.key_label.trim().is_empty())
        {
            bail!("[ca_key] needs pkcs11_module, token_label and key_label, none empty");
        }
        if let Some(names) = &s.capabilities {
            parse_capabilities(names)?;
        }
        for h in &s.allowed_hosts {
            if h.is_empty()
                || h.len() > 253
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:*".contains(&b))
            {
                bail!("allowed_hosts: {h:?} is not a host name or address");
            }
        }
        Ok(s)
    }

    /// The connection limits: this file's values over the defaults.
    pub fn limits(&self) -> crate::limits::ServerLimits {
        let d = crate::limits::ServerLimits::default();
        crate::limits::ServerLimits {
            header_read_timeout: self
                .header_read_timeout_seconds
                .map_or(d.header_read_timeout, Duration::from_secs),
            idle_timeout: self
                .idle_timeout_seconds
                .map_or(d.idle_timeout, Duration::from_secs),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
        }
    }

    /// The authority configuration: `base` with this file's values.
    pub fn apply(&self, mut base: Config) -> Config {
        if let Some(h) = self.token_ttl_hours {
            base.token_ttl = Duration::from_secs(h * 3600);
        }
        if let Some(m) = self.session_ttl_minutes {
            base.session_ttl = Duration::from_secs(m * 60);
        }
        if let Some(m) = self.session_idle_minutes {
            base.session_idle = Duration::from_secs(m * 60);
        }
        if let Some(d) = self.cert_validity_days {
            base.cert_validity = Duration::from_secs(d * 86400);
        }
        if let Some(h) = self.crl_validity_hours {
            base.crl_validity = Duration::from_secs(h * 3600);
            // Re-sign when a third of the validity is left.
            base.crl_refresh_margin = Duration::from_secs(h * 3600 / 3);
        }
        if let Some(h) = self.crl_warning_hours {
            base.crl_warning = Some(Duration::from_secs(h * 3600));
        }
        if let Some(n) = self.health_check_seconds {
            base.health_check_every = Duration::from_secs(n);
        }
        if let Some(n) = self.key_pool_size {
            base.key_pool_size = n;
        }
        if let Some(d) = self.expiring_window_days {
            base.expiring_window_days = d;
        }
        if let Some(n) = self.max_failed_logins {
            base.max_failed_logins = n;
        }
        if let Some(n) = self.login_failures_per_address {
            base.login_failures_per_address = n;
        }
        if let Some(h) = self.backup_interval_hours {
            base.backup_interval = (h > 0).then(|| Duration::from_secs(h * 3600));
        }
        if let Some(n) = self.backup_keep {
            base.backup_keep = n;
        }
        // Checked by `parse`; a list that does not parse leaves the default.
        if let Some(caps) = self
            .capabilities
            .as_deref()
            .and_then(|names| parse_capabilities(names).ok())
        {
            base.capabilities = caps;
        }
        if let Some(b) = self.allow_loopback_public_url {
            base.allow_loopback_public_url = b;
        }
        if let Some(p) = self
            .profile
            .as_deref()
            .and_then(|p| pki::SbrProfile::by_name(p).ok())
        {
            base.profile = p;
        }
        if let Some(o) = &self.organization {
            base.organization = Some(o.trim().to_string());
        }
        if let Some(id) = &self.organization_identifier {
            base.organization_identifier = Some(id.clone());
        }
        if let Some(oid) = self.policy_oid.as_deref().and_then(|o| o.parse().ok()) {
            base.policy.own_policy = Some(oid);
        }
        if let Some(url) = &self.cps_url {
            base.policy.cps_url = Some(url.clone());
        }
        base
    }
}

/// The `capabilities` list: known names, none twice, at least one.
fn parse_capabilities(names: &[String]) -> anyhow::Result<Vec<pki::ContentAlgorithm>> {
    if names.iter().any(|n| n.trim().is_empty() || n.contains(',')) {
        bail!("capabilities: give one algorithm name per string");
    }
    pki::ContentAlgorithm::parse_list(&names.join(","))
        .map_err(|e| anyhow::anyhow!("capabilities: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_lines_go_in_before_the_first_table_and_come_out_again() {
        let base = format!(
            "{}\n[ca_key]\npkcs11_module = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\n",
            template_with_public_listen("127.0.0.1:9".parse().unwrap())
        );
        let lines = database_lines("postgres://kms@localhost/kms", Some(Path::new("/etc/pw")));
        let with = with_database_lines(&base, Some(&lines));
        let parsed = FileSettings::parse(&with).unwrap();
        assert_eq!(
            parsed.database.as_deref(),
            Some("postgres://kms@localhost/kms")
        );
        assert_eq!(
            parsed.database_password_file.as_deref(),
            Some(Path::new("/etc/pw"))
        );
        assert!(parsed.ca_key.is_some());
        assert_eq!(parsed.public_listen, Some("127.0.0.1:9".parse().unwrap()));
        // Replaced, not doubled.
        let other = database_lines("postgres://kms@127.0.0.1/kms2", None);
        let again = with_database_lines(&with, Some(&other));
        let parsed = FileSettings::parse(&again).unwrap();
        assert_eq!(
            parsed.database.as_deref(),
            Some("postgres://kms@127.0.0.1/kms2")
        );
        assert_eq!(parsed.database_password_file, None);
        // Taken out: the other settings and the comments stay.
        let out = with_database_lines(&with, None);
        let parsed = FileSettings::parse(&out).unwrap();
        assert_eq!(
            (parsed.database, parsed.database_password_file),
            (None, None)
        );
        assert!(parsed.ca_key.is_some());
        assert!(out.contains("# database = "), "{out}");
        // A file without tables gets them at the end.
        let plain = with_database_lines("listen = \"127.0.0.1:1\"\n", Some(&other));
        assert_eq!(
            FileSettings::parse(&plain).unwrap().database.as_deref(),
            Some("postgres://kms@127.0.0.1/kms2")
        );
    }

    #[test]
    fn template_parses_to_defaults_and_typos_are_refused() {
        let s = FileSettings::parse(TEMPLATE).unwrap();
        assert!(s.listen.is_none() && s.key_pool_size.is_none());
        let s =
            FileSettings::parse("listen = \"127.0.0.1:9000\"\ncrl_validity_hours = 48\n").unwrap();
        assert_eq!(s.listen.unwrap().port(), 9000);
        let c = s.apply(Config::default());
        assert_eq!(c.crl_validity, Duration::from_secs(48 * 3600));
        assert!(FileSettings::parse("lisen = \"127.0.0.1:9000\"").is_err());
        assert!(FileSettings::parse("token_ttl_hours = 0").is_err());
        assert!(FileSettings::parse("listen = 5").is_err());
        assert_eq!(
            Config::default().expiring_window_days,
            authority::DEFAULT_EXPIRING_WINDOW_DAYS
        );
        let c = FileSettings::parse("expiring_window_days = 45")
            .unwrap()
            .apply(Config::default());
        assert_eq!(c.expiring_window_days, 45);
        assert!(FileSettings::parse("expiring_window_days = 0").is_err());
        let c = FileSettings::parse("backup_interval_hours = 24\nbackup_keep = 3\n")
            .unwrap()
            .apply(Config::default());
        assert_eq!(
            (c.backup_interval, c.backup_keep),
            (Some(Duration::from_secs(86400)), 3)
        );
        assert!(FileSettings::parse("backup_keep = 0").is_err());
    }

    #[test]
    fn the_ca_key_section_round_trips_and_is_checked() {
        assert!(FileSettings::parse(TEMPLATE).unwrap().ca_key.is_none());
        let k = CaKeySettings {
            pkcs11_module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "kms \"main\"".into(),
            key_label: "ca".into(),
        };
        // Appended to the template, as `kmsd init` writes it.
        let text = format!(
            "{}\n{}",
            template_with_public_listen("0.0.0.0:8081".parse().unwrap()),
            k.to_toml()
        );
        let s = FileSettings::parse(&text).unwrap();
        assert_eq!(s.ca_key, Some(k));
        assert!(s.public_listen.is_some());
        assert!(
            FileSettings::parse("[ca_key]\npkcs11_module = \"/m.so\"\ntoken_label = \"t\"\n")
                .is_err()
        );
        assert!(
            FileSettings::parse(
                "[ca_key]\npkcs11_module = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"\"\n"
            )
            .is_err()
        );
        assert!(
            FileSettings::parse(
                "[ca_key]\npkcs11_module = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\npin = \"1234\"\n"
            )
            .is_err(),
            "a PIN is never a setting"
        );
    }

    #[test]
    fn capabilities_default_and_are_checked() {
        use pki::ContentAlgorithm as A;
        let c = FileSettings::parse(TEMPLATE)
            .unwrap()
            .apply(Config::default());
        assert_eq!(c.capabilities, [A::Aes256, A::Aes128, A::TripleDes]);
        let c = FileSettings::parse("capabilities = [\"aes128\", \"aes256-gcm\"]\n")
            .unwrap()
            .apply(Config::default());
        assert_eq!(c.capabilities, [A::Aes128, A::Aes256Gcm]);
        for bad in [
            "capabilities = []",
            "capabilities = [\"aes256\", \"aes256\"]",
            "capabilities = [\"blowfish\"]",
            "capabilities = [\"aes256,3des\"]",
            "capabilities = [\"\"]",
            "capabilities = \"aes256\"",
        ] {
            assert!(FileSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn certificate_profile_settings() {
        let d = FileSettings::parse(TEMPLATE)
            .unwrap()
            .apply(Config::default());
        assert_eq!(d.profile, pki::SbrProfile::MAILBOX_STRICT);
        let c = FileSettings::parse(
            "profile = \"sponsored-strict\"\norganization = \"Example Ltd\"\n\
             organization_identifier = \"NTRGB-12345678\"\npolicy_oid = \"1.3.6.1.4.1.99999.1\"\n\
             cps_url = \"http://pki.example.com/cps\"\ncert_validity_days = 824\n",
        )
        .unwrap()
        .apply(Config::default());
        assert_eq!(c.profile, pki::SbrProfile::SPONSORED_STRICT);
        assert_eq!(c.organization.as_deref(), Some("Example Ltd"));
        assert_eq!(
            c.policy.cps_url.as_deref(),
            Some("http://pki.example.com/cps")
        );
        assert_eq!(
            c.policy.own_policy.unwrap().to_string(),
            "1.3.6.1.4.1.99999.1"
        );
        for bad in [
            "profile = \"lenient\"",
            "organization_identifier = \"GB12345\"",
            "policy_oid = \"not an oid\"",
            "cps_url = \"ftp://x\"",
            "cert_validity_days = 825",
        ] {
            assert!(FileSettings::parse(bad).is_err(), "{bad}");
        }
        // A sponsored profile without the organisation's identifier is refused at start,
        // with what to set; a mailbox profile needs none.
        for sponsored in ["sponsored-strict", "sponsored-multipurpose"] {
            for id in ["", "organization_identifier = \"  \"\n"] {
                let text =
                    format!("profile = \"{sponsored}\"\norganization = \"Example Ltd\"\n{id}");
                let e = FileSettings::parse(&text).unwrap_err().to_string();
                assert!(
                    e.contains(sponsored) && e.contains("needs organization_identifier"),
                    "{e}"
                );
            }
        }
        assert!(FileSettings::parse("profile = \"mailbox-multipurpose\"").is_ok());
    }

    #[test]
    fn init_turns_the_public_listener_on() {
        let addr: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        let s = FileSettings::parse(&template_with_public_listen(addr)).unwrap();
        assert_eq!(s.public_listen, Some(addr));
        assert!(s.listen.is_none());
        let c = FileSettings::parse("allow_loopback_public_url = true")
            .unwrap()
            .apply(Config::default());
        assert!(c.allow_loopback_public_url);
        assert!(!Config::default().allow_loopback_public_url);
    }

    #[test]
    fn sign_in_settings() {
        let d = Config::default();
        assert_eq!(
            (d.session_idle, d.login_failures_per_address),
            (Duration::from_secs(30 * 60), 20)
        );
        let c = FileSettings::parse("session_idle_minutes = 10\nlogin_failures_per_address = 7\n")
            .unwrap()
            .apply(Config::default());
        assert_eq!(
            (c.session_idle, c.login_failures_per_address),
            (Duration::from_secs(600), 7)
        );
        assert!(FileSettings::parse("session_idle_minutes = 0").is_err());
        assert!(FileSettings::parse("login_failures_per_address = 0").is_err());
    }

    #[test]
    fn limits_default_and_read_from_the_file() {
        let l = FileSettings::parse(TEMPLATE).unwrap().limits();
        assert_eq!(
            (l.header_read_timeout, l.idle_timeout, l.max_connections),
            (Duration::from_secs(10), Duration::from_secs(60), 1024)
        );
        let s = FileSettings::parse(
            "header_read_timeout_seconds = 2\nidle_timeout_seconds = 5\nmax_connections = 3\n\
             trusted_proxies = [\"10.0.0.1\"]\nallowed_hosts = [\"kms.example.com\"]\n",
        )
        .unwrap();
        let l = s.limits();
        assert_eq!(
            (l.header_read_timeout, l.idle_timeout, l.max_connections),
            (Duration::from_secs(2), Duration::from_secs(5), 3)
        );
        assert_eq!(
            s.trusted_proxies,
            ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(FileSettings::parse("max_connections = 0").is_err());
        assert!(FileSettings::parse("idle_timeout_seconds = 0").is_err());
        assert!(FileSettings::parse("trusted_proxies = [\"10.0.0.0/8\"]").is_err());
        assert!(FileSettings::parse("allowed_hosts = [\"a b\"]").is_err());
    }
}
