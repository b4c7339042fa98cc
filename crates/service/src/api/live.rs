//! The live stream of one conversation (`GET /conversation/v1/conversation/live`), as
//! Server-Sent Events: the stored utterances first, then, while the call goes on, each
//! participant's provisional text, each final utterance, the participants' statuses, and
//! the end. Each event's id is its place in the conversation: an utterance's is its
//! transcription sequence (`7`), any other event's is the last utterance's followed by a
//! count (`7.3`), so a client that reconnects with `Last-Event-ID` gets every utterance
//! after the last one it saw, none twice (partials are never stored, so none are replayed).
//!
//! On the replica that reads the call the stream follows the session's in-process events
//! (subscribed before the replay, duplicates dropped by sequence); elsewhere it polls the
//! shared database for new utterances until the conversation stops (no partials there). A
//! client that falls behind the session's event backlog, or stops reading for 15 s, is
//! sent `closed` and the response ends: the pipeline and the webhook never wait for a
//! viewer.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use chrono::SecondsFormat;
use entity::{ConversationState, conversation};
use futures_util::stream::{BoxStream, StreamExt};
use poem::web::sse::Event;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::EventStream;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi, Union};
use tokio::sync::broadcast::{self, error::RecvError};

use super::auth::ApiKeyAuth;
use super::conversations::{ConversationErrors, ConversationTag, MessageItem};
use super::rate_limit::StreamPermit;
use super::sse_pump::{STALLED, pump};
use super::timestamp::Timestamp;
use crate::error::{ApiError, Failure};
use crate::ids::ConversationId;
use crate::service::events::ConversationEvent;
use crate::state::SharedState;
use crate::status::StreamStatus;
use crate::store::Store;
use crate::store::conversations::StreamSummary;
use crate::store::messages::{MESSAGE_CAP, NewMessage};
use crate::wire::{ParticipantRole, Sender, stored_tokens};

/// How often an idle stream sends a comment, so that proxies keep it open.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a stream of a call read by another replica looks for new utterances.
const POLL: Duration = Duration::from_millis(500);
/// How long a stream following the session waits for an event before it checks that the
/// call is still being read (a session that ended just as the client subscribed sends
/// nothing more).
const QUIET: Duration = Duration::from_secs(5);

/// A participant's provisional text of the utterance in progress, redacted: the next
/// `partial` of the same participant or their next `utterance` replaces it.
#[derive(Debug, Clone, Object)]
pub struct LivePartial {
    pub role: ParticipantRole,
    /// Milliseconds from the start of the participant's stream.
    pub start: i64,
    pub end: i64,
    pub text: String,
}

/// A participant's stream: being read (`streaming`), or ended with its status code
/// (1000 OK, 1008 ended by source, 4040 track not found, ...; see StreamStatus).
#[derive(Debug, Clone, Object)]
pub struct LiveStatus {
    pub role: ParticipantRole,
    pub streaming: bool,
    pub code: i32,
    pub description: String,
}

/// Why the stream ends: `stopped` (the call ended: nothing follows) or `closed` (the
/// server ended this response, e.g. the client fell behind: reconnect with
/// `Last-Event-ID`).
#[derive(Debug, Clone, Object)]
pub struct LiveEnd {
    pub reason: String,
}

/// The data of one event; its SSE `event` field names which.
#[derive(Debug, Clone, Union)]
pub enum LiveEvent {
    /// `utterance`
    Utterance(MessageItem),
    /// `partial`
    Partial(LivePartial),
    /// `status`
    Status(LiveStatus),
    /// `stopped` or `closed`
    End(LiveEnd),
}

/// One event as sent: its name, id and data.
pub struct LiveFrame {
    name: &'static str,
    /// `None` keeps the client's last event id (the end of a stalled stream).
    id: Option<String>,
    data: LiveEvent,
}

impl LivePartial {
    pub(crate) fn new(role: crate::ids::Role, start: i64, end: i64, text: String) -> LivePartial {
        LivePartial {
            role: role.into(),
            start,
            end,
            text,
        }
    }
}

impl LiveStatus {
    pub(crate) fn new(role: crate::ids::Role, streaming: bool, status: StreamStatus) -> LiveStatus {
        LiveStatus {
            role: role.into(),
            streaming: streaming && status.is_ok(),
            code: status.code.code(),
            description: status.description,
        }
    }
}

