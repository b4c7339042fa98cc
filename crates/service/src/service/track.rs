//! One participant's audio path inside a session: Connect's 8 kHz PCM in, utterances
//! out (upsampled to 16 kHz, endpointed on this track alone).

use crate::audio::endpoint::{EndpointSettings, Endpointer, Utterance};
use crate::audio::pcm_bytes_to_f32;
use crate::audio::resample::Upsampler;

pub struct TrackAudio {
    upsampler: Upsampler,
    endpointer: Endpointer,
    upsampled: Vec<f32>,
}

impl TrackAudio {
    /// A track whose first `audio_ms` were already cut (0 on a fresh start).
    pub fn continuing_at(settings: &EndpointSettings, audio_ms: i64) -> TrackAudio {
        TrackAudio {
            upsampler: Upsampler::new(),
            endpointer: Endpointer::continuing_at(settings.clone(), audio_ms),
            upsampled: Vec::new(),
        }
    }

    /// No utterance is in progress.
    pub fn is_idle(&self) -> bool {
        self.endpointer.is_idle()
    }

    /// Takes a block of 16-bit little-endian PCM; adds the utterances it completed.
    pub fn push(&mut self, pcm: &[u8], done: &mut Vec<Utterance>) {
        self.upsampled.clear();
        self.upsampler
            .push(pcm_bytes_to_f32(pcm), &mut self.upsampled);
        self.endpointer.push(&self.upsampled, done);
    }

    /// No audio arrived for a moment: the utterance in progress, if enough silence
    /// already follows it (see `pause_hangover_ms`).
    pub fn pause(&mut self, done: &mut Vec<Utterance>) {
        done.extend(self.endpointer.close_at_pause());
    }

    /// The track ended (or the call was stopped): the utterance in progress, if any.
    pub fn finish(&mut self, done: &mut Vec<Utterance>) {
        self.upsampled.clear();
        self.upsampler.flush(&mut self.upsampled);
        self.endpointer.push(&self.upsampled, done);
        done.extend(self.endpointer.flush());
    }
}
