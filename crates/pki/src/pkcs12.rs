//! PKCS#12 (RFC 7292) bundles: export of private keys, each with its certificate, plus a CA
//! chain, under a password, in a modern (PBES2/AES-256, HMAC-SHA256) or legacy (3DES/RC2-40,
//! HMAC-SHA1) profile; and import of such bundles, ours or OpenSSL's, MAC first, then
//! decryption, with keys paired to their certificates.
//!
//! What is read: password integrity mode (a MAC with SHA-1, SHA-224, SHA-256, SHA-384 or
//! SHA-512 and the RFC 7292 appendix B KDF); authSafe contents that are plain `Data` or
//! password `EncryptedData`; keyBag, pkcs8ShroudedKeyBag, certBag (X.509), and nested
//! safeContentsBag; PBES2 with PBKDF2 (PRF HMAC-SHA1/224/256/384/512) and AES-128/192/256-CBC,
//! DES-EDE3-CBC or DES-CBC; the PKCS#12 PBE schemes with 3DES, 2-key 3DES, RC2-128 and
//! RC2-40. crlBag and secretBag are skipped. BER is read as NSS, Windows and Java write it
//! (indefinite lengths, constructed strings), through the crate's BER normaliser; files
//! without a password (no MAC, unencrypted safes and keyBags) are read when no password is
//! given. Refused, with an error that names the reason: a file without MAC opened with a
//! password, public-key integrity or privacy modes (SignedData, EnvelopedData), RC4, scrypt,
//! PBMAC1 and any other unknown algorithm (by OID), iteration counts above [`MAX_ITERATIONS`]
//! (or above [`MAX_TOTAL_ITERATIONS`] in all), files above [`MAX_PKCS12_SIZE`], more than
//! [`MAX_BAGS`] bags, PEM text, and malformed BER/DER.

mod asn1;
mod kdf;
mod pbe;

use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use der::asn1::{Any, AnyRef, BmpString, ObjectIdentifier as Oid, OctetStringRef, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use rand_core::CryptoRng;
use sha1::{Digest, Sha1};
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

pub use pbe::{MAX_ITERATIONS, MAX_TOTAL_ITERATIONS};

use self::asn1::{CertBag, DigestInfo, EncryptedPrivateKeyInfo, MacData, Pfx, SafeBag};
use self::pbe::{Budget, MacDigest, Password, Scheme};
use crate::Certificate;
use crate::ber;
use crate::certificate;
use crate::encoding::{self, MAX_OBJECT_SIZE};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

/// Largest PKCS#12 file accepted by [`parse`], in bytes.
pub const MAX_PKCS12_SIZE: usize = 4 * 1024 * 1024;
/// Most safe bags (keys, certificates, others) one file may hold.
pub const MAX_BAGS: usize = 512;
/// Default iteration count of the modern profile, used for PBKDF2 and for the MAC key (the MAC
/// is a password check too, so it gets the same cost). OpenSSL's default of 2048 is too low
/// for a file that may travel by mail.
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// Iteration count of the legacy profile, as `openssl pkcs12 -export -legacy` uses.
pub const LEGACY_ITERATIONS: u32 = 2048;

/// How nested safeContentsBags may be.
const MAX_NESTING: usize = 4;

/// The algorithms an exported bundle uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pkcs12Profile {
    /// What OpenSSL 3 writes by default: keys in pkcs8ShroudedKeyBags and certificates in an
    /// EncryptedData, both PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (16-byte salts and
    /// IVs); MAC HMAC-SHA256 with the RFC 7292 KDF (SHA-256).
    #[default]
    Modern,
    /// What `openssl pkcs12 -export -legacy` writes, for old clients: keys with
    /// pbeWithSHAAnd3-KeyTripleDES-CBC, certificates with pbeWithSHAAnd40BitRC2-CBC (8-byte
    /// salts), MAC HMAC-SHA1; every key derived with the RFC 7292 KDF and SHA-1.
    Legacy,
}

/// Options of [`export`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExportOptions {
    /// The algorithms.
    pub profile: Pkcs12Profile,
    /// Iteration count of every key derivation in the file: PBKDF2 (modern), the PKCS#12 KDF
    /// (legacy) and the MAC key. 1 to [`MAX_ITERATIONS`].
    pub iterations: u32,
}

impl ExportOptions {
    /// The modern profile with [`DEFAULT_ITERATIONS`].
    pub fn modern() -> Self {
        Self {
            profile: Pkcs12Profile::Modern,
            iterations: DEFAULT_ITERATIONS,
        }
    }

    /// The legacy profile with [`LEGACY_ITERATIONS`].
    pub fn legacy() -> Self {
        Self {
            profile: Pkcs12Profile::Legacy,
            iterations: LEGACY_ITERATIONS,
        }
    }

