//! S/MIME framing of mail messages (RFC 8551, RFC 1847): header fields kept as raw bytes,
//! the canonical CRLF form, splitting a message into its outer headers and the inner entity
//! that is signed or encrypted, building and parsing `multipart/signed` and
//! `application/pkcs7-mime`, and telling what kind of message an `.eml` is. No CMS here: the
//! DER goes to [`crate::signed`] (or the enveloped-data module) and comes back.

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use crate::algorithms::DigestAlgorithm;
use crate::encoding::check_size;
use crate::error::{Error, Result};
use crate::signed::{MAX_SIGNED_DATA_SIZE, cms_content_type};

/// Largest message accepted, in bytes: the base64 of the largest CMS message, with room for
/// headers and line ends.
pub const MAX_MESSAGE_SIZE: usize = MAX_SIGNED_DATA_SIZE / 3 * 4 * 78 / 76 + 1024 * 1024;
/// Largest header section accepted, in bytes.
pub const MAX_HEADER_SIZE: usize = 1024 * 1024;
/// Most header fields accepted in one header section.
pub const MAX_HEADER_FIELDS: usize = 10_000;

/// Longest multipart boundary read.
const MAX_BOUNDARY: usize = 200;
/// Length of the base64 lines we write (RFC 2045 §6.8 allows at most 76).
const BASE64_LINE: usize = 76;

/// One header field exactly as it appeared: name, colon, value, folded continuation lines and
/// the final line end, byte for byte.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderField {
    raw: Vec<u8>,
    name_len: usize,
}

impl core::fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("HeaderField")
            .field(&String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

impl HeaderField {
    /// A new field `name: value` ending in CRLF. The name must be printable ASCII without a
    /// colon; the value must not contain CR or LF (fold it yourself with [`Self::from_raw`]).
    pub fn new(name: &str, value: &str) -> Result<Self> {
        if name.is_empty() || !name.bytes().all(is_name_byte) {
            return Err(Error::Invalid {
                what: "header field name",
                why: format!("\"{name}\" is not printable ASCII without a colon"),
            });
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(Error::Invalid {
                what: "header field value",
                why: "it contains a line break".into(),
            });
        }
        Ok(Self {
            raw: format!("{name}: {value}\r\n").into_bytes(),
            name_len: name.len(),
        })
    }

    /// A field from its raw bytes (one field, possibly folded, with its final line end).
    pub fn from_raw(raw: &[u8]) -> Result<Self> {
        let entity = Entity::parse(raw)?;
        match (entity.headers.as_slice(), entity.body.is_empty()) {
            ([one], true) if one.raw == raw => Ok(one.clone()),
            _ => Err(Error::Mime(
                "the bytes are not exactly one header field with its line end".into(),
            )),
        }
    }

    /// The field name as written.
    pub fn name(&self) -> &str {
        // The name was checked to be printable ASCII when the field was read.
        core::str::from_utf8(&self.raw[..self.name_len])
            .unwrap_or_default()
            .trim_end()
    }

    /// True when the field's name is `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name)
    }

    /// The value: unfolded (line ends before continuation lines removed), trimmed, and
    /// decoded as UTF-8 with replacement characters for anything else. Encoded words
    /// (RFC 2047) are left as written.
    pub fn value(&self) -> String {
        let v = &self.raw[self.name_len + 1..];
        let unfolded: Vec<u8> = v
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        String::from_utf8_lossy(&unfolded).trim().to_string()
    }

    /// The whole field as it appeared, including its line end.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// True for the fields that describe the content (`Content-*`): these move into the inner
    /// entity when a message is signed or encrypted.
    pub fn is_content_field(&self) -> bool {
        let n = self.name().as_bytes();
        n.len() > 8 && n[..8].eq_ignore_ascii_case(b"content-")
    }
}

fn is_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// A MIME entity: header fields in order, and the body after the empty line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// The header fields, in order, as raw bytes.
    pub headers: Vec<HeaderField>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

