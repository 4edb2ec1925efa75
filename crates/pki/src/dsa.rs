//! DSA (FIPS 186) signature *verification*, for certificates, CRLs and mail made by old
//! clients and CAs: public keys with their domain parameters (or parameters inherited from the
//! issuer, RFC 5280 §6.1.4 (f)), and `dsa-with-sha1` / `dsa-with-sha256` signatures. This
//! crate never makes DSA keys or signatures.

use const_oid::ObjectIdentifier;
use crypto_bigint::{BoxedUint, NonZero, Odd};
use der::asn1::UintRef;
use der::{Decode, Sequence, Tagged};
use spki::SubjectPublicKeyInfoOwned;

use crate::algorithms::DigestAlgorithm;

/// id-dsa (RFC 3279 §2.3.2).
pub(crate) const ID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
/// id-dsa-with-sha1 (RFC 3279 §2.2.2).
pub(crate) const DSA_WITH_SHA1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10040.4.3");
/// id-dsa-with-sha256 (RFC 5758 §3.1).
pub(crate) const DSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.2");

/// Largest modulus p accepted, in bits (FIPS 186-4 stops at 3072).
const MAX_P_BITS: u32 = 3072;

/// The digest of a DSA signature algorithm OID, if it is one.
pub(crate) fn digest_of(signature_oid: &ObjectIdentifier) -> Option<DigestAlgorithm> {
    if *signature_oid == DSA_WITH_SHA1 {
        Some(DigestAlgorithm::Sha1)
    } else if *signature_oid == DSA_WITH_SHA256 {
        Some(DigestAlgorithm::Sha256)
    } else {
        None
    }
}

#[derive(Sequence)]
struct DssParms<'a> {
    p: UintRef<'a>,
    q: UintRef<'a>,
    g: UintRef<'a>,
}

#[derive(Sequence)]
struct DssSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// DSA domain parameters, as big-endian unsigned integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DsaParams {
    p: Vec<u8>,
    q: Vec<u8>,
    g: Vec<u8>,
}

/// A DSA public key with its (possibly inherited) domain parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DsaPublicKey {
    params: DsaParams,
    y: Vec<u8>,
}

impl DsaPublicKey {
    /// Reads a DSA key from `spki`; when the SPKI has no parameters, `inherited` (the issuer's)
    /// are used. Errors are short descriptions for a verdict.
    pub(crate) fn from_spki(
        spki: &SubjectPublicKeyInfoOwned,
        inherited: Option<&DsaParams>,
    ) -> Result<Self, String> {
        if spki.algorithm.oid != ID_DSA {
            return Err(format!("{} is not a DSA key", spki.algorithm.oid));
        }
        let params = match &spki.algorithm.parameters {
            Some(any) if any.tag() != der::Tag::Null => {
                let parms: DssParms<'_> = any
                    .decode_as()
                    .map_err(|e| format!("bad DSA parameters: {e}"))?;
                DsaParams {
                    p: parms.p.as_bytes().to_vec(),
                    q: parms.q.as_bytes().to_vec(),
                    g: parms.g.as_bytes().to_vec(),
                }
            }
            _ => inherited
                .cloned()
                .ok_or("a DSA key without parameters, and none to inherit from its issuer")?,
        };
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the DSA public key is not a whole number of bytes")?;
        let y = UintRef::from_der(key_bytes).map_err(|e| format!("bad DSA public key: {e}"))?;
        let key = DsaPublicKey {
            params,
            y: y.as_bytes().to_vec(),
        };
        let p_bits = key.p_bits();
        if !(512..=MAX_P_BITS).contains(&p_bits) || key.params.q.len() > 32 {
            return Err(format!("DSA-{p_bits} keys are not accepted"));
        }
        Ok(key)
    }

    /// The domain parameters, for certificates below this one that inherit them.
    pub(crate) fn params(&self) -> &DsaParams {
        &self.params
    }

    /// Size of the modulus p in bits.
    pub(crate) fn p_bits(&self) -> u32 {
        bit_len(&self.params.p)
    }

