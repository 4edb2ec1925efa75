//! Lockbox encryption (CMS EnvelopedData / AuthEnvelopedData) against `openssl cms` in both
//! directions for every content algorithm and both key transports, the RFC 4134 vectors,
//! key lists with old and new keys, and bad input: tampering, wrong keys, truncation,
//! malformed CMS and unknown algorithms, all typed errors and never a panic.

use std::path::Path;
use std::sync::OnceLock;

use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use pki::certificate::{self, parse_certificate};
use pki::content::Cast5Params;
use pki::enveloped::{self, Decrypted, EncryptOptions, KeyTransport, RecipientId, RecipientIdKind};
use pki::{Certificate, ContentAlgorithm, PrivateKey, Profile};

use crate::support::*;

/// Certificates of the test CA: Alice's current and old encryption certificates, her signing
/// certificate, and Bob's encryption certificate.
struct Fixture {
    alice: Certificate,
    alice_old: Certificate,
    alice_sign: Certificate,
    bob: Certificate,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ca = test_ca();
        let (alice_sign, alice) = user_certs(&ca, "alice");
        let (_, bob) = user_certs(&ca, "bob");
        let alice_old = ca
            .issue(
                &Profile::SmimeEncryption(smime_subject("Alice", &ContentAlgorithm::RANKING)),
                &key("alice-enc-old").public_key(),
                one_year(),
                &mut pki::os_rng(),
            )
            .unwrap();
        Fixture {
            alice,
            alice_old,
            alice_sign,
            bob,
        }
    })
}

