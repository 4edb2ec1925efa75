//! The key-file format: a random 256-bit secret in a versioned, checksummed text armour.
//!
//! ```text
//! KMS key-escrow key file. Whoever holds this file can unlock the key-escrow store:
//! keep it offline, and keep the copy in another place.
//! -----BEGIN KMS ESCROW KEY FILE-----
//! Version: 1
//! Key-File-Id: 5c0f9e2a4b7d11e8a3c2d4e6f8091a2b
//! Secret: 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//! Checksum: 0d8c3a4f5e6b7a19
//! -----END KMS ESCROW KEY FILE-----
//! ```
//!
//! `Key-File-Id` is public (it selects the matching wrap in the store); `Secret` is 32 bytes in
//! standard base64; `Checksum` is the first 8 bytes of
//! `SHA-256("kms-escrow key file v1" || id || secret)` in hex, so a damaged copy is refused with a
//! clear message instead of reported as the wrong key file. Lines before `BEGIN` are comments.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::master::hex;
use crate::secret::{Key256, random_array};

/// Length of the public key-file id.
pub(crate) const KEY_FILE_ID_LEN: usize = 16;

const BEGIN: &str = "-----BEGIN KMS ESCROW KEY FILE-----";
const END: &str = "-----END KMS ESCROW KEY FILE-----";
const VERSION: u32 = 1;
const CHECKSUM_LABEL: &[u8] = b"kms-escrow key file v1";
/// A key file is a few hundred bytes; anything much larger is not one.
const MAX_FILE_LEN: u64 = 16 * 1024;

/// A loaded key file: its public id and its 256-bit secret (wiped on drop).
pub struct KeyFile {
    id: [u8; KEY_FILE_ID_LEN],
    secret: Key256,
}

impl KeyFile {
    /// Reads and checks the key file at `path`.
    ///
    /// A missing, unreadable, truncated, corrupted or unsupported file is refused with
    /// [`Error::KeyFileInvalid`] naming the problem; the file's content is never echoed.
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::key_file(path, e.to_string()))?;
        if !meta.is_file() {
            return Err(Error::key_file(path, "not a regular file"));
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(Error::key_file(
                path,
                format!("{} bytes is too large to be a key file", meta.len()),
            ));
        }
        let bytes =
            Zeroizing::new(std::fs::read(path).map_err(|e| Error::key_file(path, e.to_string()))?);
        Self::parse(&bytes).map_err(|problem| Error::key_file(path, problem))
    }

    /// Checks the bytes of a key file received some other way than from a file (an unlock
    /// request carrying the file's content); `origin` names where they came from in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let origin = Path::new(origin);
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(Error::key_file(origin, "too large to be a key file"));
        }
        Self::parse(bytes).map_err(|problem| Error::key_file(origin, problem))
    }

    /// A fresh key file (random id and secret).
    pub(crate) fn generate() -> Result<Self> {
        Ok(KeyFile {
            id: random_array()?,
            secret: Key256::random()?,
        })
    }

    /// The public id of this key file.
    pub(crate) fn id(&self) -> &[u8; KEY_FILE_ID_LEN] {
        &self.id
    }

    /// The public id in hex, as shown in unlock-method labels.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }

    pub(crate) fn secret(&self) -> &Key256 {
        &self.secret
    }

    fn checksum(id: &[u8], secret: &[u8]) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(CHECKSUM_LABEL)
            .chain_update(id)
            .chain_update(secret)
            .finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }

    /// The file's text (a zeroizing buffer: it contains the secret).
    pub(crate) fn to_text(&self) -> Zeroizing<String> {
        let mut b64 = Zeroizing::new([0u8; 44]);
        let secret_b64 = Base64::encode(self.secret.expose(), &mut b64[..])
            .expect("44 bytes hold 32 bytes of base64");
        let mut text = Zeroizing::new(String::with_capacity(512));
        text.push_str(
            "KMS key-escrow key file. Whoever holds this file can unlock the key-escrow store:\n\
             keep it offline, and keep the copy in another place.\n",
        );
        text.push_str(BEGIN);
        text.push('\n');
        text.push_str(&format!("Version: {VERSION}\n"));
        text.push_str(&format!("Key-File-Id: {}\n", hex(&self.id)));
        text.push_str("Secret: ");
        text.push_str(secret_b64);
        text.push('\n');
        text.push_str(&format!(
            "Checksum: {}\n",
            hex(&Self::checksum(&self.id, self.secret.expose()))
        ));
        text.push_str(END);
        text.push('\n');
        text
    }

    /// Parses a key file's bytes; the error is a short description of the problem.
    pub(crate) fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| "not a key file (not text; is it the right file?)".to_owned())?;
        let mut lines = text.lines().map(str::trim_end);
        if !lines.by_ref().any(|l| l.trim_start() == BEGIN) {
            return Err(format!("not a key file (no '{BEGIN}' line)"));
        }
        let mut version = None;
        let mut id = None;
        let mut secret_b64: Option<&str> = None;
        let mut checksum = None;
        let mut ended = false;
        for (n, line) in lines.enumerate() {
            let line = line.trim_start();
            if line == END {
                ended = true;
                break;
            }
            if line.is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!(
                    "corrupted: line {} after BEGIN is not 'Name: value'",
                    n + 1
                ));
            };
            let value = value.trim();
            let slot = match name {
                "Version" => &mut version,
                "Key-File-Id" => &mut id,
                "Secret" => &mut secret_b64,
                "Checksum" => &mut checksum,
                _ => {
                    return Err(format!(
                        "corrupted: unexpected field on line {} after BEGIN",
                        n + 1
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(format!("corrupted: field {name} appears twice"));
            }
        }
        if !ended {
            return Err(format!("truncated: no '{END}' line"));
        }
        let version = version.ok_or("truncated or corrupted: no Version line")?;
        match version.parse::<u32>() {
            Ok(VERSION) => {}
            Ok(v) => {
                return Err(format!(
                    "unsupported key file version {v} (this program reads version {VERSION})"
                ));
            }
            Err(_) => return Err("corrupted: Version is not a number".to_owned()),
        }
        let id_hex = id.ok_or("truncated or corrupted: no Key-File-Id line")?;
        let secret_b64 = secret_b64.ok_or("truncated or corrupted: no Secret line")?;
        let checksum_hex = checksum.ok_or("truncated or corrupted: no Checksum line")?;

        let mut id = [0u8; KEY_FILE_ID_LEN];
        unhex(id_hex, &mut id).map_err(|()| "corrupted: Key-File-Id is not 32 hex digits")?;
        let mut want = [0u8; 8];
        unhex(checksum_hex, &mut want).map_err(|()| "corrupted: Checksum is not 16 hex digits")?;
        let mut secret = Key256::zeroed();
        match Base64::decode(secret_b64, secret.expose_mut()) {
            Ok(decoded) if decoded.len() == 32 => {}
            _ => return Err("corrupted: Secret is not 32 bytes of base64".to_owned()),
        }
        if Self::checksum(&id, secret.expose()) != want {
            return Err("checksum mismatch: the file is corrupted (try the copy)".to_owned());
        }
        Ok(KeyFile { id, secret })
    }

    /// Writes this key file to `path`, which must not exist: mode 0600, atomically (temporary
    /// file in the same directory, fsync, rename without overwrite, fsync of the directory).
    pub(crate) fn write_new(&self, path: &Path) -> Result<()> {
        let text = self.to_text();
        fsutil::write_new_file(path, |file| file.write_all(text.as_bytes()))
    }
}

