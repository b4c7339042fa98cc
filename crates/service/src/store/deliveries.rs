//! The webhook delivery log: one row per failed or dropped delivery.

use chrono::{DateTime, Utc};
use entity::delivery;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::Store;
use crate::ids::{MessageId, TenantId};

/// One failed delivery, as the publisher reports it.
#[derive(Debug, Clone)]
pub struct DeliveryFailure {
    pub tenant_id: TenantId,
    pub message_id: MessageId,
    pub at: DateTime<Utc>,
    /// failed | timeout | dropped
    pub outcome: &'static str,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: Option<i64>,
}

impl Store {
    pub async fn record_delivery_failure(&self, f: &DeliveryFailure) -> Result<(), sea_orm::DbErr> {
        delivery::ActiveModel {
            id: NotSet,
            tenant_id: Set(f.tenant_id.0.clone()),
            message_id: Set(f.message_id.0.clone()),
            at: Set(f.at),
            outcome: Set(f.outcome.to_owned()),
            http_status: Set(f.http_status.map(i32::from)),
            error: Set(f.error.clone()),
            latency_ms: Set(f.latency_ms),
        }
        .insert(self.db())
        .await
        .map(|_| ())
    }

    /// The tenant's delivery log, newest first.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        limit: u64,
    ) -> Result<Vec<delivery::Model>, sea_orm::DbErr> {
        delivery::Entity::find()
            .filter(delivery::Column::TenantId.eq(tenant.0.as_str()))
            .order_by_desc(delivery::Column::At)
            .order_by_desc(delivery::Column::Id)
            .limit(limit)
            .all(self.db())
            .await
    }
}
