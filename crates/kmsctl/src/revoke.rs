//! `kmsctl revoke`: a user's certificates, or one by serial. Revoking more than one
//! certificate asks for confirmation.

use api::{ClientError, RevocationReason, RevokeRequest};

use crate::cli::revoke::RevokeArgs;
use crate::http::fail;
use crate::output::Failure;
use crate::secrets::confirm;
use crate::{Ctx, outln};

/// Runs `revoke`.
pub fn run(ctx: &Ctx, a: RevokeArgs) -> Result<(), Failure> {
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
