//! `kmsd`: creates the authority (`init`), rebuilds it from a backup (`restore`, into a
//! SQLite data directory or an empty PostgreSQL database), moves a stopped store between the
//! backends (`migrate`), serves it (`serve`) and checks a store in full (`check`); opens the CA key on a PKCS#11 token when
//! `kmsd.toml` has `[ca_key]`, with the PIN from `--pin-stdin`, `--pin-file` or
//! `KMS_PKCS11_PIN_FILE`.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 bad usage.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use authority::{Config, InitParams, SystemClock};
use clap::{Parser, Subcommand};
use escrow::{Credential, InitOptions, KeyFileTargets, Password, Store};
use kmsd::AppState;
use kmsd::settings::FileSettings;

#[derive(Parser)]
#[command(
    name = "kmsd",
    version,
    about = "The key management server and S/MIME certification authority",
    after_help = "Exit codes: 0 success, 1 failure, 2 bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the store, the CA and the first administrator.
    Init {
        /// Data directory (created): the store's SQLite file, or with --database this node's
        /// own files (kmsd.toml, TLS certificate and key, backups, audit anchor).
        #[arg(long)]
        data_dir: PathBuf,
        /// Create the authority in this PostgreSQL database instead of a SQLite file:
        /// postgres://USER@HOST[:PORT]/DB (empty, created with the C collation). The password
        /// comes from --database-password-file, PGPASSWORD or PGPASSFILE / ~/.pgpass, never
        /// from the URL. Written into kmsd.toml (database).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// A file holding the database password (one line; mode 0600); written into
        /// kmsd.toml (database_password_file).
        #[arg(long, value_name = "FILE", requires = "database")]
        database_password_file: Option<PathBuf>,
        /// The CA's name, e.g. "CN=Example CA,O=Example".
        #[arg(long)]
        ca_subject: String,
        /// The first administrator's name.
        #[arg(long)]
        admin: String,
        /// Read the administrator's password from standard input (one line).
        #[arg(long, required = true)]
        admin_password_stdin: bool,
        /// Write a key file here to unlock with (instead of a generated start-up password).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// A second copy of the key file (keep it on another disk).
        #[arg(long, requires = "key_file")]
        key_file_copy: Option<PathBuf>,
        /// Base URL written into certificates (CRL distribution points, CA certificate)
        /// [default: http://HOST:PORT of the public listener, HOST from --public-host].
        #[arg(long)]
        public_url: Option<String>,
        /// The plain-HTTP public listener written into kmsd.toml (public_listen): it serves
        /// the CA certificate and CRLs the certificates name.
        #[arg(long, default_value = DEFAULT_PUBLIC_LISTEN)]
        public_listen: SocketAddr,
        /// The host name relying parties reach the public listener at, for the default
        /// public URL [default: the listener's address if specific, else the first
        /// --tls-name that is not loopback, else this machine's host name].
        #[arg(long, conflicts_with = "public_url")]
        public_host: Option<String>,
        /// A DNS name or IP address for the server's TLS certificate; repeatable
        /// (default: localhost, 127.0.0.1 and ::1).
        #[arg(long = "tls-name", value_name = "NAME")]
        tls_names: Vec<String>,
        /// The CA key's RSA size: 4096 (the default), or 3072 for tests and small sites;
        /// smaller keys are refused. RSA-4096 generation takes a few seconds.
        #[arg(long, value_name = "BITS", default_value_t = authority::DEFAULT_CA_KEY_BITS,
              value_parser = parse_ca_key_bits)]
        ca_key_bits: usize,
        /// Keep the CA key on a PKCS#11 token (HSM): the module (shared library) to load,
        /// e.g. /usr/lib/softhsm/libsofthsm2.so. The key with --ca-key-label on the token
        /// --ca-key-token is used, or generated there (RSA of --ca-key-bits, sensitive, never
        /// extractable) when the token has none; nothing of it is stored. Written into
        /// kmsd.toml ([ca_key]); needs the token's user PIN (--pin-stdin or --pin-file).
        #[arg(long, value_name = "PATH", requires_all = ["ca_key_token", "ca_key_label"])]
        ca_key_pkcs11_module: Option<PathBuf>,
        /// The label of the token holding the CA key (with --ca-key-pkcs11-module).
        #[arg(long, value_name = "LABEL", requires = "ca_key_pkcs11_module")]
        ca_key_token: Option<String>,
        /// The label of the CA key on the token (with --ca-key-pkcs11-module).
        #[arg(long, value_name = "LABEL", requires = "ca_key_pkcs11_module")]
        ca_key_label: Option<String>,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Restore a backup into a new data directory (offline; the whole backup is checked
    /// before anything is written). The restored store opens with the same secrets.
    ///
    /// Backups do not hold the server's TLS certificate and key: unless --no-tls-cert, the
    /// restore then issues a new TLS server certificate from the restored CA, as `kmsd init`
    /// does (RSA 2048, --tls-name names or localhost, 127.0.0.1 and ::1), recorded by the
    /// authority so that it can be revoked, and writes DATA_DIR/tls.key (0600) and
    /// DATA_DIR/tls.crt. Clients keep trusting the same CA certificate.
    ///
    /// With --database the store is restored into that PostgreSQL database instead (empty,
    /// created with the C collation; every node of the cluster stopped): DATA_DIR is then the
    /// node's own directory, its kmsd.toml names the database (as `kmsd init --database`
    /// writes it); further nodes `kmsd join` it again.
    Restore {
        /// The backup file (from `kmsctl backup now`, in DATA_DIR/backups; the same format
        /// from a SQLite or a PostgreSQL store).
        file: PathBuf,
        /// The new data directory (missing or empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// Restore into this PostgreSQL database (postgres://USER@HOST[:PORT]/DB, empty)
        /// instead of a SQLite file in DATA_DIR; written into DATA_DIR/kmsd.toml.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// A file holding the database password (one line; mode 0600); written into
        /// kmsd.toml (database_password_file).
        #[arg(long, value_name = "FILE", requires = "database")]
        database_password_file: Option<PathBuf>,
        /// Open the backup with this key file.
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        key_file: Option<PathBuf>,
        /// Open the backup with the start-up password read from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A DNS name or IP address for the new TLS certificate; repeatable
        /// (default: localhost, 127.0.0.1 and ::1).
        #[arg(long = "tls-name", value_name = "NAME")]
        tls_names: Vec<String>,
        /// Do not issue a TLS certificate (put tls.crt and tls.key back yourself, or serve
        /// with --http on loopback).
        #[arg(long, conflicts_with = "tls_names")]
        no_tls_cert: bool,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Check a store in full: SQLite's integrity check and foreign keys, every escrowed key
    /// decrypted and authenticated, the agent-split keys' shares against the agent set they
    /// were made for (authenticated under the master key; never opened), the CA key against
    /// the CA certificate. Changes nothing;
    /// may run while kmsd serves. Exit 0 when sound, 1 (with what is damaged and what to do)
    /// otherwise.
    Check {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Unlock with the start-up password read from standard input.
        #[arg(
            long,
            conflicts_with = "key_file",
            required_unless_present = "key_file"
        )]
        password_stdin: bool,
        /// Unlock with this key file.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Prepare a further node of an authority kept in PostgreSQL: unlocks the authority with
    /// its start-up secret, issues this node's TLS certificate from the CA, and writes
    /// DATA_DIR (kmsd.toml naming the database, tls.key 0600, tls.crt). No new authority is
    /// made; every node serves every API. Then `kmsd serve --data-dir DIR` on this machine.
    Join {
        /// The authority's database: postgres://USER@HOST[:PORT]/DB (see `kmsd init
        /// --database`).
        #[arg(long, value_name = "URL")]
        database: String,
        /// A file holding the database password (one line; mode 0600); written into
        /// kmsd.toml.
        #[arg(long, value_name = "FILE")]
        database_password_file: Option<PathBuf>,
        /// This node's data directory (created; must not hold a store or kmsd.toml).
        #[arg(long)]
        data_dir: PathBuf,
        /// A DNS name or IP address for this node's TLS certificate; repeatable
        /// (default: localhost, 127.0.0.1 and ::1).
        #[arg(long = "tls-name", value_name = "NAME")]
        tls_names: Vec<String>,
        /// The plain-HTTP public listener written into kmsd.toml (public_listen).
        #[arg(long, default_value = DEFAULT_PUBLIC_LISTEN)]
        public_listen: SocketAddr,
        /// Unlock with the start-up password read from standard input.
        #[arg(
            long,
            conflicts_with = "key_file",
            required_unless_present = "key_file"
        )]
        password_stdin: bool,
        /// Unlock with this key file.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Start this node's kmsd.toml from this file (another node's, say): its settings,
        /// its [ca_key] when the CA key is on a PKCS#11 token (the token then opened with
        /// --pin-stdin, --pin-file or KMS_PKCS11_PIN_FILE); its database lines are replaced
        /// by --database's. Without it: the defaults, with --public-listen.
        #[arg(long, value_name = "FILE")]
        settings_from: Option<PathBuf>,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Move a stopped authority's store between SQLite and PostgreSQL: `--from DATA_DIR --to
    /// postgres://USER@HOST[:PORT]/DB` copies the SQLite store into the empty database (made
    /// with the C collation) and writes `database = ...` into DATA_DIR/kmsd.toml, so that
    /// `kmsd serve --data-dir DATA_DIR` serves from PostgreSQL (the SQLite file is kept,
    /// renamed escrow.db.migrated-TIME); `--from URL --to DATA_DIR` copies the PostgreSQL
    /// store into a new SQLite store in DATA_DIR and takes the database lines out of its
    /// kmsd.toml.
    ///
    /// kmsd must not be running on the store (a SQLite store in use is refused). Every table
    /// is copied in one transaction and verified (rows and SHA-256) before it commits; the
    /// store id, unlock methods (the same passwords and key files), ids, audit chain and CRL
    /// numbers are kept. The CRLs are re-signed at the first unlock, numbered above every
    /// CRL published before. The move is recorded in the destination's audit log
    /// (store.migrate).
    Migrate {
        /// Where the store is now: a data directory, or postgres://USER@HOST[:PORT]/DB.
        #[arg(long)]
        from: String,
        /// Where it goes: postgres://USER@HOST[:PORT]/DB, or a data directory.
        #[arg(long)]
        to: String,
        /// A file holding the database password (one line; mode 0600); written into
        /// kmsd.toml when moving to PostgreSQL.
        #[arg(long, value_name = "FILE")]
        database_password_file: Option<PathBuf>,
    },
    /// Serve the API and the public URLs.
    Serve {
        /// Data directory (with --dev: ./kms-dev-data unless given).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The authority's PostgreSQL database (postgres://USER@HOST[:PORT]/DB) [default:
        /// kmsd.toml's database, else the SQLite store in the data directory].
        #[arg(long, value_name = "URL", conflicts_with = "dev")]
        database: Option<String>,
        /// Address of the API (and public URLs) [default: kmsd.toml's, else 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Also serve only the public URLs (CA, CRLs, health) here, plain HTTP.
        #[arg(long)]
        public_listen: Option<SocketAddr>,
        /// Unlock at start with the start-up password read from standard input.
        #[arg(long, conflicts_with_all = ["password_file", "key_file"])]
        password_stdin: bool,
        /// Unlock at start with the start-up password in this file.
        #[arg(long, conflicts_with = "key_file")]
        password_file: Option<PathBuf>,
        /// Unlock at start with this key file.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Development mode: create a throw-away authority on first run (administrator
        /// `admin`, its generated password in DATA_DIR/admin-password, mode 0600), reuse it
        /// later.
        #[arg(long)]
        dev: bool,
        /// Serve the API over plain HTTP instead of HTTPS (loopback only, unless
        /// --insecure-http). --dev implies it.
        #[arg(long)]
        http: bool,
        /// Allow plain HTTP for the API on a non-loopback address.
        #[arg(long, requires = "http")]
        insecure_http: bool,
        /// Serve a store although its audit anchor says committed work is missing (AUTH-070)
        /// or the anchor is invalid (AUTH-071): for a store put back on purpose. Recorded in
        /// the audit log; the store is anchored as it is.
        #[arg(long)]
        accept_rollback: bool,
        #[command(flatten)]
        pin: PinArgs,
    },
}