    /// The same options with another iteration count.
    pub fn with_iterations(self, iterations: u32) -> Self {
        Self { iterations, ..self }
    }
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self::modern()
    }
}

/// One private key to export with its certificate.
#[derive(Clone, Copy, Debug)]
pub struct Pkcs12Entry<'a> {
    /// The private key; it must match the certificate's public key.
    pub key: &'a PrivateKey,
    /// The key's certificate.
    pub certificate: &'a Certificate,
    /// A friendly name (shown by mail clients and key stores) for the key and the certificate.
    pub friendly_name: Option<&'a str>,
}

/// A private key read from a PKCS#12 file.
#[derive(Clone, Debug)]
pub struct Pkcs12Key {
    /// The key.
    pub key: PrivateKey,
    /// Its certificate: the one with the same localKeyId, or else the first whose public key
    /// matches; `None` when the file has no such certificate.
    pub certificate: Option<Certificate>,
    /// The friendlyName attribute of the key bag, if any.
    pub friendly_name: Option<String>,
    /// The localKeyId attribute of the key bag, if any.
    pub local_key_id: Option<Vec<u8>>,
}

/// Everything read from a PKCS#12 file.
#[derive(Clone, Debug, Default)]
pub struct Pkcs12Contents {
    /// The private keys, in file order, each with its certificate when there is one.
    pub keys: Vec<Pkcs12Key>,
    /// The certificates not paired with a key (usually the CA chain), in file order.
    pub certificates: Vec<Certificate>,
}

// ------------------------------------------------------------------------------------------
// Export.

/// Writes a PKCS#12 file (DER) holding each entry's key and certificate (sharing a localKeyId,
/// the SHA-1 of the certificate, as OpenSSL does, and the friendly name when given) and the
/// `ca_chain` certificates (without localKeyId), protected by `password` as
/// `options.profile` says. Salts and IVs come from `rng`.
///
/// Fails when there is nothing to export, a key does not match its certificate, a friendly
/// name has characters outside the Basic Multilingual Plane, or the iteration count is 0 or
/// above [`MAX_ITERATIONS`].
pub fn export<R: CryptoRng + ?Sized>(
    entries: &[Pkcs12Entry<'_>],
    ca_chain: &[Certificate],
    password: &str,
    options: &ExportOptions,
    rng: &mut R,
) -> Result<Vec<u8>> {
    if entries.is_empty() && ca_chain.is_empty() {
        return Err(Error::Invalid {
            what: "PKCS#12 contents",
            why: "no key and no certificate to export".into(),
        });
    }
    pbe::check_iterations("export", options.iterations).map_err(|e| Error::Invalid {
        what: "PKCS#12 iteration count",
        why: e.to_string(),
    })?;
    let (key_scheme, cert_scheme, mac_digest) = match options.profile {
        Pkcs12Profile::Modern => (Scheme::Pbes2Aes256, Scheme::Pbes2Aes256, MacDigest::Sha256),
        Pkcs12Profile::Legacy => (
            Scheme::Pkcs12TripleDes,
            Scheme::Pkcs12Rc2_40,
            MacDigest::Sha1,
        ),
    };
    let password = Password::new(password);

    let mut cert_bags = Vec::with_capacity(entries.len() + ca_chain.len());
    let mut key_bags = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        if certificate::public_key(entry.certificate)? != entry.key.public_key() {
            return Err(Error::Invalid {
                what: "PKCS#12 entry",
                why: format!(
                    "the private key of entry {} does not match its certificate",
                    n + 1
                ),
            });
        }
        let cert_der = certificate::to_der(entry.certificate)?;
        let local_key_id = Sha1::digest(&cert_der).to_vec();
        let attributes = bag_attributes(entry.friendly_name, Some(&local_key_id))?;

        let pkcs8 = entry.key.to_pkcs8_der()?;
        let (algorithm, ciphertext) = pbe::encrypt(
            key_scheme,
            options.iterations,
            &password,
            pkcs8.as_bytes(),
            rng,
        )?;
        let shrouded = EncryptedPrivateKeyInfo {
            algorithm,
            encrypted_data: pbe::octets(&ciphertext)?,
        }
        .to_der()
        .map_err(Error::der("PKCS#12 shrouded key bag"))?;
        key_bags.push(encode_bag(
            asn1::SHROUDED_KEY_BAG,
            &shrouded,
            attributes.clone(),
        )?);
        cert_bags.push(encode_bag(
            asn1::CERT_BAG,
            &cert_bag_value(&cert_der)?,
            attributes,
        )?);
    }
    for ca in ca_chain {
        let value = cert_bag_value(&certificate::to_der(ca)?)?;
        cert_bags.push(encode_bag(asn1::CERT_BAG, &value, None)?);
    }

    let mut auth_safe = Vec::with_capacity(2);
    if !cert_bags.is_empty() {
        let plain = sequence_of(&cert_bags, "PKCS#12 certificate bags")?;
        let (algorithm, ciphertext) =
            pbe::encrypt(cert_scheme, options.iterations, &password, &plain, rng)?;
        let encrypted = EncryptedData {
            version: CmsVersion::V0,
            enc_content_info: EncryptedContentInfo {
                content_type: asn1::ID_DATA,
                content_enc_alg: algorithm,
                encrypted_content: Some(pbe::octets(&ciphertext)?),
            },
            unprotected_attrs: None,
        };
        auth_safe.push(ContentInfo {
            content_type: asn1::ID_ENCRYPTED_DATA,
            content: pbe::any_of(&encrypted)?,
        });
    }
    if !key_bags.is_empty() {
        let plain = sequence_of(&key_bags, "PKCS#12 key bags")?;
        auth_safe.push(data_content_info(&plain)?);
    }
    let auth_safe_der = auth_safe
        .to_der()
        .map_err(Error::der("PKCS#12 authenticated safe"))?;

    // 8-byte salts in the legacy profile, exactly as OpenSSL writes them; 16 bytes otherwise.
    let mut mac_salt = vec![0u8; if mac_digest == MacDigest::Sha1 { 8 } else { 16 }];
    rng.fill_bytes(&mut mac_salt);
    let tag = pbe::mac(
        mac_digest,
        &password,
        &mac_salt,
        options.iterations,
        &auth_safe_der,
    )?;
    let pfx = Pfx {
        version: 3,
        auth_safe: data_content_info(&auth_safe_der)?,
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: spki::AlgorithmIdentifierOwned {
                    oid: mac_digest.oid(),
                    parameters: Some(Any::null()),
                },
                digest: pbe::octets(&tag)?,
            },
            mac_salt: pbe::octets(&mac_salt)?,
            iterations: options.iterations,
        }),
    };
    pfx.to_der().map_err(Error::der("PKCS#12 (PFX)"))
}

