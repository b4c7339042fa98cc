//! The expiring links `getfeedfile` hands out: an opaque token carrying the tenant, day,
//! file and expiry, signed with HMAC-SHA256 under a key derived from the service's secret
//! key, so any replica with the same configuration can serve it and nobody can forge or
//! alter one (including pointing it at another tenant's file).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::TenantId;
use crate::secrets::Sealer;

/// What a valid link grants: one file of one tenant's day, until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    pub tenant_id: TenantId,
    pub date: NaiveDate,
    pub file_name: String,
    pub expires: DateTime<Utc>,
}

/// Why a link is refused. Both answer the same 403: neither says whether the file exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks links.
#[derive(Clone)]
pub struct LinkSigner {
    key: hmac::Key,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

const VERSION: &str = "v1";

impl LinkSigner {
    pub fn new(sealer: &Sealer) -> LinkSigner {
        LinkSigner {
            key: hmac::Key::new(
                hmac::HMAC_SHA256,
                &sealer.derive_key("callscribe feed links v1"),
            ),
        }
    }

    /// The token for `grant` (URL-safe).
    pub fn sign(&self, grant: &FileGrant) -> String {
        let payload = format!(
            "{VERSION}|{}|{}|{}|{}",
            grant.tenant_id,
            grant.date.format("%Y-%m-%d"),
            grant.file_name,
            grant.expires.timestamp()
        );
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The grant of a genuine, unexpired token. The signature is checked before anything
    /// in the payload is believed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<FileGrant, LinkError> {
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Invalid)?;
        hmac::verify(&self.key, &payload, &tag).map_err(|_| LinkError::Invalid)?;
        let payload = String::from_utf8(payload).map_err(|_| LinkError::Invalid)?;
        let parts: Vec<&str> = payload.split('|').collect();
        let [VERSION, tenant, date, file, expires] = parts[..] else {
            return Err(LinkError::Invalid);
        };
        let expires = expires
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or(LinkError::Invalid)?;
        if expires <= now {
            return Err(LinkError::Expired);
        }
        Ok(FileGrant {
            tenant_id: TenantId(tenant.to_owned()),
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| LinkError::Invalid)?,
            file_name: file.to_owned(),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn signer(byte: &str) -> LinkSigner {
        LinkSigner::new(&Sealer::from_hex(&byte.repeat(32)).unwrap())
    }

    fn grant(now: DateTime<Utc>) -> FileGrant {
        FileGrant {
            tenant_id: TenantId("t-1".into()),
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            file_name: "utterances-2026-11-23-hr07.jsonl.gz".into(),
            expires: DateTime::from_timestamp(now.timestamp() + 60, 0).unwrap(),
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let now = Utc::now();
        let s = signer("11");
        let token = s.sign(&grant(now));
        assert_eq!(s.verify(&token, now), Ok(grant(now)));
        assert_eq!(
            s.verify(&token, now + Duration::seconds(61)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_links_are_invalid() {
        let now = Utc::now();
        let s = signer("11");
        let token = s.sign(&grant(now));
        assert_eq!(
            signer("22").verify(&token, now),
            Err(LinkError::Invalid),
            "another key"
        );
        let (payload, tag) = token.split_once('.').unwrap();
        let other_tenant = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("t-1", "t-2"),
        );
        for bad in [
            format!("{other_tenant}.{tag}"),
            format!("{payload}.{}", &tag[1..]),
            payload.to_owned(),
            "".into(),
            "..".into(),
        ] {
            assert_eq!(s.verify(&bad, now), Err(LinkError::Invalid), "{bad}");
        }
    }
}
