//! The emulator's HTTP side: `POST /getDataEndpoint` and `POST /getMedia` as the
//! restJson1 KVS protocol defines them. Signatures are not checked (any credentials
//! work); errors carry `x-amzn-ErrorType` so the SDK maps them to its typed variants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{Data, Json};
use poem::{Body, EndpointExt, Response, Route, Server, handler, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::media::{StreamMedia, error_chunk};
use super::{EmulatorConfig, Faults, KvsFailure, Pacing, StreamSpec, name_from_arn};

/// GetMedia connections KVS allows per stream at once.
const MAX_CONNECTIONS_PER_STREAM: usize = 3;

/// What happened to a stream so far (tests read it).
#[derive(Debug, Default, Clone)]
pub struct StreamCounters {
    pub get_media_calls: usize,
    pub data_endpoint_calls: usize,
    pub active_sessions: usize,
    /// Once-faults that have fired.
    pub fired: Vec<&'static str>,
}

struct EmulatedStream {
    spec: StreamSpec,
    counters: Mutex<StreamCounters>,
}

struct State {
    streams: HashMap<String, Arc<EmulatedStream>>,
    base_url: String,
    speed: f64,
    idle_end: Duration,
    pacing: Pacing,
    started: Instant,
    shutdown: CancellationToken,
}

impl State {
    /// Media milliseconds since the emulator started.
    fn media_now_ms(&self) -> i64 {
        (self.started.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
    }

    /// Wall-clock instant at which media time `ms` is reached.
    fn wall_at(&self, media_ms: i64) -> Instant {
        self.started + Duration::from_secs_f64(media_ms.max(0) as f64 / 1000.0 / self.speed)
    }

    fn stream(&self, body: &Value) -> Option<Arc<EmulatedStream>> {
        let name = body["StreamName"]
            .as_str()
            .or_else(|| body["StreamARN"].as_str().and_then(name_from_arn))?;
        self.streams.get(name).cloned()
    }
}

/// A configured emulator, ready to serve.
pub struct Emulator {
    config: EmulatorConfig,
}

/// A running emulator: its URL and counters; dropping it does not stop it, `stop` does.
pub struct EmulatorHandle {
    pub url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl EmulatorHandle {
    /// The media time (ms from the start of every stream) at wall-clock `at`.
    pub fn media_ms_at(&self, at: Instant) -> f64 {
        let since = at.saturating_duration_since(self.state.started);
        since.as_secs_f64() * 1000.0 * self.state.speed
    }

    /// When the audio at `media_ms` (from the start of every stream) left the emulator:
    /// its block's or its fragment's sending time, as the pacing is.
    pub fn sent_at(&self, media_ms: i64) -> Instant {
        self.state.wall_at(self.state.pacing.sent_at_ms(media_ms))
    }

    pub fn counters(&self, stream: &str) -> StreamCounters {
        self.state
            .streams
            .get(stream)
            .map(|s| lock(&s.counters).clone())
            .unwrap_or_default()
    }

    /// Ends open GetMedia responses and stops serving.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = self.task.await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Emulator {
    pub fn new(config: EmulatorConfig) -> Emulator {
        Emulator { config }
    }

    /// Serves on `listener` in a background task.
    pub fn spawn(self, listener: std::net::TcpListener) -> std::io::Result<EmulatorHandle> {
        listener.set_nonblocking(true)?;
        let acceptor = TcpAcceptor::from_std(listener)?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("listener has no address"))?;
        let streams = self
            .config
            .streams
            .into_iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    Arc::new(EmulatedStream {
                        spec,
                        counters: Mutex::default(),
                    }),
                )
            })
            .collect();
        let state = Arc::new(State {
            streams,
            base_url: format!("http://{addr}"),
            speed: self.config.speed.max(0.01),
            idle_end: self.config.idle_end,
            pacing: self.config.pacing,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
        });
        let app = Route::new()
            .at("/getDataEndpoint", post(get_data_endpoint))
            .at("/getMedia", post(get_media))
            .data(state.clone());
        let stop = state.shutdown.clone();
        let task = tokio::spawn(
            Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                app,
                async move { stop.cancelled().await },
                Some(Duration::from_secs(1)),
            ),
        );
        Ok(EmulatorHandle {
            url: state.base_url.clone(),
            state,
            task,
        })
    }
}

