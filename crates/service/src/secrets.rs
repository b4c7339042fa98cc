//! Encryption at rest for stored secrets (webhook tokens, client secrets, private keys).
//! XChaCha20-Poly1305 with a random nonce per value; the key comes from configuration
//! or, for the embedded single-node default, from a key file generated once.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Why a key or a sealed value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret_key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored secret cannot be decrypted with the configured secret_key")]
    Undecryptable,
}

/// Seals and opens secret strings.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn from_hex(hex_key: &str) -> Result<Sealer, SecretsError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SecretsError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
            key,
        })
    }

    /// Reads `path`, creating it with a fresh random key (mode 0600) if it is missing.
    pub fn from_key_file(path: &Path) -> Result<Sealer, SecretsError> {
        let io = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            write_private(path, &hex::encode(key)).map_err(io)?;
        }
        Sealer::from_hex(&std::fs::read_to_string(path).map_err(io)?)
    }

    /// A key for another purpose (e.g. signing feed links), derived from the secret key
    /// so every replica with the same configuration derives the same one, and a value
    /// signed for one purpose is worthless for another.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce size cannot fail.
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretsError> {
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| SecretsError::Undecryptable)?;
        if raw.len() < 24 {
            return Err(SecretsError::Undecryptable);
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| SecretsError::Undecryptable)?;
        String::from_utf8(pt).map_err(|_| SecretsError::Undecryptable)
    }
}

/// Compares a presented secret with the expected one in time that depends on neither
/// their contents nor their lengths. `subtle`'s slice comparison returns at once when
/// the lengths differ, which tells an attacker the length of the admin token; comparing
/// the SHA-256 digests (always 32 bytes) in constant time leaks nothing but "equal or
/// not", and equal digests mean equal secrets.
pub fn secrets_equal(presented: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(presented)
        .as_slice()
        .ct_eq(Sha256::digest(expected).as_slice())
        .into()
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_hide_the_plaintext() {
        let s = Sealer::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = s.seal("token-123");
        assert!(!sealed.contains("token-123"));
        assert_ne!(sealed, s.seal("token-123"), "nonce must differ per value");
        assert_eq!(s.open(&sealed).unwrap(), "token-123");
        let other = Sealer::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(secrets_equal(b"admin-token", b"admin-token"));
        assert!(!secrets_equal(b"admin-token", b"admin-tokex"));
        assert!(!secrets_equal(b"admin", b"admin-token"));
        assert!(!secrets_equal(b"", b"admin-token"));
        assert!(secrets_equal(b"", b""));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Sealer::from_hex("abcd").is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32)).is_err());
    }
}
