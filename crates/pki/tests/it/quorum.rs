//! The cryptographic quorum's primitives against published vectors (RFC 9180 A.1) and a real
//! peer (OpenSSL reading and writing agent key files).

use hpke::rand_core::{TryCryptoRng, TryRng};
use pki::quorum::{self, AgentPublicKey, AgentSecretKey};

/// RFC 9180 (final text), appendix A.1.1: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// AES-128-GCM, copied from the RFC's printed vectors. `pki::quorum` uses the same KEM and KDF
/// with AES-256-GCM (aead_id 2), a suite the RFC's text prints no vector for; the KEM (key
/// derivation, encapsulation) and the key schedule checked here are the same code, and the
/// AES-256-GCM sealing is checked by round trip and refusal below.
mod rfc9180 {
    pub const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    pub const IKM_E: &str = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234";
    pub const PK_EM: &str = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
    pub const IKM_R: &str = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037";
    pub const PK_RM: &str = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d";
    pub const SK_RM: &str = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
    pub const ENC: &str = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
    pub const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    pub const AAD0: &str = "436f756e742d30";
    pub const CT0: &str = "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a";
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// A "generator" that returns the vector's ephemeral keying material, once.
struct Fixed(Vec<u8>);

impl TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("HPKE asks for bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("HPKE asks for bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), self.0.len(), "one ephemeral key's worth");
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}

impl TryCryptoRng for Fixed {}

#[test]
fn hpke_kem_and_key_schedule_match_rfc9180_a1() {
    use hpke::kem::X25519HkdfSha256 as Kem;
    use hpke::{Deserializable, Serializable};
    use rfc9180::*;
    // Key derivation, through pki::quorum.
    let recipient = AgentSecretKey::derive(&h(IKM_R));
    // The crate keeps the scalar clamped (RFC 7748 §5), the RFC prints it unclamped: the same
    // X25519 key.
    let mut sk_rm = h(SK_RM);
    sk_rm[0] &= 248;
    sk_rm[31] &= 127;
    sk_rm[31] |= 64;
    assert_eq!(&recipient.expose()[..], &sk_rm[..]);
    assert_eq!(
        AgentSecretKey::from_bytes(&h(SK_RM))
            .unwrap()
            .public_key()
            .unwrap(),
        AgentPublicKey::from_bytes(&h(PK_RM)).unwrap()
    );
    let pk = recipient.public_key().unwrap();
    assert_eq!(pk, AgentPublicKey::from_bytes(&h(PK_RM)).unwrap());
    assert_eq!(
        AgentSecretKey::derive(&h(IKM_E))
            .public_key()
            .unwrap()
            .0
            .to_vec(),
        h(PK_EM)
    );

    // Encapsulation and key schedule, through the crate with the vector's AEAD.
    let pk_r = <Kem as hpke::Kem>::PublicKey::from_bytes(&h(PK_RM)).unwrap();
    let (enc, ct) =
        hpke::single_shot_seal_with_rng::<hpke::aead::AesGcm128, hpke::kdf::HkdfSha256, Kem>(
            &hpke::OpModeS::Base,
            &pk_r,
            &h(INFO),
            &h(PT),
            &h(AAD0),
            &mut Fixed(h(IKM_E)),
        )
        .unwrap();
    assert_eq!(enc.to_bytes().to_vec(), h(ENC), "enc");
    assert_eq!(ct, h(CT0), "ciphertext of sequence 0");

    // Our suite with the same ephemeral key: the same enc, and it opens with the vector's
    // recipient key and nothing else.
    let sealed =
        quorum::seal_with_rng(&pk, &h(INFO), &h(PT), &h(AAD0), &mut Fixed(h(IKM_E))).unwrap();
    assert_eq!(&sealed[..32], &h(ENC)[..]);
    assert_eq!(sealed.len(), 32 + h(PT).len() + 16);
    let opened = quorum::open_with_aad(&recipient, &h(INFO), &sealed, &h(AAD0)).unwrap();
    assert_eq!(&opened[..], &h(PT)[..]);
    assert!(quorum::open_with_aad(&recipient, &h(INFO), &sealed, b"Count-1").is_err());
    assert!(quorum::open_with_aad(&recipient, b"other info", &sealed, &h(AAD0)).is_err());
    let stranger = AgentSecretKey::derive(&h(IKM_E));
    assert!(quorum::open_with_aad(&stranger, &h(INFO), &sealed, &h(AAD0)).is_err());
}

#[test]
fn openssl_reads_an_agent_key_file_and_derives_the_same_public_key() {
    let agent = AgentSecretKey::generate().unwrap();
    let pem = agent.to_encrypted_pem(b"agent pass phrase", 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.key");
    std::fs::write(&path, pem.as_bytes()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(&path)
        .args([
            "-passin",
            "pass:agent pass phrase",
            "-pubout",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SubjectPublicKeyInfo for X25519: a 12-byte header, then the 32-byte key.
    assert_eq!(out.stdout.len(), 44);
    assert_eq!(&out.stdout[12..], &agent.public_key().unwrap().0[..]);
    // A key OpenSSL made opens here too.
    let theirs = dir.path().join("theirs.key");
    let st = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "X25519",
            "-aes-256-cbc",
            "-pass",
            "pass:their pass",
            "-out",
        ])
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(st.success());
    let key = AgentSecretKey::from_encrypted_pem(&std::fs::read(&theirs).unwrap(), b"their pass")
        .unwrap();
    assert!(AgentSecretKey::from_encrypted_pem(&std::fs::read(&theirs).unwrap(), b"nope").is_err());
    let sealed = quorum::seal(&key.public_key().unwrap(), b"i", b"m").unwrap();
    assert_eq!(&quorum::open(&key, b"i", &sealed).unwrap()[..], b"m");
}