fn unhex(s: &str, out: &mut [u8]) -> std::result::Result<(), ()> {
    if s.len() != out.len() * 2 || !s.is_ascii() {
        return Err(());
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| ())?;
    }
    Ok(())
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("id", &self.id_hex())
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> (KeyFile, String) {
        let kf = KeyFile::generate().unwrap();
        let text = kf.to_text().to_string();
        (kf, text)
    }

    #[test]
    fn round_trip() {
        let (kf, text) = text();
        let back = KeyFile::parse(text.as_bytes()).unwrap();
        assert_eq!(back.id, kf.id);
        assert_eq!(back.secret.expose(), kf.secret.expose());
        assert!(!format!("{back:?}").contains(&text[text.find("Secret: ").unwrap() + 8..][..20]));
    }

    #[test]
    fn every_single_byte_change_in_the_armour_is_refused_or_harmless() {
        let (kf, text) = text();
        let begin = text.find(BEGIN).unwrap();
        let bytes = text.as_bytes();
        for i in begin..bytes.len() {
            let mut damaged = bytes.to_vec();
            damaged[i] ^= 0x01;
            if let Ok(parsed) = KeyFile::parse(&damaged) {
                // Only whitespace-equivalent changes may parse, and then to the same key.
                assert_eq!(parsed.secret.expose(), kf.secret.expose(), "byte {i}");
                assert_eq!(parsed.id, kf.id, "byte {i}");
            }
        }
    }

    #[test]
    fn clear_problems() {
        let (_, text) = text();
        let cases: Vec<(String, &str)> = vec![
            ("hello".into(), "no '-----BEGIN"),
            (text[..text.find(END).unwrap()].into(), "truncated"),
            (text[..text.find("Checksum").unwrap()].into(), "truncated"),
            (
                text.replace("Version: 1", "Version: 2"),
                "unsupported key file version 2",
            ),
            (text.replace("Secret: ", "Secret: AA"), "corrupted"),
        ];
        for (input, want) in cases {
            let err = KeyFile::parse(input.as_bytes()).err().unwrap();
            assert!(err.contains(want), "{err} should contain {want}");
        }
        let mut flipped = text.clone().into_bytes();
        let pos = text.find("Secret: ").unwrap() + 10;
        flipped[pos] = if flipped[pos] == b'A' { b'B' } else { b'A' };
        let err = KeyFile::parse(&flipped).err().unwrap();
        assert!(err.contains("checksum mismatch"), "{err}");
    }
}
