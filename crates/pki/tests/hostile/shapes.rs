//! Generators of the hostile CMS inputs of issue 15 (the shapes found by fuzzing that cost
//! minutes or gigabytes before the limits): many SignerInfos over large content, many v1
//! certificates with signers named by subjectKeyIdentifier, and a BER SEQUENCE of millions of
//! NULLs. Shared by `tests/it/hostile.rs` (regression tests) and `benches/hostile.rs` (cost).
//! The DER is written by hand with [`tlv`], so that any count can be produced (the library's
//! own encoders refuse what its limits refuse) and no RSA signing is needed: signatures are
//! filler bytes, which a verifier only finds out after the work the limits prevent.

#![allow(dead_code)]

use sha2::{Digest, Sha256};

/// One DER element: `tag`, a minimal definite length, `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The concatenation of `parts`.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// OBJECT IDENTIFIER from its content octets.
fn oid(content: &[u8]) -> Vec<u8> {
    tlv(0x06, content)
}

const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const ID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const ID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const ID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const ID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// The content signed by the generated messages: `len` bytes of a repeated text line.
pub fn content(len: usize) -> Vec<u8> {
    b"hostile input, generated for the resource-limit tests\r\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn sha256_alg() -> Vec<u8> {
    tlv(0x30, &oid(ID_SHA256))
}

/// Signed attributes `[0] IMPLICIT SET { contentType id-data, messageDigest }`.
fn signed_attrs(digest: &[u8]) -> Vec<u8> {
    let ct = tlv(
        0x30,
        &cat(&[&oid(ID_CONTENT_TYPE), &tlv(0x31, &oid(ID_DATA))]),
    );
    let md = tlv(
        0x30,
        &cat(&[&oid(ID_MESSAGE_DIGEST), &tlv(0x31, &tlv(0x04, digest))]),
    );
    tlv(0xa0, &cat(&[&ct, &md]))
}

/// One SignerInfo naming its signer by `sid` (an `IssuerAndSerialNumber` SEQUENCE for
/// `version` 1, a `[0]` subjectKeyIdentifier for version 3), SHA-256, contentType and
/// messageDigest attributes, and 256 bytes of filler as its RSA signature.
fn signer_info(version: u8, sid: &[u8], digest: &[u8]) -> Vec<u8> {
    tlv(
        0x30,
        &cat(&[
            &tlv(0x02, &[version]),
            sid,
            &sha256_alg(),
            &signed_attrs(digest),
            &tlv(0x30, &cat(&[&oid(RSA_ENCRYPTION), &[0x05, 0x00]])),
            &tlv(0x04, &[0x5a; 256]),
        ]),
    )
}

/// A ContentInfo holding a SignedData of `version` with SHA-256, the encapsulated `content`,
/// the certificates `certs` (each a DER Certificate) and the SignerInfos `signers`.
fn signed_data(version: u8, content: &[u8], certs: &[Vec<u8>], signers: &[Vec<u8>]) -> Vec<u8> {
    let eci = tlv(
        0x30,
        &cat(&[&oid(ID_DATA), &tlv(0xa0, &tlv(0x04, content))]),
    );
    let mut fields = cat(&[&tlv(0x02, &[version]), &tlv(0x31, &sha256_alg()), &eci]);
    if !certs.is_empty() {
        fields.extend(tlv(0xa0, &certs.concat()));
    }
    fields.extend(tlv(0x31, &signers.concat()));
    tlv(
        0x30,
        &cat(&[&oid(ID_SIGNED_DATA), &tlv(0xa0, &tlv(0x30, &fields))]),
    )
}

/// The issuer Name and serial INTEGER (both whole DER elements) of a DER certificate.
fn issuer_and_serial(cert_der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use der::Encode;
    let cert = <pki::Certificate as der::Decode>::from_der(cert_der).expect("a DER certificate");
    let tbs = cert.tbs_certificate();
    (
        tbs.issuer().to_der().expect("issuer"),
        tbs.serial_number().to_der().expect("serial"),
    )
}

/// Shape 1: a SignedData with `signers` SignerInfos over `content_len` bytes of content, each
/// naming `signer_cert` (which the message carries) by issuer and serial number, each with
/// contentType and the right messageDigest. Issue 15: 16 000 signers over 2 MiB.
pub fn many_signers(signer_cert: &[u8], signers: usize, content_len: usize) -> Vec<u8> {
    let body = content(content_len);
    let digest = Sha256::digest(&body);
    let (issuer, serial) = issuer_and_serial(signer_cert);
    let sid = tlv(0x30, &cat(&[&issuer, &serial]));
    let one = signer_info(1, &sid, &digest);
    let infos = vec![one; signers];
    signed_data(1, &body, &[signer_cert.to_vec()], &infos)
}

/// A v1 certificate (no extensions, so no subjectKeyIdentifier) numbered `n`, for the public
/// key `spki` (a DER SubjectPublicKeyInfo), with a filler signature.
pub fn v1_certificate(n: u32, spki: &[u8]) -> Vec<u8> {
    let name = |cn: &str| {
        let atv = tlv(0x30, &cat(&[&oid(ID_CN), &tlv(0x0c, cn.as_bytes())]));
        tlv(0x30, &tlv(0x31, &atv))
    };
    let sig_alg = tlv(0x30, &cat(&[&oid(SHA256_WITH_RSA), &[0x05, 0x00]]));
    let mut serial = n.to_be_bytes().to_vec();
    serial.insert(0, 0x01);
    let validity = tlv(
        0x30,
        &cat(&[&tlv(0x17, b"260101000000Z"), &tlv(0x17, b"270101000000Z")]),
    );
    let tbs = tlv(
        0x30,
        &cat(&[
            &tlv(0x02, &serial),
            &sig_alg,
            &name("Hostile v1 CA"),
            &validity,
            &name(&format!("Hostile v1 certificate {n}")),
            spki,
        ]),
    );
    let mut sig = vec![0u8];
    sig.extend([0x5a; 256]);
    tlv(0x30, &cat(&[&tbs, &sig_alg, &tlv(0x03, &sig)]))
}

/// Shape 2: a SignedData carrying `certs` v1 certificates (no SKI extension, all for the key
/// `spki`) and `signers` SignerInfos named by a subjectKeyIdentifier that none of them has,
/// so a verifier that computes each certificate's key identifier per signer does
/// `certs × signers` key parses. Issue 15: 650 certificates and 9 000 signers.
pub fn many_ski_certificates(spki: &[u8], certs: usize, signers: usize) -> Vec<u8> {
    let body = content(1024);
    let digest = Sha256::digest(&body);
    let certs: Vec<Vec<u8>> = (0..certs as u32).map(|n| v1_certificate(n, spki)).collect();
    let infos: Vec<Vec<u8>> = (0..signers as u32)
        .map(|n| {
            let mut ski = [0x77u8; 20];
            ski[..4].copy_from_slice(&n.to_be_bytes());
            signer_info(3, &tlv(0x80, &ski), &digest)
        })
        .collect();
    signed_data(3, &body, &certs, &infos)
}

/// Shape 3: a BER SEQUENCE with a 4-byte length holding `len` bytes of 2-byte NULLs
/// (`30 84 LL LL LL LL 05 00 05 00 …`). Issue 15: tens of MiB.
pub fn null_sequence(len: usize) -> Vec<u8> {
    let len = len & !1;
    let mut out = Vec::with_capacity(len + 6);
    out.extend([0x30, 0x84]);
    out.extend((len as u32).to_be_bytes());
    out.extend(std::iter::repeat_n([0x05u8, 0x00], len / 2).flatten());
    out
}