impl LiveFrame {
    fn into_event(self) -> Event {
        let event = Event::message(self.data.to_json_string()).event_type(self.name);
        match self.id {
            Some(id) => event.id(id),
            None => event,
        }
    }

    /// The last event of a stream whose client stopped reading.
    fn stalled() -> LiveFrame {
        LiveFrame {
            name: "closed",
            id: None,
            data: LiveEvent::End(LiveEnd {
                reason: format!(
                    "this client read nothing for {} s; reconnect with Last-Event-ID to resume",
                    STALLED.as_secs()
                ),
            }),
        }
    }
}

/// The spec describes a frame by its data.
impl Type for LiveFrame {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        LiveEvent::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        LiveEvent::schema_ref()
    }

    fn register(registry: &mut Registry) {
        LiveEvent::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for LiveFrame {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.data.to_json()
    }
}

/// The response.
#[derive(ApiResponse)]
pub enum LiveStream {
    /// The conversation's events (`text/event-stream`), until `stopped` or `closed`.
    #[oai(status = 200)]
    Events(EventStream<BoxStream<'static, LiveFrame>>),
}

pub struct LiveApi {
    pub state: SharedState,
}

#[OpenApi(
    prefix_path = "/conversation/v1",
    tag = "ConversationTag::Conversations"
)]
impl LiveApi {
    /// Watch a conversation live
    ///
    /// Server-Sent Events (`text/event-stream`, read it with `fetch()`: the key goes in
    /// the `x-api-key` header, never in the URL). First the stored utterances, then, while
    /// the call goes on: `partial` (a participant's provisional text, redacted, replaced by
    /// their next partial or utterance; never stored), `utterance` (final: exactly as
    /// `getConversationMessages` lists it, the same id and text as the webhook), `status`
    /// (a participant's stream, also sent once per participant on connecting) and last
    /// `stopped` (the call ended) or `closed` (this client fell behind, or read nothing
    /// for 15 s while events waited, or the database failed: reconnect), after which the
    /// response ends. A comment every 15 s keeps idle streams open. Each event
    /// has an id (`7` for utterance 7, `7.3` for the third event after it): reconnect with
    /// `Last-Event-ID` to get every utterance after it, none twice. A past conversation
    /// replays its utterances and ends with `stopped`. On a replica that does not read the
    /// call, utterances arrive from the database (within about half a second) and there
    /// are no partials. A key holds at most 20 live streams (of both kinds) open at once;
    /// one more is 429-01.
    #[oai(
        path = "/conversation/live",
        method = "get",
        operation_id = "streamConversation"
    )]
    async fn live(
        &self,
        auth: ApiKeyAuth,
        /// The `guid` (Connect ContactId) given to start-streaming.
        #[oai(name = "externalId", validator(pattern = "^[A-Za-z0-9._:-]{1,128}$"))]
        external_id: Query<String>,
        /// The id of the last event received, to resume after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<LiveStream, Failure<ConversationErrors>> {
        crate::audit::note_subject(&external_id.0);
        let after = resume_after(last_event_id.0.as_deref())?;
        let permit = self.state.live_streams.take(&auth.0.key_id)?;
        let conversation = self
            .state
            .store
            .conversation_by_external_id(&auth.0.tenant_id, &external_id.0)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("conversation {} not found", external_id.0))
            })?;
        // Subscribed before the replay is read, so nothing falls between the two.
        let events = self
            .state
            .calls
            .live_events(&ConversationId(conversation.id.clone()));
        Ok(stream(
            self.state.store.clone(),
            conversation,
            after,
            events,
            permit,
        )
        .await?)
    }
}

/// Where a reconnecting client resumes: after the utterance of `Last-Event-ID` (`7` or
/// `7.3` both mean "after utterance 7"); 0 for a new client.
fn resume_after(last_event_id: Option<&str>) -> Result<i32, ApiError> {
    let Some(id) = last_event_id else {
        return Ok(0);
    };
    id.split('.')
        .next()
        .and_then(|seq| seq.parse::<i32>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Last-Event-ID",
                "must be an event id this stream sent (`7` or `7.3`)",
            )
        })
}

