//! Telephone audio to utterances: Connect's 8 kHz tracks are upsampled to the 16 kHz the
//! VAD and the model need, then cut into utterances at pauses.

pub mod endpoint;
pub mod resample;

/// Connect's sample rate.
pub const TELEPHONE_RATE: usize = 8_000;
/// What the VAD and Whisper take.
pub const MODEL_RATE: usize = 16_000;
/// 16 kHz samples per millisecond.
pub const SAMPLES_PER_MS: usize = MODEL_RATE / 1000;

/// How long `bytes` of Connect's 16-bit 8 kHz PCM play, in milliseconds (16 bytes a ms).
pub fn telephone_pcm_ms(bytes: i64) -> i64 {
    bytes / (TELEPHONE_RATE as i64 / 1000 * 2)
}

/// 16-bit little-endian PCM bytes as f32 samples in [-1, 1]; an odd trailing byte is
/// dropped (KVS blocks always hold whole samples).
pub fn pcm_bytes_to_f32(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
}
