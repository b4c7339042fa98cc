//! `/admin/v1`: tenants, apps, API keys, AWS settings, webhook targets and the
//! delivery log. Guarded by the admin bearer token; secrets go in, never come out.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{Enum, Object, OpenApi, Tags};

use super::auth::AdminAuth;
use super::json_body::JsonBody;
use super::responses::{Created, NoContent, Success};
use crate::api::streaming::RedactionEntity;
use crate::error::{ApiError, Failure, error_list};
use crate::ids::TenantId;
use crate::state::{AppState, SharedState};
use crate::store::tenants::{AwsSettings, RateLimit};
use crate::store::webhooks::TargetRecord;
use crate::webhook::guard::AddressPolicy;
use crate::webhook::target::{self, AuthPublic, AuthSecret, SecretLocation};

#[derive(Tags)]
pub(crate) enum AdminTag {
    /// Operator endpoints (bearer admin token).
    Admin,
}

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateTenantRequest {
    /// Display name, 1–200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Tenant {
    /// The tenant's id, the `{id}` of the admin paths.
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
pub struct TenantList {
    pub items: Vec<Tenant>,
}

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateKeyRequest {
    /// The app the key belongs to; created with default rate limits if new.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub app: String,
}

/// A new key. `key` is shown only here: store it now.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct CreatedKey {
    pub key_id: String,
    /// Send it as the `x-api-key` header.
    pub key: String,
    pub app: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct KeyInfo {
    pub key_id: String,
    pub app: String,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Object)]
pub struct KeyList {
    pub items: Vec<KeyInfo>,
}

/// An app's per-key rate limit; unset fields take the server default.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AppLimits {
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub rate_per_second: Option<u32>,
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub rate_per_second: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Object)]
pub struct AppList {
    pub items: Vec<App>,
}

/// How callscribe reads the tenant's KVS streams. All optional: unset means the
/// server's default AWS credential chain and the region of the stream ARN. Unset fields
/// are left out of answers (the spec types them as strings, not nullable).
#[derive(Debug, Clone, Object, Default)]
#[oai(rename_all = "camelCase", example)]
pub struct TenantAws {
    /// IAM role to assume through STS.
    #[oai(validator(max_length = 2048), skip_serializing_if_is_none)]
    pub role_arn: Option<String>,
    #[oai(validator(max_length = 1224), skip_serializing_if_is_none)]
    pub external_id: Option<String>,
    #[oai(validator(max_length = 64), skip_serializing_if_is_none)]
    pub region: Option<String>,
    /// KVS endpoint override, e.g. `http://127.0.0.1:4567` for `callscribe kvs-emulator`.
    #[oai(validator(max_length = 2048), skip_serializing_if_is_none)]
    pub endpoint_url: Option<String>,
}

/// The entities redacted when start-streaming names none.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct TenantRedaction {
    /// Without a tenant setting: CREDIT_CARD_NUMBER, CVV, PIN, SSN, PASSWORD. An empty
    /// list turns redaction off by default.
    #[oai(validator(max_items = 16))]
    pub entities: Vec<RedactionEntity>,
}

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

mod webhook_auth_schema {
    use std::borrow::Cow;

    use poem_openapi::registry::{MetaDiscriminatorObject, MetaSchema, MetaSchemaRef, Registry};
    use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
    use serde_json::Value;

    use super::*;

    /// (`mode` value, schema name) of each variant, in the spec's order.
    fn variants() -> [(&'static str, Cow<'static, str>); 5] {
        [
            ("none", NoAuth::name()),
            ("secret", SecretAuth::name()),
            ("customCa", CustomCaAuth::name()),
            ("mtls", MtlsAuth::name()),
            ("oauth2", OAuth2Auth::name()),
        ]
    }

    impl Type for WebhookAuth {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn name() -> Cow<'static, str> {
            "WebhookAuth".into()
        }

        fn schema_ref() -> MetaSchemaRef {
            MetaSchemaRef::Reference(Self::name().into_owned())
        }

