//! Reads one conversation's KVS stream with GetMedia and hands each participant's PCM
//! to the session block by block, as it is parsed, surviving what real streams do: the
//! response ending at the session limit or when the connection drops (resume from the
//! last continuation token, never replaying or skipping a block, even of a fragment the
//! broken session was in the middle of), a stalled body (idle watchdog), throttling
//! (backoff, bounded attempts), the stream being reused by the next contact (stop with
//! 1008), and a missing track (4040 for that participant, the other goes on). A
//! fragment's blocks come before its ContactId tag, so each block carries the count of
//! its fragment and [`ReaderEvent::Position`] confirms the fragment once its tags say it
//! is the contact's.

use std::time::Duration;

use aws_sdk_kinesisvideomedia::primitives::DateTime;
use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{KvsCallError, KvsTarget, media_client, media_client_for};
use super::fragment::{
    AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER, Fragment, FragmentReader, Frame, Piece,
};
use crate::ids::{PerRole, Role};
use crate::status::{StreamCode, StreamStatus};

/// Where GetMedia starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Now,
    Earliest,
    /// After this fragment (exclusive, as KVS defines it).
    FragmentNumber(String),
    ServerTimestamp {
        epoch_ms: i64,
    },
    ProducerTimestamp {
        epoch_ms: i64,
    },
    ContinuationToken(String),
}

impl Selector {
    fn to_sdk(&self) -> StartSelector {
        let b = StartSelector::builder();
        let b = match self {
            Selector::Now => b.start_selector_type(StartSelectorType::Now),
            Selector::Earliest => b.start_selector_type(StartSelectorType::Earliest),
            Selector::FragmentNumber(n) => b
                .start_selector_type(StartSelectorType::FragmentNumber)
                .after_fragment_number(n),
            Selector::ServerTimestamp { epoch_ms } => b
                .start_selector_type(StartSelectorType::ServerTimestamp)
                .start_timestamp(DateTime::from_millis(*epoch_ms)),
            Selector::ProducerTimestamp { epoch_ms } => b
                .start_selector_type(StartSelectorType::ProducerTimestamp)
                .start_timestamp(DateTime::from_millis(*epoch_ms)),
            Selector::ContinuationToken(t) => b
                .start_selector_type(StartSelectorType::ContinuationToken)
                .continuation_token(t),
        };
        b.build().expect("start_selector_type is always set")
    }
}

/// What the reader hands the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// One block of 8 kHz mono S16LE audio, the absolute time of its first sample, and
    /// the count of the fragment it belongs to. It is handed over as soon as it is
    /// parsed: until that fragment's [`ReaderEvent::Position`] confirms it, the audio may
    /// still turn out to be another contact's.
    Audio {
        role: Role,
        timestamp_ns: i64,
        pcm: Vec<u8>,
        fragment: u64,
    },
    /// A fragment was fully delivered and belongs to the contact: its count (every
    /// block of it and of the fragments before it is confirmed), the position to resume
    /// from, and the ContactId the reading is locked to (kept with the position, so a
    /// resumed reading keeps it).
    Position {
        fragment: u64,
        fragment_number: String,
        continuation_token: Option<String>,
        contact_id: Option<String>,
    },
    /// A participant's stream ended before the whole reader did (e.g. no such track).
    TrackEnded { role: Role, status: StreamStatus },
}

/// Tuning of retries and watchdogs.
#[derive(Debug, Clone)]
pub struct ReaderSettings {
    pub stream_arn: String,
    /// The ContactId the reading is locked to: fragments tagged with another one end it
    /// (1008). `None` locks onto the first tagged fragment read, whatever the start's guid
    /// was (the guide's Lambdas may send `InitialContactId` or `PreviousContactId`, which a
    /// transferred call's stream does not carry); a resumed reading passes the stored lock.
    pub contact_id: Option<String>,
    pub selector: Selector,
    /// The GetMedia endpoint, when start-streaming already resolved it.
    pub data_endpoint: Option<String>,
    /// No bytes for this long: the session is abandoned and resumed.
    pub idle_timeout: Duration,
    /// Consecutive failed attempts before giving up with 5002.
    pub max_attempts: u32,
    /// First retry delay; doubled per failure up to 5 s.
    pub backoff: Duration,
    /// Consecutive sessions that end cleanly without a new fragment before the stream
    /// counts as closed by its source (1008).
    pub empty_sessions_to_end: u32,
    /// Resuming another reader's work: start after this fragment (and its continuation
    /// token) instead of at `selector`.
    pub resume_after: Option<(String, Option<String>)>,
    /// Per participant (customer, agent): audio of fragments up to and including this
    /// one was already transcribed; it is not delivered again.
    pub skip_through: PerRole<Option<String>>,
    /// Counts each reconnect to GetMedia after an error or a closed stream.
    pub reconnects: Option<prometheus::IntCounter>,
}

