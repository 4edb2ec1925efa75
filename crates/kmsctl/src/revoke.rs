//! `kmsctl revoke`: a user's certificates, or one by serial. Revoking more than one
//! certificate asks for confirmation.

use serde_json::json;

use crate::cli::revoke::RevokeArgs;
use crate::http::enc;
use crate::output::{Failure, s};
use crate::secrets::confirm;
use crate::{Ctx, outln, session};

/// Runs `revoke`.
pub fn run(ctx: &Ctx, a: RevokeArgs) -> Result<(), Failure> {
    let token = session::token()?;
    let mut body = json!({});
    if let Some(email) = &a.email {
        // How many would go: more than one asks first. An unknown user is left to the
        // server's answer below.
        if let Ok(u) = ctx
            .http
            .get(&format!("/api/v1/users/{}", enc(email)), &token)
        {
            let live = u["certificates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["revoked"].is_null())
                .count();
            if live > 1 {
                confirm(
                    &format!("Revoke all {live} unrevoked certificates of {email}?"),
                    a.yes,
                )?;
            }
        }
        body["email"] = json!(email);
    }
    if let Some(serial) = &a.serial {
        body["serial"] = json!(serial);
    }
    if let Some(r) = &a.reason {
        body["reason"] = json!(r);
    }
    let v = ctx.http.post("/api/v1/revoke", &token, Some(body))?;
    ctx.print(&v, |v| {
        for serial in v["revoked"].as_array().into_iter().flatten() {
            outln!("revoked {} ({})", s(serial, ""), s(&v["reason"], ""));
        }
    });
    Ok(())
}
