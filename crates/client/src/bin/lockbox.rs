//! `lockbox`: the user's S/MIME tool. Encrypts for recipients with the negotiated algorithm,
//! decrypts with any of the user's keys, signs and verifies, on `.eml` files; enrolls and
//! fetches certificates from the authority. Every `--out` goes through [`files::write`]
//! (`-` is standard output; the report then goes to standard error); with `--json`, errors
//! are `{"error":{"code","message"}}` with the `CLIENT-0xx` codes of `kms_client::error`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kms_client::error::Error;
use kms_client::files::{self, Content};
use kms_client::keyring::Keyring;
use kms_client::message::{self, SignRequest, Trust};
use kms_client::{crl_cache, secret};
use pki::enveloped::{EncryptOptions, KeyTransport};
use pki::negotiation::{BelowFloor, Policy};
use pki::{ContentAlgorithm, DigestAlgorithm};
use serde_json::json;

const EXIT_CODES: &str = "\
Exit codes:
  0   success (for verify: the signature is valid)
  1   the operation failed; the message says why
  2   bad usage (unknown flag, missing argument)
  10  verify: tampered (the signature or digest does not match)
  11  verify: the signer's certificate (or one above it) is revoked
  12  verify: expired
  13  verify: not yet valid
  14  verify: untrusted or unknown signer
  15  verify: revocation status unknown (no CRL, or the CRL is stale or badly signed)

