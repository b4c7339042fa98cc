//! The tenant's calls as they start and stop, with each one's events as it is spoken
//! (`GET /conversation/v1/live`), as Server-Sent Events: the wall of calls the console
//! lists. It reads the shared database once a second for the calls being read on any
//! replica and for the utterances they stored; a call this replica reads also sends its
//! partials, finals and statuses as they happen, through the session's in-process events.
//! One call's whole history comes from its live stream
//! (`GET /conversation/v1/conversation/live`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::SecondsFormat;
use futures_util::stream::{BoxStream, SelectAll, StreamExt};
use poem::web::sse::Event;
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};
use tokio::sync::broadcast::{self, error::RecvError};

use super::auth::ApiKeyAuth;
use super::conversations::{ConversationTag, MessageItem};
use super::live::{HEARTBEAT, LiveEnd, LivePartial, LiveStatus};
use super::rate_limit::StreamPermit;
use super::sse_pump::{STALLED, pump};
use super::timestamp::Timestamp;
use crate::error::{Failure, error_list};
use crate::ids::{ConversationId, TenantId};
use crate::service::calls::Calls;
use crate::service::events::ConversationEvent;
use crate::state::SharedState;
use crate::store::Store;
use crate::store::messages::MESSAGE_CAP;

/// How often the wall looks for calls that started or stopped.
const POLL: Duration = Duration::from_secs(1);
/// The most calls one wall shows.
const MAX_CALLS: u64 = 500;

/// Whether a call is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum CallState {
    Streaming,
    Stopped,
}

/// A call that started (`streaming`) or stopped.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct LiveConversation {
    /// The `guid` (Connect ContactId) given to start-streaming.
    pub external_id: String,
    pub state: CallState,
    /// When start-streaming started (or last resumed) it.
    pub started_at: Timestamp,
    pub customer_id: String,
    pub agent_id: String,
}

/// The calls being read when the stream opened were all sent: the list is complete.
#[derive(Debug, Clone, Object)]
pub struct WallSynced {
    /// How many there were.
    pub calls: u32,
}

/// A participant's provisional text in one of the calls.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CallPartial {
    /// The call's `guid`.
    pub external_id: String,
    #[oai(flatten)]
    pub partial: LivePartial,
}

/// A final utterance of one of the calls, as `getConversationMessages` lists it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CallUtterance {
    /// The call's `guid`.
    pub external_id: String,
    pub utterance: MessageItem,
}

/// A participant's stream in one of the calls.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CallStatus {
    /// The call's `guid`.
    pub external_id: String,
    #[oai(flatten)]
    pub status: LiveStatus,
}

/// The data of one event; its SSE `event` field names which.
#[derive(Debug, Clone, Union)]
pub enum WallEvent {
    /// `conversation`
    Conversation(LiveConversation),
    /// `synced`
    Synced(WallSynced),
    /// `partial`
    Partial(CallPartial),
    /// `utterance`
    Utterance(CallUtterance),
    /// `status`
    Status(CallStatus),
    /// `closed`: the server ended the stream (this client stopped reading, or the
    /// database failed); reconnect.
    End(LiveEnd),
}

impl WallEvent {
    fn closed(reason: String) -> WallEvent {
        WallEvent::End(LiveEnd { reason })
    }

    fn into_event(self) -> Event {
        let name = match self {
            WallEvent::Conversation(_) => "conversation",
            WallEvent::Synced(_) => "synced",
            WallEvent::Partial(_) => "partial",
            WallEvent::Utterance(_) => "utterance",
            WallEvent::Status(_) => "status",
            WallEvent::End(_) => "closed",
        };
        Event::message(self.to_json_string()).event_type(name)
    }
}

