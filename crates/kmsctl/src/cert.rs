//! `kmsctl cert …`: search certificates and show one in full.

use api::CertListQuery;

use crate::cli::cert::CertCommand;
use crate::http::fail;
use crate::output::{Failure, Table, fields, joined, when, when_opt};
use crate::secrets::write_public;
use crate::{Ctx, errln, outln};

/// Runs one `cert` subcommand.
pub fn run(ctx: &Ctx, cmd: CertCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        CertCommand::List {
            email,
            serial,
            status,
            kind,
            limit,
            offset,
        } => {
            let query = CertListQuery {
                email,
                serial,
                status,
                kind,
                limit: Some(limit),
                offset: Some(offset),
                ..CertListQuery::default()
            };
            let r = client.certificates(&query).map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&["serial", "owner", "kind", "status", "expires"]);
                for c in &r.certificates {
                    t.row(vec![
                        c.serial.clone(),
                        c.email.clone().unwrap_or_else(|| "-".into()),
                        c.kind.to_string(),
                        c.status.to_string(),
                        when(c.not_after),
                    ]);
                }
                t.print_or("no certificates match");
                errln!("{} of {} shown", r.certificates.len(), r.total);
            });
        }
        CertCommand::Lint { file, profile } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::local(format!("{}: {e}", file.display())))?;
            let certificate = match std::str::from_utf8(&bytes) {
                Ok(text) if text.contains("-----BEGIN") => text.to_string(),
                _ => {
                    use base64ct::Encoding;
                    base64ct::Base64::encode_string(&bytes)
                }
            };
            let r = client
                .lint(&api::LintRequest {
                    certificate,
                    profile,
                })
                .map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "{}: {} certificate, profile {}",
                    file.display(),
                    r.kind,
                    r.profile.as_deref().unwrap_or("(none named)")
                );
                for f in &r.findings {
                    outln!("{} {}: {}", f.severity, f.rule, f.message);
                }
                if r.findings.is_empty() {
                    outln!("no findings");
                }
            });
            if !r.passes {
                let first = r
                    .findings
                    .iter()
                    .find(|f| f.severity == "ERROR")
                    .map(|f| format!("{}: {}", f.rule, f.message))
                    .unwrap_or_default();
                return Err(Failure::new("PKI-120", first).printed());
            }
        }
        CertCommand::Show { serial, out } => {
            let r = client.certificate(&serial).map_err(fail)?;
            if let Some(out) = &out {
                let der = client.certificate_der(&serial).map_err(fail)?;
                write_public(out, &der)?;
                if crate::output::is_stdout(out) {
                    // The DER went to standard output: the summary stays off it.
                    return Ok(());
                }
            }
            ctx.show(&r, |r| {
                let s = &r.summary;
                let mut rows: Vec<(&str, String)> = vec![
                    ("serial", s.serial.clone()),
                    ("subject", r.subject.clone()),
                    ("issuer", r.issuer.clone()),
                    ("kind", s.kind.to_string()),
                    ("status", s.status.to_string()),
                    ("SHA-256", r.sha256_fingerprint.clone()),
                    ("valid from", when(s.not_before)),
                    ("valid until", when(s.not_after)),
                    ("key usage", joined(&r.key_usage)),
                    ("extended key usage", joined(&r.extended_key_usage)),
                    ("e-mail", joined(&r.emails)),
                    ("capabilities", joined(&r.capabilities)),
                ];
                if let Some(reason) = &s.revocation_reason {
                    rows.push(("revoked", format!("{reason}, {}", when_opt(r.revoked_at))));
                }
                outln!("{}", fields(&rows).trim_end());
            });
        }
    }
    Ok(())
}
