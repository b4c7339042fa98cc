//! Stored utterances. Every utterance is kept (the File Exporter's feed has them all);
//! after-call retrieval serves the first 1,000 of each conversation, in transcription
//! order.

use chrono::{DateTime, Utc};
use entity::{conversation, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::Store;
use crate::ids::{ConversationId, MessageId, Role, StreamId};

/// After-call retrieval serves at most this many messages per conversation (contract).
pub const MESSAGE_CAP: i32 = 1000;

/// An utterance ready to store, as the pipeline produced it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub stream_id: StreamId,
    pub role: Role,
    pub sender_external_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
    pub unredacted_text: Option<String>,
    /// JSON array of `{content, start, end}`.
    pub tokens: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Where a stored message landed in its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Transcription order, 1-based.
    pub seq: i32,
}

impl Appended {
    /// Whether after-call retrieval serves it (the conversation's first [`MESSAGE_CAP`]).
    pub fn retrievable(self) -> bool {
        self.seq <= MESSAGE_CAP
    }
}

impl Store {
    /// Stores a message with the conversation's next sequence number. The count and the
    /// insert are one transaction and the count only moves through an UPDATE (which locks
    /// the row), so concurrent writers never reuse or skip a number.
    pub async fn append_message(&self, m: &NewMessage) -> Result<Appended, sea_orm::DbErr> {
        let txn = self.begin_write().await?;
        let bumped = conversation::Entity::update_many()
            .col_expr(
                conversation::Column::MessageCount,
                Expr::col(conversation::Column::MessageCount).add(1),
            )
            .filter(conversation::Column::Id.eq(m.conversation_id.0.as_str()))
            .exec(&txn)
            .await?;
        if bumped.rows_affected != 1 {
            return Err(sea_orm::DbErr::RecordNotFound(format!(
                "conversation {}",
                m.conversation_id
            )));
        }
        let owner = conversation::Entity::find_by_id(m.conversation_id.0.clone())
            .one(&txn)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(m.conversation_id.0.clone()))?;
        let seq = owner.message_count;
        message::ActiveModel {
            id: Set(m.id.0.clone()),
            conversation_id: Set(m.conversation_id.0.clone()),
            tenant_id: Set(owner.tenant_id),
            stream_id: Set(m.stream_id.0.clone()),
            role: Set(m.role.as_str().to_owned()),
            sender_external_id: Set(m.sender_external_id.clone()),
            seq: Set(seq),
            start_ms: Set(m.start_ms),
            end_ms: Set(m.end_ms),
            text: Set(m.text.clone()),
            unredacted_text: Set(m.unredacted_text.clone()),
            tokens: Set(m.tokens.clone()),
            created_at: Set(m.created_at),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Appended { seq })
    }

    /// The messages after-call retrieval serves: the conversation's first
    /// [`MESSAGE_CAP`], in transcription order.
    pub async fn messages(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<message::Model>, sea_orm::DbErr> {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation.0.as_str()))
            .filter(message::Column::Seq.lte(MESSAGE_CAP))
            .order_by_asc(message::Column::Seq)
            .all(self.db())
            .await
    }
}
