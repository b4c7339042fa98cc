//! Success answers shared by the operations, each with a description for the spec
//! (a bare `Json<T>` answer would be documented with an empty one).

use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
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
