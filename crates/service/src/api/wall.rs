//! The tenant's calls as they start and stop (`GET /conversation/v1/live`), as
//! Server-Sent Events: the wall of calls the console lists. It reads the shared database
//! once a second, so it shows the calls every replica reads, and costs the pipeline
//! nothing; a call's own events come from its live stream
//! (`GET /conversation/v1/conversation/live`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::SecondsFormat;
use futures_util::stream::{BoxStream, StreamExt};
use poem::web::sse::Event;
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};

use super::auth::ApiKeyAuth;
use super::conversations::ConversationTag;
use super::live::HEARTBEAT;
use super::rate_limit::StreamPermit;
use super::timestamp::Timestamp;
use crate::error::{Failure, error_list};
use crate::ids::TenantId;
use crate::state::SharedState;
use crate::store::Store;

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

/// The data of one event; its SSE `event` field names which.
#[derive(Debug, Clone, Union)]
pub enum WallEvent {
    /// `conversation`
    Conversation(LiveConversation),
    /// `synced`
    Synced(WallSynced),
}

impl WallEvent {
    fn into_event(self) -> Event {
        let name = match self {
            WallEvent::Conversation(_) => "conversation",
            WallEvent::Synced(_) => "synced",
        };
        Event::message(self.to_json_string()).event_type(name)
    }
}

/// The response.
#[derive(ApiResponse)]
pub enum WallStream {
    /// `text/event-stream`: a `conversation` event per call being read when the stream
    /// opens, then `synced`, then a `conversation` event at each start and stop.
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
    /// starts or stops, on any replica (within about a second), at most 500 calls.
    /// Follow one call with `streamConversation`. A comment every 15 s keeps an idle
    /// stream open; the stream has no end of its own. A key holds at most 20 live streams
    /// (of both kinds) open at once; one more is 429-01.
    #[oai(path = "/live", method = "get", operation_id = "streamConversations")]
    async fn wall(&self, auth: ApiKeyAuth) -> Result<WallStream, Failure<WallErrors>> {
        let wall = Wall {
            _permit: self.state.live_streams.take(&auth.0.key_id)?,
            store: self.state.store.clone(),
            tenant: auth.0.tenant_id.clone(),
            shown: HashMap::new(),
            queue: VecDeque::new(),
            first: true,
        };
        let events = futures_util::stream::unfold(wall, |mut wall| async move {
            wall.next().await.map(|event| (event, wall))
        });
        Ok(WallStream::Events(
            EventStream::new(events.boxed())
                .keep_alive(HEARTBEAT)
                .to_event(WallEvent::into_event),
        ))
    }
}

struct Wall {
    /// Given back when its client goes away.
    _permit: StreamPermit,
    store: Store,
    tenant: TenantId,
    /// The calls shown as streaming, by conversation id.
    shown: HashMap<String, LiveConversation>,
    /// Events found by the last look, to send.
    queue: VecDeque<WallEvent>,
    /// No look yet: the first one is sent at once.
    first: bool,
}

impl Wall {
    /// The next start or stop; `None` ends the stream (the database failed: the client
    /// reconnects).
    async fn next(&mut self) -> Option<WallEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            let first = std::mem::take(&mut self.first);
            if !first {
                tokio::time::sleep(POLL).await;
            }
            let reading = self
                .store
                .reading_conversations(&self.tenant, MAX_CALLS)
                .await
                .ok()?;
            let now: HashMap<String, LiveConversation> = reading
                .into_iter()
                .map(|c| {
                    let call = LiveConversation {
                        external_id: c.external_id,
                        state: CallState::Streaming,
                        started_at: Timestamp::new(c.updated_at, SecondsFormat::Millis),
                        customer_id: c.customer_id,
                        agent_id: c.agent_id,
                    };
                    (c.id, call)
                })
                .collect();
            let before = std::mem::replace(&mut self.shown, now);
            for (id, mut call) in before.clone() {
                if !self.shown.contains_key(&id) {
                    call.state = CallState::Stopped;
                    self.queue.push_back(WallEvent::Conversation(call));
                }
            }
            // New calls, and calls started again since (a new start time).
            let mut started: Vec<&LiveConversation> = self
                .shown
                .iter()
                .filter(|(id, call)| before.get(*id) != Some(*call))
                .map(|(_, call)| call)
                .collect();
            started.sort_by(|a, b| a.started_at.as_str().cmp(b.started_at.as_str()));
            self.queue
                .extend(started.into_iter().cloned().map(WallEvent::Conversation));
            if first {
                let calls = u32::try_from(self.shown.len()).unwrap_or(u32::MAX);
                self.queue
                    .push_back(WallEvent::Synced(WallSynced { calls }));
            }
        }
    }
}
