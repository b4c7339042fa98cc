//! `/admin/v1/tenants/{id}/keys` and `/apps`: API keys and the apps whose rate limits
//! they share.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};

use super::{AdminResult, AdminTag};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::{Created, NoContent, Success};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::state::SharedState;
use crate::store::tenants::RateLimit;

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

/// API keys and apps.
pub struct KeysApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl KeysApi {
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
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
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
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
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
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
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
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
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
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
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
}

fn app_view(a: entity::app::Model) -> App {
    App {
        name: a.name,
        rate_per_second: a.rate_per_second.and_then(|v| u32::try_from(v).ok()),
        burst: a.rate_burst.and_then(|v| u32::try_from(v).ok()),
    }
}
