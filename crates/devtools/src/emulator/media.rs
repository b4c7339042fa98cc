//! One emulated stream's media timeline: audio cut into ~1 s fragments the way
//! Amazon Connect writes them, with fragment numbers, timestamps and ContactIds, and
//! the start-selector arithmetic over them.

use crate::mkv_writer::{ChunkSpec, chunk_pieces, write_chunk};
use callscribe::kvs::fragment::{AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER};

/// Samples per block: 512 samples of 8 kHz S16LE = 1024 bytes = 64 ms (Connect's size).
pub const BLOCK_SAMPLES: usize = 512;
/// Blocks per track in one fragment: 16 × 64 ms = 1,024 ms.
pub const BLOCKS_PER_FRAGMENT: usize = 16;
pub const FRAGMENT_MS: i64 = (BLOCK_SAMPLES * BLOCKS_PER_FRAGMENT / 8) as i64;
/// One block's duration.
pub const BLOCK_MS: i64 = (BLOCK_SAMPLES / 8) as i64;
const FRAGMENT_SAMPLES: usize = BLOCK_SAMPLES * BLOCKS_PER_FRAGMENT;
/// Fragment numbers are 47 decimal digits like KVS's: this prefix and an 11-digit index.
const NUMBER_PREFIX: &str = "913438523331814323926820626077439201";
/// KVS stamps a fragment on arrival, a little after the producer finished it.
const SERVER_DELAY_MS: i64 = 40;

/// What a stream plays.
#[derive(Debug, Clone)]
pub struct StreamMedia {
    /// 8 kHz mono S16 samples of the customer (track AUDIO_FROM_CUSTOMER).
    pub customer: Vec<i16>,
    /// The agent (AUDIO_TO_CUSTOMER); `None` for a single-track stream.
    pub agent: Option<Vec<i16>>,
    /// ContactId tagged on every fragment.
    pub contact_id: String,
    /// From this media time on, fragments carry `next_contact_id` (stream reuse).
    pub switch_contact_at_ms: Option<i64>,
    pub next_contact_id: String,
    /// Producer clock (epoch ms) of the first sample.
    pub start_epoch_ms: i64,
}

impl StreamMedia {
    pub fn fragment_count(&self) -> usize {
        let samples = self
            .customer
            .len()
            .max(self.agent.as_ref().map_or(0, Vec::len));
        samples.div_ceil(FRAGMENT_SAMPLES)
    }

    pub fn fragment_number(index: usize) -> String {
        format!("{NUMBER_PREFIX}{index:011}")
    }

    /// The index of a fragment number this emulator issued.
    pub fn fragment_index(number: &str) -> Option<usize> {
        let digits = number.strip_prefix(NUMBER_PREFIX)?;
        (digits.len() == 11).then(|| digits.parse().ok()).flatten()
    }

    pub fn producer_timestamp_ms(&self, index: usize) -> i64 {
        self.start_epoch_ms + index as i64 * FRAGMENT_MS
    }

    pub fn server_timestamp_ms(&self, index: usize) -> i64 {
        self.producer_timestamp_ms(index) + FRAGMENT_MS + SERVER_DELAY_MS
    }

    /// Media time (ms from the start) at which fragment `index` is complete.
    pub fn available_at_ms(index: usize) -> i64 {
        (index as i64 + 1) * FRAGMENT_MS
    }

    /// The first fragment a GetMedia with a timestamp selector returns: the one whose
    /// span holds `timestamp_ms` (clamped to the stream).
    pub fn index_at(&self, timestamp_ms: i64, server_clock: bool) -> usize {
        let first = if server_clock {
            self.server_timestamp_ms(0)
        } else {
            self.producer_timestamp_ms(0)
        };
        let index = (timestamp_ms - first).div_euclid(FRAGMENT_MS).max(0) as usize;
        index.min(self.fragment_count())
    }

    fn contact_at(&self, index: usize) -> &str {
        let start = index as i64 * FRAGMENT_MS;
        match self.switch_contact_at_ms {
            Some(at) if start >= at => &self.next_contact_id,
            _ => &self.contact_id,
        }
    }

    /// Fragment `index` as one GetMedia chunk, `millis_behind_now` as of `now_media_ms`.
    pub fn chunk(&self, index: usize, now_media_ms: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 * FRAGMENT_SAMPLES * 2 + 2048);
        self.with_chunk_spec(index, now_media_ms, |spec| write_chunk(&mut out, spec));
        out
    }

    /// Fragment `index` as a live producer sends it: `(media ms when due, bytes)`, the
    /// head with the first blocks, each 64 ms block (both tracks') once it has been
    /// spoken, and the tags after the Cluster when the fragment ends.
    pub fn paced_chunk(&self, index: usize, now_media_ms: i64) -> Vec<(i64, Vec<u8>)> {
        let start = index as i64 * FRAGMENT_MS;
        let mut out: Vec<(i64, Vec<u8>)> = Vec::new();
        self.with_chunk_spec(index, now_media_ms, |spec| {
            let pieces = chunk_pieces(spec);
            let mut head = Some(pieces.head);
            for (&(_, relative_ms, _), block) in spec.blocks.iter().zip(pieces.blocks) {
                let due = start + i64::from(relative_ms) + BLOCK_MS;
                match out.last_mut() {
                    Some((at, bytes)) if *at == due => bytes.extend(block),
                    _ => {
                        let mut bytes = head.take().unwrap_or_default();
                        bytes.extend(block);
                        out.push((due, bytes));
                    }
                }
            }
            let end = out.last().map_or(start, |(at, _)| *at);
            let mut tail = head.take().unwrap_or_default();
            tail.extend(pieces.tail);
            out.push((end, tail));
        });
        out
    }

    fn with_chunk_spec(&self, index: usize, now_media_ms: i64, write: impl FnOnce(&ChunkSpec<'_>)) {
        let number = Self::fragment_number(index);
        let mut tracks = vec![(1, AUDIO_FROM_CUSTOMER)];
        if self.agent.is_some() {
            tracks.push((2, AUDIO_TO_CUSTOMER));
        }
        let customer = block_bytes(&self.customer, index);
        let agent = self
            .agent
            .as_ref()
            .map(|a| block_bytes(a, index))
            .unwrap_or_default();
        let mut blocks: Vec<(u64, i16, &[u8])> = Vec::with_capacity(2 * BLOCKS_PER_FRAGMENT);
        for b in 0..BLOCKS_PER_FRAGMENT {
            let relative = (b * BLOCK_SAMPLES / 8) as i16;
            if let Some(block) = customer.get(b).filter(|d| !d.is_empty()) {
                blocks.push((1, relative, block));
            }
            if let Some(block) = agent.get(b).filter(|d| !d.is_empty()) {
                blocks.push((2, relative, block));
            }
        }
        write(&ChunkSpec {
            fragment_number: &number,
            server_timestamp_ms: self.server_timestamp_ms(index),
            producer_timestamp_ms: self.producer_timestamp_ms(index),
            cluster_timecode_ms: self.producer_timestamp_ms(index).max(0) as u64,
            tracks: &tracks,
            blocks: &blocks,
            contact_id: Some(self.contact_at(index)),
            millis_behind_now: (now_media_ms - Self::available_at_ms(index)).max(0),
            error: None,
        });
    }
}

