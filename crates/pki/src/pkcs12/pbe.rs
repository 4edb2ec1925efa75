//! Password-based protection inside a PFX: PBES2 (PBKDF2 with an HMAC-SHA PRF, then AES, 3DES
//! or DES in CBC mode), the PKCS#12 PBE schemes of RFC 7292 appendix C (3DES, 2-key 3DES, RC2),
//! the HMAC over the authSafe, and the limits on iteration counts that keep a hostile file from
//! costing unbounded CPU.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit,
};
use der::asn1::{Any, ObjectIdentifier as Oid, OctetString, OctetStringRef};

use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::asn1::{self, Pbes2Params, Pbkdf2Params, Pkcs12PbeParams};
use super::kdf::{self, Purpose};
use crate::algorithms::oid;
use crate::error::{Error, Result};

/// Largest iteration count accepted for one key derivation (PBKDF2, the PKCS#12 KDF, the MAC
/// key). OpenSSL's default is 2048; ours is 100 000.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Largest sum of iteration counts over all the key derivations one file asks for (MAC,
/// certificates and each key): a file may use the per-derivation maximum for three of them.
pub const MAX_TOTAL_ITERATIONS: u64 = 3 * MAX_ITERATIONS as u64;

/// A password in the two forms PKCS#12 needs: UTF-8 bytes for PBES2 (as OpenSSL uses them)
/// and BMPString bytes for the PKCS#12 KDF. Zeroized on drop; never printed.
pub(crate) struct Password {
    utf8: Zeroizing<Vec<u8>>,
    bmp: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Password {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// The password as typed.
    pub(crate) fn new(password: &str) -> Self {
        Self {
            utf8: Zeroizing::new(password.as_bytes().to_vec()),
            bmp: kdf::bmp_password(password),
        }
    }

    /// The "absent" password some producers use when the user gives none: empty in both
    /// forms, so without the two zero bytes of an empty BMPString. OpenSSL reads such files
    /// when given an empty password; so do we.
    pub(crate) fn absent() -> Self {
        Self {
            utf8: Zeroizing::new(Vec::new()),
            bmp: Zeroizing::new(Vec::new()),
        }
    }
}

/// How many key-derivation iterations a parse may still spend.
#[derive(Debug)]
pub(crate) struct Budget {
    left: u64,
}

impl Budget {
    pub(crate) fn new() -> Self {
        Self {
            left: MAX_TOTAL_ITERATIONS,
        }
    }

