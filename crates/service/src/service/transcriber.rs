//! Utterance → message, for one participant of one conversation, in order: decode on
//! the shared engine, drop what is not speech, wait for the audio to be confirmed as the
//! contact's, store and publish. While the participant speaks, the utterance so far is
//! decoded speculatively: partial hypotheses go out on the conversation's events, and
//! the tentative decode taken at the first pause becomes the final transcript when the
//! utterance ends there, so the endpoint itself costs no decode. A message whose
//! utterance ends inside a number to redact ("my card number is 4111 1111") is held for
//! the speaker's next utterance, at most [`HOLD_FOR`], so the number is judged whole.
//! Runs as its own task so the session keeps reading and endpointing while decodes wait
//! for the engine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audio::endpoint::Utterance;
use crate::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use crate::metrics::EngineMetrics;
use crate::redact::{Applied, ConversationContext, Found, Redaction, mask_word};
use crate::service::checkpoint::Checkpoints;
use crate::service::confirmation::Confirmations;
use crate::service::control::{Ending, SessionControl};
use crate::service::events::{ConversationEvent, ConversationEvents};
use crate::service::track::{Heard, SentenceEnds};
use crate::store::Store;
use crate::store::leases::LeaseToken;
use crate::store::messages::{AppendError, Appended, Fence, NewMessage};
use crate::transcribe::EngineError;
use crate::transcribe::filter::speech_only;
use crate::transcribe::language::Route;
use crate::transcribe::pool::{Decoded, EnginePool, Urgency};
use crate::transcribe::{Transcript, Word};
use crate::webhook::publish::{Published, Publisher};

/// What a conversation's transcribers share.
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub external_id: String,
    pub detailed_token: bool,
    pub redaction: Redaction,
    /// The engine and language to decode with.
    pub route: Route,
    /// The lease every stored message is fenced by.
    pub lease: LeaseToken,
    /// Told when an utterance is done, so the track's resume position can move.
    pub checkpoints: Arc<Checkpoints>,
    /// Whether an utterance's audio is known to be the contact's yet.
    pub confirmations: Arc<Confirmations>,
    /// Where a tentative hypothesis that ends a sentence is told to the endpointer.
    pub sentence_ends: Arc<SentenceEnds>,
    /// Partial hypotheses and final messages, as they happen.
    pub events: ConversationEvents,
    /// Both participants' last few utterances, unredacted, in memory only: the context
    /// redaction judges numbers with.
    pub said: Mutex<ConversationContext>,
    /// Ends the session if the lease turns out to be another replica's.
    pub control: Arc<SessionControl>,
}

/// Whose utterances these are.
pub struct Speaker {
    pub role: Role,
    pub stream_id: StreamId,
    /// customerId or agentId from start-streaming.
    pub external_id: String,
}

/// What transcribing needs from the app.
#[derive(Clone)]
pub struct Transcribing {
    pub store: Store,
    pub engine: Arc<EnginePool>,
    pub publisher: Arc<dyn Publisher>,
    pub metrics: EngineMetrics,
}