/// The S16LE bytes of fragment `index`'s blocks of one track (the last may be short).
fn block_bytes(samples: &[i16], index: usize) -> Vec<Vec<u8>> {
    let start = (index * FRAGMENT_SAMPLES).min(samples.len());
    let end = (start + FRAGMENT_SAMPLES).min(samples.len());
    samples[start..end]
        .chunks(BLOCK_SAMPLES)
        .map(|block| block.iter().flat_map(|s| s.to_le_bytes()).collect())
        .collect()
}

/// An in-stream error chunk (KVS ends the response after it).
pub fn error_chunk(fragment_number: &str, code: &str, id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_chunk(
        &mut out,
        &ChunkSpec {
            fragment_number,
            error: Some((code, id)),
            ..ChunkSpec::default()
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscribe::kvs::fragment::FragmentReader;

    fn media(seconds: usize) -> StreamMedia {
        StreamMedia {
            customer: (0..seconds * 8000).map(|i| i as i16).collect(),
            agent: Some(
                (0..seconds * 8000)
                    .map(|i| (i as i16).wrapping_neg())
                    .collect(),
            ),
            contact_id: "contact-a".into(),
            switch_contact_at_ms: Some(2048),
            next_contact_id: "contact-b".into(),
            start_epoch_ms: 1_764_000_000_000,
        }
    }

    #[test]
    fn fragments_carry_all_the_audio_in_order() {
        let m = media(3);
        assert_eq!(m.fragment_count(), 3);
        let mut reader = FragmentReader::new();
        let mut fragments = Vec::new();
        for i in 0..m.fragment_count() {
            reader.feed(&m.chunk(i, 10_000), &mut fragments).unwrap();
        }
        reader.finish(&mut fragments).unwrap();
        let customer: Vec<i16> = fragments
            .iter()
            .flat_map(|f| {
                f.frames_of(1)
                    .flat_map(|fr| fr.data.chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]])))
            })
            .collect();
        assert_eq!(customer, m.customer);
        let contacts: Vec<_> = fragments
            .iter()
            .map(|f| f.contact_id.clone().unwrap())
            .collect();
        assert_eq!(contacts, ["contact-a", "contact-a", "contact-b"]);
        assert_eq!(
            fragments[1].number.as_deref(),
            Some(StreamMedia::fragment_number(1).as_str())
        );
    }

    #[test]
    fn a_paced_chunk_is_the_chunk_cut_at_each_block_when_it_is_spoken() {
        let m = media(3);
        let paced = m.paced_chunk(1, 0);
        let joined: Vec<u8> = paced.iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(joined, m.chunk(1, 0));
        let due: Vec<i64> = paced.iter().map(|(at, _)| *at).collect();
        assert_eq!(
            due.len(),
            BLOCKS_PER_FRAGMENT + 1,
            "each block, then the tags"
        );
        assert_eq!(due[0], FRAGMENT_MS + BLOCK_MS);
        assert!(
            due.windows(2)
                .take(BLOCKS_PER_FRAGMENT - 1)
                .all(|w| w[1] - w[0] == BLOCK_MS)
        );
        assert_eq!(due[BLOCKS_PER_FRAGMENT], StreamMedia::available_at_ms(1));
    }

    #[test]
    fn fragment_numbers_round_trip_and_sort() {
        let n = StreamMedia::fragment_number(42);
        assert_eq!(n.len(), 47);
        assert_eq!(StreamMedia::fragment_index(&n), Some(42));
        assert!(StreamMedia::fragment_number(9) < StreamMedia::fragment_number(10));
        assert_eq!(StreamMedia::fragment_index("123"), None);
    }

    #[test]
    fn timestamp_selectors_find_the_fragment_holding_the_time() {
        let m = media(5);
        let p1 = m.producer_timestamp_ms(1);
        assert_eq!(m.index_at(p1, false), 1);
        assert_eq!(m.index_at(p1 + FRAGMENT_MS - 1, false), 1);
        assert_eq!(m.index_at(p1 - 1, false), 0);
        assert_eq!(m.index_at(0, false), 0, "before the stream: its start");
        assert_eq!(m.index_at(m.server_timestamp_ms(3), true), 3);
    }
}