fn kvs_error(failure: KvsFailure) -> Response {
    let (status, code, message) = failure.parts();
    error_response(status, code, message)
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("x-amzn-ErrorType", code)
        .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string())
        .content_type("application/json")
        .body(json!({"__type": code, "message": message}).to_string())
}

fn invalid_argument(message: &str) -> Response {
    error_response(400, "InvalidArgumentException", message)
}

#[handler]
async fn get_data_endpoint(state: Data<&Arc<State>>, body: Json<Value>) -> Response {
    if body["APIName"].as_str() != Some("GET_MEDIA") {
        return invalid_argument("only APIName GET_MEDIA is emulated");
    }
    let Some(stream) = state.stream(&body) else {
        return kvs_error(KvsFailure::NotFound);
    };
    let failure = {
        let mut c = lock(&stream.counters);
        c.data_endpoint_calls += 1;
        stream
            .spec
            .faults
            .data_endpoint_failures
            .get(c.data_endpoint_calls - 1)
            .copied()
    };
    if let Some(failure) = failure {
        return kvs_error(failure);
    }
    Response::builder()
        .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string())
        .content_type("application/json")
        .body(json!({"DataEndpoint": state.base_url}).to_string())
}

/// Where a GetMedia session starts, or why it cannot.
enum Start {
    At(usize),
    UnknownFragment(String),
}

/// The session's first fragment; `Err` is an InvalidArgument message.
fn start_index(state: &State, media: &StreamMedia, selector: &Value) -> Result<Start, String> {
    let after = |key: &str| -> Result<Start, String> {
        let number = selector[key]
            .as_str()
            .ok_or_else(|| format!("{key} is required"))?;
        Ok(match StreamMedia::fragment_index(number) {
            Some(i) if i < media.fragment_count() => Start::At(i + 1),
            _ => Start::UnknownFragment(number.to_owned()),
        })
    };
    let timestamp_ms = || -> Result<i64, String> {
        let seconds = selector["StartTimestamp"]
            .as_f64()
            .ok_or_else(|| "StartTimestamp is required".to_owned())?;
        Ok((seconds * 1000.0).round() as i64)
    };
    match selector["StartSelectorType"].as_str() {
        Some("EARLIEST") => Ok(Start::At(0)),
        Some("NOW") => Ok(Start::At(
            (state.media_now_ms() / super::media::FRAGMENT_MS).max(0) as usize,
        )),
        Some("FRAGMENT_NUMBER") => after("AfterFragmentNumber"),
        Some("CONTINUATION_TOKEN") => after("ContinuationToken"),
        Some("SERVER_TIMESTAMP") => Ok(Start::At(media.index_at(timestamp_ms()?, true))),
        Some("PRODUCER_TIMESTAMP") => Ok(Start::At(media.index_at(timestamp_ms()?, false))),
        _ => Err("StartSelector.StartSelectorType is missing or unknown".into()),
    }
}