/// One line of input, with its line end (LF or CRLF) if it has one.
fn lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = input;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// A line without its line end.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Entity {
    /// Reads an entity: header fields up to the first empty line, then the body. A message
    /// that starts with an empty line has no header fields; one without an empty line has no
    /// body.
    pub fn parse(input: &[u8]) -> Result<Entity> {
        check_size("MIME message", input, MAX_MESSAGE_SIZE)?;
        let mut headers: Vec<HeaderField> = Vec::new();
        let mut pos = 0;
        let mut body_start = input.len();
        for (n, line) in lines(input).enumerate() {
            if trim_eol(line).is_empty() {
                body_start = pos + line.len();
                break;
            }
            if pos + line.len() > MAX_HEADER_SIZE {
                return Err(Error::TooLarge {
                    what: "MIME header section",
                    size: pos + line.len(),
                    limit: MAX_HEADER_SIZE,
                });
            }
            if line[0] == b' ' || line[0] == b'\t' {
                let Some(last) = headers.last_mut() else {
                    return Err(Error::Mime(
                        "the header section starts with a continuation line".into(),
                    ));
                };
                last.raw.extend_from_slice(line);
            } else {
                let name_len = line.iter().position(|b| *b == b':').ok_or_else(|| {
                    Error::Mime(format!(
                        "header line {} is not a field (no colon): \"{}\"",
                        n + 1,
                        String::from_utf8_lossy(&trim_eol(line)[..trim_eol(line).len().min(60)])
                    ))
                })?;
                let name = line[..name_len].trim_ascii_end();
                if name.is_empty() || !name.iter().all(|b| is_name_byte(*b)) {
                    return Err(Error::Mime(format!(
                        "header line {} has an invalid field name",
                        n + 1
                    )));
                }
                if headers.len() == MAX_HEADER_FIELDS {
                    return Err(Error::Mime(format!(
                        "more than {MAX_HEADER_FIELDS} header fields"
                    )));
                }
                headers.push(HeaderField {
                    raw: line.to_vec(),
                    name_len,
                });
            }
            pos += line.len();
        }
        Ok(Entity {
            headers,
            body: input[body_start..].to_vec(),
        })
    }

    /// The first field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&HeaderField> {
        self.headers.iter().find(|h| h.is(name))
    }

    /// The parsed Content-Type, or `text/plain` when there is none (RFC 2045 §5.2).
    pub fn content_type(&self) -> Result<ContentType> {
        match self.header("Content-Type") {
            Some(h) => ContentType::parse(&h.value()),
            None => Ok(ContentType {
                mime_type: "text/plain".into(),
                params: Vec::new(),
            }),
        }
    }

    /// The body with its Content-Transfer-Encoding undone (base64 decoded; 7bit, 8bit and
    /// binary as they are). `part` names the body in errors.
    pub fn decoded_body(&self, part: &'static str) -> Result<Vec<u8>> {
        let cte = self
            .header("Content-Transfer-Encoding")
            .map(|h| h.value().to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".into());
        match cte.as_str() {
            "base64" => decode_base64(part, &self.body),
            "7bit" | "8bit" | "binary" => Ok(self.body.clone()),
            other => Err(Error::Mime(format!(
                "the {part} uses Content-Transfer-Encoding \"{other}\" (expected base64 or binary)"
            ))),
        }
    }

    /// Header fields and body, as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 1024);
        for h in &self.headers {
            out.extend_from_slice(&h.raw);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// A parsed Content-Type: lower-case `type/subtype` and parameters (names lower-case, values
/// unquoted), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lower case.
    pub mime_type: String,
    /// Parameters as (lower-case name, value).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a Content-Type value (RFC 2045 §5.1; comments and quoted strings allowed).
    pub fn parse(value: &str) -> Result<ContentType> {
        let bad = |why: &str| Error::Mime(format!("Content-Type \"{value}\": {why}"));
        let mut p = Tokens {
            s: value.as_bytes(),
            i: 0,
        };
        let main = p.token().ok_or_else(|| bad("no media type"))?;
        if !p.eat(b'/') {
            return Err(bad("no \"/\" in the media type"));
        }
        let sub = p.token().ok_or_else(|| bad("no media subtype"))?;
        let mut params = Vec::new();
        loop {
            p.skip_cfws();
            if p.done() {
                break;
            }
            if !p.eat(b';') {
                return Err(bad("expected \";\" before a parameter"));
            }
            p.skip_cfws();
            if p.done() {
                break; // a trailing ";" is common and harmless
            }
            let name = p.token().ok_or_else(|| bad("a parameter has no name"))?;
            if !p.eat(b'=') {
                return Err(bad("a parameter has no \"=\""));
            }
            p.skip_cfws();
            let v = if p.peek() == Some(b'"') {
                p.quoted()
                    .ok_or_else(|| bad("an unterminated quoted string"))?
            } else {
                p.token().ok_or_else(|| bad("a parameter has no value"))?
            };
            params.push((name.to_ascii_lowercase(), v));
        }
        Ok(ContentType {
            mime_type: format!("{}/{}", main.to_ascii_lowercase(), sub.to_ascii_lowercase()),
            params,
        })
    }

    /// The value of parameter `name` (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A small scanner for RFC 2045 tokens, quoted strings and comments.
struct Tokens<'a> {
    s: &'a [u8],
    i: usize,
}

impl Tokens<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, b: u8) -> bool {
        self.skip_cfws();
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Skips white space and (nested) comments.
    fn skip_cfws(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                b'\\' if depth > 0 => self.i += 1,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if depth > 0 => {}
                _ => return,
            }
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        self.skip_cfws();
        let start = self.i;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    out.push(self.peek()?);
                    self.i += 1;
                }
                _ => out.push(b),
            }
        }
    }
}

