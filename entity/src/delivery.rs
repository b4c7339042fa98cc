//! One webhook delivery failure (non-2xx, network/TLS error, timeout, queue drop).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub message_id: String,
    pub at: DateTimeUtc,
    /// failed | timeout | dropped
    pub outcome: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
