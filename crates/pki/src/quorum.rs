//! The cryptographic quorum's primitives (no I/O): AES-256-GCM wrapping of one escrowed key
//! under a fresh wrap key bound to the key's id, owner and usage; Shamir's secret sharing of
//! the 32-byte wrap key over GF(256) (`vsss-rs`, constant time); HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, crate `hpke`) sealing a share to a key
//! recovery agent's public key or to a recovery request's one-time key; and the agent's key
//! file (a password-encrypted PKCS#8 of the X25519 key, PBES2 with PBKDF2-SHA256 and
//! AES-256-CBC, which `openssl pkey` reads).
//!
//! Every secret here (wrap keys, shares, agent private keys, plaintexts) lives in a
//! [`Zeroizing`] buffer and never prints.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use der::{Decode, Encode};
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of a wrap key and of an agent's X25519 private or public key (bytes).
pub const KEY_LEN: usize = 32;
/// Length of one Shamir share of a wrap key: the participant id byte, then 32 bytes.
pub const SHARE_LEN: usize = 1 + KEY_LEN;
/// Most agents in one set (GF(256) gives 255 distinct non-zero participant ids).
pub const MAX_AGENTS: usize = 255;
/// PBKDF2-SHA256 iterations of a new agent key file (OWASP's figure for PBKDF2-SHA256).
pub const AGENT_KEY_ITERATIONS: u32 = 600_000;
/// PEM label of an agent key file (an encrypted PKCS#8, as `openssl pkey` writes them).
pub const AGENT_KEY_PEM_LABEL: &str = "ENCRYPTED PRIVATE KEY";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of one share sealed to an agent ([`seal`] of a [`Share`]): the HPKE encapsulated
/// key, the share, the AEAD tag. `kmsd check` checks stored shares' shape against it.
pub const SEALED_SHARE_LEN: usize = KEY_LEN + SHARE_LEN + TAG_LEN;
const WRAP_LABEL: &[u8] = b"kms-quorum/v1/wrapped-key";
const SHARE_LABEL: &[u8] = b"kms-quorum/v1/agent-share";
const RELEASE_LABEL: &[u8] = b"kms-quorum/v1/released-share";
/// id-X25519 (RFC 8410).
const X25519_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.101.110");

type Kem = X25519HkdfSha256;

/// A 256-bit wrap key (random, used for one escrowed key only; zeroized on drop).
pub struct WrapKey(Zeroizing<[u8; KEY_LEN]>);

impl WrapKey {
    /// A fresh random wrap key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut k[..]).map_err(|_| Error::QuorumParameter("the OS RNG failed"))?;
        Ok(WrapKey(k))
    }

    /// The raw key (for splitting and for tests).
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrapKey([redacted])")
    }
}

/// What a wrapped key is: its escrow id, owner and usage, bound as associated data so a
/// wrapped key (or its wrap key's shares) opens only as that one key.
#[derive(Debug, Clone, Copy)]
pub struct KeyLabel<'a> {
    /// The escrowed key's id.
    pub id: i64,
    /// Whose key it is.
    pub owner: &'a str,
    /// Its usage (`encryption`).
    pub usage: &'a str,
}

impl KeyLabel<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAP_LABEL.len() + 16 + self.owner.len() + 24);
        framed(&mut out, WRAP_LABEL);
        out.extend_from_slice(&self.id.to_be_bytes());
        framed(&mut out, self.owner.as_bytes());
        framed(&mut out, self.usage.as_bytes());
        out
    }
}

fn framed(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u64).to_be_bytes());
    out.extend_from_slice(part);
}

/// Encrypts `plaintext` (a PKCS#8 private key) under `key` with AES-256-GCM, the label as
/// associated data; returns `nonce || ciphertext || tag`.
pub fn wrap(key: &WrapKey, label: &KeyLabel<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| Error::QuorumParameter("the OS RNG failed"))?;
    let cipher = Aes256Gcm::new_from_slice(&key.0[..])
        .map_err(|_| Error::QuorumParameter("a wrap key is 32 bytes"))?;
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    buf.extend_from_slice(&nonce);
    let mut body = Vec::with_capacity(plaintext.len() + TAG_LEN);
    body.extend_from_slice(plaintext);
    cipher
        .encrypt_in_place(&Nonce::<Aes256Gcm>::from(nonce), &label.aad(), &mut body)
        .map_err(|_| Error::QuorumParameter("AES-GCM refused its input"))?;
    buf.extend_from_slice(&body);
    Ok(buf)
}

