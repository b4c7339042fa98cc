//! One conversation's background task: it owns the KVS reader of the conversation's
//! stream and both participants' audio paths (upsampling and endpointing), measures
//! what each stream delivered, feeds each participant's utterances to its transcriber
//! and tells the [`Checkpoints`] where each track could resume. Nothing else touches a
//! running session; stop-streaming ends it (the utterances in progress are flushed and
//! the figures handed over), shutdown hands it back (what was closed is finished, the
//! lease released for another replica), and a lost lease abandons it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audio::endpoint::EndpointSettings;
use crate::ids::{ConversationId, PerRole, Role, StreamId, TenantId};
use crate::kvs::client::KvsTarget;
use crate::kvs::reader::{ReaderEvent, ReaderOutcome, ReaderSettings, is_after, read_stream};
use crate::service::checkpoint::Checkpoints;
use crate::service::confirmation::Confirmations;
use crate::service::control::{Ending, SessionControl};
use crate::service::events::{ConversationEvent, ConversationEvents};
use crate::service::track::{Heard, SentenceEnds, TrackAudio};
use crate::service::transcriber::{self, Conversation, Speaker, Transcribing};
use crate::status::StreamStatus;
use crate::store::Store;
use crate::store::conversations::StreamSummary;
use crate::store::leases::{LeaseToken, ResumePoint, TrackPosition};

/// A summary that starts from what an earlier owner of the conversation already measured.
fn continuing(participant: &Participant) -> StreamSummary {
    StreamSummary {
        status: StreamStatus::ok(),
        total_audio_bytes: participant.resume.as_ref().map_or(0, |p| p.audio_bytes),
        transcripts: participant.stored,
    }
}

/// Both participants' summaries when the session ends.
pub type SessionResult = PerRole<StreamSummary>;

/// What a session reads and where its results go.
pub struct SessionPlan {
    pub conversation: ConversationId,
    pub tenant_id: TenantId,
    /// The Connect ContactId (`guid`).
    pub external_id: String,
    pub participants: PerRole<Participant>,
    pub detailed_token: bool,
    pub redaction: crate::redact::Redaction,
    /// The engine and language its utterances are decoded with.
    pub route: crate::transcribe::language::Route,
    pub target: KvsTarget,
    pub sdk: aws_config::SdkConfig,
    pub reader: ReaderSettings,
    /// The lease this session reads under; everything it writes is fenced by it.
    pub lease: LeaseToken,
}

/// One side of the call.
pub struct Participant {
    pub stream_id: StreamId,
    /// customerId or agentId from start-streaming.
    pub external_id: String,
    /// Where an earlier owner left the track; `None` on a fresh start.
    pub resume: Option<TrackPosition>,
    /// Where the track's last stored message ended (-1: none): utterances re-read on
    /// a takeover that were already stored are not stored again.
    pub said_until_ms: i64,
    /// Messages the track already has.
    pub stored: i32,
}

impl Participant {
    /// A participant of a fresh start.
    pub fn new(stream_id: StreamId, external_id: String) -> Participant {
        Participant {
            stream_id,
            external_id,
            resume: None,
            said_until_ms: -1,
            stored: 0,
        }
    }
}

impl SessionPlan {
    fn participant(&self, role: Role) -> &Participant {
        self.participants.of(role)
    }

    pub(super) fn resume_point(&self) -> ResumePoint {
        PerRole::from_fn(|role| self.participant(role).resume.clone())
    }
}

/// What every session shares with the rest of the app.
#[derive(Clone)]
pub struct SessionDeps {
    pub store: Store,
    /// `None` when the app runs without a model (tools): audio is measured only.
    pub transcribing: Option<Transcribing>,
    pub endpointing: EndpointSettings,
    pub metrics: crate::metrics::SessionMetrics,
}

