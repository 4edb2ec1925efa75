//! `login`, `logout` and `unlock`, and the session file the token is kept in.

use std::path::PathBuf;

use base64ct::Encoding;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::session::{LoginArgs, UnlockArgs};
use crate::output::{Failure, code, exit};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, outln};

/// Where the session token is kept: `KMS_SESSION_FILE`, or the user's config directory.
pub fn session_file() -> Result<PathBuf, Failure> {
    if let Some(p) = std::env::var_os("KMS_SESSION_FILE") {
        return Ok(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| Failure::local("cannot find a config directory: set KMS_SESSION_FILE"))?;
    Ok(base.join("kmsctl").join("session.json"))
}

/// The saved session token (exit 6 when there is none).
pub fn token() -> Result<Zeroizing<String>, Failure> {
    let path = session_file()?;
    let not_signed_in = |why: String| {
        Failure::new(code::NO_SESSION, format!("{why}: run kmsctl login")).exit(exit::NOT_SIGNED_IN)
    };
    let text =
        Zeroizing::new(std::fs::read_to_string(&path).map_err(|_| {
            not_signed_in(format!("not signed in (no session in {})", path.display()))
        })?);
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| not_signed_in(format!("the session file {} is damaged", path.display())))?;
    match v["token"].as_str() {
        Some(t) if !t.is_empty() => Ok(Zeroizing::new(t.to_string())),
        _ => Err(not_signed_in(format!(
            "the session file {} holds no token",
            path.display()
        ))),
    }
}

/// `kmsctl login`.
pub fn login(ctx: &Ctx, a: LoginArgs) -> Result<(), Failure> {
    let password = read_secret("password", a.password_stdin, false)?;
    let v = ctx.http.json(
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"name": a.admin, "password": password.as_str()})),
    )?;
    let path = session_file()?;
    let saved = Zeroizing::new(
        serde_json::to_vec(&json!({"server": ctx.http.base, "token": v["token"],
                                   "expires_at": v["expires_at"]}))
        .map_err(|e| Failure::local(e.to_string()))?,
    );
    write_private(&path, &saved)?;
    let out = json!({"admin": v["admin"], "expires_at": v["expires_at"], "session_file": path});
    ctx.print(&out, |v| {
        outln!(
            "signed in as {}; session kept in {} until {}",
            a.admin,
            path.display(),
            crate::output::when(&v["expires_at"])
        )
    });
    Ok(())
}

/// `kmsctl logout`: the session file is removed even when the server refuses.
pub fn logout(ctx: &Ctx) -> Result<(), Failure> {
    let token = token()?;
    let result = ctx.http.json("POST", "/api/v1/logout", Some(&token), None);
    let _ = std::fs::remove_file(session_file()?);
    let v = result?;
    ctx.print(&v, |_| outln!("signed out"));
    Ok(())
}

/// `kmsctl unlock`.
pub fn unlock(ctx: &Ctx, a: UnlockArgs) -> Result<(), Failure> {
    let body = match a.key_file {
        Some(path) => {
            let bytes = Zeroizing::new(
                std::fs::read(&path)
                    .map_err(|e| Failure::local(format!("reading {}: {e}", path.display())))?,
            );
            json!({"key_file": base64ct::Base64::encode_string(&bytes)})
        }
        None => {
            json!({"password": read_secret("start-up password", a.password_stdin, false)?.as_str()})
        }
    };
    let v = ctx.http.json("POST", "/api/v1/unlock", None, Some(body))?;
    ctx.print(&v, |_| outln!("the authority is unlocked"));
    Ok(())
}
