//! The tenant's webhook target: the rules a target must meet (URL scheme per auth mode,
//! the SSRF guard on IP literals, PEM checks, secrets kept when left out), sealing its
//! secrets at rest, and telling the delivery lane. The admin API and
//! `callscribe admin webhook-set` both come here, each from its own input type.

use std::sync::Arc;

use crate::ids::TenantId;
use crate::secrets::Sealer;
use crate::service::error::{Doing, ServiceError, ServiceResult};
use crate::store::Store;
use crate::store::webhooks::TargetRecord;
use crate::webhook::guard::AddressPolicy;
use crate::webhook::publisher::WebhookPublisher;
use crate::webhook::target::{self, AuthPublic, AuthSecret};

/// Per-request timeout when the request names none.
const DEFAULT_TIMEOUT_MS: u32 = 2000;

/// A target as an operator asks for it: the public auth settings and whichever secrets
/// were given. A secret left out keeps the stored one, so a URL can change without
/// re-entering credentials.
#[derive(Debug, Clone)]
pub struct TargetRequest {
    pub url: String,
    pub auth: AuthPublic,
    pub secrets: AuthSecret,
    pub timeout_ms: Option<u32>,
}

/// A stored target as it is shown: secrets are never read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub auth: AuthPublic,
    pub timeout_ms: Option<u32>,
}

/// Reads and changes tenants' webhook targets.
#[derive(Clone)]
pub struct WebhookTargets {
    store: Store,
    sealer: Sealer,
    policy: AddressPolicy,
    lane: Arc<WebhookPublisher>,
}

impl WebhookTargets {
    pub fn new(
        store: Store,
        sealer: Sealer,
        policy: AddressPolicy,
        lane: Arc<WebhookPublisher>,
    ) -> Self {
        Self {
            store,
            sealer,
            policy,
            lane,
        }
    }

    /// The tenant's target, `None` when none is set.
    pub async fn get(&self, tenant: &TenantId) -> ServiceResult<Option<Target>> {
        let stored = self
            .store
            .webhook(tenant)
            .await
            .doing("reading the webhook target")?;
        stored.as_ref().map(shown).transpose()
    }

    /// Checks and stores the tenant's target, then points the delivery lane at it.
    pub async fn set(&self, tenant: &TenantId, request: &TargetRequest) -> ServiceResult<Target> {
        let previous = self
            .store
            .webhook(tenant)
            .await
            .doing("reading the webhook target")?;
        let kept = match previous.as_ref().and_then(|p| p.auth_sealed.as_deref()) {
            Some(sealed) => self.open(sealed)?,
            None => AuthSecret::default(),
        };
        let record = checked_record(request, kept, &self.policy, |s| self.sealer.seal(s))?;
        let saved = self
            .store
            .put_webhook(tenant, &record)
            .await
            .doing("storing the webhook target")?;
        self.lane.target_changed(tenant);
        shown(&saved)
    }

    /// Removes the tenant's target; false when none was set.
    pub async fn delete(&self, tenant: &TenantId) -> ServiceResult<bool> {
        let removed = self
            .store
            .delete_webhook(tenant)
            .await
            .doing("removing the webhook target")?;
        if removed {
            self.lane.target_changed(tenant);
        }
        Ok(removed)
    }

    fn open(&self, sealed: &str) -> ServiceResult<AuthSecret> {
        let json = self.sealer.open(sealed).map_err(|e| {
            ServiceError::Inconsistent(format!("stored webhook secrets cannot be opened: {e}"))
        })?;
        serde_json::from_str(&json).map_err(|e| {
            ServiceError::Inconsistent(format!("stored webhook secrets are not readable: {e}"))
        })
    }
}

fn invalid(field: &'static str, why: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field,
        why: why.into(),
    }
}

