//! `login`, `logout` and `unlock`, and the session file the token is kept in.

use std::path::PathBuf;

use api::{Secret, UnlockRequest};
use base64ct::Encoding;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli::session::{LoginArgs, UnlockArgs};
use crate::http::fail;
use crate::output::{Failure, code, exit, when};
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

/// The session file's content (only the token is needed to read it back).
#[derive(Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    server: String,
    token: Secret,
    #[serde(default)]
    expires_at: i64,
}

/// The saved session token (exit 6 when there is none).
pub fn token() -> Result<Secret, Failure> {
    let path = session_file()?;
    let not_signed_in = |why: String| {
        Failure::new(code::NO_SESSION, format!("{why}: run kmsctl login")).exit(exit::NOT_SIGNED_IN)
    };
    let text =
        Zeroizing::new(std::fs::read_to_string(&path).map_err(|_| {
            not_signed_in(format!("not signed in (no session in {})", path.display()))
        })?);
    let saved: Saved = serde_json::from_str(&text)
        .map_err(|_| not_signed_in(format!("the session file {} is damaged", path.display())))?;
    if saved.token.expose().is_empty() {
        return Err(not_signed_in(format!(
            "the session file {} holds no token",
            path.display()
        )));
    }
    Ok(saved.token)
}

/// What `login --json` prints.
#[derive(Serialize)]
struct SignedIn {
    admin: api::Admin,
    expires_at: i64,
    session_file: PathBuf,
}

/// `kmsctl login`.
pub fn login(ctx: &Ctx, a: LoginArgs) -> Result<(), Failure> {
    let password = read_secret("password", a.password_stdin, false)?;
    let r = ctx
        .client
        .login_with_totp(
            &a.admin,
            &Secret::new(password.as_str()),
            a.totp.as_deref().map(Secret::new).as_ref(),
        )
        .map_err(fail)?;
    let path = session_file()?;
    let saved = Zeroizing::new(
        serde_json::to_vec(&Saved {
            server: ctx.client.base_url().to_string(),
            token: r.token.clone(),
            expires_at: r.expires_at,
        })
        .map_err(|e| Failure::local(e.to_string()))?,
    );
    write_private(&path, &saved, false)?;
    let shown = SignedIn {
        admin: r.admin,
        expires_at: r.expires_at,
        session_file: path,
    };
    ctx.show(&shown, |s| {
        outln!(
            "signed in as {}; session kept in {} until {}",
            a.admin,
            s.session_file.display(),
            when(s.expires_at)
        )
    });
    Ok(())
}

/// `kmsctl logout`: the session file is removed even when the server refuses.
pub fn logout(ctx: &Ctx) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    let result = client.logout();
    let _ = std::fs::remove_file(session_file()?);
    let r = result.map_err(fail)?;
    ctx.show(&r, |_| outln!("signed out"));
    Ok(())
}

/// `kmsctl unlock`.
pub fn unlock(ctx: &Ctx, a: UnlockArgs) -> Result<(), Failure> {
    let req = match a.key_file {
        Some(path) => {
            let bytes = Zeroizing::new(
                std::fs::read(&path)
                    .map_err(|e| Failure::local(format!("reading {}: {e}", path.display())))?,
            );
            UnlockRequest {
                password: None,
                key_file: Some(Secret::new(base64ct::Base64::encode_string(&bytes))),
            }
        }
        None => UnlockRequest {
            password: Some(Secret::new(
                read_secret("start-up password", a.password_stdin, false)?.as_str(),
            )),
            key_file: None,
        },
    };
    let r = ctx.client.unlock(&req).map_err(fail)?;
    ctx.show(&r, |_| outln!("the authority is unlocked"));
    Ok(())
}