/// Starts the speaker's transcriber; it ends when `heard` closes and returns how many
/// messages it produced.
pub fn spawn(
    with: Transcribing,
    conversation: Arc<Conversation>,
    speaker: Speaker,
    mut heard: mpsc::UnboundedReceiver<Heard>,
) -> JoinHandle<i32> {
    tokio::spawn(async move {
        let mut state = State::default();
        let mut in_flight: Option<InFlight> = None;
        loop {
            let step = tokio::select! {
                received = heard.recv() => Step::Heard(received),
                (flight, result) = landed(&mut in_flight), if in_flight.is_some() => {
                    Step::Speculated(flight, result)
                }
                () = hold_over(&state.held), if state.held.is_some() => Step::HoldOver,
            };
            let t = Transcriber {
                with: &with,
                conversation: &conversation,
                speaker: &speaker,
            };
            match step {
                Step::Heard(None) => break,
                Step::Heard(Some(Heard::Growing {
                    utterance,
                    tentative,
                })) => {
                    if in_flight.is_some() {
                        state.next = Some((utterance, tentative));
                    } else {
                        in_flight = Some(t.speculate(utterance, tentative));
                    }
                }
                Step::Heard(Some(Heard::Done {
                    mut utterance,
                    fragment,
                    speech_ended_at,
                })) => {
                    let decoded = t
                        .final_decode(&mut utterance, &mut in_flight, &mut state)
                        .await;
                    if let Some(mut ready) = t.ready(utterance, fragment, decoded).await {
                        ready.speech_ended_at = speech_ended_at;
                        t.release(ready, &mut state).await;
                    }
                }
                Step::HoldOver => {
                    if let Some(held) = state.held.take() {
                        t.publish(held, None, &mut state).await;
                    }
                }
                Step::Speculated(flight, result) => {
                    t.speculated(flight, result, &mut state);
                    if let Some((utterance, tentative)) = state.next.take() {
                        in_flight = Some(t.speculate(utterance, tentative));
                    }
                }
            }
        }
        if let Some(held) = state.held.take() {
            // Stopped: nothing more will come to complete it.
            Transcriber {
                with: &with,
                conversation: &conversation,
                speaker: &speaker,
            }
            .publish(held, None, &mut state)
            .await;
        }
        state.produced
    })
}

/// The longest a message waits for the rest of the number its utterance ended in.
pub const HOLD_FOR: Duration = Duration::from_millis(1500);

/// A transcribed utterance of the contact, ready to be redacted and sent.
struct Ready {
    utterance: Utterance,
    transcript: Transcript,
    /// When it became ready: a held message's wait is measured from here.
    at: tokio::time::Instant,
    /// It waited for the speaker's next utterance.
    held: bool,
    /// When its speech ended ([`Heard::Done`]), for the end-to-end latency.
    speech_ended_at: Option<std::time::Instant>,
}

/// When the held message's wait is over.
async fn hold_over(held: &Option<Ready>) {
    match held {
        Some(ready) => tokio::time::sleep_until(ready.at + HOLD_FOR).await,
        None => std::future::pending().await,
    }
}

/// What the transcriber's loop woke up for.
enum Step {
    Heard(Option<Heard>),
    Speculated(Flight, Result<Option<Decoded>, EngineError>),
    /// The held message waited [`HOLD_FOR`].
    HoldOver,
}

/// A speculative decode in flight.
struct InFlight {
    flight: Flight,
    task: JoinHandle<Result<Option<Decoded>, EngineError>>,
}

/// What a speculative decode decodes: the utterance's voiced span so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flight {
    span: (i64, i64),
    tentative: bool,
}

/// The speculative decode's result, once it lands.
async fn landed(
    in_flight: &mut Option<InFlight>,
) -> (Flight, Result<Option<Decoded>, EngineError>) {
    let Some(f) = in_flight.as_mut() else {
        return std::future::pending().await;
    };
    let result = match (&mut f.task).await {
        Ok(result) => result,
        Err(_) => Err(EngineError::Stopped),
    };
    let flight = f.flight;
    *in_flight = None;
    (flight, result)
}

/// One speaker's transcriber, between messages.
#[derive(Default)]
struct State {
    produced: i32,
    /// A message held for the speaker's next utterance: it ended inside a number.
    held: Option<Ready>,
    /// The newest utterance in progress that came while a speculation was in flight.
    next: Option<(Utterance, bool)>,
    /// The last tentative decode: its span and transcript.
    tentative: Option<((i64, i64), Transcript)>,
}

/// What one step of a speaker's transcriber works with.
struct Transcriber<'a> {
    with: &'a Transcribing,
    conversation: &'a Conversation,
    speaker: &'a Speaker,
}

