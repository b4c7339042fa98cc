//! Conversations and their per-participant streams: the start/stop state machine's
//! storage. Every transition is a conditional UPDATE, so two replicas (or two racing
//! requests) cannot both start or both stop the same conversation.

use chrono::{DateTime, Utc};
use entity::{ConversationState, RedactionOutput, StartSelectorType, conversation, lease, stream};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::leases::{LeaseHolder, LeaseToken, new_lease};
use super::{Store, is_unique_violation};
use crate::ids::{ConversationId, Role, StreamId, TenantId};
use crate::kvs::arn::StreamArn;
use crate::status::{StreamCode, StreamStatus};

/// The settings a start-streaming request fixes for the conversation: checked by the API,
/// completed by the service (the tenant's default entities), stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSettings {
    pub customer_id: String,
    pub agent_id: String,
    pub language: String,
    pub detailed_token: bool,
    pub redaction_output: RedactionOutput,
    /// Entity names; `None` until the service puts in the tenant's defaults.
    pub redaction_entities: Option<Vec<String>>,
    pub stream_arn: StreamArn,
    pub start_selector_type: StartSelectorType,
    pub after_fragment_number: Option<String>,
    pub start_timestamp_ms: Option<i64>,
}

/// What a start did.
#[derive(Debug)]
pub enum StartOutcome {
    Started {
        conversation: Box<conversation::Model>,
        streams: Vec<stream::Model>,
        /// The holder's lease on it, when one was asked for.
        lease: Option<LeaseToken>,
    },
    AlreadyStreaming,
}

/// What one participant's stream delivered: its status and its measured figures. The
/// session measures it, the stream's row keeps it, stop-streaming reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub status: StreamStatus,
    /// PCM bytes received from KVS.
    pub total_audio_bytes: i64,
    /// Utterances that became messages.
    pub transcripts: i32,
}

impl StreamSummary {
    /// As the stream's row recorded it; a status code outside the contract fails the read
    /// (as the typed columns do), never becomes a default.
    pub fn recorded(row: &stream::Model) -> Result<StreamSummary, sea_orm::DbErr> {
        let code = StreamCode::from_code(row.status_code).ok_or_else(|| {
            sea_orm::DbErr::Type(format!(
                "stream {} has status code {}, which the contract does not know",
                row.id, row.status_code
            ))
        })?;
        Ok(StreamSummary {
            status: StreamStatus::new(code, row.status_description.clone()),
            total_audio_bytes: row.total_audio_bytes,
            transcripts: row.transcripts,
        })
    }

    pub fn audio_duration_ms(&self) -> i64 {
        crate::audio::telephone_pcm_ms(self.total_audio_bytes)
    }
}

impl Store {
    pub async fn conversation_by_external_id(
        &self,
        tenant: &TenantId,
        external_id: &str,
    ) -> Result<Option<conversation::Model>, sea_orm::DbErr> {
        conversation::Entity::find()
            .filter(conversation::Column::TenantId.eq(tenant.0.as_str()))
            .filter(conversation::Column::ExternalId.eq(external_id))
            .one(self.db())
            .await
    }

    pub async fn conversation(
        &self,
        id: &ConversationId,
    ) -> Result<Option<conversation::Model>, sea_orm::DbErr> {
        conversation::Entity::find_by_id(id.0.clone())
            .one(self.db())
            .await
    }

