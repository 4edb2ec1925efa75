//! BER to DER normalisation of CMS input, for every CMS reader of the crate: indefinite
//! lengths become definite, constructed strings (the chunked OCTET STRINGs that streaming
//! encoders such as `openssl cms -stream` and the RFC 4134 examples write) become primitive,
//! lengths become minimal and BOOLEAN TRUE becomes 0xFF. EnvelopedData's `[0] IMPLICIT`
//! encryptedContent can be flattened too, on request (`to_der_implicit_strings`), since only
//! the caller knows that a `[0]` is an implicitly tagged string. The order of SET OF elements is kept as received, so that signed attributes
//! are verified over the bytes the signer produced (as OpenSSL does). Well-formed DER comes
//! out byte for byte as it went in.
//!
//! # Limits
//!
//! Input is hostile (any received mail reaches this code), so a first pass walks the element
//! headers without allocating and refuses input with more than [`element_limit`] elements
//! (one per [`BYTES_PER_ELEMENT`] bytes of input, at most [`MAX_ELEMENTS`]) before anything is
//! built: [`Error::TooManyElements`](crate::Error::TooManyElements), `PKI-092`. The same pass
//! finds out whether the input is DER already; then it is copied, and no tree is built at all.
//! Only BER input is parsed into a tree, whose nodes (48 bytes each, plus their children's
//! vectors) are bounded by the element limit, so that normalising costs at most a small
//! multiple of the input in memory (about 12 times for the densest input allowed, never more
//! than about 100 MiB).

use der::{ErrorKind, Length};

/// Deepest nesting accepted (CMS SignedData with certificates needs about 12).
const MAX_DEPTH: usize = 40;

/// Most elements accepted in one input, whatever its size: room for 512 MiB of content in
/// 1 KiB chunks (what streaming encoders write), and about 100 MiB of tree at most.
pub const MAX_ELEMENTS: usize = 1 << 20;

/// Input bytes per element allowed: certificates have an element per 10 to 15 bytes, CRL
/// entries one per 5 to 8, encrypted content one per chunk. Hostile input packs one per 2
/// bytes (NULLs).
pub const BYTES_PER_ELEMENT: usize = 8;

/// Elements allowed whatever the size, for small messages.
const MIN_ELEMENTS: usize = 4096;

/// The most elements accepted in an input of `input_len` bytes.
pub fn element_limit(input_len: usize) -> usize {
    (input_len / BYTES_PER_ELEMENT + MIN_ELEMENTS).min(MAX_ELEMENTS)
}

/// Why normalisation failed: malformed input, or more elements than [`element_limit`].
#[derive(Debug)]
pub(crate) enum BerError {
    /// The input is not valid BER.
    Der(der::Error),
    /// The input has more elements than its size allows (found by the counting pass).
    TooManyElements {
        /// Size of the input.
        size: usize,
        /// The limit for that size.
        limit: usize,
    },
}

impl From<der::Error> for BerError {
    fn from(e: der::Error) -> Self {
        BerError::Der(e)
    }
}

impl crate::error::DerFailure for BerError {
    fn about(self, what: &'static str) -> crate::Error {
        match self {
            BerError::Der(source) => crate::Error::Der { what, source },
            BerError::TooManyElements { size, limit } => {
                crate::Error::TooManyElements { what, size, limit }
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Nodes built by the tree pass in this thread, for the tests that show the element
    /// limit fires before any.
    static NODES_BUILT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Universal tag numbers of the string types that BER allows in constructed form.
const STRING_TAGS: &[u8] = &[3, 4, 7, 12, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30];

/// One parsed element.
enum Node<'a> {
    /// A primitive element: tag bytes and content.
    Prim { tag: Tag<'a>, content: Content<'a> },
    /// A constructed element: tag bytes, children, and the DER length of their encodings.
    Cons {
        tag: &'a [u8],
        children: Vec<Node<'a>>,
        len: usize,
    },
}

/// Tag bytes of a primitive element: borrowed from the input, or a single byte when a
/// constructed string was flattened.
enum Tag<'a> {
    Borrowed(&'a [u8]),
    Byte(u8),
}

enum Content<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Content<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Content::Borrowed(b) => b,
            Content::Owned(v) => v,
        }
    }
}

