//! `/admin/v1/tenants/{id}/webhook` and `/deliveries`: the tenant's webhook target (its
//! rules: URL, SSRF guard, auth modes, secrets kept when left out) and the delivery log.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::{Enum, Object, OpenApi};

use super::{AdminResult, AdminTag, default_limit};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::{NoContent, Success};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::state::{AppState, SharedState};
use crate::store::webhooks::TargetRecord;
use crate::webhook::guard::AddressPolicy;
use crate::webhook::target::{self, AuthPublic, AuthSecret, SecretLocation};

/// Declares the single-value enum a webhook auth variant carries as its `mode`: the
/// discriminator every generated client decodes `WebhookAuth` by.
macro_rules! auth_mode {
    ($name:ident, $variant:ident, $wire:tt, $doc:tt) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
        pub enum $name {
            #[default]
            #[oai(rename = $wire)]
            $variant,
        }
    };
}
auth_mode!(NoAuthMode, None, "none", "Always `none`.");
auth_mode!(SecretAuthMode, Secret, "secret", "Always `secret`.");
auth_mode!(CustomCaAuthMode, CustomCa, "customCa", "Always `customCa`.");
auth_mode!(MtlsAuthMode, Mtls, "mtls", "Always `mtls`.");
auth_mode!(OAuth2AuthMode, Oauth2, "oauth2", "Always `oauth2`.");

/// No authentication beyond the signature headers.
#[derive(Debug, Clone, Object)]
pub struct NoAuth {
    pub mode: NoAuthMode,
}

/// Where a shared secret is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SecretIn {
    Header,
    Query,
}

/// A shared secret in a header or URL query parameter.
#[derive(Debug, Clone, Object)]
pub struct SecretAuth {
    pub mode: SecretAuthMode,
    /// Header or query parameter name.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub name: String,
    #[oai(rename = "in")]
    pub location: SecretIn,
    /// The secret (write-only).
    #[oai(validator(min_length = 1, max_length = 4096), write_only)]
    pub value: Option<String>,
}

/// TLS 1.2+ validated against your CA bundle.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CustomCaAuth {
    pub mode: CustomCaAuthMode,
    /// PEM bundle of the CA certificates to trust.
    #[oai(validator(max_length = 262144))]
    pub ca_pem: String,
}

/// Mutual TLS with a client certificate.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct MtlsAuth {
    pub mode: MtlsAuthMode,
    /// Client certificate chain in PEM.
    #[oai(validator(max_length = 262144))]
    pub client_cert_pem: String,
    /// Client private key in PEM (write-only).
    #[oai(validator(max_length = 262144), write_only)]
    pub client_key_pem: Option<String>,
    /// CA bundle for the target's certificate; public roots when absent (left out of
    /// answers then, rather than null: the spec types it as a string).
    #[oai(validator(max_length = 262144), skip_serializing_if_is_none)]
    pub ca_pem: Option<String>,
}

/// OAuth2 client credentials.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct OAuth2Auth {
    pub mode: OAuth2AuthMode,
    /// Token endpoint of the client_credentials grant.
    #[oai(validator(max_length = 2048))]
    pub token_url: String,
    #[oai(validator(min_length = 1, max_length = 512))]
    pub client_id: String,
    /// Write-only.
    #[oai(validator(max_length = 4096), write_only)]
    pub client_secret: Option<String>,
    #[oai(default)]
    pub scopes: Vec<String>,
}

/// How the target authenticates callscribe's POSTs; `mode` says which.
///
/// Written by hand rather than derived: poem-openapi's discriminated `Union` publishes
/// a wrapper schema per variant (`WebhookAuth_NoAuth`), which generated clients turn
/// into a second class per variant. Here the variants carry `mode` themselves and the
/// spec is a plain `oneOf` with a discriminator. The JSON is the same.
#[derive(Debug, Clone)]
pub enum WebhookAuth {
    None(NoAuth),
    Secret(SecretAuth),
    CustomCa(CustomCaAuth),
    Mtls(MtlsAuth),
    Oauth2(OAuth2Auth),
}

