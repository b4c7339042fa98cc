//! `callscribe kvs-emulator`: a local Kinesis Video Streams data plane.
//!
//! The real `aws-sdk-kinesisvideo` and `aws-sdk-kinesisvideomedia` clients talk to it
//! through an endpoint override: `POST /getDataEndpoint` answers the emulator's own URL,
//! `POST /getMedia` streams WAV audio as Amazon Connect would (two tracks, 8 kHz S16LE,
//! ~1 s fragments of 64 ms blocks, ContactId tags, fragment numbers), paced in real
//! time or faster, honouring every start selector. Faults can be injected per stream
//! (see [`Faults`]). It is the test double of every KVS test and the demo's source.

pub mod cli;
pub mod media;
pub mod server;
pub mod wav;

use std::time::Duration;

pub use media::StreamMedia;
pub use server::{Emulator, EmulatorHandle};

/// A KVS error answer, as the SDK parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvsFailure {
    /// 404 `ResourceNotFoundException`.
    NotFound,
    /// 401 `NotAuthorizedException`.
    NotAuthorized,
    /// 400 `ClientLimitExceededException` (throttled).
    ClientLimit,
    /// 400 `ConnectionLimitExceededException`.
    ConnectionLimit,
}

impl KvsFailure {
    pub fn parts(self) -> (u16, &'static str, &'static str) {
        match self {
            KvsFailure::NotFound => (
                404,
                "ResourceNotFoundException",
                "The requested stream is not found or not active.",
            ),
            KvsFailure::NotAuthorized => (
                401,
                "NotAuthorizedException",
                "The caller is not authorized to perform this operation.",
            ),
            KvsFailure::ClientLimit => (
                400,
                "ClientLimitExceededException",
                "Request rate limit exceeded.",
            ),
            KvsFailure::ConnectionLimit => (
                400,
                "ConnectionLimitExceededException",
                "Too many concurrent GetMedia connections.",
            ),
        }
    }
}

/// Faults injected into one stream. The `*_once_*` faults fire in the first GetMedia
/// session that reaches them, so a consumer that resumes can be checked for gaps and
/// duplicates; the session limit applies to every session, as KVS's does.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// End every GetMedia response cleanly after this long (KVS ends them at ~45 min).
    #[serde(with = "humantime_ms")]
    pub session_limit: Option<Duration>,
    /// Cut the connection in the middle of fragment N (0-based) of the stream.
    pub drop_once_in_fragment: Option<usize>,
    /// Send an in-stream error chunk instead of fragment N, then end the response.
    pub error_once_at_fragment: Option<usize>,
    /// Send garbage bytes instead of fragment N, then end the response.
    pub garbage_once_at_fragment: Option<usize>,
    /// Send a truncated fragment N (half of it), then end the response cleanly.
    pub truncate_once_at_fragment: Option<usize>,
    /// Send nothing for `stall` before fragment N.
    pub stall_once_at_fragment: Option<usize>,
    #[serde(with = "humantime_ms")]
    pub stall: Option<Duration>,
    /// From this media time (ms) on, fragments carry another ContactId: the stream is
    /// reused by the next contact.
    pub switch_contact_at_ms: Option<i64>,
    /// The first GetMedia calls fail with these, in order.
    pub get_media_failures: Vec<KvsFailure>,
    /// The first GetDataEndpoint calls fail with these, in order.
    pub data_endpoint_failures: Vec<KvsFailure>,
}

/// Durations in TOML as milliseconds (`session_limit = 5000`).
mod humantime_ms {
    use std::time::Duration;

    use serde::Deserialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// One emulated stream.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The stream name; its ARN is `arn:aws:kinesisvideo:us-east-1:000000000000:stream/NAME/0`.
    pub name: String,
    pub media: StreamMedia,
    pub faults: Faults,
}

impl StreamSpec {
    pub fn arn(&self) -> String {
        stream_arn(&self.name)
    }
}

/// The ARN the emulator gives a stream name.
pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesisvideo:us-east-1:000000000000:stream/{name}/0")
}

/// The stream name inside a KVS stream ARN (between the first and the last `/`).
pub fn name_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":stream/")?.1;
    let (name, _) = rest.rsplit_once('/')?;
    (!name.is_empty()).then_some(name)
}

/// Emulator-wide settings.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub streams: Vec<StreamSpec>,
    /// Media seconds per wall second (1.0 = real time).
    pub speed: f64,
    /// After the last fragment, a GetMedia response stays open this long, then ends.
    pub idle_end: Duration,
    pub pacing: Pacing,
}

/// When a live fragment's bytes leave the emulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Pacing {
    /// The whole chunk once the fragment is complete (~1 s at a time).
    #[default]
    Fragment,
    /// Each 64 ms block as soon as it has been spoken, as a producer streams frames;
    /// the tags after the Cluster when the fragment ends.
    Block,
}

impl Pacing {
    /// Media time at which the first bytes of fragment `index` are due.
    pub fn first_due_ms(self, index: usize) -> i64 {
        match self {
            Pacing::Fragment => StreamMedia::available_at_ms(index),
            Pacing::Block => index as i64 * media::FRAGMENT_MS + media::BLOCK_MS,
        }
    }

    /// Media time at which the audio at `media_ms` has left the emulator.
    pub fn sent_at_ms(self, media_ms: i64) -> i64 {
        match self {
            Pacing::Fragment => {
                StreamMedia::available_at_ms(media_ms.div_euclid(media::FRAGMENT_MS) as usize)
            }
            Pacing::Block => (media_ms.div_euclid(media::BLOCK_MS) + 1) * media::BLOCK_MS,
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            streams: Vec::new(),
            speed: 1.0,
            idle_end: Duration::from_secs(2),
            pacing: Pacing::Fragment,
        }
    }
}