/// Opens what [`wrap`] made; [`Error::QuorumOpen`] for the wrong key or label, or an
/// altered blob.
pub fn unwrap(key: &WrapKey, label: &KeyLabel<'_>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let refused = || Error::QuorumOpen {
        what: "wrapped key",
    };
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(refused());
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| refused())?;
    let cipher = Aes256Gcm::new_from_slice(&key.0[..]).map_err(|_| refused())?;
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_in_place(&Nonce::<Aes256Gcm>::from(nonce), &label.aad(), &mut *buf)
        .map_err(|_| refused())?;
    Ok(buf)
}

/// One Shamir share of a wrap key (`SHARE_LEN` bytes: id, then the value; zeroized on drop).
pub struct Share(Zeroizing<Vec<u8>>);

impl Share {
    /// A share from its bytes (as [`Share::expose`] gave them); checks only the length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SHARE_LEN || bytes[0] == 0 {
            return Err(Error::QuorumParameter(
                "a share is 33 bytes with a non-zero id",
            ));
        }
        Ok(Share(Zeroizing::new(bytes.to_vec())))
    }

    /// The share's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The share's participant id (1..=255).
    pub fn id(&self) -> u8 {
        self.0[0]
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Share(id {}, [redacted])", self.id())
    }
}

fn check_set(threshold: usize, agents: usize) -> Result<()> {
    if threshold < 2 {
        return Err(Error::QuorumParameter("the threshold is at least 2"));
    }
    if agents < threshold {
        return Err(Error::QuorumParameter(
            "the threshold is more than the number of agents",
        ));
    }
    if agents > MAX_AGENTS {
        return Err(Error::QuorumParameter("at most 255 agents"));
    }
    Ok(())
}

/// Splits `key` into `agents` shares, any `threshold` of which rebuild it (Shamir over
/// GF(256), byte by byte, with random coefficients from the OS generator).
pub fn split(key: &WrapKey, threshold: usize, agents: usize) -> Result<Vec<Share>> {
    check_set(threshold, agents)?;
    let raw = vsss_rs::Gf256::split_array(threshold, agents, &key.0[..], crate::os_rng())
        .map_err(|_| Error::QuorumParameter("secret sharing refused its parameters"))?;
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let s = Zeroizing::new(s);
        out.push(Share::from_bytes(&s)?);
    }
    Ok(out)
}

/// Rebuilds a wrap key from shares (at least two, distinct ids). With fewer than the
/// threshold, or shares of another key, the result is a wrong key that [`unwrap`] refuses.
pub fn combine(shares: &[Share]) -> Result<WrapKey> {
    if shares.len() < 2 {
        return Err(Error::QuorumParameter("at least two shares are needed"));
    }
    let raw: Vec<Vec<u8>> = shares.iter().map(|s| s.0.to_vec()).collect();
    let raw = Zeroizing::new(raw);
    let secret = Zeroizing::new(
        vsss_rs::Gf256::combine_array(&raw[..])
            .map_err(|_| Error::QuorumParameter("the shares are not a consistent set"))?,
    );
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    if secret.len() != KEY_LEN {
        return Err(Error::QuorumParameter(
            "the shares are not of a 32-byte key",
        ));
    }
    k.copy_from_slice(&secret);
    Ok(WrapKey(k))
}

/// A key recovery agent's (or a request's one-time) X25519 private key; zeroized on drop.
pub struct AgentSecretKey(Zeroizing<[u8; KEY_LEN]>);

/// An X25519 public key (an agent's, or a recovery request's one-time key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentPublicKey(pub [u8; KEY_LEN]);

impl fmt::Debug for AgentSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentSecretKey([redacted])")
    }
}

impl fmt::Debug for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentPublicKey({})", self.to_hex())
    }
}