/// Whether the SignedData of a multipart/signed message also carried the content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarriedContent {
    /// Detached, as RFC 8551 §3.5.3 has it.
    Detached,
    /// The SignedData also carries the content, and it equals the signed MIME part (Python
    /// `cryptography` writes this): accepted, and worth reporting.
    SameAsPart,
    /// The SignedData carries a content that differs from the signed MIME part: what the
    /// reader sees is not what was signed (tampered).
    DiffersFromPart,
}

/// Checks the SignedData `der` of a multipart/signed message against its signed MIME part
/// `part`, liberally: a SignedData that also carries the content is checked over the content
/// it carries, which must equal the part (byte for byte, or once both are canonical CRLF
/// text); see [`CarriedContent`]. `extra_certs` as for [`crate::signed::check`].
pub fn check_multipart_signed(
    der: &[u8],
    part: &[u8],
    extra_certs: &[x509_cert::Certificate],
) -> Result<(crate::signed::SignatureCheck, CarriedContent)> {
    match crate::signed::check(der, Some(part), extra_certs) {
        Err(Error::ContentGivenTwice) => {
            let check = crate::signed::check(der, None, extra_certs)?;
            let same = check
                .content
                .as_deref()
                .is_some_and(|c| c == part || canonicalize(c) == canonicalize(part));
            let carried = if same {
                CarriedContent::SameAsPart
            } else {
                CarriedContent::DiffersFromPart
            };
            Ok((check, carried))
        }
        other => other.map(|c| (c, CarriedContent::Detached)),
    }
}

/// Converts every bare LF to CRLF (the canonical form of RFC 5322 text, which is what gets
/// signed). Existing CRLFs are left as they are.
pub fn canonicalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// A message split for signing or encryption: the fields that stay outside, and the inner
/// entity (the `Content-*` fields, an empty line and the body) in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The outer header fields (From, To, Subject, Date, Message-ID, MIME-Version, ...), in
    /// their order, byte for byte.
    pub outer_headers: Vec<HeaderField>,
    /// The inner entity, canonical (CRLF line ends): what gets signed or encrypted.
    pub inner: Vec<u8>,
}

/// Splits a message into the header fields that stay outside and the inner entity that is
/// signed or encrypted. The message is canonicalised (bare LF to CRLF) first.
pub fn split(message: &[u8]) -> Result<Split> {
    let canonical = canonicalize(message);
    let entity = Entity::parse(&canonical)?;
    let (content, outer): (Vec<_>, Vec<_>) = entity
        .headers
        .into_iter()
        .partition(HeaderField::is_content_field);
    let inner = Entity {
        headers: content,
        body: entity.body,
    };
    Ok(Split {
        outer_headers: outer,
        inner: inner.to_bytes(),
    })
}

