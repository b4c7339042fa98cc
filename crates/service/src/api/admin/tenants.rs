//! `/admin/v1/tenants`: create, list and read tenants.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};

use super::{AdminErrors, AdminResult, AdminTag};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::{Created, Success};
use crate::error::Failure;
use crate::state::SharedState;

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

/// Tenants.
pub struct TenantsApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl TenantsApi {
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
        let t = super::existing_tenant(&self.state, &id).await?;
        Ok(Success::json(Tenant {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }))
    }
}