    /// Checks an iteration count found in the input and charges it.
    pub(crate) fn spend(&mut self, what: &'static str, iterations: u32) -> Result<()> {
        check_iterations(what, iterations)?;
        self.left = self
            .left
            .checked_sub(u64::from(iterations))
            .ok_or_else(|| {
                Error::Pkcs12(format!(
                    "the file asks for more than {MAX_TOTAL_ITERATIONS} key-derivation \
                     iterations in all (at the {what})"
                ))
            })?;
        Ok(())
    }
}

/// Refuses an iteration count of 0 or above [`MAX_ITERATIONS`].
pub(crate) fn check_iterations(what: &'static str, iterations: u32) -> Result<()> {
    if iterations == 0 {
        return Err(Error::Pkcs12(format!(
            "{what}: an iteration count of 0 is invalid"
        )));
    }
    if iterations > MAX_ITERATIONS {
        return Err(Error::Pkcs12(format!(
            "{what}: iteration count {iterations} is above the limit of {MAX_ITERATIONS}"
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Block ciphers in CBC mode with PKCS#7 padding.

/// The block ciphers a PFX may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    Des,
    TripleDes,
    TwoKeyTripleDes,
    /// RC2 with a key of `key_len` bytes and `effective_bits` effective key bits.
    Rc2 {
        key_len: usize,
        effective_bits: usize,
    },
}

impl Cipher {
    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::TwoKeyTripleDes => 16,
            Cipher::Aes192 | Cipher::TripleDes => 24,
            Cipher::Aes256 => 32,
            Cipher::Des => 8,
            Cipher::Rc2 { key_len, .. } => key_len,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cipher::Aes128 => "AES-128-CBC",
            Cipher::Aes192 => "AES-192-CBC",
            Cipher::Aes256 => "AES-256-CBC",
            Cipher::Des => "DES-CBC",
            Cipher::TripleDes => "DES-EDE3-CBC",
            Cipher::TwoKeyTripleDes => "DES-EDE-CBC",
            Cipher::Rc2 { .. } => "RC2-CBC",
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::Aes192 | Cipher::Aes256 => 16,
            _ => 8,
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Cipher::Aes128 => cbc_decrypt(new_cipher::<aes::Aes128Dec>(key)?, iv, ciphertext),
            Cipher::Aes192 => cbc_decrypt(new_cipher::<aes::Aes192Dec>(key)?, iv, ciphertext),
            Cipher::Aes256 => cbc_decrypt(new_cipher::<aes::Aes256Dec>(key)?, iv, ciphertext),
            Cipher::Des => cbc_decrypt(new_cipher::<des::Des>(key)?, iv, ciphertext),
            Cipher::TripleDes => cbc_decrypt(new_cipher::<des::TdesEde3>(key)?, iv, ciphertext),
            Cipher::TwoKeyTripleDes => {
                cbc_decrypt(new_cipher::<des::TdesEde2>(key)?, iv, ciphertext)
            }
            Cipher::Rc2 { effective_bits, .. } => cbc_decrypt(
                rc2::Rc2::new_with_eff_key_len(key, effective_bits),
                iv,
                ciphertext,
            ),
        }
    }

    fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        match self {
            Cipher::Aes256 => cbc_encrypt(new_cipher::<aes::Aes256Enc>(key)?, iv, plaintext),
            Cipher::TripleDes => cbc_encrypt(new_cipher::<des::TdesEde3>(key)?, iv, plaintext),
            Cipher::Rc2 { effective_bits, .. } => cbc_encrypt(
                rc2::Rc2::new_with_eff_key_len(key, effective_bits),
                iv,
                plaintext,
            ),
            // Export only uses the three schemes above.
            other => Err(Error::Pkcs12(format!(
                "encryption with {} is not offered",
                other.name()
            ))),
        }
    }
}

fn new_cipher<C: KeyInit>(key: &[u8]) -> Result<C> {
    C::new_from_slice(key).map_err(|_| Error::Pkcs12("derived key has the wrong length".into()))
}

fn cbc_decrypt<C: BlockCipherDecrypt>(
    cipher: C,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let mode = cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|_| {
        Error::Pkcs12(format!(
            "an IV of {} bytes does not fit the cipher",
            iv.len()
        ))
    })?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    // A padding failure after the MAC verified means the content was encrypted under another
    // password (or the producer is broken): report it as a password problem.
    let len = mode
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| Error::Pkcs12BadPassword)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

fn cbc_encrypt<C: BlockCipherEncrypt>(cipher: C, iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mode = cbc::Encryptor::<C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| Error::Pkcs12("IV length does not fit the cipher".into()))?;
    Ok(mode.encrypt_padded_vec::<Pkcs7>(plaintext))
}

// ------------------------------------------------------------------------------------------
// Decryption.

