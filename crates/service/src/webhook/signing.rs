//! The signature on every delivery. Whatever the auth mode, a receiver can check that a
//! POST came from callscribe, was not altered and is not a replay: callscribe sends
//! `x-callscribe-timestamp: <unix seconds>` and
//! `x-callscribe-signature: v1=<hex HMAC-SHA256(signing secret, "<timestamp>.<body>")>`.
//!
//! Verification recipe (any language): recompute the HMAC over the timestamp header, a
//! dot and the raw body bytes; compare with the hex after `v1=` in constant time; refuse
//! timestamps more than five minutes from your clock.

use aws_lc_rs::{constant_time, hmac};

pub const MESSAGE_ID_HEADER: &str = "x-callscribe-message-id";
pub const TIMESTAMP_HEADER: &str = "x-callscribe-timestamp";
pub const SIGNATURE_HEADER: &str = "x-callscribe-signature";

/// How far a receiver should accept a timestamp from its own clock.
pub const TOLERANCE_SECONDS: i64 = 300;

const SCHEME: &str = "v1=";

/// The signature header value for a body sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("{SCHEME}{}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the timestamp is more than {TOLERANCE_SECONDS} s from this clock")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a received delivery: `timestamp` and `signature` are the raw header values.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(TIMESTAMP_HEADER))?;
    let given = signature
        .trim()
        .strip_prefix(SCHEME)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed(SIGNATURE_HEADER))?;
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    constant_time::verify_slices_are_equal(expected.as_ref(), &given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn verifies_and_refuses() {
        let body = br#"{"type":"transcript"}"#;
        let sig = sign(b"k", 100, body);
        assert_eq!(verify(b"k", Some("100"), Some(&sig), body, 150), Ok(()));
        assert_eq!(
            verify(b"other", Some("100"), Some(&sig), body, 150),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"k", Some("100"), Some(&sig), b"{}", 150),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"k",
                Some("100"),
                Some(&sig),
                body,
                100 + TOLERANCE_SECONDS + 1
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"k", None, Some(&sig), body, 100),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(b"k", Some("100"), Some("sha1=00"), body, 100),
            Err(SignatureError::Malformed(SIGNATURE_HEADER))
        );
    }
}