/// Puts a message back together: the outer header fields, then the inner entity (its own
/// fields, the empty line and the body). The reverse of [`split`].
pub fn join(outer_headers: &[HeaderField], inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + 2048);
    for h in outer_headers {
        out.extend_from_slice(h.raw());
    }
    out.extend_from_slice(inner);
    out
}

/// The `smime-type` of an `application/pkcs7-mime` body (RFC 8551 §3.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmimeType {
    /// `signed-data`: SignedData with encapsulated content.
    SignedData,
    /// `enveloped-data`: EnvelopedData.
    EnvelopedData,
    /// `authEnveloped-data`: AuthEnvelopedData (AES-GCM).
    AuthEnvelopedData,
    /// `certs-only`: a SignedData carrying only certificates.
    CertsOnly,
    /// `compressed-data`: CompressedData (RFC 3274).
    CompressedData,
}

impl SmimeType {
    /// The `smime-type` parameter value.
    pub fn parameter(self) -> &'static str {
        match self {
            SmimeType::SignedData => "signed-data",
            SmimeType::EnvelopedData => "enveloped-data",
            SmimeType::AuthEnvelopedData => "authEnveloped-data",
            SmimeType::CertsOnly => "certs-only",
            SmimeType::CompressedData => "compressed-data",
        }
    }

    fn from_parameter(p: &str) -> Option<Self> {
        [
            SmimeType::SignedData,
            SmimeType::EnvelopedData,
            SmimeType::AuthEnvelopedData,
            SmimeType::CertsOnly,
            SmimeType::CompressedData,
        ]
        .into_iter()
        .find(|t| t.parameter().eq_ignore_ascii_case(p))
    }

    fn from_der(der: &[u8]) -> Result<Self> {
        use const_oid::db::rfc5911::{
            ID_CT_AUTH_ENVELOPED_DATA, ID_ENVELOPED_DATA, ID_SIGNED_DATA,
        };
        use const_oid::db::rfc6268::ID_CT_COMPRESSED_DATA;
        let ct = cms_content_type(der)?;
        Ok(match ct {
            _ if ct == ID_SIGNED_DATA => SmimeType::SignedData,
            _ if ct == ID_ENVELOPED_DATA => SmimeType::EnvelopedData,
            _ if ct == ID_CT_AUTH_ENVELOPED_DATA => SmimeType::AuthEnvelopedData,
            _ if ct == ID_CT_COMPRESSED_DATA => SmimeType::CompressedData,
            _ => {
                return Err(Error::NotSmime(format!(
                    "the application/pkcs7-mime body is CMS {}",
                    crate::signed::content_type_name(&ct)
                )));
            }
        })
    }
}

/// What kind of message a parsed message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmimeKind {
    /// Not S/MIME: neither multipart/signed nor pkcs7-mime.
    Plain,
    /// `multipart/signed` with a detached `application/pkcs7-signature`.
    MultipartSigned,
    /// `application/pkcs7-mime` (or the old `application/x-pkcs7-mime`) of this type.
    Pkcs7Mime(SmimeType),
}

/// A message taken apart by [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmimeMessage {
    /// What the message is.
    pub kind: SmimeKind,
    /// The header fields other than `Content-*`, in order, byte for byte.
    pub outer_headers: Vec<HeaderField>,
    /// The CMS DER (BER as sent, in fact): the detached signature of a multipart/signed, the
    /// body of a pkcs7-mime. `None` for a plain message.
    pub der: Option<Vec<u8>>,
    /// For multipart/signed: the signed first part exactly as it was between the boundaries,
    /// in canonical CRLF form (what the signature covers; also the inner entity).
    pub signed_content: Option<Vec<u8>>,
    /// For multipart/signed: the `micalg` parameter as written.
    pub micalg: Option<String>,
    /// True when the old `x-pkcs7-*` media types were used.
    pub legacy_media_type: bool,
}

