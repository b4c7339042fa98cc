//! The HTTP surface: the OpenAPI service (one struct per area) and the middleware
//! stack, assembled in one place so the order reads top to bottom.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod conversations;
pub mod docs;
pub mod fileexporter;
pub mod health;
pub mod json_body;
pub mod middleware;
pub mod rate_limit;
pub mod responses;
mod service_error;
pub mod streaming;
pub mod timestamp;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::state::SharedState;

pub type Apis = (
    streaming::StreamingApi,
    conversations::ConversationsApi,
    fileexporter::FileExporterApi,
    admin::TenantsApi,
    admin::KeysApi,
    admin::SettingsApi,
    admin::EngineApi,
    admin::WebhooksApi,
    audit::AuditApi,
    health::HealthApi,
);

/// The OpenAPI service; also the source of `openapi/openapi.json`.
pub fn openapi_service(state: SharedState) -> OpenApiService<Apis, ()> {
    let apis = (
        streaming::StreamingApi {
            state: state.clone(),
        },
        conversations::ConversationsApi {
            state: state.clone(),
        },
        fileexporter::FileExporterApi {
            state: state.clone(),
        },
        admin::TenantsApi {
            state: state.clone(),
        },
        admin::KeysApi {
            state: state.clone(),
        },
        admin::SettingsApi {
            state: state.clone(),
        },
        admin::EngineApi {
            state: state.clone(),
        },
        admin::WebhooksApi {
            state: state.clone(),
        },
        audit::AuditApi {
            state: state.clone(),
        },
        health::HealthApi { state },
    );
    OpenApiService::new(apis, "callscribe", env!("CARGO_PKG_VERSION"))
        .description(include_str!("api_description.md"))
        .license(poem_openapi::LicenseObject::new("Apache-2.0"))
}

/// The spec as pretty JSON, exactly as checked in at `openapi/openapi.json`.
pub fn spec_json(state: SharedState) -> String {
    openapi_service(state).spec()
}

/// The whole app. Requests pass, outermost first:
/// request id → tracing span → metrics → audit → error rendering → timeout → body limit
/// → (per operation) API-key auth → per-key rate limit → JSON body checked against its
/// schema → handler. The audit layer sits outside error rendering so it records the
/// status the caller got.
pub fn app(state: SharedState, audit_log: crate::audit::AuditLog) -> impl Endpoint {
    let api = openapi_service(state.clone());
    let docs = docs::endpoint(api.swagger_ui_html());
    let spec = api.spec_endpoint();
    Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .around(middleware::body_limit)
        .around(middleware::timeout)
        .around(middleware::render_errors)
        .around(audit::record)
        .around(middleware::metrics)
        .around(middleware::trace)
        .around(middleware::request_id)
        .data(state)
        .data(audit_log)
}

/// The wire spelling of a poem-openapi enum value (what the client sent).
pub(crate) fn wire_name<T: poem_openapi::types::ToJSON>(value: &T) -> String {
    value
        .to_json()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Echoes at most 64 characters of a caller's value in an error message.
pub(crate) fn echo(value: &str) -> String {
    value.chars().take(64).collect()
}