#[tracing::instrument(skip_all, fields(conversation = %plan.conversation))]
pub(super) async fn run(
    deps: SessionDeps,
    plan: SessionPlan,
    control: Arc<SessionControl>,
    checkpoints: Arc<Checkpoints>,
    events: ConversationEvents,
) -> SessionResult {
    let (tx, mut rx) = mpsc::channel(256);
    for role in Role::BOTH {
        events.send(ConversationEvent::Status {
            role,
            streaming: true,
            status: StreamStatus::ok(),
        });
    }
    let reader_settings = ReaderSettings {
        reconnects: Some(deps.metrics.kvs_reconnects.clone()),
        ..plan.reader.clone()
    };
    let reader = read_stream(
        &plan.sdk,
        &plan.target,
        &reader_settings,
        tx,
        control.cancelled(),
    );
    let mut result = PerRole::from_fn(|role| continuing(plan.participant(role)));
    let shared = Shared {
        control: control.clone(),
        checkpoints: checkpoints.clone(),
        confirmations: Arc::new(Confirmations::default()),
        sentence_ends: Arc::new(SentenceEnds::default()),
        events: events.clone(),
    };
    let confirmations = shared.confirmations.clone();
    let sentence_ends = shared.sentence_ends.clone();
    let mut tracks = Tracks::start(&deps, &plan, shared);
    // Participants whose end was already announced (a missing track).
    let mut announced = PerRole::<bool>::default();
    let consume = async {
        let mut paused = false;
        loop {
            let next = tokio::select! {
                next = async {
                    if paused {
                        Some(rx.recv().await)
                    } else {
                        tokio::time::timeout(STREAM_PAUSE, rx.recv()).await.ok()
                    }
                } => next,
                () = sentence_ends.changed.notified() => {
                    tracks.close_at_sentence_ends();
                    continue;
                }
            };
            let event = match next {
                Some(Some(event)) => event,
                Some(None) => break,
                None => {
                    tracks.pause();
                    paused = true;
                    continue;
                }
            };
            paused = false;
            match event {
                ReaderEvent::Audio {
                    role,
                    pcm,
                    fragment,
                    ..
                } => {
                    result.of_mut(role).total_audio_bytes += pcm.len() as i64;
                    tracks.push(role, &pcm, fragment);
                }
                ReaderEvent::TrackEnded { role, status } => {
                    *announced.of_mut(role) = true;
                    events.send(ConversationEvent::Status {
                        role,
                        streaming: false,
                        status: status.clone(),
                    });
                    result.of_mut(role).status = status;
                }
                ReaderEvent::Position {
                    fragment,
                    fragment_number,
                    continuation_token,
                    contact_id,
                } => {
                    confirmations.confirm_through(fragment);
                    for role in Role::BOTH {
                        if tracks.is_idle(role) && !plan.reader_skips(role, &fragment_number) {
                            let position = TrackPosition {
                                fragment: fragment_number.clone(),
                                continuation_token: continuation_token.clone(),
                                audio_bytes: result.of(role).total_audio_bytes,
                                contact_id: contact_id.clone(),
                            };
                            checkpoints.idle_after(role, position);
                        }
                    }
                }
            }
        }
    };
    let (outcome, ()) = tokio::join!(reader, consume);
    confirmations.reading_over();
    merge(&mut result, outcome);
    let ending = control.ending();
    if ending.is_none() {
        // Before the lease ends below, so the keeper does not take it for a lost one.
        control.end(Ending::Finished);
    }
    let flush = matches!(ending, None | Some(Ending::Stop));
    for (role, transcripts) in tracks.finish(flush).await {
        result.of_mut(role).transcripts += transcripts;
    }
    // A call handed back or lost goes on on another replica: its streams did not end.
    if !matches!(ending, Some(Ending::HandBack) | Some(Ending::Lost)) {
        for (_, summary) in result.iter() {
            deps.metrics
                .stream_ends
                .with_label_values(&[summary.status.code.label()])
                .inc();
        }
    }
    match ending {
        Some(Ending::Stop) | Some(Ending::Lost) | Some(Ending::Finished) => {}
        Some(Ending::HandBack) => hand_back(&deps, &plan, &checkpoints).await,
        None => ended_by_itself(&deps, &plan, &result).await,
    }
    for (role, summary) in result.iter() {
        if !announced.of(role) {
            events.send(ConversationEvent::Status {
                role,
                streaming: false,
                status: summary.status.clone(),
            });
        }
    }
    events.send(ConversationEvent::Stopped);
    result
}

