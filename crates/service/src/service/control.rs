//! How a running session is told to end, shared by the session, its transcribers and
//! the registry that owns it.

use std::sync::OnceLock;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How a session was told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// stop-streaming: flush the utterances in progress and report the figures.
    Stop,
    /// Shutdown: finish what was closed, record the positions and hand the lease back
    /// so another replica resumes the call from there.
    HandBack,
    /// Another replica owns the lease now: stop without writing anything.
    Lost,
    /// Nobody told it: the stream ended by itself, and the session is recording its
    /// figures and ending its own lease (so a lease missing from a renewal is no loss).
    Finished,
}

/// Tells a running session to end, and how.
#[derive(Default)]
pub struct SessionControl {
    cancel: CancellationToken,
    ending: OnceLock<Ending>,
}

impl SessionControl {
    /// The first call decides how the session ends.
    pub fn end(&self, how: Ending) {
        let _ = self.ending.set(how);
        self.cancel.cancel();
    }

    /// Cancelled when the session is told to end (the reader watches it).
    pub(super) fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub(super) fn ending(&self) -> Option<Ending> {
        self.ending.get().copied()
    }
}

/// How long a stop waits for the session to flush and hand over its results; long
/// enough for the last utterances to wait for a busy engine.
pub const STOP_WAIT: Duration = Duration::from_secs(30);