    /// Verifies a DER `Dss-Sig-Value` over `message` hashed with `digest`.
    pub(crate) fn verify(&self, digest: DigestAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = DssSigValue::from_der(signature) else {
            return false;
        };
        self.verify_rs(&digest.digest(message), sig.r.as_bytes(), sig.s.as_bytes())
            .unwrap_or(false)
    }

    fn verify_rs(&self, hash: &[u8], r: &[u8], s: &[u8]) -> Option<bool> {
        // One precision for every number (the longest input, rounded up by the library to
        // whole limbs); products are reduced before they could exceed it.
        let longest = [&self.params.p, &self.params.q, &self.params.g, &self.y]
            .iter()
            .map(|v| v.len())
            .chain([hash.len(), r.len(), s.len()])
            .max()
            .unwrap_or(0);
        let bits = u32::try_from(longest * 8).ok()?;
        let num = |b: &[u8]| BoxedUint::from_be_slice(b, bits).ok();
        let p = Option::<Odd<BoxedUint>>::from(Odd::new(num(&self.params.p)?))?;
        let p_nz = Option::<NonZero<BoxedUint>>::from(NonZero::new(num(&self.params.p)?))?;
        let q = num(&self.params.q)?;
        let q_nz = Option::<NonZero<BoxedUint>>::from(NonZero::new(q.clone()))?;
        let g = num(&self.params.g)?;
        let y = num(&self.y)?;
        let r = num(r)?;
        let s = num(s)?;
        let zero = BoxedUint::zero_with_precision(r.bits_precision());
        // 0 < r < q and 0 < s < q (FIPS 186-4 §4.7).
        if r == zero || s == zero || r >= q || s >= q || g >= *p_nz || y >= *p_nz {
            return Some(false);
        }
        // z: the leftmost min(N, outlen) bits of the hash, N the bit length of q.
        let n = bit_len(&self.params.q) as usize;
        let z = if hash.len() * 8 > n {
            let take = n.div_ceil(8);
            let mut z = num(&hash[..take])?;
            let extra = (take * 8 - n) as u32;
            if extra > 0 {
                z = z.shr(extra);
            }
            z
        } else {
            num(hash)?
        };
        let w = Option::<BoxedUint>::from(s.invert_mod(&q_nz))?;
        let u1 = z.rem(&q_nz).mul_mod(&w, &q_nz);
        let u2 = r.mul_mod(&w, &q_nz);
        let v1 = g.pow_mod(&u1, &p);
        let v2 = y.pow_mod(&u2, &p);
        let v = v1.mul_mod(&v2, &p_nz).rem(&q_nz);
        Some(v == r)
    }
}

fn bit_len(b: &[u8]) -> u32 {
    match b.iter().position(|x| *x != 0) {
        Some(i) => (b.len() - i) as u32 * 8 - b[i].leading_zeros(),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[0, 1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
    }

    /// A toy key (p = 23, q = 11, g = 4, x = 3, y = 4^3 mod 23 = 18) and a signature made by
    /// hand with k = 5 over a hash whose leftmost 4 bits are 7: r = (4^5 mod 23) mod 11 = 12 mod 11 = 1,
    /// s = k^-1 (z + x r) mod 11 = 9 * 10 mod 11 = 2.
    #[test]
    fn toy_signature_verifies_and_a_changed_one_does_not() {
        let key = DsaPublicKey {
            params: DsaParams {
                p: vec![23],
                q: vec![11],
                g: vec![4],
            },
            y: vec![18],
        };
        // q has 4 bits, so only the leftmost 4 bits of the hash count: 0x70 gives z = 7.
        assert_eq!(key.verify_rs(&[0x70], &[1], &[2]), Some(true));
        assert_eq!(key.verify_rs(&[0x7f], &[1], &[2]), Some(true));
        assert_eq!(key.verify_rs(&[0x70], &[1], &[3]), Some(false));
        // z = 9 (z = 8 happens to verify too in a group this small).
        assert_eq!(key.verify_rs(&[0x90], &[1], &[2]), Some(false));
        assert_eq!(key.verify_rs(&[0x70], &[0], &[2]), Some(false));
        assert_eq!(key.verify_rs(&[0x70], &[11], &[2]), Some(false));
    }
}
