//! An incremental (push) EBML/Matroska parser for the KVS GetMedia byte stream.
//!
//! GetMedia's body is a concatenation of independent MKV documents ("chunks"), one per
//! KVS fragment, each with an unknown-size Segment and usually an unknown-size Cluster.
//! HTTP chunks bear no relation to element boundaries, so [`MkvParser::feed`] accepts
//! input split at any byte and keeps only the unfinished element between calls.
//!
//! The parser knows just enough of Matroska for KVS: chunk boundaries, the track
//! table, every SimpleTag (name and string), and blocks with absolute timestamps.
//! Everything else (CRC-32, Void, SeekHead, Cues, unknown IDs) is skipped by size
//! without being buffered. Malformed input is an [`MkvError`] for this stream, never a
//! panic, and no element over [`MAX_BUFFERED_ELEMENT`] bytes is ever buffered.

/// Largest element the parser will hold in memory (a block, a string).
pub const MAX_BUFFERED_ELEMENT: u64 = 8 * 1024 * 1024;
/// Deepest element nesting accepted (Matroska needs about 6).
const MAX_DEPTH: usize = 16;

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_ID: u32 = 0x86;
    pub const TAGS: u32 = 0x1254_C367;
    pub const TAG: u32 = 0x7373;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMECODE: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const ATTACHMENTS: u32 = 0x1941_A469;
}

/// One entry of a chunk's track table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Track {
    pub number: u64,
    /// 1 video, 2 audio.
    pub kind: u64,
    /// `AUDIO_FROM_CUSTOMER` / `AUDIO_TO_CUSTOMER` in Connect streams.
    pub name: String,
    pub codec_id: String,
}

/// What the parser found, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MkvEvent {
    /// An EBML header: a new chunk (KVS fragment document) begins.
    ChunkStart,
    /// The chunk's track table, when its Tracks element is complete.
    Tracks(Vec<Track>),
    /// One SimpleTag (KVS and producer tags alike); binary tags have an empty value.
    Tag { name: String, value: String },
    /// A block's payload with its absolute timestamp (Cluster Timecode + relative
    /// timecode, times TimecodeScale).
    Frame {
        track: u64,
        timestamp_ns: i64,
        data: Vec<u8>,
    },
    /// The chunk's Segment ended (next chunk or end of input).
    ChunkEnd,
}

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MkvError {
    #[error("invalid element id at byte {0}")]
    InvalidId(u64),
    #[error("invalid element size at byte {0}")]
    InvalidSize(u64),
    #[error("element {id:#x} at byte {at} has unknown size but is not a container")]
    UnknownSizeLeaf { id: u32, at: u64 },
    #[error(
        "element {id:#x} at byte {at} is {size} bytes, over the {MAX_BUFFERED_ELEMENT}-byte limit"
    )]
    TooLarge { id: u32, at: u64, size: u64 },
    #[error("element {id:#x} at byte {at} overruns its parent")]
    Overrun { id: u32, at: u64 },
    #[error("elements nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(u64),
    #[error("malformed {what} at byte {at}")]
    Malformed { what: &'static str, at: u64 },
    #[error("laced blocks are not supported (byte {0})")]
    Lacing(u64),
    #[error("input ends inside an element")]
    Truncated,
}

/// An open container element.
#[derive(Debug, Clone, Copy)]
struct Open {
    id: u32,
    /// Absolute end offset; `None` for unknown size.
    end: Option<u64>,
}

/// What to do with the bytes after the current header.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// Read the next element header.
    Header,
    /// Discard this many bytes.
    Skip(u64),
    /// Buffer this leaf, then interpret it.
    Leaf { id: u32, size: usize, at: u64 },
}

/// Per-chunk state built up while parsing.
#[derive(Debug, Default)]
struct Chunk {
    timecode_scale: u64,
    tracks: Vec<Track>,
    track: Track,
    cluster_timecode: Option<i64>,
    tag_name: String,
    tag_value: String,
}

/// The push parser. Feed it bytes as they arrive; collect the events.
#[derive(Debug)]
pub struct MkvParser {
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    offset: u64,
    stack: Vec<Open>,
    pending: Pending,
    chunk: Chunk,
    failed: Option<MkvError>,
}

impl Default for MkvParser {
    fn default() -> Self {
        Self::new()
    }
}

impl MkvParser {
    pub fn new() -> MkvParser {
        MkvParser {
            buf: Vec::new(),
            offset: 0,
            stack: Vec::new(),
            pending: Pending::Header,
            chunk: Chunk {
                timecode_scale: 1_000_000,
                ..Chunk::default()
            },
            failed: None,
        }
    }