/// Decrypts `ciphertext` that `algorithm` (a PBES2 or PKCS#12 PBE identifier) protects.
/// `what` names the content for errors ("key", "certificates").
pub(crate) fn decrypt(
    what: &'static str,
    algorithm: &AlgorithmIdentifierOwned,
    password: &Password,
    ciphertext: &[u8],
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>> {
    let params = algorithm.parameters.as_ref();
    match algorithm.oid {
        asn1::PBES2 => pbes2_decrypt(
            what,
            required(params, "PBES2")?,
            password,
            ciphertext,
            budget,
        ),
        asn1::PBE_SHA_3DES => pkcs12_pbe_decrypt(
            what,
            Cipher::TripleDes,
            params,
            password,
            ciphertext,
            budget,
        ),
        asn1::PBE_SHA_2DES => pkcs12_pbe_decrypt(
            what,
            Cipher::TwoKeyTripleDes,
            params,
            password,
            ciphertext,
            budget,
        ),
        asn1::PBE_SHA_RC2_128 => pkcs12_pbe_decrypt(
            what,
            Cipher::Rc2 {
                key_len: 16,
                effective_bits: 128,
            },
            params,
            password,
            ciphertext,
            budget,
        ),
        asn1::PBE_SHA_RC2_40 => pkcs12_pbe_decrypt(
            what,
            Cipher::Rc2 {
                key_len: 5,
                effective_bits: 40,
            },
            params,
            password,
            ciphertext,
            budget,
        ),
        oid @ (asn1::PBE_SHA_RC4_128 | asn1::PBE_SHA_RC4_40) => Err(Error::UnsupportedAlgorithm {
            what: "PKCS#12 RC4 encryption",
            oid,
        }),
        oid => Err(Error::UnsupportedAlgorithm {
            what: "PKCS#12 encryption",
            oid,
        }),
    }
}

fn required<'a>(params: Option<&'a Any>, what: &str) -> Result<&'a Any> {
    params
        .ok_or_else(|| Error::Pkcs12(format!("the {what} algorithm identifier has no parameters")))
}

fn der_error(what: &'static str) -> impl FnOnce(der::Error) -> Error {
    Error::der(what)
}

fn pkcs12_pbe_decrypt(
    what: &'static str,
    cipher: Cipher,
    params: Option<&Any>,
    password: &Password,
    ciphertext: &[u8],
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>> {
    let params: Pkcs12PbeParams = required(params, "PKCS#12 PBE")?
        .decode_as()
        .map_err(der_error("PKCS#12 PBE parameters"))?;
    // Key and IV are two derivations.
    budget.spend(what, params.iterations)?;
    budget.spend(what, params.iterations)?;
    let salt = params.salt.as_bytes();
    let key = kdf::derive::<sha1::Sha1>(
        &password.bmp,
        salt,
        Purpose::Key,
        params.iterations,
        cipher.key_len(),
    );
    let iv = kdf::derive::<sha1::Sha1>(
        &password.bmp,
        salt,
        Purpose::Iv,
        params.iterations,
        cipher.iv_len(),
    );
    cipher.decrypt(&key, &iv, ciphertext)
}

/// The PBKDF2 pseudo-random functions we accept.
#[derive(Clone, Copy, Debug)]
enum Prf {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

fn pbes2_decrypt(
    what: &'static str,
    params: &Any,
    password: &Password,
    ciphertext: &[u8],
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>> {
    let params: Pbes2Params = params.decode_as().map_err(der_error("PBES2 parameters"))?;
    match params.kdf.oid {
        asn1::PBKDF2 => {}
        oid @ asn1::SCRYPT => {
            return Err(Error::UnsupportedAlgorithm {
                what: "PBES2 scrypt key derivation",
                oid,
            });
        }
        oid => {
            return Err(Error::UnsupportedAlgorithm {
                what: "PBES2 key derivation",
                oid,
            });
        }
    }
    let kdf: Pbkdf2Params = required(params.kdf.parameters.as_ref(), "PBKDF2")?
        .decode_as()
        .map_err(der_error("PBKDF2 parameters"))?;
    let prf = match kdf.prf.as_ref().map(|p| p.oid).unwrap_or(asn1::HMAC_SHA1) {
        asn1::HMAC_SHA1 => Prf::Sha1,
        asn1::HMAC_SHA224 => Prf::Sha224,
        asn1::HMAC_SHA256 => Prf::Sha256,
        asn1::HMAC_SHA384 => Prf::Sha384,
        asn1::HMAC_SHA512 => Prf::Sha512,
        oid => {
            return Err(Error::UnsupportedAlgorithm {
                what: "PBKDF2 pseudo-random function",
                oid,
            });
        }
    };
    let cipher = match params.encryption.oid {
        oid::AES128_CBC => Cipher::Aes128,
        oid::AES192_CBC => Cipher::Aes192,
        oid::AES256_CBC => Cipher::Aes256,
        oid::DES_EDE3_CBC => Cipher::TripleDes,
        oid::DES_CBC => Cipher::Des,
        oid => {
            return Err(Error::UnsupportedAlgorithm {
                what: "PBES2 encryption scheme",
                oid,
            });
        }
    };
    let iv = required(params.encryption.parameters.as_ref(), "PBES2 cipher")?
        .decode_as::<&OctetStringRef>()
        .map_err(der_error("PBES2 cipher IV"))?
        .as_bytes();
    if iv.len() != cipher.iv_len() {
        return Err(Error::Pkcs12(format!(
            "the {what} IV is {} bytes, {} needs {}",
            iv.len(),
            cipher.name(),
            cipher.iv_len()
        )));
    }
    if let Some(len) = kdf.key_length
        && usize::try_from(len).ok() != Some(cipher.key_len())
    {
        return Err(Error::Pkcs12(format!(
            "PBKDF2 key length {len} does not fit {} ({} bytes)",
            cipher.name(),
            cipher.key_len()
        )));
    }
    budget.spend(what, kdf.iteration_count)?;
    let key = pbkdf2(
        prf,
        &password.utf8,
        kdf.salt.as_bytes(),
        kdf.iteration_count,
        cipher.key_len(),
    );
    cipher.decrypt(&key, iv, ciphertext)
}

fn pbkdf2(
    prf: Prf,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; len]);
    match prf {
        Prf::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut key),
        Prf::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, iterations, &mut key),
        Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut key),
        Prf::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, &mut key),
        Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut key),
    }
    key
}

