//! Streaming 8 kHz → 16 kHz upsampling with rubato's FFT resampler (band-limited, not
//! linear interpolation). Fed in blocks of any size; the resampler's start-up delay is
//! dropped so that output sample `2n` lines up with input sample `n`, which keeps
//! utterance timings exact.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::{MODEL_RATE, TELEPHONE_RATE};

/// Input frames per resampler call: 32 ms, small enough to keep latency low.
const CHUNK: usize = 256;

pub struct Upsampler {
    resampler: Fft<f32>,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output samples still to drop (the resampler's delay).
    to_skip: usize,
    /// Input samples taken so far, to size the tail on flush.
    input_total: usize,
    output_total: usize,
}

impl Default for Upsampler {
    fn default() -> Self {
        Upsampler::new()
    }
}

impl Upsampler {
    pub fn new() -> Upsampler {
        let resampler = Fft::<f32>::new(TELEPHONE_RATE, MODEL_RATE, CHUNK, 1, FixedSync::Both)
            .expect("8 kHz to 16 kHz is a valid fixed ratio");
        let out = vec![0.0; resampler.output_frames_max()];
        Upsampler {
            to_skip: resampler.output_delay(),
            resampler,
            pending: Vec::with_capacity(CHUNK * 2),
            out,
            input_total: 0,
            output_total: 0,
        }
    }

    /// Takes 8 kHz samples and appends every 16 kHz sample now ready to `output`.
    pub fn push(&mut self, input: impl IntoIterator<Item = f32>, output: &mut Vec<f32>) {
        for sample in input {
            self.pending.push(sample);
            self.input_total += 1;
            if self.pending.len() == CHUNK {
                self.run_chunk(None, output);
                self.pending.clear();
            }
        }
    }

    /// Ends the stream: pushes out what is still inside the resampler so the output
    /// holds exactly twice as many samples as the input.
    pub fn flush(&mut self, output: &mut Vec<f32>) {
        let wanted = self.input_total * 2;
        while self.output_total < wanted {
            let partial = self.pending.len();
            self.pending.resize(CHUNK, 0.0);
            self.run_chunk(Some(partial), output);
            self.pending.clear();
        }
        output.truncate(output.len() - (self.output_total - wanted));
        self.output_total = wanted;
    }

    fn run_chunk(&mut self, partial: Option<usize>, output: &mut Vec<f32>) {
        let frames_in = self.pending.len();
        let frames_out = self.out.len();
        let (Ok(input), Ok(mut out)) = (
            InterleavedSlice::new(&self.pending[..], 1, frames_in),
            InterleavedSlice::new_mut(&mut self.out[..], 1, frames_out),
        ) else {
            return;
        };
        let indexing = partial.map(|len| Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: Some(len),
            active_channels_mask: None,
        });
        let Ok((_, written)) =
            self.resampler
                .process_into_buffer(&input, &mut out, indexing.as_ref())
        else {
            return;
        };
        let skip = self.to_skip.min(written);
        self.to_skip -= skip;
        output.extend_from_slice(&self.out[skip..written]);
        self.output_total += written - skip;
    }
}

/// Upsamples a whole clip (tools and tests).
pub fn upsample(samples: &[f32]) -> Vec<f32> {
    let mut up = Upsampler::new();
    let mut out = Vec::with_capacity(samples.len() * 2);
    up.push(samples.iter().copied(), &mut out);
    up.flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin())
            .collect()
    }

    #[test]
    fn doubles_the_length_whatever_the_block_sizes() {
        let input = sine(440.0, 8000.0, 8000 + 37);
        let mut up = Upsampler::new();
        let mut out = Vec::new();
        for block in input.chunks(93) {
            up.push(block.iter().copied(), &mut out);
        }
        up.flush(&mut out);
        assert_eq!(out.len(), input.len() * 2);
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_phase() {
        // A 1 kHz tone at 8 kHz becomes the same tone at 16 kHz, aligned in time: the
        // resampler's delay is compensated.
        let input = sine(1000.0, 8000.0, 4000);
        let out = upsample(&input);
        let expected = sine(1000.0, 16000.0, 8000);
        let worst = out[1000..7000]
            .iter()
            .zip(&expected[1000..7000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.02, "max deviation {worst}");
    }
}
