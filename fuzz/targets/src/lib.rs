//! The fuzz targets' bodies: one function per parser that takes outside input (certificate,
//! CRL, CSR, PKCS#12, EnvelopedData, SignedData, S/MIME, BER, mbox, escrow key file, escrow
//! backup header). `fuzz/fuzz_targets/*.rs` call them under libFuzzer (nightly,
//! `cargo fuzz`); `tests/corpus.rs` runs every file of `fuzz/corpus/` through every one of
//! them on stable, so a crash once fixed stays fixed. A target's only contract: it returns,
//! whatever the bytes (no panic, no hang); errors are the expected outcome.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use pki::{Certificate, PrivateKey};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/` file and `fuzz/corpus/` folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("certificate", certificate),
    ("crl", crl),
    ("csr", csr),
    ("pkcs12", pkcs12),
    ("enveloped", enveloped),
    ("signed", signed),
    ("smime", smime),
    ("ber", ber),
    ("mbox", mbox),
    ("keyfile", keyfile),
    ("backup_header", backup_header),
];

/// Certificates: DER or PEM, one or a bundle; then what the tools read from one.
pub fn certificate(data: &[u8]) {
    if let Ok(cert) = pki::certificate::parse_certificate(data) {
        let _ = pki::CertificateInfo::from_certificate(&cert);
        let _ = pki::certificate::public_key(&cert);
        let _ = pki::certificate::host_names(&cert);
        let _ = pki::certificate::to_der(&cert);
    }
    let _ = pki::certificate::parse_certificates(data);
}

/// CRLs, strict and lenient, and a lookup in what was read.
pub fn crl(data: &[u8]) {
    for crl in [
        pki::crl::Crl::parse(data),
        pki::crl::Crl::parse_lenient(data),
    ]
    .into_iter()
    .flatten()
    {
        let _ = crl.lookup(&[1]);
        let _ = crl.len();
    }
}

/// Certificate requests: parsed, then checked against the default policy.
pub fn csr(data: &[u8]) {
    let _ = pki::csr::parse(data);
    let _ = pki::csr::verify(data, &pki::csr::CsrPolicy::default());
}

/// PKCS#12 files, with a password and with none.
pub fn pkcs12(data: &[u8]) {
    let _ = pki::pkcs12::parse(data, "fuzz password");
    let _ = pki::pkcs12::parse(data, "");
}

/// EnvelopedData and AuthEnvelopedData: inspected, then decrypted with a fixed key.
pub fn enveloped(data: &[u8]) {
    let _ = pki::enveloped::inspect(data);
    let _ = pki::enveloped::decrypt(data, recipient(), &mut pki::os_rng());
}

/// SignedData: checked with its own content, and as a detached signature.
pub fn signed(data: &[u8]) {
    let _ = pki::signed::cms_content_type(data);
    let _ = pki::signed::check(data, None, &[]);
    let _ = pki::signed::check(data, Some(b"detached content\r\n"), &[]);
}

/// S/MIME messages: parsed, split into outer headers and inner entity, canonicalised.
pub fn smime(data: &[u8]) {
    let _ = pki::smime::parse(data);
    let _ = pki::smime::split(data);
    let _ = pki::smime::canonicalize(data);
}

/// The BER normaliser, in both modes.
pub fn ber(data: &[u8]) {
    let _ = pki::fuzzing::ber_to_der(data);
    let _ = pki::fuzzing::ber_to_der_implicit_strings(data);
}

/// Most messages read from one mbox in a run of the target.
const MAX_MBOX_MESSAGES: usize = 10_000;

