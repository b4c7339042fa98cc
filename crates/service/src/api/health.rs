//! Liveness, readiness and Prometheus metrics: no key needed.

use poem_openapi::payload::PlainText;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

use super::responses::Success;
use crate::error::{ApiError, ErrorCode, Failure, error_list};
use crate::state::SharedState;

#[derive(Tags)]
enum OpsTag {
    /// Probes and metrics for operators and orchestrators.
    Operations,
}

/// Result of a probe.
#[derive(Debug, Clone, Object)]
pub struct Health {
    pub status: HealthStatus,
}

/// What a probe found: `live` from the liveness probe, `ready` from the readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum HealthStatus {
    Live,
    Ready,
}

#[derive(ApiResponse)]
enum MetricsResponse {
    /// Prometheus text exposition format.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4")]
    Ok(PlainText<String>),
}

error_list!(ReadyErrors: 503);

pub struct HealthApi {
    pub state: SharedState,
}

#[OpenApi(tag = "OpsTag::Operations")]
impl HealthApi {
    /// Liveness probe
    ///
    /// 200 while the process serves HTTP.
    #[oai(path = "/health/live", method = "get", operation_id = "healthLive")]
    async fn live(&self) -> Success<Health> {
        Success::json(Health {
            status: HealthStatus::Live,
        })
    }

    /// Readiness probe
    ///
    /// 200 when the database answers and the service is not shutting down; 503-01
    /// naming what is not ready otherwise.
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady")]
    async fn ready(&self) -> Result<Success<Health>, Failure<ReadyErrors>> {
        if self.state.is_draining() {
            return Err(not_ready("shutting down").into());
        }
        if let Err(e) = self.state.store.ping().await {
            tracing::warn!(error = %e, "readiness: database unreachable");
            return Err(not_ready("database unreachable").into());
        }
        Ok(Success::json(Health {
            status: HealthStatus::Ready,
        }))
    }

    /// Prometheus metrics
    ///
    /// Request counts and latency histograms by operation, method and status.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self) -> MetricsResponse {
        MetricsResponse::Ok(PlainText(self.state.metrics.render()))
    }
}

fn not_ready(why: &str) -> ApiError {
    ApiError::new(ErrorCode::NotReady, format!("not ready: {why}")).with_retry_after(1)
}
