//! Groups the parser's events into KVS fragments, block by block.
//!
//! KVS ends every chunk with a Tags element holding MILLIS_BEHIND_NOW and the
//! CONTINUATION_TOKEN, after the Cluster and after Connect's ContactId. A fragment is
//! therefore complete when its continuation token arrives; waiting for the next chunk's
//! header instead would delay every live fragment by a second. A chunk without a token
//! (an error chunk, other producers) completes when its Segment ends.
//!
//! The reader wants each block as soon as it is parsed (a live fragment takes a second
//! to arrive), so [`FragmentReader::read`] yields [`Piece`]s: what the chunk said before
//! its first block, each block, and the complete fragment with every tag (the ContactId
//! included) once it closes. [`FragmentReader::feed`] yields whole fragments instead.

use super::mkv::{MkvError, MkvEvent, MkvParser, Track};

/// KVS tag names (`AWS_KINESISVIDEO_*`) and Connect's per-fragment tags.
pub mod tag {
    pub const FRAGMENT_NUMBER: &str = "AWS_KINESISVIDEO_FRAGMENT_NUMBER";
    pub const SERVER_TIMESTAMP: &str = "AWS_KINESISVIDEO_SERVER_TIMESTAMP";
    pub const PRODUCER_TIMESTAMP: &str = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP";
    pub const MILLIS_BEHIND_NOW: &str = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW";
    pub const CONTINUATION_TOKEN: &str = "AWS_KINESISVIDEO_CONTINUATION_TOKEN";
    pub const ERROR_CODE: &str = "AWS_KINESISVIDEO_ERROR_CODE";
    pub const ERROR_ID: &str = "AWS_KINESISVIDEO_ERROR_ID";
    pub const CONTACT_ID: &str = "ContactId";
}

/// Connect's track names.
pub const AUDIO_FROM_CUSTOMER: &str = "AUDIO_FROM_CUSTOMER";
pub const AUDIO_TO_CUSTOMER: &str = "AUDIO_TO_CUSTOMER";

/// One block's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: u64,
    /// Absolute time (epoch-based for Connect) in nanoseconds.
    pub timestamp_ns: i64,
    pub data: Vec<u8>,
}

/// An error KVS reported inside the stream (the session ends after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub code: String,
    pub id: String,
}

/// One GetMedia chunk: a KVS fragment with its tags, tracks and frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragment {
    pub number: Option<String>,
    pub server_timestamp_ms: Option<i64>,
    pub producer_timestamp_ms: Option<i64>,
    pub millis_behind_now: Option<i64>,
    pub continuation_token: Option<String>,
    pub contact_id: Option<String>,
    pub error: Option<StreamError>,
    /// This chunk's track table (or the previous chunk's, if it carried none).
    pub tracks: Vec<Track>,
    pub frames: Vec<Frame>,
    /// Every other tag, in stream order (Connect's InstanceId, MimeType, producer tags).
    pub other_tags: Vec<(String, String)>,
}

impl Fragment {
    /// The track number carrying `name`, resolved by TrackEntry Name only (Connect's
    /// track order and tag values are not reliable).
    pub fn track_named(&self, name: &str) -> Option<u64> {
        self.tracks
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.number)
    }

    /// The frames of one track, in stream order.
    pub fn frames_of(&self, track: u64) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(move |f| f.track == track)
    }

    fn apply_tag(&mut self, name: String, value: String) {
        let ms = |v: &str| parse_seconds_as_ms(v);
        match name.as_str() {
            tag::FRAGMENT_NUMBER => self.number = Some(value),
            tag::SERVER_TIMESTAMP => self.server_timestamp_ms = ms(&value),
            tag::PRODUCER_TIMESTAMP => self.producer_timestamp_ms = ms(&value),
            tag::MILLIS_BEHIND_NOW => self.millis_behind_now = value.trim().parse().ok(),
            tag::CONTINUATION_TOKEN => self.continuation_token = Some(value),
            tag::CONTACT_ID => self.contact_id = Some(value),
            tag::ERROR_CODE => self.error.get_or_insert_with(empty_error).code = value,
            tag::ERROR_ID => self.error.get_or_insert_with(empty_error).id = value,
            _ => self.other_tags.push((name, value)),
        }
    }
}

fn empty_error() -> StreamError {
    StreamError {
        code: String::new(),
        id: String::new(),
    }
}

/// "1726677687.758" (seconds, KVS tag format) → 1726677687758.
pub fn parse_seconds_as_ms(value: &str) -> Option<i64> {
    let seconds: f64 = value.trim().parse().ok()?;
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
}

/// What [`FragmentReader::read`] yields, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The chunk's first block follows: its tracks and the tags that came before the
    /// Cluster (KVS puts the fragment number there; a producer's tags may be there or
    /// after the Cluster). `frames` is empty.
    Head(Fragment),
    /// One block of the fragment whose head came last.
    Frame(Frame),
    /// The chunk closed: every tag it carried. `frames` is empty when its blocks were
    /// yielded as [`Piece::Frame`]s.
    Complete(Fragment),
}