/// An mbox (sectool reencrypt's reader), read message by message from a file.
pub fn mbox(data: &[u8]) {
    use kms_client::reencrypt::mailbox;
    let _ = mailbox::uses_bare_lf(data);
    let _ = mailbox::to_lf(data);
    let _ = mailbox::escape_from(data);
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).and_then(|()| file.flush()).is_err() {
        return;
    }
    let Ok(mut reader) = mailbox::MboxReader::open(file.path(), 0, 0) else {
        return;
    };
    for _ in 0..MAX_MBOX_MESSAGES {
        match reader.next_message() {
            Ok(Some(m)) => {
                let _ = m.raw();
                let _ = m.rewritten(&m.message);
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// An escrow key file's text.
pub fn keyfile(data: &[u8]) {
    let _ = escrow::KeyFile::from_bytes(data, "fuzz input");
}

/// A valid key file (id 00..0f, secret 32 × 0x42): the credential `backup_header` uses, so
/// that no password (and no Argon2 run) is involved.
pub const KEY_FILE: &str = "\
-----BEGIN KMS ESCROW KEY FILE-----
Version: 1
Key-File-Id: 000102030405060708090a0b0c0d0e0f
Secret: QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=
Checksum: c61c27bc59c7e3c5
-----END KMS ESCROW KEY FILE-----
";

/// The magic and format version that open an escrow backup file.
const BACKUP_MAGIC: &[u8; 16] = b"KMSESCROWBACKUP\0";

/// An escrow backup whose header body is `data`: the target wraps it in the file's prefix
/// (magic, version 1, length) and its SHA-256, as a backup carries them, so that the input
/// reaches the header decoder and the unlock, then runs `escrow::verify_backup` with a key
/// file. (The header checksum is no protection against an attacker, who can recompute it.)
pub fn backup_header(data: &[u8]) {
    use sha2::{Digest, Sha256};
    let Ok(len) = u32::try_from(data.len()) else {
        return;
    };
    let mut file = Vec::with_capacity(data.len() + 64);
    file.extend_from_slice(BACKUP_MAGIC);
    file.extend_from_slice(&1u16.to_be_bytes());
    file.extend_from_slice(&len.to_be_bytes());
    file.extend_from_slice(data);
    let hash = Sha256::digest(&file);
    file.extend_from_slice(&hash);
    let Ok(mut tmp) = tempfile::NamedTempFile::new() else {
        return;
    };
    if tmp.write_all(&file).and_then(|()| tmp.flush()).is_err() {
        return;
    }
    let Ok(key) = escrow::KeyFile::from_bytes(KEY_FILE.as_bytes(), "fuzz key file") else {
        return;
    };
    let _ = escrow::verify_backup(tmp.path(), &escrow::Credential::KeyFile(key));
}

/// The recipient key of `enveloped`: `keys/alice-enc.key.pem` with an encryption
/// certificate from [`test_ca`], made once.
pub fn recipient() -> &'static [(PrivateKey, Certificate)] {
    static RECIPIENT: OnceLock<Vec<(PrivateKey, Certificate)>> = OnceLock::new();
    RECIPIENT.get_or_init(|| {
        let key = test_key("alice-enc");
        let cert = test_ca()
            .and_then(|ca| issue(&ca, &pki::Profile::SmimeEncryption(smime_subject()?), &key));
        cert.map(|c| vec![(key, c)]).unwrap_or_default()
    })
}

/// A committed test key, `keys/{name}.key.pem` (alice-enc, alice-sign or ca-3072).
pub fn test_key(name: &str) -> PrivateKey {
    let pem: &[u8] = match name {
        "alice-enc" => include_bytes!("../../../keys/alice-enc.key.pem"),
        "alice-sign" => include_bytes!("../../../keys/alice-sign.key.pem"),
        _ => include_bytes!("../../../keys/ca-3072.key.pem"),
    };
    PrivateKey::from_pem_or_der(pem).expect("the committed test key reads")
}

/// The validity period of the targets' certificates: 2026-01-01, a year.
fn period() -> pki::Period {
    let start = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    pki::Period {
        not_before: start,
        not_after: start + Duration::from_secs(365 * 86_400),
    }
}

/// A self-signed CA with `keys/ca-3072.key.pem`, or `None`.
pub fn test_ca() -> Option<pki::Issuer> {
    pki::Issuer::self_signed(
        test_key("ca-3072"),
        &pki::Profile::Ca {
            subject: "CN=Fuzz CA".parse().ok()?,
            path_len: None,
        },
        period(),
        pki::DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .ok()
}

/// Alice's S/MIME subject (AES-256 and 3DES, no CRL).
pub fn smime_subject() -> Option<pki::SmimeSubject> {
    Some(pki::SmimeSubject {
        subject: "CN=Alice Fuzz".parse().ok()?,
        email: "alice@example.test".into(),
        capabilities: vec![
            pki::ContentAlgorithm::Aes256,
            pki::ContentAlgorithm::TripleDes,
        ],
        revocation: pki::RevocationUrls::default(),
        sbr: None,
        policy: pki::PolicyExtras::default(),
    })
}

/// A certificate from `ca` for `key` with `profile`, or `None`.
pub fn issue(ca: &pki::Issuer, profile: &pki::Profile, key: &PrivateKey) -> Option<Certificate> {
    ca.issue(profile, &key.public_key(), period(), &mut pki::os_rng())
        .ok()
}