// ------------------------------------------------------------------------------------------
// Encryption (export).

/// The encryption schemes export uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// PBES2: PBKDF2-HMAC-SHA256 with a 16-byte salt, AES-256-CBC (OpenSSL 3's default).
    Pbes2Aes256,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC with an 8-byte salt (legacy keys).
    Pkcs12TripleDes,
    /// pbeWithSHAAnd40BitRC2-CBC with an 8-byte salt (legacy certificates).
    Pkcs12Rc2_40,
}

/// Encrypts `plaintext` under `password` with `scheme` and fresh random salt and IV; returns
/// the algorithm identifier to store and the ciphertext.
pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
    scheme: Scheme,
    iterations: u32,
    password: &Password,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>)> {
    check_iterations("export", iterations)?;
    match scheme {
        Scheme::Pbes2Aes256 => {
            let cipher = Cipher::Aes256;
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut salt);
            rng.fill_bytes(&mut iv);
            let key = pbkdf2(
                Prf::Sha256,
                &password.utf8,
                &salt,
                iterations,
                cipher.key_len(),
            );
            let ciphertext = cipher.encrypt(&key, &iv, plaintext)?;
            let kdf = AlgorithmIdentifierOwned {
                oid: asn1::PBKDF2,
                parameters: Some(any_of(&Pbkdf2Params {
                    salt: octets(&salt)?,
                    iteration_count: iterations,
                    key_length: None,
                    prf: Some(AlgorithmIdentifierOwned {
                        oid: asn1::HMAC_SHA256,
                        parameters: Some(Any::null()),
                    }),
                })?),
            };
            let encryption = AlgorithmIdentifierOwned {
                oid: oid::AES256_CBC,
                parameters: Some(any_of(&octets(&iv)?)?),
            };
            let params = any_of(&Pbes2Params { kdf, encryption })?;
            Ok((
                AlgorithmIdentifierOwned {
                    oid: asn1::PBES2,
                    parameters: Some(params),
                },
                ciphertext,
            ))
        }
        Scheme::Pkcs12TripleDes | Scheme::Pkcs12Rc2_40 => {
            let (cipher, alg) = if scheme == Scheme::Pkcs12TripleDes {
                (Cipher::TripleDes, asn1::PBE_SHA_3DES)
            } else {
                (
                    Cipher::Rc2 {
                        key_len: 5,
                        effective_bits: 40,
                    },
                    asn1::PBE_SHA_RC2_40,
                )
            };
            let mut salt = [0u8; 8];
            rng.fill_bytes(&mut salt);
            let key = kdf::derive::<sha1::Sha1>(
                &password.bmp,
                &salt,
                Purpose::Key,
                iterations,
                cipher.key_len(),
            );
            let iv = kdf::derive::<sha1::Sha1>(
                &password.bmp,
                &salt,
                Purpose::Iv,
                iterations,
                cipher.iv_len(),
            );
            let ciphertext = cipher.encrypt(&key, &iv, plaintext)?;
            let params = any_of(&Pkcs12PbeParams {
                salt: octets(&salt)?,
                iterations,
            })?;
            Ok((
                AlgorithmIdentifierOwned {
                    oid: alg,
                    parameters: Some(params),
                },
                ciphertext,
            ))
        }
    }
}