fn key_path(name: &str) -> String {
    keys_dir()
        .join(format!("{name}.key.pem"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A content of `len` bytes that is not text (every byte value, CR and LF included), so that
/// a mangled line ending would show.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn encrypt(
    content: &[u8],
    to: &[&Certificate],
    alg: ContentAlgorithm,
    o: EncryptOptions,
) -> Vec<u8> {
    let certs: Vec<Certificate> = to.iter().map(|c| (*c).clone()).collect();
    enveloped::encrypt(content, &certs, alg, &o, &mut pki::os_rng()).unwrap()
}

fn decrypt(der: &[u8], keys: &[(PrivateKey, Certificate)]) -> pki::Result<Decrypted> {
    enveloped::decrypt(der, keys, &mut pki::os_rng())
}

fn alice_keys() -> Vec<(PrivateKey, Certificate)> {
    vec![(key("alice-enc"), fixture().alice.clone())]
}

/// Whether OpenSSL needs its legacy provider for `alg`.
fn legacy(alg: ContentAlgorithm) -> bool {
    matches!(
        alg,
        ContentAlgorithm::Des
            | ContentAlgorithm::Cast40
            | ContentAlgorithm::Cast64
            | ContentAlgorithm::Cast128
            | ContentAlgorithm::Rc2_40
            | ContentAlgorithm::Rc2_64
            | ContentAlgorithm::Rc2_128
    )
}

/// `openssl cms -decrypt` of `msg` (DER) for `cert`/`key`; returns the plaintext.
fn openssl_decrypt(d: &Path, msg: &str, cert: &str, key: &str, legacy: bool) -> Vec<u8> {
    let mut args = vec!["cms", "-decrypt"];
    if legacy {
        args.extend(LEGACY);
    }
    args.extend([
        "-binary", "-inform", "DER", "-in", msg, "-recip", cert, "-inkey", key, "-out", "out.bin",
    ]);
    openssl_ok(d, &args);
    std::fs::read(d.join("out.bin")).unwrap()
}

/// `openssl cms -encrypt` of `in` with `cipher` (and extra args) for `certs`; returns the DER.
fn openssl_encrypt(d: &Path, input: &str, cipher: &str, extra: &[&str], certs: &[&str]) -> Vec<u8> {
    let mut args = vec!["cms", "-encrypt"];
    args.extend(LEGACY);
    args.extend([
        cipher, "-binary", "-in", input, "-outform", "DER", "-out", "msg.der",
    ]);
    args.extend(extra);
    args.extend(certs);
    openssl_ok(d, &args);
    std::fs::read(d.join("msg.der")).unwrap()
}

#[test]
fn openssl_decrypts_what_we_encrypt_with_every_algorithm() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let alice_key = key_path("alice-enc");
    let msg = content(1000);
    // Every algorithm, CAST5-40 and CAST5-64 included: with the (default) bare-IV parameters
    // OpenSSL takes the CAST5 key length from the unwrapped key.
    for alg in ContentAlgorithm::RANKING {
        let der = encrypt(&msg, &[&f.alice], alg, EncryptOptions::default());
        write(d, "msg.der", &der);
        let out = openssl_decrypt(d, "msg.der", "alice.pem", &alice_key, legacy(alg));
        assert_eq!(out, msg, "{alg}");
        // Our own view of it agrees.
        let info = enveloped::inspect(&der).unwrap();
        assert_eq!(info.authenticated, alg.is_aead(), "{alg}");
        assert!(info.possible_algorithms.contains(&alg), "{alg}");
        let back = decrypt(&der, &alice_keys()).unwrap();
        assert_eq!(back.content, msg);
        assert_eq!(back.algorithm, alg);
    }
}

#[test]
fn we_decrypt_what_openssl_encrypts_with_every_algorithm() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let msg = content(777);
    write(d, "in.bin", &msg);
    // `openssl cms -encrypt` has no key-length option: `-cast5-cbc` always makes a 128-bit
    // CAST5 key, so OpenSSL cannot produce CAST5-40 or CAST5-64 EnvelopedData. That direction
    // is covered the other way round (ours -> OpenSSL) above.
    let cases = [
        ("-des", ContentAlgorithm::Des),
        ("-des3", ContentAlgorithm::TripleDes),
        ("-rc2-40-cbc", ContentAlgorithm::Rc2_40),
        ("-rc2-64-cbc", ContentAlgorithm::Rc2_64),
        ("-rc2-cbc", ContentAlgorithm::Rc2_128),
        ("-cast5-cbc", ContentAlgorithm::Cast128),
        ("-aes-128-cbc", ContentAlgorithm::Aes128),
        ("-aes-192-cbc", ContentAlgorithm::Aes192),
        ("-aes-256-cbc", ContentAlgorithm::Aes256),
        ("-aes-128-gcm", ContentAlgorithm::Aes128Gcm),
        ("-aes-256-gcm", ContentAlgorithm::Aes256Gcm),
    ];
    for (flag, alg) in cases {
        let der = openssl_encrypt(d, "in.bin", flag, &[], &["alice.pem"]);
        let out = decrypt(&der, &alice_keys()).unwrap_or_else(|e| panic!("{flag}: {e}"));
        assert_eq!(out.content, msg, "{flag}");
        assert_eq!(out.algorithm, alg, "{flag}");
        assert_eq!(out.authenticated, alg.is_aead(), "{flag}");
        assert_eq!(out.key_index, 0);
        let info = enveloped::inspect(&der).unwrap();
        if alg == ContentAlgorithm::Cast128 {
            // OpenSSL's bare IV does not say the key length.
            assert_eq!(info.algorithm, None);
            assert_eq!(
                info.possible_algorithms,
                [
                    ContentAlgorithm::Cast128,
                    ContentAlgorithm::Cast64,
                    ContentAlgorithm::Cast40
                ]
            );
        } else {
            assert_eq!(info.algorithm, Some(alg), "{flag}");
        }
        assert_eq!(
            info.recipients,
            [
                RecipientId::of_certificate(&f.alice, RecipientIdKind::IssuerAndSerialNumber)
                    .unwrap()
            ]
        );
    }
}

