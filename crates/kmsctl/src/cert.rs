//! `kmsctl cert …`: search certificates and show one in full.

use crate::cli::cert::CertCommand;
use crate::http::{enc, query_string};
use crate::output::{Failure, Table, fields, list, num, s, when};
use crate::secrets::write_public;
use crate::{Ctx, errln, outln, session};

/// Runs one `cert` subcommand.
pub fn run(ctx: &Ctx, cmd: CertCommand) -> Result<(), Failure> {
    let token = session::token()?;
    let http = &ctx.http;
    match cmd {
        CertCommand::List {
            email,
            serial,
            status,
            kind,
            limit,
            offset,
        } => {
            let q = query_string(&[
                ("email", email),
                ("serial", serial),
                ("status", status),
                ("kind", kind),
                ("limit", Some(limit.to_string())),
                ("offset", Some(offset.to_string())),
            ]);
            let v = http.get(&format!("/api/v1/certificates{q}"), &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["serial", "owner", "kind", "status", "expires"]);
                for c in v["certificates"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(&c["serial"], "").into(),
                        s(&c["email"], "-").into(),
                        s(&c["kind"], "").into(),
                        s(&c["status"], "").into(),
                        when(&c["not_after"]),
                    ]);
                }
                t.print_or("no certificates match");
                let shown = v["certificates"].as_array().map_or(0, Vec::len);
                errln!("{shown} of {} shown", num(&v["total"]));
            });
        }
        CertCommand::Show { serial, out } => {
            let v = http.get(&format!("/api/v1/certificates/{}", enc(&serial)), &token)?;
            if let Some(out) = &out {
                let der = http.call(
                    "GET",
                    &format!("/api/v1/certificates/{}/der", enc(&serial)),
                    Some(&token),
                    None,
                )?;
                write_public(out, &der)?;
            }
            ctx.print(&v, |v| {
                let mut rows: Vec<(&str, String)> = [
                    ("serial", "serial"),
                    ("subject", "subject"),
                    ("issuer", "issuer"),
                    ("kind", "kind"),
                    ("status", "status"),
                    ("SHA-256", "sha256_fingerprint"),
                ]
                .into_iter()
                .map(|(label, key)| (label, s(&v[key], "").to_string()))
                .collect();
                rows.push(("valid from", when(&v["not_before"])));
                rows.push(("valid until", when(&v["not_after"])));
                rows.push(("key usage", list(&v["key_usage"])));
                rows.push(("extended key usage", list(&v["extended_key_usage"])));
                rows.push(("e-mail", list(&v["emails"])));
                rows.push(("capabilities", list(&v["capabilities"])));
                if let Some(r) = v["revocation_reason"].as_str() {
                    rows.push(("revoked", format!("{r}, {}", when(&v["revoked_at"]))));
                }
                outln!("{}", fields(&rows).trim_end());
            });
        }
    }
    Ok(())
}
