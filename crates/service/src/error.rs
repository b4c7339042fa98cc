//! The contract's error body, and the one place every failure becomes it.
//!
//! Handlers return [`ApiError`]; extractor and middleware failures from poem and
//! poem-openapi arrive as plain `poem::Error`s and are mapped by [`render`], so a
//! client sees `{"error": {"requestId", "code", "message"}}` whatever went wrong.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};

tokio::task_local! {
    /// The id of the request being served, set by the outermost middleware.
    pub static REQUEST_ID: String;
}

/// The id of the request this task is serving ("-" outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, in a form a program can branch on (`code`) and a person can read.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// The request's id, also sent as the `x-request-id` header: quote it in support requests.
    pub request_id: String,
    /// `<status>-<nn>`, stable across releases (see docs/integration-guide.md, Errors).
    pub code: String,
    /// Human-readable explanation; validation errors name the field.
    pub message: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            error: ErrorDetail {
                request_id: "0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d21".into(),
                code: "404-01".into(),
                message: "conversation 8c259fea-8764-4a92-adc4-73572e9cf016 not found".into(),
            },
        }
    }
}

/// Every error code the service answers with. The string is the wire `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnsupportedNamespace,
    UnsupportedLanguage,
    Unauthorized,
    LinkRefused,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    AlreadyStreaming,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    StreamNotUsable,
    RateLimited,
    Internal,
    NotReady,
    Timeout,
}

impl ErrorCode {
    /// The wire code and HTTP status of this error.
    pub fn parts(self) -> (&'static str, StatusCode) {
        use ErrorCode::*;
        match self {
            InvalidRequest => ("400-01", StatusCode::BAD_REQUEST),
            UnsupportedNamespace => ("400-02", StatusCode::BAD_REQUEST),
            UnsupportedLanguage => ("400-03", StatusCode::BAD_REQUEST),
            Unauthorized => ("401-01", StatusCode::UNAUTHORIZED),
            LinkRefused => ("403-01", StatusCode::FORBIDDEN),
            NotFound => ("404-01", StatusCode::NOT_FOUND),
            RouteNotFound => ("404-02", StatusCode::NOT_FOUND),
            MethodNotAllowed => ("405-01", StatusCode::METHOD_NOT_ALLOWED),
            AlreadyStreaming => ("409-01", StatusCode::CONFLICT),
            Conflict => ("409-02", StatusCode::CONFLICT),
            PayloadTooLarge => ("413-01", StatusCode::PAYLOAD_TOO_LARGE),
            UnsupportedMediaType => ("415-01", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            StreamNotUsable => ("422-01", StatusCode::UNPROCESSABLE_ENTITY),
            RateLimited => ("429-01", StatusCode::TOO_MANY_REQUESTS),
            Internal => ("500-01", StatusCode::INTERNAL_SERVER_ERROR),
            NotReady => ("503-01", StatusCode::SERVICE_UNAVAILABLE),
            Timeout => ("503-02", StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

/// A failure to report to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
    /// What really happened, for the log only: an internal or overload error's cause is logged once,
    /// when its response is built, and never shown to the client.
    cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// A field failed validation; the message names it.
    pub fn invalid_field(field: &str, why: &str) -> Self {
        Self::new(ErrorCode::InvalidRequest, format!("field `{field}` {why}"))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, what)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "missing, invalid or revoked API key",
        )
    }

    /// An internal failure: its cause is logged when the response is built, and the
    /// client is told only to quote the request id.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            ErrorCode::Internal,
            "internal error; quote the requestId when reporting it",
        );
        error.cause = Some(err.to_string());
        error
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.parts().1
    }