#[test]
fn cast5_rfc2984_parameters_are_written_on_request_and_read_back() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let msg = content(300);
    let o = EncryptOptions {
        cast5: Cast5Params::Rfc2984,
        ..EncryptOptions::default()
    };
    for alg in [
        ContentAlgorithm::Cast40,
        ContentAlgorithm::Cast64,
        ContentAlgorithm::Cast128,
    ] {
        let der = encrypt(&msg, &[&f.alice], alg, o);
        // The parameters are SEQUENCE { iv, keyLength }, so the algorithm is known unread.
        let info = enveloped::inspect(&der).unwrap();
        assert_eq!(info.algorithm, Some(alg));
        let back = decrypt(&der, &alice_keys()).unwrap();
        assert_eq!((back.content.as_slice(), back.algorithm), (&msg[..], alg));
        write(d, "msg.der", &der);
        let text = openssl_ok(d, &["asn1parse", "-inform", "DER", "-in", "msg.der"]).stdout;
        let text = String::from_utf8_lossy(&text);
        let bits = format!("INTEGER           :{:02X}", alg.key_bits());
        assert!(text.contains("cast5-cbc") && text.contains(&bits), "{text}");
        // OpenSSL 3.0 refuses this form (it wants a bare OCTET STRING IV): the reason the
        // bare IV is our default.
        let mut args = vec!["cms", "-decrypt"];
        args.extend(LEGACY);
        let key = key_path("alice-enc");
        args.extend([
            "-inform",
            "DER",
            "-in",
            "msg.der",
            "-recip",
            "alice.pem",
            "-inkey",
            &key,
        ]);
        openssl_fails(d, &args);
    }
}

#[test]
fn rsa_oaep_key_transport_both_directions() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let alice_key = key_path("alice-enc");
    let msg = content(500);
    write(d, "in.bin", &msg);
    for kt in [KeyTransport::RsaOaep, KeyTransport::RsaOaepSha256] {
        for alg in [ContentAlgorithm::Aes256, ContentAlgorithm::Aes128Gcm] {
            let o = EncryptOptions {
                key_transport: kt,
                ..EncryptOptions::default()
            };
            let der = encrypt(&msg, &[&f.alice], alg, o);
            write(d, "msg.der", &der);
            let text = openssl_ok(d, &["asn1parse", "-inform", "DER", "-in", "msg.der"]).stdout;
            assert!(String::from_utf8_lossy(&text).contains("rsaesOaep"));
            assert_eq!(
                openssl_decrypt(d, "msg.der", "alice.pem", &alice_key, false),
                msg
            );
            assert_eq!(decrypt(&der, &alice_keys()).unwrap().content, msg);
        }
    }
    let sha256 = [
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_md:sha256",
        "-keyopt",
        "rsa_mgf1_md:sha256",
    ];
    let mixed = [
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_md:sha512",
        "-keyopt",
        "rsa_mgf1_md:sha1",
    ];
    for extra in [&["-keyopt", "rsa_padding_mode:oaep"][..], &sha256, &mixed] {
        // `-keyopt` applies to the `-recip` before it.
        let mut recip = vec!["-recip", "alice.pem"];
        recip.extend(extra);
        let der = openssl_encrypt(d, "in.bin", "-aes-128-cbc", &[], &recip);
        let out = decrypt(&der, &alice_keys()).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(out.content, msg, "{extra:?}");
    }
}

#[test]
fn two_recipients_each_decrypt_and_key_lists_pick_the_right_key() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    write_pem_cert(d, "bob.pem", &f.bob);
    let msg = content(2000);
    let der = encrypt(
        &msg,
        &[&f.alice, &f.bob],
        ContentAlgorithm::Aes128Gcm,
        EncryptOptions::default(),
    );
    assert_eq!(enveloped::inspect(&der).unwrap().recipients.len(), 2);
    let bob_keys = vec![(key("bob-enc"), f.bob.clone())];
    for (keys, cert) in [(alice_keys(), &f.alice), (bob_keys.clone(), &f.bob)] {
        let out = decrypt(&der, &keys).unwrap();
        assert_eq!(out.content, msg);
        assert!(out.recipient.matches(cert));
    }
    write(d, "msg.der", &der);
    for (cert, k) in [("alice.pem", "alice-enc"), ("bob.pem", "bob-enc")] {
        assert_eq!(
            openssl_decrypt(d, "msg.der", cert, &key_path(k), false),
            msg
        );
    }
    // OpenSSL's two-recipient messages: Bob reads his lockbox.
    write(d, "in.bin", &msg);
    let der = openssl_encrypt(d, "in.bin", "-aes-256-cbc", &[], &["alice.pem", "bob.pem"]);
    assert_eq!(decrypt(&der, &bob_keys).unwrap().content, msg);

    // A PKCS#12-like key list holding Alice's new and old keys: each message is opened with
    // the key it names.
    let keys = vec![
        (key("alice-enc"), f.alice.clone()),
        (key("alice-enc-old"), f.alice_old.clone()),
    ];
    let old_msg = encrypt(
        &msg,
        &[&f.alice_old],
        ContentAlgorithm::TripleDes,
        EncryptOptions::default(),
    );
    let new_msg = encrypt(
        &msg,
        &[&f.alice],
        ContentAlgorithm::Aes256,
        EncryptOptions::default(),
    );
    let out = decrypt(&old_msg, &keys).unwrap();
    assert_eq!((out.key_index, out.content.as_slice()), (1, &msg[..]));
    assert!(out.recipient.matches(&f.alice_old));
    assert_eq!(decrypt(&new_msg, &keys).unwrap().key_index, 0);
    // Only the new key: the old message is not for it, and the error says whom it is for.
    let e = decrypt(&old_msg, &alice_keys()).unwrap_err();
    assert_eq!(e.code(), "PKI-061", "{e}");
    let serial = certificate::hex_lower(f.alice_old.tbs_certificate().serial_number().as_bytes());
    assert!(e.to_string().contains(&serial), "{e}");
    // A key that does not belong to its certificate is refused before anything else.
    let e = decrypt(&new_msg, &[(key("bob-enc"), f.alice.clone())]).unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
}