impl Transcriber<'_> {
    /// Starts a speculative decode of the utterance so far.
    fn speculate(&self, utterance: Utterance, tentative: bool) -> InFlight {
        let engine = self.with.engine.clone();
        let route = self.conversation.route;
        let urgency = if tentative {
            Urgency::Tentative
        } else {
            Urgency::Partial
        };
        let flight = Flight {
            span: utterance.span(),
            tentative,
        };
        let task =
            tokio::spawn(async move { engine.speculate(utterance.audio, route, urgency).await });
        InFlight { flight, task }
    }

    /// A speculative decode landed: its hypothesis goes out as a partial; a tentative
    /// one is kept for the endpoint, and one that ends a sentence lets the endpointer
    /// close the utterance sooner.
    fn speculated(
        &self,
        flight: Flight,
        result: Result<Option<Decoded>, EngineError>,
        state: &mut State,
    ) {
        let Ok(Some(decoded)) = result else {
            return;
        };
        let transcript = decoded.transcript;
        if flight.tentative {
            state.tentative = Some((flight.span, transcript.clone()));
        }
        let Some(heard) = speech_only(transcript) else {
            return;
        };
        if flight.tentative && ends_sentence(&heard.text) {
            self.conversation
                .sentence_ends
                .mark(self.speaker.role, flight.span);
        }
        let redacted = self.redact(&heard.text, flight.span.1, None);
        self.conversation.events.send(ConversationEvent::Partial {
            role: self.speaker.role,
            start_ms: flight.span.0,
            end_ms: flight.span.1,
            text: redacted.text,
        });
    }

    /// The complete utterance's transcript: the tentative decode's when it holds the
    /// same speech (landed, or awaited if still in flight), otherwise a final decode of
    /// its audio (taken: only its times are needed after this).
    async fn final_decode(
        &self,
        utterance: &mut Utterance,
        in_flight: &mut Option<InFlight>,
        state: &mut State,
    ) -> Result<Transcript, EngineError> {
        let span = utterance.span();
        let tentative = std::mem::take(&mut state.tentative);
        state.next = None;
        let same = Flight {
            span,
            tentative: true,
        };
        let mut reused = tentative.filter(|(s, _)| *s == span).map(|(_, t)| t);
        if let Some(f) = in_flight.take() {
            if reused.is_none() && f.flight == same {
                if let Ok(Ok(Some(decoded))) = f.task.await {
                    reused = Some(decoded.transcript);
                }
            } else {
                f.task.abort(); // a partial of this utterance: too late to matter
            }
        }
        let source = if reused.is_some() {
            "tentative"
        } else {
            "endpoint"
        };
        self.with.metrics.finals.with_label_values(&[source]).inc();
        match reused {
            Some(transcript) => Ok(transcript),
            None => self
                .with
                .engine
                .transcribe(
                    std::mem::take(&mut utterance.audio),
                    self.conversation.route,
                )
                .await
                .map(|decoded| decoded.transcript),
        }
    }

    /// `text` redacted as the conversation asks, judged with what was said before it
    /// ended (at `end_ms`) and, for a held message, the speaker's next utterance.
    fn redact(&self, text: &str, end_ms: i64, next: Option<&str>) -> Applied {
        let said = self.said();
        let mut context = said.before(self.speaker.role.as_str(), Some(end_ms));
        context.next = next;
        self.conversation.redaction.apply(text, &context)
    }

    fn said(&self) -> std::sync::MutexGuard<'_, ConversationContext> {
        // A panic elsewhere cannot leave the context half-written: use it as it is.
        self.conversation
            .said
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Filters a decoded utterance and waits for its audio to be confirmed as the
    /// contact's: what is left becomes a message.
    async fn ready(
        &self,
        utterance: Utterance,
        fragment: u64,
        decoded: Result<Transcript, EngineError>,
    ) -> Option<Ready> {
        let (with, conversation, role) = (self.with, self.conversation, self.speaker.role);
        let outcome = |name: &str| with.metrics.utterances.with_label_values(&[name]).inc();
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                outcome("failed");
                tracing::error!(conversation = %conversation.id, role = role.as_str(), error = %e, "utterance not transcribed");
                conversation.checkpoints.finished(role);
                return None;
            }
        };
        let Some(transcript) = speech_only(decoded) else {
            outcome("not_speech");
            tracing::debug!(conversation = %conversation.id, "decoded audio was not speech");
            conversation.checkpoints.finished(role);
            return None;
        };
        if !confirmed(with, conversation, fragment).await {
            outcome("unconfirmed");
            tracing::info!(conversation = %conversation.id, start_ms = utterance.start_ms, "utterance of an unconfirmed fragment dropped: the reading ended before its contact was confirmed");
            conversation.checkpoints.finished(role);
            return None;
        }
        outcome("message");
        Some(Ready {
            utterance,
            transcript,
            at: tokio::time::Instant::now(),
            held: false,
            speech_ended_at: None,
        })
    }

    /// Sends a ready message: first the held one, judged with this one as its
    /// continuation; then this one, unless it ends inside a number itself and waits.
    async fn release(&self, ready: Ready, state: &mut State) {
        if let Some(held) = state.held.take() {
            self.publish(held, Some(&ready.transcript.text), state)
                .await;
        }
        let open = {
            let said = self.said();
            let context = said.before(self.speaker.role.as_str(), Some(ready.utterance.end_ms));
            self.conversation
                .redaction
                .ends_open(&ready.transcript.text, &context)
        };
        if open {
            state.held = Some(Ready {
                held: true,
                ..ready
            });
        } else {
            self.publish(ready, None, state).await;
        }
    }

    /// Redacts, stores and publishes one message; `next` is the speaker's next
    /// utterance when the message was held for it.
    async fn publish(&self, ready: Ready, next: Option<&str>, state: &mut State) {
        let (with, conversation, speaker) = (self.with, self.conversation, self.speaker);
        let Ready {
            utterance,
            mut transcript,
            at,
            held,
            speech_ended_at,
        } = ready;
        if held {
            with.metrics
                .redaction_hold_seconds
                .observe(at.elapsed().as_secs_f64());
        }
        let applied = self.redact(&transcript.text, utterance.end_ms, next);
        self.said().heard(
            speaker.role.as_str(),
            &transcript.text,
            Some(utterance.end_ms),
        );
        mask_tokens(&mut transcript, &applied.found);
        let message = NewMessage {
            id: MessageId::generate(),
            conversation_id: conversation.id.clone(),
            stream_id: speaker.stream_id.clone(),
            role: speaker.role,
            sender_external_id: speaker.external_id.clone(),
            start_ms: utterance.start_ms,
            end_ms: utterance.end_ms,
            tokens: conversation
                .detailed_token
                .then(|| tokens_json(&transcript, utterance.audio_start_ms)),
            text: applied.text,
            unredacted_text: applied.unredacted_text,
            created_at: Utc::now(),
        };
        let position = conversation.checkpoints.finished(speaker.role);
        let fence = Fence {
            lease: &conversation.lease,
            position: position.as_ref(),
        };
        let seq = match store_message(&with.store, &message, &fence).await {
            Ok(appended) => {
                if !appended.retrievable() {
                    tracing::debug!(conversation = %conversation.id, "past the after-call cap: stored for the feed only");
                }
                Some(appended.seq)
            }
            Err(AppendError::LeaseLost) => {
                conversation.control.end(Ending::Lost);
                return;
            }
            Err(AppendError::Db(e)) => {
                tracing::error!(conversation = %conversation.id, error = %e, "message not stored");
                None
            }
        };
        let published = Arc::new(Published {
            tenant_id: conversation.tenant_id.clone(),
            external_conversation_id: conversation.external_id.clone(),
            message,
            speech_ended_at,
        });
        with.publisher.publish(published.clone());
        conversation
            .events
            .send(ConversationEvent::Final { published, seq });
        state.produced += 1;
    }
}

