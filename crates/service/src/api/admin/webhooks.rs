//! `/admin/v1/tenants/{id}/webhook` and `/deliveries`: the tenant's webhook target as the
//! API shows it (its rules are `service::webhook_targets`) and the delivery log.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::{Enum, Object, OpenApi};

use super::{AdminResult, AdminTag, default_limit};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::{NoContent, Success};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::service::webhook_targets::{Target, TargetRequest};
use crate::state::SharedState;
use crate::webhook::target::{AuthPublic, AuthSecret, SecretLocation};

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
        let target = self
            .state
            .webhook_targets
            .get(&tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("no webhook target set"))?;
        Ok(Success::json(target.into()))
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
        let request = TargetRequest::from(&body.0);
        let saved = self.state.webhook_targets.set(&tenant, &request).await?;
        Ok(Success::json(saved.into()))
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
        if !self.state.webhook_targets.delete(&tenant).await? {
            return Err(ApiError::not_found("no webhook target set").into());
        }
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

impl From<&WebhookTarget> for TargetRequest {
    fn from(t: &WebhookTarget) -> Self {
        let mut secrets = AuthSecret {
            signing_secret: t.signing_secret.clone(),
            ..AuthSecret::default()
        };
        let auth = match &t.auth {
            WebhookAuth::None(_) => AuthPublic::None,
            WebhookAuth::Secret(s) => {
                secrets.token = s.value.clone();
                AuthPublic::Secret {
                    name: s.name.clone(),
                    location: match s.location {
                        SecretIn::Header => SecretLocation::Header,
                        SecretIn::Query => SecretLocation::Query,
                    },
                }
            }
            WebhookAuth::CustomCa(c) => AuthPublic::CustomCa {
                ca_pem: c.ca_pem.clone(),
            },
            WebhookAuth::Mtls(m) => {
                secrets.client_key_pem = m.client_key_pem.clone();
                AuthPublic::Mtls {
                    client_cert_pem: m.client_cert_pem.clone(),
                    ca_pem: m.ca_pem.clone(),
                }
            }
            WebhookAuth::Oauth2(o) => {
                secrets.client_secret = o.client_secret.clone();
                AuthPublic::Oauth2 {
                    token_url: o.token_url.clone(),
                    client_id: o.client_id.clone(),
                    scopes: o.scopes.clone(),
                }
            }
        };
        TargetRequest {
            url: t.url.clone(),
            auth,
            secrets,
            timeout_ms: t.timeout_ms,
        }
    }
}

/// The stored target as the API shows it: secret fields are absent.
impl From<Target> for WebhookTarget {
    fn from(t: Target) -> Self {
        let auth = match t.auth {
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
        WebhookTarget {
            url: t.url,
            auth,
            timeout_ms: t.timeout_ms,
            signing_secret: None,
        }
    }
}
