//! The utterance's wire shapes that the messages API, the webhook body and the feed line
//! share. Each is one type that both writes the JSON (serde) and describes it in the
//! spec (poem-openapi), so what is sent and what SDKs are generated from cannot drift.

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::ids::Role;

/// A call participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ParticipantRole {
    Customer,
    Agent,
}

impl From<Role> for ParticipantRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => ParticipantRole::Customer,
            Role::Agent => ParticipantRole::Agent,
        }
    }
}

/// Who spoke an utterance.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    /// The `customerId` or `agentId` given at start.
    pub external_id: String,
    pub role: ParticipantRole,
}

/// A word with its timing, present when `detailedToken` was requested.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct Token {
    pub content: String,
    /// Milliseconds from the start of the participant's stream.
    pub start: i64,
    pub end: i64,
}

/// The word timings a message stores as JSON (`[{content, start, end}]`), read back.
pub fn stored_tokens(stored: Option<&str>) -> Option<Vec<Token>> {
    stored.and_then(|t| serde_json::from_str(t).ok())
}