/// The stream of `conversation` for a client that saw utterances up to `after`: `events`
/// are the session's, when this replica reads the call (subscribed before this is called).
async fn stream(
    store: Store,
    conversation: conversation::Model,
    after: i32,
    events: Option<broadcast::Receiver<ConversationEvent>>,
    permit: StreamPermit,
) -> Result<LiveStream, ApiError> {
    let id = ConversationId(conversation.id.clone());
    let mut live = Live {
        _permit: permit,
        ids: Ids::after(after),
        queue: VecDeque::new(),
        done: false,
        store,
        conversation: id,
        events,
    };
    for row in live.store.messages_after(&live.conversation, after).await? {
        let seq = row.seq;
        live.push_utterance(seq, MessageItem::from(row));
    }
    live.push_statuses(&conversation).await?;
    let frames = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|frame| (frame, live))
    });
    Ok(LiveStream::Events(
        EventStream::new(pump(frames.boxed(), LiveFrame::stalled()))
            .keep_alive(HEARTBEAT)
            .to_event(LiveFrame::into_event),
    ))
}

/// Event ids: the last utterance's sequence, and how many other events followed it.
struct Ids {
    seq: i32,
    since: u32,
}

impl Ids {
    fn after(seq: i32) -> Ids {
        Ids { seq, since: 0 }
    }

    fn utterance(&mut self, seq: i32) -> String {
        self.seq = seq;
        self.since = 0;
        seq.to_string()
    }

    fn other(&mut self) -> String {
        self.since += 1;
        format!("{}.{}", self.seq, self.since)
    }
}

struct Live {
    /// Given back when the stream ends or its client goes away.
    _permit: StreamPermit,
    store: Store,
    conversation: ConversationId,
    events: Option<broadcast::Receiver<ConversationEvent>>,
    ids: Ids,
    /// Frames ready to send (the replay, or utterances a poll found).
    queue: VecDeque<LiveFrame>,
    /// The end was sent.
    done: bool,
}

impl Live {
    fn push_utterance(&mut self, seq: i32, item: MessageItem) {
        let id = self.ids.utterance(seq);
        self.queue.push_back(LiveFrame {
            name: "utterance",
            id: Some(id),
            data: LiveEvent::Utterance(item),
        });
    }

    fn frame(&mut self, name: &'static str, data: LiveEvent) -> LiveFrame {
        LiveFrame {
            name,
            id: Some(self.ids.other()),
            data,
        }
    }

    fn end(&mut self, name: &'static str, reason: &str) -> LiveFrame {
        self.done = true;
        self.frame(
            name,
            LiveEvent::End(LiveEnd {
                reason: reason.to_owned(),
            }),
        )
    }

    /// Each participant's stream as recorded now: a client joining mid-call learns who is
    /// still being read.
    async fn push_statuses(&mut self, conversation: &conversation::Model) -> Result<(), ApiError> {
        let streaming = conversation.state == ConversationState::Streaming;
        for row in self.store.latest_streams(conversation).await? {
            let recorded = StreamSummary::recorded(&row)?;
            let status = LiveStatus::new(row.role, streaming, recorded.status);
            let frame = self.frame("status", LiveEvent::Status(status));
            self.queue.push_back(frame);
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<LiveFrame> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            if self.done {
                return None;
            }
            let frame = match self.events.as_mut() {
                Some(events) => match tokio::time::timeout(QUIET, events.recv()).await {
                    Ok(event) => self.follow(event),
                    Err(_) => self.unless_read().await,
                },
                None => self.poll().await,
            };
            // `None`: a final already replayed; wait for the next event.
            if frame.is_some() {
                return frame;
            }
        }
    }

    /// The frame for one of the session's events (`None` for a final already sent).
    fn follow(&mut self, event: Result<ConversationEvent, RecvError>) -> Option<LiveFrame> {
        match event {
            Ok(ConversationEvent::Final { published, seq }) => {
                let seq = seq.filter(|s| *s > self.ids.seq && *s <= MESSAGE_CAP)?;
                self.push_utterance(seq, MessageItem::from(&published.message));
                self.queue.pop_front()
            }
            Ok(ConversationEvent::Partial {
                role,
                start_ms,
                end_ms,
                text,
            }) => {
                let partial = LivePartial::new(role, start_ms, end_ms, text);
                Some(self.frame("partial", LiveEvent::Partial(partial)))
            }
            Ok(ConversationEvent::Status {
                role,
                streaming,
                status,
            }) => {
                let status = LiveStatus::new(role, streaming, status);
                Some(self.frame("status", LiveEvent::Status(status)))
            }
            Ok(ConversationEvent::Stopped) | Err(RecvError::Closed) => {
                Some(self.end("stopped", "the call stopped"))
            }
            Err(RecvError::Lagged(_)) => Some(self.end(
                "closed",
                "this client fell behind the call; reconnect with Last-Event-ID to resume",
            )),
        }
    }

