//! `kmsctl recover-key`: every escrowed encryption key of a user into one PKCS#12 file.

use base64ct::Encoding;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::recover::RecoverArgs;
use crate::http::{enc, parse};
use crate::output::{Failure, code, num, s, when};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, outln, session};

/// Runs `recover-key` (exit 3 while the recover-key quorum waits).
pub fn run(ctx: &Ctx, a: RecoverArgs) -> Result<(), Failure> {
    let token = session::token()?;
    let password = read_secret("bundle password", a.password_stdin, true)?;
    let mut body = json!({"password": password.as_str(), "reenroll": a.reenroll});
    if let Some(why) = &a.why {
        body["why"] = json!(why);
    }
    // The answer carries the keys: kept in zeroizing memory.
    let raw = Zeroizing::new(ctx.http.call(
        "POST",
        &format!("/api/v1/users/{}/recover", enc(&a.email)),
        Some(&token),
        Some(body),
    )?);
    let v = parse(&raw)?;
    let p12 = Zeroizing::new(
        base64ct::Base64::decode_vec(s(&v["pkcs12"], ""))
            .map_err(|_| Failure::new(code::ANSWER, "the server's bundle is not base64"))?,
    );
    write_private(&a.out, &p12)?;
    let mut shown = json!({"written": a.out, "keys": v["keys"], "status": "done"});
    if let Some(t) = v.get("enrollment_token") {
        shown["enrollment_token"] = t.clone();
        shown["token_expires_at"] = v["token_expires_at"].clone();
    }
    ctx.print(&shown, |sh| {
        outln!(
            "wrote {} ({} encryption keys of {})",
            a.out.display(),
            num(&sh["keys"]),
            a.email
        );
        if let Some(t) = sh["enrollment_token"].as_str() {
            outln!(
                "enrollment token for {} (shown once, expires {}): {t}",
                a.email,
                when(&sh["token_expires_at"])
            );
        }
    });
    Ok(())
}
