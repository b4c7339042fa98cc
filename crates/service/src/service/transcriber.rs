//! Utterance → message, for one participant of one conversation, in order: decode on
//! the shared engine, drop what is not speech, store and publish. Runs as its own task
//! so the session keeps reading and endpointing while decodes wait for the engine.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audio::endpoint::Utterance;
use crate::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use crate::metrics::EngineMetrics;
use crate::redact::{Found, Redaction, mask_word};
use crate::service::checkpoint::Checkpoints;
use crate::service::control::{Ending, SessionControl};
use crate::store::Store;
use crate::store::leases::LeaseToken;
use crate::store::messages::{AppendError, Appended, Fence, NewMessage};
use crate::transcribe::filter::speech_only;
use crate::transcribe::pool::EnginePool;
use crate::transcribe::{Transcript, Word};
use crate::webhook::publish::{Published, Publisher};

/// What a conversation's transcribers share.
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub external_id: String,
    pub detailed_token: bool,
    pub redaction: Redaction,
    /// The lease every stored message is fenced by.
    pub lease: LeaseToken,
    /// Told when an utterance is done, so the track's resume position can move.
    pub checkpoints: Arc<Checkpoints>,
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

/// Starts the speaker's transcriber; it ends when `utterances` closes and returns how
/// many messages it produced.
pub fn spawn(
    with: Transcribing,
    conversation: Arc<Conversation>,
    speaker: Speaker,
    mut utterances: mpsc::UnboundedReceiver<Utterance>,
) -> JoinHandle<i32> {
    tokio::spawn(async move {
        let mut produced = 0;
        // The previous utterance's words, unredacted, in memory only: a number split by
        // a pause is redacted in the continuation.
        let mut previous: Option<String> = None;
        while let Some(utterance) = utterances.recv().await {
            if let Some(said) = transcribe(
                &with,
                &conversation,
                &speaker,
                utterance,
                previous.as_deref(),
            )
            .await
            {
                produced += 1;
                previous = Some(said);
            }
        }
        produced
    })
}

/// Decodes, filters, redacts, stores and publishes one utterance; the unredacted text
/// if it became a message.
async fn transcribe(
    with: &Transcribing,
    conversation: &Conversation,
    speaker: &Speaker,
    utterance: Utterance,
    previous: Option<&str>,
) -> Option<String> {
    let outcome = |name: &str| with.metrics.utterances.with_label_values(&[name]).inc();
    let role = speaker.role;
    let decoded = match with.engine.transcribe(utterance.audio).await {
        Ok(decoded) => decoded,
        Err(e) => {
            outcome("failed");
            tracing::error!(conversation = %conversation.id, role = role.as_str(), error = %e, "utterance not transcribed");
            conversation.checkpoints.finished(role);
            return None;
        }
    };
    let Some(mut transcript) = speech_only(decoded.transcript) else {
        outcome("not_speech");
        tracing::debug!(conversation = %conversation.id, "decoded audio was not speech");
        conversation.checkpoints.finished(role);
        return None;
    };
    outcome("message");
    let applied = conversation.redaction.apply(&transcript.text, previous);
    mask_tokens(&mut transcript, &applied.found);
    let said = std::mem::take(&mut transcript.text);
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
    let position = conversation.checkpoints.finished(role);
    let fence = Fence {
        lease: &conversation.lease,
        position: position.as_ref(),
    };
    match store_message(&with.store, &message, &fence).await {
        Ok(appended) if !appended.retrievable() => {
            tracing::debug!(conversation = %conversation.id, "past the after-call cap: stored for the feed only");
        }
        Ok(_) => {}
        Err(AppendError::LeaseLost) => {
            conversation.control.end(Ending::Lost);
            return None;
        }
        Err(AppendError::Db(e)) => {
            tracing::error!(conversation = %conversation.id, error = %e, "message not stored");
        }
    }
    with.publisher.publish(Arc::new(Published {
        tenant_id: conversation.tenant_id.clone(),
        external_conversation_id: conversation.external_id.clone(),
        message,
    }));
    Some(said)
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