/// Feeds bytes through the parser and yields fragments.
#[derive(Debug, Default)]
pub struct FragmentReader {
    parser: MkvParser,
    events: Vec<MkvEvent>,
    current: Option<Fragment>,
    /// The current chunk's head was yielded (its blocks are being streamed).
    head_yielded: bool,
    last_tracks: Vec<Track>,
    pieces: Vec<Piece>,
}

impl FragmentReader {
    pub fn new() -> FragmentReader {
        FragmentReader::default()
    }

    /// Parses `data` and appends the pieces it completes to `out`.
    pub fn read(&mut self, data: &[u8], out: &mut Vec<Piece>) -> Result<(), MkvError> {
        let result = self.parser.feed(data, &mut self.events);
        self.assemble(out);
        result
    }

    /// The input ended: completes the last fragment.
    pub fn finish_reading(&mut self, out: &mut Vec<Piece>) -> Result<(), MkvError> {
        let result = self.parser.finish(&mut self.events);
        self.assemble(out);
        result
    }

    /// Parses `data` and appends every fragment it completes, with its blocks, to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Fragment>) -> Result<(), MkvError> {
        let mut pieces = std::mem::take(&mut self.pieces);
        let result = self.read(data, &mut pieces);
        self.pieces = pieces;
        self.whole_fragments(out);
        result
    }

    /// The input ended: completes the last fragment.
    pub fn finish(&mut self, out: &mut Vec<Fragment>) -> Result<(), MkvError> {
        let mut pieces = std::mem::take(&mut self.pieces);
        let result = self.finish_reading(&mut pieces);
        self.pieces = pieces;
        self.whole_fragments(out);
        result
    }

    /// Moves the complete fragments of `self.pieces` to `out`, their blocks put back in;
    /// keeps the pieces of the fragment still open.
    fn whole_fragments(&mut self, out: &mut Vec<Fragment>) {
        let Some(last_complete) = self
            .pieces
            .iter()
            .rposition(|p| matches!(p, Piece::Complete(_)))
        else {
            return;
        };
        let mut frames = Vec::new();
        for piece in self.pieces.drain(..=last_complete) {
            match piece {
                Piece::Head(_) => {}
                Piece::Frame(frame) => frames.push(frame),
                Piece::Complete(mut fragment) => {
                    fragment.frames = std::mem::take(&mut frames);
                    out.push(fragment);
                }
            }
        }
    }

    fn complete(&mut self, out: &mut Vec<Piece>) {
        self.head_yielded = false;
        out.extend(self.current.take().map(Piece::Complete));
    }

    fn assemble(&mut self, out: &mut Vec<Piece>) {
        // Taken and put back, so its allocation serves every read.
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            match event {
                MkvEvent::ChunkStart => {
                    self.head_yielded = false;
                    self.current = Some(Fragment {
                        tracks: self.last_tracks.clone(),
                        ..Fragment::default()
                    });
                }
                MkvEvent::Tracks(tracks) => {
                    self.last_tracks.clone_from(&tracks);
                    self.current.get_or_insert_with(Fragment::default).tracks = tracks;
                }
                MkvEvent::Tag { name, value } => {
                    let is_token = name == tag::CONTINUATION_TOKEN;
                    let current = self.current.get_or_insert_with(Fragment::default);
                    current.apply_tag(name, value);
                    if is_token {
                        self.complete(out);
                    }
                }
                MkvEvent::Frame {
                    track,
                    timestamp_ns,
                    data,
                } => {
                    let current = self.current.get_or_insert_with(Fragment::default);
                    if !std::mem::replace(&mut self.head_yielded, true) {
                        out.push(Piece::Head(current.clone()));
                    }
                    out.push(Piece::Frame(Frame {
                        track,
                        timestamp_ns,
                        data,
                    }));
                }
                MkvEvent::ChunkEnd => self.complete(out),
            }
        }
        self.events = events;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragments(bytes: &[u8]) -> Vec<Fragment> {
        let mut reader = FragmentReader::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(1000) {
            reader.feed(piece, &mut out).expect("parses");
        }
        reader.finish(&mut out).expect("finishes");
        out
    }

    #[test]
    fn connect_shaped_fragment_has_tracks_contact_and_audio() {
        let f = fragments(include_bytes!(
            "../../../../tests/data/kvs/connect_real_shape.mkv"
        ));
        assert_eq!(f.len(), 1);
        let f = &f[0];
        let from = f.track_named(AUDIO_FROM_CUSTOMER).expect("customer track");
        let to = f.track_named(AUDIO_TO_CUSTOMER).expect("agent track");
        assert_ne!(from, to);
        assert!(f.contact_id.is_some());
        assert!(f.number.is_some() && f.continuation_token.is_some());
        assert_eq!(f.frames_of(from).count(), 2);
        assert!(f.frames_of(from).all(|fr| fr.data.len() == 24));
        let ts: Vec<i64> = f.frames_of(from).map(|fr| fr.timestamp_ns).collect();
        assert_eq!(ts[1] - ts[0], 10_000_000, "relative timecodes 0 and 10 ms");
    }

    #[test]
    fn blocks_are_yielded_as_parsed_between_the_head_and_the_complete_fragment() {
        let bytes = include_bytes!("../../../../tests/data/kvs/connect_real_shape.mkv");
        let mut reader = FragmentReader::new();
        let mut pieces = Vec::new();
        for piece in bytes.chunks(100) {
            reader.read(piece, &mut pieces).expect("parses");
        }
        reader.finish_reading(&mut pieces).expect("finishes");
        let kinds: Vec<&str> = pieces
            .iter()
            .map(|p| match p {
                Piece::Head(_) => "head",
                Piece::Frame(_) => "frame",
                Piece::Complete(_) => "complete",
            })
            .collect();
        assert_eq!(kinds[0], "head");
        assert_eq!(kinds.last(), Some(&"complete"));
        assert_eq!(kinds.iter().filter(|k| **k == "frame").count(), 4);
        let (Piece::Head(head), Some(Piece::Complete(complete))) = (&pieces[0], pieces.last())
        else {
            unreachable!("checked above");
        };
        assert!(
            head.number.is_some(),
            "KVS's number comes before the Cluster"
        );
        assert!(head.track_named(AUDIO_FROM_CUSTOMER).is_some());
        assert!(complete.contact_id.is_some() && complete.frames.is_empty());
    }

    #[test]
    fn swapped_track_order_is_resolved_by_name() {
        let f = &fragments(include_bytes!(
            "../../../../tests/data/kvs/track_order_swapped.mkv"
        ))[0];
        assert_eq!(f.track_named(AUDIO_TO_CUSTOMER), Some(1));
        assert_eq!(f.track_named(AUDIO_FROM_CUSTOMER), Some(2));
        assert_eq!(f.frames_of(1).map(|fr| fr.data.len()).sum::<usize>(), 48);
        assert_eq!(f.frames_of(2).map(|fr| fr.data.len()).sum::<usize>(), 32);
    }

    #[test]
    fn stream_reuse_shows_the_contact_change() {
        let f = fragments(include_bytes!(
            "../../../../tests/data/kvs/stream_reuse.mkv"
        ));
        let contacts: Vec<_> = f
            .iter()
            .map(|f| f.contact_id.clone().unwrap_or_default())
            .collect();
        assert_eq!(contacts.len(), 4);
        assert_eq!(contacts[0], contacts[1]);
        assert_ne!(contacts[1], contacts[2], "contact changes at fragment 3");
        assert_eq!(contacts[2], contacts[3]);
    }

    #[test]
    fn short_block_in_the_middle_of_a_track_is_kept() {
        let f = &fragments(include_bytes!(
            "../../../../tests/data/kvs/short_block_mid_track.mkv"
        ))[0];
        let sizes: Vec<usize> = f.frames_of(1).map(|fr| fr.data.len()).collect();
        assert!(sizes.contains(&192) && sizes.contains(&1024), "{sizes:?}");
    }

    #[test]
    fn real_getmedia_output_has_tokens_equal_to_fragment_numbers() {
        let f = fragments(include_bytes!(
            "../../../../tests/data/kvs/test_mixed_tags.mkv"
        ));
        assert_eq!(f.len(), 10);
        for fragment in &f {
            assert_eq!(fragment.continuation_token, fragment.number);
            assert_eq!(fragment.frames.len(), 10);
            assert!(
                fragment
                    .other_tags
                    .iter()
                    .any(|(n, _)| n.starts_with("testTag_"))
            );
        }
        assert_eq!(
            f[0].producer_timestamp_ms,
            Some(0),
            "this test producer's clock starts at 0"
        );
        let numbers: Vec<&String> = f.iter().filter_map(|f| f.number.as_ref()).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "increasing fragment numbers"
        );
    }

    #[test]
    fn chunk_without_media_and_with_voids() {
        let f = fragments(include_bytes!(
            "../../../../tests/data/kvs/empty-mkv-with-tags.mkv"
        ));
        assert_eq!(f.len(), 1);
        assert!(f[0].frames.is_empty());
        assert!(f[0].number.is_some() && f[0].server_timestamp_ms.is_some());
    }

    #[test]
    fn known_size_clusters_with_crc_are_read() {
        let f = fragments(include_bytes!(
            "../../../../tests/data/kvs/output_get_media.mkv"
        ));
        assert_eq!(f.len(), 5);
        assert!(
            f.iter().all(|f| f.frames.len() == 60),
            "{:?}",
            f.iter().map(|f| f.frames.len()).collect::<Vec<_>>()
        );
        let starts: Vec<i64> = f
            .iter()
            .map(|f| f.frames[0].timestamp_ns / 1_000_000)
            .collect();
        assert_eq!(starts, [0, 2000, 4000, 6000, 8000]);
    }

    #[test]
    fn kvs_timestamps_become_milliseconds() {
        assert_eq!(
            parse_seconds_as_ms("1726677687.758"),
            Some(1_726_677_687_758)
        );
        assert_eq!(parse_seconds_as_ms("0.000"), Some(0));
        assert_eq!(parse_seconds_as_ms("nonsense"), None);
    }
}
