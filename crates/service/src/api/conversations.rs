//! `/conversation/v1`: after-call retrieval of a conversation's stored messages.

use chrono::SecondsFormat;
use entity::message;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, Tags};

use super::auth::ApiKeyAuth;
use super::responses::RenderedJson;
use super::timestamp::Timestamp;
use crate::error::{ApiError, Failure, error_list};
use crate::ids::ConversationId;
use crate::state::SharedState;
use crate::store::messages::MESSAGE_CAP;
use crate::wire::{ParticipantRole, Sender, Token, stored_tokens};

#[derive(Tags)]
pub(crate) enum ConversationTag {
    /// Read a conversation's transcript after (or during) the call.
    Conversations,
}

/// One utterance.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct MessageItem {
    /// The utterance's id.
    pub message_id: String,
    /// The participant's `streamId` from start-streaming.
    pub stream_id: String,
    /// The text, redacted unless `unredacted` was requested.
    pub text: String,
    /// Present with `redacted_and_unredacted`.
    #[oai(skip_serializing_if_is_none)]
    pub unredacted_text: Option<String>,
    /// Present with `detailedToken`.
    #[oai(skip_serializing_if_is_none)]
    pub tokens: Option<Vec<Token>>,
    pub sender: Sender,
    /// Milliseconds from the start of the participant's stream.
    pub start: i64,
    /// Milliseconds from the start of the participant's stream.
    pub end: i64,
    /// When the utterance was transcribed (RFC 3339, UTC, milliseconds).
    pub created_timestamp: Timestamp,
}

/// Every stored message of a conversation, in transcription order (at most 1,000).
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct MessagesResponse {
    pub items: Vec<MessageItem>,
}

impl poem_openapi::types::Example for MessagesResponse {
    fn example() -> Self {
        MessagesResponse {
            items: vec![MessageItem {
                message_id: "0193a3f5-0c2b-7d10-8b7a-1f4e2d3c4b5a".into(),
                stream_id: "0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d21".into(),
                text: "I need help upgrading my streaming package and my PIN number is ####".into(),
                unredacted_text: None,
                tokens: None,
                sender: Sender {
                    role: ParticipantRole::Customer,
                    external_id: "TT9833237".into(),
                },
                start: 400,
                end: 3968,
                created_timestamp: "2026-11-23T10:00:03.968Z".into(),
            }],
        }
    }
}

impl From<message::Model> for MessageItem {
    fn from(m: message::Model) -> Self {
        MessageItem {
            message_id: m.id,
            stream_id: m.stream_id,
            text: m.text,
            unredacted_text: m.unredacted_text,
            tokens: stored_tokens(m.tokens.as_deref()),
            sender: Sender {
                role: m.role.into(),
                external_id: m.sender_external_id,
            },
            start: m.start_ms,
            end: m.end_ms,
            created_timestamp: Timestamp::new(m.created_at, SecondsFormat::Millis),
        }
    }
}

// What reading a conversation (its messages, or its live stream) can answer.
error_list!(ConversationErrors: 400, 401, 404, 413, 429, 500, 503);

pub struct ConversationsApi {
    pub state: SharedState,
}

#[OpenApi(
    prefix_path = "/conversation/v1",
    tag = "ConversationTag::Conversations"
)]
impl ConversationsApi {
    /// Get a conversation's messages
    ///
    /// Every stored utterance of the conversation in transcription order, at most the
    /// first 1,000, in one response. Text follows the settings given at start.
    #[oai(
        path = "/conversation/messages",
        method = "get",
        operation_id = "getConversationMessages"
    )]
    async fn messages(
        &self,
        auth: ApiKeyAuth,
        /// The `guid` (Connect ContactId) given to start-streaming.
        #[oai(name = "externalId", validator(pattern = "^[A-Za-z0-9._:-]{1,128}$"))]
        external_id: Query<String>,
    ) -> Result<RenderedJson<MessagesResponse>, Failure<ConversationErrors>> {
        crate::audit::note_subject(&external_id.0);
        let conversation = self
            .state
            .store
            .conversation_by_external_id(&auth.0.tenant_id, &external_id.0)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("conversation {} not found", external_id.0))
            })?;
        let id = ConversationId(conversation.id);
        let cache = &self.state.transcripts;
        let served = conversation.message_count.min(MESSAGE_CAP);
        if let Some(body) = cache.get(&id, served) {
            return Ok(RenderedJson::new(body));
        }
        let rows = self.state.store.messages(&id).await?;
        // Render what was read: a message stored meanwhile is in the rows but not in the
        // count, so key the entry by the rows' own count.
        let count = i32::try_from(rows.len()).unwrap_or(i32::MAX);
        let items = rows.into_iter().map(MessageItem::from).collect();
        let body = RenderedJson::render(&MessagesResponse { items });
        cache.put(id, count, body.clone());
        Ok(RenderedJson::new(body))
    }
}
