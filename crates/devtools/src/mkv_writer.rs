//! Writes GetMedia chunks the way KVS delivers Amazon Connect audio: an EBML header,
//! an unknown-size Segment with Info, the Connect track table (TrackType 2, the wrong
//! `A_AAC` codec id Connect declares, no Audio master), the fragment-number Tags, an
//! unknown-size Cluster of small S16LE blocks, then Connect's tags and the
//! continuation token. Used by the KVS emulator and by tests and benchmarks.

use callscribe::kvs::fragment::tag;

/// One chunk to write.
#[derive(Debug, Clone, Default)]
pub struct ChunkSpec<'a> {
    pub fragment_number: &'a str,
    pub server_timestamp_ms: i64,
    pub producer_timestamp_ms: i64,
    /// Cluster Timecode (epoch milliseconds for Connect).
    pub cluster_timecode_ms: u64,
    /// `(track number 1–126, name)` in table order.
    pub tracks: &'a [(u64, &'a str)],
    /// `(track number, timecode relative to the cluster in ms, payload)`.
    pub blocks: &'a [(u64, i16, &'a [u8])],
    pub contact_id: Option<&'a str>,
    pub millis_behind_now: i64,
    /// An in-stream error instead of media (KVS then ends the response).
    pub error: Option<(&'a str, &'a str)>,
}

const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Appends `id` (1–4 bytes, marker kept) to `out`.
fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a size in the 8-byte form KVS commonly uses.
fn put_size(out: &mut Vec<u8>, size: usize) {
    let mut bytes = (size as u64).to_be_bytes();
    bytes[0] = 0x01;
    out.extend_from_slice(&bytes);
}

fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len());
    out.extend_from_slice(body);
}

fn master(out: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    fill(&mut body);
    element(out, id, &body);
}

fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    element(out, id, &value.to_be_bytes());
}

fn simple_tags(out: &mut Vec<u8>, tags: &[(&str, String)]) {
    master(out, 0x1254_C367, |tags_el| {
        master(tags_el, 0x7373, |tag_el| {
            master(tag_el, 0x63C0, |_| {});
            for (name, value) in tags {
                master(tag_el, 0x67C8, |simple| {
                    element(simple, 0x45A3, name.as_bytes());
                    element(simple, 0x4487, value.as_bytes());
                });
            }
        });
    });
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One chunk cut where a live producer's blocks arrive: everything before the first
/// block, each block, and the tags after the Cluster. Concatenated, they are the chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkPieces {
    pub head: Vec<u8>,
    /// One per entry of [`ChunkSpec::blocks`].
    pub blocks: Vec<Vec<u8>>,
    pub tail: Vec<u8>,
}

/// Appends one chunk to `out`.
pub fn write_chunk(out: &mut Vec<u8>, spec: &ChunkSpec<'_>) {
    let pieces = chunk_pieces(spec);
    out.extend_from_slice(&pieces.head);
    for block in &pieces.blocks {
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&pieces.tail);
}

