//! Stored utterances for after-call retrieval: the first 1,000 of each conversation,
//! in transcription order.

use chrono::{DateTime, Utc};
use entity::{conversation, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::Store;
use crate::ids::{ConversationId, MessageId, Role, StreamId};

/// The after-call store keeps at most this many messages per conversation (contract).
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

/// Whether a message was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored {
        seq: i32,
    },
    /// The conversation already holds [`MESSAGE_CAP`] messages.
    OverCap,
}

impl Store {
    /// Stores a message unless the conversation is full. The count and the insert are one
    /// transaction, and the count only moves through a guarded UPDATE, so concurrent
    /// writers can never exceed the cap or reuse a sequence number.
    pub async fn append_message(&self, m: &NewMessage) -> Result<Appended, sea_orm::DbErr> {
        let txn = self.begin_write().await?;
        let bumped = conversation::Entity::update_many()
            .col_expr(
                conversation::Column::MessageCount,
                Expr::col(conversation::Column::MessageCount).add(1),
            )
            .filter(conversation::Column::Id.eq(m.conversation_id.0.as_str()))
            .filter(conversation::Column::MessageCount.lt(MESSAGE_CAP))
            .exec(&txn)
            .await?;
        if bumped.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Appended::OverCap);
        }
        let seq = conversation::Entity::find_by_id(m.conversation_id.0.clone())
            .one(&txn)
            .await?
            .map(|c| c.message_count)
            .unwrap_or(1);
        message::ActiveModel {
            id: Set(m.id.0.clone()),
            conversation_id: Set(m.conversation_id.0.clone()),
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
        Ok(Appended::Stored { seq })
    }

    /// All stored messages of a conversation, in transcription order.
    pub async fn messages(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<message::Model>, sea_orm::DbErr> {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation.0.as_str()))
            .order_by_asc(message::Column::Seq)
            .all(self.db())
            .await
    }
}