/// A `ContentInfo` of type `data` around `bytes`.
fn data_content_info(bytes: &[u8]) -> Result<ContentInfo> {
    Ok(ContentInfo {
        content_type: asn1::ID_DATA,
        content: pbe::any_of(&pbe::octets(bytes)?)?,
    })
}

/// The friendlyName and localKeyId attributes of a bag.
fn bag_attributes(
    friendly_name: Option<&str>,
    local_key_id: Option<&[u8]>,
) -> Result<Option<SetOfVec<Attribute>>> {
    let mut set = SetOfVec::new();
    let mut add = |oid: Oid, value: Any| -> Result<()> {
        let mut values = SetOfVec::new();
        values
            .insert(value)
            .map_err(Error::der("PKCS#12 attribute"))?;
        set.insert(Attribute { oid, values })
            .map_err(Error::der("PKCS#12 attribute"))
    };
    if let Some(name) = friendly_name {
        let bmp = BmpString::from_utf8(name).map_err(|_| Error::Invalid {
            what: "PKCS#12 friendly name",
            why: "it has characters outside the Basic Multilingual Plane, which a BMPString \
                  cannot hold"
                .into(),
        })?;
        add(asn1::FRIENDLY_NAME, pbe::any_of(&bmp)?)?;
    }
    if let Some(id) = local_key_id {
        add(asn1::LOCAL_KEY_ID, pbe::any_of(&pbe::octets(id)?)?)?;
    }
    Ok(if set.is_empty() { None } else { Some(set) })
}

/// The DER of a SafeBag of type `bag_id` whose value is the DER `value`.
fn encode_bag(
    bag_id: Oid,
    value: &[u8],
    bag_attributes: Option<SetOfVec<Attribute>>,
) -> Result<Vec<u8>> {
    SafeBag {
        bag_id,
        bag_value: AnyRef::try_from(value).map_err(Error::der("PKCS#12 bag value"))?,
        bag_attributes,
    }
    .to_der()
    .map_err(Error::der("PKCS#12 safe bag"))
}

/// The DER of a CertBag holding an X.509 certificate.
fn cert_bag_value(cert_der: &[u8]) -> Result<Vec<u8>> {
    CertBag {
        cert_id: asn1::X509_CERTIFICATE,
        cert_value: AnyRef::new(Tag::OctetString, cert_der)
            .map_err(Error::der("PKCS#12 cert bag"))?,
    }
    .to_der()
    .map_err(Error::der("PKCS#12 cert bag"))
}

