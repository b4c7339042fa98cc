//! The webhook body, exactly as the integration guide shows it (see the contract's
//! "Real-time webhook"): one utterance per POST.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::webhook::publish::Published;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    external_conversation_id: &'a str,
    stream_id: &'a str,
    sender: Sender<'a>,
    autotranscribe_response: Response<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sender<'a> {
    external_id: &'a str,
    role: &'static str,
}

#[derive(Serialize)]
struct Response<'a> {
    message: &'static str,
    start: i64,
    end: i64,
    utterance: [Utterance<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Utterance<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unredacted_text: Option<&'a str>,
    /// Already JSON (`[{content, start, end}]`) as the transcriber stored it.
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<&'a RawValue>,
}

/// The POST body for one published utterance.
pub fn render(published: &Published) -> Vec<u8> {
    let m = &published.message;
    let tokens = m
        .tokens
        .as_deref()
        .and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
    let body = Body {
        kind: "transcript",
        external_conversation_id: &published.external_conversation_id,
        stream_id: &m.stream_id.0,
        sender: Sender {
            external_id: &m.sender_external_id,
            role: m.role.as_str(),
        },
        autotranscribe_response: Response {
            message: "transcript",
            start: m.start_ms,
            end: m.end_ms,
            utterance: [Utterance {
                text: &m.text,
                unredacted_text: m.unredacted_text.as_deref(),
                tokens,
            }],
        },
    };
    // Serialising borrowed strings and numbers cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
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