    /// Parses `data`, appending events to `out`. After an error every call returns it.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<MkvEvent>) -> Result<(), MkvError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.buf.extend_from_slice(data);
        let result = self.run(out);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.buf = Vec::new();
        }
        result
    }

    /// The input has ended: closes unknown-size elements, or fails if it ends inside one
    /// of known size.
    pub fn finish(&mut self, out: &mut Vec<MkvEvent>) -> Result<(), MkvError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let midway = !self.buf.is_empty() || !matches!(self.pending, Pending::Header);
        if midway || self.stack.iter().any(|o| o.end.is_some()) {
            self.failed = Some(MkvError::Truncated);
            return Err(MkvError::Truncated);
        }
        while let Some(open) = self.stack.pop() {
            self.close(open.id, out);
        }
        Ok(())
    }

    fn run(&mut self, out: &mut Vec<MkvEvent>) -> Result<(), MkvError> {
        let mut pos = 0usize;
        loop {
            let here = self.offset + pos as u64;
            while let Some(open) = self.stack.last().copied() {
                if open.end != Some(here) {
                    break;
                }
                self.stack.pop();
                self.close(open.id, out);
            }
            let available = self.buf.len() - pos;
            match self.pending {
                Pending::Skip(n) => {
                    let step = n.min(available as u64);
                    pos += step as usize;
                    if step < n {
                        self.pending = Pending::Skip(n - step);
                        break;
                    }
                    self.pending = Pending::Header;
                }
                Pending::Leaf { id, size, at } => {
                    if available < size {
                        break;
                    }
                    let data = &self.buf[pos..pos + size];
                    let event = interpret_leaf(&mut self.chunk, id, data, at)?;
                    out.extend(event);
                    pos += size;
                    self.pending = Pending::Header;
                }
                Pending::Header => match read_header(&self.buf[pos..], here)? {
                    None => break,
                    Some((element, size, header_len)) => {
                        self.begin(element, size, here, header_len as u64, out)?;
                        pos += header_len;
                    }
                },
            }
        }
        self.buf.drain(..pos);
        self.offset += pos as u64;
        Ok(())
    }

    /// Handles a new element header at `at`.
    fn begin(
        &mut self,
        element: u32,
        size: Option<u64>,
        at: u64,
        header_len: u64,
        out: &mut Vec<MkvEvent>,
    ) -> Result<(), MkvError> {
        // An unknown-size container ends where an element that cannot be its child starts.
        while let Some(open) = self.stack.last().copied() {
            if open.end.is_some() || can_contain(open.id, element) {
                break;
            }
            self.stack.pop();
            self.close(open.id, out);
        }
        let data_start = at + header_len;
        let end = size.map(|s| data_start.saturating_add(s));
        let parent_end = self.stack.last().and_then(|o| o.end);
        if let (Some(end), Some(parent_end)) = (end, parent_end)
            && end > parent_end
        {
            return Err(MkvError::Overrun { id: element, at });
        }
        if is_container(element) {
            if self.stack.len() >= MAX_DEPTH {
                return Err(MkvError::TooDeep(at));
            }
            self.open(element, out);
            self.stack.push(Open { id: element, end });
            return Ok(());
        }
        let Some(size) = size else {
            return Err(MkvError::UnknownSizeLeaf { id: element, at });
        };
        self.pending = if is_wanted_leaf(element) {
            if size > MAX_BUFFERED_ELEMENT {
                return Err(MkvError::TooLarge {
                    id: element,
                    at,
                    size,
                });
            }
            Pending::Leaf {
                id: element,
                size: size as usize,
                at,
            }
        } else {
            Pending::Skip(size)
        };
        Ok(())
    }

    fn open(&mut self, element: u32, out: &mut Vec<MkvEvent>) {
        match element {
            id::SEGMENT => {
                self.chunk = Chunk {
                    timecode_scale: 1_000_000,
                    ..Chunk::default()
                }
            }
            id::TRACKS => self.chunk.tracks.clear(),
            id::TRACK_ENTRY => self.chunk.track = Track::default(),
            id::SIMPLE_TAG => {
                self.chunk.tag_name.clear();
                self.chunk.tag_value.clear();
            }
            id::CLUSTER => self.chunk.cluster_timecode = None,
            _ => {}
        }
        if element == id::EBML {
            out.push(MkvEvent::ChunkStart);
        }
    }

    fn close(&mut self, element: u32, out: &mut Vec<MkvEvent>) {
        let chunk = &mut self.chunk;
        match element {
            id::SEGMENT => out.push(MkvEvent::ChunkEnd),
            id::TRACK_ENTRY => chunk.tracks.push(std::mem::take(&mut chunk.track)),
            id::TRACKS => out.push(MkvEvent::Tracks(chunk.tracks.clone())),
            id::SIMPLE_TAG if !chunk.tag_name.is_empty() => out.push(MkvEvent::Tag {
                name: std::mem::take(&mut chunk.tag_name),
                value: std::mem::take(&mut chunk.tag_value),
            }),
            _ => {}
        }
    }
}