pub(crate) fn octets(bytes: &[u8]) -> Result<OctetString> {
    OctetString::new(bytes).map_err(Error::der("PKCS#12 OCTET STRING"))
}

pub(crate) fn any_of<T: der::EncodeValue + der::Tagged>(value: &T) -> Result<Any> {
    Any::encode_from(value).map_err(Error::der("PKCS#12 structure"))
}

// ------------------------------------------------------------------------------------------
// The MAC over the authSafe.

/// The digests the password MAC may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacDigest {
    /// HMAC-SHA1 (legacy, OpenSSL before 3.0).
    Sha1,
    /// HMAC-SHA224.
    Sha224,
    /// HMAC-SHA256 (OpenSSL 3's default).
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA512.
    Sha512,
}

impl MacDigest {
    pub(crate) fn from_oid(o: Oid) -> Result<Self> {
        match o {
            oid::SHA1 => Ok(MacDigest::Sha1),
            asn1::SHA224 => Ok(MacDigest::Sha224),
            oid::SHA256 => Ok(MacDigest::Sha256),
            oid::SHA384 => Ok(MacDigest::Sha384),
            oid::SHA512 => Ok(MacDigest::Sha512),
            asn1::PBMAC1 => Err(Error::UnsupportedAlgorithm {
                what: "PKCS#12 PBMAC1 (RFC 9579) MAC",
                oid: o,
            }),
            other => Err(Error::UnsupportedAlgorithm {
                what: "PKCS#12 MAC digest",
                oid: other,
            }),
        }
    }

    pub(crate) fn oid(self) -> Oid {
        match self {
            MacDigest::Sha1 => oid::SHA1,
            MacDigest::Sha224 => asn1::SHA224,
            MacDigest::Sha256 => oid::SHA256,
            MacDigest::Sha384 => oid::SHA384,
            MacDigest::Sha512 => oid::SHA512,
        }
    }
}

/// Computes the PKCS#12 MAC of `data`: HMAC with the digest, keyed by the RFC 7292 appendix B
/// KDF (ID = 3) over the BMPString password, the salt and the iteration count.
pub(crate) fn mac(
    digest: MacDigest,
    password: &Password,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
) -> Result<Vec<u8>> {
    macro_rules! hmac_with {
        ($d:ty) => {{
            let key = kdf::derive::<$d>(
                &password.bmp,
                salt,
                Purpose::Mac,
                iterations,
                <$d as digest::Digest>::output_size(),
            );
            let mut m = <Hmac<$d> as KeyInit>::new_from_slice(&key)
                .map_err(|_| Error::Pkcs12("the HMAC key was rejected".into()))?;
            m.update(data);
            Ok(m.finalize().into_bytes().to_vec())
        }};
    }
    match digest {
        MacDigest::Sha1 => hmac_with!(sha1::Sha1),
        MacDigest::Sha224 => hmac_with!(sha2::Sha224),
        MacDigest::Sha256 => hmac_with!(sha2::Sha256),
        MacDigest::Sha384 => hmac_with!(sha2::Sha384),
        MacDigest::Sha512 => hmac_with!(sha2::Sha512),
    }
}

