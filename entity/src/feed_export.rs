//! One tenant's export of one day of the utterances feed.
use sea_orm::entity::prelude::*;

use crate::values::FeedExportState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// `YYYY-MM-DD` (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub feed_date: String,
    pub state: FeedExportState,
    /// The run that holds the claim (the latest one started).
    pub run_id: String,
    /// Renewed while the run works; a running claim whose heartbeat is stale is taken over.
    pub heartbeat_at: DateTimeUtc,
    /// The run whose files are served; `None` until a run completes.
    pub published_run: Option<String>,
    /// JSON array of the published files: `{interval, name, rows, bytes}`.
    pub files: String,
    pub rows: i64,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
