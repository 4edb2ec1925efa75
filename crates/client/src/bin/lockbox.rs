//! `lockbox`: the user's S/MIME tool. Encrypts for recipients with the negotiated algorithm,
//! decrypts with any of the user's keys, signs and verifies, on `.eml` files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use kms_client::keyring::Keyring;
use kms_client::message::{self, SignRequest, Trust};
use kms_client::{files, secret};
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
  15  verify: revocation status unknown (no CRL, or the CRL is stale or badly signed)";

#[derive(Parser)]
#[command(name = "lockbox", version, about = "S/MIME encryption, signing and verification", after_help = EXIT_CODES)]
struct Cli {
    /// Print the result as JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
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

#[derive(Subcommand)]
enum Command {
    /// Encrypt a message for one or more recipients ("lockbox" hybrid encryption).
    Encrypt {
        /// A recipient's encryption certificate (PEM or DER); repeat for more recipients.
        #[arg(long = "to", value_name = "CERT", required_unless_present = "to_email")]
        to: Vec<PathBuf>,
        /// A recipient looked up in the authority's directory (needs --server); repeatable.
        #[arg(long = "to-email", value_name = "EMAIL", requires = "server")]
        to_email: Vec<String>,
        /// The authority's URL, for --to-email.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Trust the authority's HTTPS certificate when it chains to this CA (PEM).
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
        /// `auto` negotiates the strongest algorithm every recipient supports; or a name:
        /// aes256-gcm, aes128-gcm, aes256, aes192, aes128, 3des, cast128, rc2-128, cast64,
        /// rc2-64, des, cast40, rc2-40.
        #[arg(long, default_value = "auto")]
        algorithm: String,
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
        /// Where to write the encrypted message.
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
    },
    /// Enroll with the authority: makes the signing key here, collects both certificates
    /// and the escrowed encryption key, and writes the PKCS#12 under your password.
    Enroll {
        /// The authority's URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// Your e-mail address.
        #[arg(long)]
        email: String,
        /// Trust the authority's HTTPS certificate when it chains to this CA (PEM).
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
        /// A file holding the one-time enrollment token (or set KMS_ENROLL_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Where to write the PKCS#12 file (created readable by its owner only).
        #[arg(long = "out", value_name = "FILE")]
        output: PathBuf,
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
        #[arg(long, value_name = "URL")]
        server: String,
        /// The CA certificate (PEM) to trust for HTTPS and to check the certificates against
        /// (default: the CA certificates in the PKCS#12 file; HTTPS then needs it too).
        #[arg(long, value_name = "FILE")]
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
        /// Where to write the decrypted message (created readable by its owner only).
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
        /// Where to write the signed message.
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
        /// The signed message.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Also write the signed content here.
        #[arg(long = "out", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                println!("{}", json!({ "ok": false, "error": format!("{e:#}") }));
            }
            eprintln!("lockbox: {e:#}");
            ExitCode::from(1)
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
    Keyring::from_pkcs12(&bytes, &password).map_err(|e| anyhow::anyhow!("{}: {e:#}", p12.display()))
}

fn algorithm(name: &str) -> anyhow::Result<ContentAlgorithm> {
    Ok(name.parse::<ContentAlgorithm>()?)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Enroll {
            server,
            email,
            ca_cert,
            token_file,
            output,
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
            let ca = ca_cert
                .map(|p| files::read(&p, "CA certificate"))
                .transpose()?;
            let e = kms_client::server::enroll(&server, ca.as_deref(), &email, &token, &password)?;
            files::write_atomic(&output, &e.pkcs12, true)?;
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": true, "pkcs12": output, "signing_serial": e.signing_serial,
                            "encryption_serial": e.encryption_serial })
                );
            } else {
                println!(
                    "enrolled {email}: keys and certificates in {}",
                    output.display()
                );
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
            let contents = pki::pkcs12::parse(&bytes, &password)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p12.display()))?;
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
                files::write_atomic(&p12, new, true)?;
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
            let out = message::encrypt(&msg, &certs, &[], &policy, &options)?;
            files::write_atomic(&output, &out.message, false)?;
            let n = &out.negotiation;
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": true, "algorithm": n.algorithm.name(), "recipients": n.recipients,
                            "forced_weaker": n.forced_weaker, "skipped": n.skipped, "assumed": n.assumed })
                );
            } else {
                println!(
                    "encrypted with {} for {}",
                    n.algorithm,
                    n.recipients.join(", ")
                );
                if !n.forced_weaker.is_empty() {
                    println!("weaker algorithm forced by: {}", n.forced_weaker.join(", "));
                }
                if !n.skipped.is_empty() {
                    println!("skipped (below the floor): {}", n.skipped.join(", "));
                }
                if !n.assumed.is_empty() {
                    println!(
                        "no capabilities published, assumed 3des: {}",
                        n.assumed.join(", ")
                    );
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
            files::write_atomic(&output, &d.message, true)?;
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": true, "algorithm": d.algorithm.name(), "recipient": d.recipient })
                );
            } else {
                println!(
                    "decrypted ({}) with the key of {}",
                    d.algorithm, d.recipient
                );
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
            files::write_atomic(&output, &out, false)?;
            if cli.json {
                println!(
                    "{}",
                    json!({ "ok": true, "digest": digest.name(), "opaque": opaque })
                );
            } else {
                println!(
                    "signed with {digest} ({})",
                    if opaque { "opaque" } else { "multipart/signed" }
                );
            }
            Ok(0)
        }
        Command::Verify {
            ca,
            untrusted,
            crl,
            at,
            allow_legacy,
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
            let trust = Trust {
                anchors: &anchors,
                untrusted: &extra,
                crls: &crls,
                time,
                allow_legacy,
            };
            let report = message::verify(&msg, &trust)?;
            if let (Some(out), Some(content)) = (&output, &report.content) {
                files::write_atomic(out, content, true)?;
            }
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
                println!(
                    "{}",
                    json!({ "ok": true, "verdict": report.verdict.name(), "exit_code": code,
                            "detail": report.verdict.to_string(), "signers": signers })
                );
            } else {
                for s in &report.signers {
                    let who = s.signer.as_deref().unwrap_or("unknown signer");
                    let digest = s.digest.map(|d| d.name()).unwrap_or("unknown digest");
                    println!("{who} ({digest}): {}", s.verdict);
                }
                println!("verdict: {}", report.verdict.name());
            }
            Ok(code)
        }
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