/// Verifies the PKCS#12 MAC `expected` of `data` in constant time.
pub(crate) fn verify_mac(
    digest: MacDigest,
    password: &Password,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
    expected: &[u8],
) -> bool {
    macro_rules! verify_with {
        ($d:ty) => {{
            let key = kdf::derive::<$d>(
                &password.bmp,
                salt,
                Purpose::Mac,
                iterations,
                <$d as digest::Digest>::output_size(),
            );
            match <Hmac<$d> as KeyInit>::new_from_slice(&key) {
                Ok(mut m) => {
                    m.update(data);
                    // `verify_slice` compares in constant time (and fails on a wrong length).
                    m.verify_slice(expected).is_ok()
                }
                Err(_) => false,
            }
        }};
    }
    match digest {
        MacDigest::Sha1 => verify_with!(sha1::Sha1),
        MacDigest::Sha224 => verify_with!(sha2::Sha224),
        MacDigest::Sha256 => verify_with!(sha2::Sha256),
        MacDigest::Sha384 => verify_with!(sha2::Sha384),
        MacDigest::Sha512 => verify_with!(sha2::Sha512),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_any(salt: &[u8], iterations: u32) -> Any {
        any_of(&Pkcs12PbeParams {
            salt: octets(salt).unwrap(),
            iterations,
        })
        .unwrap()
    }

    #[test]
    fn every_scheme_round_trips() {
        let password = Password::new("pässword");
        let mut rng = crate::os_rng();
        let plain = b"attack at dawn, bring the PKCS#8";
        for scheme in [
            Scheme::Pbes2Aes256,
            Scheme::Pkcs12TripleDes,
            Scheme::Pkcs12Rc2_40,
        ] {
            let (alg, ct) = encrypt(scheme, 3, &password, plain, &mut rng).unwrap();
            assert_ne!(&ct[..plain.len()], plain);
            let back = decrypt("test", &alg, &password, &ct, &mut Budget::new()).unwrap();
            assert_eq!(back.as_slice(), plain, "{scheme:?}");
            let wrong = decrypt(
                "test",
                &alg,
                &Password::new("password"),
                &ct,
                &mut Budget::new(),
            );
            // A wrong password almost always breaks the padding; with RC2-40 and 32 bytes of
            // plaintext the chance it does not is about 1/256, so only check the type.
            if let Err(e) = wrong {
                assert_eq!(e.code(), "PKI-050", "{e}");
            }
        }
    }

    #[test]
    fn iteration_limits() {
        let password = Password::new("x");
        let alg = AlgorithmIdentifierOwned {
            oid: asn1::PBE_SHA_3DES,
            parameters: Some(params_any(&[1; 8], MAX_ITERATIONS + 1)),
        };
        let e = decrypt("key", &alg, &password, &[0; 16], &mut Budget::new()).unwrap_err();
        assert!(e.to_string().contains("above the limit"), "{e}");
        let alg = AlgorithmIdentifierOwned {
            oid: asn1::PBE_SHA_3DES,
            parameters: Some(params_any(&[1; 8], 0)),
        };
        let e = decrypt("key", &alg, &password, &[0; 16], &mut Budget::new()).unwrap_err();
        assert!(e.to_string().contains("iteration count of 0"), "{e}");
        let mut budget = Budget::new();
        budget.spend("mac", MAX_ITERATIONS).unwrap();
        budget.spend("certificates", MAX_ITERATIONS).unwrap();
        budget.spend("key", MAX_ITERATIONS).unwrap();
        let e = budget.spend("key", 1).unwrap_err();
        assert!(e.to_string().contains("in all"), "{e}");
        assert!(encrypt(Scheme::Pbes2Aes256, 0, &password, b"", &mut crate::os_rng()).is_err());
    }

    #[test]
    fn unknown_and_refused_algorithms_name_the_oid() {
        let password = Password::new("x");
        for o in [asn1::PBE_SHA_RC4_128, Oid::new_unwrap("1.2.3.4")] {
            let alg = AlgorithmIdentifierOwned {
                oid: o,
                parameters: Some(params_any(&[1; 8], 1)),
            };
            let e = decrypt("key", &alg, &password, &[0; 16], &mut Budget::new()).unwrap_err();
            assert_eq!(e.code(), "PKI-021");
            assert!(e.to_string().contains(&o.to_string()), "{e}");
        }
    }

    #[test]
    fn short_or_long_ivs_are_errors_not_panics() {
        let password = Password::new("x");
        for (cipher_oid, len) in [
            (oid::DES_EDE3_CBC, 0usize),
            (oid::DES_EDE3_CBC, 3),
            (oid::AES256_CBC, 8),
            (oid::DES_CBC, 17),
        ] {
            let kdf = AlgorithmIdentifierOwned {
                oid: asn1::PBKDF2,
                parameters: Some(
                    any_of(&Pbkdf2Params {
                        salt: octets(&[1; 8]).unwrap(),
                        iteration_count: 1,
                        key_length: None,
                        prf: None,
                    })
                    .unwrap(),
                ),
            };
            let encryption = AlgorithmIdentifierOwned {
                oid: cipher_oid,
                parameters: Some(any_of(&octets(&vec![0; len]).unwrap()).unwrap()),
            };
            let alg = AlgorithmIdentifierOwned {
                oid: asn1::PBES2,
                parameters: Some(any_of(&Pbes2Params { kdf, encryption }).unwrap()),
            };
            let e = decrypt("key", &alg, &password, &[0; 16], &mut Budget::new()).unwrap_err();
            assert_eq!(e.code(), "PKI-051", "{e}");
        }
    }

    #[test]
    fn mac_verifies_only_the_right_password() {
        let p = Password::new("secret");
        for d in [
            MacDigest::Sha1,
            MacDigest::Sha224,
            MacDigest::Sha256,
            MacDigest::Sha384,
            MacDigest::Sha512,
        ] {
            let tag = mac(d, &p, b"salt", 5, b"data").unwrap();
            assert!(verify_mac(d, &p, b"salt", 5, b"data", &tag));
            assert!(!verify_mac(
                d,
                &Password::new("Secret"),
                b"salt",
                5,
                b"data",
                &tag
            ));
            assert!(!verify_mac(d, &p, b"salt", 5, b"datA", &tag));
            assert!(!verify_mac(d, &p, b"salt", 5, b"data", &tag[1..]));
            assert_eq!(MacDigest::from_oid(d.oid()).unwrap(), d);
        }
    }

    /// A throwaway P-256 key as PKCS#8 (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256 | openssl pkcs8 -topk8 -nocrypt -outform DER`), and the same key
    /// encrypted by `openssl pkcs8 -topk8 -outform DER -v2 CIPHER -v2prf PRF -iter 10
    /// -passout pass:vector -provider legacy -provider default`, OpenSSL 3.0.19. They cover
    /// the PBES2 PRFs and ciphers `openssl pkcs12` cannot be asked for (HMAC-SHA1, -224,
    /// -384, -512; DES-CBC).
    const VECTOR_PLAIN: &str = "\
        308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420d9d735f8\
        39e237d8e5c58a364b0eadc411d9c60637d80d79762b7bbde4ce890fa1440342000485a08e304ee6\
        eebe96701aa0156407e7aad838a0b56847a8e615ced9784897c56e9ee358b3d696329fff252986c1\
        b7e520aba9cdade839fc9e475ff20d2b2e3a";
    const VECTORS: [(&str, &str); 4] = [
        (
            "hmacWithSHA1 aes-128-cbc",
            "3081dd304806092a864886f70d01050d303b301a06092a864886f70d01050c300d04085990b2daa0\
                3db31602010a301d06096086480165030401020410d9b073deb9d58a87fa5eecc38a7e5521048190\
                83090225c0c4ba87eac5c9f4b8a82e895ac954a8ffaaccfa54e4a09dcbd5fba262d84be46a49ffc1\
                6169cca928a28403b604db5ce384ee8604df20b8a3358352a22e679323f6ee2abe0c20514e6d2236\
                e5d472342cf03fced3920e401b0f8f04dcfcad0ae7048983391fccb103bda50390e6c187790a191b\
                09483c69c408e49485de9829e4f0628c90ee7cef45e8885a",
        ),
        (
            "hmacWithSHA512 aes-192-cbc",
            "3081eb305606092a864886f70d01050d3049302806092a864886f70d01050c301b0408706109a30b\
                63e37902010a300c06082a864886f70d020b0500301d060960864801650304011604100881a872b4\
                5036b26b0081405c9d2614048190b27cff2d43ec6ef988fb3e7f6bca70f9eb1d6f7689d313279410\
                843a0e7a2ffb6da3ec41e79e7c22e88b22ef61a4ef0efb49dc64e40d786e65cbacfc0a3806279d5f\
                f8fc7a7da4a04e9bf9279f6e9c5a2bae6acfe28ebfdb527237124290354715ce30ac6d7219a7c7dc\
                3d7df9386688423a6a5b6f6c1c5710fad7f19a5d18594da906dec3b2c212b14193aba04293f8",
        ),
        (
            "hmacWithSHA224 des-ede3-cbc",
            "3081e2304d06092a864886f70d01050d3040302806092a864886f70d01050c301b040822c4b1dd44\
                667ca302010a300c06082a864886f70d02080500301406082a864886f70d03070408ffc8d2f62d6b\
                087b0481902fefc7784bb28725c8a8ea78619558049ed7e2c0f998d182dc2795c36efca075585ac0\
                16adfee56ed8073e71f194494fcf56cc81533bd216fe1004fc34115d7781c8440f5c9e9535ee80a7\
                a167ebc5db3155b511a5154e590427069e248067b4a229d2608a3bf5b335d151e2c0432bc2ef8687\
                3a01290b32a559249f227075500e669d3295e15779db7a02972e7b6290",
        ),
        (
            "hmacWithSHA384 des-cbc",
            "3081df304a06092a864886f70d01050d303d302806092a864886f70d01050c301b0408e677dec157\
                75f51d02010a300c06082a864886f70d020a0500301106052b0e03020704083936bbf23041209404\
                8190c6511be3629a8b3eba27bddaa463662c239bcfd13cac2e95c7775790f61fe66f74162c83eea5\
                e811b4663bbad6a81e961b333ebd87e3636470510780b190bdc92fd6ceadd3a7cee970c6569a0bbf\
                a122ff4479a4bc8fb32447604cc39d56856cca83c04cb4ebcea03588d4235bfdbdbc680f2fa6a965\
                0c0ff6360b3c9c600e2aefe536c522941aadcef1167e4ecc2636",
        ),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn pbes2_vectors_from_openssl_pkcs8() {
        use der::Decode;
        let plain = unhex(VECTOR_PLAIN);
        for (name, hex) in VECTORS {
            let info = asn1::EncryptedPrivateKeyInfo::from_der(&unhex(hex)).unwrap();
            let back = decrypt(
                "key",
                &info.algorithm,
                &Password::new("vector"),
                info.encrypted_data.as_bytes(),
                &mut Budget::new(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back.as_slice(), plain.as_slice(), "{name}");
        }
    }
}
