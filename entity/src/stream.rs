//! One participant's stream within one start..stop of a conversation.
use sea_orm::entity::prelude::*;

use crate::values::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "streams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub conversation_id: String,
    pub role: Role,
    /// Which start of the conversation this stream belongs to (1, 2, ...).
    pub generation: i32,
    pub status_code: i32,
    pub status_description: String,
    pub started_at: DateTimeUtc,
    pub stopped_at: Option<DateTimeUtc>,
    pub total_audio_bytes: i64,
    pub audio_duration_ms: i64,
    pub streaming_seconds: i64,
    pub transcripts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