/// The tenant's real-time webhook.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct WebhookTarget {
    /// `https://` (or `http://` with mode `none`/`secret`) URL receiving one POST per utterance.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub url: String,
    pub auth: WebhookAuth,
    /// Per-request timeout, 100–30000 ms (default 2000).
    #[oai(validator(minimum(value = "100"), maximum(value = "30000")))]
    pub timeout_ms: Option<u32>,
    /// Key of the `x-callscribe-signature` HMAC-SHA256 on every delivery (write-only,
    /// 16–256 characters, e.g. `openssl rand -hex 32`). Required when the target is
    /// first set; omit it later to keep the stored one.
    #[oai(validator(min_length = 16, max_length = 256), write_only)]
    pub signing_secret: Option<String>,
}

/// Why a delivery is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// The target answered non-2xx, or the TLS or connection setup failed.
    Failed,
    /// No answer within the target's `timeoutMs`.
    Timeout,
    /// Dropped unsent: the tenant's queue was full.
    Dropped,
}

impl DeliveryOutcome {
    /// The delivery log's stored spelling (`webhook::lane` writes only these three).
    fn from_stored(outcome: &str) -> Self {
        match outcome {
            "timeout" => Self::Timeout,
            "dropped" => Self::Dropped,
            _ => Self::Failed,
        }
    }
}

/// A webhook delivery that did not succeed.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Delivery {
    pub message_id: String,
    pub at: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    #[oai(skip_serializing_if_is_none)]
    pub http_status: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub latency_ms: Option<i64>,
}

#[derive(Debug, Clone, Object)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
}

impl poem_openapi::types::Example for WebhookTarget {
    fn example() -> Self {
        WebhookTarget {
            url: "https://hooks.example.com/callscribe".into(),
            auth: WebhookAuth::Secret(SecretAuth {
                mode: SecretAuthMode::Secret,
                name: "x-hook-token".into(),
                location: SecretIn::Header,
                value: Some("s3cr3t-token-value".into()),
            }),
            timeout_ms: Some(2000),
            signing_secret: Some("2b7e151628aed2a6abf7158809cf4f3c".into()),
        }
    }
}

/// The webhook target and its delivery log.
pub struct WebhooksApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl WebhooksApi {
    /// Get the tenant's webhook target
    ///
    /// The URL, auth mode and timeout. Secret fields are write-only and never returned.
    #[oai(
        path = "/tenants/:id/webhook",
        method = "get",
        operation_id = "getWebhook"
    )]
    async fn get_webhook(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> AdminResult<Success<WebhookTarget>> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        let t = self
            .state
            .store
            .webhook(&tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("no webhook target set"))?;
        Ok(Success::json(webhook_view(&t)?))
    }

    /// Set the tenant's webhook target
    ///
    /// One POST per utterance goes to `url`, signed with `signingSecret`. Secret fields
    /// (`signingSecret`, `value`, `clientKeyPem`, `clientSecret`) are encrypted at rest
    /// and never returned; omit one to keep the stored value.
    #[oai(
        path = "/tenants/:id/webhook",
        method = "put",
        operation_id = "putWebhook"
    )]
    async fn put_webhook(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<WebhookTarget>,
    ) -> AdminResult<Success<WebhookTarget>> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        Ok(Success::json(
            set_webhook(&self.state, &tenant, &body.0).await?,
        ))
    }

    /// Remove the tenant's webhook target
    ///
    /// Transcripts are then only stored and exported, not posted. 404-01 when none is set.
    #[oai(
        path = "/tenants/:id/webhook",
        method = "delete",
        operation_id = "deleteWebhook"
    )]
    async fn delete_webhook(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<NoContent> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        if !self.state.store.delete_webhook(&tenant).await? {
            return Err(ApiError::not_found("no webhook target set").into());
        }
        self.state.webhooks.target_changed(&tenant);
        Ok(NoContent::NoContent)
    }

    /// Read the delivery log
    ///
    /// Failed and dropped webhook deliveries, newest first.
    #[oai(
        path = "/tenants/:id/deliveries",
        method = "get",
        operation_id = "listDeliveries"
    )]
    async fn deliveries(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        /// At most this many entries (1–1000, default 100).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u64>,
    ) -> AdminResult<Success<DeliveryList>> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        let rows = self.state.store.deliveries(&tenant, limit.0).await?;
        let items = rows
            .into_iter()
            .map(|d| Delivery {
                message_id: d.message_id,
                at: d.at,
                outcome: DeliveryOutcome::from_stored(&d.outcome),
                http_status: d.http_status,
                error: d.error,
                latency_ms: d.latency_ms,
            })
            .collect();
        Ok(Success::json(DeliveryList { items }))
    }
}

