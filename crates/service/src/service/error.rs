//! What can go wrong in the business rules, in their own terms. The API maps each kind
//! to the contract's error body in one place (`crate::api::service_error`); the lease
//! keeper logs them. A database failure says what the service was doing when it
//! happened.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A value breaks a business rule; `field` is its name in the API's JSON.
    #[error("field `{field}` {why}")]
    Invalid { field: &'static str, why: String },
    /// The caller named something this tenant does not have.
    #[error("{0} not found")]
    NotFound(String),
    /// The conversation is already being read.
    #[error("conversation {0} is already streaming; stop it first")]
    AlreadyStreaming(String),
    /// This replica cannot take the work now; another replica, or a retry, can.
    #[error("{reason}")]
    NotReady { reason: String, retry_after_s: u64 },
    /// KVS will not let the tenant read the stream; the message names KVS's error.
    #[error("KVS stream not usable: {0}")]
    StreamNotUsable(String),
    #[error("database error while {doing}: {source}")]
    Database {
        doing: &'static str,
        #[source]
        source: DbErr,
    },
    /// Stored state that should not exist (a conversation without its streams, ...).
    #[error("{0}")]
    Inconsistent(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Names what the service was doing when the database failed: `.doing("reading the tenant")?`.
pub trait Doing<T> {
    fn doing(self, doing: &'static str) -> ServiceResult<T>;
}

impl<T> Doing<T> for Result<T, DbErr> {
    fn doing(self, doing: &'static str) -> ServiceResult<T> {
        self.map_err(|source| ServiceError::Database { doing, source })
    }
}