/// The response.
#[derive(ApiResponse)]
pub enum WallStream {
    /// `text/event-stream`: a `conversation` event per call being read when the stream
    /// opens, then `synced`, then `conversation` at each start and stop and each call's
    /// `utterance`, `partial` and `status` events as they happen.
    #[oai(status = 200)]
    Events(EventStream<BoxStream<'static, WallEvent>>),
}

error_list!(WallErrors: 400, 401, 413, 429, 500, 503);

pub struct WallApi {
    pub state: SharedState,
}

#[OpenApi(
    prefix_path = "/conversation/v1",
    tag = "ConversationTag::Conversations"
)]
impl WallApi {
    /// Watch the tenant's calls
    ///
    /// Server-Sent Events (`text/event-stream`; the key goes in the `x-api-key` header):
    /// a `conversation` event for each call being read when the stream opens, then
    /// `synced` (the list is complete), then a `conversation` event each time a call
    /// starts or stops, on any replica (within about a second), at most 500 calls. Between
    /// them, each call's events from the moment it is listed, each naming the call by its
    /// `externalId`: `utterance` (final, as `getConversationMessages` lists it, within
    /// about a second), and, for calls this replica reads, `partial` (provisional text,
    /// replaced by the participant's next partial or utterance) and `status` as they
    /// happen. Follow one call from its start with `streamConversation`. A comment every
    /// 15 s keeps an idle stream open; the stream ends only with `closed` (this client
    /// read nothing for 15 s while events waited, or the database failed). A key holds at
    /// most 20 live streams (of both kinds) open at once; one more is 429-01.
    #[oai(path = "/live", method = "get", operation_id = "streamConversations")]
    async fn wall(&self, auth: ApiKeyAuth) -> Result<WallStream, Failure<WallErrors>> {
        let wall = Wall {
            _permit: self.state.live_streams.take(&auth.0.key_id)?,
            store: self.state.store.clone(),
            sessions: self.state.calls.clone(),
            tenant: auth.0.tenant_id.clone(),
            shown: HashMap::new(),
            followed: SelectAll::new(),
            queue: VecDeque::new(),
            first: true,
            done: false,
            next_look: tokio::time::Instant::now(),
        };
        let stalled = format!(
            "this client read nothing for {} s; reconnect",
            STALLED.as_secs()
        );
        let events = futures_util::stream::unfold(wall, |mut wall| async move {
            wall.next().await.map(|event| (event, wall))
        });
        Ok(WallStream::Events(
            EventStream::new(pump(events.boxed(), WallEvent::closed(stalled)))
                .keep_alive(HEARTBEAT)
                .to_event(WallEvent::into_event),
        ))
    }
}

/// One session event of a followed call, with the call's conversation id.
type Followed = (String, Result<ConversationEvent, RecvError>);

/// A call the wall shows as streaming.
struct Shown {
    call: LiveConversation,
    /// The last utterance sent (by sequence).
    sent: i32,
    /// This replica's session events are followed (a call read elsewhere, or one whose
    /// events this wall fell behind on, is caught up from the database instead).
    followed: bool,
}

struct Wall {
    /// Given back when its client goes away.
    _permit: StreamPermit,
    store: Store,
    sessions: Arc<Calls>,
    tenant: TenantId,
    /// The calls shown as streaming, by conversation id.
    shown: HashMap<String, Shown>,
    /// The session events of the shown calls this replica reads.
    followed: SelectAll<BoxStream<'static, Followed>>,
    /// Events ready to send.
    queue: VecDeque<WallEvent>,
    /// No look yet: the first one is sent at once, then `synced`.
    first: bool,
    /// `closed` was sent.
    done: bool,
    next_look: tokio::time::Instant,
}