/// Reads a message and says what it is; for S/MIME, extracts the CMS DER and (for
/// multipart/signed) the exact signed bytes of the first part.
pub fn parse(message: &[u8]) -> Result<SmimeMessage> {
    let entity = Entity::parse(message)?;
    let ct = entity.content_type()?;
    let outer_headers: Vec<HeaderField> = entity
        .headers
        .iter()
        .filter(|h| !h.is_content_field())
        .cloned()
        .collect();
    let mut out = SmimeMessage {
        kind: SmimeKind::Plain,
        outer_headers,
        der: None,
        signed_content: None,
        micalg: None,
        legacy_media_type: false,
    };
    let p7m_name = ["name", "filename"].iter().any(|n| {
        ct.param(n)
            .is_some_and(|v| v.to_ascii_lowercase().ends_with(".p7m"))
    });
    match ct.mime_type.as_str() {
        "multipart/signed" => {
            let protocol = ct.param("protocol").unwrap_or("").to_ascii_lowercase();
            match protocol.as_str() {
                "application/pkcs7-signature" => {}
                "application/x-pkcs7-signature" => out.legacy_media_type = true,
                other => {
                    return Err(Error::NotSmime(format!(
                        "multipart/signed with protocol \"{other}\" (not S/MIME)"
                    )));
                }
            }
            let boundary = ct.param("boundary").ok_or_else(|| {
                Error::Mime("multipart/signed without a boundary parameter".into())
            })?;
            let parts = multipart_parts(&entity.body, boundary)?;
            let [first, second] = parts.as_slice() else {
                return Err(Error::Mime(format!(
                    "multipart/signed has {} part(s); it must have exactly two",
                    parts.len()
                )));
            };
            let sig = Entity::parse(second)?;
            let sig_type = sig.content_type()?;
            match sig_type.mime_type.as_str() {
                "application/pkcs7-signature" | "application/x-pkcs7-signature" => {}
                other => {
                    return Err(Error::NotSmime(format!(
                        "the second part of multipart/signed is {other}, not \
                         application/pkcs7-signature"
                    )));
                }
            }
            let der = sig.decoded_body("signature part (smime.p7s)")?;
            if der.is_empty() {
                return Err(Error::Mime("the signature part is empty".into()));
            }
            out.kind = SmimeKind::MultipartSigned;
            out.der = Some(der);
            out.signed_content = Some(canonicalize(first));
            out.micalg = ct.param("micalg").map(str::to_string);
        }
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            out.legacy_media_type = ct.mime_type.starts_with("application/x-");
            pkcs7_body(&entity, &ct, &mut out)?;
        }
        "application/octet-stream" if p7m_name => pkcs7_body(&entity, &ct, &mut out)?,
        _ => {}
    }
    Ok(out)
}

fn pkcs7_body(entity: &Entity, ct: &ContentType, out: &mut SmimeMessage) -> Result<()> {
    let der = entity.decoded_body("application/pkcs7-mime body (smime.p7m)")?;
    if der.is_empty() {
        return Err(Error::Mime(
            "the application/pkcs7-mime body is empty".into(),
        ));
    }
    let from_der = SmimeType::from_der(&der)?;
    let kind = match ct.param("smime-type").and_then(SmimeType::from_parameter) {
        // certs-only is signed-data underneath; otherwise the DER decides.
        Some(SmimeType::CertsOnly) if from_der == SmimeType::SignedData => SmimeType::CertsOnly,
        _ => from_der,
    };
    out.kind = SmimeKind::Pkcs7Mime(kind);
    out.der = Some(der);
    Ok(())
}