        fn register(registry: &mut Registry) {
            registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
                NoAuth::register(registry);
                SecretAuth::register(registry);
                CustomCaAuth::register(registry);
                MtlsAuth::register(registry);
                OAuth2Auth::register(registry);
                MetaSchema {
                    description: Some(
                        "How the target authenticates callscribe's POSTs; `mode` says which.",
                    ),
                    one_of: variants()
                        .iter()
                        .map(|(_, name)| MetaSchemaRef::Reference(name.to_string()))
                        .collect(),
                    discriminator: Some(MetaDiscriminatorObject {
                        property_name: "mode",
                        mapping: variants()
                            .iter()
                            .map(|(mode, name)| {
                                (mode.to_string(), format!("#/components/schemas/{name}"))
                            })
                            .collect(),
                    }),
                    ..MetaSchema::new("object")
                }
            });
        }

        fn as_raw_value(&self) -> Option<&Self> {
            Some(self)
        }

        fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    }

    impl ParseFromJSON for WebhookAuth {
        fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
            let value = value.unwrap_or_default();
            let mode = value
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let some = Some(value.clone());
            match mode {
                "none" => NoAuth::parse_from_json(some)
                    .map(Self::None)
                    .map_err(ParseError::propagate),
                "secret" => SecretAuth::parse_from_json(some)
                    .map(Self::Secret)
                    .map_err(ParseError::propagate),
                "customCa" => CustomCaAuth::parse_from_json(some)
                    .map(Self::CustomCa)
                    .map_err(ParseError::propagate),
                "mtls" => MtlsAuth::parse_from_json(some)
                    .map(Self::Mtls)
                    .map_err(ParseError::propagate),
                "oauth2" => OAuth2Auth::parse_from_json(some)
                    .map(Self::Oauth2)
                    .map_err(ParseError::propagate),
                _ => Err(ParseError::expected_type(value.clone())),
            }
        }
    }

    impl ToJSON for WebhookAuth {
        fn to_json(&self) -> Option<Value> {
            match self {
                Self::None(a) => a.to_json(),
                Self::Secret(a) => a.to_json(),
                Self::CustomCa(a) => a.to_json(),
                Self::Mtls(a) => a.to_json(),
                Self::Oauth2(a) => a.to_json(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        use super::*;

        #[test]
        fn every_mode_reads_and_writes_the_contract_json() {
            for body in [
                json!({"mode": "none"}),
                json!({"mode": "secret", "name": "x-token", "in": "query"}),
                json!({"mode": "customCa", "caPem": "PEM"}),
                json!({"mode": "mtls", "clientCertPem": "PEM"}),
                json!({"mode": "oauth2", "tokenUrl": "https://t.example", "clientId": "c", "scopes": []}),
            ] {
                let auth = WebhookAuth::parse_from_json(Some(body.clone())).expect("parses");
                assert_eq!(auth.to_json(), Some(body));
            }
            for bad in [
                json!({"mode": "pigeon"}),
                json!({}),
                json!({"mode": "secret"}),
            ] {
                assert!(WebhookAuth::parse_from_json(Some(bad)).is_err());
            }
        }
    }
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

impl poem_openapi::types::Example for CreateTenantRequest {
    fn example() -> Self {
        CreateTenantRequest {
            name: "Acme Insurance".into(),
        }
    }
}

impl poem_openapi::types::Example for Tenant {
    fn example() -> Self {
        Tenant {
            id: "0193a3f2-1b7c-7e55-8d0e-5c1a9b2f3e40".into(),
            name: "Acme Insurance".into(),
            created_at: "2026-11-23T09:00:00Z".parse().unwrap_or_default(),
        }
    }
}

impl poem_openapi::types::Example for CreateKeyRequest {
    fn example() -> Self {
        CreateKeyRequest {
            app: "connect-lambda".into(),
        }
    }
}

impl poem_openapi::types::Example for CreatedKey {
    fn example() -> Self {
        CreatedKey {
            key_id: "3f9c2a71d4e8b605".into(),
            key: "cs_3f9c2a71d4e8b605_Qm9vdHN0cmFwLWV4YW1wbGUta2V5LW5vdC1yZWFs".into(),
            app: "connect-lambda".into(),
        }
    }
}

impl poem_openapi::types::Example for TenantAws {
    fn example() -> Self {
        TenantAws {
            role_arn: Some("arn:aws:iam::145051540001:role/callscribe-kvs-reader".into()),
            external_id: Some("7d1f0c5e-acme".into()),
            region: None,
            endpoint_url: None,
        }
    }
}

impl poem_openapi::types::Example for TenantRedaction {
    fn example() -> Self {
        TenantRedaction {
            entities: vec![
                RedactionEntity::CreditCardNumber,
                RedactionEntity::Cvv,
                RedactionEntity::Pin,
                RedactionEntity::Ssn,
                RedactionEntity::Password,
            ],
        }
    }
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

error_list!(AdminErrors: 400, 401, 413, 415, 500);
error_list!(AdminTenantErrors: 400, 401, 404, 413, 415, 500);

type AdminResult<T> = Result<T, Failure<AdminTenantErrors>>;

pub struct AdminApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl AdminApi {
    /// Create a tenant
    ///
    /// A tenant owns its conversations, API keys, webhook target and AWS settings;
    /// nothing of one tenant is visible to another.
    #[oai(path = "/tenants", method = "post", operation_id = "createTenant")]
    async fn create_tenant(
        &self,
        _auth: AdminAuth,
        body: JsonBody<CreateTenantRequest>,
    ) -> Result<Created<Tenant>, Failure<AdminErrors>> {
        let t = self.state.store.create_tenant(body.name.trim()).await?;
        crate::audit::note_target("tenant", &t.id);
        Ok(Created::json(Tenant {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }))
    }

    /// List tenants
    ///
    /// Every tenant of this installation, oldest first.
    #[oai(path = "/tenants", method = "get", operation_id = "listTenants")]
    async fn list_tenants(
        &self,
        _auth: AdminAuth,
    ) -> Result<Success<TenantList>, Failure<AdminErrors>> {
        let items = self.state.store.list_tenants().await?;
        let items = items
            .into_iter()
            .map(|t| Tenant {
                id: t.id,
                name: t.name,
                created_at: t.created_at,
            })
            .collect();
        Ok(Success::json(TenantList { items }))
    }

    /// Get a tenant
    ///
    /// The tenant's id, name and creation time; 404-01 for an unknown id.
    #[oai(path = "/tenants/:id", method = "get", operation_id = "getTenant")]
    async fn get_tenant(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<Success<Tenant>> {
        let t = self.tenant(&id).await?;
        Ok(Success::json(Tenant {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }))
    }

    /// Create an API key
    ///
    /// The full key (`cs_<keyId>_<secret>`) is in this answer only; callscribe keeps
    /// just its SHA-256.
    #[oai(
        path = "/tenants/:id/keys",
        method = "post",
        operation_id = "createApiKey"
    )]
    async fn create_key(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<CreateKeyRequest>,
    ) -> AdminResult<Created<CreatedKey>> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        let app = body.app.trim();
        let issued = self.state.store.create_key(&tenant, app).await?;
        crate::audit::note_target("key", &issued.key_id.0);
        Ok(Created::json(CreatedKey {
            key_id: issued.key_id.0,
            key: issued.key,
            app: app.to_owned(),
        }))
    }

    /// List API keys
    ///
    /// The tenant's keys with their app and revocation time. Secrets are never listed:
    /// callscribe does not have them.
    #[oai(
        path = "/tenants/:id/keys",
        method = "get",
        operation_id = "listApiKeys"
    )]
    async fn list_keys(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<Success<KeyList>> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        let items = self.state.store.list_keys(&tenant).await?;
        let items = items
            .into_iter()
            .map(|k| KeyInfo {
                key_id: k.key_id.0,
                app: k.app,
                created_at: k.created_at,
                revoked_at: k.revoked_at,
            })
            .collect();
        Ok(Success::json(KeyList { items }))
    }

    /// Revoke an API key
    ///
    /// The key stops working at once. Revoking a revoked key succeeds.
    #[oai(
        path = "/tenants/:id/keys/:keyId",
        method = "delete",
        operation_id = "revokeApiKey"
    )]
    async fn revoke_key(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        /// The `keyId` from `createApiKey` or `listApiKeys`.
        #[oai(name = "keyId")]
        key_id: Path<String>,
    ) -> AdminResult<NoContent> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        if !self.state.store.revoke_key(&tenant, &key_id).await? {
            return Err(ApiError::not_found(format!("key {} not found", key_id.0)).into());
        }
        Ok(NoContent::NoContent)
    }

    /// List apps and their rate limits
    ///
    /// An app groups keys that share a rate limit; unset limits take the server default.
    #[oai(path = "/tenants/:id/apps", method = "get", operation_id = "listApps")]
    async fn list_apps(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<Success<AppList>> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        let items = self
            .state
            .store
            .list_apps(&tenant)
            .await?
            .into_iter()
            .map(app_view)
            .collect();
        Ok(Success::json(AppList { items }))
    }

    /// Set an app's rate limit
    ///
    /// Creates the app if it does not exist. Applies to each of the app's keys.
    #[oai(
        path = "/tenants/:id/apps/:app",
        method = "put",
        operation_id = "putApp"
    )]
    async fn put_app(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        app: Path<String>,
        body: JsonBody<AppLimits>,
    ) -> AdminResult<Success<App>> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        if app.trim().is_empty() || app.len() > 100 {
            return Err(ApiError::invalid_field("app", "must be 1-100 characters").into());
        }
        let limit = RateLimit {
            per_second: body.rate_per_second,
            burst: body.burst,
        };
        let saved = self
            .state
            .store
            .set_app_limit(&tenant, app.trim(), limit)
            .await?;
        Ok(Success::json(app_view(saved)))
    }

    /// Get the tenant's AWS settings
    ///
    /// The role, external id, region and endpoint override used to read the tenant's
    /// Kinesis Video streams.
    #[oai(
        path = "/tenants/:id/aws",
        method = "get",
        operation_id = "getTenantAws"
    )]
    async fn get_aws(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<Success<TenantAws>> {
        let t = self.tenant(&id).await?;
        Ok(Success::json(aws_view(AwsSettings::from(&t))))
    }

    /// Get the tenant's default redaction entities
    ///
    /// The entities redacted when a start-streaming request names none: the tenant's
    /// setting, or the built-in defaults.
    #[oai(
        path = "/tenants/:id/redaction",
        method = "get",
        operation_id = "getTenantRedaction"
    )]
    async fn get_redaction(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> AdminResult<Success<TenantRedaction>> {
        let t = self.tenant(&id).await?;
        Ok(Success::json(redaction_view(&t)))
    }

    /// Set the tenant's default redaction entities
    ///
    /// Used for every conversation whose start-streaming request has no
    /// `redactionEntities`; conversations already running keep their settings.
    #[oai(
        path = "/tenants/:id/redaction",
        method = "put",
        operation_id = "putTenantRedaction"
    )]
    async fn put_redaction(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<TenantRedaction>,
    ) -> AdminResult<Success<TenantRedaction>> {
        let tenant = TenantId(self.tenant(&id).await?.id);
        let mut names: Vec<String> = body.0.entities.iter().map(super::wire_name).collect();
        names.sort();
        names.dedup();
        let saved = self
            .state
            .store
            .set_redaction_defaults(&tenant, Some(&names))
            .await?
            .ok_or_else(|| ApiError::not_found("no such tenant"))?;
        Ok(Success::json(redaction_view(&saved)))
    }

    /// Set the tenant's AWS settings
    ///
    /// The IAM role callscribe assumes (with the external id) to read the tenant's
    /// Kinesis Video streams, and an optional endpoint override.
    #[oai(
        path = "/tenants/:id/aws",
        method = "put",
        operation_id = "putTenantAws"
    )]
    async fn put_aws(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<TenantAws>,
    ) -> AdminResult<Success<TenantAws>> {
        let body = body.0;
        if let Some(url) = &body.endpoint_url {
            check_url("endpointUrl", url, false)?;
        }
        if body
            .role_arn
            .as_deref()
            .is_some_and(|a| !a.starts_with("arn:") || !a.contains(":role/"))
        {
            return Err(ApiError::invalid_field(
                "roleArn",
                "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            )
            .into());
        }
        let settings = AwsSettings {
            role_arn: nonempty(body.role_arn),
            external_id: nonempty(body.external_id),
            region: nonempty(body.region),
            endpoint_url: nonempty(body.endpoint_url),
        };
        let tenant = TenantId(self.tenant(&id).await?.id);
        let saved = self
            .state
            .store
            .set_aws(&tenant, &settings)
            .await?
            .ok_or_else(|| tenant_not_found(&id))?;
        Ok(Success::json(aws_view(AwsSettings::from(&saved))))
    }

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
        let tenant = TenantId(self.tenant(&id).await?.id);
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
        let tenant = TenantId(self.tenant(&id).await?.id);
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
        let tenant = TenantId(self.tenant(&id).await?.id);
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
        let tenant = TenantId(self.tenant(&id).await?.id);
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

impl AdminApi {
    async fn tenant(&self, id: &str) -> Result<entity::tenant::Model, ApiError> {
        self.state
            .store
            .tenant(&TenantId(id.to_owned()))
            .await?
            .ok_or_else(|| tenant_not_found(id))
    }
}

fn default_limit() -> u64 {
    100
}

fn tenant_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("tenant {} not found", super::echo(id)))
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn app_view(a: entity::app::Model) -> App {
    App {
        name: a.name,
        rate_per_second: a.rate_per_second.and_then(|v| u32::try_from(v).ok()),
        burst: a.rate_burst.and_then(|v| u32::try_from(v).ok()),
    }
}

fn aws_view(a: AwsSettings) -> TenantAws {
    TenantAws {
        role_arn: a.role_arn,
        external_id: a.external_id,
        region: a.region,
        endpoint_url: a.endpoint_url,
    }
}

/// An absolute http(s) URL; `https_only` for modes that exist to secure the transport.
fn check_url(field: &str, url: &str, https_only: bool) -> Result<(), ApiError> {
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

/// The tenant's effective default entities.
fn redaction_view(t: &entity::tenant::Model) -> TenantRedaction {
    let names = crate::redact::tenant_defaults(t.redaction_entities.as_deref());
    TenantRedaction {
        entities: names
            .iter()
            .filter_map(|n| {
                RedactionEntity::parse_from_json(Some(serde_json::Value::from(n.as_str()))).ok()
            })
            .collect(),
    }
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
