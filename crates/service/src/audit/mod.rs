//! The audit log: who changed what through the admin API, and which API key did what,
//! kept in the database (readable at `GET /admin/v1/audit`, purged after
//! `retention.audit_days`) and emitted as one `tracing` event per record (target
//! `audit`) for a log pipeline.
//!
//! Nothing personal or secret is stored in the clear: the admin token, key ids and the
//! conversations' ContactIds are stored as HMAC-SHA256 under a key derived from the
//! service's secret key ([`AuditHasher`]), so records about one key or one call can be
//! correlated (and looked up by an operator who has the ContactId), but a leaked table
//! names no caller, no customer and holds nothing that authenticates. customerId and
//! agentId are never recorded.
//!
//! One row per audited request. They are few (a call costs a start and a stop; the
//! ~10 utterances a minute go out as webhooks, not requests) and written off the request
//! path by one writer task in batches, so a request never waits for the audit insert.

mod note;
mod writer;

pub use note::{Note, note_key, note_subject, note_target, scope};
pub use writer::AuditLog;

use chrono::{DateTime, Utc};

/// Which side of the API a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A mutating call to `/admin/v1`.
    Admin,
    /// A request authenticated with an API key.
    ApiKey,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Admin => "admin",
            Kind::ApiKey => "apiKey",
        }
    }
}

/// One audited call, ready to store.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub actor: String,
    pub operation: String,
    pub tenant_id: Option<String>,
    pub target: Option<String>,
    pub subject: Option<String>,
    pub status: u16,
    pub request_id: String,
}

impl Entry {
    /// The record as a structured log event (target `audit`), for log pipelines.
    pub fn emit(&self) {
        tracing::info!(
            target: "audit",
            kind = self.kind.as_str(),
            actor = %self.actor,
            operation = %self.operation,
            tenant = self.tenant_id.as_deref().unwrap_or(""),
            target_id = self.target.as_deref().unwrap_or(""),
            subject = self.subject.as_deref().unwrap_or(""),
            status = self.status,
            request_id = %self.request_id,
            "audit"
        );
    }
}

/// Keyed hashes of identifiers for the audit log. The key is derived from the secret
/// key, so every replica hashes alike and nobody without the key can test guesses
/// (a ContactId or a weak admin token) against the table.
#[derive(Clone)]
pub struct AuditHasher {
    key: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for AuditHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditHasher([redacted])")
    }
}

impl AuditHasher {
    pub fn new(sealer: &crate::secrets::Sealer) -> AuditHasher {
        let derived = sealer.derive_key("callscribe audit log identifiers v1");
        AuditHasher {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &derived),
        }
    }

    /// 128 bits of HMAC over `domain:value` as hex; the domain keeps a key id from ever
    /// hashing like a ContactId.
    pub fn hash(&self, domain: &str, value: &str) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(domain.as_bytes());
        ctx.update(b":");
        ctx.update(value.as_bytes());
        hex::encode(&ctx.sign().as_ref()[..16])
    }

    /// `admin:<12 hex>`: tells tokens apart (a rotation shows) without being one.
    pub fn admin_actor(&self, token: Option<&str>) -> String {
        match token {
            Some(token) => format!("admin:{}", &self.hash("admin-token", token)[..12]),
            None => "admin:none".into(),
        }
    }

    /// `key:<hash>` for a key id, as actor of its requests and target of admin calls.
    pub fn key(&self, key_id: &str) -> String {
        format!("key:{}", self.hash("key", key_id))
    }

    /// The hash a conversation's ContactId is recorded (and looked up) as.
    pub fn contact(&self, guid: &str) -> String {
        self.hash("contact", guid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Sealer;

    #[test]
    fn hashes_are_keyed_stable_and_separated_by_domain() {
        let a = AuditHasher::new(&Sealer::from_hex(&"11".repeat(32)).unwrap());
        let b = AuditHasher::new(&Sealer::from_hex(&"22".repeat(32)).unwrap());
        let guid = "8c259fea-8764-4a92-adc4-73572e9cf016";
        assert_eq!(a.contact(guid), a.contact(guid));
        assert_ne!(
            a.contact(guid),
            b.contact(guid),
            "another key, another hash"
        );
        assert_ne!(a.contact(guid), a.hash("key", guid));
        assert_eq!(a.contact(guid).len(), 32);
        assert!(!a.contact(guid).contains("8c259fea"));
        let actor = a.admin_actor(Some("change-me"));
        assert!(actor.starts_with("admin:") && actor.len() == 18, "{actor}");
        assert_eq!(a.admin_actor(None), "admin:none");
    }
}