/// A SEQUENCE OF the already encoded `elements`.
fn sequence_of(elements: &[Vec<u8>], what: &'static str) -> Result<Vec<u8>> {
    let refs = elements
        .iter()
        .map(|e| AnyRef::try_from(e.as_slice()))
        .collect::<der::Result<Vec<_>>>()
        .map_err(Error::der(what))?;
    refs.to_der().map_err(Error::der(what))
}

// ------------------------------------------------------------------------------------------
// Import.

/// Reads a PKCS#12 file protected by `password`, or by none when `password` is empty. The
/// MAC is verified first (in constant time): a wrong password, or a file altered after it was
/// made, gives [`Error::Pkcs12BadPassword`]. Then every safe is decrypted and every key is
/// paired with its certificate (same localKeyId, else same public key).
///
/// BER is read as NSS (`pk12util`, Thunderbird, Firefox), Windows and Java write it:
/// indefinite lengths and constructed (chunked) OCTET STRINGs anywhere, including the
/// `[0] IMPLICIT` encrypted content of an encryptedData safe. The MAC is checked over the
/// authSafe content octets (the chunks joined, RFC 7292 §4), as they were received.
///
/// An empty `password` means "none": the file's MAC is tried with the empty BMPString (two
/// zero bytes, as NSS and OpenSSL encode it) and with an absent password (no bytes, as some
/// producers do), like OpenSSL; a file with no MAC at all (`cryptography`'s `NoEncryption`,
/// `openssl pkcs12 -nomac`) is read, its encrypted safes (if any) decrypted under the empty
/// password. A file without MAC opened with a non-empty password is refused
/// ([`Error::Pkcs12NoMac`]): the password could not be checked. A file that needs a password
/// opened with none gives [`Error::Pkcs12PasswordNeeded`].
///
/// Fails with a typed error, never a panic, on anything else: see the module documentation
/// for what is refused.
pub fn parse(input: &[u8], password: &str) -> Result<Pkcs12Contents> {
    encoding::check_size("PKCS#12 file", input, MAX_PKCS12_SIZE)?;
    if encoding::looks_like_pem(input) {
        return Err(Error::Pem {
            what: "PKCS#12 file",
            detail: "a PKCS#12 file is binary, not PEM text".into(),
        });
    }
    // Well-formed DER comes out of the normaliser unchanged; BER comes out as DER with the
    // authSafe's OCTET STRING chunks joined, which are exactly the octets the MAC covers.
    let pfx_der = Zeroizing::new(ber::to_der(input).map_err(Error::der("PKCS#12 file (PFX)"))?);
    let pfx = Pfx::from_der(&pfx_der).map_err(Error::der("PKCS#12 file (PFX)"))?;
    if pfx.version != 3 {
        return Err(Error::Pkcs12(format!(
            "PFX version {} is not supported (expected 3)",
            pfx.version
        )));
    }
    let auth_safe = match pfx.auth_safe.content_type {
        asn1::ID_DATA => pfx
            .auth_safe
            .content
            .decode_as::<&OctetStringRef>()
            .map_err(Error::der("PKCS#12 authSafe"))?
            .as_bytes(),
        asn1::ID_SIGNED_DATA => {
            return Err(Error::Pkcs12(
                "public-key integrity mode (a SignedData authSafe) is not supported".into(),
            ));
        }
        other => {
            return Err(Error::Pkcs12(format!(
                "authSafe content type {other} is not supported (expected id-data)"
            )));
        }
    };
    let mut budget = Budget::new();
    // The passwords to decrypt with, in order: the one the MAC verified, or (no MAC, no
    // password) the empty password in its two forms.
    let candidates = match pfx.mac_data.as_ref() {
        Some(mac_data) => vec![verify_mac(mac_data, password, auth_safe, &mut budget)?],
        None if password.is_empty() => vec![Password::new(""), Password::absent()],
        None => return Err(Error::Pkcs12NoMac),
    };
    let auth_safe_der =
        Zeroizing::new(ber::to_der(auth_safe).map_err(Error::der("PKCS#12 authenticated safe"))?);
    let infos = Vec::<ContentInfo>::from_der(&auth_safe_der)
        .map_err(Error::der("PKCS#12 authenticated safe"))?;
    let mut first_error = None;
    for password in &candidates {
        match read_safes(&infos, password, &mut budget) {
            Ok(contents) => return Ok(contents),
            // Only a decryption failure is worth another form of the empty password.
            Err(Error::Pkcs12BadPassword) if pfx.mac_data.is_none() => {
                first_error.get_or_insert(Error::Pkcs12PasswordNeeded);
            }
            Err(e) => return Err(first_error.unwrap_or(e)),
        }
    }
    Err(first_error.unwrap_or(Error::Pkcs12BadPassword))
}