    /// Whether some replica still reads the call: the conversation is streaming and its
    /// lease is there (a session that ends, by stop-streaming or by itself, ends it).
    async fn is_read(&self) -> Result<bool, sea_orm::DbErr> {
        let streaming = self
            .store
            .conversation(&self.conversation)
            .await?
            .is_some_and(|c| c.state == ConversationState::Streaming);
        Ok(streaming && self.store.lease(&self.conversation).await?.is_some())
    }

    /// After a quiet spell: the end if nobody reads the call any more, else nothing.
    async fn unless_read(&mut self) -> Option<LiveFrame> {
        match self.is_read().await {
            Ok(true) => None,
            Ok(false) => Some(self.end("stopped", "the call stopped")),
            Err(_) => Some(self.database_gone()),
        }
    }

    fn database_gone(&mut self) -> LiveFrame {
        self.end(
            "closed",
            "the database is unavailable; reconnect with Last-Event-ID to resume",
        )
    }

    /// A call read by another replica (or by none): new utterances from the database,
    /// until nobody reads it.
    async fn poll(&mut self) -> Option<LiveFrame> {
        loop {
            // Whether it is read first: what was stored before it ended is read next.
            let Ok(read) = self.is_read().await else {
                return Some(self.database_gone());
            };
            let Ok(new) = self
                .store
                .messages_after(&self.conversation, self.ids.seq)
                .await
            else {
                return Some(self.database_gone());
            };
            for row in new {
                let seq = row.seq;
                self.push_utterance(seq, MessageItem::from(row));
            }
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            if !read {
                return Some(self.end("stopped", "the call stopped"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A final as the session sent it, in the shape the messages API lists it.
impl From<&NewMessage> for MessageItem {
    fn from(m: &NewMessage) -> Self {
        MessageItem {
            message_id: m.id.0.clone(),
            stream_id: m.stream_id.0.clone(),
            text: m.text.clone(),
            unredacted_text: m.unredacted_text.clone(),
            tokens: stored_tokens(m.tokens.as_deref()),
            sender: Sender {
                external_id: m.sender_external_id.clone(),
                role: m.role.into(),
            },
            start: m.start_ms,
            end: m.end_ms,
            created_timestamp: Timestamp::new(m.created_at, SecondsFormat::Millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnecting_client_resumes_after_its_last_utterance() {
        assert_eq!(resume_after(None).unwrap(), 0);
        assert_eq!(resume_after(Some("7")).unwrap(), 7);
        assert_eq!(resume_after(Some("7.3")).unwrap(), 7);
        for bad in ["", "x", "-1", "7x.2"] {
            assert!(resume_after(Some(bad)).is_err(), "{bad}");
        }
    }

    /// The session's events go out through a broadcast channel: sending never waits for a
    /// viewer, and a viewer that falls more than the backlog behind is told so and ended
    /// (it reconnects with Last-Event-ID), instead of slowing the call.
    #[tokio::test]
    async fn a_client_that_falls_behind_is_closed_and_the_session_never_waits() {
        use crate::ids::{KeyId, Role};
        use crate::service::events::ConversationEvents;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        let events = ConversationEvents::default();
        let stalled = events.subscribe();
        let sending = std::time::Instant::now();
        for n in 0..1_000 {
            events.send(ConversationEvent::Partial {
                role: Role::Customer,
                start_ms: 0,
                end_ms: n,
                text: "more".into(),
            });
        }
        assert!(sending.elapsed() < Duration::from_secs(1), "sending waited");
        let permits = std::sync::Arc::new(crate::api::rate_limit::StreamPermits::default());
        let mut live = Live {
            _permit: permits.take(&KeyId("k".into())).unwrap(),
            store,
            conversation: ConversationId("c".into()),
            events: Some(stalled),
            ids: Ids::after(0),
            queue: VecDeque::new(),
            done: false,
        };
        let frame = live.next().await.unwrap();
        assert_eq!(frame.name, "closed");
        assert!(live.next().await.is_none());
    }

    #[test]
    fn ids_count_from_the_last_utterance() {
        let mut ids = Ids::after(4);
        assert_eq!(ids.other(), "4.1");
        assert_eq!(ids.other(), "4.2");
        assert_eq!(ids.utterance(5), "5");
        assert_eq!(ids.other(), "5.1");
    }
}