impl AgentPublicKey {
    /// From 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_LEN] = b
            .try_into()
            .map_err(|_| Error::QuorumParameter("an X25519 public key is 32 bytes"))?;
        Ok(AgentPublicKey(arr))
    }

    /// Lower-case hex (how the API and the CLI show it).
    pub fn to_hex(&self) -> String {
        crate::certificate::hex_bytes(&self.0)
    }

    /// From lower- or upper-case hex.
    pub fn from_hex(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.len() != 2 * KEY_LEN || !s.is_ascii() {
            return Err(Error::QuorumParameter(
                "an X25519 public key is 64 hex digits",
            ));
        }
        let mut out = [0u8; KEY_LEN];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| Error::QuorumParameter("an X25519 public key is 64 hex digits"))?;
        }
        Ok(AgentPublicKey(out))
    }
}

impl AgentSecretKey {
    /// A fresh key pair from the OS generator.
    pub fn generate() -> Result<Self> {
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut ikm[..]).map_err(|_| Error::QuorumParameter("the OS RNG failed"))?;
        Ok(Self::derive(&ikm[..]))
    }

    /// RFC 9180 `DeriveKeyPair(ikm)` (used by the test vectors).
    pub fn derive(ikm: &[u8]) -> Self {
        let (sk, _) = Kem::derive_keypair(ikm);
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(&sk.to_bytes());
        AgentSecretKey(k)
    }

    /// From the 32 raw private-key bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() != KEY_LEN {
            return Err(Error::QuorumParameter("an X25519 private key is 32 bytes"));
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(b);
        Ok(AgentSecretKey(k))
    }

    /// The raw private key bytes.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn hpke(&self) -> Result<<Kem as hpke::Kem>::PrivateKey> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&self.0[..])
            .map_err(|_| Error::QuorumParameter("not an X25519 private key"))
    }

    /// Its public key.
    pub fn public_key(&self) -> Result<AgentPublicKey> {
        let sk = self.hpke()?;
        let pk = <Kem as hpke::Kem>::sk_to_pk(&sk);
        AgentPublicKey::from_bytes(&pk.to_bytes())
    }

    /// The key as a password-encrypted PKCS#8 PEM (PBES2: PBKDF2-SHA256 with `iterations`,
    /// AES-256-CBC), readable by `openssl pkey -passin`.
    pub fn to_encrypted_pem(&self, password: &[u8], iterations: u32) -> Result<Zeroizing<String>> {
        let bad = |_| Error::AgentKeyFile("the agent key could not be encoded");
        // CurvePrivateKey ::= OCTET STRING (RFC 8410), inside PrivateKeyInfo.privateKey.
        let inner = Zeroizing::new(
            der::asn1::OctetStringRef::new(&self.0[..])
                .map_err(bad)?
                .to_der()
                .map_err(bad)?,
        );
        let info = pkcs8::PrivateKeyInfoRef::new(
            pkcs8::AlgorithmIdentifierRef {
                oid: X25519_OID,
                parameters: None,
            },
            der::asn1::OctetStringRef::new(&inner).map_err(bad)?,
        );
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| Error::QuorumParameter("the OS RNG failed"))?;
        getrandom::fill(&mut iv).map_err(|_| Error::QuorumParameter("the OS RNG failed"))?;
        let params =
            pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, &salt, iv)
                .map_err(|_| Error::AgentKeyFile("bad PBKDF2 parameters"))?;
        let doc = info
            .encrypt_with_params(params, password)
            .map_err(|_| Error::AgentKeyFile("the agent key could not be encrypted"))?;
        let pem = pem_rfc7468::encode_string(
            AGENT_KEY_PEM_LABEL,
            pem_rfc7468::LineEnding::LF,
            doc.as_bytes(),
        )
        .map_err(|_| Error::AgentKeyFile("the agent key could not be encoded"))?;
        Ok(Zeroizing::new(pem))
    }

    /// Reads what [`AgentSecretKey::to_encrypted_pem`] (or `openssl genpkey -algorithm X25519
    /// -aes-256-cbc`) wrote. [`Error::AgentKeyFile`] for a wrong password or another kind of
    /// key.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<Self> {
        let (label, der_bytes) = pem_rfc7468::decode_vec(pem)
            .map_err(|_| Error::AgentKeyFile("not a PEM agent key file"))?;
        if label != AGENT_KEY_PEM_LABEL {
            return Err(Error::AgentKeyFile(
                "not an encrypted private key (expected ENCRYPTED PRIVATE KEY)",
            ));
        }
        let enc = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der_bytes)
            .map_err(|_| Error::AgentKeyFile("not an encrypted PKCS#8 key"))?;
        let doc = enc
            .decrypt(password)
            .map_err(|_| Error::AgentKeyFile("wrong password for the agent key file"))?;
        let info = pkcs8::PrivateKeyInfoRef::from_der(doc.as_bytes())
            .map_err(|_| Error::AgentKeyFile("wrong password for the agent key file"))?;
        if info.algorithm.oid != X25519_OID {
            return Err(Error::AgentKeyFile("not an X25519 key"));
        }
        let inner = <&der::asn1::OctetStringRef>::from_der(info.private_key.as_bytes())
            .map_err(|_| Error::AgentKeyFile("not an X25519 key"))?;
        Self::from_bytes(inner.as_bytes())
    }
}

