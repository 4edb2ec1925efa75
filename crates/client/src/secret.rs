//! Reading passwords for the command-line tools: from standard input (`--password-stdin`),
//! never from argv, held in a zeroizing buffer.

use std::io::Read;

use zeroize::Zeroizing;

use crate::error::Error;

/// Largest password accepted on standard input.
const MAX_PASSWORD: usize = 4096;

/// Reads a password from `input`: the first line, without its line ending. Refuses an empty
/// password and one longer than 4 KiB.
pub fn read_password(mut input: impl Read) -> anyhow::Result<Zeroizing<String>> {
    let mut buf = Zeroizing::new(Vec::new());
    input
        .by_ref()
        .take(MAX_PASSWORD as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > MAX_PASSWORD {
        return Err(Error::Password(format!(
            "the password on standard input is longer than {MAX_PASSWORD} bytes"
        ))
        .into());
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| Error::Password("the password on standard input is not UTF-8".into()))?;
    let line = text.split(['\n']).next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(Error::Password(
            "no password on standard input (give it with --password-stdin)".into(),
        )
        .into());
    }
    Ok(Zeroizing::new(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_without_ending() {
        assert_eq!(read_password(&b"s3cret\n"[..]).unwrap().as_str(), "s3cret");
        assert_eq!(
            read_password(&b"s3cret\r\nmore"[..]).unwrap().as_str(),
            "s3cret"
        );
        assert_eq!(
            read_password(&b"no newline"[..]).unwrap().as_str(),
            "no newline"
        );
        assert!(read_password(&b"\n"[..]).is_err());
        assert!(read_password(&b""[..]).is_err());
        assert!(read_password(&vec![b'a'; 5000][..]).is_err());
    }
}
