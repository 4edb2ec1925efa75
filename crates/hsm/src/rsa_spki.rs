//! The SubjectPublicKeyInfo DER of an RSA public key read from a token as its two attributes
//! (`CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`), for [`pki::PublicKey::from_spki_der`].

/// `rsaEncryption` AlgorithmIdentifier with NULL parameters, DER.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER from big-endian unsigned bytes.
fn uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let digits = &be[skip..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(0x02, &content)
}

/// SubjectPublicKeyInfo DER for the RSA key (`modulus`, `exponent`), big-endian bytes.
pub(crate) fn spki_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut key = uint(modulus);
    key.extend(uint(exponent));
    let rsa_public_key = tlv(0x30, &key);
    let mut bits = vec![0u8]; // no unused bits
    bits.extend(rsa_public_key);
    let mut body = RSA_ALGORITHM.to_vec();
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_CERT: &str = include_str!("../../../keys/alice-sign.key.pem");

    #[test]
    fn encodes_what_pki_reads_back_as_the_same_key() {
        let key = pki::PrivateKey::from_pem_or_der(ALICE_CERT.as_bytes()).unwrap();
        let der = key.public_key().to_spki_der().unwrap();
        // Pull n and e back out of the reference encoding: the last two INTEGERs.
        let spki = key.public_key().to_spki().unwrap();
        let inner = spki.subject_public_key.raw_bytes();
        // inner = SEQUENCE { INTEGER n, INTEGER e }; parse the two TLVs by hand.
        let (n, rest) = read_int(&inner[header_len(inner)..]);
        let (e, _) = read_int(rest);
        assert_eq!(spki_der(n, e), der);
        // Leading zero bytes in the token's attribute are not part of the number.
        let mut padded = vec![0, 0];
        padded.extend_from_slice(n);
        assert_eq!(spki_der(&padded, e), der);
    }

    fn header_len(tlv: &[u8]) -> usize {
        if tlv[1] < 0x80 {
            2
        } else {
            2 + (tlv[1] & 0x7f) as usize
        }
    }

    fn read_int(tlv: &[u8]) -> (&[u8], &[u8]) {
        let h = header_len(tlv);
        let len = if tlv[1] < 0x80 {
            tlv[1] as usize
        } else {
            tlv[2..h].iter().fold(0usize, |a, b| a << 8 | *b as usize)
        };
        (&tlv[h..h + len], &tlv[h + len..])
    }
}