/// Containers the parser descends into. The EBML header is one too, so that its end
/// is tracked; its children are skipped as unwanted leaves.
fn is_container(element: u32) -> bool {
    matches!(
        element,
        id::EBML
            | id::SEGMENT
            | id::INFO
            | id::TRACKS
            | id::TRACK_ENTRY
            | id::TAGS
            | id::TAG
            | id::SIMPLE_TAG
            | id::CLUSTER
            | id::BLOCK_GROUP
    )
}

fn is_wanted_leaf(element: u32) -> bool {
    matches!(
        element,
        id::TIMECODE_SCALE
            | id::TRACK_NUMBER
            | id::TRACK_TYPE
            | id::NAME
            | id::CODEC_ID
            | id::TAG_NAME
            | id::TAG_STRING
            | id::TIMECODE
            | id::SIMPLE_BLOCK
            | id::BLOCK
    )
}

/// Whether `child` may appear inside an unknown-size `parent`. Only IDs known to live
/// higher up end the parent; unknown IDs are children (and skipped by size).
fn can_contain(parent: u32, child: u32) -> bool {
    let top_level = matches!(child, id::EBML | id::SEGMENT);
    let segment_level = matches!(
        child,
        id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::TAGS
            | id::CLUSTER
            | id::CUES
            | id::CHAPTERS
            | id::ATTACHMENTS
    );
    match parent {
        id::SEGMENT => !top_level,
        id::CLUSTER => !top_level && !segment_level,
        _ => !top_level && !segment_level,
    }
}

/// Reads an element header; `None` when more bytes are needed.
fn read_header(buf: &[u8], at: u64) -> Result<Option<(u32, Option<u64>, usize)>, MkvError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return Err(MkvError::InvalidId(at));
    }
    if buf.len() < id_len + 1 {
        return Ok(None);
    }
    let element = buf[..id_len]
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let size_first = buf[id_len];
    let size_len = size_first.leading_zeros() as usize + 1;
    if size_len > 8 {
        return Err(MkvError::InvalidSize(at));
    }
    if buf.len() < id_len + size_len {
        return Ok(None);
    }
    let mask = if size_len == 8 { 0 } else { 0xFFu8 >> size_len };
    let mut value = u64::from(size_first & mask);
    let mut all_ones = (size_first & mask) == mask;
    for &b in &buf[id_len + 1..id_len + size_len] {
        value = (value << 8) | u64::from(b);
        all_ones &= b == 0xFF;
    }
    let size = if all_ones { None } else { Some(value) };
    Ok(Some((element, size, id_len + size_len)))
}

