//! One conversation's background task: it owns the KVS reader of the conversation's
//! stream and both participants' audio paths (upsampling and endpointing), measures
//! what each stream delivered, and feeds each participant's utterances to its
//! transcriber. Nothing else touches a running session; stop-streaming cancels it, and
//! the session then flushes the utterances in progress before handing over its
//! results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audio::endpoint::{EndpointSettings, Utterance};
use crate::ids::{ConversationId, Role, StreamId, TenantId};
use crate::kvs::client::KvsTarget;
use crate::kvs::reader::{ReaderEvent, ReaderOutcome, ReaderSettings, Status, read_stream};
use crate::service::track::TrackAudio;
use crate::service::transcriber::{self, Conversation, Speaker, Transcribing};
use crate::store::Store;
use crate::store::conversations::StreamSummary;

/// What one participant's stream delivered, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub status: Status,
    pub total_audio_bytes: i64,
    /// Utterances that became messages.
    pub transcripts: i32,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            status: Status::ok(),
            total_audio_bytes: 0,
            transcripts: 0,
        }
    }

    fn add_audio(&mut self, pcm: &[u8]) {
        self.total_audio_bytes += pcm.len() as i64;
    }

    /// 8 kHz, 16-bit mono: 16 bytes per millisecond.
    pub fn audio_duration_ms(&self) -> i64 {
        self.total_audio_bytes / 16
    }

    pub fn summary(&self) -> StreamSummary {
        StreamSummary {
            status_code: self.status.code,
            status_description: self.status.description.clone(),
            total_audio_bytes: self.total_audio_bytes,
            audio_duration_ms: self.audio_duration_ms(),
            transcripts: self.transcripts,
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
    pub tenant_id: TenantId,
    /// The Connect ContactId (`guid`).
    pub external_id: String,
    pub customer: Participant,
    pub agent: Participant,
    pub detailed_token: bool,
    pub redaction: crate::redact::Redaction,
    pub target: KvsTarget,
    pub sdk: aws_config::SdkConfig,
    pub reader: ReaderSettings,
}

/// One side of the call.
pub struct Participant {
    pub stream_id: StreamId,
    /// customerId or agentId from start-streaming.
    pub external_id: String,
}

impl SessionPlan {
    fn participant(&self, role: Role) -> &Participant {
        match role {
            Role::Customer => &self.customer,
            Role::Agent => &self.agent,
        }
    }
}

/// What every session shares with the rest of the app.
#[derive(Clone)]
pub struct SessionDeps {
    pub store: Store,
    /// `None` when the app runs without a model (tools): audio is measured only.
    pub transcribing: Option<Transcribing>,
    pub endpointing: EndpointSettings,
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

/// How long a stop waits for the session to flush and hand over its results; long
/// enough for the last utterances to wait for a busy engine.
const STOP_WAIT: Duration = Duration::from_secs(30);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts reading in the background.
    pub fn spawn(&self, deps: SessionDeps, plan: SessionPlan) {
        let stop = CancellationToken::new();
        let conversation = plan.conversation.clone();
        let task = tokio::spawn(run(deps, plan, stop.clone()));
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

    /// Shutdown: stops every session and waits, at most `within`, for them to flush
    /// their last utterances through the engine and hand them to the publisher.
    pub async fn stop_all(&self, within: Duration) {
        let running: Vec<Running> = self.lock().drain().map(|(_, r)| r).collect();
        for r in &running {
            r.stop.cancel();
        }
        let all = futures_util::future::join_all(running.into_iter().map(|r| r.task));
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("sessions still flushing when the shutdown grace ran out");
        }
    }
}

#[tracing::instrument(skip_all, fields(conversation = %plan.conversation))]
async fn run(deps: SessionDeps, plan: SessionPlan, stop: CancellationToken) -> SessionResult {
    let (tx, mut rx) = mpsc::channel(256);
    let reader = read_stream(&plan.sdk, &plan.target, &plan.reader, tx, stop.clone());
    let mut result = SessionResult {
        customer: Measured::new(),
        agent: Measured::new(),
    };
    let mut tracks = Tracks::start(&deps, &plan);
    let consume = async {
        loop {
            let event = match tokio::time::timeout(STREAM_PAUSE, rx.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => {
                    tracks.pause();
                    match rx.recv().await {
                        Some(event) => event,
                        None => break,
                    }
                }
            };
            match event {
                ReaderEvent::Audio { role, pcm, .. } => {
                    result.of_mut(role).add_audio(&pcm);
                    tracks.push(role, &pcm);
                }
                ReaderEvent::TrackEnded { role, status } => result.of_mut(role).status = status,
                ReaderEvent::Position { .. } => {}
            }
        }
    };
    let (outcome, ()) = tokio::join!(reader, consume);
    merge(&mut result, outcome);
    for (role, transcripts) in tracks.finish().await {
        result.of_mut(role).transcripts = transcripts;
    }
    if !stop.is_cancelled() {
        // The stream ended on its own: record why, so the stop that follows reports it.
        tracing::info!(customer = ?result.customer.status, agent = ?result.agent.status, "stream ended by itself");
        for role in Role::BOTH {
            let stream = &plan.participant(role).stream_id;
            if let Err(e) = deps
                .store
                .record_stream_progress(stream, &result.of(role).summary())
                .await
            {
                tracing::error!(error = %e, "cannot record the stream's end");
            }
        }
    }
    result
}

/// No audio from the reader for this long means the stream paused between fragments
/// (rather than a burst of fragments being read in catch-up).
const STREAM_PAUSE: Duration = Duration::from_millis(100);

/// Both participants' audio paths and their transcribers.
struct Tracks {
    audio: [TrackAudio; 2],
    utterances: [Option<mpsc::UnboundedSender<Utterance>>; 2],
    transcribers: Vec<(Role, JoinHandle<i32>)>,
    done: Vec<Utterance>,
}

impl Tracks {
    fn start(deps: &SessionDeps, plan: &SessionPlan) -> Tracks {
        let mut tracks = Tracks {
            audio: Role::BOTH.map(|_| TrackAudio::new(&deps.endpointing)),
            utterances: [None, None],
            transcribers: Vec::new(),
            done: Vec::new(),
        };
        let Some(with) = &deps.transcribing else {
            return tracks;
        };
        let conversation = Arc::new(Conversation {
            id: plan.conversation.clone(),
            tenant_id: plan.tenant_id.clone(),
            external_id: plan.external_id.clone(),
            detailed_token: plan.detailed_token,
            redaction: plan.redaction.clone(),
        });
        for role in Role::BOTH {
            let (tx, rx) = mpsc::unbounded_channel();
            let participant = plan.participant(role);
            let speaker = Speaker {
                role,
                stream_id: participant.stream_id.clone(),
                external_id: participant.external_id.clone(),
            };
            let task = transcriber::spawn(with.clone(), conversation.clone(), speaker, rx);
            tracks.utterances[index(role)] = Some(tx);
            tracks.transcribers.push((role, task));
        }
        tracks
    }

    fn push(&mut self, role: Role, pcm: &[u8]) {
        self.audio[index(role)].push(pcm, &mut self.done);
        self.hand_over(role);
    }

    /// The reader delivered nothing for [`STREAM_PAUSE`]: close what is already over.
    fn pause(&mut self) {
        for role in Role::BOTH {
            self.audio[index(role)].pause(&mut self.done);
            self.hand_over(role);
        }
    }

    fn hand_over(&mut self, role: Role) {
        for utterance in self.done.drain(..) {
            if let Some(tx) = &self.utterances[index(role)] {
                let _ = tx.send(utterance);
            }
        }
    }

    /// Flushes both tracks and waits for their transcribers: messages per role.
    async fn finish(mut self) -> Vec<(Role, i32)> {
        for role in Role::BOTH {
            self.audio[index(role)].finish(&mut self.done);
            self.hand_over(role);
        }
        self.utterances = [None, None];
        let mut counts = Vec::new();
        for (role, task) in self.transcribers {
            match task.await {
                Ok(n) => counts.push((role, n)),
                Err(e) => tracing::error!(error = %e, "transcriber failed"),
            }
        }
        counts
    }
}

fn index(role: Role) -> usize {
    match role {
        Role::Customer => 0,
        Role::Agent => 1,
    }
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
