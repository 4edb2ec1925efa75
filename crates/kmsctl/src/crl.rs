//! `kmsctl crl` and `kmsctl ca-cert`: the authority's public documents, fetched without a
//! session.

use base64ct::Encoding;
use serde_json::json;

use crate::cli::crl::{CaCertArgs, CrlArgs};
use crate::output::Failure;
use crate::secrets::write_public;
use crate::{Ctx, outln};

/// `kmsctl crl --out FILE [--pem] [--delta]`.
pub fn crl(ctx: &Ctx, a: CrlArgs) -> Result<(), Failure> {
    let der = ctx.http.call(
        "GET",
        if a.delta { "/crl/delta" } else { "/crl" },
        None,
        None,
    )?;
    let data = if a.pem {
        pem_encode("X509 CRL", &der).into_bytes()
    } else {
        der
    };
    write_public(&a.out, &data)?;
    ctx.print(&json!({"written": a.out, "bytes": data.len()}), |_| {
        outln!("wrote {}", a.out.display())
    });
    Ok(())
}

/// `kmsctl ca-cert --out FILE`.
pub fn ca_cert(ctx: &Ctx, a: CaCertArgs) -> Result<(), Failure> {
    let pem = ctx.http.call("GET", "/ca", None, None)?;
    write_public(&a.out, &pem)?;
    ctx.print(&json!({"written": a.out}), |_| {
        outln!("wrote {}", a.out.display())
    });
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