impl Node<'_> {
    fn tag_len(&self) -> usize {
        match self {
            Node::Prim {
                tag: Tag::Borrowed(t),
                ..
            } => t.len(),
            Node::Prim {
                tag: Tag::Byte(_), ..
            } => 1,
            Node::Cons { tag, .. } => tag.len(),
        }
    }

    fn content_len(&self) -> usize {
        match self {
            Node::Prim { content, .. } => content.bytes().len(),
            Node::Cons { len, .. } => *len,
        }
    }

    fn encoded_len(&self) -> usize {
        let n = self.content_len();
        self.tag_len() + length_of_length(n) + n
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Prim { tag, content } => {
                match tag {
                    Tag::Borrowed(t) => out.extend_from_slice(t),
                    Tag::Byte(b) => out.push(*b),
                }
                write_length(out, content.bytes().len());
                out.extend_from_slice(content.bytes());
            }
            Node::Cons { tag, children, len } => {
                out.extend_from_slice(tag);
                write_length(out, *len);
                for c in children {
                    c.write(out);
                }
            }
        }
    }
}

fn length_of_length(n: usize) -> usize {
    if n < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - n.leading_zeros() as usize / 8)
    }
}

fn write_length(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = n.leading_zeros() as usize / 8;
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn err(kind: ErrorKind, pos: usize) -> der::Error {
    der::Error::new(kind, Length::try_from(pos).unwrap_or(Length::MAX))
}

fn incomplete(pos: usize, wanted: usize, have: usize) -> der::Error {
    let l = |n: usize| Length::try_from(n).unwrap_or(Length::MAX);
    err(
        ErrorKind::Incomplete {
            expected_len: l(wanted),
            actual_len: l(have),
        },
        pos,
    )
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Treat a constructed `[0]` made only of OCTET STRINGs as a chunked `[0] IMPLICIT
    /// OCTET STRING` and flatten it (EnvelopedData's encryptedContent).
    implicit_strings: bool,
}

/// A length: definite (a number of bytes) or indefinite (ended by an end-of-contents marker).
enum Len {
    Definite(usize),
    Indefinite,
}

impl<'a> Parser<'a> {
    fn byte(&mut self) -> der::Result<u8> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or_else(|| incomplete(self.pos, self.pos + 1, self.input.len()))?;
        self.pos += 1;
        Ok(b)
    }

    fn tag(&mut self) -> der::Result<&'a [u8]> {
        let start = self.pos;
        let first = self.byte()?;
        if first & 0x1f == 0x1f {
            // High tag number form: base-128 digits, the last without its top bit.
            loop {
                let b = self.byte()?;
                if self.pos - start > 5 {
                    return Err(err(ErrorKind::TagNumberInvalid, start));
                }
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok(&self.input[start..self.pos])
    }

    fn length(&mut self) -> der::Result<Len> {
        let start = self.pos;
        let first = self.byte()?;
        match first {
            0..=0x7f => Ok(Len::Definite(first as usize)),
            0x80 => Ok(Len::Indefinite),
            0xff => Err(err(ErrorKind::Overlength, start)),
            _ => {
                let n = (first & 0x7f) as usize;
                if n > 4 {
                    return Err(err(ErrorKind::Overlength, start));
                }
                let mut len = 0usize;
                for _ in 0..n {
                    len = (len << 8) | self.byte()? as usize;
                }
                Ok(Len::Definite(len))
            }
        }
    }

    /// True when the next two bytes are an end-of-contents marker.
    fn at_eoc(&self) -> bool {
        self.input.get(self.pos..self.pos + 2) == Some(&[0, 0][..])
    }

    /// The counting pass: walks one element and its children without allocating, counting
    /// elements against `budget` (`None` once it is exhausted) and clearing `canonical` when
    /// anything is not DER already (so that the tree pass is needed). Returns the element's
    /// first tag byte, and whether it is a primitive OCTET STRING (for `implicit_strings`).
    fn scan(
        &mut self,
        depth: usize,
        budget: &mut usize,
        canonical: &mut bool,
    ) -> Result<(u8, bool), BerError> {
        if depth > MAX_DEPTH {
            return Err(err(ErrorKind::NestingDepth, self.pos).into());
        }
        *budget = budget.checked_sub(1).ok_or(BerError::TooManyElements {
            size: self.input.len(),
            limit: 0,
        })?;
        let start = self.pos;
        let tag = self.tag()?;
        let constructed = tag[0] & 0x20 != 0;
        let len_start = self.pos;
        let len = self.length()?;
        if let Len::Definite(n) = len
            && self.pos - len_start != length_of_length(n)
        {
            *canonical = false;
        }
        if !constructed {
            let Len::Definite(n) = len else {
                return Err(err(ErrorKind::IndefiniteLength, start).into());
            };
            let end = self.end_of(n)?;
            if tag == [0x01] && n == 1 && !matches!(self.input[self.pos], 0 | 0xff) {
                *canonical = false;
            }
            self.pos = end;
            return Ok((tag[0], tag == [0x04]));
        }
        let mut children = 0usize;
        let mut all_octets = true;
        let mut child = |p: &mut Self, budget: &mut usize, canonical: &mut bool| {
            let (_, octets) = p.scan(depth + 1, budget, canonical)?;
            children += 1;
            all_octets &= octets;
            Ok::<(), BerError>(())
        };
        match len {
            Len::Definite(n) => {
                let end = self.end_of(n)?;
                while self.pos < end {
                    child(self, budget, canonical)?;
                }
                if self.pos != end {
                    return Err(err(
                        ErrorKind::Length {
                            tag: der::Tag::Null,
                        },
                        start,
                    )
                    .into());
                }
            }
            Len::Indefinite => {
                *canonical = false;
                loop {
                    if self.at_eoc() {
                        self.pos += 2;
                        break;
                    }
                    if self.pos >= self.input.len() {
                        return Err(incomplete(self.pos, self.pos + 2, self.input.len()).into());
                    }
                    child(self, budget, canonical)?;
                }
            }
        }
        let number = tag[0] & 0x1f;
        if tag.len() == 1 && tag[0] & 0xc0 == 0 && STRING_TAGS.contains(&number) {
            *canonical = false;
        }
        if self.implicit_strings && tag == [0xa0] && children > 0 && all_octets {
            *canonical = false;
        }
        Ok((tag[0], false))
    }

    fn element(&mut self, depth: usize) -> der::Result<Node<'a>> {
        if depth > MAX_DEPTH {
            return Err(err(ErrorKind::NestingDepth, self.pos));
        }
        #[cfg(test)]
        NODES_BUILT.with(|n| n.set(n.get() + 1));
        let start = self.pos;
        let tag = self.tag()?;
        let constructed = tag[0] & 0x20 != 0;
        let len = self.length()?;
        if !constructed {
            let Len::Definite(n) = len else {
                return Err(err(ErrorKind::IndefiniteLength, start));
            };
            let end = self.end_of(n)?;
            let mut content = Content::Borrowed(&self.input[self.pos..end]);
            // BOOLEAN: DER wants TRUE as 0xFF.
            if tag == [0x01] && content.bytes().len() == 1 && content.bytes()[0] != 0 {
                content = Content::Owned(vec![0xff]);
            }
            self.pos = end;
            return Ok(Node::Prim {
                tag: Tag::Borrowed(tag),
                content,
            });
        }
        let mut children = Vec::new();
        match len {
            Len::Definite(n) => {
                let end = self.end_of(n)?;
                while self.pos < end {
                    children.push(self.element(depth + 1)?);
                }
                if self.pos != end {
                    return Err(err(
                        ErrorKind::Length {
                            tag: der::Tag::Null,
                        },
                        start,
                    ));
                }
            }
            Len::Indefinite => loop {
                if self.at_eoc() {
                    self.pos += 2;
                    break;
                }
                if self.pos >= self.input.len() {
                    return Err(incomplete(self.pos, self.pos + 2, self.input.len()));
                }
                children.push(self.element(depth + 1)?);
            },
        }
        // A constructed string (universal class): concatenate its segments.
        let number = tag[0] & 0x1f;
        if tag.len() == 1 && tag[0] & 0xc0 == 0 && STRING_TAGS.contains(&number) {
            let content = flatten(number, &children, start)?;
            return Ok(Node::Prim {
                tag: Tag::Byte(number),
                content: Content::Owned(content),
            });
        }
        // `[0] IMPLICIT OCTET STRING` in chunks, when the caller says `[0]` is one.
        if self.implicit_strings
            && tag == [0xa0]
            && !children.is_empty()
            && children.iter().all(|c| {
                matches!(
                    c,
                    Node::Prim {
                        tag: Tag::Borrowed([0x04]) | Tag::Byte(0x04),
                        ..
                    }
                )
            })
        {
            let content = flatten(4, &children, start)?;
            return Ok(Node::Prim {
                tag: Tag::Byte(0x80),
                content: Content::Owned(content),
            });
        }
        let len = children.iter().map(Node::encoded_len).sum();
        Ok(Node::Cons { tag, children, len })
    }

    fn end_of(&self, n: usize) -> der::Result<usize> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| err(ErrorKind::Overflow, self.pos))?;
        if end > self.input.len() {
            return Err(incomplete(self.pos, end, self.input.len()));
        }
        Ok(end)
    }
}

