//! `/admin/v1`: tenants, apps, API keys, AWS settings, speech engine, webhook targets and
//! the delivery log, one file per resource. Guarded by the admin bearer token; secrets go in,
//! never come out.

mod engine;
mod keys;
mod settings;
mod tenants;
mod webhook_auth_schema;
mod webhooks;

use poem_openapi::Tags;

pub use self::engine::*;
pub use self::keys::*;
pub use self::settings::*;
pub use self::tenants::*;
pub use self::webhooks::*;
use crate::error::{ApiError, Failure, error_list};
use crate::ids::TenantId;
use crate::state::AppState;

#[derive(Tags)]
pub(crate) enum AdminTag {
    /// Operator endpoints (bearer admin token).
    Admin,
}

error_list!(AdminErrors: 400, 401, 413, 415, 500, 503);
error_list!(AdminTenantErrors: 400, 401, 404, 413, 415, 500, 503);

type AdminResult<T> = Result<T, Failure<AdminTenantErrors>>;

/// The tenant named by the path, or 404-01.
async fn existing_tenant(state: &AppState, id: &str) -> Result<entity::tenant::Model, ApiError> {
    state
        .store
        .tenant(&TenantId(id.to_owned()))
        .await?
        .ok_or_else(|| tenant_not_found(id))
}

fn default_limit() -> u64 {
    100
}

fn tenant_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("tenant {} not found", crate::api::echo(id)))
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}