impl ReaderSettings {
    pub fn new(stream_arn: String, selector: Selector) -> ReaderSettings {
        ReaderSettings {
            stream_arn,
            contact_id: None,
            selector,
            data_endpoint: None,
            idle_timeout: Duration::from_secs(10),
            max_attempts: 6,
            backoff: Duration::from_millis(200),
            empty_sessions_to_end: 3,
            resume_after: None,
            skip_through: PerRole::default(),
            reconnects: None,
        }
    }
}

/// Both participants' final status.
pub type ReaderOutcome = PerRole<StreamStatus>;

impl ReaderOutcome {
    fn both(status: StreamStatus) -> ReaderOutcome {
        PerRole {
            customer: status.clone(),
            agent: status,
        }
    }
}

/// How one GetMedia session ended.
enum SessionEnd {
    /// The body ended cleanly (session limit, idle source, or after an error chunk).
    Eof,
    /// The connection failed or stalled, or the bytes did not parse.
    Broken(String),
    /// Reading is over for good.
    Done(ReaderOutcome),
}

/// Per-reader progress: what was delivered and what is known of the tracks.
struct Progress {
    last_number: Option<String>,
    last_token: Option<String>,
    customer_track: TrackState,
    agent_track: TrackState,
    new_fragments: usize,
    /// The ContactId the reading is locked to.
    contact_id: Option<String>,
    /// Fragments opened so far by this reader (the last one's count).
    count: u64,
    /// The fragment the last session ended in the middle of.
    broken_in: Option<BrokenFragment>,
}

/// What a broken session had handed over of the fragment it was reading.
struct BrokenFragment {
    number: Option<String>,
    count: u64,
    delivered: PerRole<usize>,
}