impl Wall {
    /// The next event; `None` after `closed`.
    async fn next(&mut self) -> Option<WallEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            tokio::select! {
                Some((id, event)) = self.followed.next(), if !self.followed.is_empty() => {
                    self.on_session_event(&id, event);
                }
                () = tokio::time::sleep_until(self.next_look) => {
                    if self.look().await.is_err() {
                        self.done = true;
                        let reason = "the database is unavailable; reconnect".to_owned();
                        return Some(WallEvent::closed(reason));
                    }
                    self.next_look = tokio::time::Instant::now() + POLL;
                }
            }
        }
    }

    /// The calls being read now against those shown: stops, catch-up of stored
    /// utterances, starts.
    async fn look(&mut self) -> Result<(), sea_orm::DbErr> {
        let reading = self
            .store
            .reading_conversations(&self.tenant, MAX_CALLS)
            .await?;
        let mut now: HashMap<String, (LiveConversation, i32)> = reading
            .into_iter()
            .map(|c| {
                let call = LiveConversation {
                    external_id: c.external_id,
                    state: CallState::Streaming,
                    started_at: Timestamp::new(c.updated_at, SecondsFormat::Millis),
                    customer_id: c.customer_id,
                    agent_id: c.agent_id,
                };
                (c.id, (call, c.message_count))
            })
            .collect();
        // Calls that stopped, or started again since (a new start time): what they
        // stored up to now first, then the stop.
        let ended: Vec<String> = self
            .shown
            .iter()
            .filter(|(id, shown)| now.get(*id).is_none_or(|(call, _)| *call != shown.call))
            .map(|(id, _)| id.clone())
            .collect();
        let stored: Vec<(ConversationId, i32)> = ended
            .iter()
            .map(|id| (ConversationId(id.clone()), self.shown[id].sent))
            .chain(self.shown.iter().filter_map(|(id, shown)| {
                let count = now.get(id).map(|(_, count)| *count)?;
                (count > shown.sent).then(|| (ConversationId(id.clone()), shown.sent))
            }))
            .collect();
        self.catch_up(&stored).await?;
        for id in ended {
            if let Some(Shown { mut call, .. }) = self.shown.remove(&id) {
                call.state = CallState::Stopped;
                self.queue.push_back(WallEvent::Conversation(call));
            }
        }
        // New calls, oldest start first; their events from now on.
        let mut started: Vec<(String, LiveConversation, i32)> = now
            .drain()
            .filter(|(id, _)| !self.shown.contains_key(id))
            .map(|(id, (call, count))| (id, call, count))
            .collect();
        started.sort_by(|a, b| a.1.started_at.as_str().cmp(b.1.started_at.as_str()));
        for (id, call, count) in started {
            self.queue.push_back(WallEvent::Conversation(call.clone()));
            let shown = Shown {
                call,
                sent: count,
                followed: false,
            };
            self.shown.insert(id, shown);
        }
        self.follow_local_sessions();
        if std::mem::take(&mut self.first) {
            let calls = u32::try_from(self.shown.len()).unwrap_or(u32::MAX);
            self.queue
                .push_back(WallEvent::Synced(WallSynced { calls }));
        }
        Ok(())
    }

    /// Queues the stored utterances after each `(conversation, sequence)`.
    async fn catch_up(&mut self, after: &[(ConversationId, i32)]) -> Result<(), sea_orm::DbErr> {
        for chunk in after.chunks(100) {
            for row in self.store.messages_after_each(chunk).await? {
                if let Some(shown) = self.shown.get_mut(&row.conversation_id)
                    && row.seq > shown.sent
                {
                    shown.sent = row.seq;
                    let utterance = CallUtterance {
                        external_id: shown.call.external_id.clone(),
                        utterance: MessageItem::from(row),
                    };
                    self.queue.push_back(WallEvent::Utterance(utterance));
                }
            }
        }
        Ok(())
    }

    /// Follows the session events of every shown call this replica reads (including one
    /// it took over since the last look).
    fn follow_local_sessions(&mut self) {
        for (id, shown) in &mut self.shown {
            if shown.followed {
                continue;
            }
            let Some(events) = self.sessions.live_events(&ConversationId(id.clone())) else {
                continue;
            };
            shown.followed = true;
            self.followed.push(session_events(id.clone(), events));
        }
    }

    fn on_session_event(&mut self, id: &str, event: Result<ConversationEvent, RecvError>) {
        let Some(shown) = self.shown.get_mut(id) else {
            return;
        };
        let external_id = shown.call.external_id.clone();
        let event = match event {
            Ok(ConversationEvent::Partial {
                role,
                start_ms,
                end_ms,
                text,
            }) => WallEvent::Partial(CallPartial {
                external_id,
                partial: LivePartial::new(role, start_ms, end_ms, text),
            }),
            Ok(ConversationEvent::Final { published, seq }) => {
                // Sent already, past what a conversation serves, or not stored (`None`:
                // the database has the say).
                let Some(seq) = seq.filter(|seq| *seq > shown.sent && *seq <= MESSAGE_CAP) else {
                    return;
                };
                shown.sent = seq;
                WallEvent::Utterance(CallUtterance {
                    external_id,
                    utterance: MessageItem::from(&published.message),
                })
            }
            Ok(ConversationEvent::Status {
                role,
                streaming,
                status,
            }) => WallEvent::Status(CallStatus {
                external_id,
                status: LiveStatus::new(role, streaming, status),
            }),
            // The session ended, or this wall fell behind it: the next looks find what it
            // stored, and the stop or the replica that reads it now.
            Ok(ConversationEvent::Stopped) | Err(_) => {
                shown.followed = false;
                return;
            }
        };
        self.queue.push_back(event);
    }
}

/// A session's events until it ends or the receiver falls behind.
fn session_events(
    id: String,
    events: broadcast::Receiver<ConversationEvent>,
) -> BoxStream<'static, Followed> {
    futures_util::stream::unfold(Some(events), move |events| {
        let id = id.clone();
        async move {
            let mut events = events?;
            let event = events.recv().await;
            let last = matches!(event, Ok(ConversationEvent::Stopped) | Err(_));
            Some(((id, event), (!last).then_some(events)))
        }
    })
    .boxed()
}
