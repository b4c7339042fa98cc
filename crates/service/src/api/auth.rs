//! The two security schemes: `x-api-key` for the public API (then the per-key rate
//! limit) and a bearer admin token for `/admin/v1`.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::error::{ApiError, ErrorCode};
use crate::state::SharedState;
use crate::store::keys::AuthedKey;

/// An API key `cs_<keyId>_<secret>` issued through the admin API or `callscribe admin`.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "api_key",
    key_name = "x-api-key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct ApiKeyAuth(pub AuthedKey);

/// The admin token configured as `CALLSCRIBE_ADMIN_TOKEN`.
#[derive(SecurityScheme)]
#[oai(rename = "AdminToken", ty = "bearer", checker = "check_admin_token")]
pub struct AdminAuth(pub ());

fn state(req: &Request) -> poem::Result<&SharedState> {
    req.data::<SharedState>()
        .ok_or_else(|| ApiError::internal("state missing from request").into())
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<AuthedKey> {
    let state = state(req)?;
    let authed = state
        .store
        .authenticate(&key.key)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(ApiError::unauthorized)?;
    crate::audit::note_key(&authed.key_id.0, &authed.tenant_id.0);
    state
        .limiters
        .check(&authed.key_id, authed.limit)
        .map_err(|wait| {
            ApiError::new(
                ErrorCode::RateLimited,
                "rate limit exceeded for this API key",
            )
            .with_retry_after(wait)
        })?;
    Ok(authed)
}

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let state = state(req)?;
    let Some(expected) = &state.config.admin_token else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "the admin API is disabled: set CALLSCRIBE_ADMIN_TOKEN to enable it",
        )
        .into());
    };
    // Constant time in the token's contents and length (see `secrets_equal`).
    if crate::secrets::secrets_equal(bearer.token.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthorized, "invalid admin token").into())
    }
}
