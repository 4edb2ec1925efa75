//! `kmsctl revoke`: a user's certificates, one by serial, or many listed in a file (one
//! bulk call). Revoking more than one certificate asks for confirmation.

use std::io::Read as _;

use api::{BulkRevokeRequest, ClientError, RevocationReason, RevokeRequest};

use crate::cli::revoke::RevokeArgs;
use crate::http::fail;
use crate::output::Failure;
use crate::secrets::confirm;
use crate::{Ctx, outln};

/// Runs `revoke`.
pub fn run(ctx: &Ctx, a: RevokeArgs) -> Result<(), Failure> {
    if a.serials_from.is_some() || a.emails_from.is_some() {
        return bulk(ctx, a);
    }
    let client = ctx.signed_in()?;
    let mut confirmed = a.yes;
    if let Some(email) = &a.email {
        // How many would go: more than one asks first. An unknown user is left to the
        // server's answer below.
        match client.user(email) {
            Ok(u) => {
                let live = u
                    .certificates
                    .iter()
                    .filter(|c| c.revoked.is_none())
                    .count();
                if live > 1 {
                    confirm(
                        &format!("Revoke all {live} unrevoked certificates of {email}?"),
                        a.yes,
                    )?;
                    confirmed = true;
                }
            }
            Err(ClientError::Api { status: 404, .. }) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let r = client
        .revoke(&RevokeRequest {
            email: a.email,
            serial: a.serial,
            reason: a.reason.as_deref().map(RevocationReason::parse),
            confirm: confirmed,
        })
        .map_err(fail)?;
    ctx.show(&r, |r| {
        for serial in &r.revoked {
            outln!("revoked {serial} ({})", r.reason);
        }
        for serial in &r.already_revoked {
            outln!("{serial} was revoked already (left as it was)");
        }
        match (r.crl_number, r.crl_published_at) {
            (Some(n), Some(at)) if !r.crl_pending => {
                outln!("listed in CRL {n}, published {}", crate::output::when(at))
            }
            (n, _) => outln!(
                "the CRL that lists it{} is not published yet: the server re-signs it as soon \
                 as it can (GET /healthz reports the lag meanwhile)",
                n.map(|n| format!(" (number {n})")).unwrap_or_default()
            ),
        }
    });
    Ok(())
}

/// `revoke --serials-from FILE` / `--emails-from FILE`: one bulk call, after confirmation.
fn bulk(ctx: &Ctx, a: RevokeArgs) -> Result<(), Failure> {
    let (file, what) = match (&a.serials_from, &a.emails_from) {
        (Some(f), None) => (f.as_str(), "serials"),
        (None, Some(f)) => (f.as_str(), "addresses"),
        _ => {
            return Err(Failure::usage(
                "give one of --serials-from or --emails-from",
            ));
        }
    };
    let entries = read_list(file)?;
    if entries.is_empty() {
        return Err(Failure::usage(format!("{file} lists no {what}")));
    }
    let client = ctx.signed_in()?;
    let shown = if file == "-" { "standard input" } else { file };
    confirm(
        &format!(
            "Revoke the certificates of the {} {what} listed in {shown}?",
            entries.len()
        ),
        a.yes,
    )?;
    let (serials, emails) = match what {
        "serials" => (Some(entries), None),
        _ => (None, Some(entries)),
    };
    let r = client
        .revoke_bulk(&BulkRevokeRequest {
            serials,
            emails,
            reason: a.reason.as_deref().map(RevocationReason::parse),
            confirm: true,
        })
        .map_err(fail)?;
    ctx.show(&r, |r| {
        outln!(
            "revoked {} certificates ({}); {} were revoked already (left as they were)",
            r.revoked,
            r.reason,
            r.already_revoked
        );
        if !r.not_found.is_empty() {
            outln!(
                "not found ({}): {}",
                r.not_found.len(),
                r.not_found.join(" ")
            );
        }
        match r.crl_published_at {
            Some(at) if !r.crl_pending => outln!(
                "listed in CRL {}, published {}",
                r.crl_number,
                crate::output::when(at)
            ),
            _ => outln!(
                "the CRL that lists them (number {}) is not published yet: the server re-signs \
                 it as soon as it can (GET /healthz reports the lag meanwhile)",
                r.crl_number
            ),
        }
    });
    Ok(())
}

/// The entries of a list file: one a line, blank lines and `#` comments skipped; `-` is
/// standard input.
fn read_list(file: &str) -> Result<Vec<String>, Failure> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::local(format!("reading standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| Failure::local(format!("reading {file}: {e}")))?;
    }
    Ok(parse_list(&text))
}

fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_once('#').map_or(l, |(before, _)| before).trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_list;

    #[test]
    fn list_files_skip_comments_and_blank_lines() {
        let text = "# departing division\n0a1b\n\n  2c3d  # laptop\n#4e5f\n6a";
        assert_eq!(parse_list(text), vec!["0a1b", "2c3d", "6a"]);
    }
}
