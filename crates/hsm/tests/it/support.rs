//! Helpers shared by the test modules: OpenSSL verification of a token signature, and the
//! parsing of `pkcs11-tool --list-objects` output.

use std::path::Path;
use std::process::Command;

use pki::DigestAlgorithm;

/// The `openssl dgst` name of a digest.
pub fn openssl_digest(digest: DigestAlgorithm) -> &'static str {
    match digest {
        DigestAlgorithm::Sha256 => "-sha256",
        DigestAlgorithm::Sha384 => "-sha384",
        DigestAlgorithm::Sha512 => "-sha512",
        other => panic!("no token signature with {other:?}"),
    }
}

/// Whether `openssl dgst -DIGEST -verify pub.pem -signature sig msg` accepts `sig`.
pub fn openssl_verifies(
    dir: &Path,
    public_pem: &str,
    digest: DigestAlgorithm,
    message: &[u8],
    sig: &[u8],
) -> bool {
    let (key, msg, sig_path) = (dir.join("pub.pem"), dir.join("msg"), dir.join("sig"));
    std::fs::write(&key, public_pem).unwrap();
    std::fs::write(&msg, message).unwrap();
    std::fs::write(&sig_path, sig).unwrap();
    let out = Command::new("openssl")
        .arg("dgst")
        .arg(openssl_digest(digest))
        .arg("-verify")
        .arg(&key)
        .arg("-signature")
        .arg(&sig_path)
        .arg(&msg)
        .output()
        .expect("running openssl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    out.status.success() && stdout.contains("Verified OK")
}

/// One object of `pkcs11-tool --list-objects` output: its first line and its attribute lines.
#[derive(Debug)]
pub struct Listed {
    /// `Private Key Object; RSA`, `Public Key Object; RSA 2048 bits` ...
    pub kind: String,
    /// `label`, `Usage`, `Access` ... -> value, as printed.
    pub fields: Vec<(String, String)>,
}

impl Listed {
    /// The value of field `name` (`label`, `Usage`, `Access`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `pkcs11-tool --list-objects` output: an object starts at an unindented line that
/// names it (`... Object; ...`), its attributes follow indented as `name: value`.
pub fn parse_list_objects(text: &str) -> Vec<Listed> {
    let mut objects: Vec<Listed> = Vec::new();
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) && line.contains("Object;") {
            objects.push(Listed {
                kind: line.trim().to_string(),
                fields: Vec::new(),
            });
        } else if let (true, Some(obj), Some((k, v))) = (
            line.starts_with([' ', '\t']),
            objects.last_mut(),
            line.split_once(':'),
        ) {
            obj.fields
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    objects
}

#[test]
fn list_objects_output_is_parsed() {
    // As printed by OpenSC 0.23's pkcs11-tool for a key made by `TokenKey::generate`.
    let text = r"Using slot 0 with a present token (0x1)
Private Key Object; RSA 
  label:      ca
  ID:         0a1b
  Usage:      sign
  Access:     sensitive, always sensitive, never extractable, local
Public Key Object; RSA 2048 bits
  label:      ca
  Usage:      verify
  Access:     local
";
    let objects = parse_list_objects(text);
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0].kind, "Private Key Object; RSA");
    assert_eq!(objects[0].field("label"), Some("ca"));
    assert_eq!(
        objects[0].field("Access"),
        Some("sensitive, always sensitive, never extractable, local")
    );
    assert_eq!(objects[1].field("Usage"), Some("verify"));
}

/// `fresh_process` with a name that matches no test must fail, not pass with nothing run.
#[test]
#[should_panic(expected = "in its own process")]
fn a_misnamed_fresh_process_test_fails() {
    let _ = hsm::testing::SoftHsm::fresh_process("support::no_such_test");
}