/// The HPKE `info` of a share sealed to an agent: the key's id and the agent's public key.
pub fn share_info(key_id: i64, agent: &AgentPublicKey) -> Vec<u8> {
    let mut out = Vec::new();
    framed(&mut out, SHARE_LABEL);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&agent.0);
    out
}

/// The HPKE `info` of a share an agent released to a recovery request: the request, the key
/// and the agent.
pub fn release_info(request_id: i64, key_id: i64, agent: &AgentPublicKey) -> Vec<u8> {
    let mut out = Vec::new();
    framed(&mut out, RELEASE_LABEL);
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&agent.0);
    out
}

/// HPKE single-shot seal (base mode) of `plaintext` to `to`; returns `enc || ciphertext`.
pub fn seal(to: &AgentPublicKey, info: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    seal_with_rng(to, info, plaintext, &[], &mut crate::os_rng())
}

/// [`seal`] with associated data and a given generator (the RFC 9180 test vectors fix the
/// ephemeral key and use associated data).
pub fn seal_with_rng(
    to: &AgentPublicKey,
    info: &[u8],
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&to.0)
        .map_err(|_| Error::QuorumParameter("not an X25519 public key"))?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
        rng,
    )
    .map_err(|_| Error::QuorumParameter("HPKE refused to seal (a low-order public key?)"))?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`seal`] made with the recipient's private key and the same `info`.
pub fn open(key: &AgentSecretKey, info: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    open_with_aad(key, info, sealed, &[])
}

