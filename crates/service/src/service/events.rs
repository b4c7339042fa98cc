//! Each conversation's live events, in process: partial hypotheses as participants
//! speak, final utterances as stored and posted, participants' stream statuses, and the
//! end of the session. Partials and finals are redacted by the conversation's settings
//! before they are sent; nothing here is stored. Subscribers that fall behind lose the
//! oldest events (a broadcast channel), never slowing the pipeline.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::ids::Role;
use crate::status::StreamStatus;
use crate::webhook::publish::Published;

/// Events kept for a subscriber that has not read them yet.
const BACKLOG: usize = 256;

#[derive(Debug, Clone)]
pub enum ConversationEvent {
    /// The participant's current hypothesis of the utterance in progress, redacted;
    /// the next partial or the final of the same utterance replaces it.
    Partial {
        role: Role,
        /// The utterance's voiced span so far, in ms from the start of the stream.
        start_ms: i64,
        end_ms: i64,
        text: String,
    },
    /// A complete utterance: the message stored and posted to the webhook, with its
    /// place in the conversation's transcription order (`None` when it could not be
    /// stored).
    Final {
        published: Arc<Published>,
        seq: Option<i32>,
    },
    /// A participant's stream is being read, or ended with this status.
    Status {
        role: Role,
        streaming: bool,
        status: StreamStatus,
    },
    /// The session ended (stopped, ended by its source, handed to another replica or
    /// lost); no more events follow.
    Stopped,
}

/// One conversation's channel.
#[derive(Clone)]
pub struct ConversationEvents(broadcast::Sender<ConversationEvent>);

impl Default for ConversationEvents {
    fn default() -> Self {
        ConversationEvents(broadcast::Sender::new(BACKLOG))
    }
}

impl ConversationEvents {
    /// Sends to the current subscribers, if any.
    pub fn send(&self, event: ConversationEvent) {
        let _ = self.0.send(event);
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ConversationEvent> {
        self.0.subscribe()
    }
}
