//! The HTTP surface: the OpenAPI service (one struct per area) and the middleware
//! stack, assembled in one place so the order reads top to bottom.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod console;
pub mod conversations;
pub mod deliveries;
pub mod docs;
pub mod fileexporter;
pub mod health;
pub mod json_body;
pub mod language;
pub mod live;
pub mod middleware;
pub mod rate_limit;
pub mod responses;
mod service_error;
mod sse_pump;
pub mod streaming;
pub mod timestamp;
pub mod wall;

use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, Response, Route};
use poem_openapi::{ExtraHeader, OpenApiService};

use crate::state::SharedState;

pub type Apis = (
    streaming::StreamingApi,
    conversations::ConversationsApi,
    live::LiveApi,
    wall::WallApi,
    fileexporter::FileExporterApi,
    admin::TenantsApi,
    admin::KeysApi,
    admin::SettingsApi,
    admin::EngineApi,
    admin::WebhooksApi,
    audit::AuditApi,
    health::HealthApi,
);

/// The operations, and the webhook deliveries receivers get.
pub type Spec = OpenApiService<Apis, &'static dyn deliveries::Deliveries>;

/// The OpenAPI service; also the source of `openapi/openapi.json`.
pub fn openapi_service(state: SharedState) -> Spec {
    let apis = (
        streaming::StreamingApi {
            state: state.clone(),
        },
        conversations::ConversationsApi {
            state: state.clone(),
        },
        live::LiveApi {
            state: state.clone(),
        },
        wall::WallApi {
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
        .webhooks::<&dyn deliveries::Deliveries>()
        .extra_request_header::<Option<String>, _>(
            ExtraHeader::new(middleware::REQUEST_ID_HEADER).description(
                "Your id for this request (1-128 printable ASCII characters), echoed in the \
                 answer's `x-request-id`, error bodies and logs; one is made when absent or \
                 unusable.",
            ),
        )
        .extra_response_header::<String, _>(
            ExtraHeader::new(middleware::REQUEST_ID_HEADER)
                .description("The request's id, as logged; quote it when reporting a problem."),
        )
}

/// The spec as pretty JSON, exactly as checked in at `openapi/openapi.json` and served.
pub fn spec_json(state: SharedState) -> String {
    complete_spec(&openapi_service(state).spec())
}

/// poem-openapi's document with [`deliveries::written_schemas`] added to its components
/// (in name order, as poem-openapi keeps them), and its `webhooks` named `x-webhooks`:
/// `webhooks` is an OpenAPI 3.1 field, which validators of a 3.0 document (this one, and
/// openapi-generator's) refuse, while an `x-` extension is valid 3.0 that generators skip
/// and Redoc renders; the body's schemas are in the components either way.
fn complete_spec(document: &str) -> String {
    let parsed: serde_json::Value =
        serde_json::from_str(document).expect("poem-openapi writes valid JSON");
    let serde_json::Value::Object(top) = parsed else {
        unreachable!("an OpenAPI document is a JSON object")
    };
    let mut spec: serde_json::Value = top
        .into_iter()
        .map(|(key, value)| match key.as_str() {
            "webhooks" => ("x-webhooks".to_owned(), value),
            _ => (key, value),
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    if let Some(schemas) = spec["components"]["schemas"].as_object_mut() {
        for (name, schema) in deliveries::written_schemas() {
            let schema = serde_json::to_value(schema).expect("a schema is JSON");
            schemas.entry(name).or_insert(schema);
        }
        schemas.sort_keys();
    }
    serde_json::to_string_pretty(&spec).expect("a JSON value serialises")
}

/// The whole app. Requests pass, outermost first:
/// request id → tracing span → metrics → audit → error rendering → timeout → body limit
/// → (per operation) API-key auth → per-key rate limit → JSON body checked against its
/// schema → handler. The audit layer sits outside error rendering so it records the
/// status the caller got.
pub fn app(state: SharedState, audit_log: crate::audit::AuditLog) -> impl Endpoint {
    let api = openapi_service(state.clone());
    let generated = api.spec();
    let spec = complete_spec(&generated);
    // The Swagger UI page inlines poem-openapi's document: it gets the complete one.
    let docs = docs::endpoint(api.swagger_ui_html().replacen(&generated, &spec, 1));
    let spec = make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(spec.clone())
    });
    Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .nest("/console", console::endpoint())
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
