//! The one place a service failure becomes the contract's error: each kind has its code.

use crate::error::{ApiError, ErrorCode, ErrorList, Failure};
use crate::service::error::ServiceError;

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid { field, why } => ApiError::invalid_field(field, &why),
            ServiceError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            e @ ServiceError::AlreadyStreaming(_) => {
                ApiError::new(ErrorCode::AlreadyStreaming, e.to_string())
            }
            ServiceError::NotReady {
                reason,
                retry_after_s,
            } => ApiError::new(ErrorCode::NotReady, reason).with_retry_after(retry_after_s),
            e @ ServiceError::StreamNotUsable(_) => {
                ApiError::new(ErrorCode::StreamNotUsable, e.to_string())
            }
            ServiceError::Database { doing, source } => {
                let cause = format!("database error while {doing}: {source}");
                ApiError::from_database(&source, cause)
            }
            e @ ServiceError::Inconsistent(_) => ApiError::internal(e),
        }
    }
}

impl<L: ErrorList> From<ServiceError> for Failure<L> {
    fn from(err: ServiceError) -> Self {
        ApiError::from(err).into()
    }
}
