//! Path validation (`pki::verify`): the NIST PKITS suite, sections 4.1, 4.2 and 4.4, as a
//! table; and our own CA's certificates and CRLs (full, delta, hold and release) through every
//! verdict.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pki::crl::{Crl, CrlBuilder, CrlEntry, RevocationReason};
use pki::verify::{
    PathValidator, Purpose, UnknownReason, UntrustedReason, Verdict, Verification, VerifyOptions,
};
use pki::{Certificate, DigestAlgorithm, Issuer, Period, Profile};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// NIST PKITS (2011 edition), sections 4.1 (signature verification), 4.2 (validity periods)
// and 4.4 (basic certificate revocation), plus 4.15 (delta CRLs). Every row validates the end-entity certificate of
// the test at 2010-01-01T00:00:00Z against `TrustAnchorRootCertificate.crt`, with
// `TrustAnchorRootCRL.crl` plus the test's own intermediates and CRLs, as the PKITS document
// lists them. The PKITS end entities are not S/MIME signing certificates, so the rows use
// `Purpose::Any`; their keys are RSA-1024 (and DSA) and their signatures SHA-1, so the rows
// allow legacy cryptography.
// ---------------------------------------------------------------------------------------

const PKITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/PKITS");

/// 2010-01-01T00:00:00Z.
fn pkits_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_262_304_000)
}

/// What a PKITS row expects: the verdict and the depth of the certificate it is about
/// (0 = end entity, 1 = the intermediate above it, ...).
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The suite says the path is valid.
    Valid,
    /// Invalid: a signature in the path does not verify (untrusted, exit 14).
    BadSignature(usize),
    /// Invalid: a certificate's notBefore is after the time (exit 13).
    NotYetValid(usize),
    /// Invalid: a certificate's notAfter is before the time (exit 12).
    Expired(usize),
    /// Invalid: a certificate is on its issuer's CRL (exit 11).
    Revoked(usize),
    /// Invalid: the status of a certificate cannot be established (exit 15), for the reason
    /// named (see `unknown_tag`).
    Unknown(usize, &'static str),
}

struct Row {
    section: &'static str,
    ee: &'static str,
    /// Intermediate certificates, from the trust anchor down.
    certs: &'static [&'static str],
    /// CRLs besides `TrustAnchorRootCRL`.
    crls: &'static [&'static str],
    expect: Expect,
}