    /// The contract's body for this error, stamped with the current request id.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                request_id: current_request_id(),
                code: self.code.parts().0.to_owned(),
                message: self.message.clone(),
            },
        }
    }

    /// The response; every error answered passes here, so an internal error's cause is
    /// logged here, once, with the request id in the span.
    pub fn into_http_response(self) -> Response {
        use poem_openapi::types::ToJSON;
        match (&self.cause, self.code) {
            (Some(cause), ErrorCode::Internal) => {
                tracing::error!(error = %cause, code = self.code.parts().0, "internal error");
            }
            (Some(cause), _) => {
                tracing::warn!(error = %cause, code = self.code.parts().0, "refused under load");
            }
            (None, _) => {}
        }
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/json; charset=utf-8")
            .body(self.body().to_json_string());
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.clone().into_http_response()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        let cause = err.to_string();
        ApiError::from_database(&err, cause)
    }
}

impl ApiError {
    /// A database failure: 503-02 with `Retry-After` when the database was only too busy
    /// to answer in time (see [`is_overloaded`]), else 500-01.
    /// `cause` is what the log shows.
    pub fn from_database(err: &sea_orm::DbErr, cause: String) -> Self {
        if is_overloaded(err) {
            let mut busy = ApiError::new(ErrorCode::Timeout, "the database is busy; try again")
                .with_retry_after(1);
            busy.cause = Some(cause);
            return busy;
        }
        ApiError::internal(cause)
    }
}

/// True when the database could not take the request in time rather than failed it:
/// no pooled connection came free within the pool's wait, or SQLite stayed busy (another
/// writer held the lock) past its busy timeout. That is overload, and a retry can succeed.
pub fn is_overloaded(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
    const SQLITE_BUSY: i64 = 5;
    let sqlx = match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        sqlx::Error::PoolTimedOut => true,
        // SQLite's extended busy codes keep the primary code in their low byte.
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| {
                code & 0xff == SQLITE_BUSY
                    && db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
            }),
        _ => false,
    }
}

/// Maps any error that reached the top of the stack to the contract's body.
pub fn render(err: poem::Error) -> Response {
    to_api_error(err).into_http_response()
}

fn to_api_error(err: poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.is::<AuthorizationError>() {
        return ApiError::unauthorized();
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::new(ErrorCode::InvalidRequest, describe_payload_error(&e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return ApiError::invalid_field(e.name, &format!("is invalid: {}", e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return ApiError::invalid_field(e.name, &format!("is invalid: {}", e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return ApiError::new(ErrorCode::InvalidRequest, e.reason.clone());
    }
    if err.is::<ContentTypeError>() {
        return ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the request body as JSON with `Content-Type: application/json`",
        );
    }
    match err.status() {
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::RouteNotFound, "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
        }
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
        s if s.is_client_error() => ApiError::new(ErrorCode::InvalidRequest, "invalid request"),
        _ => ApiError::internal(err),
    }
}

/// poem-openapi's payload messages end in "(occurred while parsing \"TypeName\")" chains
/// that name Rust types; keep only the reason. (Usually `api::diagnose` has already
/// replaced the message with one naming the field.)
fn describe_payload_error(reason: &str) -> String {
    let reason = reason
        .split(" (occurred while parsing")
        .next()
        .unwrap_or("")
        .trim();
    if reason.is_empty() {
        return "invalid request body".to_owned();
    }
    format!("invalid request body: {reason}")
}

/// The error statuses one operation can answer, listed in the spec with their meaning.
pub trait ErrorList: Send + Sync + 'static {
    const STATUSES: &'static [(u16, &'static str)];
}

/// A handler's error: renders as [`ErrorBody`], and documents the statuses of `L` in the spec.
pub struct Failure<L: ErrorList>(pub ApiError, std::marker::PhantomData<L>);

impl<L: ErrorList> From<ApiError> for Failure<L> {
    fn from(err: ApiError) -> Self {
        Failure(err, std::marker::PhantomData)
    }
}

impl<L: ErrorList> From<sea_orm::DbErr> for Failure<L> {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

impl<L: ErrorList> From<Failure<L>> for poem::Error {
    fn from(f: Failure<L>) -> Self {
        poem::Error::from(f.0)
    }
}

impl<L: ErrorList> poem_openapi::ApiResponse for Failure<L> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse};
        use poem_openapi::types::Type;
        let responses = L::STATUSES
            .iter()
            .map(|&(status, description)| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: ErrorBody::schema_ref(),
                }],
                headers: if status == 429 || status == 503 {
                    vec![MetaHeader {
                        name: "retry-after".into(),
                        description: Some("Seconds to wait before trying again.".into()),
                        required: false,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }]
                } else {
                    vec![]
                },
            })
            .collect();
        poem_openapi::registry::MetaResponses { responses }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        use poem_openapi::types::Type;
        ErrorBody::register(registry);
    }
}