    /// Registers a new conversation, or resumes a stopped one with new streams; with a
    /// holder, the holder's lease on it is created in the same transaction.
    pub async fn start_conversation(
        &self,
        tenant: &TenantId,
        external_id: &str,
        settings: &StartSettings,
        holder: Option<&LeaseHolder>,
    ) -> Result<StartOutcome, sea_orm::DbErr> {
        let now = Utc::now();
        let txn = self.begin_write().await?;
        let existing = conversation::Entity::find()
            .filter(conversation::Column::TenantId.eq(tenant.0.as_str()))
            .filter(conversation::Column::ExternalId.eq(external_id))
            .one(&txn)
            .await?;
        let conversation = match existing {
            Some(c) if c.state == ConversationState::Streaming => {
                return Ok(StartOutcome::AlreadyStreaming);
            }
            Some(c) => match resume(&txn, &c.id, settings, now).await? {
                Some(c) => c,
                None => return Ok(StartOutcome::AlreadyStreaming),
            },
            None => {
                let inserted = new_conversation(tenant, external_id, settings, now)
                    .insert(&txn)
                    .await;
                match inserted {
                    Ok(c) => c,
                    Err(e) if is_unique_violation(&e) => return Ok(StartOutcome::AlreadyStreaming),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut streams = Vec::with_capacity(2);
        for role in Role::BOTH {
            streams.push(new_stream(&conversation, role, now).insert(&txn).await?);
        }
        let mut token = None;
        if let Some(holder) = holder {
            lease::Entity::delete_by_id(conversation.id.clone())
                .exec(&txn)
                .await?;
            let (row, minted) = new_lease(&conversation.id, conversation.generation, holder);
            row.insert(&txn).await?;
            token = Some(minted);
        }
        txn.commit().await?;
        Ok(StartOutcome::Started {
            conversation: Box::new(conversation),
            streams,
            lease: token,
        })
    }

    /// Flips a streaming conversation to stopped; `false` when it was not streaming.
    pub async fn mark_stopped(&self, id: &ConversationId) -> Result<bool, sea_orm::DbErr> {
        let res = conversation::Entity::update_many()
            .col_expr(
                conversation::Column::State,
                Expr::value(ConversationState::Stopped),
            )
            .col_expr(conversation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(conversation::Column::Id.eq(id.0.as_str()))
            .filter(conversation::Column::State.eq(ConversationState::Streaming))
            .exec(self.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Writes a stream's measured summary and its end time.
    pub async fn finish_stream(
        &self,
        id: &StreamId,
        summary: &StreamSummary,
        stopped_at: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let Some(s) = stream::Entity::find_by_id(id.0.clone())
            .one(self.db())
            .await?
        else {
            return Ok(());
        };
        let elapsed_ms = std::cmp::max((stopped_at - s.started_at).num_milliseconds(), 0);
        let streaming_seconds = elapsed_ms.saturating_add(999) / 1000;
        let mut am: stream::ActiveModel = s.into();
        am.status_code = Set(summary.status.code.code());
        am.status_description = Set(summary.status.description.clone());
        am.total_audio_bytes = Set(summary.total_audio_bytes);
        am.audio_duration_ms = Set(summary.audio_duration_ms());
        am.transcripts = Set(summary.transcripts);
        am.streaming_seconds = Set(streaming_seconds);
        am.stopped_at = Set(Some(stopped_at));
        am.update(self.db()).await.map(|_| ())
    }

    /// Records a running stream's status and measured figures (it ended by itself);
    /// stop-streaming writes the final summary later.
    pub async fn record_stream_progress(
        &self,
        id: &StreamId,
        summary: &StreamSummary,
    ) -> Result<(), sea_orm::DbErr> {
        stream::Entity::update_many()
            .col_expr(
                stream::Column::StatusCode,
                Expr::value(summary.status.code.code()),
            )
            .col_expr(
                stream::Column::StatusDescription,
                Expr::value(summary.status.description.clone()),
            )
            .col_expr(
                stream::Column::TotalAudioBytes,
                Expr::value(summary.total_audio_bytes),
            )
            .col_expr(
                stream::Column::AudioDurationMs,
                Expr::value(summary.audio_duration_ms()),
            )
            .col_expr(
                stream::Column::Transcripts,
                Expr::value(summary.transcripts),
            )
            .filter(stream::Column::Id.eq(id.0.as_str()))
            .exec(self.db())
            .await
            .map(|_| ())
    }

    /// The tenant's conversations being read now (streaming, with a lease: a session
    /// that ends by itself ends its lease), on any replica, oldest start first; at most
    /// `limit`.
    pub async fn reading_conversations(
        &self,
        tenant: &TenantId,
        limit: u64,
    ) -> Result<Vec<conversation::Model>, sea_orm::DbErr> {
        use sea_orm::sea_query::Query;
        let leased = Query::select()
            .column(lease::Column::ConversationId)
            .from(lease::Entity)
            .to_owned();
        conversation::Entity::find()
            .filter(conversation::Column::TenantId.eq(tenant.0.as_str()))
            .filter(conversation::Column::State.eq(ConversationState::Streaming))
            .filter(conversation::Column::Id.in_subquery(leased))
            .order_by_asc(conversation::Column::UpdatedAt)
            .limit(limit)
            .all(self.db())
            .await
    }

    /// The streams of the conversation's latest start, customer first.
    pub async fn latest_streams(
        &self,
        conversation: &conversation::Model,
    ) -> Result<Vec<stream::Model>, sea_orm::DbErr> {
        stream::Entity::find()
            .filter(stream::Column::ConversationId.eq(conversation.id.as_str()))
            .filter(stream::Column::Generation.eq(conversation.generation))
            .order_by_desc(stream::Column::Role)
            .all(self.db())
            .await
    }
}

async fn resume(
    txn: &impl ConnectionTrait,
    id: &str,
    s: &StartSettings,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, sea_orm::DbErr> {
    use conversation::Column as C;
    let update = conversation::ActiveModel {
        state: Set(ConversationState::Streaming),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = conversation::Entity::update_many()
        .set(with_settings(update, s))
        .col_expr(C::Generation, Expr::col(C::Generation).add(1))
        .filter(C::Id.eq(id))
        .filter(C::State.eq(ConversationState::Stopped))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    conversation::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await
}

fn new_conversation(
    tenant: &TenantId,
    external_id: &str,
    s: &StartSettings,
    now: DateTime<Utc>,
) -> conversation::ActiveModel {
    let conversation = conversation::ActiveModel {
        id: Set(ConversationId::generate().0),
        tenant_id: Set(tenant.0.clone()),
        external_id: Set(external_id.to_owned()),
        state: Set(ConversationState::Streaming),
        generation: Set(1),
        message_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    with_settings(conversation, s)
}

/// The start's settings, on a new conversation or one started again.
fn with_settings(
    mut conversation: conversation::ActiveModel,
    s: &StartSettings,
) -> conversation::ActiveModel {
    conversation.customer_id = Set(s.customer_id.clone());
    conversation.agent_id = Set(s.agent_id.clone());
    conversation.language = Set(s.language.clone());
    conversation.detailed_token = Set(s.detailed_token);
    conversation.redaction_output = Set(s.redaction_output);
    conversation.redaction_entities = Set(s
        .redaction_entities
        .as_ref()
        .map(|names| serde_json::Value::from(names.clone()).to_string()));
    conversation.stream_arn = Set(s.stream_arn.arn.clone());
    conversation.start_selector_type = Set(s.start_selector_type);
    conversation.after_fragment_number = Set(s.after_fragment_number.clone());
    conversation.start_timestamp_ms = Set(s.start_timestamp_ms);
    conversation
}

fn new_stream(c: &conversation::Model, role: Role, now: DateTime<Utc>) -> stream::ActiveModel {
    stream::ActiveModel {
        id: Set(StreamId::generate().0),
        conversation_id: Set(c.id.clone()),
        role: Set(role),
        generation: Set(c.generation),
        status_code: Set(StreamCode::Ok.code()),
        status_description: Set(StreamStatus::ok().description),
        started_at: Set(now),
        stopped_at: Set(None),
        total_audio_bytes: Set(0),
        audio_duration_ms: Set(0),
        streaming_seconds: Set(0),
        transcripts: Set(0),
    }
}
