//! Where finished utterances go in real time. [`Publisher`] is the seam between the
//! transcriber and delivery ([`super::publisher`]); every publisher also hands
//! each message to local observers (the tests, the demo).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::ids::TenantId;
use crate::store::messages::NewMessage;

/// One utterance as transcribed (and stored, unless the database failed).
#[derive(Debug, Clone)]
pub struct Published {
    pub tenant_id: TenantId,
    /// The Connect ContactId (`guid`).
    pub external_conversation_id: String,
    pub message: NewMessage,
    /// When the utterance's speech ended (see [`crate::service::track::Heard::Done`]),
    /// kept in memory only for the end-to-end latency metric; `None` when unknown.
    pub speech_ended_at: Option<std::time::Instant>,
}

pub trait Publisher: Send + Sync {
    /// Hands the message over; never waits for delivery.
    fn publish(&self, message: Arc<Published>);
    /// Every message published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Published>>;
}