/// Whether a hypothesis ends a sentence: sentence punctuation at the end (a trailing
/// ellipsis trails off instead).
fn ends_sentence(text: &str) -> bool {
    let text = text.trim_end();
    text.ends_with(['.', '?', '!']) && !text.ends_with("..")
}

/// Waits, if need be, for the reading to confirm that the utterance's speech began in a
/// fragment of this contact; the wait is measured.
async fn confirmed(with: &Transcribing, conversation: &Conversation, fragment: u64) -> bool {
    let confirmations = &conversation.confirmations;
    if confirmations.is_confirmed(fragment) {
        return true;
    }
    let started = tokio::time::Instant::now();
    let confirmed = confirmations.confirmed(fragment).await;
    if confirmed {
        with.metrics
            .confirmation_wait_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    confirmed
}

/// How long storing a message keeps retrying while the database is unreachable (a
/// PostgreSQL restart or failover takes seconds).
const STORE_RETRY_FOR: Duration = Duration::from_secs(30);

/// Stores the message, retrying database errors with backoff for [`STORE_RETRY_FOR`];
/// a lost lease is final.
async fn store_message(
    store: &Store,
    message: &NewMessage,
    fence: &Fence<'_>,
) -> Result<Appended, AppendError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match store.append_fenced(message, fence).await {
            Err(AppendError::Db(e)) if started.elapsed() + delay < STORE_RETRY_FOR => {
                tracing::warn!(conversation = %message.conversation_id, error = %e, "cannot store the message yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}

/// Masks the word tokens that fall inside a redacted span of the transcript's text.
fn mask_tokens(transcript: &mut Transcript, found: &[Found]) {
    if found.is_empty() {
        return;
    }
    let mut cursor = 0;
    for word in &mut transcript.words {
        let Some(at) = transcript.text[cursor..].find(&word.content) else {
            continue;
        };
        let range = cursor + at..cursor + at + word.content.len();
        cursor = range.end;
        if found
            .iter()
            .any(|f| f.span.start < range.end && range.start < f.span.end)
        {
            word.content = mask_word(&word.content);
        }
    }
}

/// Word tokens with times from the start of the participant's stream.
fn tokens_json(transcript: &Transcript, audio_start_ms: i64) -> String {
    let words: Vec<Word> = transcript
        .words
        .iter()
        .map(|w| Word {
            content: w.content.clone(),
            start: audio_start_ms + w.start,
            end: audio_start_ms + w.end,
        })
        .collect();
    serde_json::to_string(&words).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use tokio::sync::broadcast;

    use super::*;
    use crate::service::testing::{Started, started_conversation};
    use crate::store::leases::ResumePoint;
    use crate::transcribe::engines::Engines;
    use crate::transcribe::scripted::ScriptedEngine;

    /// Hands every message to its subscribers, as the webhook publisher does.
    struct Observed(broadcast::Sender<Arc<Published>>);

    impl Publisher for Observed {
        fn publish(&self, message: Arc<Published>) {
            let _ = self.0.send(message);
        }

        fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
            self.0.subscribe()
        }
    }

    struct Fixture {
        with: Transcribing,
        conversation: Arc<Conversation>,
        speaker: Speaker,
        published: broadcast::Receiver<Arc<Published>>,
        _started: Started,
    }

    /// A started conversation, its customer's transcriber inputs, and an engine that
    /// says `lines` in turn.
    async fn fixture(lines: &[&str]) -> Fixture {
        let started = started_conversation().await;
        let metrics = crate::metrics::Metrics::new().engine;
        let script = ScriptedEngine::new(lines.iter().copied());
        let engines = Arc::new(Engines::fixed(Arc::new(script)));
        let engine = EnginePool::start(engines, 1, 4, metrics.clone()).unwrap();
        let (tx, published) = broadcast::channel(16);
        let with = Transcribing {
            store: started.store.clone(),
            engine: Arc::new(engine),
            publisher: Arc::new(Observed(tx)),
            metrics,
        };
        let conversation = Arc::new(Conversation {
            id: ConversationId(started.conversation.id.clone()),
            tenant_id: started.tenant.clone(),
            external_id: "guid-1".into(),
            detailed_token: true,
            redaction: Redaction::from_settings(
                entity::RedactionOutput::Redacted,
                &["CREDIT_CARD_NUMBER".into()],
                "en",
            ),
            route: Route::DEFAULT,
            lease: started.lease.clone(),
            checkpoints: Arc::new(Checkpoints::new(&ResumePoint::default())),
            confirmations: Arc::new(Confirmations::default()),
            sentence_ends: Arc::default(),
            events: ConversationEvents::default(),
            control: Arc::new(SessionControl::default()),
            said: Default::default(),
        });
        let speaker = Speaker {
            role: Role::Customer,
            stream_id: StreamId(started.stream(Role::Customer).id.clone()),
            external_id: "TT9833237".into(),
        };
        Fixture {
            with,
            conversation,
            speaker,
            published,
            _started: started,
        }
    }

    /// A second of audio starting at `start_ms`, not from a reader (confirmed).
    fn utterance(start_ms: i64) -> Heard {
        Heard::Done {
            utterance: Utterance {
                start_ms,
                end_ms: start_ms + 1000,
                audio_start_ms: start_ms - 200,
                audio: vec![0.1; 16_000],
            },
            fragment: 0,
            speech_ended_at: None,
        }
    }

    #[test]
    fn a_sentence_ends_with_its_punctuation() {
        assert!(ends_sentence("And so my fellow Americans."));
        assert!(ends_sentence("Can you hear me? "));
        assert!(ends_sentence("Saved."));
        assert!(!ends_sentence("The conference is now locked,"));
        assert!(!ends_sentence("and then I said"));
        assert!(!ends_sentence("well, I was thinking..."));
    }

    #[tokio::test]
    async fn utterances_become_redacted_messages_in_order_stored_and_published() {
        let mut f = fixture(&["hello there", "my card is 4539 1488 0343 6467"]).await;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = spawn(f.with.clone(), f.conversation.clone(), f.speaker, rx);
        for start in [1000, 3000] {
            f.conversation.checkpoints.handed(Role::Customer);
            tx.send(utterance(start)).unwrap();
        }
        drop(tx);
        assert_eq!(task.await.unwrap(), 2, "two messages produced");

        let stored = f.with.store.messages(&f.conversation.id).await.unwrap();
        let texts: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["hello there", "my card is #### #### #### ####"]);
        assert_eq!((stored[1].start_ms, stored[1].end_ms), (3000, 4000));
        let tokens: serde_json::Value =
            serde_json::from_str(stored[1].tokens.as_deref().unwrap()).unwrap();
        assert_eq!(
            tokens[0]["start"], 2800,
            "word times count from the stream's start"
        );
        assert!(!tokens.to_string().contains("4539"), "{tokens}");
        for expected in texts {
            let sent = f.published.recv().await.unwrap();
            assert_eq!(sent.message.text, expected);
            assert_eq!(sent.external_conversation_id, "guid-1");
        }
    }

    /// Issue 22: "my card number is 4539 1488" | "0343 6467": the first message waits
    /// for the second, both are masked, and the wait is measured; a message left open
    /// when the participant stops is sent (masked) at once.
    #[tokio::test]
    async fn a_message_ending_inside_a_number_waits_for_the_rest() {
        let mut f = fixture(&[
            "my card number is 4539 1488",
            "0343 6467",
            "and the card is 4539",
        ])
        .await;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = spawn(f.with.clone(), f.conversation.clone(), f.speaker, rx);
        for start in [1000, 3000, 6000] {
            f.conversation.checkpoints.handed(Role::Customer);
            tx.send(utterance(start)).unwrap();
            if start == 1000 {
                // Decoded and held: nothing is sent before the rest of the number.
                tokio::time::sleep(Duration::from_millis(500)).await;
                assert!(f.published.try_recv().is_err(), "held");
            }
        }
        drop(tx);
        assert_eq!(task.await.unwrap(), 3);
        let mut texts = Vec::new();
        while let Ok(sent) = f.published.try_recv() {
            texts.push(sent.message.text.clone());
        }
        assert_eq!(
            texts,
            [
                "my card number is #### ####",
                "#### ####",
                "and the card is ####"
            ]
        );
        let held = f.with.metrics.redaction_hold_seconds.get_sample_count();
        assert_eq!(
            held, 2,
            "the first waited for the second; the last was flushed"
        );
    }

    /// The utterance at `start_ms` as it stands while spoken.
    fn growing(start_ms: i64, tentative: bool) -> Heard {
        let Heard::Done { utterance, .. } = utterance(start_ms) else {
            unreachable!("utterance() is complete");
        };
        Heard::Growing {
            utterance,
            tentative,
        }
    }

    #[tokio::test]
    async fn partials_are_redacted_and_the_tentative_decode_becomes_the_final() {
        let card = "my card is 4539 1488 0343 6467.";
        // Decoded twice: the partial, then the tentative. A final decode would say
        // "decoded again".
        let f = fixture(&["my card is 4539 1488 0343 6467", card, "decoded again"]).await;
        let mut events = f.conversation.events.subscribe();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = spawn(f.with.clone(), f.conversation.clone(), f.speaker, rx);
        let mut next_partial = async || match events.recv().await.unwrap() {
            ConversationEvent::Partial { text, .. } => text,
            other => panic!("{other:?}"),
        };
        tx.send(growing(1000, false)).unwrap();
        assert_eq!(next_partial().await, "my card is #### #### #### ####");
        tx.send(growing(1000, true)).unwrap();
        assert_eq!(next_partial().await, "my card is #### #### #### ####.");
        f.conversation.checkpoints.handed(Role::Customer);
        tx.send(utterance(1000)).unwrap();
        drop(tx);
        assert_eq!(task.await.unwrap(), 1);
        let ConversationEvent::Final { published, .. } = events.recv().await.unwrap() else {
            panic!("the final follows");
        };
        assert_eq!(published.message.text, "my card is #### #### #### ####.");
        assert_eq!(
            f.with
                .metrics
                .finals
                .with_label_values(&["tentative"])
                .get(),
            1
        );
        let stored = f.with.store.messages(&f.conversation.id).await.unwrap();
        assert_eq!(stored[0].text, published.message.text);
    }

    #[tokio::test]
    async fn non_speech_is_dropped_and_a_lost_lease_ends_the_session_without_publishing() {
        let mut f = fixture(&["[BLANK_AUDIO]", "after the takeover"]).await;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = spawn(f.with.clone(), f.conversation.clone(), f.speaker, rx);
        f.conversation.checkpoints.handed(Role::Customer);
        tx.send(utterance(1000)).unwrap();
        // Another replica takes the conversation: this lease no longer fences anything.
        f.with
            .store
            .end_lease(&f.conversation.id, None)
            .await
            .unwrap();
        f.conversation.checkpoints.handed(Role::Customer);
        tx.send(utterance(3000)).unwrap();
        drop(tx);
        assert_eq!(task.await.unwrap(), 0, "nothing became a message");
        assert_eq!(f.conversation.control.ending(), Some(Ending::Lost));
        assert!(
            f.with
                .store
                .messages(&f.conversation.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(f.published.try_recv().is_err(), "nothing was published");
    }
}