/// Records where the tracks resume and gives the lease up for another replica.
async fn hand_back(deps: &SessionDeps, plan: &SessionPlan, checkpoints: &Checkpoints) {
    let store = &deps.store;
    let id = &plan.conversation;
    let written = match checkpoints.take_unwritten() {
        Some(point) => store.record_positions(id, &plan.lease, &point).await,
        None => Ok(true),
    };
    let released = match written {
        Ok(true) => store.release_lease(id, &plan.lease).await,
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    match released {
        Ok(()) => tracing::info!("lease handed back"),
        Err(e) => tracing::error!(error = %e, "cannot hand the lease back; it will expire"),
    }
}

/// The stream ended on its own: record why and what it delivered, so the stop that
/// follows (on any replica) reports it, and end the lease.
async fn ended_by_itself(deps: &SessionDeps, plan: &SessionPlan, result: &SessionResult) {
    tracing::info!(customer = ?result.customer.status, agent = ?result.agent.status, "stream ended by itself");
    for role in Role::BOTH {
        let stream = &plan.participant(role).stream_id;
        if let Err(e) = deps
            .store
            .record_stream_progress(stream, result.of(role))
            .await
        {
            tracing::error!(error = %e, "cannot record the stream's end");
        }
    }
    if let Err(e) = deps
        .store
        .end_lease(&plan.conversation, Some(&plan.lease))
        .await
    {
        tracing::error!(error = %e, "cannot end the lease; it will expire");
    }
}

impl SessionPlan {
    /// Whether the reader skips this participant's audio of `fragment` (an earlier
    /// owner transcribed it).
    fn reader_skips(&self, role: Role, fragment: &str) -> bool {
        self.participant(role)
            .resume
            .as_ref()
            .is_some_and(|p| !is_after(fragment, &p.fragment))
    }
}

/// No audio from the reader for this long means the stream paused between fragments
/// (rather than a burst of fragments being read in catch-up).
const STREAM_PAUSE: Duration = Duration::from_millis(100);

/// What a session shares with its transcribers.
struct Shared {
    control: Arc<SessionControl>,
    checkpoints: Arc<Checkpoints>,
    confirmations: Arc<Confirmations>,
    sentence_ends: Arc<SentenceEnds>,
    events: ConversationEvents,
}

/// Both participants' audio paths and their transcribers.
struct Tracks {
    audio: PerRole<TrackAudio>,
    sentence_ends: Arc<SentenceEnds>,
    utterances: PerRole<Option<mpsc::UnboundedSender<Heard>>>,
    transcribers: Vec<(Role, JoinHandle<i32>)>,
    done: Vec<Heard>,
    said_until_ms: PerRole<i64>,
    checkpoints: Arc<Checkpoints>,
}

impl Tracks {
    fn start(deps: &SessionDeps, plan: &SessionPlan, shared: Shared) -> Tracks {
        let resumed_ms = |role| {
            plan.participant(role)
                .resume
                .as_ref()
                .map_or(0, |p| crate::audio::telephone_pcm_ms(p.audio_bytes))
        };
        let mut tracks = Tracks {
            audio: PerRole::from_fn(|role| {
                TrackAudio::continuing_at(&deps.endpointing, resumed_ms(role))
            }),
            sentence_ends: shared.sentence_ends.clone(),
            utterances: PerRole::default(),
            transcribers: Vec::new(),
            done: Vec::new(),
            said_until_ms: PerRole::from_fn(|role| plan.participant(role).said_until_ms),
            checkpoints: shared.checkpoints.clone(),
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
            route: plan.route,
            lease: plan.lease.clone(),
            checkpoints: shared.checkpoints,
            confirmations: shared.confirmations,
            sentence_ends: shared.sentence_ends,
            events: shared.events,
            control: shared.control,
            said: Default::default(),
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
            *tracks.utterances.of_mut(role) = Some(tx);
            tracks.transcribers.push((role, task));
        }
        tracks
    }

    fn push(&mut self, role: Role, pcm: &[u8], fragment: u64) {
        let audio = self.audio.of_mut(role);
        audio.push(pcm, fragment, &mut self.done);
        audio.close_at_sentence_end(role, &self.sentence_ends, &mut self.done);
        self.hand_over(role);
    }

    /// A transcriber found that its utterance in progress ends a sentence.
    fn close_at_sentence_ends(&mut self) {
        for role in Role::BOTH {
            let audio = self.audio.of_mut(role);
            audio.close_at_sentence_end(role, &self.sentence_ends, &mut self.done);
            self.hand_over(role);
        }
    }

    fn is_idle(&self, role: Role) -> bool {
        self.audio.of(role).is_idle()
    }

    /// The reader delivered nothing for [`STREAM_PAUSE`]: close what is already over.
    fn pause(&mut self) {
        for role in Role::BOTH {
            self.audio.of_mut(role).pause(&mut self.done);
            self.hand_over(role);
        }
    }

    fn hand_over(&mut self, role: Role) {
        for heard in self.done.drain(..) {
            let (utterance, complete) = match &heard {
                Heard::Growing { utterance, .. } => (utterance, false),
                Heard::Done { utterance, .. } => (utterance, true),
            };
            // Re-read after a takeover and already stored by the earlier owner.
            if (utterance.start_ms + utterance.end_ms) / 2 <= *self.said_until_ms.of(role) {
                if complete {
                    tracing::debug!(
                        start_ms = utterance.start_ms,
                        "utterance already stored before the takeover"
                    );
                }
                continue;
            }
            if let Some(tx) = self.utterances.of(role) {
                if complete {
                    self.checkpoints.handed(role);
                }
                let _ = tx.send(heard);
            }
        }
    }

    /// Flushes both tracks (unless handing the call to another replica, which re-reads
    /// the utterances in progress) and waits for their transcribers: messages per role.
    async fn finish(mut self, flush: bool) -> Vec<(Role, i32)> {
        if flush {
            for role in Role::BOTH {
                self.audio.of_mut(role).finish(&mut self.done);
                self.hand_over(role);
            }
        }
        self.utterances = PerRole::default();
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

/// A participant whose track already ended keeps that status; the other takes the
/// reader's.
fn merge(result: &mut SessionResult, outcome: ReaderOutcome) {
    for (role, status) in outcome.iter() {
        let measured = result.of_mut(role);
        if measured.status.is_ok() {
            measured.status = status.clone();
        }
    }
}