/// Reads every safe of the authenticated safe under `password`, and pairs keys with
/// certificates.
fn read_safes(
    infos: &[ContentInfo],
    password: &Password,
    budget: &mut Budget,
) -> Result<Pkcs12Contents> {
    let mut collector = Collector::default();
    for info in infos {
        match info.content_type {
            asn1::ID_DATA => {
                let contents = info
                    .content
                    .decode_as::<&OctetStringRef>()
                    .map_err(Error::der("PKCS#12 safe contents (data)"))?;
                collector.safe_contents(contents.as_bytes(), password, budget, 0)?;
            }
            asn1::ID_ENCRYPTED_DATA => {
                // NSS writes the `[0] IMPLICIT` encryptedContent in chunks; join them. (No
                // other `[0]` can occur in an EncryptedData with a password scheme.)
                let encoded = info
                    .content
                    .to_der()
                    .map_err(Error::der("PKCS#12 safe contents (encryptedData)"))?;
                let normalised = ber::to_der_implicit_strings(&encoded)
                    .map_err(Error::der("PKCS#12 safe contents (encryptedData)"))?;
                let encrypted = EncryptedData::from_der(&normalised)
                    .map_err(Error::der("PKCS#12 safe contents (encryptedData)"))?;
                let eci = &encrypted.enc_content_info;
                if eci.content_type != asn1::ID_DATA {
                    return Err(Error::Pkcs12(format!(
                        "encrypted safe contents of type {} (expected id-data)",
                        eci.content_type
                    )));
                }
                let ciphertext = eci.encrypted_content.as_ref().ok_or_else(|| {
                    Error::Pkcs12("an encryptedData safe has no encrypted content".into())
                })?;
                let plain = pbe::decrypt(
                    "encrypted safe contents",
                    &eci.content_enc_alg,
                    password,
                    ciphertext.as_bytes(),
                    budget,
                )?;
                collector.safe_contents(&plain, password, budget, 0)?;
            }
            asn1::ID_ENVELOPED_DATA => {
                return Err(Error::Pkcs12(
                    "public-key privacy mode (an envelopedData safe) is not supported".into(),
                ));
            }
            other => {
                return Err(Error::Pkcs12(format!(
                    "safe contents of content type {other} are not supported"
                )));
            }
        }
    }
    collector.pair()
}

/// Verifies the MAC over `data`; returns the form of the password that verified it. An empty
/// `password` is tried as the empty BMPString and as an absent password.
fn verify_mac(
    mac_data: &MacData,
    password: &str,
    data: &[u8],
    budget: &mut Budget,
) -> Result<Password> {
    let digest = MacDigest::from_oid(mac_data.mac.algorithm.oid)?;
    let salt = mac_data.mac_salt.as_bytes();
    let expected = mac_data.mac.digest.as_bytes();
    let iterations = mac_data.iterations;
    budget.spend("MAC", iterations)?;
    let given = Password::new(password);
    if pbe::verify_mac(digest, &given, salt, iterations, data, expected) {
        return Ok(given);
    }
    if password.is_empty() {
        budget.spend("MAC", iterations)?;
        let absent = Password::absent();
        if pbe::verify_mac(digest, &absent, salt, iterations, data, expected) {
            return Ok(absent);
        }
        return Err(Error::Pkcs12PasswordNeeded);
    }
    Err(Error::Pkcs12BadPassword)
}

/// A certificate read from a cert bag, with its localKeyId.
struct FoundCert {
    cert: Certificate,
    local_key_id: Option<Vec<u8>>,
}

/// Keys and certificates collected from the safes, in file order.
#[derive(Default)]
struct Collector {
    keys: Vec<Pkcs12Key>,
    certs: Vec<FoundCert>,
    bags: usize,
}