/// The environment variable naming a file with the CA key token's user PIN.
const PIN_FILE_VAR: &str = "KMS_PKCS11_PIN_FILE";

/// Where the user PIN of the token holding the CA key (`[ca_key]`) comes from: never the
/// command line itself.
#[derive(clap::Args)]
struct PinArgs {
    /// Read the user PIN of the token holding the CA key ([ca_key] in kmsd.toml) from
    /// standard input (one line; after the password's line when that is read from standard
    /// input too).
    #[arg(long, conflicts_with = "pin_file")]
    pin_stdin: bool,
    /// Read the token's user PIN from this file (its first line) [default: the file named
    /// by KMS_PKCS11_PIN_FILE, if set].
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
}

impl PinArgs {
    /// The PIN, if one was given (read now).
    fn read(&self) -> anyhow::Result<Option<hsm::Pin>> {
        if self.pin_stdin {
            let line = read_stdin_secret("token PIN")?;
            return Ok(Some(hsm::Pin::new(line.to_string())));
        }
        let file = self
            .pin_file
            .clone()
            .or_else(|| std::env::var_os(PIN_FILE_VAR).map(PathBuf::from));
        let Some(file) = file else { return Ok(None) };
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&file)
                .with_context(|| format!("reading the token PIN file {}", file.display()))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            bail!("the token PIN file {} is empty", file.display());
        }
        Ok(Some(hsm::Pin::new(line.to_string())))
    }
}

/// Opens the CA key on the token `[ca_key]` names, with `pin`.
fn open_ca_key(
    settings: &kmsd::settings::CaKeySettings,
    pin: Option<hsm::Pin>,
) -> anyhow::Result<authority::CaSigningKey> {
    let Some(pin) = pin else {
        bail!(
            "kmsd.toml's [ca_key] keeps the CA key on token {:?}: give the token's user PIN \
             with --pin-stdin, --pin-file FILE or {PIN_FILE_VAR}=FILE",
            settings.token_label
        );
    };
    let cfg = token_config(settings);
    let key = hsm::TokenKey::open(&cfg, pin).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the CA key {:?} on token {:?} ([ca_key] in kmsd.toml): {e}",
            settings.key_label,
            settings.token_label
        )
    })?;
    tracing::info!(
        key = %pki::SigningKey::key_ref(&key),
        token = %settings.token_label,
        "the CA key is on a PKCS#11 token"
    );
    Ok(authority::CaSigningKey::new(Arc::new(key)))
}

fn token_config(settings: &kmsd::settings::CaKeySettings) -> hsm::TokenConfig {
    hsm::TokenConfig {
        module: settings.pkcs11_module.clone(),
        token_label: settings.token_label.clone(),
        key_label: settings.key_label.clone(),
    }
}

