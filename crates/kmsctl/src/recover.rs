//! `kmsctl recover-key`: every escrowed encryption key of a user into one PKCS#12 file.

use std::path::PathBuf;

use api::{RecoverRequest, Recovered, Secret};
use base64ct::Encoding;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::recover::RecoverArgs;
use crate::http::fail;
use crate::output::{Failure, code, when_opt};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, errln, outln};

/// What `recover-key --json` prints (the bundle went to the file).
#[derive(Serialize)]
struct Written {
    written: PathBuf,
    keys: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<i64>,
}

/// Runs `recover-key` (exit 3 while the recover-key quorum waits).
pub fn run(ctx: &Ctx, a: RecoverArgs) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    crate::output::check_secret_destination(&a.out, ctx.force_tty)?;
    let password = Secret::new(read_secret("bundle password", a.password_stdin, true)?.as_str());
    let r: Recovered = client
        .recover(
            &a.email,
            &RecoverRequest {
                password,
                reenroll: a.reenroll,
                why: a.why.clone(),
            },
        )
        .map_err(fail)?;
    let p12 = Zeroizing::new(
        base64ct::Base64::decode_vec(r.pkcs12.expose())
            .map_err(|_| Failure::new(code::ANSWER, "the server's bundle is not base64"))?,
    );
    write_private(&a.out, &p12, ctx.force_tty)?;
    let shown = Written {
        written: a.out.clone(),
        keys: r.keys,
        status: "done",
        enrollment_token: r.enrollment_token,
        token_expires_at: r.token_expires_at,
    };
    ctx.show_beside(
        &a.out,
        &shown,
        |w| {
            outln!(
                "wrote {} ({} encryption keys of {})",
                w.written.display(),
                w.keys,
                a.email
            );
            if let Some(t) = &w.enrollment_token {
                outln!(
                    "enrollment token for {}, shown once, valid until {}: {}",
                    a.email,
                    when_opt(w.token_expires_at),
                    t.expose()
                );
            }
        },
        |w| {
            // The bundle is on standard output: what the person needs goes to standard error.
            if let Some(t) = &w.enrollment_token {
                errln!(
                    "enrollment token for {}, shown once, valid until {}: {}",
                    a.email,
                    when_opt(w.token_expires_at),
                    t.expose()
                );
            }
        },
    );
    Ok(())
}