/// The parts of a multipart body (RFC 2046 §5.1.1): the bytes between the delimiter lines,
/// the line end before each delimiter belonging to the delimiter. The close delimiter must be
/// there.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>> {
    // RFC 2046 allows 1 to 70 characters; longer ones are read (some senders write them) up to
    // a bound.
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
        return Err(Error::Mime(format!(
            "the boundary parameter must be 1 to {MAX_BOUNDARY} characters, it is {}",
            boundary.len()
        )));
    }
    let dash: Vec<u8> = [b"--".as_slice(), boundary.as_bytes()].concat();
    // (start of the delimiter line, end of it including its line end, is it the close?)
    let mut delimiters = Vec::new();
    let mut pos = 0;
    for line in lines(body) {
        if let Some(rest) = trim_eol(line).strip_prefix(dash.as_slice()) {
            let (close, rest) = match rest.strip_prefix(b"--") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                delimiters.push((pos, pos + line.len(), close));
                if close {
                    break;
                }
            }
        }
        pos += line.len();
    }
    match delimiters.last() {
        None => {
            return Err(Error::Mime(format!(
                "the boundary \"{boundary}\" never occurs in the body"
            )));
        }
        Some((_, _, false)) => {
            return Err(Error::Mime(
                "the closing boundary is missing (is the message truncated?)".into(),
            ));
        }
        Some(_) => {}
    }
    let mut parts = Vec::new();
    for w in delimiters.windows(2) {
        let (start, next) = (w[0].1, w[1].0);
        let mut part = &body[start..next];
        // The line end before a delimiter belongs to the delimiter.
        if next > start {
            part = part.strip_suffix(b"\n").unwrap_or(part);
            part = part.strip_suffix(b"\r").unwrap_or(part);
        }
        parts.push(part);
    }
    Ok(parts)
}

/// Base64 with white space (line ends) ignored.
fn decode_base64(part: &'static str, body: &[u8]) -> Result<Vec<u8>> {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let text = core::str::from_utf8(&compact).map_err(|_| Error::MimeBase64 {
        part,
        detail: "it contains bytes that are not ASCII".into(),
    })?;
    Base64::decode_vec(text).map_err(|e| Error::MimeBase64 {
        part,
        detail: e.to_string(),
    })
}

/// Base64 in lines of 76 characters, each ending in CRLF.
fn encode_base64(der: &[u8]) -> Vec<u8> {
    let text = Base64::encode_string(der);
    let mut out = Vec::with_capacity(text.len() + text.len() / BASE64_LINE * 2 + 2);
    for chunk in text.as_bytes().chunks(BASE64_LINE) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The `micalg` name of a digest (RFC 8551 §3.5.3.2).
pub fn micalg(digest: DigestAlgorithm) -> &'static str {
    match digest {
        DigestAlgorithm::Md5 => "md5",
        DigestAlgorithm::Sha1 => "sha-1",
        DigestAlgorithm::Sha256 => "sha-256",
        DigestAlgorithm::Sha384 => "sha-384",
        DigestAlgorithm::Sha512 => "sha-512",
    }
}

/// The digest a `micalg` value names (`sha-256`, and the older `sha256`, `sha1`, `rsa-md5`).
pub fn micalg_digest(value: &str) -> Option<DigestAlgorithm> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_prefix("rsa-").unwrap_or(&v);
    v.replace('-', "").parse().ok()
}

fn outer_with_mime_version(outer: &[HeaderField]) -> Vec<u8> {
    let mut out = Vec::new();
    for h in outer {
        out.extend_from_slice(h.raw());
    }
    if !outer.iter().any(|h| h.is("MIME-Version")) {
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    out
}

/// Builds a `multipart/signed` message (RFC 8551 §3.5.3): the outer header fields as they
/// were, the inner entity exactly as signed, and the detached signature `signature_der` as an
/// `application/pkcs7-signature` part. The boundary is derived from the content and never
/// occurs in it.
pub fn multipart_signed(
    outer_headers: &[HeaderField],
    inner: &[u8],
    signature_der: &[u8],
    digest: DigestAlgorithm,
) -> Result<Vec<u8>> {
    check_size("content to sign", inner, MAX_SIGNED_DATA_SIZE)?;
    let boundary = boundary_for(inner, signature_der);
    let mut out = outer_with_mime_version(outer_headers);
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\
             \tmicalg={}; boundary=\"{boundary}\"\r\n\r\n\
             This is an S/MIME signed message\r\n\r\n--{boundary}\r\n",
            micalg(digest)
        )
        .as_bytes(),
    );
    out.extend_from_slice(inner);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\n\
             Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&encode_base64(signature_der));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(out)
}

