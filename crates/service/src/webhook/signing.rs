//! The signature on every delivery. Whatever the auth mode, a receiver can check that a
//! POST came from callscribe, was not altered and is not a replay: callscribe sends
//! `x-callscribe-timestamp: <unix seconds>` and
//! `x-callscribe-signature: v1=<hex HMAC-SHA256(signing secret, "<timestamp>.<body>")>`.
//!
//! Verification recipe (any language): recompute the HMAC over the timestamp header, a
//! dot and the raw body bytes; compare with the hex after `v1=` in constant time; refuse
//! timestamps more than five minutes from your clock.

//!
//! Every delivery is also signed the way the Standard Webhooks specification does
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`), so a receiver
//! can verify it with an existing library (standardwebhooks, svix) instead of code of its
//! own. The `x-callscribe-*` headers stay alongside for existing receivers until at least
//! 2027-12-31.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub const MESSAGE_ID_HEADER: &str = "x-callscribe-message-id";
pub const TIMESTAMP_HEADER: &str = "x-callscribe-timestamp";
pub const SIGNATURE_HEADER: &str = "x-callscribe-signature";

/// The Standard Webhooks headers; `webhook-id` is the messageId.
pub const STANDARD_ID_HEADER: &str = "webhook-id";
pub const STANDARD_TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";

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

/// The Standard Webhooks key of a target's signing secret: a `whsec_` secret is the
/// base64 of the key, as the standard defines; any other value is the key's raw bytes,
/// which a receiver's library takes as `whsec_` + base64 of them.
pub fn standard_key(secret: &[u8]) -> Vec<u8> {
    secret
        .strip_prefix(b"whsec_")
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.to_vec())
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of
/// `"<id>.<timestamp>.<body>"` under `key` (from [`standard_key`]).
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", BASE64.encode(ctx.sign().as_ref()))
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
    fn standard_webhooks_known_answers() {
        // From the standardwebhooks 1.3.0 Python package: Webhook(secret).sign("msg_1",
        // 2023-11-14T22:13:20Z, body).
        let body = br#"{"a":1}"#;
        let key = standard_key(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            standard_signature(&key, "msg_1", 1_700_000_000, body),
            "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78="
        );
        // A plain secret is the raw key: the receiver uses "whsec_" + base64 of it.
        let key = standard_key(b"my plain secret");
        assert_eq!(
            standard_signature(&key, "msg_1", 1_700_000_000, body),
            "v1,EyembTX3i7c6WycMtsU2Gj12CdWfEEox/2F+VsNUlcw="
        );
        // "whsec_" with no valid base64 after it is a plain secret too.
        assert_eq!(standard_key(b"whsec_not base64!"), b"whsec_not base64!");
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