#[test]
fn recipients_named_by_subject_key_identifier_both_directions() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let msg = content(100);
    let o = EncryptOptions {
        recipient_id: RecipientIdKind::SubjectKeyIdentifier,
        ..EncryptOptions::default()
    };
    let der = encrypt(&msg, &[&f.alice], ContentAlgorithm::Aes128, o);
    let info = enveloped::inspect(&der).unwrap();
    assert!(matches!(
        info.recipients[0],
        RecipientId::SubjectKeyIdentifier(_)
    ));
    write(d, "msg.der", &der);
    assert_eq!(
        openssl_decrypt(d, "msg.der", "alice.pem", &key_path("alice-enc"), false),
        msg
    );
    assert_eq!(decrypt(&der, &alice_keys()).unwrap().content, msg);
    write(d, "in.bin", &msg);
    let der = openssl_encrypt(d, "in.bin", "-aes-128-gcm", &["-keyid"], &["alice.pem"]);
    let out = decrypt(&der, &alice_keys()).unwrap();
    assert_eq!(out.content, msg);
    assert!(matches!(
        out.recipient,
        RecipientId::SubjectKeyIdentifier(_)
    ));
}

#[test]
fn streamed_ber_from_openssl_is_read() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let msg = content(5000);
    write(d, "in.bin", &msg);
    for cipher in ["-aes-128-cbc", "-aes-256-gcm", "-des3"] {
        // `-stream` writes indefinite lengths and a constructed encryptedContent.
        let der = openssl_encrypt(d, "in.bin", cipher, &["-stream"], &["alice.pem"]);
        assert_eq!(&der[..2], &[0x30, 0x80], "{cipher}: expected BER");
        assert_eq!(
            decrypt(&der, &alice_keys()).unwrap().content,
            msg,
            "{cipher}"
        );
        assert!(enveloped::inspect(&der).is_ok());
    }
}

const RFC4134: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/rfc4134");