Environment: KMS_URL (the authority's URL, for --server), KMS_CA_CERT (the CA certificate to
trust for HTTPS, for --ca-cert), KMS_ENROLL_TOKEN (enroll's token).
With --json, a failure prints {\"error\":{\"code\":\"CLIENT-0xx\",\"message\":\"...\"}} on
standard output (codes: 001 usage, 002 file, 003 password, 004 network, 005 TLS, 006 server,
007 crypto or format, 008 an existing bundle would lose keys, 009 other).";

#[derive(Parser)]
#[command(name = "lockbox", version, about = "S/MIME encryption, signing and verification", after_help = EXIT_CODES)]
struct Cli {
    /// Print the result as JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// Allow key material (a PKCS#12 bundle) to be written to a terminal.
    #[arg(long, global = true)]
    force_tty: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FloorPolicy {
    /// Refuse to encrypt, naming the recipients below the floor.
    Refuse,
    /// Encrypt only for recipients at or above the floor and report the others.
    Skip,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Revocation {
    /// No fresh revocation status means exit 15 (the default).
    Require,
    /// Without a fresh status, give the signature's verdict with a warning.
    Prefer,
    /// Do not check revocation at all.
    Off,
}

#[derive(Subcommand)]
enum CrlAction {
    /// Fetch the newest full and delta CRLs of every known CA (remembered at enroll, or given
    /// with --ca) into the CRL cache, each checked against its CA's signature. Sources: the
    /// authority remembered at enroll (or KMS_URL, with KMS_CA_CERT for HTTPS) at /crl and
    /// /crl/delta, and the CA certificate's CRL distribution points.
    Sync {
        /// Another CA certificate (PEM or DER) whose CRLs to cache; repeatable.
        #[arg(long, value_name = "FILE")]
        ca: Vec<PathBuf>,
        /// The cache directory (default: $LOCKBOX_CRL_CACHE, else
        /// $XDG_CACHE_HOME/lockbox/crls, else ~/.cache/lockbox/crls).
        #[arg(long, value_name = "DIR")]
        crl_cache: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// The CRL cache that verify uses without --crl.
    Crl {
        #[command(subcommand)]
        action: CrlAction,
    },
    /// Encrypt a message for one or more recipients ("lockbox" hybrid encryption).
    Encrypt {
        /// A recipient's encryption certificate (PEM or DER); repeat for more recipients.
        #[arg(long = "to", value_name = "CERT", required_unless_present = "to_email")]
        to: Vec<PathBuf>,
        /// A recipient looked up in the authority's directory (needs --server); repeatable.
        #[arg(long = "to-email", value_name = "EMAIL")]
        to_email: Vec<String>,
        /// The authority's URL, for --to-email.
        #[arg(long, value_name = "URL", env = "KMS_URL")]
        server: Option<String>,
        /// Trust the authority's HTTPS certificate when it chains to this CA (PEM).
        #[arg(long, value_name = "FILE", env = "KMS_CA_CERT")]
        ca_cert: Option<PathBuf>,
        /// `auto` negotiates the strongest algorithm every recipient supports (AES-256-CBC for
        /// a certificate without SMIMECapabilities, RFC 8551); or a name: aes256-gcm,
        /// aes128-gcm, aes256, aes192, aes128, 3des, cast128, rc2-128, cast64, rc2-64, des,
        /// cast40, rc2-40. A name is used as is for recipients without capabilities.
        #[arg(long, default_value = "auto")]
        algorithm: String,
        /// With --algorithm NAME: use it even for recipients whose published capabilities
        /// exclude it (they are named in the result).
        #[arg(long)]
        force: bool,
        /// Policy floor: nothing weaker than this algorithm is used.
        #[arg(long, value_name = "NAME")]
        min_algorithm: Option<String>,
        /// What to do with recipients below the floor.
        #[arg(long, value_enum, default_value = "refuse")]
        below_floor: FloorPolicy,
        /// Wrap the content key with RSA-OAEP instead of PKCS#1 v1.5.
        #[arg(long)]
        oaep: bool,
        /// The message to encrypt (.eml).
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Where to write the encrypted message (`-`: standard output).
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
    },
    /// Enroll with the authority: makes the signing key here, collects both certificates
    /// and the escrowed encryption key, and writes the PKCS#12 under your password (at least
    /// 8 characters). When --out names your existing bundle, its password must open it and
    /// every key it holds is kept (old mail still decrypts), unless --replace.
    Enroll {
        /// The authority's URL.
        #[arg(long, value_name = "URL", env = "KMS_URL")]
        server: String,
        /// Your e-mail address.
        #[arg(long)]
        email: String,
        /// Trust the authority's HTTPS certificate when it chains to this CA (PEM).
        #[arg(long, value_name = "FILE", env = "KMS_CA_CERT")]
        ca_cert: Option<PathBuf>,
        /// A file holding the one-time enrollment token (or set KMS_ENROLL_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Where to write the PKCS#12 file (created readable by its owner only; `-`: standard
        /// output, never a terminal without --force-tty).
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
        /// Overwrite --out even when it holds a bundle: its keys are dropped.
        #[arg(long)]
        replace: bool,
        /// Read the PKCS#12 password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Collect your renewed certificates from the authority into your PKCS#12 file: each must
    /// be for your address, chain to the CA (in the file, or --ca-cert) and certify a key the
    /// file holds. Every key and old certificate stays; the file keeps its password and is
    /// replaced atomically (mode 0600). A certificate for a new key means: enroll again.
    Fetch {
        /// The authority's URL.
        #[arg(long, value_name = "URL", env = "KMS_URL")]
        server: String,
        /// The CA certificate (PEM) to trust for HTTPS and to check the certificates against
        /// (default: the CA certificates in the PKCS#12 file; HTTPS then needs it too).
        #[arg(long, value_name = "FILE", env = "KMS_CA_CERT")]
        ca_cert: Option<PathBuf>,
        /// Your e-mail address.
        #[arg(long)]
        email: String,
        /// Your PKCS#12 file (from lockbox enroll), updated in place.
        #[arg(long, value_name = "FILE")]
        p12: PathBuf,
        /// Read the PKCS#12 password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Decrypt a message with a key from a PKCS#12 file (any of the keys it holds).
    Decrypt {
        /// The PKCS#12 file with the user's keys.
        #[arg(long, value_name = "FILE")]
        p12: PathBuf,
        /// Read the PKCS#12 password from standard input.
        #[arg(
            long,
            required_unless_present = "no_password",
            conflicts_with = "no_password"
        )]
        password_stdin: bool,
        /// The PKCS#12 file has no password (or an empty one), as `cryptography` and other
        /// tools write when asked for none.
        #[arg(long)]
        no_password: bool,
        /// The encrypted message.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Where to write the decrypted message (created readable by its owner only; `-`:
        /// standard output).
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
    },
    /// Sign a message with the signing key from a PKCS#12 file.
    Sign {
        /// The PKCS#12 file with the user's signing key and certificate.
        #[arg(long, value_name = "FILE")]
        p12: PathBuf,
        /// Read the PKCS#12 password from standard input.
        #[arg(
            long,
            required_unless_present = "no_password",
            conflicts_with = "no_password"
        )]
        password_stdin: bool,
        /// The PKCS#12 file has no password (or an empty one), as `cryptography` and other
        /// tools write when asked for none.
        #[arg(long)]
        no_password: bool,
        /// Digest: sha256 (default), sha384, sha512, or sha1 / md5 for old peers.
        #[arg(long, default_value = "sha256")]
        digest: String,
        /// Opaque signature (application/pkcs7-mime) instead of multipart/signed.
        #[arg(long)]
        opaque: bool,
        /// The message to sign.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Where to write the signed message (`-`: standard output).
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
    },
    /// Verify a signed message; the exit code tells the verdict.
    Verify {
        /// Trusted CA certificate(s) (PEM bundle or DER).
        #[arg(long, value_name = "FILE", required = true)]
        ca: Vec<PathBuf>,
        /// Intermediate certificates that may complete the path.
        #[arg(long, value_name = "FILE")]
        untrusted: Vec<PathBuf>,
        /// A CRL (DER or PEM); repeat for more (full and delta CRLs, intermediates' CRLs).
        #[arg(long, value_name = "FILE")]
        crl: Vec<PathBuf>,
        /// Validate at this time (RFC 3339, e.g. 2026-01-01T00:00:00Z) instead of now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Accept 1024-bit RSA keys and MD5/SHA-1 certificate signatures (old mail).
        #[arg(long)]
        allow_legacy: bool,
        /// require: no fresh revocation status means exit 15; prefer: the signature's verdict
        /// with a warning; off: do not check. CRLs come from --crl and the CRL cache.
        #[arg(long, value_enum, default_value = "require")]
        revocation: Revocation,
        /// The CRL cache directory (see `lockbox crl sync`).
        #[arg(long, value_name = "DIR")]
        crl_cache: Option<PathBuf>,
        /// The signed message.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Also write the signed content here (`-`: standard output).
        #[arg(long = "out", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                println!("{}", kms_client::error::json(&e));
            }
            eprintln!("lockbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A command line clap refused: help and version as usual; with `--json`, the error body
/// (`CLIENT-001`) on standard output too; exit 2.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("bad usage")
            .trim_start_matches("error: ")
            .to_string();
        println!("{}", kms_client::error::json(&Error::Usage(first).into()));
    }
    let _ = e.print();
    ExitCode::from(2)
}

/// Where the report of a command goes: standard output, or standard error when the command's
/// output itself went to standard output (`--out -`).
struct Say {
    stderr: bool,
}

impl Say {
    fn new(out: Option<&std::path::Path>) -> Self {
        Say {
            stderr: out.is_some_and(|p| p.as_os_str() == "-"),
        }
    }

    fn line(&self, text: impl std::fmt::Display) {
        if self.stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

fn read_password() -> anyhow::Result<zeroize::Zeroizing<String>> {
    secret::read_password(std::io::stdin().lock())
}

fn keyring(p12: &std::path::Path, no_password: bool) -> anyhow::Result<Keyring> {
    let bytes = files::read(p12, "PKCS#12 file")?;
    // No password is the empty one: pki tries both encodings and accepts a file without MAC.
    let password = if no_password {
        zeroize::Zeroizing::new(String::new())
    } else {
        read_password()?
    };
    Keyring::from_pkcs12(&bytes, &password).with_context(|| p12.display().to_string())
}

fn algorithm(name: &str) -> anyhow::Result<ContentAlgorithm> {
    Ok(name.parse::<ContentAlgorithm>()?)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let force_tty = cli.force_tty;
    match cli.command {
        Command::Crl {
            action: CrlAction::Sync { ca, crl_cache: dir },
        } => {
            let mut extra = Vec::new();
            for p in &ca {
                extra.extend(
                    pki::certificate::parse_certificates(&files::read(p, "CA certificate")?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                );
            }
            let kms_url = std::env::var("KMS_URL").ok().filter(|u| !u.is_empty());
            let kms_tls = match std::env::var_os("KMS_CA_CERT").filter(|p| !p.is_empty()) {
                Some(p) => Some(files::read(std::path::Path::new(&p), "KMS_CA_CERT")?),
                None => None,
            };
            let cache = crl_cache::CrlCache::open(dir.as_deref())?;
            let synced = cache.sync(&extra, kms_url.as_deref(), kms_tls.as_deref())?;
            if synced.is_empty() {
                anyhow::bail!(
                    "no CA known to the CRL cache {}: enroll, or give --ca CA.pem",
                    cache.dir().display()
                );
            }
            let complete = synced.iter().all(|c| c.full.is_some());
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": complete, "cache": cache.dir(), "cas": synced })
                );
            } else {
                let now = SystemTime::now();
                for c in &synced {
                    match &c.full {
                        Some(f) => println!(
                            "{}: CRL number {} issued {} ago ({}){}",
                            c.ca,
                            f.number.map_or("-".into(), |n| n.to_string()),
                            crl_cache::age(UNIX_EPOCH + Duration::from_secs(f.this_update), now),
                            if f.updated { "updated" } else { "unchanged" },
                            match &c.delta {
                                Some(d) => format!(
                                    "; delta CRL number {}",
                                    d.number.map_or("-".into(), |n| n.to_string())
                                ),
                                None => String::new(),
                            }
                        ),
                        None => println!("{}: no CRL", c.ca),
                    }
                    for e in &c.errors {
                        eprintln!("lockbox: warning: {}: {e}", c.ca);
                    }
                }
                println!("CRL cache: {}", cache.dir().display());
            }
            Ok(if complete { 0 } else { 1 })
        }
        Command::Enroll {
            server,
            email,
            ca_cert,
            token_file,
            output,
            replace,
            password_stdin: _,
        } => {
            let token = match (token_file, std::env::var("KMS_ENROLL_TOKEN")) {
                (Some(f), _) => zeroize::Zeroizing::new(
                    String::from_utf8(files::read(&f, "token file")?)
                        .map_err(|_| anyhow::anyhow!("{}: not text", f.display()))?
                        .trim()
                        .to_string(),
                ),
                (None, Ok(t)) => zeroize::Zeroizing::new(t.trim().to_string()),
                (None, Err(_)) => anyhow::bail!(
                    "no enrollment token: give --token-file FILE or set KMS_ENROLL_TOKEN"
                ),
            };
            let password = read_password()?;
            kms_client::server::check_bundle_password(&password)?;
            let ca = ca_cert
                .map(|p| files::read(&p, "CA certificate"))
                .transpose()?;
            // Where the bundle goes is checked before the one-time token is spent: not a
            // terminal (without --force-tty), and the bundle --out holds now is kept.
            if output.as_os_str() == "-" && std::io::stdout().is_terminal() && !force_tty {
                return Err(Error::File(format!(
                    "{} (standard output is a terminal): redirect it to a file, or pass \
                     --force-tty if you mean it",
                    api::outfile::TERMINAL_REFUSAL
                ))
                .into());
            }
            let previous = if replace {
                None
            } else {
                existing_bundle(&output)?
                    .map(|bytes| {
                        kms_client::server::previous_bundle(
                            &bytes,
                            &password,
                            &email,
                            &output.display().to_string(),
                        )
                    })
                    .transpose()?
            };
            let e = kms_client::server::enroll(
                &server,
                ca.as_deref(),
                &email,
                &token,
                &password,
                previous,
            )?;
            files::write(&output, &e.pkcs12, Content::Secret, force_tty)?;
            crl_cache::after_enroll(&e.ca_der, &server, ca.as_deref(), cli.json);
            let say = Say::new(Some(&output));
            if cli.json {
                say.line(
                    json!({ "ok": true, "pkcs12": output, "signing_serial": e.signing_serial,
                                 "encryption_serial": e.encryption_serial,
                                 "kept_keys": e.kept_keys,
                                 "ca_sha256_fingerprint": e.ca_fingerprint }),
                );
            } else {
                say.line(format_args!(
                    "enrolled {email}: keys and certificates in {}{}",
                    output.display(),
                    if e.kept_keys > 0 {
                        format!(" (with the {} keys the file held before)", e.kept_keys)
                    } else {
                        String::new()
                    }
                ));
                say.line(format_args!(
                    "trusting the CA {}, SHA-256 fingerprint {}",
                    e.ca_subject, e.ca_fingerprint
                ));
                say.line("compare it with the fingerprint your administrator published");
            }
            Ok(0)
        }
        Command::Fetch {
            server,
            ca_cert,
            email,
            p12,
            password_stdin: _,
        } => {
            let bytes = files::read(&p12, "PKCS#12 file")?;
            let password = read_password()?;
            let contents =
                pki::pkcs12::parse(&bytes, &password).with_context(|| p12.display().to_string())?;
            let ca = ca_cert
                .as_ref()
                .map(|p| files::read(p, "CA certificate"))
                .transpose()?;
            let anchors = match (&ca, &ca_cert) {
                (Some(pem), Some(path)) => pki::certificate::parse_certificates(pem)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                _ => contents.certificates.clone(),
            };
            let served = kms_client::fetch::served(&server, ca.as_deref(), &email)?;
            let merged = kms_client::fetch::merge(contents, &served, &anchors, &email, &password)?;
            if let Some(new) = &merged.pkcs12 {
                files::write(&p12, new, Content::Secret, force_tty)?;
            }
            let list = |v: &[kms_client::fetch::Added]| -> Vec<serde_json::Value> {
                v.iter()
                    .map(
                        |a| json!({ "kind": a.kind, "serial": a.serial, "not_after": a.not_after }),
                    )
                    .collect()
            };
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": true, "pkcs12": p12, "added": list(&merged.added),
                            "unchanged": list(&merged.unchanged) })
                );
            } else if merged.added.is_empty() {
                println!(
                    "{} is up to date: it holds every certificate the authority serves for {email}",
                    p12.display()
                );
            } else {
                for a in &merged.added {
                    println!(
                        "added the {} certificate {} (valid until {}) for {email}",
                        a.kind,
                        a.serial,
                        rfc3339(a.not_after)
                    );
                }
                println!(
                    "updated {} (every key and older certificate kept)",
                    p12.display()
                );
            }
            Ok(0)
        }
        Command::Encrypt {
            to,
            to_email,
            server,
            ca_cert,
            algorithm: alg,
            force,
            min_algorithm,
            below_floor,
            oaep,
            input,
            output,
        } => {
            let mut certs = Vec::new();
            for path in &to {
                let bytes = files::read(path, "recipient certificate")?;
                certs.push(
                    pki::certificate::parse_certificate(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                );
            }
            let ca = ca_cert
                .map(|p| files::read(&p, "CA certificate"))
                .transpose()?;
            if !to_email.is_empty() && server.is_none() {
                return Err(Error::Usage(
                    "--to-email needs the authority's URL: give --server URL or set KMS_URL".into(),
                )
                .into());
            }
            for email in &to_email {
                let server = server.as_deref().unwrap_or_default();
                certs.push(kms_client::server::lookup(server, ca.as_deref(), email)?);
            }
            let policy = Policy {
                floor: min_algorithm.as_deref().map(algorithm).transpose()?,
                below_floor: match below_floor {
                    FloorPolicy::Refuse => BelowFloor::Refuse,
                    FloorPolicy::Skip => BelowFloor::Skip,
                },
                forced: if alg == "auto" {
                    None
                } else {
                    Some(algorithm(&alg)?)
                },
                force,
            };
            let options = EncryptOptions {
                key_transport: if oaep {
                    KeyTransport::RsaOaep
                } else {
                    KeyTransport::RsaPkcs1v15
                },
                ..EncryptOptions::default()
            };
            let msg = files::read(&input, "message")?;
            let out = match message::encrypt(&msg, &certs, &[], &policy, &options) {
                Err(e)
                    if e.downcast_ref::<pki::Error>()
                        .is_some_and(|p| p.code() == "PKI-083") =>
                {
                    return Err(e.context("add --force to use it for them anyway"));
                }
                r => r?,
            };
            files::write(&output, &out.message, Content::Public, force_tty)?;
            let n = &out.negotiation;
            let say = Say::new(Some(&output));
            // A malformed non-critical extension is ignored, but the user hears of it.
            for w in &out.warnings {
                eprintln!("lockbox: warning: {w}");
            }
            if cli.json {
                say.line(json!({ "ok": true, "algorithm": n.algorithm.name(), "recipients": n.recipients,
                            "forced_weaker": n.forced_weaker, "skipped": n.skipped, "assumed": n.assumed,
                            "overridden": n.overridden, "warnings": out.warnings }));
            } else {
                say.line(format_args!(
                    "encrypted with {} for {}",
                    n.algorithm,
                    n.recipients.join(", ")
                ));
                if !n.forced_weaker.is_empty() {
                    say.line(format_args!(
                        "weaker algorithm forced by: {}",
                        n.forced_weaker.join(", ")
                    ));
                }
                if !n.skipped.is_empty() {
                    say.line(format_args!(
                        "skipped (below the floor): {}",
                        n.skipped.join(", ")
                    ));
                }
                if !n.assumed.is_empty() {
                    say.line(format_args!(
                        "no capabilities published ({}): {}",
                        if policy.forced.is_some() {
                            "the algorithm asked for is used"
                        } else {
                            "assumed aes256, RFC 8551"
                        },
                        n.assumed.join(", ")
                    ));
                }
                if !n.overridden.is_empty() {
                    say.line(format_args!(
                        "{} used despite their published capabilities (--force): {}",
                        n.algorithm,
                        n.overridden.join(", ")
                    ));
                }
            }
            Ok(0)
        }
        Command::Decrypt {
            p12,
            password_stdin: _,
            no_password,
            input,
            output,
        } => {
            let ring = keyring(&p12, no_password)?;
            let msg = files::read(&input, "message")?;
            let d = message::decrypt(&msg, &ring)?;
            files::write(&output, &d.message, Content::Private, force_tty)?;
            let say = Say::new(Some(&output));
            if cli.json {
                say.line(
                    json!({ "ok": true, "algorithm": d.algorithm.name(), "recipient": d.recipient }),
                );
            } else {
                say.line(format_args!(
                    "decrypted ({}) with the key of {}",
                    d.algorithm, d.recipient
                ));
            }
            Ok(0)
        }
        Command::Sign {
            p12,
            password_stdin: _,
            no_password,
            digest,
            opaque,
            input,
            output,
        } => {
            let digest: DigestAlgorithm = digest.parse()?;
            let ring = keyring(&p12, no_password)?;
            let msg = files::read(&input, "message")?;
            let request = SignRequest {
                digest,
                opaque,
                signing_time: SystemTime::now(),
            };
            let out = message::sign(&msg, &ring, &request)?;
            files::write(&output, &out, Content::Public, force_tty)?;
            let say = Say::new(Some(&output));
            if cli.json {
                say.line(json!({ "ok": true, "digest": digest.name(), "opaque": opaque }));
            } else {
                say.line(format_args!(
                    "signed with {digest} ({})",
                    if opaque { "opaque" } else { "multipart/signed" }
                ));
            }
            Ok(0)
        }
        Command::Verify {
            ca,
            untrusted,
            crl,
            at,
            allow_legacy,
            revocation,
            crl_cache: cache_dir,
            input,
            output,
        } => {
            let mut anchors = Vec::new();
            for p in &ca {
                anchors.extend(
                    pki::certificate::parse_certificates(&files::read(p, "CA certificate")?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                );
            }
            let mut extra = Vec::new();
            for p in &untrusted {
                extra.extend(
                    pki::certificate::parse_certificates(&files::read(p, "certificate")?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                );
            }
            let mut crls = Vec::new();
            let crl = if revocation == Revocation::Off {
                Vec::new()
            } else {
                crl
            };
            for p in &crl {
                // Lenient: a CRL with an unknown critical extension is kept, and the validator
                // reports revocation status unknown for what it covers.
                crls.push(
                    pki::crl::Crl::parse_lenient(&files::read(p, "CRL")?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                );
            }
            let time = match at {
                Some(s) => parse_time(&s)?,
                None => SystemTime::now(),
            };
            let msg = files::read(&input, "message")?;
            // The CRL cache, refreshed where stale (the network permitting).
            let mut notes: Vec<String> = Vec::new();
            let cache = if revocation == Revocation::Off {
                None
            } else {
                crl_cache::CrlCache::open(cache_dir.as_deref()).ok()
            };
            let mut cached = Vec::new();
            if let Some(cache) = &cache {
                for (ca, fresh) in cache.refresh_stale(SystemTime::now()) {
                    if !fresh {
                        notes.push(format!(
                            "the cached CRL of {ca} is past its nextUpdate and could not be                              refreshed (run `lockbox crl sync` when online)"
                        ));
                    }
                }
                cached = cache.load();
            }
            crls.extend(cached.iter().map(|c| c.crl.clone()));
            let trust = Trust {
                anchors: &anchors,
                untrusted: &extra,
                crls: &crls,
                time,
                allow_legacy,
            };
            // OCSP when no fresh CRL is at hand (not with `--revocation off`).
            let mut report =
                message::verify_with_ocsp(&msg, &trust, revocation != Revocation::Off)?;
            notes.append(&mut report.notes);
            // Which cached CRLs speak for the signers, and how old they are.
            let now = SystemTime::now();
            let mut used = Vec::new();
            for c in &cached {
                if report
                    .signers
                    .iter()
                    .any(|s| s.issuer.as_deref() == Some(c.issuer.as_str()))
                {
                    used.push(json!({
                        "issuer": c.issuer, "delta": c.delta, "number": c.crl.number(),
                        "this_update": unix(c.crl.this_update()),
                        "this_update_rfc3339": rfc3339(unix(c.crl.this_update())),
                        "next_update": c.crl.next_update().map(unix),
                        "age_seconds": unix(now).saturating_sub(unix(c.crl.this_update())),
                    }));
                    notes.push(format!(
                        "revocation: the cached {} of {} (number {}) issued {} ago{}",
                        if c.delta { "delta CRL" } else { "CRL" },
                        c.issuer,
                        c.crl.number().map_or("-".into(), |n| n.to_string()),
                        crl_cache::age(c.crl.this_update(), now),
                        match c.crl.next_update() {
                            Some(n) if n < time => format!(
                                ", stale since {} (nextUpdate {})",
                                crl_cache::age(n, now),
                                rfc3339(unix(n))
                            ),
                            _ => String::new(),
                        }
                    ));
                }
            }
            // A foreign signer without any CRL: say how to give one.
            if let pki::verify::Verdict::RevocationUnknown {
                reason: pki::verify::UnknownReason::NoCrl { issuer },
                ..
            } = &report.verdict
                && !cache.as_ref().is_some_and(|c| c.knows_issuer(issuer))
            {
                notes.push(format!(
                    "hint: no CRL of {issuer} is known: give it with --crl FILE (or cache it with                      `lockbox crl sync --ca ITS-CA.pem`), or use --revocation prefer"
                ));
            }
            let mut revocation_warning = None;
            if revocation != Revocation::Require {
                let is_unknown = |v: &pki::verify::Verdict| {
                    matches!(v, pki::verify::Verdict::RevocationUnknown { .. })
                };
                if is_unknown(&report.verdict) {
                    if revocation == Revocation::Prefer {
                        revocation_warning =
                            Some(format!("revocation was not checked: {}", report.verdict));
                    }
                    report.verdict = pki::verify::Verdict::Valid;
                }
                for s in &mut report.signers {
                    if is_unknown(&s.verdict) {
                        s.verdict = pki::verify::Verdict::Valid;
                    }
                }
                if revocation == Revocation::Off {
                    notes.push("revocation not checked (--revocation off)".into());
                }
            }
            if let (Some(out), Some(content)) = (&output, &report.content) {
                files::write(out, content, Content::Private, force_tty)?;
            }
            let say = Say::new(output.as_deref());
            let code = report.verdict.exit_code();
            if cli.json {
                let signers: Vec<_> = report
                    .signers
                    .iter()
                    .map(|s| {
                        json!({ "signer": s.signer, "serial": s.serial,
                                "digest": s.digest.map(|d| d.name()),
                                "signing_time": s.signing_time.map(unix),
                                "verdict": s.verdict.name(), "detail": s.verdict.to_string() })
                    })
                    .collect();
                say.line(
                    json!({ "ok": true, "verdict": report.verdict.name(), "exit_code": code,
                            "detail": report.verdict.to_string(), "signers": signers,
                            "revocation": match revocation {
                                Revocation::Require => "require",
                                Revocation::Prefer => "prefer",
                                Revocation::Off => "off",
                            },
                            "revocation_warning": revocation_warning,
                            "cached_crls": used, "notes": notes }),
                );
                if let Some(w) = &revocation_warning {
                    eprintln!("lockbox: warning: {w}");
                }
            } else {
                for s in &report.signers {
                    let who = s.signer.as_deref().unwrap_or("unknown signer");
                    let digest = s.digest.map(|d| d.name()).unwrap_or("unknown digest");
                    say.line(format_args!("{who} ({digest}): {}", s.verdict));
                }
                for n in &notes {
                    say.line(n);
                }
                if let Some(w) = &revocation_warning {
                    eprintln!("lockbox: warning: {w}");
                }
                say.line(format_args!("verdict: {}", report.verdict.name()));
            }
            Ok(code)
        }
    }
}

/// The bytes of the bundle `--out` would replace: `None` for standard output, a new path, an
/// empty file, or something that is not a regular file (a FIFO, a device: written through).
fn existing_bundle(output: &std::path::Path) -> anyhow::Result<Option<Vec<u8>>> {
    if output.as_os_str() == "-" {
        return Ok(None);
    }
    match std::fs::metadata(output) {
        Ok(m) if m.is_file() && m.len() > 0 => Ok(Some(files::read(output, "PKCS#12 file")?)),
        _ => Ok(None),
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `secs` (Unix seconds) as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 in UTC).
fn parse_time(s: &str) -> anyhow::Result<SystemTime> {
    let bad = || anyhow::anyhow!("--at {s:?}: expected a UTC time like 2026-01-01T00:00:00Z");
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> anyhow::Result<i64> {
        s[r].parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 || y < 1970
    {
        return Err(bad());
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Ok(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).map_err(|_| bad())?))
}