/// The content of a constructed string of universal type `number`: its segments (which must be
/// of the same type, themselves flattened already) concatenated. For BIT STRING each segment
/// starts with its unused-bits count; only the last may be non-zero.
fn flatten(number: u8, children: &[Node<'_>], pos: usize) -> der::Result<Vec<u8>> {
    let mut out = Vec::new();
    if number == 3 {
        out.push(0);
    }
    for (i, child) in children.iter().enumerate() {
        let Node::Prim { tag, content } = child else {
            return Err(err(
                ErrorKind::Value {
                    tag: der::Tag::Null,
                },
                pos,
            ));
        };
        let tag_byte = match tag {
            Tag::Borrowed(t) if t.len() == 1 => t[0],
            Tag::Byte(b) => *b,
            Tag::Borrowed(_) => 0xff,
        };
        if tag_byte != number {
            return Err(err(
                ErrorKind::Value {
                    tag: der::Tag::Null,
                },
                pos,
            ));
        }
        let bytes = content.bytes();
        if number == 3 {
            let (&unused, data) = bytes.split_first().ok_or_else(|| {
                err(
                    ErrorKind::Value {
                        tag: der::Tag::Null,
                    },
                    pos,
                )
            })?;
            if unused != 0 && i + 1 != children.len() {
                return Err(err(
                    ErrorKind::Value {
                        tag: der::Tag::Null,
                    },
                    pos,
                ));
            }
            out[0] = unused;
            out.extend_from_slice(data);
        } else {
            out.extend_from_slice(bytes);
        }
    }
    Ok(out)
}

/// The der crate's tag for an identifier octet (single-byte tags only).
pub(crate) fn tag_of(byte: u8) -> der::Tag {
    use der::Decode;
    der::Tag::from_der(&[byte]).unwrap_or(der::Tag::Null)
}

/// Re-encodes one BER element (the whole of `input`) as DER, keeping SET OF order. Refuses
/// input with more than [`element_limit`] elements before building anything.
pub(crate) fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    convert(input, false)
}