#[handler]
async fn get_media(state: Data<&Arc<State>>, body: Json<Value>) -> Response {
    let state = state.0.clone();
    let Some(stream) = state.stream(&body) else {
        return kvs_error(KvsFailure::NotFound);
    };
    let media = &stream.spec.media;
    let start = match start_index(&state, media, &body["StartSelector"]) {
        Ok(start) => start,
        Err(message) => return invalid_argument(&message),
    };
    {
        let mut c = lock(&stream.counters);
        c.get_media_calls += 1;
        if let Some(&failure) = stream
            .spec
            .faults
            .get_media_failures
            .get(c.get_media_calls - 1)
        {
            return kvs_error(failure);
        }
        if c.active_sessions >= MAX_CONNECTIONS_PER_STREAM {
            return kvs_error(KvsFailure::ConnectionLimit);
        }
        c.active_sessions += 1;
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(play(state, stream, start, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string())
        .content_type("video/webm")
        .body(Body::from_bytes_stream(body))
}

/// Marks a once-fault as fired; `true` the first time only.
fn fire_once(
    stream: &EmulatedStream,
    fault: &'static str,
    configured_at: Option<usize>,
    index: usize,
) -> bool {
    if configured_at != Some(index) {
        return false;
    }
    let mut c = lock(&stream.counters);
    if c.fired.contains(&fault) {
        return false;
    }
    c.fired.push(fault);
    true
}

/// Streams one GetMedia session into `tx`; ends on the session limit, after the last
/// fragment plus the idle period, on a fault, or when the client goes away.
async fn play(
    state: Arc<State>,
    stream: Arc<EmulatedStream>,
    start: Start,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let session_end = stream
        .spec
        .faults
        .session_limit
        .map(|limit| Instant::now() + limit);
    let faults: &Faults = &stream.spec.faults;
    let media = &stream.spec.media;
    let mut index = match start {
        Start::At(i) => i,
        Start::UnknownFragment(number) => {
            let _ = tx
                .send(Ok(Bytes::from(error_chunk(
                    &number,
                    "FRAGMENT_NOT_FOUND",
                    "3000",
                ))))
                .await;
            return finish(&stream);
        }
    };
    loop {
        let deadline = if index < media.fragment_count() {
            state.wall_at(state.pacing.first_due_ms(index))
        } else {
            Instant::now().max(state.wall_at(StreamMedia::available_at_ms(
                media.fragment_count().saturating_sub(1),
            ))) + state.idle_end
        };
        let deadline = session_end.map_or(deadline, |end| deadline.min(end));
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = tx.closed() => break,
            _ = state.shutdown.cancelled() => break,
        }
        if session_end.is_some_and(|end| Instant::now() >= end) || index >= media.fragment_count() {
            break;
        }
        if fire_once(&stream, "stall", faults.stall_once_at_fragment, index) {
            tokio::time::sleep(faults.stall.unwrap_or(Duration::from_secs(30))).await;
        }
        let now = state.media_now_ms();
        let whole = || Bytes::from(media.chunk(index, now));
        if let Some(last_words) = injected_fault(&stream, index, whole) {
            for item in last_words {
                let _ = tx.send(item).await;
            }
            break;
        }
        let sent = match state.pacing {
            Pacing::Fragment => tx.send(Ok(whole())).await.is_ok(),
            Pacing::Block => {
                send_paced(&state, media.paced_chunk(index, now), session_end, &tx).await
            }
        };
        if !sent {
            break;
        }
        index += 1;
    }
    finish(&stream);
}

/// Sends a chunk's pieces, each when it is due; false when the session ended first
/// (its limit, the client gone, shutdown).
async fn send_paced(
    state: &State,
    pieces: Vec<(i64, Vec<u8>)>,
    session_end: Option<Instant>,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> bool {
    for (due, bytes) in pieces {
        let due = state.wall_at(due);
        if session_end.is_some_and(|end| end <= due) {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = tx.closed() => return false,
            _ = state.shutdown.cancelled() => return false,
        }
        if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
            return false;
        }
    }
    true
}

/// What a once-fault due at fragment `index` sends instead of it, before the session
/// ends; `None` when no fault fires.
fn injected_fault(
    stream: &EmulatedStream,
    index: usize,
    chunk: impl Fn() -> Bytes,
) -> Option<Vec<Result<Bytes, std::io::Error>>> {
    let faults = &stream.spec.faults;
    let half = || {
        let chunk = chunk();
        chunk.slice(..chunk.len() / 2)
    };
    if fire_once(stream, "error", faults.error_once_at_fragment, index) {
        let number = StreamMedia::fragment_number(index);
        return Some(vec![Ok(Bytes::from(error_chunk(
            &number,
            "INTERNAL_ERROR",
            "5000",
        )))]);
    }
    if fire_once(stream, "garbage", faults.garbage_once_at_fragment, index) {
        return Some(vec![Ok(Bytes::from_static(&[
            0x00, 0x13, 0x37, 0x00, 0xFF, 0x42, 0x00, 0x00,
        ]))]);
    }
    if fire_once(stream, "truncate", faults.truncate_once_at_fragment, index) {
        return Some(vec![Ok(half())]);
    }
    if fire_once(stream, "drop", faults.drop_once_in_fragment, index) {
        let cut = std::io::Error::other("connection dropped by fault injection");
        return Some(vec![Ok(half()), Err(cut)]);
    }
    None
}

fn finish(stream: &EmulatedStream) {
    let mut c = lock(&stream.counters);
    c.active_sessions = c.active_sessions.saturating_sub(1);
}