/// A boundary that does not occur in `inner`: a hash of the content, re-drawn on the
/// (adversarial) chance that it does.
fn boundary_for(inner: &[u8], signature: &[u8]) -> String {
    let mut counter = 0u32;
    loop {
        let mut h = Sha256::new();
        h.update(counter.to_be_bytes());
        h.update(inner);
        h.update(signature);
        let hex: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let boundary = format!("----=_smime_{hex}");
        let needle = boundary.as_bytes();
        if !inner.windows(needle.len()).any(|w| w == needle) {
            return boundary;
        }
        counter += 1;
    }
}

/// Builds an `application/pkcs7-mime` message (RFC 8551 §3.2): the outer header fields as they
/// were, then the CMS DER in base64 as `smime.p7m` with `smime-type`.
pub fn pkcs7_mime(
    outer_headers: &[HeaderField],
    smime_type: SmimeType,
    der: &[u8],
) -> Result<Vec<u8>> {
    check_size("CMS message", der, MAX_SIGNED_DATA_SIZE)?;
    let mut out = outer_with_mime_version(outer_headers);
    out.extend_from_slice(
        format!(
            "Content-Type: application/pkcs7-mime; smime-type={};\r\n\tname=\"smime.p7m\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
            smime_type.parameter()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&encode_base64(der));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields_stay_raw_and_unfold_for_reading() {
        let msg = b"Subject: a long\r\n  subject line\r\nX-A:b\r\n\r\nbody\r\n";
        let e = Entity::parse(msg).unwrap();
        assert_eq!(e.headers.len(), 2);
        assert_eq!(e.headers[0].raw(), b"Subject: a long\r\n  subject line\r\n");
        assert_eq!(e.headers[0].value(), "a long  subject line");
        assert_eq!(e.headers[1].name(), "X-A");
        assert_eq!(e.headers[1].value(), "b");
        assert_eq!(e.body, b"body\r\n");
        assert_eq!(e.to_bytes(), msg);
    }

    #[test]
    fn content_type_parameters() {
        let ct = ContentType::parse(
            "Multipart/Signed; (comment) protocol=\"application/pkcs7-signature\"; \
             micalg=sha-256;\r\n\tboundary=\"a \\\"b\\\" c\";",
        )
        .unwrap();
        assert_eq!(ct.mime_type, "multipart/signed");
        assert_eq!(ct.param("PROTOCOL"), Some("application/pkcs7-signature"));
        assert_eq!(ct.param("micalg"), Some("sha-256"));
        assert_eq!(ct.param("boundary"), Some("a \"b\" c"));
        for bad in ["", "text", "text/", "text/plain; x", "text/plain; x=\"open"] {
            assert_eq!(
                ContentType::parse(bad).unwrap_err().code(),
                "PKI-073",
                "{bad}"
            );
        }
    }

    #[test]
    fn canonical_form() {
        assert_eq!(canonicalize(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonicalize(b""), b"");
    }

    #[test]
    fn micalg_names() {
        for d in DigestAlgorithm::ALL {
            assert_eq!(micalg_digest(micalg(d)), Some(d));
        }
        assert_eq!(micalg_digest("SHA1"), Some(DigestAlgorithm::Sha1));
        assert_eq!(micalg_digest("rsa-md5"), Some(DigestAlgorithm::Md5));
        assert_eq!(micalg_digest("sha3-256"), None);
    }

    #[test]
    fn header_fields_refuse_injection() {
        assert!(HeaderField::new("Subject", "a\r\nBcc: x").is_err());
        assert!(HeaderField::new("Bad Name", "x").is_err());
        let h = HeaderField::new("Subject", "hi").unwrap();
        assert_eq!(h.raw(), b"Subject: hi\r\n");
        assert_eq!(
            HeaderField::from_raw(b"A: b\r\n c\r\n").unwrap().value(),
            "b c"
        );
        assert!(HeaderField::from_raw(b"A: b\r\nC: d\r\n").is_err());
    }
}