/// An absolute http(s) URL; `https_only` for modes that exist to secure the transport.
pub(super) fn check_url(field: &str, url: &str, https_only: bool) -> Result<(), ApiError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::invalid_field(field, "must be an absolute URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if !https_only => Ok(()),
        _ if https_only => Err(ApiError::invalid_field(
            field,
            "must be an https:// URL for this auth mode",
        )),
        _ => Err(ApiError::invalid_field(
            field,
            "must be an http:// or https:// URL",
        )),
    }
}

/// The SSRF guard's check when a URL is stored: a host written as an IP literal must be
/// allowed. Names are checked when they are resolved, at each connection, because
/// their answers can change (see `webhook::guard`).
fn guard_url(field: &str, url: &str, policy: &AddressPolicy) -> Result<(), ApiError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::invalid_field(field, "must be an absolute URL"))?;
    policy
        .check_url(&parsed)
        .map_err(|e| ApiError::invalid_field(field, &format!("is refused: {e}")))
}

fn pem_field(field: &str, pem: &str) -> Result<(), ApiError> {
    target::check_certificates(pem)
        .map(|_| ())
        .map_err(|e| ApiError::invalid_field(field, &e.to_string()))
}

/// Validates and stores the tenant's target (keeping stored secrets that `target`
/// leaves out) and tells the delivery lane. Shared by the API and the CLI.
pub async fn set_webhook(
    state: &AppState,
    tenant: &TenantId,
    target: &WebhookTarget,
) -> Result<WebhookTarget, ApiError> {
    let previous = state.store.webhook(tenant).await?;
    let previous_secret = match previous.as_ref().and_then(|p| p.auth_sealed.as_deref()) {
        Some(sealed) => {
            serde_json::from_str(&state.sealer.open(sealed).map_err(ApiError::internal)?)
                .map_err(ApiError::internal)?
        }
        None => AuthSecret::default(),
    };
    let policy = AddressPolicy::from_config(&state.config.webhook);
    let record = webhook_record(target, previous_secret, &policy, |s| state.sealer.seal(s))?;
    let saved = state.store.put_webhook(tenant, &record).await?;
    state.webhooks.target_changed(tenant);
    webhook_view(&saved)
}

