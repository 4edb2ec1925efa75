//! The PKCS#12 key derivation function of RFC 7292 appendix B.2 (keys, IVs and MAC keys from a
//! BMPString password), and the BMPString form of a password.

use digest::block_api::BlockSizeUser;
use digest::{Digest, Output};
use zeroize::{Zeroize, Zeroizing};

/// What the derived bytes are for: the "ID" byte of RFC 7292 appendix B.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Key material for encryption or decryption (ID = 1).
    Key = 1,
    /// An initialisation vector (ID = 2).
    Iv = 2,
    /// A MAC key (ID = 3).
    Mac = 3,
}

/// The password as RFC 7292 appendix B.1 wants it: UTF-16 big-endian code units followed by
/// two zero bytes (so the empty password is `00 00`). Characters outside the Basic
/// Multilingual Plane become surrogate pairs, as OpenSSL's `OPENSSL_utf82uni` does.
pub(crate) fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16().chain(core::iter::once(0)) {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Derives `len` bytes for `purpose` from `password` (already in BMPString form, see
/// [`bmp_password`]), `salt` and `iterations` with the hash `D` (RFC 7292 appendix B.2).
/// An iteration count of 0 is treated as 1; callers refuse it earlier.
pub(crate) fn derive<D>(
    password: &[u8],
    salt: &[u8],
    purpose: Purpose,
    iterations: u32,
    len: usize,
) -> Zeroizing<Vec<u8>>
where
    D: Digest + BlockSizeUser,
{
    let u = <D as Digest>::output_size();
    let v = <D as BlockSizeUser>::block_size();
    // Steps 1-4: D = v copies of ID; I = S || P, each repeated to a multiple of v bytes.
    let diversifier = vec![purpose as u8; v];
    let stretch = |src: &[u8]| -> Zeroizing<Vec<u8>> {
        let n = v * src.len().div_ceil(v);
        Zeroizing::new(src.iter().copied().cycle().take(n).collect())
    };
    let mut i = Zeroizing::new([stretch(salt).as_slice(), stretch(password).as_slice()].concat());
    let mut out = Zeroizing::new(Vec::with_capacity(len.div_ceil(u) * u));
    let mut a = Output::<D>::default();
    loop {
        // Step 6a: A_i = H^c(D || I).
        D::new()
            .chain_update(&diversifier)
            .chain_update(i.as_slice())
            .finalize_into(&mut a);
        for _ in 1..iterations {
            let h = D::new().chain_update(a.as_slice());
            h.finalize_into(&mut a);
        }
        out.extend_from_slice(&a);
        if out.len() >= len {
            break;
        }
        // Steps 6b-6c: B = A_i repeated to v bytes; I_j = (I_j + B + 1) mod 2^(8v) for
        // every v-byte block I_j of I.
        let b = Zeroizing::new(a.iter().copied().cycle().take(v).collect::<Vec<u8>>());
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().zip(b.iter()).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = (sum & 0xff) as u8;
                carry = sum >> 8;
            }
        }
    }
    a.as_mut_slice().zeroize();
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn bmp_password_form() {
        assert_eq!(bmp_password("").as_slice(), &[0, 0]);
        assert_eq!(bmp_password("ab").as_slice(), &[0, 0x61, 0, 0x62, 0, 0]);
        assert_eq!(bmp_password("ä").as_slice(), &[0, 0xe4, 0, 0]);
        // U+1F600 is the surrogate pair D83D DE00.
        assert_eq!(
            bmp_password("\u{1F600}").as_slice(),
            &[0xd8, 0x3d, 0xde, 0x00, 0, 0]
        );
    }

    /// The "smeg" vectors published with OpenSSL's PKCS#12 KDF tests
    /// (test/recipes/30-test_evp_data/evpkdf_pkcs12.txt), SHA-1, one iteration. Re-checked with
    /// `openssl kdf -keylen 24 -kdfopt digest:SHA1 -kdfopt hexpass:0073006d006500670000
    ///  -kdfopt hexsalt:0A58CF64530D823F -kdfopt iter:1 -kdfopt id:1 PKCS12KDF` (and
    /// `-keylen 8 ... id:2`), OpenSSL 3.0.19.
    #[test]
    fn sha1_published_vectors() {
        let pass = bmp_password("smeg");
        let salt = unhex("0a58cf64530d823f");
        let key = derive::<sha1::Sha1>(&pass, &salt, Purpose::Key, 1, 24);
        assert_eq!(
            hex(&key),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
        let iv = derive::<sha1::Sha1>(&pass, &salt, Purpose::Iv, 1, 8);
        assert_eq!(hex(&iv), "79993dfe048d3b76");
    }

    /// SHA-256 with a non-ASCII password and several output blocks (exercises step 6b-6c).
    /// The first vector is also in RustCrypto's `pkcs12` crate tests. Made with
    /// `openssl kdf -keylen 32 -kdfopt digest:SHA256
    ///  -kdfopt hexpass:00670065004000e4006800650069006d0000 -kdfopt hexsalt:0102030405060708
    ///  -kdfopt iter:100 -kdfopt id:1 PKCS12KDF` and `-keylen 100 ... id:3`, OpenSSL 3.0.19.
    #[test]
    fn sha256_vectors_from_openssl() {
        let pass = bmp_password("ge@äheim");
        let salt = unhex("0102030405060708");
        let key = derive::<sha2::Sha256>(&pass, &salt, Purpose::Key, 100, 32);
        assert_eq!(
            hex(&key),
            "fae4d4957a3cc781e1180b9d4fb79c1e0c8579b746a3177e5b0768a3118bf863"
        );
        let mac = derive::<sha2::Sha256>(&pass, &salt, Purpose::Mac, 100, 100);
        assert_eq!(
            hex(&mac),
            "136355ed9434516682534f46d63956db5ff06b844702c2c1f3b46321e2524a4d20010bdbf1fb7553\
             4734491c9bcc30ad3673e71e9c9256491e85af0c160b1846577c25d2258ac51a58cc5b970612c87c\
             6a46c3a0883dc407d6c161a141223ce4a70bf213"
        );
    }

    /// SHA-512 (128-byte blocks), the empty password and a salt of 128 0xff bytes, so that the
    /// addition of step 6c carries through whole blocks; 150 bytes need three hash outputs.
    /// Made with `openssl kdf -keylen 150 -kdfopt digest:SHA512 -kdfopt hexpass:0000
    /// -kdfopt hexsalt:$(printf 'ff%.0s' $(seq 128)) -kdfopt iter:3 -kdfopt id:2 PKCS12KDF`,
    /// OpenSSL 3.0.19.
    #[test]
    fn sha512_carry_vector_from_openssl() {
        let pass = bmp_password("");
        let salt = [0xffu8; 128];
        let iv = derive::<sha2::Sha512>(&pass, &salt, Purpose::Iv, 3, 150);
        assert_eq!(
            hex(&iv),
            "70f710de601ff7a45348525f66f754e163f8d40e2c99a435448a179b9e3a9fcb65fee87bc6075974\
             a5786550d8da463fef4c16c280d69288bc3a7605e0e6b46edd58ed30e94af3cd21b6df588e5ae533\
             ba3b8dd50db104fc21b3b624191f0c401244921b7de6e9f6200970d59e7a71ae9f5a1afc2cd285b5\
             362d6d1a5fffda8f79ea21ef29c46376c3551533125fc211ce03502add56"
        );
    }
}