/// As [`to_der`], and also flattens a constructed `[0]` made only of OCTET STRINGs into a
/// primitive `[0]`: the chunked `[0] IMPLICIT OCTET STRING` encryptedContent of EnvelopedData.
/// (Not for SignedData, whose `[0]` is EXPLICIT.)
pub(crate) fn to_der_implicit_strings(input: &[u8]) -> Result<Vec<u8>, BerError> {
    convert(input, true)
}

fn trailing(input: &[u8], pos: usize) -> der::Error {
    let l = |n: usize| Length::try_from(n).unwrap_or(Length::MAX);
    err(
        ErrorKind::TrailingData {
            decoded: l(pos),
            remaining: l(input.len() - pos),
        },
        pos,
    )
}

fn convert(input: &[u8], implicit_strings: bool) -> Result<Vec<u8>, BerError> {
    let mut p = Parser {
        input,
        pos: 0,
        implicit_strings,
    };
    // Pass 1: count (and refuse) before building anything; find out whether it is DER.
    let limit = element_limit(input.len());
    let mut budget = limit;
    let mut canonical = true;
    p.scan(0, &mut budget, &mut canonical)
        .map_err(|e| match e {
            BerError::TooManyElements { size, .. } => BerError::TooManyElements { size, limit },
            e => e,
        })?;
    if p.pos != input.len() {
        return Err(trailing(input, p.pos).into());
    }
    if canonical {
        return Ok(input.to_vec());
    }
    // Pass 2: BER, at most `limit` elements.
    p.pos = 0;
    let node = p.element(0)?;
    if p.pos != input.len() {
        return Err(trailing(input, p.pos).into());
    }
    let mut out = Vec::with_capacity(node.encoded_len());
    node.write(&mut out);
    Ok(out)
}