/// [`open`] with associated data (as [`seal_with_rng`] took it).
pub fn open_with_aad(
    key: &AgentSecretKey,
    info: &[u8],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let refused = || Error::QuorumOpen {
        what: "sealed share",
    };
    if sealed.len() < KEY_LEN + TAG_LEN {
        return Err(refused());
    }
    let (enc, ct) = sealed.split_at(KEY_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| refused())?;
    let sk = key.hpke()?;
    let pt = hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        ct,
        aad,
    )
    .map_err(|_| refused())?;
    Ok(Zeroizing::new(pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(id: i64) -> KeyLabel<'static> {
        KeyLabel {
            id,
            owner: "alice@example.org",
            usage: "encryption",
        }
    }

    #[test]
    fn wrap_opens_only_with_its_key_and_label() {
        let k = WrapKey::generate().unwrap();
        let blob = wrap(&k, &label(7), b"pkcs8 bytes").unwrap();
        assert_eq!(&unwrap(&k, &label(7), &blob).unwrap()[..], b"pkcs8 bytes");
        assert!(matches!(
            unwrap(&k, &label(8), &blob),
            Err(Error::QuorumOpen { .. })
        ));
        let other = KeyLabel {
            owner: "bob@example.org",
            ..label(7)
        };
        assert!(unwrap(&k, &other, &blob).is_err());
        let k2 = WrapKey::generate().unwrap();
        assert!(unwrap(&k2, &label(7), &blob).is_err());
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(unwrap(&k, &label(7), &bad).is_err());
    }

    #[test]
    fn any_threshold_shares_rebuild_fewer_do_not() {
        let k = WrapKey::generate().unwrap();
        let shares = split(&k, 2, 3).unwrap();
        assert_eq!(shares.len(), 3);
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let two = [
                Share::from_bytes(shares[a].expose()).unwrap(),
                Share::from_bytes(shares[b].expose()).unwrap(),
            ];
            assert_eq!(combine(&two).unwrap().expose(), k.expose());
        }
        // One share alone is refused; 3-of-5 with two gives a wrong key.
        assert!(combine(&shares[..1]).is_err());
        let five = split(&k, 3, 5).unwrap();
        let wrong = combine(&five[..2]).unwrap();
        assert_ne!(wrong.expose(), k.expose());
        assert_eq!(combine(&five[1..4]).unwrap().expose(), k.expose());
        // No share equals the key, nor is it in a share.
        for s in &shares {
            assert_ne!(&s.expose()[1..], &k.expose()[..]);
        }
    }

    #[test]
    fn bad_sets_are_refused() {
        let k = WrapKey::generate().unwrap();
        assert!(matches!(split(&k, 1, 3), Err(Error::QuorumParameter(_))));
        assert!(split(&k, 4, 3).is_err());
        assert!(split(&k, 2, 256).is_err());
        assert!(Share::from_bytes(&[0u8; SHARE_LEN]).is_err());
        assert!(Share::from_bytes(&[1u8; 5]).is_err());
    }

    /// GF(256) with the AES polynomial, computed here independently of `vsss-rs`.
    fn gf_mul(mut a: u8, mut b: u8) -> u8 {
        let mut p = 0u8;
        while b != 0 {
            if b & 1 != 0 {
                p ^= a;
            }
            let hi = a & 0x80;
            a <<= 1;
            if hi != 0 {
                a ^= 0x1b;
            }
            b >>= 1;
        }
        p
    }

    #[test]
    fn combine_matches_a_hand_made_polynomial() {
        // f(x) = s + c·x over GF(2^8): shares at x = 1 and x = 2 made by hand, then combined by
        // the crate (Lagrange at 0) must give s back, byte for byte.
        let secret: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(37).wrapping_add(5))
            .collect();
        let coeff: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(91).wrapping_add(200))
            .collect();
        let mut s1 = vec![1u8];
        let mut s2 = vec![2u8];
        for (s, c) in secret.iter().zip(&coeff) {
            s1.push(s ^ gf_mul(*c, 1));
            s2.push(s ^ gf_mul(*c, 2));
        }
        let k = combine(&[
            Share::from_bytes(&s1).unwrap(),
            Share::from_bytes(&s2).unwrap(),
        ])
        .unwrap();
        assert_eq!(&k.expose()[..], &secret[..]);
    }

    #[test]
    fn sealed_shares_are_bound_to_their_key_and_recipient() {
        let agent = AgentSecretKey::generate().unwrap();
        let pk = agent.public_key().unwrap();
        let sealed = seal(&pk, &share_info(5, &pk), b"a share").unwrap();
        assert_eq!(
            &open(&agent, &share_info(5, &pk), &sealed).unwrap()[..],
            b"a share"
        );
        // Presented as another key's share, or opened by another agent: refused.
        assert!(open(&agent, &share_info(6, &pk), &sealed).is_err());
        let other = AgentSecretKey::generate().unwrap();
        assert!(open(&other, &share_info(5, &pk), &sealed).is_err());
        assert!(open(&agent, &release_info(1, 5, &pk), &sealed).is_err());
    }

    #[test]
    fn agent_key_file_round_trips_and_refuses_a_wrong_password() {
        let agent = AgentSecretKey::generate().unwrap();
        let pem = agent.to_encrypted_pem(b"agent password", 1000).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = AgentSecretKey::from_encrypted_pem(pem.as_bytes(), b"agent password").unwrap();
        assert_eq!(back.expose(), agent.expose());
        assert!(matches!(
            AgentSecretKey::from_encrypted_pem(pem.as_bytes(), b"wrong password"),
            Err(Error::AgentKeyFile(_))
        ));
    }
}