fn read_uint(data: &[u8], what: &'static str, at: u64) -> Result<u64, MkvError> {
    if data.len() > 8 {
        return Err(MkvError::Malformed { what, at });
    }
    Ok(data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn read_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// Turns a complete leaf into chunk state or an event.
fn interpret_leaf(
    chunk: &mut Chunk,
    element: u32,
    data: &[u8],
    at: u64,
) -> Result<Option<MkvEvent>, MkvError> {
    match element {
        id::TIMECODE_SCALE => {
            let scale = read_uint(data, "TimecodeScale", at)?;
            if scale == 0 {
                return Err(MkvError::Malformed {
                    what: "TimecodeScale",
                    at,
                });
            }
            chunk.timecode_scale = scale;
        }
        id::TRACK_NUMBER => chunk.track.number = read_uint(data, "TrackNumber", at)?,
        id::TRACK_TYPE => chunk.track.kind = read_uint(data, "TrackType", at)?,
        id::NAME => chunk.track.name = read_string(data),
        id::CODEC_ID => chunk.track.codec_id = read_string(data),
        id::TAG_NAME => chunk.tag_name = read_string(data),
        id::TAG_STRING => chunk.tag_value = read_string(data),
        id::TIMECODE => {
            let tc = read_uint(data, "Cluster Timecode", at)?;
            let tc = i64::try_from(tc).map_err(|_| MkvError::Malformed {
                what: "Cluster Timecode",
                at,
            })?;
            chunk.cluster_timecode = Some(tc);
        }
        id::SIMPLE_BLOCK | id::BLOCK => return block(chunk, data, at).map(Some),
        _ => {}
    }
    Ok(None)
}

/// A (Simple)Block: track vint, signed 16-bit relative timecode, flags, payload.
fn block(chunk: &Chunk, data: &[u8], at: u64) -> Result<MkvEvent, MkvError> {
    let malformed = || MkvError::Malformed { what: "block", at };
    let first = *data.first().ok_or_else(malformed)?;
    let track_len = first.leading_zeros() as usize + 1;
    if track_len > 8 || data.len() < track_len + 3 {
        return Err(malformed());
    }
    let mask = if track_len == 8 {
        0
    } else {
        0xFFu8 >> track_len
    };
    let track = data[1..track_len]
        .iter()
        .fold(u64::from(first & mask), |acc, &b| (acc << 8) | u64::from(b));
    let relative = i16::from_be_bytes([data[track_len], data[track_len + 1]]);
    let flags = data[track_len + 2];
    if flags & 0x06 != 0 {
        return Err(MkvError::Lacing(at));
    }
    let cluster = chunk.cluster_timecode.ok_or(MkvError::Malformed {
        what: "block before Cluster Timecode",
        at,
    })?;
    let ticks = cluster.saturating_add(i64::from(relative));
    let scale = i64::try_from(chunk.timecode_scale).unwrap_or(i64::MAX);
    Ok(MkvEvent::Frame {
        track,
        timestamp_ns: ticks.saturating_mul(scale),
        data: data[track_len + 3..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(data: &[u8], split: impl Fn(usize) -> usize) -> Result<Vec<MkvEvent>, MkvError> {
        let mut parser = MkvParser::new();
        let mut out = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = split(i).clamp(1, rest.len());
            parser.feed(&rest[..n], &mut out)?;
            rest = &rest[n..];
            i += 1;
        }
        parser.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reads_sizes_of_every_width_and_unknown() {
        assert_eq!(
            read_header(&[0xA3, 0x85], 0).unwrap(),
            Some((0xA3, Some(5), 2))
        );
        assert_eq!(
            read_header(&[0xA3, 0xFF], 0).unwrap(),
            Some((0xA3, None, 2))
        );
        let eight = [
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(
            read_header(&eight, 0).unwrap(),
            Some((id::SEGMENT, None, 12))
        );
        let fixed = [0x12, 0x54, 0xC3, 0x67, 0x01, 0, 0, 0, 0, 0, 0, 0x2A];
        assert_eq!(
            read_header(&fixed, 0).unwrap(),
            Some((id::TAGS, Some(42), 12))
        );
        assert_eq!(
            read_header(&[0x1A, 0x45], 0).unwrap(),
            None,
            "needs more bytes"
        );
        assert!(read_header(&[0x00], 0).is_err());
        assert!(read_header(&[0xA3, 0x00], 0).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut parser = MkvParser::new();
        let mut out = Vec::new();
        assert!(parser.feed(&[0x00, 0x01, 0x02], &mut out).is_err());
        assert!(parser.feed(b"more", &mut out).is_err(), "stays failed");
    }

    #[test]
    fn oversized_leaf_is_refused_before_buffering() {
        // A SimpleBlock claiming 16 MiB.
        let data = [0xA3, 0x08, 0x01, 0x00, 0x00, 0x00];
        let mut parser = MkvParser::new();
        let err = parser.feed(&data[..], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(
                err,
                MkvError::TooLarge {
                    size: 0x0100_0000,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_known_size_element_fails_at_finish() {
        // Tags of 16 bytes, cut after the first byte of its first child's id.
        let data = [0x12, 0x54, 0xC3, 0x67, 0x90, 0x73];
        assert_eq!(parse_all(&data, |_| 100), Err(MkvError::Truncated));
    }

    #[test]
    fn splitting_never_changes_the_events() {
        let sample = include_bytes!("../../../../tests/data/kvs/connect_real_shape.mkv");
        let whole = parse_all(sample, |_| usize::MAX).unwrap();
        for step in [1, 2, 3, 7, 13, 64] {
            assert_eq!(
                parse_all(sample, |_| step).unwrap(),
                whole,
                "split every {step} bytes"
            );
        }
        assert_eq!(parse_all(sample, |i| (i * 7919) % 97 + 1).unwrap(), whole);
    }
}
