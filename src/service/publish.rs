//! Where finished utterances go in real time. [`Publisher`] is the seam the webhook
//! delivery plugs into; until a tenant target is configured, [`LocalPublisher`] only
//! hands each message to local observers (the tests, the demo), which every publisher
//! keeps offering.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::ids::TenantId;
use crate::store::messages::NewMessage;

/// One utterance as transcribed, stored or not (past the 1,000-message cap it is still
/// published).
#[derive(Debug, Clone)]
pub struct Published {
    pub tenant_id: TenantId,
    /// The Connect ContactId (`guid`).
    pub external_conversation_id: String,
    pub message: NewMessage,
}

pub trait Publisher: Send + Sync {
    /// Hands the message over; never waits for delivery.
    fn publish(&self, message: Arc<Published>);
    /// Every message published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Published>>;
}

/// Local observation only.
pub struct LocalPublisher {
    observers: broadcast::Sender<Arc<Published>>,
}

impl Default for LocalPublisher {
    fn default() -> Self {
        LocalPublisher {
            observers: broadcast::channel(1024).0,
        }
    }
}

impl Publisher for LocalPublisher {
    fn publish(&self, message: Arc<Published>) {
        // No observer is not an error.
        let _ = self.observers.send(message);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.observers.subscribe()
    }
}