/// `config` with the CA key of `settings` (`[ca_key]`), opened with the PIN of `pin`; a PIN
/// given without `[ca_key]` is refused (it would be ignored).
fn with_ca_key(
    mut config: Config,
    settings: &FileSettings,
    pin: Option<hsm::Pin>,
) -> anyhow::Result<Config> {
    match &settings.ca_key {
        Some(k) => config.ca_signing_key = Some(open_ca_key(k, pin)?),
        None if pin.is_some() => bail!(
            "a token PIN was given, but kmsd.toml has no [ca_key]: this authority's CA key \
             is in its store"
        ),
        None => {}
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kmsd: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// One line of standard input, for a secret that is not a [`Password`] (the token PIN).
fn read_stdin_secret(what: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let trimmed = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        bail!("the {what} on standard input is empty");
    }
    Ok(trimmed)
}

fn read_stdin_line(what: &str) -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    line.clear();
    if p.is_empty() {
        bail!("the {what} on standard input is empty");
    }
    Ok(Password::new(p))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check {
            data_dir,
            password_stdin: _,
            key_file,
        } => {
            let credential = match key_file {
                Some(k) => Credential::key_file(&k)?,
                None => Credential::Password(read_stdin_line("start-up password")?),
            };
            let data_dir = absolute(&data_dir);
            let pg = FileSettings::load(&data_dir)?.database_config(None)?;
            check(&data_dir, pg.as_ref(), &credential)
        }
        Command::Migrate {
            from,
            to,
            database_password_file,
        } => migrate(&from, &to, database_password_file.as_deref()),
        Command::Restore {
            file,
            data_dir,
            database,
            database_password_file,
            key_file,
            password_stdin: _,
            tls_names,
            no_tls_cert,
            pin,
        } => {
            // Bad names are refused before anything is written.
            let tls_names = TlsNames::parse(&tls_names)?;
            // Paths are printed one way everywhere: absolute.
            let (file, data_dir) = (absolute(&file), absolute(&data_dir));
            let credential = match key_file {
                Some(k) => Credential::key_file(&k)?,
                None => Credential::Password(read_stdin_line("start-up password")?),
            };
            let pin = pin.read()?;
            let pg = match &database {
                Some(url) => Some(
                    db::PgConfig::from_url(url, database_password_file.as_deref())
                        .map_err(|e| anyhow::anyhow!("[{}] --database: {e}", e.code()))?,
                ),
                None => None,
            };
            let started = std::time::Instant::now();
            let (report, into) = match &pg {
                None => (
                    escrow::restore(&file, &credential, &data_dir)
                        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?,
                    data_dir.display().to_string(),
                ),
                Some(pg) => {
                    let (report, copied) =
                        escrow::restore_into_database(&file, &credential, pg, &data_dir)
                            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
                    print_copy(&copied, started.elapsed());
                    (
                        report,
                        format!("{pg} (this node's files in {})", data_dir.display()),
                    )
                }
            };
            println!(
                "restored {} into {into}: {} keys of {} owners, {} unlock methods",
                file.display(),
                report.keys,
                report.owners,
                report.unlock_methods
            );
            let lines = database.as_deref().map(|url| {
                kmsd::settings::database_lines(
                    url,
                    database_password_file.as_deref().map(absolute).as_deref(),
                )
            });
            restore_settings(&data_dir, pg.as_ref(), lines.as_deref())?;
            restore_anchor(&data_dir, pg.as_ref())?;
            if no_tls_cert {
                eprintln!(
                    "kmsd: no TLS certificate issued (--no-tls-cert): put {} and {} into {} \
                     before serving HTTPS",
                    kmsd::tls::CERT_FILE,
                    kmsd::tls::KEY_FILE,
                    data_dir.display()
                );
                return Ok(());
            }
            restore_tls(&data_dir, pg.as_ref(), &credential, pin, &tls_names).with_context(|| {
                format!(
                    "the store is restored in {}, but no TLS certificate was issued (put {} \
                     and {} there yourself)",
                    data_dir.display(),
                    kmsd::tls::CERT_FILE,
                    kmsd::tls::KEY_FILE
                )
            })
        }
        Command::Init {
            data_dir,
            database,
            database_password_file,
            ca_subject,
            admin,
            admin_password_stdin: _,
            key_file,
            key_file_copy,
            public_url,
            public_listen,
            public_host,
            tls_names,
            ca_key_bits,
            ca_key_pkcs11_module,
            ca_key_token,
            ca_key_label,
            pin,
        } => {
            // Bad names are refused before anything is written.
            let tls_names = TlsNames::parse(&tls_names)?;
            let token = match (ca_key_pkcs11_module, ca_key_token, ca_key_label) {
                (Some(pkcs11_module), Some(token_label), Some(key_label)) => {
                    Some(kmsd::settings::CaKeySettings {
                        pkcs11_module,
                        token_label,
                        key_label,
                    })
                }
                _ => None,
            };
            if token.is_none() && (pin.pin_stdin || pin.pin_file.is_some()) {
                bail!("a token PIN is only for --ca-key-pkcs11-module");
            }
            if data_dir.join(escrow::DB_FILE_NAME).exists() {
                bail!(
                    "[AUTH-015] {} holds a store already: nothing was changed",
                    data_dir.display()
                );
            }
            // The node's files are written after the store is made (in the database, with
            // --database): a directory that holds them already is refused first, so that a
            // store is never made whose node files cannot be written.
            for f in [
                kmsd::settings::FILE_NAME,
                kmsd::tls::CERT_FILE,
                kmsd::tls::KEY_FILE,
            ] {
                if data_dir.join(f).exists() {
                    bail!(
                        "{} holds {f} already: kmsd init writes a new data directory (nothing \
                         was changed)",
                        data_dir.display()
                    );
                }
            }
            let pg = match &database {
                Some(url) => Some(
                    db::PgConfig::from_url(url, database_password_file.as_deref())
                        .map_err(|e| anyhow::anyhow!("[{}] --database: {e}", e.code()))?,
                ),
                None => None,
            };
            let public_url = match public_url {
                Some(u) => u.trim_end_matches('/').to_string(),
                None => default_public_url(public_listen, public_host.as_deref(), &tls_names),
            };
            for w in public_url_warnings(&public_url, public_listen) {
                eprintln!("kmsd: warning: {w}");
            }
            let admin_password = read_stdin_line("administrator password")?;
            // The CA key on the token: opened, or generated there when the token has no key
            // with that label (before anything is written to the data directory).
            let ca = match &token {
                Some(settings) => {
                    let (key, note) = token_ca_key(settings, pin.read()?, ca_key_bits)?;
                    CaKeyChoice::Token(key, note)
                }
                None => CaKeyChoice::Software(ca_key_bits),
            };
            let startup = if key_file.is_none() {
                Some(Password::generate()?)
            } else {
                None
            };
            let auth = init(
                &data_dir,
                pg.as_ref(),
                &ca_subject,
                &admin,
                &admin_password,
                startup.as_ref().map(|p| Password::new(p.expose())),
                key_file.map(|path| KeyFileTargets {
                    path,
                    copy: key_file_copy,
                }),
                &public_url,
                &ca,
            )?;
            write_tls_files(&auth, &data_dir, &tls_names)?;
            let mut settings = kmsd::settings::template_with_public_listen(public_listen);
            if let Some(url) = &database {
                settings.push('\n');
                settings.push_str(&kmsd::settings::database_lines(
                    url,
                    database_password_file.as_deref().map(absolute).as_deref(),
                ));
            }
            if let Some(t) = &token {
                settings.push('\n');
                settings.push_str(&t.to_toml());
            }
            write_new(
                &data_dir.join(kmsd::settings::FILE_NAME),
                settings.as_bytes(),
                0o644,
            )?;
            match &pg {
                Some(pg) => println!(
                    "created the authority in {pg}; this node's files in {}",
                    data_dir.display()
                ),
                None => println!("created the authority in {}", data_dir.display()),
            }
            match &ca {
                CaKeyChoice::Software(bits) => println!("CA key: RSA-{bits}"),
                CaKeyChoice::Token(key, note) => println!(
                    "CA key: {note} (RSA-{}, {}); written to kmsd.toml [ca_key]: give the \
                     token's PIN to every kmsd command that unlocks (--pin-stdin, --pin-file \
                     or {PIN_FILE_VAR})",
                    key.key().public_key().bits(),
                    key.key().key_ref()
                ),
            }
            println!(
                "public URL (in certificates): {public_url}; public listener (plain HTTP, \
                 kmsd.toml public_listen): {public_listen}"
            );
            // Users compare it with what `lockbox enroll` prints.
            println!(
                "CA certificate SHA-256 fingerprint: {}",
                pki::bundle::sha256_fingerprint(&auth.published().ca_der)
            );
            if let Some(p) = startup {
                println!(
                    "start-up password (shown once; keep it safe): {}",
                    p.expose()
                );
            }
            Ok(())
        }
        Command::Join {
            database,
            database_password_file,
            data_dir,
            tls_names,
            public_listen,
            password_stdin: _,
            key_file,
            settings_from,
            pin,
        } => {
            let tls_names = TlsNames::parse(&tls_names)?;
            let data_dir = absolute(&data_dir);
            // The settings this node starts from, checked before anything is read or written.
            let base = match &settings_from {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    FileSettings::parse(&text).with_context(|| format!("in {}", f.display()))?;
                    text
                }
                None => kmsd::settings::template_with_public_listen(public_listen),
            };
            join(
                &database,
                database_password_file.as_deref(),
                &data_dir,
                &tls_names,
                &base,
                key_file.as_deref(),
                pin,
            )
        }
        Command::Serve {
            data_dir,
            database,
            listen,
            public_listen,
            password_stdin,
            password_file,
            key_file,
            dev,
            http,
            insecure_http,
            accept_rollback,
            pin,
        } => {
            let http = http || dev;
            let data_dir = match (data_dir, dev) {
                (Some(d), _) => d,
                (None, true) => PathBuf::from("kms-dev-data"),
                (None, false) => bail!("give --data-dir (or --dev)"),
            };
            let file = FileSettings::load(&data_dir)?;
            let pg = file.database_config(database.as_deref())?;
            let listen = listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
            let public_listen = public_listen.or(file.public_listen);
            let mut config = file.apply(Config::default());
            config.accept_rollback = accept_rollback;
            config.allow_loopback_public_url |= dev;
            if http && !listen.ip().is_loopback() && !insecure_http {
                bail!(
                    "refusing to serve the API over plain HTTP on {listen}: use a loopback \
                     address, or say --insecure-http"
                );
            }
            // Bound before any secret is read or the store is touched: a busy port fails
            // first, and nothing else happens.
            let listeners = Listeners::bind(listen, public_listen)?;
            let mut credential = None;
            if dev {
                let kf = data_dir.join("dev.keyfile");
                if !data_dir.join(escrow::DB_FILE_NAME).exists() {
                    let admin_password = Password::generate()?;
                    init(
                        &data_dir,
                        None,
                        "CN=KMS Development CA,O=Development only",
                        "admin",
                        &admin_password,
                        None,
                        Some(KeyFileTargets {
                            path: kf.clone(),
                            copy: None,
                        }),
                        &format!("http://{}", public_listen.unwrap_or(listen)),
                        &CaKeyChoice::Software(authority::MIN_CA_KEY_BITS),
                    )?;
                    println!(
                        "DEVELOPMENT MODE: for trying the product only. The key file that \
                         unlocks this authority lies next to its data in {}.",
                        data_dir.display()
                    );
                    let mut line = zeroize::Zeroizing::new(admin_password.expose().to_string());
                    line.push('\n');
                    write_new(
                        &data_dir.join(DEV_ADMIN_PASSWORD_FILE),
                        line.as_bytes(),
                        0o600,
                    )?;
                }
                let pw = data_dir.join(DEV_ADMIN_PASSWORD_FILE);
                if pw.exists() {
                    println!(
                        "administrator: admin, password in {} (0600, written at creation)",
                        pw.display()
                    );
                }
                std::io::stdout().flush().ok();
                credential = Some(Credential::key_file(&kf)?);
            } else if password_stdin {
                credential = Some(Credential::Password(read_stdin_line("start-up password")?));
            } else if let Some(f) = password_file {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                );
                credential = Some(Credential::password(text.trim_end_matches(['\r', '\n'])));
            } else if let Some(k) = key_file {
                credential = Some(Credential::key_file(&k)?);
            }
            // The CA key on a token ([ca_key]): opened now, or kmsd does not start (a wrong
            // PIN, a missing module or key says which, with its HSM code).
            let config = with_ca_key(config, &file, pin.read()?)?;
            serve(
                &data_dir,
                pg.as_ref(),
                listeners,
                credential,
                !http,
                config,
                &file,
            )
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn init(
    data_dir: &Path,
    database: Option<&db::PgConfig>,
    ca_subject: &str,
    admin: &str,
    admin_password: &Password,
    startup: Option<Password>,
    key_file: Option<KeyFileTargets>,
    public_url: &str,
    ca: &CaKeyChoice,
) -> anyhow::Result<authority::Authority> {
    let mut config = config();
    let ca_key = match ca {
        CaKeyChoice::Software(bits) => Some(
            authority::generate_ca_key(*bits).map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?,
        ),
        CaKeyChoice::Token(key, _) => {
            config.ca_signing_key = Some(key.clone());
            None
        }
    };
    authority::init_in(
        InitParams {
            data_dir,
            ca_subject,
            admin_name: admin,
            admin_password,
            unlock: InitOptions {
                password: startup,
                key_file,
                ..Default::default()
            },
            public_url,
            ca_key,
        },
        database,
        config,
        Arc::new(SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
}

/// Opens the authority's store: in the PostgreSQL database `pg` when given (this node's
/// files in `data_dir`), else the SQLite store in `data_dir`.
fn open_store(data_dir: &Path, pg: Option<&db::PgConfig>) -> anyhow::Result<Store> {
    match pg {
        Some(pg) => Store::open_database(pg, data_dir)
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
            .with_context(|| format!("opening the store in {pg}")),
        None => Store::open(data_dir)
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
            .with_context(|| format!("opening the store in {}", data_dir.display())),
    }
}

/// `kmsd join`: a further node of an authority kept in PostgreSQL (see the command's help).
fn join(
    url: &str,
    password_file: Option<&Path>,
    data_dir: &Path,
    tls_names: &TlsNames,
    base_settings: &str,
    key_file: Option<&Path>,
    pin: PinArgs,
) -> anyhow::Result<()> {
    for f in [
        kmsd::settings::FILE_NAME,
        escrow::DB_FILE_NAME,
        kmsd::tls::CERT_FILE,
        kmsd::tls::KEY_FILE,
    ] {
        if data_dir.join(f).exists() {
            bail!(
                "{} holds {f} already: a node joins with a new, empty data directory \
                 (nothing was changed)",
                data_dir.display()
            );
        }
    }
    let pg = db::PgConfig::from_url(url, password_file)
        .map_err(|e| anyhow::anyhow!("[{}] --database: {e}", e.code()))?;
    let credential = match key_file {
        Some(k) => Credential::key_file(k)?,
        None => Credential::Password(read_stdin_line("start-up password")?),
    };
    // A CA key on a token ([ca_key] of the settings given) signs this node's certificate.
    let config = with_ca_key(config(), &FileSettings::parse(base_settings)?, pin.read()?)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::set_permissions(
        data_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .with_context(|| format!("making {} private (0700)", data_dir.display()))?;
    let store = open_store(data_dir, Some(&pg))?;
    let auth =
        authority::unlock(&store, &credential, config, Arc::new(SystemClock)).map_err(|e| {
            if e.code() == "AUTH-014" {
                anyhow::anyhow!(
                    "[{}] the password or key file does not unlock this authority",
                    e.code()
                )
            } else {
                anyhow::anyhow!("[{}] {e}", e.code())
            }
        })?;
    let serial = write_tls_files(&auth, data_dir, tls_names)?;
    let lines = kmsd::settings::database_lines(url, password_file.map(absolute).as_deref());
    let settings = kmsd::settings::with_database_lines(base_settings, Some(&lines));
    write_new(
        &data_dir.join(kmsd::settings::FILE_NAME),
        settings.as_bytes(),
        0o644,
    )?;
    drop(auth);
    println!(
        "joined the authority in {pg}: this node's files in {} (TLS certificate serial \
         {serial} for {}); start it with kmsd serve --data-dir {}",
        data_dir.display(),
        tls_names.describe(),
        data_dir.display()
    );
    Ok(())
}

/// Whether `s` names a PostgreSQL database rather than a data directory.
fn is_database_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Prints what a copy between backends copied, and how long it took.
fn print_copy(report: &db::CopyReport, took: Duration) {
    let rows: u64 = report.tables.iter().map(|(_, n, _)| n).sum();
    for (table, n, _) in &report.tables {
        println!("  {table}: {n} rows");
    }
    if !report.skipped.is_empty() {
        println!(
            "  not copied (on one side only): {}",
            report.skipped.join(", ")
        );
    }
    for (name, next) in &report.sequences {
        println!("  sequence {name}: continues at {next}");
    }
    println!(
        "copied {} tables, {rows} rows, verified (rows and SHA-256 per table) in {:.1} s",
        report.tables.len(),
        took.as_secs_f64()
    );
}

/// `kmsd migrate` (see the command's help).
fn migrate(from: &str, to: &str, password_file: Option<&Path>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // A spinner on a terminal (hidden otherwise): the table being copied and its rows.
    let spinner =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    spinner.enable_steady_tick(Duration::from_millis(200));
    let progress = |table: &str, rows: u64| spinner.set_message(format!("{table}: {rows} rows"));
    let result = migrate_with(from, to, password_file, started, progress, &spinner);
    spinner.finish_and_clear();
    result
}

fn migrate_with(
    from: &str,
    to: &str,
    password_file: Option<&Path>,
    started: std::time::Instant,
    progress: impl FnMut(&str, u64),
    spinner: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    match (is_database_url(from), is_database_url(to)) {
        (false, true) => {
            let data_dir = absolute(Path::new(from));
            let pg = db::PgConfig::from_url(to, password_file)
                .map_err(|e| anyhow::anyhow!("[{}] --to: {e}", e.code()))?;
            let file = FileSettings::load(&data_dir)?;
            if let Some(db) = &file.database {
                bail!(
                    "{} serves from the database {db} already (kmsd.toml): nothing was changed",
                    data_dir.display()
                );
            }
            let report = escrow::move_to_database(&data_dir, &pg, progress).map_err(|e| {
                if e.code() == "ESCROW-022" {
                    anyhow::anyhow!(
                        "[{}] the store in {} is in use: stop kmsd (and anything else that has \
                         it open) first; nothing was changed",
                        e.code(),
                        data_dir.display()
                    )
                } else {
                    anyhow::anyhow!("[{}] {e}", e.code())
                }
            })?;
            spinner.finish_and_clear();
            print_copy(&report, started.elapsed());
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let kept = data_dir.join(format!("{}.migrated-{secs}", escrow::DB_FILE_NAME));
            (|| {
                let store = open_store(&data_dir, Some(&pg))?;
                audit_migration(&store, &data_dir.display().to_string(), &pg.to_string())?;
                drop(store);
                // The SQLite file stays, out of the way: the node serves from the database.
                let old = data_dir.join(escrow::DB_FILE_NAME);
                std::fs::rename(&old, &kept)
                    .with_context(|| format!("renaming {} to {}", old.display(), kept.display()))?;
                let lines =
                    kmsd::settings::database_lines(to, password_file.map(absolute).as_deref());
                set_settings(&data_dir, Some(&lines))
            })()
            .with_context(|| {
                format!(
                    "the store is copied to {pg}, but the move is not finished (audit entry, \
                     the SQLite file moved aside, database = in kmsd.toml, in that order)"
                )
            })?;
            println!(
                "moved the store in {} to {pg}; the SQLite file is kept as {}; {} names the \
                 database: kmsd serve --data-dir {} serves from it",
                data_dir.display(),
                kept.display(),
                data_dir.join(kmsd::settings::FILE_NAME).display(),
                data_dir.display()
            );
            Ok(())
        }
        (true, false) => {
            let data_dir = absolute(Path::new(to));
            let pg = db::PgConfig::from_url(from, password_file)
                .map_err(|e| anyhow::anyhow!("[{}] --from: {e}", e.code()))?;
            let report = escrow::move_to_sqlite(&pg, &data_dir, progress)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            spinner.finish_and_clear();
            print_copy(&report, started.elapsed());
            (|| {
                let store = open_store(&data_dir, None)?;
                audit_migration(&store, &pg.to_string(), &data_dir.display().to_string())?;
                drop(store);
                if data_dir.join(kmsd::settings::FILE_NAME).exists() {
                    set_settings(&data_dir, None)?;
                } else {
                    restore_settings(&data_dir, None, None)?;
                }
                if !data_dir.join(authority::ANCHOR_FILE).exists() {
                    restore_anchor(&data_dir, None)?;
                }
                anyhow::Ok(())
            })()
            .with_context(|| {
                format!(
                    "the store is copied into {}, but the move is not finished (audit entry, \
                     kmsd.toml without the database lines, the anchor, in that order)",
                    data_dir.display()
                )
            })?;
            println!(
                "moved the store in {pg} to {}: kmsd serve --data-dir {} serves from it",
                data_dir.display(),
                data_dir.display()
            );
            if !data_dir.join(kmsd::tls::CERT_FILE).exists() {
                println!(
                    "{} has no TLS certificate: copy {} and {} from the node, or serve with \
                     --http on loopback",
                    data_dir.display(),
                    kmsd::tls::CERT_FILE,
                    kmsd::tls::KEY_FILE
                );
            }
            Ok(())
        }
        _ => bail!(
            "give a data directory and a postgres://USER@HOST[:PORT]/DB URL, one as --from and \
             the other as --to"
        ),
    }
}

/// Records the move in the destination's audit log (`store.migrate`, from and to: the
/// database printed without any password).
fn audit_migration(store: &Store, from: &str, to: &str) -> anyhow::Result<()> {
    authority::audit_offline(
        store,
        &SystemClock,
        "-",
        "store.migrate",
        &format!("from {from} to {to}"),
    )
    .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
    .context("recording the move in the audit log")?;
    Ok(())
}

/// Rewrites DATA_DIR/kmsd.toml with `lines` as its database lines (or none), keeping every
/// other setting; creates it from the template when missing.
fn set_settings(data_dir: &Path, lines: Option<&str>) -> anyhow::Result<()> {
    let path = data_dir.join(kmsd::settings::FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => kmsd::settings::TEMPLATE.to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let new = kmsd::settings::with_database_lines(&text, lines);
    FileSettings::parse(&new).with_context(|| format!("the new {}", path.display()))?;
    let tmp = data_dir.join(format!(".tmp-{}-kmsd.toml", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, new.as_bytes(), 0o644)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The CA key of a new authority: a software key of that many bits, or a key on a token
/// (with what happened: generated, or an existing key used).
enum CaKeyChoice {
    Software(usize),
    Token(authority::CaSigningKey, String),
}

/// `kmsd init --ca-key-pkcs11-module`: the key labelled `key_label` on the token, or, when
/// the token has none, a new RSA key of `bits` generated there. Returns it with a sentence
/// saying which happened.
fn token_ca_key(
    settings: &kmsd::settings::CaKeySettings,
    pin: Option<hsm::Pin>,
    bits: usize,
) -> anyhow::Result<(authority::CaSigningKey, String)> {
    let Some(pin) = pin else {
        bail!(
            "--ca-key-pkcs11-module needs the token's user PIN: --pin-stdin (the line after \
             the administrator password), --pin-file FILE or {PIN_FILE_VAR}=FILE"
        );
    };
    let cfg = token_config(settings);
    let where_ = format!(
        "{:?} on token {:?}",
        settings.key_label, settings.token_label
    );
    let (key, note) = match hsm::TokenKey::open(&cfg, pin.clone()) {
        Ok(key) => (key, format!("the existing key {where_} is used")),
        Err(e) if e.code() == "HSM-005" => {
            let bits = u32::try_from(bits).unwrap_or(u32::MAX);
            let key = hsm::TokenKey::generate(&cfg, pin, bits)
                .map_err(|e| anyhow::anyhow!("cannot generate the CA key {where_}: {e}"))?;
            (
                key,
                format!("generated {where_} (sensitive, never extractable)"),
            )
        }
        Err(e) => bail!("cannot open the CA key {where_}: {e}"),
    };
    Ok((authority::CaSigningKey::new(Arc::new(key)), note))
}

/// `--ca-key-bits`: 3072 or 4096, refused before anything is read or written.
fn parse_ca_key_bits(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(b @ (3072 | 4096)) => Ok(b),
        Ok(b) if b < authority::MIN_CA_KEY_BITS => Err(format!(
            "a {b}-bit CA key is refused: the CA key needs RSA-3072 at least (4096 is the \
             default; 3072 for tests and small sites) [AUTH-081]"
        )),
        _ => Err("give 3072 or 4096".into()),
    }
}

/// `kmsd init`'s public listener: plain HTTP on every address, next to the API's 8080.
const DEFAULT_PUBLIC_LISTEN: &str = "0.0.0.0:8081";

/// The public URL `init` writes when none is given: `http://HOST:PORT` of the public
/// listener, HOST from `--public-host`, else the listener's own address when it is specific,
/// else the first TLS name that is not loopback, else this machine's host name, else
/// loopback (and `init` warns).
fn default_public_url(listen: SocketAddr, host: Option<&str>, tls: &TlsNames) -> String {
    let ip = listen.ip();
    let host = host
        .map(str::to_string)
        .or_else(|| (!ip.is_unspecified() && !ip.is_loopback()).then(|| ip.to_string()))
        .or_else(|| {
            tls.dns
                .iter()
                .find(|n| !authority::is_loopback_host(n) && !n.contains('*'))
                .cloned()
        })
        .or_else(|| {
            tls.ips
                .iter()
                .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
                .map(|ip| ip.to_string())
        })
        .or_else(machine_host_name)
        .unwrap_or_else(|| {
            if ip.is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                ip.to_string()
            }
        });
    let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host
    };
    format!("http://{host}:{}", listen.port())
}

/// This machine's host name (Linux), when it is a usable DNS name other than localhost.
fn machine_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (is_dns_name(name) && !authority::is_loopback_host(name)).then(|| name.to_string())
}

/// What is wrong with `url` as the public URL of a deployment whose public listener is
/// `listen`: loopback, not plain `http://`, or not served by that listener. `init` warns
/// with these and goes on.
fn public_url_warnings(url: &str, listen: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let fix = format!(
        "pass --public-host NAME (the URL becomes http://NAME:{}) or --public-url \
         http://NAME:{}, NAME being how relying parties reach this machine; kmsctl settings \
         public-url changes it later",
        listen.port(),
        listen.port()
    );
    if !url.starts_with("http://") {
        out.push(format!(
            "the public URL {url} is not plain http://: mail clients and gpgsm fetch CRLs and \
             the CA certificate without TLS, from the public listener; {fix}"
        ));
    }
    let Some((host, port)) = authority::url_host_port(url) else {
        out.push(format!(
            "the public URL {url} is not http://HOST[:PORT][/PATH]; {fix}"
        ));
        return out;
    };
    if authority::is_loopback_host(&host) {
        out.push(format!(
            "the public URL {url} is loopback: only this machine can fetch the CRLs the \
             certificates name; {fix}"
        ));
    }
    let port = port.unwrap_or(if url.starts_with("https://") { 443 } else { 80 });
    let ip = listen.ip();
    let other_host = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|h| !ip.is_unspecified() && h != ip);
    if url.starts_with("http://") && (port != listen.port() || other_host) {
        out.push(format!(
            "the public URL {url} is not served by this deployment's public listener \
             ({listen}, plain HTTP): unless a proxy forwards it there, {fix} (or \
             --public-listen ADDR to match)"
        ));
    }
    out
}

/// The names of the server's TLS certificate, split as `subjectAltName` wants them.
struct TlsNames {
    dns: Vec<String>,
    ips: Vec<std::net::IpAddr>,
}

impl TlsNames {
    /// Splits `--tls-name` values into DNS names and IP addresses (none given: localhost,
    /// 127.0.0.1 and ::1); a name that is neither is refused.
    fn parse(names: &[String]) -> anyhow::Result<Self> {
        let defaults = ["localhost", "127.0.0.1", "::1"].map(String::from);
        let names = if names.is_empty() {
            &defaults[..]
        } else {
            names
        };
        let mut out = TlsNames {
            dns: Vec::new(),
            ips: Vec::new(),
        };
        for n in names {
            if let Ok(ip) = n.parse::<std::net::IpAddr>() {
                out.ips.push(ip);
            } else if is_dns_name(n) {
                out.dns.push(n.clone());
            } else {
                bail!("--tls-name {n:?} is neither a DNS name nor an IP address");
            }
        }
        Ok(out)
    }

    /// The names, comma-separated, for messages.
    fn describe(&self) -> String {
        self.dns
            .iter()
            .cloned()
            .chain(self.ips.iter().map(|ip| ip.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A host name (letters, digits, hyphens; a leading `*.` wildcard), dot-separated labels of
/// 1 to 63 characters, at most 253 in all.
fn is_dns_name(n: &str) -> bool {
    let n = n.strip_prefix("*.").unwrap_or(n);
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Makes the server's TLS key, has the authority certify it, and writes `tls.key` (0600)
/// and `tls.crt` (certificate, then the CA) into the data directory. Returns the new
/// certificate's serial (hex).
fn write_tls_files(
    auth: &authority::Authority,
    data_dir: &Path,
    names: &TlsNames,
) -> anyhow::Result<String> {
    let key = pki::PrivateKey::generate(&mut pki::os_rng(), pki::KeySize::Rsa2048)?;
    let cert_der = auth
        .issue_tls_certificate(&key.public_key(), &names.dns, &names.ips)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    let cert = pki::certificate::parse_certificate(&cert_der)?;
    let serial = pki::certificate::CertificateInfo::from_certificate(&cert)?.serial_hex;
    let ca = pki::certificate::parse_certificate(&auth.published().ca_der)?;
    let chain = format!(
        "{}{}",
        pki::certificate::to_pem(&cert)?,
        pki::certificate::to_pem(&ca)?
    );
    write_new(
        &data_dir.join(kmsd::tls::KEY_FILE),
        key.to_pkcs8_pem()?.as_bytes(),
        0o600,
    )?;
    write_new(
        &data_dir.join(kmsd::tls::CERT_FILE),
        chain.as_bytes(),
        0o644,
    )?;
    Ok(serial)
}

/// After `kmsd restore`: unless the data directory holds a TLS certificate or key already
/// (never overwritten), unlocks the restored authority with the secret the backup was opened
/// with and issues the server a new TLS certificate from the restored CA, as `kmsd init` does.
fn restore_tls(
    data_dir: &Path,
    pg: Option<&db::PgConfig>,
    credential: &Credential,
    pin: Option<hsm::Pin>,
    names: &TlsNames,
) -> anyhow::Result<()> {
    let present: Vec<&str> = [kmsd::tls::CERT_FILE, kmsd::tls::KEY_FILE]
        .into_iter()
        .filter(|f| data_dir.join(f).exists())
        .collect();
    if !present.is_empty() {
        eprintln!(
            "kmsd: {} in {} already: no new TLS certificate issued",
            present.join(" and "),
            data_dir.display()
        );
        return Ok(());
    }
    let store = open_store(data_dir, pg)?;
    // A CA key on a token ([ca_key] of the kmsd.toml the backup carried) signs there.
    let config = with_ca_key(config(), &FileSettings::load(data_dir)?, pin)?;
    let auth = authority::unlock(&store, credential, config, Arc::new(SystemClock))
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
        .context("unlocking the restored authority")?;
    let serial = write_tls_files(&auth, data_dir, names)?;
    eprintln!(
        "kmsd: the backup holds no TLS certificate: issued a new one from the restored CA \
         (serial {serial}, for {}), written to {} (key, 0600) and {}",
        names.describe(),
        data_dir.join(kmsd::tls::KEY_FILE).display(),
        data_dir.join(kmsd::tls::CERT_FILE).display()
    );
    Ok(())
}

/// `path` made absolute (paths are printed one way everywhere), or as given if that fails.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// After `kmsd restore`: writes the server settings file the backup carries back into the
/// data directory. A different file there already is kept as `kmsd.toml.pre-restore` (or
/// `.pre-restore-N`), never silently overwritten; a backup made before backups carried the
/// settings restores as before, and says so.
///
/// The carried file's `database` lines are replaced by `database_lines` (a restore into
/// PostgreSQL; without a carried file the template with them is written), or taken out (a
/// backup of a PostgreSQL node restored into SQLite).
fn restore_settings(
    data_dir: &Path,
    pg: Option<&db::PgConfig>,
    database_lines: Option<&str>,
) -> anyhow::Result<()> {
    let store = open_store(data_dir, pg)?;
    let carried = authority::carried_server_settings(&store)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    drop(store);
    let path = absolute(&data_dir.join(kmsd::settings::FILE_NAME));
    let carried = match (carried, database_lines) {
        (Some(text), lines) => Some(kmsd::settings::with_database_lines(&text, lines)),
        (None, Some(lines)) => {
            let text = format!("{}\n{lines}", kmsd::settings::TEMPLATE);
            println!(
                "the backup carries no {}: wrote the default one naming the database",
                kmsd::settings::FILE_NAME
            );
            write_new(&path, text.as_bytes(), 0o644)?;
            return Ok(());
        }
        (None, None) => None,
    };
    let Some(text) = carried else {
        println!(
            "the backup carries no {} (it was made before backups carried the server's \
             settings): the defaults apply until you write {}",
            kmsd::settings::FILE_NAME,
            path.display()
        );
        return Ok(());
    };
    if let Err(e) = FileSettings::parse(&text) {
        eprintln!(
            "kmsd: warning: the {} carried in the backup does not parse with this version \
             ({e:#}); it is written anyway: correct it before serving",
            kmsd::settings::FILE_NAME
        );
    }
    match std::fs::read(&path) {
        Ok(existing) if existing == text.as_bytes() => {
            println!("{} is already the one the backup carries", path.display());
            return Ok(());
        }
        Ok(_) => {
            let mut n = 0;
            let kept = loop {
                let name = if n == 0 {
                    format!("{}.pre-restore", kmsd::settings::FILE_NAME)
                } else {
                    format!("{}.pre-restore-{n}", kmsd::settings::FILE_NAME)
                };
                let p = path.with_file_name(name);
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            std::fs::rename(&path, &kept)
                .with_context(|| format!("keeping {} as {}", path.display(), kept.display()))?;
            println!(
                "{} differed from the one in the backup: kept as {}",
                path.display(),
                kept.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    write_new(&path, text.as_bytes(), 0o644)?;
    println!(
        "restored the server's settings from the backup into {}",
        path.display()
    );
    Ok(())
}

/// After `kmsd restore`: writes the audit anchor the backup carries into the data directory
/// (a backup made before backups carried anchors: the first unlock anchors the store).
fn restore_anchor(data_dir: &Path, pg: Option<&db::PgConfig>) -> anyhow::Result<()> {
    let store = open_store(data_dir, pg)?;
    let written = authority::restore_anchor_file(&store)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    if written {
        println!(
            "restored the audit anchor the backup carries ({})",
            authority::ANCHOR_FILE
        );
    }
    Ok(())
}

/// Creates `path` (refusing to overwrite) with `mode`: a temporary file, fsync, rename.
fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        bail!("{} exists already", path.display());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// With `serve --dev`: the file in the data directory that holds the generated password of
/// the administrator `admin` (mode 0600), so a quick start can read it.
const DEV_ADMIN_PASSWORD_FILE: &str = "admin-password";

fn config() -> Config {
    Config::default()
}

/// The API listener and the optional public one, bound (not yet serving).
struct Listeners {
    api: std::net::TcpListener,
    public: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds both addresses, or says which one is taken.
    fn bind(listen: SocketAddr, public_listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        let bind = |addr: SocketAddr, what: &str| -> anyhow::Result<std::net::TcpListener> {
            let l = std::net::TcpListener::bind(addr).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    anyhow::anyhow!(
                        "cannot listen on {addr} ({what}): the address is in use by another \
                         program (another kmsd?); nothing was started"
                    )
                } else {
                    anyhow::anyhow!("cannot listen on {addr} ({what}): {e}; nothing was started")
                }
            })?;
            l.set_nonblocking(true)
                .with_context(|| format!("listening on {addr}"))?;
            Ok(l)
        };
        let api = bind(listen, "the API")?;
        let public = public_listen
            .map(|a| bind(a, "the public URLs"))
            .transpose()?;
        Ok(Listeners { api, public })
    }
}

/// The `Host` names of the API and console: the TLS certificate's names (when there is
/// one), the public URL's host and `allowed_hosts`.
fn allowed_hosts(data_dir: &Path, store: &Store, file: &FileSettings) -> Vec<String> {
    let mut names = file.allowed_hosts.clone();
    if let Ok(pem) = std::fs::read(data_dir.join(kmsd::tls::CERT_FILE))
        && let Ok(certs) = pki::certificate::parse_certificates(&pem)
        && let Some(leaf) = certs.first()
    {
        match pki::certificate::host_names(leaf) {
            Ok(n) => names.extend(n),
            Err(e) => tracing::warn!(error = %e, "cannot read the TLS certificate's names"),
        }
    }
    if let Ok(url) = authority::stored_public_url(store)
        && let Some(host) = url_host(&url)
    {
        names.push(host.to_string());
    }
    names.sort();
    names.dedup();
    names
}

/// The host of an `http(s)://host[:port]/...` URL (brackets of an IPv6 address removed).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

fn serve(
    data_dir: &Path,
    pg: Option<&db::PgConfig>,
    listeners: Listeners,
    credential: Option<Credential>,
    https: bool,
    config: Config,
    file: &FileSettings,
) -> anyhow::Result<()> {
    let tls = if https {
        Some(kmsd::tls::server_config(data_dir).context(
            "loading the TLS certificate made by kmsd init (or serve with --http on loopback)",
        )?)
    } else {
        None
    };
    // SQLite's quick check runs on the file; PostgreSQL checks its own pages.
    let background_check = pg.is_none() && check_before_unlock(data_dir, file)?;
    let store = open_store(data_dir, pg)?;
    let clock = Arc::new(SystemClock);
    let hosts = allowed_hosts(data_dir, &store, file);
    tracing::info!(names = ?hosts, "the API and console answer to these Host names (and loopback)");
    let state = Arc::new(
        AppState::locked(store, config, clock)?
            .with_trusted_proxies(file.trusted_proxies.clone())
            .with_allowed_hosts(kmsd::limits::AllowedHosts::new(hosts)),
    );
    let limits = file.limits();
    match credential {
        Some(c) => {
            state.unlock(&c).map_err(|e| {
                // A wrong secret and a damaged store are never confused: only the refusal of
                // the secret itself says so.
                if e.code() == "AUTH-014" {
                    anyhow::anyhow!("the password or key file does not unlock this authority")
                } else {
                    anyhow::anyhow!(
                        "cannot unlock the authority in {}: [{}] {}",
                        data_dir.display(),
                        e.code(),
                        e.message()
                    )
                }
            })?;
        }
        None => tracing::warn!("starting locked: POST /api/v1/unlock (kmsctl unlock) to unlock"),
    }
    if background_check {
        kmsd::health::spawn_integrity_check(state.clone(), data_dir.to_path_buf());
    }
    match state.authority().map(|a| a.schedule_view()) {
        Ok(Ok(s)) => tracing::info!("{}", kmsd::schedule_log::describe_schedule(&s)),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the backup schedule"),
        Err(_) => tracing::info!("backup schedule: read at unlock (kmsctl backup schedule)"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let api = tokio::net::TcpListener::from_std(listeners.api)?;
        tracing::info!(address = %api.local_addr()?, https = tls.is_some(), "serving the API");
        if let Some(public) = listeners.public {
            let public = tokio::net::TcpListener::from_std(public)?;
            let addr = public.local_addr()?;
            let app = kmsd::public_router(state.clone());
            tracing::info!(address = %addr, "serving the public URLs");
            tokio::spawn(async move {
                let never = std::future::pending::<()>();
                if let Err(e) = kmsd::limits::serve(public, app, None, limits, never).await {
                    tracing::error!(error = %e, "public listener failed");
                }
            });
        }
        kmsd::spawn_crl_schedule(state.clone(), Duration::from_secs(3600));
        // Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
        let shutdown = async {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
            tracing::info!("shutting down");
        };
        let https = tls.is_some();
        let last = state.clone();
        kmsd::limits::serve(api, kmsd::router_with(state, https), tls, limits, shutdown).await?;
        // A clean stop anchors the audit chain's final head.
        if let Ok(a) = last.authority()
            && let Err(e) = a.anchor_now()
        {
            tracing::error!(error = %e, "cannot write the audit anchor at shutdown");
        }
        Ok(())
    })
}

/// What to do about a damaged store (said by `serve` and `check`).
const RESTORE_ADVICE: &str = "stop using this store and restore the latest backup into a new \
     directory: kmsd restore BACKUP --data-dir NEW_DIR (backups are in DATA_DIR/backups; \
     kmsctl backup verify checks one), then serve from NEW_DIR";

/// Before unlocking: SQLite's quick check of a store of at most `integrity_check_max_bytes`
/// (refusing a damaged one); `Ok(true)` when the store is larger and the check is to run in
/// the background after unlocking.
fn check_before_unlock(data_dir: &Path, file: &FileSettings) -> anyhow::Result<bool> {
    let limit = file
        .integrity_check_max_bytes
        .unwrap_or(kmsd::settings::DEFAULT_INTEGRITY_CHECK_MAX_BYTES);
    let Ok(size) = escrow::store_size(data_dir) else {
        // No store (or unreadable): opening it says why.
        return Ok(false);
    };
    if size > limit {
        tracing::info!(
            bytes = size,
            limit,
            "the store is larger than integrity_check_max_bytes: its quick check runs in the \
             background after unlocking (see /healthz)"
        );
        return Ok(true);
    }
    let started = std::time::Instant::now();
    let problems = escrow::check_integrity(data_dir, escrow::CheckDepth::Quick)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))
        .with_context(|| format!("checking the store in {}", data_dir.display()))?;
    if !problems.is_empty() {
        bail!(
            "[{}] the store in {} is damaged (SQLite's quick check: {}): {RESTORE_ADVICE}; \
             kmsd check --data-dir {} lists the damage",
            escrow::StorageFault::Damaged.escrow_code(),
            data_dir.display(),
            problems.join("; "),
            data_dir.display()
        );
    }
    tracing::info!(
        bytes = size,
        millis = started.elapsed().as_millis() as u64,
        "quick check: the store is sound"
    );
    Ok(false)
}

/// `kmsd check`: prints the report; an error (exit 1) unless the store is sound.
fn check(
    data_dir: &Path,
    pg: Option<&db::PgConfig>,
    credential: &Credential,
) -> anyhow::Result<()> {
    let report = authority::check_store_in(data_dir, pg, credential).map_err(|e| {
        if matches!(e, authority::Error::BadSecret) {
            anyhow::anyhow!(
                "[{}] the password or key file does not unlock this authority (nothing was \
                 checked beyond SQLite's integrity)",
                e.code()
            )
        } else {
            anyhow::anyhow!("[{}] {e}", e.code())
        }
    })?;
    println!("store: {}", report.location);
    if report.integrity.is_empty() {
        match pg {
            None => println!("database integrity: ok (integrity_check, foreign_key_check)"),
            Some(_) => println!("database integrity: ok (PostgreSQL: amcheck, foreign keys)"),
        }
        for note in &report.integrity_notes {
            println!("  note: {note}");
        }
    } else {
        println!("database integrity: DAMAGED");
        for p in &report.integrity {
            println!("  {p}");
        }
    }
    if let Some(why) = &report.not_checked {
        println!("escrowed keys: NOT CHECKED: {why}");
    } else {
        println!(
            "escrowed keys: {} authenticated ({} owners), {} failed",
            report.keys_sound,
            report.owners,
            report.keys_failed.len()
        );
        if !report.keys_failed.is_empty() {
            let ids: Vec<String> = report.keys_failed.iter().map(|k| k.to_string()).collect();
            println!("  failed key ids: {}", ids.join(", "));
        }
        print_split_check(&report.split);
        match (&report.ca_problem, &report.ca_key) {
            (None, Some(r)) if r.starts_with("token:") => println!(
                "CA key: on a token ({r}): the store holds only its reference, which names the \
                 CA certificate's key (the token itself is not opened by check)"
            ),
            (None, _) => println!("CA key: ok (decrypts, matches the CA certificate)"),
            (Some(p), _) => println!("CA key: DAMAGED: {p}"),
        }
    }
    if !report.is_sound() {
        bail!(
            "the store in {} is damaged: {RESTORE_ADVICE}",
            data_dir.display()
        );
    }
    println!("the store is sound");
    Ok(())
}

/// `kmsd check`'s lines on the agent-split keys (their shares are authenticated under the
/// master key, never opened).
fn print_split_check(s: &authority::SplitCheck) {
    let ids = |keys: &[escrow::KeyId]| {
        let mut v: Vec<String> = keys.iter().take(50).map(|k| k.to_string()).collect();
        if keys.len() > v.len() {
            v.push("...".into());
        }
        v.join(", ")
    };
    let policy = match s.threshold {
        Some(m) => format!("threshold {m} of {} agents", s.agents),
        None => format!("no threshold set, {} agents", s.agents),
    };
    println!(
        "agent-split keys: {} ({} shares authenticated, none opened; {policy}), {} with problems",
        s.keys,
        s.shares,
        s.problems.len()
    );
    for p in &s.problems {
        println!("  {p}");
    }
    if !s.needs_reshare.is_empty() {
        println!(
            "  {} keys have shares made for another agent set or threshold (kmsctl agent \
             reshare re-makes them): {}",
            s.needs_reshare.len(),
            ids(&s.needs_reshare)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_host_is_found() {
        assert_eq!(
            url_host("http://kms.example.com:8081/x"),
            Some("kms.example.com")
        );
        assert_eq!(url_host("https://[::1]:8443"), Some("::1"));
        assert_eq!(url_host("http://10.0.0.5"), Some("10.0.0.5"));
        assert_eq!(url_host("not a url"), None);
    }

    #[test]
    fn the_default_public_url_is_the_public_listener() {
        let tls = TlsNames::parse(&["kms.example.com".into()]).unwrap();
        let any: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(
            default_public_url(any, None, &tls),
            "http://kms.example.com:8081"
        );
        assert_eq!(
            default_public_url(any, Some("pki.example.org"), &tls),
            "http://pki.example.org:8081"
        );
        let specific: SocketAddr = "10.1.2.3:9000".parse().unwrap();
        assert_eq!(
            default_public_url(specific, None, &tls),
            "http://10.1.2.3:9000"
        );
        let v6: SocketAddr = "[2001:db8::5]:8081".parse().unwrap();
        assert_eq!(
            default_public_url(v6, None, &tls),
            "http://[2001:db8::5]:8081"
        );
        assert!(public_url_warnings("http://kms.example.com:8081", any).is_empty());
    }

    #[test]
    fn init_warns_about_urls_that_cannot_work() {
        let any: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        let w = public_url_warnings("http://127.0.0.1:8081", any);
        assert!(w.len() == 1 && w[0].contains("loopback"), "{w:?}");
        assert!(w[0].contains("--public-host"), "{w:?}");
        let w = public_url_warnings("https://kms.example.com:8080", any);
        assert!(w.len() == 1 && w[0].contains("not plain http://"), "{w:?}");
        let w = public_url_warnings("http://kms.example.com", any);
        assert!(w.len() == 1 && w[0].contains("not served"), "{w:?}");
        let specific: SocketAddr = "10.1.2.3:8081".parse().unwrap();
        let w = public_url_warnings("http://10.9.9.9:8081", specific);
        assert!(w.len() == 1 && w[0].contains("not served"), "{w:?}");
    }

    #[test]
    fn tls_names_default_like_init_and_split_dns_from_ip() {
        let d = TlsNames::parse(&[]).unwrap();
        assert_eq!(d.dns, ["localhost"]);
        assert_eq!(d.describe(), "localhost, 127.0.0.1, ::1");
        let n = TlsNames::parse(&[
            "kms.example.com".into(),
            "10.0.0.5".into(),
            "*.a-b.example".into(),
        ])
        .unwrap();
        assert_eq!(n.dns, ["kms.example.com", "*.a-b.example"]);
        assert_eq!(n.ips, ["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]);
    }

    #[test]
    fn tls_names_refuse_what_is_neither_a_host_nor_an_address() {
        for bad in [
            "",
            "not a host",
            "a..b",
            "-a.example",
            "é.example",
            &"a".repeat(64),
            "a.*.b",
        ] {
            assert!(TlsNames::parse(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }
}