/// One chunk, in the pieces a block-paced producer sends.
pub fn chunk_pieces(spec: &ChunkSpec<'_>) -> ChunkPieces {
    let mut pieces = ChunkPieces::default();
    let out = &mut pieces.head;
    master(out, 0x1A45_DFA3, |ebml| {
        uint(ebml, 0x4286, 1);
        uint(ebml, 0x42F7, 1);
        uint(ebml, 0x42F2, 4);
        uint(ebml, 0x42F3, 8);
        element(ebml, 0x4282, b"matroska");
        uint(ebml, 0x4287, 2);
        uint(ebml, 0x4285, 2);
    });
    put_id(out, 0x1853_8067);
    out.extend_from_slice(&UNKNOWN_SIZE);
    master(out, 0x1549_A966, |info| {
        uint(info, 0x2A_D7B1, 1_000_000);
        element(info, 0x7BA9, b"Kinesis Video SDK");
        element(info, 0x4D80, b"callscribe kvs-emulator");
        element(info, 0x5741, b"callscribe kvs-emulator");
    });
    if spec.error.is_none() {
        master(out, 0x1654_AE6B, |tracks| {
            for &(number, name) in spec.tracks {
                master(tracks, 0xAE, |entry| {
                    uint(entry, 0xD7, number);
                    uint(entry, 0x73C5, number);
                    uint(entry, 0x83, 2);
                    element(entry, 0x536E, name.as_bytes());
                    element(entry, 0x86, b"A_AAC");
                    element(entry, 0x63A2, &[0x11, 0x90]);
                });
            }
        });
    }
    let mut kvs_tags = vec![(tag::FRAGMENT_NUMBER, spec.fragment_number.to_owned())];
    match spec.error {
        Some((code, id)) => {
            kvs_tags.push((tag::ERROR_CODE, code.to_owned()));
            kvs_tags.push((tag::ERROR_ID, id.to_owned()));
        }
        None => {
            kvs_tags.push((tag::SERVER_TIMESTAMP, seconds(spec.server_timestamp_ms)));
            kvs_tags.push((tag::PRODUCER_TIMESTAMP, seconds(spec.producer_timestamp_ms)));
        }
    }
    simple_tags(out, &kvs_tags);
    if spec.error.is_some() {
        return pieces;
    }
    put_id(out, 0x1F43_B675);
    out.extend_from_slice(&UNKNOWN_SIZE);
    uint(out, 0xE7, spec.cluster_timecode_ms);
    for &(track, relative_ms, payload) in spec.blocks {
        let mut body = Vec::with_capacity(payload.len() + 4);
        body.push(0x80 | (track & 0x7F) as u8);
        body.extend_from_slice(&relative_ms.to_be_bytes());
        body.push(0);
        body.extend_from_slice(payload);
        let mut block = Vec::with_capacity(body.len() + 12);
        element(&mut block, 0xA3, &body);
        pieces.blocks.push(block);
    }
    let out = &mut pieces.tail;
    if let Some(contact) = spec.contact_id {
        simple_tags(out, &[(tag::CONTACT_ID, contact.to_owned())]);
        simple_tags(
            out,
            &[("MimeType", "audio/L16;rate=8000;channels=1;".to_owned())],
        );
        for &(number, name) in spec.tracks {
            simple_tags(out, &[(name, number.to_string())]);
        }
    }
    simple_tags(
        out,
        &[
            (tag::MILLIS_BEHIND_NOW, spec.millis_behind_now.to_string()),
            (tag::CONTINUATION_TOKEN, spec.fragment_number.to_owned()),
        ],
    );
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscribe::kvs::fragment::{AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER, FragmentReader};

    #[test]
    fn written_chunks_read_back_as_connect_fragments() {
        let tracks = [(1, AUDIO_FROM_CUSTOMER), (2, AUDIO_TO_CUSTOMER)];
        let customer = vec![0x11u8; 1024];
        let agent = vec![0x22u8; 1024];
        // PCM that happens to contain the EBML magic must not confuse the parser.
        let magic = [0x1A, 0x45, 0xDF, 0xA3, 0x01, 0xFF, 0xFF, 0xFF];
        let blocks = [
            (1, 0, &customer[..]),
            (2, 0, &agent[..]),
            (1, 64, &magic[..]),
        ];
        let mut bytes = Vec::new();
        for n in 0..2 {
            let number = format!("9134385233318143239268206260774392014626444009{n}");
            write_chunk(
                &mut bytes,
                &ChunkSpec {
                    fragment_number: &number,
                    server_timestamp_ms: 1_726_677_687_758 + n * 1000,
                    producer_timestamp_ms: 1_726_677_688_724 + n * 1000,
                    cluster_timecode_ms: 1_726_677_688_724 + n as u64 * 1000,
                    tracks: &tracks,
                    blocks: &blocks,
                    contact_id: Some("d111f871-5fe7-40b1-b5f7-6b67060de0c2"),
                    millis_behind_now: 15858,
                    error: None,
                },
            );
        }
        let error = ChunkSpec {
            fragment_number: "1",
            error: Some(("FRAGMENT_NOT_FOUND", "3000")),
            ..ChunkSpec::default()
        };
        write_chunk(&mut bytes, &error);

        let mut reader = FragmentReader::new();
        let mut fragments = Vec::new();
        reader.feed(&bytes, &mut fragments).unwrap();
        reader.finish(&mut fragments).unwrap();
        assert_eq!(fragments.len(), 3);
        let f = &fragments[1];
        assert_eq!(
            f.number.as_deref(),
            Some("91343852333181432392682062607743920146264440091")
        );
        assert_eq!(f.continuation_token, f.number);
        assert_eq!(f.server_timestamp_ms, Some(1_726_677_688_758));
        assert_eq!(f.producer_timestamp_ms, Some(1_726_677_689_724));
        assert_eq!(f.millis_behind_now, Some(15858));
        assert_eq!(
            f.contact_id.as_deref(),
            Some("d111f871-5fe7-40b1-b5f7-6b67060de0c2")
        );
        let from = f.track_named(AUDIO_FROM_CUSTOMER).unwrap();
        let frames: Vec<_> = f.frames_of(from).collect();
        assert_eq!(frames[0].data, customer);
        assert_eq!(frames[1].data, magic);
        assert_eq!(frames[1].timestamp_ns - frames[0].timestamp_ns, 64_000_000);
        assert_eq!(frames[0].timestamp_ns, 1_726_677_689_724 * 1_000_000);
        let err = fragments[2].error.as_ref().unwrap();
        assert_eq!(
            (err.code.as_str(), err.id.as_str()),
            ("FRAGMENT_NOT_FOUND", "3000")
        );
        assert!(fragments[2].frames.is_empty());
    }
}
