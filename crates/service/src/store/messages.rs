//! Stored utterances. Every utterance is kept (the File Exporter's feed has them all);
//! after-call retrieval serves the first 1,000 of each conversation, in transcription
//! order.

use chrono::{DateTime, Utc};
use entity::{conversation, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::Store;
use super::leases::{LeaseToken, TrackPosition, fenced_update, set_position};
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

/// The lease a fenced append checks, and the speaker's position it records.
pub struct Fence<'a> {
    pub lease: &'a LeaseToken,
    /// The speaker's track position once this message is stored, if it moved.
    pub position: Option<&'a TrackPosition>,
}

/// Why a fenced append stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the conversation's lease belongs to another replica now")]
    LeaseLost,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
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
    /// Stores a message with the conversation's next sequence number (tools and tests;
    /// sessions use [`Store::append_fenced`]).
    pub async fn append_message(&self, m: &NewMessage) -> Result<Appended, sea_orm::DbErr> {
        let txn = self.begin_write().await?;
        let appended = insert_next(&txn, m).await?;
        txn.commit().await?;
        Ok(appended)
    }

    /// Stores a message only while `fence.lease` holds the conversation's lease, and
    /// records the speaker's track position in the same transaction: a replica that
    /// lost its lease cannot add a message the new owner will also produce.
    pub async fn append_fenced(
        &self,
        m: &NewMessage,
        fence: &Fence<'_>,
    ) -> Result<Appended, AppendError> {
        let txn = self.begin_write().await?;
        let mut update = fenced_update(&m.conversation_id, fence.lease);
        if let Some(position) = fence.position {
            update = set_position(update, m.role, position);
        }
        if update.exec(&txn).await?.rows_affected != 1 {
            return Err(AppendError::LeaseLost);
        }
        let appended = insert_next(&txn, m).await?;
        txn.commit().await?;
        Ok(appended)
    }

    /// How many messages the stream has and where the last one ended: a replica that
    /// takes a conversation over skips what its speaker already said.
    pub async fn stream_messages(
        &self,
        conversation: &ConversationId,
        stream: &StreamId,
    ) -> Result<(i32, i64), sea_orm::DbErr> {
        let row: Option<(i64, Option<i64>)> = message::Entity::find()
            .select_only()
            .column_as(message::Column::Id.count(), "n")
            .column_as(message::Column::EndMs.max(), "last_end")
            .filter(message::Column::ConversationId.eq(conversation.0.as_str()))
            .filter(message::Column::StreamId.eq(stream.0.as_str()))
            .into_tuple()
            .one(self.db())
            .await?;
        let (n, last_end) = row.unwrap_or((0, None));
        Ok((i32::try_from(n).unwrap_or(i32::MAX), last_end.unwrap_or(-1)))
    }

    /// The retrievable messages after `seq` (0: all), in transcription order: what a
    /// live stream replays, or resumes from.
    pub async fn messages_after(
        &self,
        conversation: &ConversationId,
        seq: i32,
    ) -> Result<Vec<message::Model>, sea_orm::DbErr> {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation.0.as_str()))
            .filter(message::Column::Seq.gt(seq))
            .filter(message::Column::Seq.lte(MESSAGE_CAP))
            .order_by_asc(message::Column::Seq)
            .all(self.db())
            .await
    }

    /// [`Store::messages_after`] for several conversations in one query (the wall of
    /// calls catches up on every call that has new utterances at once), by conversation
    /// and sequence.
    pub async fn messages_after_each(
        &self,
        after: &[(ConversationId, i32)],
    ) -> Result<Vec<message::Model>, sea_orm::DbErr> {
        if after.is_empty() {
            return Ok(Vec::new());
        }
        let each = after.iter().fold(Condition::any(), |any, (id, seq)| {
            any.add(
                Condition::all()
                    .add(message::Column::ConversationId.eq(id.0.as_str()))
                    .add(message::Column::Seq.gt(*seq)),
            )
        });
        message::Entity::find()
            .filter(each)
            .filter(message::Column::Seq.lte(MESSAGE_CAP))
            .order_by_asc(message::Column::ConversationId)
            .order_by_asc(message::Column::Seq)
            .all(self.db())
            .await
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

/// Inserts `m` with the conversation's next sequence number. The count only moves
/// through an UPDATE (which locks the row), so concurrent writers never reuse or skip a
/// number.
async fn insert_next(
    txn: &impl ConnectionTrait,
    m: &NewMessage,
) -> Result<Appended, sea_orm::DbErr> {
    let bumped = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::MessageCount,
            Expr::col(conversation::Column::MessageCount).add(1),
        )
        .filter(conversation::Column::Id.eq(m.conversation_id.0.as_str()))
        .exec(txn)
        .await?;
    if bumped.rows_affected != 1 {
        return Err(sea_orm::DbErr::RecordNotFound(format!(
            "conversation {}",
            m.conversation_id
        )));
    }
    let owner = conversation::Entity::find_by_id(m.conversation_id.0.clone())
        .one(txn)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(m.conversation_id.0.clone()))?;
    let seq = owner.message_count;
    message::ActiveModel {
        id: Set(m.id.0.clone()),
        conversation_id: Set(m.conversation_id.0.clone()),
        tenant_id: Set(owner.tenant_id),
        stream_id: Set(m.stream_id.0.clone()),
        role: Set(m.role),
        sender_external_id: Set(m.sender_external_id.clone()),
        seq: Set(seq),
        start_ms: Set(m.start_ms),
        end_ms: Set(m.end_ms),
        text: Set(m.text.clone()),
        unredacted_text: Set(m.unredacted_text.clone()),
        tokens: Set(m.tokens.clone()),
        created_at: Set(m.created_at),
    }
    .insert(txn)
    .await?;
    Ok(Appended { seq })
}