fn rfc4134(file: &str) -> Vec<u8> {
    let p = Path::new(RFC4134).join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn rfc4134_enveloped_data_examples_decrypt_with_bobs_key() {
    // RFC 4134 §2.1: ExContent is "This is some sample content." (28 octets, no newline).
    let ex_content = b"This is some sample content.";
    let bob = PrivateKey::from_der(&rfc4134("BobPrivRSAEncrypt.pri")).unwrap();
    assert_eq!(bob.bits(), 1024);
    let cert = parse_certificate(&rfc4134("BobRSASignByCarl.cer")).unwrap();
    let keys = vec![(bob, cert)];
    // §5.1: 3DES, one key-transport recipient.
    let out = decrypt(&rfc4134("5.1.bin"), &keys).unwrap();
    assert_eq!(out.content, ex_content);
    assert_eq!(out.algorithm, ContentAlgorithm::TripleDes);
    // §5.2: RC2 and a second, KEK (mail list) recipient we skip. Despite the section title
    // "RC2/128", the parameters say rc2ParameterVersion 160 (40 effective key bits) and the
    // wrapped key is 5 octets (c3 56 74 be 35, as `openssl pkeyutl -decrypt` shows): RC2-40.
    let der = rfc4134("5.2.bin");
    let out = decrypt(&der, &keys).unwrap();
    assert_eq!(out.content, ex_content);
    assert_eq!(out.algorithm, ContentAlgorithm::Rc2_40);
    let info = enveloped::inspect(&der).unwrap();
    assert_eq!(info.recipients.len(), 2);
    assert_eq!(info.recipients[1], RecipientId::Other("KEK"));
}

/// Flips one bit of `der` at `at`.
fn flipped(der: &[u8], at: usize) -> Vec<u8> {
    let mut v = der.to_vec();
    v[at] ^= 0x01;
    v
}

#[test]
fn a_tampered_ciphertext_fails_in_ours_and_in_openssl() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "alice.pem", &f.alice);
    let alice_key = key_path("alice-enc");
    // 64 bytes: whole AES blocks, so the last block is all padding (0x10 * 16).
    let msg = content(64);
    write(d, "in.bin", &msg);
    let ours_cbc = encrypt(
        &msg,
        &[&f.alice],
        ContentAlgorithm::Aes128,
        EncryptOptions::default(),
    );
    let ours_gcm = encrypt(
        &msg,
        &[&f.alice],
        ContentAlgorithm::Aes128Gcm,
        EncryptOptions::default(),
    );
    let theirs_cbc = openssl_encrypt(d, "in.bin", "-aes-128-cbc", &[], &["alice.pem"]);
    let theirs_gcm = openssl_encrypt(d, "in.bin", "-aes-128-gcm", &[], &["alice.pem"]);
    for (name, der, gcm) in [
        ("ours CBC", ours_cbc, false),
        ("ours GCM", ours_gcm, true),
        ("OpenSSL CBC", theirs_cbc, false),
        ("OpenSSL GCM", theirs_gcm, true),
    ] {
        let n = der.len();
        // The encrypted content ends the EnvelopedData; in AuthEnvelopedData the 16-octet MAC
        // (04 10 ...) follows it.
        let at = if gcm {
            // A byte in the middle of the ciphertext.
            n - 18 - 30
        } else {
            // The last byte of the next-to-last block: it turns the padding 0x10 into 0x11,
            // which is never valid.
            n - 16 - 1
        };
        let bad = flipped(&der, at);
        let e = decrypt(&bad, &alice_keys()).unwrap_err();
        assert_eq!(e.code(), "PKI-060", "{name}: {e}");
        assert_eq!(
            e.to_string(),
            "PKI-060: could not decrypt: wrong key or damaged message"
        );
        write(d, "bad.der", &bad);
        let args = [
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "bad.der",
            "-recip",
            "alice.pem",
            "-inkey",
            &alice_key,
            "-out",
            "x.bin",
        ];
        openssl_fails(d, &args);
        // A tampered MAC fails the same way.
        if gcm {
            let e = decrypt(&flipped(&der, n - 3), &alice_keys()).unwrap_err();
            assert_eq!(e.code(), "PKI-060", "{name}");
        }
    }
}

/// Decodes a message, lets `edit` change its RecipientInfos and EncryptedContentInfo, and
/// encodes it again (EnvelopedData or AuthEnvelopedData).
fn edited(
    der: &[u8],
    edit: impl FnOnce(
        &mut Vec<cms::enveloped_data::RecipientInfo>,
        &mut cms::enveloped_data::EncryptedContentInfo,
    ),
) -> Vec<u8> {
    use cms::authenveloped_data::AuthEnvelopedData;
    use cms::content_info::ContentInfo;
    use cms::enveloped_data::{EnvelopedData, RecipientInfos};
    let mut ci = ContentInfo::from_der(der).unwrap();
    let set = |ris: Vec<_>| RecipientInfos(der::asn1::SetOfVec::try_from(ris).unwrap());
    if let Ok(mut ed) = ci.content.decode_as::<EnvelopedData>() {
        let mut ris = ed.recip_infos.0.into_vec();
        edit(&mut ris, &mut ed.encrypted_content);
        ed.recip_infos = set(ris);
        ci.content = Any::encode_from(&ed).unwrap();
    } else {
        let mut aed = ci.content.decode_as::<AuthEnvelopedData>().unwrap();
        let mut ris = aed.recip_infos.0.into_vec();
        edit(&mut ris, &mut aed.auth_encrypted_content_info);
        aed.recip_infos = set(ris);
        ci.content = Any::encode_from(&aed).unwrap();
    }
    ci.to_der().unwrap()
}

