//! Success answers shared by the operations, each with a description for the spec
//! (a bare `Json<T>` answer would be documented with an empty one).

use std::marker::PhantomData;

use bytes::Bytes;
use poem::IntoResponse;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::ToJSON;

/// 200 with a JSON body.
#[derive(ApiResponse)]
pub enum Success<T: ToJSON + Send + Sync> {
    /// The request succeeded.
    #[oai(status = 200)]
    Ok(Json<T>),
}

impl<T: ToJSON + Send + Sync> Success<T> {
    pub fn json(value: T) -> Self {
        Success::Ok(Json(value))
    }
}

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

impl<T: ToJSON + Send + Sync> Created<T> {
    pub fn json(value: T) -> Self {
        Created::Created(Json(value))
    }
}

/// 204 without a body.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// 200 with JSON rendered earlier (see `service::transcript_cache`), documented in the
/// spec as `T`.
pub struct RenderedJson<T>(pub Bytes, PhantomData<T>);

impl<T: ToJSON> RenderedJson<T> {
    /// Renders `value` once; the bytes can be cached and served again.
    pub fn render(value: &T) -> Bytes {
        Bytes::from(value.to_json_string())
    }

    pub fn new(body: Bytes) -> Self {
        RenderedJson(body, PhantomData)
    }
}

impl<T: ToJSON + Send + Sync> IntoResponse for RenderedJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.0)
    }
}

impl<T: ToJSON + Send + Sync> ApiResponse for RenderedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The request succeeded.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
