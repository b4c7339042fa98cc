//! The request pipeline's own layers. `api::mod` stacks them in order; each one here
//! does one thing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, Method, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::OperationId;

use crate::error::{self, ApiError, ErrorCode, REQUEST_ID};
use crate::state::SharedState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Outermost: gives the request an id (or keeps a sane one from the caller), makes it
/// available to error bodies, and echoes it on every response.
pub async fn request_id<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let header_value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    let mut resp = REQUEST_ID
        .scope(id, async move {
            next.call(req).await.map(IntoResponse::into_response)
        })
        .await?;
    resp.headers_mut().insert(REQUEST_ID_HEADER, header_value);
    Ok(resp)
}

/// One span per request; a log line when it ends (errors louder than successes).
pub async fn trace<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %error::current_request_id(),
    );
    async move {
        let started = Instant::now();
        let resp = next.call(req).await.map(IntoResponse::into_response)?;
        let status = resp.status().as_u16();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match status {
            500.. => tracing::error!(status, ms, "request failed"),
            400..=499 => tracing::info!(status, ms, "request refused"),
            _ => tracing::debug!(status, ms, "request served"),
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Counts requests and their latency by operation id, method and status.
pub async fn metrics<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    let state = req.data::<SharedState>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.call(req).await.map(IntoResponse::into_response)?;
    if let Some(state) = state {
        let route = resp.data::<OperationId>().map(|op| op.0).unwrap_or("other");
        state.metrics.observe_request(
            route,
            method.as_str(),
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(resp)
}

/// Turns every error into the contract's body, keeping the operation id for metrics.
pub async fn render_errors<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            let op = err.data::<OperationId>().map(|op| op.0);
            let mut resp = error::render(err);
            if let Some(op) = op {
                resp.set_data(OperationId(op));
            }
            Ok(resp)
        }
    }
}

/// Bounds the time spent on one request.
pub async fn timeout<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    let limit = req
        .data::<SharedState>()
        .map(|s| Duration::from_millis(s.config.request_timeout_ms))
        .unwrap_or(Duration::from_secs(10));
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res.map(IntoResponse::into_response),
        Err(_) => Err(
            ApiError::new(ErrorCode::Timeout, "the request took too long; try again")
                .with_retry_after(1)
                .into(),
        ),
    }
}

/// Reads the body up to the configured limit (chunked or not), so no handler ever
/// buffers more; also treats a body without `Content-Type` as JSON, which is what
/// every client of this API sends. An empty body counts too: a bare `curl -X POST`
/// then learns that the body is missing (400-01) rather than a 415 about a type it
/// never sent.
pub async fn body_limit<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let limit = req
        .data::<SharedState>()
        .map(|s| s.config.body_limit_bytes)
        .unwrap_or(64 * 1024);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let bytes = req
            .take_body()
            .into_bytes_limit(limit)
            .await
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(limit),
                other => ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("cannot read the request body: {other}"),
                )
                .into(),
            })?;
        if !req.headers().contains_key(header::CONTENT_TYPE) {
            req.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        req.set_body(Body::from(bytes));
    }
    next.call(req).await.map(IntoResponse::into_response)
}

fn too_large(limit: usize) -> poem::Error {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {limit} bytes"),
    )
    .into()
}