const GOOD_CA: &[&str] = &["GoodCACert"];
const GOOD_CRL: &[&str] = &["GoodCACRL"];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // 4.1 Signature verification
    Row { section: "4.1.1 Valid Signatures", ee: "ValidCertificatePathTest1EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Valid },
    Row { section: "4.1.2 Invalid CA Signature", ee: "InvalidCASignatureTest2EE", certs: &["BadSignedCACert"], crls: &["BadSignedCACRL"], expect: Expect::BadSignature(1) },
    Row { section: "4.1.3 Invalid EE Signature", ee: "InvalidEESignatureTest3EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::BadSignature(0) },
    Row { section: "4.1.4 Valid DSA Signatures", ee: "ValidDSASignaturesTest4EE", certs: &["DSACACert"], crls: &["DSACACRL"], expect: Expect::Valid },
    Row { section: "4.1.5 Valid DSA Parameter Inheritance", ee: "ValidDSAParameterInheritanceTest5EE", certs: &["DSACACert", "DSAParametersInheritedCACert"], crls: &["DSACACRL", "DSAParametersInheritedCACRL"], expect: Expect::Valid },
    Row { section: "4.1.6 Invalid DSA Signature", ee: "InvalidDSASignatureTest6EE", certs: &["DSACACert"], crls: &["DSACACRL"], expect: Expect::BadSignature(0) },
    // 4.2 Validity periods
    Row { section: "4.2.1 Invalid CA notBefore Date", ee: "InvalidCAnotBeforeDateTest1EE", certs: &["BadnotBeforeDateCACert"], crls: &["BadnotBeforeDateCACRL"], expect: Expect::NotYetValid(1) },
    Row { section: "4.2.2 Invalid EE notBefore Date", ee: "InvalidEEnotBeforeDateTest2EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::NotYetValid(0) },
    // 4.2.3 (Valid pre2000 UTC notBefore Date) is not in the table: see
    // `pkits_4_2_3_a_notbefore_before_1970_cannot_be_read`.
    Row { section: "4.2.4 Valid GeneralizedTime notBefore Date", ee: "ValidGeneralizedTimenotBeforeDateTest4EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Valid },
    Row { section: "4.2.5 Invalid CA notAfter Date", ee: "InvalidCAnotAfterDateTest5EE", certs: &["BadnotAfterDateCACert"], crls: &["BadnotAfterDateCACRL"], expect: Expect::Expired(1) },
    Row { section: "4.2.6 Invalid EE notAfter Date", ee: "InvalidEEnotAfterDateTest6EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Expired(0) },
    Row { section: "4.2.7 Invalid pre2000 UTC EE notAfter Date", ee: "Invalidpre2000UTCEEnotAfterDateTest7EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Expired(0) },
    Row { section: "4.2.8 Valid GeneralizedTime notAfter Date", ee: "ValidGeneralizedTimenotAfterDateTest8EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Valid },
    // 4.4 Basic certificate revocation
    Row { section: "4.4.1 Missing CRL", ee: "InvalidMissingCRLTest1EE", certs: &["NoCRLCACert"], crls: &[], expect: Expect::Unknown(0, "no-crl") },
    Row { section: "4.4.2 Invalid Revoked CA", ee: "InvalidRevokedCATest2EE", certs: &["GoodCACert", "RevokedsubCACert"], crls: &["GoodCACRL", "RevokedsubCACRL"], expect: Expect::Revoked(1) },
    Row { section: "4.4.3 Invalid Revoked EE", ee: "InvalidRevokedEETest3EE", certs: GOOD_CA, crls: GOOD_CRL, expect: Expect::Revoked(0) },
    Row { section: "4.4.4 Invalid Bad CRL Signature", ee: "InvalidBadCRLSignatureTest4EE", certs: &["BadCRLSignatureCACert"], crls: &["BadCRLSignatureCACRL"], expect: Expect::Unknown(0, "bad-signature") },
    Row { section: "4.4.5 Invalid Bad CRL Issuer Name", ee: "InvalidBadCRLIssuerNameTest5EE", certs: &["BadCRLIssuerNameCACert"], crls: &["BadCRLIssuerNameCACRL"], expect: Expect::Unknown(0, "wrong-issuer") },
    Row { section: "4.4.6 Invalid Wrong CRL", ee: "InvalidWrongCRLTest6EE", certs: &["WrongCRLCACert"], crls: &["WrongCRLCACRL"], expect: Expect::Unknown(0, "no-crl") },
    Row { section: "4.4.7 Valid Two CRLs", ee: "ValidTwoCRLsTest7EE", certs: &["TwoCRLsCACert"], crls: &["TwoCRLsCAGoodCRL", "TwoCRLsCABadCRL"], expect: Expect::Valid },
    Row { section: "4.4.8 Invalid Unknown CRL Entry Extension", ee: "InvalidUnknownCRLEntryExtensionTest8EE", certs: &["UnknownCRLEntryExtensionCACert"], crls: &["UnknownCRLEntryExtensionCACRL"], expect: Expect::Unknown(0, "critical-extension") },
    Row { section: "4.4.9 Invalid Unknown CRL Extension", ee: "InvalidUnknownCRLExtensionTest9EE", certs: &["UnknownCRLExtensionCACert"], crls: &["UnknownCRLExtensionCACRL"], expect: Expect::Unknown(0, "critical-extension") },
    Row { section: "4.4.10 Invalid Unknown CRL Extension", ee: "InvalidUnknownCRLExtensionTest10EE", certs: &["UnknownCRLExtensionCACert"], crls: &["UnknownCRLExtensionCACRL"], expect: Expect::Unknown(0, "critical-extension") },
    Row { section: "4.4.11 Invalid Old CRL nextUpdate", ee: "InvalidOldCRLnextUpdateTest11EE", certs: &["OldCRLnextUpdateCACert"], crls: &["OldCRLnextUpdateCACRL"], expect: Expect::Unknown(0, "stale") },
    Row { section: "4.4.12 Invalid pre2000 CRL nextUpdate", ee: "Invalidpre2000CRLnextUpdateTest12EE", certs: &["pre2000CRLnextUpdateCACert"], crls: &["pre2000CRLnextUpdateCACRL"], expect: Expect::Unknown(0, "stale") },
    Row { section: "4.4.13 Valid GeneralizedTime CRL nextUpdate", ee: "ValidGeneralizedTimeCRLnextUpdateTest13EE", certs: &["GeneralizedTimeCRLnextUpdateCACert"], crls: &["GeneralizedTimeCRLnextUpdateCACRL"], expect: Expect::Valid },
    Row { section: "4.4.14 Valid Negative Serial Number", ee: "ValidNegativeSerialNumberTest14EE", certs: &["NegativeSerialNumberCACert"], crls: &["NegativeSerialNumberCACRL"], expect: Expect::Valid },
    Row { section: "4.4.15 Invalid Negative Serial Number", ee: "InvalidNegativeSerialNumberTest15EE", certs: &["NegativeSerialNumberCACert"], crls: &["NegativeSerialNumberCACRL"], expect: Expect::Revoked(0) },
    Row { section: "4.4.16 Valid Long Serial Number", ee: "ValidLongSerialNumberTest16EE", certs: &["LongSerialNumberCACert"], crls: &["LongSerialNumberCACRL"], expect: Expect::Valid },
    Row { section: "4.4.17 Valid Long Serial Number", ee: "ValidLongSerialNumberTest17EE", certs: &["LongSerialNumberCACert"], crls: &["LongSerialNumberCACRL"], expect: Expect::Valid },
    Row { section: "4.4.18 Invalid Long Serial Number", ee: "InvalidLongSerialNumberTest18EE", certs: &["LongSerialNumberCACert"], crls: &["LongSerialNumberCACRL"], expect: Expect::Revoked(0) },
    Row { section: "4.4.19 Valid Separate Certificate and CRL Keys", ee: "ValidSeparateCertificateandCRLKeysTest19EE", certs: &["SeparateCertificateandCRLKeysCertificateSigningCACert", "SeparateCertificateandCRLKeysCRLSigningCert"], crls: &["SeparateCertificateandCRLKeysCRL"], expect: Expect::Valid },
    Row { section: "4.4.20 Invalid Separate Certificate and CRL Keys", ee: "InvalidSeparateCertificateandCRLKeysTest20EE", certs: &["SeparateCertificateandCRLKeysCertificateSigningCACert", "SeparateCertificateandCRLKeysCRLSigningCert"], crls: &["SeparateCertificateandCRLKeysCRL"], expect: Expect::Revoked(0) },
    // The CRL-signing certificate of CA2 is revoked on the trust anchor's CRL, so its CRL
    // cannot vouch for the end entity: the status is unknown (PKITS only says "invalid").
    Row { section: "4.4.21 Invalid Separate Certificate and CRL Keys", ee: "InvalidSeparateCertificateandCRLKeysTest21EE", certs: &["SeparateCertificateandCRLKeysCA2CertificateSigningCACert", "SeparateCertificateandCRLKeysCA2CRLSigningCert"], crls: &["SeparateCertificateandCRLKeysCA2CRL"], expect: Expect::Unknown(0, "crl-signer") },
    // 4.15 Delta-CRLs (beyond the brief: they check the delta rules against the suite).
    Row { section: "4.15.1 Invalid deltaCRLIndicator No Base", ee: "InvaliddeltaCRLIndicatorNoBaseTest1EE", certs: &["deltaCRLIndicatorNoBaseCACert"], crls: &["deltaCRLIndicatorNoBaseCACRL"], expect: Expect::Unknown(0, "delta-without-base") },
    Row { section: "4.15.2 Valid delta-CRL", ee: "ValiddeltaCRLTest2EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Valid },
    Row { section: "4.15.3 Invalid delta-CRL (revoked on the base)", ee: "InvaliddeltaCRLTest3EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Revoked(0) },
    Row { section: "4.15.4 Invalid delta-CRL (revoked on the delta)", ee: "InvaliddeltaCRLTest4EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Revoked(0) },
    Row { section: "4.15.5 Valid delta-CRL (hold removed by the delta)", ee: "ValiddeltaCRLTest5EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Valid },
    Row { section: "4.15.6 Invalid delta-CRL (hold, then revoked by the delta)", ee: "InvaliddeltaCRLTest6EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Revoked(0) },
    Row { section: "4.15.7 Valid delta-CRL (removeFromCRL for an unlisted certificate)", ee: "ValiddeltaCRLTest7EE", certs: DELTA1, crls: DELTA1_CRLS, expect: Expect::Valid },
    Row { section: "4.15.8 Valid delta-CRL", ee: "ValiddeltaCRLTest8EE", certs: &["deltaCRLCA2Cert"], crls: &["deltaCRLCA2CRL", "deltaCRLCA2deltaCRL"], expect: Expect::Valid },
    Row { section: "4.15.9 Invalid delta-CRL", ee: "InvaliddeltaCRLTest9EE", certs: &["deltaCRLCA2Cert"], crls: &["deltaCRLCA2CRL", "deltaCRLCA2deltaCRL"], expect: Expect::Revoked(0) },
    Row { section: "4.15.10 Invalid delta-CRL (stale base)", ee: "InvaliddeltaCRLTest10EE", certs: &["deltaCRLCA3Cert"], crls: &["deltaCRLCA3CRL", "deltaCRLCA3deltaCRL"], expect: Expect::Unknown(0, "stale") },
];

const DELTA1: &[&str] = &["deltaCRLCA1Cert"];
const DELTA1_CRLS: &[&str] = &["deltaCRLCA1CRL", "deltaCRLCA1deltaCRL"];

fn pkits_cert(name: &str) -> Certificate {
    let path = format!("{PKITS}/certs/{name}.crt");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    pki::certificate::parse_certificate(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn pkits_crl(name: &str) -> Crl {
    let path = format!("{PKITS}/crls/{name}.crl");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Crl::parse_lenient(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn unknown_tag(r: &UnknownReason) -> &'static str {
    match r {
        UnknownReason::NoCrl { .. } => "no-crl",
        UnknownReason::BadCrlSignature => "bad-signature",
        UnknownReason::WrongCrlIssuer { .. } => "wrong-issuer",
        UnknownReason::UnknownCriticalExtension(_) => "critical-extension",
        UnknownReason::Stale { .. } => "stale",
        UnknownReason::CrlSignerInvalid(_) => "crl-signer",
        UnknownReason::DeltaWithoutBase => "delta-without-base",
        _ => "other",
    }
}

fn matches(expect: Expect, v: &Verdict) -> bool {
    match (expect, v) {
        (Expect::Valid, Verdict::Valid) => true,
        (
            Expect::BadSignature(d),
            Verdict::Untrusted {
                certificate: Some(c),
                reason: UntrustedReason::BadSignature,
            },
        ) => c.depth == d,
        (Expect::NotYetValid(d), Verdict::NotYetValid { certificate, .. })
        | (Expect::Expired(d), Verdict::Expired { certificate, .. })
        | (Expect::Revoked(d), Verdict::Revoked { certificate, .. }) => certificate.depth == d,
        (
            Expect::Unknown(d, tag),
            Verdict::RevocationUnknown {
                certificate,
                reason,
            },
        ) => certificate.depth == d && unknown_tag(reason) == tag,
        _ => false,
    }
}

#[test]
fn pkits_sections_4_1_4_2_4_4_and_4_15() {
    let anchor = [pkits_cert("TrustAnchorRootCertificate")];
    let options = VerifyOptions {
        allow_legacy: true,
        signing_time: None,
        purpose: Purpose::Any,
    };
    let mut failures = Vec::new();
    for row in ROWS {
        let ee = pkits_cert(row.ee);
        let certs: Vec<Certificate> = row.certs.iter().map(|c| pkits_cert(c)).collect();
        let mut crls = vec![pkits_crl("TrustAnchorRootCRL")];
        crls.extend(row.crls.iter().map(|c| pkits_crl(c)));
        let v = PathValidator::new(&anchor, &certs, &crls).validate(&ee, pkits_time(), &options);
        let ok = matches(row.expect, &v.verdict);
        println!(
            "{} {}: expected {:?}, got exit {} ({})",
            if ok { "PASS" } else { "FAIL" },
            row.section,
            row.expect,
            v.verdict.exit_code(),
            v.verdict
        );
        if !ok {
            failures.push(row.section);
        }
    }
    println!(
        "PKITS: {} of {} rows as expected",
        ROWS.len() - failures.len(),
        ROWS.len()
    );
    assert!(
        failures.is_empty(),
        "PKITS rows not as expected: {failures:?}"
    );
}

/// The verdict class OpenSSL gives a PKITS row: `openssl verify -crl_check_all
/// -extended_crl` (extended CRL support is needed for the separate CRL-signing key of 4.4.19),
/// at the same time, with `-auth_level 0` for the suite's RSA-1024 and SHA-1. An error in the
/// path of a CRL's signer (`[CRL path]`) means the CRL cannot be used: revocation unknown.
fn openssl_class(dir: &std::path::Path, row: &Row) -> &'static str {
    let mut args: Vec<String> = [
        "verify",
        "-auth_level",
        "0",
        "-extended_crl",
        "-use_deltas",
        "-crl_check_all",
        "-attime",
        "1262304000",
        "-CAfile",
        "TrustAnchorRootCertificate.pem",
        "-CRLfile",
        "TrustAnchorRootCRL.pem",
    ]
    .map(String::from)
    .to_vec();
    for c in row.certs {
        args.extend(["-untrusted".to_string(), format!("{c}.pem")]);
    }
    for c in row.crls {
        args.extend(["-CRLfile".to_string(), format!("{c}.pem")]);
    }
    args.push(format!("{}.pem", row.ee));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = openssl(dir, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return "valid";
    }
    if text.contains("[CRL path]") {
        return "unknown";
    }
    let code = text
        .split("error ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok());
    match code {
        Some(7) => "bad-signature",
        Some(9) => "not-yet-valid",
        Some(10) => "expired",
        Some(23) => "revoked",
        // 3 no CRL, 8 bad CRL signature, 11/12 CRL not yet valid / expired, 36 unhandled
        // critical CRL extension, 44 different CRL scope (issuer mismatch), 34 unhandled
        // critical extension, 54 CRL path validation error.
        Some(3 | 8 | 11 | 12 | 34 | 36 | 44 | 54) => "unknown",
        // 20: unable to get local issuer certificate.
        Some(20) => "no-path",
        _ => panic!("{}: unexpected openssl output: {text}", row.section),
    }
}

fn expect_class(e: Expect) -> &'static str {
    match e {
        Expect::Valid => "valid",
        Expect::BadSignature(_) => "bad-signature",
        Expect::NotYetValid(_) => "not-yet-valid",
        Expect::Expired(_) => "expired",
        Expect::Revoked(_) => "revoked",
        Expect::Unknown(..) => "unknown",
    }
}

#[test]
fn pkits_rows_agree_with_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let mut certs: Vec<&str> = vec!["TrustAnchorRootCertificate"];
    let mut crls: Vec<&str> = vec!["TrustAnchorRootCRL"];
    for row in ROWS {
        certs.push(row.ee);
        certs.extend(row.certs);
        crls.extend(row.crls);
    }
    certs.sort_unstable();
    certs.dedup();
    crls.sort_unstable();
    crls.dedup();
    // Converted by openssl, not by `certificate::to_pem`: x509-cert re-encodes a
    // GeneralizedTime before 2050 as UTCTime, which would break the signature of 4.2.4/4.2.7.
    for c in &certs {
        let src = format!("{PKITS}/certs/{c}.crt");
        let dst = format!("{c}.pem");
        openssl_ok(d, &["x509", "-inform", "DER", "-in", &src, "-out", &dst]);
    }
    for c in &crls {
        let src = format!("{PKITS}/crls/{c}.crl");
        let dst = format!("{c}.pem");
        openssl_ok(d, &["crl", "-inform", "DER", "-in", &src, "-out", &dst]);
    }
    // Where OpenSSL 3.0 is known to differ, and why.
    let known: &[(&str, &str)] = &[
        // OpenSSL cannot decode a DSA key whose parameters are inherited from its issuer.
        ("4.1.5 Valid DSA Parameter Inheritance", "no-path"),
    ];
    let mut disagreements = Vec::new();
    for row in ROWS {
        let theirs = openssl_class(d, row);
        let ours = expect_class(row.expect);
        if known.contains(&(row.section, theirs)) {
            println!("{}: openssl {theirs} (known), we {ours}", row.section);
            continue;
        }
        if theirs != ours {
            disagreements.push(format!("{}: openssl {theirs}, we {ours}", row.section));
        }
    }
    println!(
        "PKITS vs openssl verify: {} of {} rows agree ({} known differences)",
        ROWS.len() - disagreements.len() - known.len(),
        ROWS.len(),
        known.len()
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// KNOWN GAP. PKITS 4.2.3 ("Valid pre2000 UTC notBefore Date") expects a valid path: the end
/// entity's notBefore is 1950-01-01 as a UTCTime. The `der` crate under `x509-cert` cannot
/// represent a time before 1970, so the certificate cannot be read at all (PKI-001), and
/// `lockbox verify` would fail with exit code 1 instead of 0. This test pins that behaviour so
/// a fix (or a change in `der`) is noticed.
#[test]
fn pkits_4_2_3_a_notbefore_before_1970_cannot_be_read() {
    let path = format!("{PKITS}/certs/Validpre2000UTCnotBeforeDateTest3EE.crt");
    let bytes = std::fs::read(&path).unwrap();
    let e = pki::certificate::parse_certificate(&bytes).unwrap_err();
    assert_eq!(e.code(), "PKI-001", "{e}");
    assert!(e.to_string().contains("UTCTime"), "{e}");
}

#[test]
fn pkits_without_legacy_refuses_sha1_and_rsa_1024() {
    let anchor = [pkits_cert("TrustAnchorRootCertificate")];
    let certs = [pkits_cert("GoodCACert")];
    let crls = [pkits_crl("TrustAnchorRootCRL"), pkits_crl("GoodCACRL")];
    let ee = pkits_cert("ValidCertificatePathTest1EE");
    let options = VerifyOptions {
        purpose: Purpose::Any,
        ..VerifyOptions::default()
    };
    let v = PathValidator::new(&anchor, &certs, &crls).validate(&ee, pkits_time(), &options);
    assert_eq!(v.verdict.exit_code(), 14, "{}", v.verdict);
    assert!(
        matches!(
            v.verdict,
            Verdict::Untrusted {
                reason: UntrustedReason::LegacyKey(_) | UntrustedReason::LegacyAlgorithm(_),
                ..
            }
        ),
        "{}",
        v.verdict
    );
}

#[test]
fn pkits_missing_intermediate_is_no_path() {
    let anchor = [pkits_cert("TrustAnchorRootCertificate")];
    let ee = pkits_cert("ValidCertificatePathTest1EE");
    let options = VerifyOptions {
        allow_legacy: true,
        purpose: Purpose::Any,
        ..VerifyOptions::default()
    };
    let v = PathValidator::new(&anchor, &[], &[]).validate(&ee, pkits_time(), &options);
    match &v.verdict {
        Verdict::Untrusted {
            reason: UntrustedReason::NoPath { issuer },
            ..
        } => assert!(issuer.contains("Good CA"), "{issuer}"),
        other => panic!("expected no path, got {other}"),
    }
    assert_eq!(v.path.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Our own CA (support.rs): the test CA signs users' certificates and CRLs.
// ---------------------------------------------------------------------------------------

fn serial(cert: &Certificate) -> Vec<u8> {
    cert.tbs_certificate().serial_number().as_bytes().to_vec()
}

/// A CRL of `issuer` numbered `number`, current from `from` to `to`, listing `entries`;
/// a delta of `base` when given.
fn crl(
    issuer: &Issuer,
    number: u64,
    base: Option<u64>,
    from: SystemTime,
    to: SystemTime,
    entries: &[(&Certificate, RevocationReason, SystemTime)],
) -> Crl {
    let mut b = CrlBuilder::new(number, from, to).unwrap();
    if let Some(base) = base {
        b = b.delta_of(base).unwrap();
    }
    for (cert, reason, at) in entries {
        b.add(&CrlEntry {
            serial: serial(cert),
            revoked_at: *at,
            reason: *reason,
        })
        .unwrap();
    }
    Crl::parse(&b.sign(issuer).unwrap()).unwrap()
}

/// An empty CRL current at `now()`.
fn fresh_crl(ca: &Issuer) -> Crl {
    crl(ca, 1, None, now() - days(1), now() + days(7), &[])
}

fn check(
    ca: &Issuer,
    cert: &Certificate,
    crls: &[Crl],
    at: SystemTime,
    options: &VerifyOptions,
) -> Verification {
    let anchors = [ca.certificate().clone()];
    PathValidator::new(&anchors, &[], crls).validate(cert, at, options)
}

/// A CA other than the test CA: `dn` with the committed `ca2-4096` key.
fn other_ca(dn: &str) -> Issuer {
    Issuer::self_signed(
        key("ca2-4096"),
        &Profile::Ca {
            subject: name(dn),
            path_len: Some(0),
        },
        Period {
            not_before: now() - days(30),
            not_after: now() + days(3650),
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap()
}

#[test]
fn valid_signing_certificate() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice");
    let v = check(
        &ca,
        &alice,
        &[fresh_crl(&ca)],
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
    assert_eq!(v.verdict.exit_code(), 0);
    assert_eq!(v.path.len(), 2);
    assert!(v.path[0].subject.contains("CN=alice"), "{:?}", v.path);
    assert!(v.path[1].subject.contains("KMS Test CA"), "{:?}", v.path);
}

#[test]
fn revoked_with_date_reason_and_signing_time() {
    let ca = test_ca();
    let (bob, _) = user_certs(&ca, "bob");
    let revoked_at = now() - days(1);
    let crls = [crl(
        &ca,
        2,
        None,
        now() - days(1),
        now() + days(7),
        &[(&bob, RevocationReason::KeyCompromise, revoked_at)],
    )];
    for (signing_time, before) in [
        (None, None),
        (Some(now() - days(2)), Some(true)),
        (Some(now()), Some(false)),
    ] {
        let options = VerifyOptions {
            signing_time,
            ..VerifyOptions::default()
        };
        let v = check(&ca, &bob, &crls, now(), &options);
        match &v.verdict {
            Verdict::Revoked {
                certificate,
                revoked_at: at,
                reason,
                signed_before_revocation,
            } => {
                assert_eq!(certificate.depth, 0);
                assert_eq!(*at, revoked_at);
                assert_eq!(*reason, RevocationReason::KeyCompromise);
                assert_eq!(*signed_before_revocation, before);
            }
            other => panic!("expected revoked, got {other}"),
        }
        assert_eq!(v.verdict.exit_code(), 11);
        let text = v.verdict.to_string();
        assert!(text.contains("keyCompromise"), "{text}");
        assert!(text.contains("2025-12-31T00:00:00Z"), "{text}");
    }
    // Alice is not on the same CRL.
    let (alice, _) = user_certs(&ca, "alice");
    let v = check(&ca, &alice, &crls, now(), &VerifyOptions::default());
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice"); // valid from now - 1 day to now + 365 days
    let later = now() + days(400);
    let crls = [crl(&ca, 9, None, later - days(1), later + days(1), &[])];
    let v = check(&ca, &alice, &crls, later, &VerifyOptions::default());
    assert!(
        matches!(&v.verdict, Verdict::Expired { certificate, .. } if certificate.depth == 0),
        "{}",
        v.verdict
    );
    assert_eq!(v.verdict.exit_code(), 12);

    let earlier = now() - days(2);
    let crls = [crl(&ca, 1, None, earlier - days(1), earlier + days(1), &[])];
    let v = check(&ca, &alice, &crls, earlier, &VerifyOptions::default());
    assert!(
        matches!(&v.verdict, Verdict::NotYetValid { certificate, .. } if certificate.depth == 0),
        "{}",
        v.verdict
    );
    assert_eq!(v.verdict.exit_code(), 13);
}

#[test]
fn signer_from_another_ca_is_untrusted() {
    let ca = test_ca();
    let other = other_ca("CN=Other CA,O=Elsewhere,C=GB");
    let (carol, _) = user_certs(&other, "carol");
    let v = check(
        &ca,
        &carol,
        &[fresh_crl(&ca), fresh_crl(&other)],
        now(),
        &VerifyOptions::default(),
    );
    match &v.verdict {
        Verdict::Untrusted {
            reason: UntrustedReason::NoPath { issuer },
            ..
        } => assert!(issuer.contains("Other CA"), "{issuer}"),
        other => panic!("expected untrusted, got {other}"),
    }
    assert_eq!(v.verdict.exit_code(), 14);

    // An impostor with the test CA's very name but another key is no better.
    let impostor = other_ca("CN=KMS Test CA,O=Example Org,C=GB");
    let (mallory, _) = user_certs(&impostor, "carol");
    let v = check(
        &ca,
        &mallory,
        &[fresh_crl(&ca)],
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict.exit_code(), 14, "{}", v.verdict);
}

#[test]
fn no_crl_and_stale_crl_leave_the_status_unknown() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice");
    let v = check(&ca, &alice, &[], now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::RevocationUnknown { certificate, reason: UnknownReason::NoCrl { .. } }
                if certificate.depth == 0
        ),
        "{}",
        v.verdict
    );
    assert_eq!(v.verdict.exit_code(), 15);

    let stale = crl(&ca, 1, None, now() - days(10), now() - days(3), &[]);
    let v = check(&ca, &alice, &[stale], now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::RevocationUnknown {
                reason: UnknownReason::Stale { .. },
                ..
            }
        ),
        "{}",
        v.verdict
    );
    assert!(v.verdict.to_string().contains("stale"), "{}", v.verdict);

    // A CRL issued after the time of the check cannot vouch for it either.
    let future = crl(&ca, 1, None, now() + days(1), now() + days(8), &[]);
    let v = check(&ca, &alice, &[future], now(), &VerifyOptions::default());
    assert_eq!(v.verdict.exit_code(), 15, "{}", v.verdict);
}

#[test]
fn crl_signed_by_another_key_is_not_trusted() {
    let ca = test_ca();
    let (bob, _) = user_certs(&ca, "bob");
    // Same issuer name, another key: the signature does not verify with the CA's key.
    let impostor = other_ca("CN=KMS Test CA,O=Example Org,C=GB");
    let forged = crl(&impostor, 5, None, now() - days(1), now() + days(7), &[]);
    let v = check(&ca, &bob, &[forged], now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::RevocationUnknown {
                reason: UnknownReason::BadCrlSignature,
                ..
            }
        ),
        "{}",
        v.verdict
    );
    // A forged CRL next to the real one changes nothing.
    let forged = crl(
        &impostor,
        50,
        None,
        now() - days(1),
        now() + days(7),
        &[(&bob, RevocationReason::KeyCompromise, now() - days(1))],
    );
    let v = check(
        &ca,
        &bob,
        &[forged, fresh_crl(&ca)],
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
}

#[test]
fn delta_crl_adds_a_revocation() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice");
    let full = crl(&ca, 10, None, now() - days(1), now() + days(7), &[]);
    let delta = crl(
        &ca,
        11,
        Some(10),
        now() - days(1) + Duration::from_secs(3600),
        now() + days(1),
        &[(&alice, RevocationReason::Superseded, now() - days(1))],
    );
    let v = check(
        &ca,
        &alice,
        std::slice::from_ref(&full),
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
    let v = check(
        &ca,
        &alice,
        &[full, delta.clone()],
        now(),
        &VerifyOptions::default(),
    );
    assert!(
        matches!(
            &v.verdict,
            Verdict::Revoked {
                reason: RevocationReason::Superseded,
                ..
            }
        ),
        "{}",
        v.verdict
    );
    // A delta CRL whose base is newer than the full CRL we have does not apply; the full CRL
    // still decides.
    let old_full = crl(&ca, 8, None, now() - days(2), now() + days(7), &[]);
    let late_delta = crl(
        &ca,
        12,
        Some(9),
        now() - days(1),
        now() + days(1),
        &[(&alice, RevocationReason::Superseded, now() - days(1))],
    );
    let v = check(
        &ca,
        &alice,
        &[old_full, late_delta],
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
    // A delta alone proves a revocation it lists, but cannot vouch for anything else.
    let v = check(&ca, &alice, &[delta], now(), &VerifyOptions::default());
    assert_eq!(v.verdict.exit_code(), 11, "{}", v.verdict);
    let (bob, _) = user_certs(&ca, "bob");
    let only_delta = crl(&ca, 11, Some(10), now() - days(1), now() + days(1), &[]);
    let v = check(&ca, &bob, &[only_delta], now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::RevocationUnknown {
                reason: UnknownReason::DeltaWithoutBase,
                ..
            }
        ),
        "{}",
        v.verdict
    );
}

#[test]
fn hold_then_remove_from_crl_in_a_delta() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice");
    let held_at = now() - days(2);
    let full = crl(
        &ca,
        20,
        None,
        now() - days(1),
        now() + days(7),
        &[(&alice, RevocationReason::CertificateHold, held_at)],
    );
    let v = check(
        &ca,
        &alice,
        std::slice::from_ref(&full),
        now(),
        &VerifyOptions::default(),
    );
    assert!(
        matches!(
            &v.verdict,
            Verdict::Revoked {
                reason: RevocationReason::CertificateHold,
                ..
            }
        ),
        "{}",
        v.verdict
    );
    let release = crl(
        &ca,
        21,
        Some(20),
        now() - Duration::from_secs(3600),
        now() + days(1),
        &[(&alice, RevocationReason::RemoveFromCrl, now() - days(1))],
    );
    let v = check(
        &ca,
        &alice,
        &[full, release],
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
}

#[test]
fn encryption_certificate_cannot_sign_mail() {
    let ca = test_ca();
    let (_, alice_enc) = user_certs(&ca, "alice");
    let crls = [fresh_crl(&ca)];
    let v = check(&ca, &alice_enc, &crls, now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::Untrusted {
                reason: UntrustedReason::NotForSigning,
                ..
            }
        ),
        "{}",
        v.verdict
    );
    let any = VerifyOptions {
        purpose: Purpose::Any,
        ..VerifyOptions::default()
    };
    assert_eq!(
        check(&ca, &alice_enc, &crls, now(), &any).verdict,
        Verdict::Valid
    );
}

#[test]
fn sha1_signed_certificates_need_legacy() {
    let ca = test_ca().with_digest(DigestAlgorithm::Sha1);
    let (alice, _) = user_certs(&ca, "alice");
    let crls = [fresh_crl(&ca)];
    let v = check(&ca, &alice, &crls, now(), &VerifyOptions::default());
    assert!(
        matches!(
            &v.verdict,
            Verdict::Untrusted {
                reason: UntrustedReason::LegacyAlgorithm(_),
                ..
            }
        ),
        "{}",
        v.verdict
    );
    let legacy = VerifyOptions {
        allow_legacy: true,
        ..VerifyOptions::default()
    };
    assert_eq!(
        check(&ca, &alice, &crls, now(), &legacy).verdict,
        Verdict::Valid
    );
}

#[test]
fn precedence_revoked_over_expired_over_unknown() {
    let ca = test_ca();
    let (bob, _) = user_certs(&ca, "bob");
    let later = now() + days(400);
    // Expired and revoked: revoked wins.
    let crls = [crl(
        &ca,
        3,
        None,
        later - days(1),
        later + days(1),
        &[(&bob, RevocationReason::KeyCompromise, now())],
    )];
    let v = check(&ca, &bob, &crls, later, &VerifyOptions::default());
    assert_eq!(v.verdict.exit_code(), 11, "{}", v.verdict);
    // Expired with no CRL: expired wins over unknown.
    let v = check(&ca, &bob, &[], later, &VerifyOptions::default());
    assert_eq!(v.verdict.exit_code(), 12, "{}", v.verdict);
    // Untrusted outranks everything, even a revocation.
    let (_, bob_enc) = user_certs(&ca, "bob");
    let crls = [crl(
        &ca,
        3,
        None,
        now() - days(1),
        now() + days(1),
        &[(&bob_enc, RevocationReason::KeyCompromise, now())],
    )];
    let v = check(&ca, &bob_enc, &crls, now(), &VerifyOptions::default());
    assert_eq!(v.verdict.exit_code(), 14, "{}", v.verdict);
}

#[test]
fn signer_given_twice_and_as_intermediate_still_validates() {
    let ca = test_ca();
    let (alice, _) = user_certs(&ca, "alice");
    let anchors = [ca.certificate().clone()];
    // The message carries the signer's own certificate and the CA's among its certificates.
    let intermediates = [alice.clone(), ca.certificate().clone()];
    let v = PathValidator::new(&anchors, &intermediates, &[fresh_crl(&ca)]).validate(
        &alice,
        now(),
        &VerifyOptions::default(),
    );
    assert_eq!(v.verdict, Verdict::Valid, "{}", v.verdict);
}
