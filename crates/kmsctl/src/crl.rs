//! `kmsctl crl` and `kmsctl ca-cert`: the authority's public documents, fetched without a
//! session.

use std::path::PathBuf;

use base64ct::Encoding;
use serde::Serialize;

use crate::cli::crl::{CaCertArgs, CrlArgs};
use crate::http::fail;
use crate::output::Failure;
use crate::secrets::write_public;
use crate::{Ctx, outln};

/// What `--json` prints: the file written (and its size).
#[derive(Serialize)]
struct Written {
    written: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
}

/// `kmsctl crl --out FILE [--pem] [--delta]` (`-`: standard output).
pub fn crl(ctx: &Ctx, a: CrlArgs) -> Result<(), Failure> {
    // The public URLs, so that the plain-HTTP public listener serves them too.
    let der = if a.delta {
        ctx.client.delta_crl()
    } else {
        ctx.client.crl()
    }
    .map_err(fail)?;
    let data = if a.pem {
        pem_encode("X509 CRL", &der).into_bytes()
    } else {
        der
    };
    write_public(&a.out, &data)?;
    let shown = Written {
        written: a.out,
        bytes: Some(data.len()),
    };
    ctx.show_beside(
        &shown.written.clone(),
        &shown,
        |w| outln!("wrote {}", w.written.display()),
        |_| {},
    );
    Ok(())
}

/// `kmsctl ca-cert --out FILE` (`-`: standard output).
pub fn ca_cert(ctx: &Ctx, a: CaCertArgs) -> Result<(), Failure> {
    let pem = ctx.client.ca_pem().map_err(fail)?;
    write_public(&a.out, pem.as_bytes())?;
    let shown = Written {
        written: a.out,
        bytes: None,
    };
    ctx.show_beside(
        &shown.written.clone(),
        &shown,
        |w| outln!("wrote {}", w.written.display()),
        |_| {},
    );
    Ok(())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64ct::Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