impl<L: ErrorList> IntoResponse for Failure<L> {
    fn into_response(self) -> Response {
        self.0.into_http_response()
    }
}

/// Declares an operation's error list: `error_list!(StartErrors: 400, 401, 429);`
/// Each status gets the shared description below, so the spec reads the same everywhere.
macro_rules! error_list {
    ($name:ident: $($status:literal),+ $(,)?) => {
        pub struct $name;
        impl $crate::error::ErrorList for $name {
            const STATUSES: &'static [(u16, &'static str)] =
                &[$(($status, $crate::error::status_description($status))),+];
        }
    };
}
pub(crate) use error_list;

/// The spec's wording for each error status, with the codes it carries.
pub const fn status_description(status: u16) -> &'static str {
    match status {
        400 => {
            "`400-01` invalid JSON or field (the message names it), `400-02` unsupported namespace, `400-03` unsupported language."
        }
        401 => "`401-01` the `x-api-key` (or admin bearer token) is missing, invalid or revoked.",
        403 => "`403-01` the link is invalid or has expired; ask `getfeedfile` for a new one.",
        404 => "`404-01` no such conversation (or resource) for this tenant.",
        409 => {
            "`409-01` the conversation is already streaming; `409-02` the resource already exists."
        }
        413 => "`413-01` the request body is over the configured limit.",
        415 => "`415-01` the body is not JSON.",
        422 => "`422-01` the KVS stream cannot be read; the message names the KVS error.",
        429 => "`429-01` this key's rate limit is exceeded; retry after `Retry-After` seconds.",
        500 => "`500-01` internal error; quote the requestId.",
        503 => {
            "`503-01` the service is not ready or is shutting down; `503-02` the request timed out."
        }
        _ => "Error.",
    }
}

#[cfg(test)]
mod overload_tests {
    use std::time::Duration;

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};

    use super::*;

    async fn sqlite(path: &std::path::Path, connections: u32) -> sea_orm::DatabaseConnection {
        let mut opts = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
        opts.max_connections(connections)
            .acquire_timeout(Duration::from_millis(200))
            .sqlx_logging(false);
        opts.map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::ZERO));
        Database::connect(opts).await.unwrap()
    }

    #[tokio::test]
    async fn a_full_pool_and_a_locked_sqlite_are_overload_and_a_bad_query_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir.path().join("a.db"), 1).await;
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();

        let holding = db.begin().await.unwrap();
        let waited = db.execute_unprepared("SELECT 1").await.unwrap_err();
        assert!(is_overloaded(&waited), "{waited}");
        let answer = ApiError::from(waited);
        assert_eq!(
            (answer.code, answer.retry_after),
            (ErrorCode::Timeout, Some(1))
        );
        holding.rollback().await.unwrap();

        let other = sqlite(&dir.path().join("a.db"), 1).await;
        let writer = db.begin().await.unwrap();
        writer
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let locked = other
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(is_overloaded(&locked), "{locked}");
        writer.commit().await.unwrap();

        let bad = db
            .execute_unprepared("SELECT FROM nowhere")
            .await
            .unwrap_err();
        assert!(!is_overloaded(&bad), "{bad}");
        assert_eq!(ApiError::from(bad).code, ErrorCode::Internal);
    }
}
