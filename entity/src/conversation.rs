//! One Connect contact (`guid`) of one tenant, with the settings of its latest start.
use sea_orm::entity::prelude::*;

use crate::values::{ConversationState, RedactionOutput, StartSelectorType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    /// The Connect ContactId given as `guid`.
    pub external_id: String,
    pub customer_id: String,
    pub agent_id: String,
    pub language: String,
    pub detailed_token: bool,
    pub redaction_output: RedactionOutput,
    /// JSON array of entity names, or NULL for the tenant default.
    pub redaction_entities: Option<String>,
    pub stream_arn: String,
    pub start_selector_type: StartSelectorType,
    pub after_fragment_number: Option<String>,
    pub start_timestamp_ms: Option<i64>,
    pub state: ConversationState,
    /// How many times the conversation was started; streams carry the generation they belong to.
    pub generation: i32,
    /// Messages stored so far (all of them; after-call retrieval serves the first 1,000).
    pub message_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