/// One element of DER (definite lengths only): its first tag byte, its whole encoding and its
/// content. Used to walk normalised CMS without decoding into owned types.
#[derive(Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The first identifier octet.
    pub tag: u8,
    /// The whole element: identifier, length and content octets.
    pub full: &'a [u8],
    /// The content octets.
    pub content: &'a [u8],
}

/// Splits the first DER element off `input`; returns it and the rest.
pub(crate) fn next_tlv(input: &[u8]) -> der::Result<(Tlv<'_>, &[u8])> {
    let mut p = Parser {
        input,
        pos: 0,
        implicit_strings: false,
    };
    let tag = p.tag()?;
    let Len::Definite(n) = p.length()? else {
        return Err(err(ErrorKind::IndefiniteLength, 0));
    };
    let start = p.pos;
    let end = p.end_of(n)?;
    Ok((
        Tlv {
            tag: tag[0],
            full: &input[..end],
            content: &input[start..end],
        },
        &input[end..],
    ))
}

/// Every element of a DER sequence of elements (the content of a SEQUENCE or SET).
pub(crate) fn children(mut content: &[u8]) -> der::Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tlv, rest) = next_tlv(content)?;
        out.push(tlv);
        content = rest;
    }
    Ok(out)
}

/// The contentType OID at the start of a ContentInfo (DER or BER), without reading the rest.
pub(crate) fn outer_content_type(input: &[u8]) -> der::Result<der::asn1::ObjectIdentifier> {
    use der::Decode;
    let mut p = Parser {
        input,
        pos: 0,
        implicit_strings: false,
    };
    let tag = p.tag()?;
    if tag != [0x30] {
        return Err(err(
            ErrorKind::TagUnexpected {
                expected: Some(der::Tag::Sequence),
                actual: tag_of(tag[0]),
            },
            0,
        ));
    }
    p.length()?;
    let (oid, _) = next_tlv(&input[p.pos..])?;
    der::asn1::ObjectIdentifier::from_der(oid.full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn der_passes_through_unchanged() {
        let der = h("30 0a 06 03 2a 03 04 04 03 61 62 63");
        assert_eq!(to_der(&der).unwrap(), der);
        // A SET whose elements are out of DER order keeps its order.
        let set = h("31 06 02 01 05 02 01 01");
        assert_eq!(to_der(&set).unwrap(), set);
    }

    #[test]
    fn indefinite_lengths_and_chunked_strings_are_normalised() {
        // SEQUENCE (indef) { [0] (indef) { OCTET STRING (constructed, indef) { "ab", "c" } } }
        let ber = h("30 80 a0 80 24 80 04 02 61 62 04 01 63 00 00 00 00 00 00");
        assert_eq!(to_der(&ber).unwrap(), h("30 07 a0 05 04 03 61 62 63"));
        // Long-form length for a short value; BOOLEAN TRUE as 0x01.
        assert_eq!(to_der(&h("04 81 01 41")).unwrap(), h("04 01 41"));
        assert_eq!(to_der(&h("01 01 01")).unwrap(), h("01 01 ff"));
        // Constructed BIT STRING.
        let bits = h("23 80 03 02 00 aa 03 02 04 b0 00 00");
        assert_eq!(to_der(&bits).unwrap(), h("03 03 04 aa b0"));
    }

    #[test]
    fn long_content_gets_a_long_form_length() {
        let mut ber = h("24 80 04 81 c8");
        ber.extend(std::iter::repeat_n(7u8, 200));
        ber.extend(h("04 01 07 00 00"));
        let der = to_der(&ber).unwrap();
        assert_eq!(&der[..3], &h("04 81 c9")[..]);
        assert_eq!(der.len(), 3 + 201);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "30",
            "30 05 02 01",
            "30 80 02 01 01",
            "04 80 00 00",
            "30 85 01 00 00 00 00",
            "30 03 02 01 01 00",
            "24 80 02 01 01 00 00",
            "1f ff ff ff ff ff 7f 00",
        ] {
            assert!(to_der(&h(bad)).is_err(), "{bad}");
        }
        // Deep nesting is refused.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend([0x30, 0x80]);
        }
        for _ in 0..100 {
            deep.extend([0, 0]);
        }
        match to_der(&deep) {
            Err(BerError::Der(e)) => assert_eq!(e.kind(), ErrorKind::NestingDepth),
            other => panic!("expected a nesting error, got {other:?}"),
        }
    }

    /// `30 84 LL LL LL LL` and `len` bytes of 2-byte NULLs.
    fn nulls(len: usize) -> Vec<u8> {
        let mut v = vec![0x30, 0x84];
        v.extend((len as u32).to_be_bytes());
        v.extend(std::iter::repeat_n([5u8, 0], len / 2).flatten());
        v
    }

    #[test]
    fn the_element_limit_fires_before_any_node_is_built() {
        for len in [64 * 1024, 8 * 1024 * 1024] {
            let input = nulls(len);
            NODES_BUILT.with(|n| n.set(0));
            match to_der(&input) {
                Err(BerError::TooManyElements { size, limit }) => {
                    assert_eq!(size, input.len());
                    assert_eq!(limit, element_limit(input.len()));
                    assert!(limit < len / 2);
                }
                other => panic!("expected the element limit, got {other:?}"),
            }
            assert_eq!(NODES_BUILT.with(|n| n.get()), 0, "{len}");
        }
        // The hard cap, whatever the size.
        assert_eq!(element_limit(usize::MAX / 2), MAX_ELEMENTS);
        // Indefinite lengths (which need the tree) are counted the same way.
        let mut ber = vec![0x30, 0x80];
        ber.extend(std::iter::repeat_n([5u8, 0], 8192).flatten());
        ber.extend([0, 0]);
        NODES_BUILT.with(|n| n.set(0));
        assert!(matches!(
            to_der(&ber),
            Err(BerError::TooManyElements { .. })
        ));
        assert_eq!(NODES_BUILT.with(|n| n.get()), 0);
    }

    #[test]
    fn der_input_builds_no_tree_and_ber_input_within_the_limit_does() {
        let mut der = vec![0x30, 0x82, 0x07, 0xd0];
        der.extend(std::iter::repeat_n([5u8, 0], 1000).flatten());
        NODES_BUILT.with(|n| n.set(0));
        assert_eq!(to_der(&der).unwrap(), der);
        assert_eq!(
            NODES_BUILT.with(|n| n.get()),
            0,
            "DER is copied, not rebuilt"
        );
        // The same with a 4-byte length is not DER: rebuilt with a minimal one.
        NODES_BUILT.with(|n| n.set(0));
        assert_eq!(to_der(&nulls(2000)).unwrap(), der);
        assert_eq!(NODES_BUILT.with(|n| n.get()), 1001);
        let mut ber = vec![0x30, 0x80];
        ber.extend(std::iter::repeat_n([5u8, 0], 1000).flatten());
        ber.extend([0, 0]);
        NODES_BUILT.with(|n| n.set(0));
        let out = to_der(&ber).unwrap();
        assert_eq!(&out[..4], &[0x30, 0x82, 0x07, 0xd0]);
        assert_eq!(NODES_BUILT.with(|n| n.get()), 1001);
    }
}