impl Collector {
    /// Reads one SafeContents (DER), recursing into safeContentsBags up to [`MAX_NESTING`].
    fn safe_contents(
        &mut self,
        der_bytes: &[u8],
        password: &Password,
        budget: &mut Budget,
        depth: usize,
    ) -> Result<()> {
        // Plaintext (keyBags may be in it): normalised in a zeroizing buffer.
        let normalised =
            Zeroizing::new(ber::to_der(der_bytes).map_err(Error::der("PKCS#12 safe contents"))?);
        let bags = Vec::<SafeBag<'_>>::from_der(&normalised)
            .map_err(Error::der("PKCS#12 safe contents"))?;
        for bag in &bags {
            self.bags += 1;
            if self.bags > MAX_BAGS {
                return Err(Error::Pkcs12(format!(
                    "the file has more than {MAX_BAGS} bags"
                )));
            }
            let (friendly_name, local_key_id) = read_attributes(bag.bag_attributes.as_ref());
            match bag.bag_id {
                asn1::KEY_BAG => {
                    let der_key = Zeroizing::new(
                        bag.bag_value
                            .to_der()
                            .map_err(Error::der("PKCS#12 key bag"))?,
                    );
                    self.keys.push(Pkcs12Key {
                        key: PrivateKey::from_der(&der_key)?,
                        certificate: None,
                        friendly_name,
                        local_key_id,
                    });
                }
                asn1::SHROUDED_KEY_BAG => {
                    let info: EncryptedPrivateKeyInfo = bag
                        .bag_value
                        .decode_as()
                        .map_err(Error::der("PKCS#12 shrouded key bag"))?;
                    let plain = pbe::decrypt(
                        "shrouded key bag",
                        &info.algorithm,
                        password,
                        info.encrypted_data.as_bytes(),
                        budget,
                    )?;
                    let der_key = Zeroizing::new(
                        ber::to_der(&plain).map_err(Error::der("PKCS#12 shrouded key bag"))?,
                    );
                    self.keys.push(Pkcs12Key {
                        key: PrivateKey::from_der(&der_key)?,
                        certificate: None,
                        friendly_name,
                        local_key_id,
                    });
                }
                asn1::CERT_BAG => {
                    let cert_bag: CertBag<'_> = bag
                        .bag_value
                        .decode_as()
                        .map_err(Error::der("PKCS#12 cert bag"))?;
                    if cert_bag.cert_id != asn1::X509_CERTIFICATE {
                        return Err(Error::Pkcs12(format!(
                            "certificate type {} is not supported (only x509Certificate)",
                            cert_bag.cert_id
                        )));
                    }
                    let der_cert = cert_bag
                        .cert_value
                        .decode_as::<&OctetStringRef>()
                        .map_err(Error::der("PKCS#12 cert bag"))?
                        .as_bytes();
                    encoding::check_size("certificate", der_cert, MAX_OBJECT_SIZE)?;
                    let cert =
                        Certificate::from_der(der_cert).map_err(Error::der("certificate"))?;
                    self.certs.push(FoundCert { cert, local_key_id });
                }
                // Not needed to use or move a key; skipped.
                asn1::CRL_BAG | asn1::SECRET_BAG => {}
                asn1::SAFE_CONTENTS_BAG => {
                    if depth >= MAX_NESTING {
                        return Err(Error::Pkcs12(format!(
                            "safeContentsBags nested more than {MAX_NESTING} deep"
                        )));
                    }
                    let nested = Zeroizing::new(
                        bag.bag_value
                            .to_der()
                            .map_err(Error::der("PKCS#12 safe contents bag"))?,
                    );
                    self.safe_contents(&nested, password, budget, depth + 1)?;
                }
                other => {
                    return Err(Error::Pkcs12(format!("unknown bag type {other}")));
                }
            }
        }
        Ok(())
    }

    /// Pairs each key with a certificate: first by localKeyId (which must then match the key),
    /// then by public key.
    fn pair(self) -> Result<Pkcs12Contents> {
        let mut keys = self.keys;
        let mut certs: Vec<Option<FoundCert>> = self.certs.into_iter().map(Some).collect();
        let public_keys: Vec<Option<crate::PublicKey>> = certs
            .iter()
            .map(|c| {
                c.as_ref()
                    .and_then(|c| certificate::public_key(&c.cert).ok())
            })
            .collect();
        for (n, key) in keys.iter_mut().enumerate() {
            let Some(id) = key.local_key_id.as_deref() else {
                continue;
            };
            let found = certs.iter().position(|c| {
                c.as_ref()
                    .is_some_and(|c| c.local_key_id.as_deref() == Some(id))
            });
            if let Some(i) = found {
                if public_keys.get(i).cloned().flatten() != Some(key.key.public_key()) {
                    return Err(Error::Pkcs12(format!(
                        "key {} and the certificate with the same localKeyId do not match",
                        n + 1
                    )));
                }
                key.certificate = certs.get_mut(i).and_then(Option::take).map(|c| c.cert);
            }
        }
        for key in keys.iter_mut().filter(|k| k.certificate.is_none()) {
            let public = Some(key.key.public_key());
            let found = (0..certs.len()).find(|&i| {
                certs.get(i).is_some_and(Option::is_some) && public_keys.get(i) == Some(&public)
            });
            if let Some(i) = found {
                key.certificate = certs.get_mut(i).and_then(Option::take).map(|c| c.cert);
            }
        }
        Ok(Pkcs12Contents {
            keys,
            certificates: certs.into_iter().flatten().map(|c| c.cert).collect(),
        })
    }
}