fn ktri(
    ri: &mut cms::enveloped_data::RecipientInfo,
) -> &mut cms::enveloped_data::KeyTransRecipientInfo {
    match ri {
        cms::enveloped_data::RecipientInfo::Ktri(k) => k,
        _ => panic!("not a ktri"),
    }
}

#[test]
fn wrong_keys_and_bad_key_transport_are_the_one_generic_error() {
    let f = fixture();
    let msg = content(200);
    let bob_rid =
        RecipientId::of_certificate(&f.bob, RecipientIdKind::IssuerAndSerialNumber).unwrap();
    let RecipientId::IssuerAndSerialNumber { issuer, serial } = bob_rid else {
        unreachable!()
    };
    let bob_keys = vec![(key("bob-enc"), f.bob.clone())];
    let generic = |r: pki::Result<Decrypted>, strict: bool, what: &str| match r {
        Err(e) => assert_eq!(e.code(), "PKI-060", "{what}: {e}"),
        // CBC has no integrity: with a random wrong key the padding is valid by chance about
        // once in 200 tries, and the content is garbage. GCM never lets that through.
        Ok(out) => {
            assert!(!strict, "{what}: decrypted with a wrong key");
            assert_ne!(out.content, msg, "{what}");
        }
    };
    for kt in [KeyTransport::RsaPkcs1v15, KeyTransport::RsaOaep] {
        for alg in [
            ContentAlgorithm::Aes256Gcm,
            ContentAlgorithm::Aes128,
            ContentAlgorithm::Cast40,
            ContentAlgorithm::Rc2_64,
        ] {
            let o = EncryptOptions {
                key_transport: kt,
                ..EncryptOptions::default()
            };
            let der = encrypt(&msg, &[&f.alice], alg, o);
            let what = format!("{kt:?} {alg}");
            // Bob's key for a lockbox made for Alice but labelled as Bob's.
            let relabelled = edited(&der, |ris, _| {
                ktri(&mut ris[0]).rid =
                    cms::enveloped_data::RecipientIdentifier::IssuerAndSerialNumber(
                        cms::cert::IssuerAndSerialNumber {
                            issuer: issuer.clone(),
                            serial_number: serial.clone(),
                        },
                    );
            });
            generic(decrypt(&relabelled, &bob_keys), alg.is_aead(), &what);
            // A damaged wrapped key; one cut short; one too long.
            for change in [0usize, 1, 2] {
                let bad = edited(&der, |ris, _| {
                    let k = ktri(&mut ris[0]);
                    let mut v = k.enc_key.as_bytes().to_vec();
                    match change {
                        0 => v[100] ^= 0x40,
                        1 => v.truncate(200),
                        _ => v.push(0),
                    }
                    k.enc_key = OctetString::new(v).unwrap();
                });
                generic(decrypt(&bad, &alice_keys()), alg.is_aead(), &what);
            }
        }
    }
}

