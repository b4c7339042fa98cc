//! Which of a conversation's audio the reading has confirmed as the contact's. The
//! reader hands each block over as soon as it is parsed, but a fragment's ContactId tag
//! arrives after its blocks; an utterance whose speech began in a fragment not yet
//! confirmed is decoded at once and published only when its fragment is confirmed, and
//! never when the reading ends first (the fragment was another contact's, or cut off).

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// Fragments up to this reader count are the contact's.
    through: u64,
    /// No fragment will be confirmed any more.
    over: bool,
}

/// Shared by a session (which confirms) and its transcribers (which wait).
pub struct Confirmations(watch::Sender<State>);

impl Default for Confirmations {
    fn default() -> Self {
        Confirmations(watch::Sender::new(State::default()))
    }
}

impl Confirmations {
    /// Fragments up to `fragment` (the reader's count) belong to the contact.
    pub fn confirm_through(&self, fragment: u64) {
        self.0.send_if_modified(|s| {
            let moved = fragment > s.through;
            s.through = s.through.max(fragment);
            moved
        });
    }

    /// The reading ended: what is not confirmed now never will be.
    pub fn reading_over(&self) {
        self.0.send_modify(|s| s.over = true);
    }

    /// Whether audio of `fragment` is confirmed now (0: audio not from a reader).
    pub fn is_confirmed(&self, fragment: u64) -> bool {
        self.0.borrow().through >= fragment
    }

    /// Waits until audio of `fragment` is confirmed (true) or the reading ended without
    /// confirming it (false).
    pub async fn confirmed(&self, fragment: u64) -> bool {
        let mut state = self.0.subscribe();
        match state.wait_for(|s| s.through >= fragment || s.over).await {
            Ok(s) => s.through >= fragment,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn an_utterance_waits_for_its_fragment_and_is_refused_when_reading_ends() {
        let c = Arc::new(Confirmations::default());
        assert!(c.is_confirmed(0), "audio without a fragment needs nothing");
        c.confirm_through(2);
        assert!(c.is_confirmed(2) && !c.is_confirmed(3));
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.confirmed(3).await }
        });
        c.confirm_through(3);
        assert!(waiting.await.unwrap());
        let refused = tokio::spawn({
            let c = c.clone();
            async move { c.confirmed(4).await }
        });
        c.reading_over();
        assert!(!refused.await.unwrap());
    }
}