/// Validates a target and splits it into stored public and sealed parts. A secret left
/// out keeps the previously stored one, so operators can change a URL without
/// re-entering credentials.
fn webhook_record(
    t: &WebhookTarget,
    previous: AuthSecret,
    policy: &AddressPolicy,
    seal: impl Fn(&str) -> String,
) -> Result<TargetRecord, ApiError> {
    let missing =
        |field: &str| ApiError::invalid_field(field, "is required (no stored value to keep)");
    let signing_secret = t
        .signing_secret
        .clone()
        .or(previous.signing_secret.clone())
        .ok_or_else(|| missing("signingSecret"))?;
    // The API's validator checks this too; the CLI arrives here directly.
    if !(16..=256).contains(&signing_secret.chars().count()) {
        return Err(ApiError::invalid_field(
            "signingSecret",
            "must be 16-256 characters",
        ));
    }
    let mut secret = AuthSecret {
        signing_secret: Some(signing_secret),
        ..AuthSecret::default()
    };
    let public = match &t.auth {
        WebhookAuth::None(_) => {
            check_url("url", &t.url, false)?;
            AuthPublic::None
        }
        WebhookAuth::Secret(s) => {
            check_url("url", &t.url, false)?;
            if !s
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(ApiError::invalid_field(
                    "auth.name",
                    "must be a token of [A-Za-z0-9._-]",
                ));
            }
            secret.token = Some(
                s.value
                    .clone()
                    .or(previous.token)
                    .ok_or_else(|| missing("auth.value"))?,
            );
            let location = match s.location {
                SecretIn::Header => SecretLocation::Header,
                SecretIn::Query => SecretLocation::Query,
            };
            AuthPublic::Secret {
                name: s.name.clone(),
                location,
            }
        }
        WebhookAuth::CustomCa(c) => {
            check_url("url", &t.url, true)?;
            pem_field("auth.caPem", &c.ca_pem)?;
            AuthPublic::CustomCa {
                ca_pem: c.ca_pem.clone(),
            }
        }
        WebhookAuth::Mtls(m) => {
            check_url("url", &t.url, true)?;
            pem_field("auth.clientCertPem", &m.client_cert_pem)?;
            if let Some(ca) = &m.ca_pem {
                pem_field("auth.caPem", ca)?;
            }
            let key = m
                .client_key_pem
                .clone()
                .or(previous.client_key_pem)
                .ok_or_else(|| missing("auth.clientKeyPem"))?;
            target::check_private_key(&key)
                .map_err(|e| ApiError::invalid_field("auth.clientKeyPem", &e.to_string()))?;
            secret.client_key_pem = Some(key);
            AuthPublic::Mtls {
                client_cert_pem: m.client_cert_pem.clone(),
                ca_pem: m.ca_pem.clone(),
            }
        }
        WebhookAuth::Oauth2(o) => {
            check_url("url", &t.url, false)?;
            check_url("auth.tokenUrl", &o.token_url, false)?;
            secret.client_secret = Some(
                o.client_secret
                    .clone()
                    .or(previous.client_secret)
                    .ok_or_else(|| missing("auth.clientSecret"))?,
            );
            AuthPublic::Oauth2 {
                token_url: o.token_url.clone(),
                client_id: o.client_id.clone(),
                scopes: o.scopes.clone(),
            }
        }
    };
    guard_url("url", &t.url, policy)?;
    if let AuthPublic::Oauth2 { token_url, .. } = &public {
        guard_url("auth.tokenUrl", token_url, policy)?;
    }
    let sealed = (!secret.is_empty())
        .then(|| serde_json::to_string(&secret).map(|json| seal(&json)))
        .transpose()
        .map_err(ApiError::internal)?;
    Ok(TargetRecord {
        url: t.url.clone(),
        auth_mode: public.mode().to_owned(),
        auth_public: serde_json::to_string(&public).map_err(ApiError::internal)?,
        auth_sealed: sealed,
        timeout_ms: i32::try_from(t.timeout_ms.unwrap_or(2000)).unwrap_or(2000),
    })
}

/// The stored target as the API shows it: secret fields are absent.
fn webhook_view(t: &entity::webhook_target::Model) -> Result<WebhookTarget, ApiError> {
    let public: AuthPublic = serde_json::from_str(&t.auth_public).map_err(ApiError::internal)?;
    let auth = match public {
        AuthPublic::None => WebhookAuth::None(NoAuth {
            mode: NoAuthMode::None,
        }),
        AuthPublic::Secret { name, location } => WebhookAuth::Secret(SecretAuth {
            mode: SecretAuthMode::Secret,
            name,
            location: match location {
                SecretLocation::Header => SecretIn::Header,
                SecretLocation::Query => SecretIn::Query,
            },
            value: None,
        }),
        AuthPublic::CustomCa { ca_pem } => WebhookAuth::CustomCa(CustomCaAuth {
            mode: CustomCaAuthMode::CustomCa,
            ca_pem,
        }),
        AuthPublic::Mtls {
            client_cert_pem,
            ca_pem,
        } => WebhookAuth::Mtls(MtlsAuth {
            mode: MtlsAuthMode::Mtls,
            client_cert_pem,
            client_key_pem: None,
            ca_pem,
        }),
        AuthPublic::Oauth2 {
            token_url,
            client_id,
            scopes,
        } => WebhookAuth::Oauth2(OAuth2Auth {
            mode: OAuth2AuthMode::Oauth2,
            token_url,
            client_id,
            client_secret: None,
            scopes,
        }),
    };
    Ok(WebhookTarget {
        url: t.url.clone(),
        auth,
        timeout_ms: u32::try_from(t.timeout_ms).ok(),
        signing_secret: None,
    })
}