#[test]
fn malformed_input_is_a_typed_error_and_never_a_panic() {
    let f = fixture();
    let der = encrypt(
        &content(40),
        &[&f.alice],
        ContentAlgorithm::Aes128Gcm,
        EncryptOptions::default(),
    );
    let keys = alice_keys();
    // Every truncation.
    for n in 0..der.len() {
        let e = decrypt(&der[..n], &keys).unwrap_err();
        assert!(
            ["PKI-001", "PKI-062"].contains(&e.code()),
            "cut at {n}: {e}"
        );
        assert!(enveloped::inspect(&der[..n]).is_err());
    }
    // Every single-bit flip outside the RSA-wrapped key and the ciphertext (those are
    // covered above): whatever happens, no panic and a typed error.
    for at in 0..der.len() {
        let bad = flipped(&der, at);
        let _ = enveloped::inspect(&bad);
        if let Err(e) = decrypt(&bad, &keys) {
            assert!(e.code().starts_with("PKI-0"), "{e}");
        }
    }
    // Not CMS at all; an empty input; a CMS SignedData (RFC 4134 §4.1).
    assert_eq!(decrypt(b"", &keys).unwrap_err().code(), "PKI-001");
    assert_eq!(
        decrypt(b"hello world", &keys).unwrap_err().code(),
        "PKI-001"
    );
    let e = decrypt(&rfc4134("4.1.bin"), &keys).unwrap_err();
    assert_eq!(e.code(), "PKI-062", "{e}");
    assert!(e.to_string().contains("1.2.840.113549.1.7.2"), "{e}");
    // An unknown content-encryption algorithm (RC4) names its OID.
    let rc4 = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.3.4");
    let cbc = encrypt(
        &content(40),
        &[&f.alice],
        ContentAlgorithm::Aes128,
        EncryptOptions::default(),
    );
    let unknown = edited(&cbc, |_, eci| eci.content_enc_alg.oid = rc4);
    for e in [
        decrypt(&unknown, &keys).unwrap_err(),
        enveloped::inspect(&unknown).unwrap_err(),
    ] {
        assert_eq!(e.code(), "PKI-021", "{e}");
        assert!(e.to_string().contains("1.2.840.113549.3.4"), "{e}");
    }
    // An unknown key-transport algorithm, too.
    let unknown_kt = edited(&cbc, |ris, _| ktri(&mut ris[0]).key_enc_alg.oid = rc4);
    assert_eq!(decrypt(&unknown_kt, &keys).unwrap_err().code(), "PKI-021");
    // Detached content.
    let detached = edited(&cbc, |_, eci| eci.encrypted_content = None);
    let e = decrypt(&detached, &keys).unwrap_err();
    assert_eq!(e.code(), "PKI-062", "{e}");
    assert!(e.to_string().contains("detached"), "{e}");
    // Too many recipients.
    let crowded = edited(&cbc, |ris, _| {
        let one = ris[0].clone();
        for i in 0..enveloped::MAX_RECIPIENTS {
            let mut r = one.clone();
            let v = (i as u32).to_be_bytes().to_vec();
            ktri(&mut r).enc_key = OctetString::new(v).unwrap();
            ris.push(r);
        }
    });
    let e = decrypt(&crowded, &keys).unwrap_err();
    assert_eq!(e.code(), "PKI-062", "{e}");
    assert!(e.to_string().contains("recipients"), "{e}");
    // Too large (the zeroed allocation is lazy: the size check comes first).
    let huge = vec![0u8; enveloped::MAX_MESSAGE_SIZE + 1];
    assert_eq!(decrypt(&huge, &keys).unwrap_err().code(), "PKI-004");
}

#[test]
fn encrypt_refuses_bad_recipient_lists_and_oversized_content() {
    let f = fixture();
    let mut rng = pki::os_rng();
    let o = EncryptOptions::default();
    let alg = ContentAlgorithm::Aes128;
    let e = enveloped::encrypt(b"x", &[], alg, &o, &mut rng).unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
    let many = vec![f.alice.clone(); enveloped::MAX_RECIPIENTS + 1];
    let e = enveloped::encrypt(b"x", &many, alg, &o, &mut rng).unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
    // The signing certificate is not for encryption.
    let e = enveloped::encrypt(b"x", std::slice::from_ref(&f.alice_sign), alg, &o, &mut rng)
        .unwrap_err();
    assert!(e.to_string().contains("keyEncipherment"), "{e}");
    let huge = vec![0u8; pki::content::MAX_CONTENT_SIZE + 1];
    let e =
        enveloped::encrypt(&huge, std::slice::from_ref(&f.alice), alg, &o, &mut rng).unwrap_err();
    assert_eq!(e.code(), "PKI-004", "{e}");
}
