//! One conversation's background task: it owns the KVS reader of the conversation's
//! stream and measures what each participant's stream delivered. Nothing else touches
//! a running session; stop-streaming cancels it and takes its measurements.
//!
//! (The transcription issue plugs the endpointer and the engine in where
//! [`Measured::add_audio`] is called.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ids::{ConversationId, Role, StreamId};
use crate::kvs::client::KvsTarget;
use crate::kvs::reader::{ReaderEvent, ReaderOutcome, ReaderSettings, Status, read_stream};
use crate::store::Store;
use crate::store::conversations::StreamSummary;

/// What one participant's stream delivered, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub status: Status,
    pub total_audio_bytes: i64,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            status: Status::ok(),
            total_audio_bytes: 0,
        }
    }

    fn add_audio(&mut self, pcm: &[u8]) {
        self.total_audio_bytes += pcm.len() as i64;
    }

    /// 8 kHz, 16-bit mono: 16 bytes per millisecond.
    pub fn audio_duration_ms(&self) -> i64 {
        self.total_audio_bytes / 16
    }

    pub fn summary(&self, transcripts: i32) -> StreamSummary {
        StreamSummary {
            status_code: self.status.code,
            status_description: self.status.description.clone(),
            total_audio_bytes: self.total_audio_bytes,
            audio_duration_ms: self.audio_duration_ms(),
            transcripts,
        }
    }
}

/// Both participants' measurements when the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionResult {
    pub customer: Measured,
    pub agent: Measured,
}

impl SessionResult {
    pub fn of(&self, role: Role) -> &Measured {
        match role {
            Role::Customer => &self.customer,
            Role::Agent => &self.agent,
        }
    }

    fn of_mut(&mut self, role: Role) -> &mut Measured {
        match role {
            Role::Customer => &mut self.customer,
            Role::Agent => &mut self.agent,
        }
    }
}

/// What a session reads and where its results go.
pub struct SessionPlan {
    pub conversation: ConversationId,
    pub customer_stream: StreamId,
    pub agent_stream: StreamId,
    pub target: KvsTarget,
    pub sdk: aws_config::SdkConfig,
    pub reader: ReaderSettings,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<SessionResult>,
}

/// The sessions running in this process, by conversation.
#[derive(Default)]
pub struct Sessions {
    running: Mutex<HashMap<ConversationId, Running>>,
}

/// How long a stop waits for the session to hand over its measurements.
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts reading in the background.
    pub fn spawn(&self, store: Store, plan: SessionPlan) {
        let stop = CancellationToken::new();
        let conversation = plan.conversation.clone();
        let task = tokio::spawn(run(store, plan, stop.clone()));
        if let Some(previous) = self.lock().insert(conversation, Running { stop, task }) {
            previous.stop.cancel();
        }
    }

    /// Stops the conversation's session and returns its measurements; `None` when no
    /// session runs here (e.g. after a restart).
    pub async fn stop(&self, conversation: &ConversationId) -> Option<SessionResult> {
        let running = self.lock().remove(conversation)?;
        running.stop.cancel();
        match tokio::time::timeout(STOP_WAIT, running.task).await {
            Ok(Ok(result)) => Some(result),
            Ok(Err(e)) => {
                tracing::error!(conversation = %conversation, error = %e, "session task failed");
                None
            }
            Err(_) => {
                tracing::error!(conversation = %conversation, "session did not stop in time");
                None
            }
        }
    }

    /// Cancels every session (shutdown).
    pub fn stop_all(&self) {
        for running in self.lock().values() {
            running.stop.cancel();
        }
    }
}

#[tracing::instrument(skip_all, fields(conversation = %plan.conversation))]
async fn run(store: Store, plan: SessionPlan, stop: CancellationToken) -> SessionResult {
    let (tx, mut rx) = mpsc::channel(256);
    let reader = read_stream(&plan.sdk, &plan.target, &plan.reader, tx, stop.clone());
    let mut result = SessionResult {
        customer: Measured::new(),
        agent: Measured::new(),
    };
    let consume = async {
        while let Some(event) = rx.recv().await {
            match event {
                ReaderEvent::Audio { role, pcm, .. } => result.of_mut(role).add_audio(&pcm),
                ReaderEvent::TrackEnded { role, status } => result.of_mut(role).status = status,
                ReaderEvent::Position { .. } => {}
            }
        }
    };
    let (outcome, ()) = tokio::join!(reader, consume);
    merge(&mut result, outcome);
    if !stop.is_cancelled() {
        // The stream ended on its own: record why, so the stop that follows reports it.
        tracing::info!(customer = ?result.customer.status, agent = ?result.agent.status, "stream ended by itself");
        for (role, stream) in [
            (Role::Customer, &plan.customer_stream),
            (Role::Agent, &plan.agent_stream),
        ] {
            if let Err(e) = store
                .record_stream_progress(stream, &result.of(role).summary(0))
                .await
            {
                tracing::error!(error = %e, "cannot record the stream's end");
            }
        }
    }
    result
}

/// A participant whose track already ended keeps that status; the other takes the
/// reader's.
fn merge(result: &mut SessionResult, outcome: ReaderOutcome) {
    for (role, status) in [
        (Role::Customer, outcome.customer),
        (Role::Agent, outcome.agent),
    ] {
        let measured = result.of_mut(role);
        if measured.status.code == 1000 {
            measured.status = status;
        }
    }
}