/// An absolute http(s) URL; `https_only` for modes that exist to secure the transport.
pub fn check_url(field: &'static str, url: &str, https_only: bool) -> ServiceResult<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).map_err(|_| invalid(field, "must be an absolute URL"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if !https_only => Ok(parsed),
        _ if https_only => Err(invalid(field, "must be an https:// URL for this auth mode")),
        _ => Err(invalid(field, "must be an http:// or https:// URL")),
    }
}

/// The SSRF guard's check when a URL is stored: a host written as an IP literal must be
/// allowed. Names are checked when they are resolved, at each connection, because
/// their answers can change (see `webhook::guard`).
fn guard_url(field: &'static str, url: &reqwest::Url, policy: &AddressPolicy) -> ServiceResult<()> {
    policy
        .check_url(url)
        .map_err(|e| invalid(field, format!("is refused: {e}")))
}

fn check_pem(field: &'static str, pem: &str) -> ServiceResult<()> {
    target::check_certificates(pem)
        .map(|_| ())
        .map_err(|e| invalid(field, e.to_string()))
}

/// Validates a request and splits it into the stored public and sealed parts; a secret
/// the request leaves out is taken from `kept`.
fn checked_record(
    request: &TargetRequest,
    kept: AuthSecret,
    policy: &AddressPolicy,
    seal: impl Fn(&str) -> String,
) -> ServiceResult<TargetRecord> {
    let given = &request.secrets;
    let required = |field: &'static str, given: &Option<String>, kept: Option<String>| {
        given
            .clone()
            .or(kept)
            .ok_or_else(|| invalid(field, "is required (no stored value to keep)"))
    };
    let signing_secret = required(
        "signingSecret",
        &given.signing_secret,
        kept.signing_secret.clone(),
    )?;
    if !(16..=256).contains(&signing_secret.chars().count()) {
        return Err(invalid("signingSecret", "must be 16-256 characters"));
    }
    let mut secret = AuthSecret {
        signing_secret: Some(signing_secret),
        ..AuthSecret::default()
    };
    let https_only = matches!(
        request.auth,
        AuthPublic::CustomCa { .. } | AuthPublic::Mtls { .. }
    );
    let url = check_url("url", &request.url, https_only)?;
    let mut token_url_checked = None;
    match &request.auth {
        AuthPublic::None => {}
        AuthPublic::Secret { name, .. } => {
            let is_token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !is_token {
                return Err(invalid("auth.name", "must be a token of [A-Za-z0-9._-]"));
            }
            secret.token = Some(required("auth.value", &given.token, kept.token)?);
        }
        AuthPublic::CustomCa { ca_pem } => check_pem("auth.caPem", ca_pem)?,
        AuthPublic::Mtls {
            client_cert_pem,
            ca_pem,
        } => {
            check_pem("auth.clientCertPem", client_cert_pem)?;
            if let Some(ca) = ca_pem {
                check_pem("auth.caPem", ca)?;
            }
            let key = required(
                "auth.clientKeyPem",
                &given.client_key_pem,
                kept.client_key_pem,
            )?;
            target::check_private_key(&key)
                .map_err(|e| invalid("auth.clientKeyPem", e.to_string()))?;
            secret.client_key_pem = Some(key);
        }
        AuthPublic::Oauth2 { token_url, .. } => {
            token_url_checked = Some(check_url("auth.tokenUrl", token_url, false)?);
            secret.client_secret = Some(required(
                "auth.clientSecret",
                &given.client_secret,
                kept.client_secret,
            )?);
        }
    }
    guard_url("url", &url, policy)?;
    if let Some(token_url) = &token_url_checked {
        guard_url("auth.tokenUrl", token_url, policy)?;
    }
    let timeout_ms = request.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(100..=30_000).contains(&timeout_ms) {
        return Err(invalid("timeoutMs", "must be 100-30000"));
    }
    let unreadable =
        |e: serde_json::Error| ServiceError::Inconsistent(format!("cannot encode the target: {e}"));
    let sealed = (!secret.is_empty())
        .then(|| serde_json::to_string(&secret).map(|json| seal(&json)))
        .transpose()
        .map_err(unreadable)?;
    Ok(TargetRecord {
        url: request.url.clone(),
        auth_mode: request.auth.mode().to_owned(),
        auth_public: serde_json::to_string(&request.auth).map_err(unreadable)?,
        auth_sealed: sealed,
        timeout_ms: i32::try_from(timeout_ms).unwrap_or(i32::MAX),
    })
}

