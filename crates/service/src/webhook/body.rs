//! The webhook body, exactly as the integration guide shows it (see the contract's
//! "Real-time webhook"): one utterance per POST. The types are also the spec's
//! description of the body (the `transcript` webhook), so the two cannot drift.

use poem_openapi::{Enum, Object};
use serde::Serialize;

use crate::webhook::publish::Published;
use crate::wire::{ParticipantRole, Sender, Token, stored_tokens};

/// The webhook body: one transcribed utterance of one participant.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEvent {
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: TranscriptKind,
    /// The Connect ContactId (`guid`) given to start-streaming.
    pub external_conversation_id: String,
    /// The participant's `streamId` from start-streaming.
    pub stream_id: String,
    pub sender: Sender,
    pub autotranscribe_response: TranscriptResult,
}

/// The kind of a webhook body (`type`) and of its result (`message`): always
/// `transcript`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TranscriptKind {
    Transcript,
}

/// The utterance and where it lies in the participant's stream.
#[derive(Debug, Clone, Object, Serialize)]
pub struct TranscriptResult {
    pub message: TranscriptKind,
    /// Milliseconds from the start of the participant's stream.
    pub start: i64,
    /// Milliseconds from the start of the participant's stream.
    pub end: i64,
    /// Exactly one utterance.
    #[oai(validator(min_items = 1, max_items = 1))]
    pub utterance: Vec<Utterance>,
}

/// What was said.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Utterance {
    /// The text, redacted as the tenant's redaction settings say.
    pub text: String,
    /// The text before redaction; present when the tenant's redaction output is
    /// `redacted_and_unredacted`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unredacted_text: Option<String>,
    /// Word timings; present when start-streaming asked for `detailedToken`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<Token>>,
}

impl poem_openapi::types::Example for TranscriptEvent {
    fn example() -> Self {
        TranscriptEvent {
            kind: TranscriptKind::Transcript,
            external_conversation_id: "8c259fea-8764-4a92-adc4-73572e9cf016".into(),
            stream_id: "0193a3f4-6a1e-7c39-9a8e-2f6f1b0c4d21".into(),
            sender: Sender {
                external_id: "TT9833237".into(),
                role: ParticipantRole::Customer,
            },
            autotranscribe_response: TranscriptResult {
                message: TranscriptKind::Transcript,
                start: 400,
                end: 3968,
                utterance: vec![Utterance {
                    text: "I need help upgrading my streaming package and my PIN number is ####"
                        .into(),
                    unredacted_text: None,
                    tokens: None,
                }],
            },
        }
    }
}

impl TranscriptEvent {
    pub fn of(published: &Published) -> TranscriptEvent {
        let m = &published.message;
        TranscriptEvent {
            kind: TranscriptKind::Transcript,
            external_conversation_id: published.external_conversation_id.clone(),
            stream_id: m.stream_id.0.clone(),
            sender: Sender {
                external_id: m.sender_external_id.clone(),
                role: m.role.into(),
            },
            autotranscribe_response: TranscriptResult {
                message: TranscriptKind::Transcript,
                start: m.start_ms,
                end: m.end_ms,
                utterance: vec![Utterance {
                    text: m.text.clone(),
                    unredacted_text: m.unredacted_text.clone(),
                    tokens: stored_tokens(m.tokens.as_deref()),
                }],
            },
        }
    }
}

/// The POST body for one published utterance.
pub fn render(published: &Published) -> Vec<u8> {
    // Serialising strings, numbers and unit enums cannot fail.
    serde_json::to_vec(&TranscriptEvent::of(published)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
    use crate::store::messages::NewMessage;

    fn published(tokens: Option<&str>, unredacted: Option<&str>) -> Published {
        Published {
            tenant_id: TenantId("t".into()),
            external_conversation_id: "guid-1".into(),
            message: NewMessage {
                id: MessageId("m1".into()),
                conversation_id: ConversationId("c1".into()),
                stream_id: StreamId("s1".into()),
                role: Role::Customer,
                sender_external_id: "TT9833237".into(),
                start_ms: 400,
                end_ms: 3968,
                text: "my PIN number is ####".into(),
                unredacted_text: unredacted.map(str::to_owned),
                tokens: tokens.map(str::to_owned),
                created_at: chrono::Utc::now(),
            },
            speech_ended_at: None,
        }
    }

    #[test]
    fn matches_the_guide() {
        let body: serde_json::Value =
            serde_json::from_slice(&render(&published(None, None))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "transcript", "externalConversationId": "guid-1", "streamId": "s1",
                "sender": {"externalId": "TT9833237", "role": "customer"},
                "autotranscribeResponse": {"message": "transcript", "start": 400, "end": 3968,
                    "utterance": [{"text": "my PIN number is ####"}]}
            })
        );
    }

    /// serde writes the body and poem-openapi describes it: the names must agree, or
    /// the spec (and every SDK made from it) would describe another body.
    #[test]
    fn the_body_is_what_the_spec_describes() {
        use poem_openapi::types::{ParseFromJSON, ToJSON};
        let tokens = r#"[{"content":"my","start":400,"end":600}]"#;
        for published in [published(None, None), published(Some(tokens), Some("1234"))] {
            let sent: serde_json::Value = serde_json::from_slice(&render(&published)).unwrap();
            let described = TranscriptEvent::parse_from_json(Some(sent.clone())).unwrap();
            assert_eq!(described.to_json(), Some(sent));
        }
    }

    #[test]
    fn carries_tokens_and_unredacted_text_when_asked() {
        let tokens = r#"[{"content":"my","start":400,"end":600}]"#;
        let body: serde_json::Value = serde_json::from_slice(&render(&published(
            Some(tokens),
            Some("my PIN number is 1234"),
        )))
        .unwrap();
        let item = &body["autotranscribeResponse"]["utterance"][0];
        assert_eq!(item["unredactedText"], "my PIN number is 1234");
        assert_eq!(item["tokens"][0]["content"], "my");
        assert_eq!(item["tokens"][0]["end"], 600);
    }
}