/// The friendlyName and localKeyId of a bag. Values of an unexpected type are ignored.
fn read_attributes(attributes: Option<&SetOfVec<Attribute>>) -> (Option<String>, Option<Vec<u8>>) {
    let mut name = None;
    let mut id = None;
    for attribute in attributes.into_iter().flat_map(|set| set.iter()) {
        let Some(value) = attribute.values.iter().next() else {
            continue;
        };
        match attribute.oid {
            asn1::FRIENDLY_NAME => name = friendly_name_of(value),
            asn1::LOCAL_KEY_ID if value.tag() == Tag::OctetString => {
                id = Some(value.value().to_vec());
            }
            _ => {}
        }
    }
    (name, id)
}

/// A friendlyName value: a BMPString (read as UTF-16, so surrogate pairs from OpenSSL come out
/// right), or a UTF8String from lenient producers. Trailing NULs are dropped.
fn friendly_name_of(value: &Any) -> Option<String> {
    let text = match value.tag() {
        Tag::BmpString => {
            let bytes = value.value();
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::Utf8String => core::str::from_utf8(value.value()).ok()?.to_owned(),
        _ => return None,
    };
    Some(text.trim_end_matches('\0').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_read_leniently() {
        let bmp = Any::new(Tag::BmpString, vec![0, b'a', 0xd8, 0x3d, 0xde, 0x00, 0, 0]).unwrap();
        assert_eq!(friendly_name_of(&bmp).as_deref(), Some("a\u{1F600}"));
        let odd = Any::new(Tag::BmpString, vec![0, b'a', 0]).unwrap();
        assert_eq!(friendly_name_of(&odd), None);
        let utf8 = Any::new(Tag::Utf8String, "bé".as_bytes().to_vec()).unwrap();
        assert_eq!(friendly_name_of(&utf8).as_deref(), Some("bé"));
        assert_eq!(friendly_name_of(&Any::null()), None);
    }

    #[test]
    fn friendly_names_outside_the_bmp_are_refused_on_export() {
        let e = bag_attributes(Some("\u{1F600}"), None).unwrap_err();
        assert_eq!(e.code(), "PKI-031", "{e}");
        assert!(bag_attributes(None, None).unwrap().is_none());
    }

    #[test]
    fn no_contents_or_bad_iterations_are_refused() {
        let mut rng = crate::os_rng();
        let e = export(&[], &[], "pw", &ExportOptions::default(), &mut rng).unwrap_err();
        assert_eq!(e.code(), "PKI-031", "{e}");
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let huge = vec![0x30u8; MAX_PKCS12_SIZE + 1];
        assert_eq!(parse(&huge, "x").unwrap_err().code(), "PKI-004");
    }

    /// Two self-signed CA certificates for the committed keys `alice-sign` and `bob-sign`.
    fn two_keys_and_certs() -> Vec<(PrivateKey, Certificate)> {
        use std::time::{Duration, UNIX_EPOCH};
        let pems = [
            include_str!("../../../keys/alice-sign.key.pem"),
            include_str!("../../../keys/bob-sign.key.pem"),
        ];
        pems.iter()
            .enumerate()
            .map(|(n, pem)| {
                let key = PrivateKey::from_pem_or_der(pem.as_bytes()).unwrap();
                let issuer = crate::Issuer::self_signed(
                    key.clone(),
                    &crate::Profile::Ca {
                        subject: format!("CN=PKCS12 test {n}").parse().unwrap(),
                        path_len: None,
                    },
                    crate::Period {
                        not_before: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
                        not_after: UNIX_EPOCH + Duration::from_secs(1_767_225_600 + 86_400),
                    },
                    crate::DigestAlgorithm::Sha256,
                    &mut crate::os_rng(),
                )
                .unwrap();
                (key, issuer.certificate().clone())
            })
            .collect()
    }

    fn found(key: &PrivateKey, id: Option<&[u8]>) -> Pkcs12Key {
        Pkcs12Key {
            key: key.clone(),
            certificate: None,
            friendly_name: None,
            local_key_id: id.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn keys_pair_by_local_key_id_then_by_public_key() {
        let pairs = two_keys_and_certs();
        let (k0, c0) = &pairs[0];
        let (k1, c1) = &pairs[1];
        // Key 0 has no localKeyId, key 1 has one only its certificate shares; certificates in
        // the other order.
        let collector = Collector {
            keys: vec![found(k0, None), found(k1, Some(b"id-1"))],
            certs: vec![
                FoundCert {
                    cert: c1.clone(),
                    local_key_id: Some(b"id-1".to_vec()),
                },
                FoundCert {
                    cert: c0.clone(),
                    local_key_id: None,
                },
            ],
            bags: 4,
        };
        let contents = collector.pair().unwrap();
        assert_eq!(contents.keys[0].certificate.as_ref(), Some(c0));
        assert_eq!(contents.keys[1].certificate.as_ref(), Some(c1));
        assert!(contents.certificates.is_empty());

        // A localKeyId that points at another key's certificate is an inconsistent file.
        let collector = Collector {
            keys: vec![found(k0, Some(b"id"))],
            certs: vec![FoundCert {
                cert: c1.clone(),
                local_key_id: Some(b"id".to_vec()),
            }],
            bags: 2,
        };
        let e = collector.pair().unwrap_err();
        assert_eq!(e.code(), "PKI-051", "{e}");
        assert!(e.to_string().contains("do not match"), "{e}");

        // No match at all: the key stays alone and the certificate is listed.
        let collector = Collector {
            keys: vec![found(k0, None)],
            certs: vec![FoundCert {
                cert: c1.clone(),
                local_key_id: None,
            }],
            bags: 2,
        };
        let contents = collector.pair().unwrap();
        assert!(contents.keys[0].certificate.is_none());
        assert_eq!(contents.certificates, vec![c1.clone()]);
    }

    #[test]
    fn nested_safe_contents_are_read_up_to_a_depth() {
        let pairs = two_keys_and_certs();
        let cert_der = certificate::to_der(&pairs[0].1).unwrap();
        let leaf = encode_bag(asn1::CERT_BAG, &cert_bag_value(&cert_der).unwrap(), None).unwrap();
        let mut contents = sequence_of(&[leaf], "test").unwrap();
        let password = Password::new("x");
        for depth in 0..=MAX_NESTING + 1 {
            let mut collector = Collector::default();
            let result = collector.safe_contents(&contents, &password, &mut Budget::new(), 0);
            if depth <= MAX_NESTING {
                result.unwrap();
                assert_eq!(collector.certs.len(), 1, "depth {depth}");
            } else {
                let e = result.unwrap_err();
                assert!(e.to_string().contains("nested"), "{e}");
            }
            let bag = encode_bag(asn1::SAFE_CONTENTS_BAG, &contents, None).unwrap();
            contents = sequence_of(&[bag], "test").unwrap();
        }
    }

    #[test]
    fn unknown_bags_and_certificate_types_are_named() {
        let password = Password::new("x");
        let odd = Oid::new_unwrap("1.2.3.4.5");
        let bag = encode_bag(odd, &Any::null().to_der().unwrap(), None).unwrap();
        let contents = sequence_of(&[bag], "test").unwrap();
        let e = Collector::default()
            .safe_contents(&contents, &password, &mut Budget::new(), 0)
            .unwrap_err();
        assert!(e.to_string().contains("unknown bag type 1.2.3.4.5"), "{e}");

        let sdsi = CertBag {
            cert_id: Oid::new_unwrap("1.2.840.113549.1.9.22.2"),
            cert_value: AnyRef::new(Tag::Ia5String, b"sdsi").unwrap(),
        }
        .to_der()
        .unwrap();
        let bag = encode_bag(asn1::CERT_BAG, &sdsi, None).unwrap();
        let contents = sequence_of(&[bag], "test").unwrap();
        let e = Collector::default()
            .safe_contents(&contents, &password, &mut Budget::new(), 0)
            .unwrap_err();
        assert!(e.to_string().contains("1.2.840.113549.1.9.22.2"), "{e}");

        // CRL and secret bags are skipped.
        let bags = [asn1::CRL_BAG, asn1::SECRET_BAG]
            .map(|id| encode_bag(id, &Any::null().to_der().unwrap(), None).unwrap());
        let contents = sequence_of(&bags, "test").unwrap();
        let mut collector = Collector::default();
        collector
            .safe_contents(&contents, &password, &mut Budget::new(), 0)
            .unwrap();
        assert!(collector.keys.is_empty() && collector.certs.is_empty());
    }

    #[test]
    fn absurd_mac_iteration_count_is_refused_before_any_work() {
        let pairs = two_keys_and_certs();
        let (key, cert) = &pairs[0];
        let options = ExportOptions::modern().with_iterations(1);
        let entry = Pkcs12Entry {
            key,
            certificate: cert,
            friendly_name: None,
        };
        let p12 = export(&[entry], &[], "pw", &options, &mut crate::os_rng()).unwrap();
        let mut pfx = Pfx::from_der(&p12).unwrap();
        if let Some(mac) = pfx.mac_data.as_mut() {
            mac.iterations = MAX_ITERATIONS + 1;
        }
        let patched = pfx.to_der().unwrap();
        let e = parse(&patched, "pw").unwrap_err();
        assert_eq!(e.code(), "PKI-051", "{e}");
        assert!(e.to_string().contains("above the limit"), "{e}");
        // The unpatched file reads, with its key paired.
        let contents = parse(&p12, "pw").unwrap();
        assert_eq!(contents.keys[0].certificate.as_ref(), Some(cert));
    }
}