/// The stored target without its secrets.
fn shown(stored: &entity::webhook_target::Model) -> ServiceResult<Target> {
    let auth = serde_json::from_str(&stored.auth_public).map_err(|e| {
        ServiceError::Inconsistent(format!("stored webhook auth is not readable: {e}"))
    })?;
    Ok(Target {
        url: stored.url.clone(),
        auth,
        timeout_ms: u32::try_from(stored.timeout_ms).ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::target::SecretLocation;

    fn request(url: &str, auth: AuthPublic, secrets: AuthSecret) -> TargetRequest {
        TargetRequest {
            url: url.into(),
            auth,
            secrets,
            timeout_ms: None,
        }
    }

    fn field_of(result: ServiceResult<TargetRecord>) -> &'static str {
        match result {
            Err(ServiceError::Invalid { field, .. }) => field,
            other => panic!("expected a refused field, got {other:?}"),
        }
    }

    const SIGNING: &str = "0123456789abcdef";

    #[test]
    fn secrets_left_out_are_kept_and_a_first_target_needs_them() {
        let auth = AuthPublic::Secret {
            name: "x-token".into(),
            location: SecretLocation::Header,
        };
        let bare = request("https://h.example/t", auth, AuthSecret::default());
        let policy = AddressPolicy::default();
        assert_eq!(
            field_of(checked_record(
                &bare,
                AuthSecret::default(),
                &policy,
                str::to_owned
            )),
            "signingSecret"
        );
        let kept = AuthSecret {
            signing_secret: Some(SIGNING.into()),
            token: Some("kept-token".into()),
            ..AuthSecret::default()
        };
        let record = checked_record(&bare, kept, &policy, str::to_owned).unwrap();
        let sealed: AuthSecret =
            serde_json::from_str(record.auth_sealed.as_deref().unwrap()).unwrap();
        assert_eq!(sealed.token.as_deref(), Some("kept-token"));
        assert_eq!(record.timeout_ms, 2000);
    }

    #[test]
    fn each_rule_names_the_field_it_refuses() {
        let policy = AddressPolicy::default();
        let signing = || AuthSecret {
            signing_secret: Some(SIGNING.into()),
            ..AuthSecret::default()
        };
        let ca = AuthPublic::CustomCa {
            ca_pem: "not a pem".into(),
        };
        let cases = [
            (
                request("ftp://h.example", AuthPublic::None, signing()),
                "url",
            ),
            (request("http://h.example", ca.clone(), signing()), "url"),
            (request("https://h.example", ca, signing()), "auth.caPem"),
            (
                request("http://169.254.169.254/x", AuthPublic::None, signing()),
                "url",
            ),
            (
                TargetRequest {
                    timeout_ms: Some(50),
                    ..request("https://h.example", AuthPublic::None, signing())
                },
                "timeoutMs",
            ),
            (
                request(
                    "https://h.example",
                    AuthPublic::Oauth2 {
                        token_url: "https://10.0.0.1/token".into(),
                        client_id: "c".into(),
                        scopes: vec![],
                    },
                    AuthSecret {
                        client_secret: Some("s".into()),
                        ..signing()
                    },
                ),
                "auth.tokenUrl",
            ),
        ];
        for (request, field) in cases {
            let got = field_of(checked_record(
                &request,
                AuthSecret::default(),
                &policy,
                str::to_owned,
            ));
            assert_eq!(got, field, "{}", request.url);
        }
    }
}
