//! One transcribed utterance kept for after-call retrieval.
use sea_orm::entity::prelude::*;

use crate::values::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub conversation_id: String,
    /// The conversation's tenant, so a tenant's day is one index range for the feed.
    pub tenant_id: String,
    pub stream_id: String,
    pub role: Role,
    pub sender_external_id: String,
    /// Transcription order within the conversation, 1-based.
    pub seq: i32,
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    /// Only stored when the conversation asked for `redacted_and_unredacted`/`unredacted`.
    pub unredacted_text: Option<String>,
    /// JSON array of `{content, start, end}` when `detailedToken` was asked for.
    pub tokens: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
