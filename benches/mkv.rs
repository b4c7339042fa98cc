//! Throughput of the GetMedia parser on one core: `cargo bench --bench mkv`.
//!
//! Parses Connect-shaped chunks (two tracks of 1024-byte S16LE blocks, ~1 s per chunk)
//! fed in 16 KiB pieces, as HTTP delivers them, and prints MB/s. Target: 200 MB/s.

use std::time::Instant;

use callscribe::kvs::fragment::{AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER, FragmentReader};
use callscribe_devtools::mkv_writer::{ChunkSpec, write_chunk};

fn connect_stream(chunks: usize) -> Vec<u8> {
    let tracks = [(1, AUDIO_FROM_CUSTOMER), (2, AUDIO_TO_CUSTOMER)];
    let pcm: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let blocks: Vec<(u64, i16, &[u8])> = (0..16)
        .flat_map(|i| [(1, i * 64, &pcm[..]), (2, i * 64, &pcm[..])])
        .collect();
    let mut out = Vec::new();
    for n in 0..chunks {
        let number = format!("{}", 91_343_852_333_181_432_392_u128 + n as u128);
        write_chunk(
            &mut out,
            &ChunkSpec {
                fragment_number: &number,
                server_timestamp_ms: 1_726_677_687_758 + n as i64 * 1024,
                producer_timestamp_ms: 1_726_677_688_724 + n as i64 * 1024,
                cluster_timecode_ms: 1_726_677_688_724 + n as u64 * 1024,
                tracks: &tracks,
                blocks: &blocks,
                contact_id: Some("d111f871-5fe7-40b1-b5f7-6b67060de0c2"),
                millis_behind_now: 120,
                error: None,
            },
        );
    }
    out
}

fn main() {
    let data = connect_stream(2000);
    let mut best = f64::MAX;
    let mut frames = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let mut reader = FragmentReader::new();
        let mut fragments = Vec::new();
        frames = 0;
        for piece in data.chunks(16 * 1024) {
            reader.feed(piece, &mut fragments).expect("valid stream");
            frames += fragments.drain(..).map(|f| f.frames.len()).sum::<usize>();
        }
        reader.finish(&mut fragments).expect("valid end");
        frames += fragments.drain(..).map(|f| f.frames.len()).sum::<usize>();
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "mkv parser: {mb:.1} MB, {} chunks, {frames} frames: best of 5 {:.1} ms = {:.0} MB/s",
        2000,
        best * 1000.0,
        mb / best
    );
}