impl Progress {
    /// Whether fragment `number` was delivered before a reconnect.
    fn already_read(&self, number: &str) -> bool {
        self.last_number
            .as_ref()
            .is_some_and(|last| !is_after(number, last))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TrackState {
    Unknown,
    Present,
    Missing,
}

/// Reads until `stop` is cancelled, the contact changes or the stream fails; sends
/// audio to `events` in stream order.
pub async fn read_stream(
    config: &aws_config::SdkConfig,
    target: &KvsTarget,
    settings: &ReaderSettings,
    events: mpsc::Sender<ReaderEvent>,
    stop: CancellationToken,
) -> ReaderOutcome {
    let (last_number, last_token) = match &settings.resume_after {
        Some((number, token)) => (Some(number.clone()), token.clone()),
        None => (None, None),
    };
    let mut progress = Progress {
        last_number,
        last_token,
        customer_track: TrackState::Unknown,
        agent_track: TrackState::Unknown,
        new_fragments: 0,
        contact_id: settings.contact_id.clone(),
        count: 0,
        broken_in: None,
    };
    let mut failures = 0u32;
    let mut empty_sessions = 0u32;
    let mut client = None;
    let mut known_endpoint = settings.data_endpoint.clone();
    loop {
        if stop.is_cancelled() {
            return ReaderOutcome::both(StreamStatus::ok());
        }
        let attempt = async {
            let media = match &client {
                Some(media) => media,
                None => client.insert(match known_endpoint.take() {
                    Some(endpoint) => media_client_for(config, &endpoint),
                    None => media_client(config, target, &settings.stream_arn).await?,
                }),
            };
            let selector = match (&progress.last_token, &progress.last_number) {
                (Some(token), _) => Selector::ContinuationToken(token.clone()),
                (None, Some(number)) => Selector::FragmentNumber(number.clone()),
                (None, None) => settings.selector.clone(),
            };
            media
                .get_media()
                .stream_arn(&settings.stream_arn)
                .start_selector(selector.to_sdk())
                .send()
                .await
                .map_err(KvsCallError::from_sdk)
        };
        let opened = tokio::select! {
            opened = attempt => opened,
            _ = stop.cancelled() => return ReaderOutcome::both(StreamStatus::ok()),
        };
        progress.new_fragments = 0;
        let end = match opened {
            Ok(output) => {
                read_session(output.payload, settings, &mut progress, &events, &stop).await
            }
            Err(err) => match terminal_status(&err) {
                Some(status) => SessionEnd::Done(ReaderOutcome::both(status)),
                None => {
                    client = None;
                    SessionEnd::Broken(err.message)
                }
            },
        };
        let made_progress = progress.new_fragments > 0;
        match end {
            SessionEnd::Done(outcome) => return outcome,
            SessionEnd::Eof if made_progress => (failures, empty_sessions) = (0, 0),
            SessionEnd::Eof => empty_sessions += 1,
            SessionEnd::Broken(why) => {
                tracing::warn!(stream = %settings.stream_arn, error = %why, "GetMedia session broke; resuming");
                failures = if made_progress { 1 } else { failures + 1 };
            }
        }
        if empty_sessions >= settings.empty_sessions_to_end {
            return ReaderOutcome::both(StreamStatus::new(
                StreamCode::EndedBySource,
                "stream ended by source",
            ));
        }
        if failures >= settings.max_attempts {
            return ReaderOutcome::both(StreamStatus::new(
                StreamCode::KvsUnavailable,
                "KVS unavailable after retries",
            ));
        }
        let delay = if failures == 0 && empty_sessions == 0 {
            Duration::ZERO
        } else {
            let exponent = failures.max(empty_sessions).saturating_sub(1).min(5);
            (settings.backoff * 2u32.pow(exponent)).min(Duration::from_secs(5))
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return ReaderOutcome::both(StreamStatus::ok()),
        }
        if let Some(reconnects) = &settings.reconnects {
            reconnects.inc();
        }
    }
}

/// KVS errors that no retry can fix.
fn terminal_status(err: &KvsCallError) -> Option<StreamStatus> {
    match err.code.as_deref()? {
        "ResourceNotFoundException" => Some(StreamStatus::new(
            StreamCode::StreamNotFound,
            format!("KVS stream not found: {}", err.message),
        )),
        "NotAuthorizedException" | "AccessDenied" | "AccessDeniedException" => {
            Some(StreamStatus::new(
                StreamCode::AccessDenied,
                format!("access denied by KVS or STS: {}", err.message),
            ))
        }
        _ => None,
    }
}

async fn read_session(
    mut body: aws_sdk_kinesisvideomedia::primitives::ByteStream,
    settings: &ReaderSettings,
    progress: &mut Progress,
    events: &mpsc::Sender<ReaderEvent>,
    stop: &CancellationToken,
) -> SessionEnd {
    let mut reader = FragmentReader::new();
    let mut pieces = Vec::new();
    let mut open = None;
    let end = loop {
        let next = tokio::select! {
            next = tokio::time::timeout(settings.idle_timeout, body.next()) => next,
            _ = stop.cancelled() => return SessionEnd::Done(ReaderOutcome::both(StreamStatus::ok())),
        };
        let (parsed, eof) = match next {
            Err(_) => {
                break SessionEnd::Broken(format!("no data for {:?}", settings.idle_timeout));
            }
            Ok(Some(Err(e))) => break SessionEnd::Broken(format!("connection failed: {e}")),
            Ok(Some(Ok(bytes))) => (reader.read(&bytes, &mut pieces), false),
            Ok(None) => (reader.finish_reading(&mut pieces), true),
        };
        for piece in pieces.drain(..) {
            let handled = match piece {
                Piece::Head(head) => admit_head(&head, settings, progress, events)
                    .await
                    .map(|fragment| open = Some(fragment)),
                Piece::Frame(frame) => match &mut open {
                    Some(fragment) => fragment.take(frame, events).await,
                    None => Ok(()),
                },
                // The body ended inside a chunk whose blocks were streamed and whose
                // closing tags never came: the fragment is incomplete, not complete.
                Piece::Complete(fragment)
                    if eof && open.is_some() && fragment.continuation_token.is_none() =>
                {
                    Ok(())
                }
                Piece::Complete(fragment) => {
                    let streamed = open.take();
                    complete(fragment, streamed, settings, progress, events).await
                }
            };
            if let Err(end) = handled {
                return end;
            }
        }
        match parsed {
            Err(e) => break SessionEnd::Broken(format!("unreadable media: {e}")),
            Ok(()) if eof => break SessionEnd::Eof,
            Ok(()) => {}
        }
    };
    // The next session starts again at this fragment: it must not hand over twice the
    // blocks this one already did.
    progress.broken_in = open.map(|o| BrokenFragment {
        number: o.number,
        count: o.count,
        delivered: o.delivered,
    });
    end
}

async fn send(events: &mpsc::Sender<ReaderEvent>, event: ReaderEvent) -> Result<(), SessionEnd> {
    // The session stopped listening: reading is over.
    events
        .send(event)
        .await
        .map_err(|_| SessionEnd::Done(ReaderOutcome::both(StreamStatus::ok())))
}

/// The fragment being read, between its head and its completion.
struct OpenFragment {
    /// This reader's count of the fragment, carried by its audio and its position.
    count: u64,
    number: Option<String>,
    customer: Option<u64>,
    agent: Option<u64>,
    delivery: Delivery,
    /// Blocks per participant handed over so far.
    delivered: PerRole<usize>,
    /// Blocks per participant already handed over by a session that broke in the
    /// middle of this fragment: the new session re-reads them and skips them.
    resend: PerRole<usize>,
}

/// What happens to an open fragment's blocks.
enum Delivery {
    /// Handed to the session as they are parsed (speculatively, until the fragment's
    /// tags confirm the contact); a participant whose audio of it an earlier reader
    /// transcribed is skipped.
    Stream { skip: PerRole<bool> },
    /// The head lacked the fragment number, so whether the blocks were already
    /// delivered is not known yet: kept until the fragment completes.
    Hold(Vec<Frame>),
    /// Delivered before a reconnect.
    Drop,
}

impl OpenFragment {
    async fn take(
        &mut self,
        frame: Frame,
        events: &mpsc::Sender<ReaderEvent>,
    ) -> Result<(), SessionEnd> {
        let role = self.role_of(&frame);
        match &mut self.delivery {
            Delivery::Stream { skip } => {
                let Some(role) = role else {
                    return Ok(());
                };
                if *skip.of(role) {
                    return Ok(());
                }
                let resend = self.resend.of_mut(role);
                if *resend > 0 {
                    *resend -= 1;
                    return Ok(());
                }
                *self.delivered.of_mut(role) += 1;
                let event = ReaderEvent::Audio {
                    role,
                    timestamp_ns: frame.timestamp_ns,
                    pcm: frame.data,
                    fragment: self.count,
                };
                send(events, event).await
            }
            Delivery::Hold(frames) => {
                frames.push(frame);
                Ok(())
            }
            Delivery::Drop => Ok(()),
        }
    }

    fn role_of(&self, frame: &Frame) -> Option<Role> {
        if Some(frame.track) == self.customer {
            Some(Role::Customer)
        } else if Some(frame.track) == self.agent {
            Some(Role::Agent)
        } else {
            None
        }
    }
}

/// Checks what a chunk said before its first block: the stream's tracks, whether the
/// fragment was already delivered (whole, or in part by a session that broke), and its
/// ContactId if the producer tagged it there. `Err` ends the session.
async fn admit_head(
    head: &Fragment,
    settings: &ReaderSettings,
    progress: &mut Progress,
    events: &mpsc::Sender<ReaderEvent>,
) -> Result<OpenFragment, SessionEnd> {
    let delivery = match &head.number {
        Some(number) if progress.already_read(number) => Delivery::Drop,
        Some(number) => {
            check_contact(head, progress)?;
            Delivery::Stream {
                skip: PerRole::from_fn(|role| already_delivered(settings, role, number)),
            }
        }
        None => Delivery::Hold(Vec::new()),
    };
    let (customer, agent) = check_tracks(head, progress, events).await?;
    let broken = progress
        .broken_in
        .take()
        .filter(|b| b.number.is_some() && b.number == head.number);
    let (count, delivered) = match broken {
        Some(b) => (b.count, b.delivered),
        None => {
            progress.count += 1;
            (progress.count, PerRole::default())
        }
    };
    Ok(OpenFragment {
        count,
        number: head.number.clone(),
        customer,
        agent,
        delivery,
        resend: delivered,
        delivered,
    })
}

/// Handles a closed chunk: confirms the fragment whose blocks were streamed (or
/// delivers them now), or ends the session on an error or another contact's tags.
async fn complete(
    fragment: Fragment,
    streamed: Option<OpenFragment>,
    settings: &ReaderSettings,
    progress: &mut Progress,
    events: &mpsc::Sender<ReaderEvent>,
) -> Result<(), SessionEnd> {
    if let Some(error) = &fragment.error {
        return Err(SessionEnd::Broken(format!(
            "KVS error {} ({})",
            error.code, error.id
        )));
    }
    let Some(number) = fragment.number.clone() else {
        return Ok(());
    };
    if progress.already_read(&number) {
        return Ok(()); // already delivered before a reconnect
    }
    check_contact(&fragment, progress)?;
    let mut open = match streamed {
        Some(open) => open,
        // A chunk without blocks.
        None => admit_head(&fragment, settings, progress, events).await?,
    };
    if let Delivery::Hold(frames) = std::mem::replace(
        &mut open.delivery,
        Delivery::Stream {
            skip: PerRole::from_fn(|role| already_delivered(settings, role, &number)),
        },
    ) {
        for frame in frames {
            open.take(frame, events).await?;
        }
    }
    progress.last_token = fragment.continuation_token.clone();
    progress.last_number = Some(number.clone());
    progress.new_fragments += 1;
    let position = ReaderEvent::Position {
        fragment: open.count,
        fragment_number: number,
        continuation_token: fragment.continuation_token,
        contact_id: progress.contact_id.clone(),
    };
    send(events, position).await
}

/// Locks onto the first ContactId read; another one ends the reading (1008). A tagless
/// fragment belongs to the contact of the fragments before it.
fn check_contact(fragment: &Fragment, progress: &mut Progress) -> Result<(), SessionEnd> {
    match &fragment.contact_id {
        Some(tagged) if progress.contact_id.get_or_insert_with(|| tagged.clone()) != tagged => {
            let status = StreamStatus::new(
                StreamCode::EndedBySource,
                "stream ended by source: the stream now carries another contact",
            );
            Err(SessionEnd::Done(ReaderOutcome::both(status)))
        }
        _ => Ok(()),
    }
}

/// The customer's and agent's track numbers in this chunk; reports a participant whose
/// track is missing (once), and ends the reading when neither has one.
async fn check_tracks(
    fragment: &Fragment,
    progress: &mut Progress,
    events: &mpsc::Sender<ReaderEvent>,
) -> Result<(Option<u64>, Option<u64>), SessionEnd> {
    let customer = fragment
        .track_named(AUDIO_FROM_CUSTOMER)
        .or_else(|| fragment.track_named(LEGACY_CUSTOMER_TRACK));
    let agent = fragment.track_named(AUDIO_TO_CUSTOMER);
    for (role, track, state) in [
        (Role::Customer, customer, &mut progress.customer_track),
        (Role::Agent, agent, &mut progress.agent_track),
    ] {
        if !fragment.tracks.is_empty() && track.is_none() && *state != TrackState::Missing {
            *state = TrackState::Missing;
            let status = StreamStatus::new(
                StreamCode::TrackNotFound,
                format!("track {} not found in the KVS stream", track_name(role)),
            );
            send(events, ReaderEvent::TrackEnded { role, status }).await?;
        } else if track.is_some() {
            *state = TrackState::Present;
        }
    }
    if progress.customer_track == TrackState::Missing && progress.agent_track == TrackState::Missing
    {
        return Err(SessionEnd::Done(ReaderOutcome::both(StreamStatus::new(
            StreamCode::TrackNotFound,
            "no audio track in the KVS stream",
        ))));
    }
    Ok((customer, agent))
}

/// Whether this participant's audio of fragment `number` was transcribed by an earlier
/// reader of the conversation.
fn already_delivered(settings: &ReaderSettings, role: Role, number: &str) -> bool {
    settings
        .skip_through
        .of(role)
        .as_ref()
        .is_some_and(|t| !is_after(number, t))
}

/// Older Connect instances name the customer track like this.
const LEGACY_CUSTOMER_TRACK: &str = "Track_audio/L16";

fn track_name(role: Role) -> &'static str {
    match role {
        Role::Customer => AUDIO_FROM_CUSTOMER,
        Role::Agent => AUDIO_TO_CUSTOMER,
    }
}

/// Fragment numbers are opaque increasing decimals: compare by length, then digits.
pub fn is_after(number: &str, last: &str) -> bool {
    (number.len(), number) > (last.len(), last)
}

#[cfg(test)]
mod tests {
    use super::is_after;

    #[test]
    fn fragment_numbers_compare_as_big_integers() {
        assert!(is_after("10", "9"));
        assert!(is_after(
            "91343852333181432392682062607743920146264440096",
            "91343852333181432392682062607743920146264440095"
        ));
        assert!(!is_after("5", "5"));
    }
}
