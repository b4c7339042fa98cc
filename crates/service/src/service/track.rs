//! One participant's audio path inside a session: Connect's 8 kHz PCM in, utterances
//! out (upsampled to 16 kHz, endpointed on this track alone), each with the reader's
//! count of the fragment its speech began in, and the utterance in progress offered for
//! speculative decoding. The track's transcriber tells it, through [`SentenceEnds`],
//! when the utterance in progress ends a sentence, so it may close early.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

use crate::audio::endpoint::{EndpointSettings, Endpointer, Utterance};
use crate::audio::pcm_bytes_to_f32;
use crate::audio::resample::Upsampler;
use crate::ids::{PerRole, Role};

/// What a track hands its transcriber, in order.
#[derive(Debug, Clone)]
pub enum Heard {
    /// The utterance in progress, to decode speculatively (see
    /// [`crate::audio::endpoint::Speculation`]).
    Growing {
        utterance: Utterance,
        tentative: bool,
    },
    /// A complete utterance and the fragment its speech began in: it is published once
    /// that fragment is confirmed as the contact's. `speech_ended_at` is when the audio
    /// block holding its last voiced frame arrived from the reader (the end of its speech
    /// as far as this replica can tell; for [`crate::metrics::WebhookMetrics`]'s
    /// end-to-end latency).
    Done {
        utterance: Utterance,
        fragment: u64,
        speech_ended_at: Option<Instant>,
    },
}

/// Per participant, the voiced span whose tentative hypothesis ended a sentence: set by
/// the transcriber, read by the endpointer, which then needs less silence to close it.
#[derive(Default)]
pub struct SentenceEnds {
    spans: Mutex<PerRole<Option<(i64, i64)>>>,
    /// Wakes the session to close the utterance without waiting for the next block.
    pub changed: Notify,
}

impl SentenceEnds {
    pub fn mark(&self, role: Role, span: (i64, i64)) {
        *self
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .of_mut(role) = Some(span);
        self.changed.notify_one();
    }

    fn of(&self, role: Role) -> Option<(i64, i64)> {
        *self
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .of(role)
    }
}

/// How far back fragment starts are remembered: longer than any utterance.
const FRAGMENT_MEMORY_MS: i64 = 60_000;

pub struct TrackAudio {
    upsampler: Upsampler,
    endpointer: Endpointer,
    upsampled: Vec<f32>,
    cut: Vec<Utterance>,
    /// Milliseconds of the track heard so far (on the stream's timeline).
    heard_ms: i64,
    /// Where each recent fragment's audio began: (ms, reader count).
    fragment_starts: VecDeque<(i64, u64)>,
    /// When each recent block arrived: (ms of the track heard once it was pushed, when).
    arrivals: VecDeque<(i64, Instant)>,
}

impl TrackAudio {
    /// A track whose first `audio_ms` were already cut (0 on a fresh start).
    pub fn continuing_at(settings: &EndpointSettings, audio_ms: i64) -> TrackAudio {
        TrackAudio {
            upsampler: Upsampler::new(),
            endpointer: Endpointer::continuing_at(settings.clone(), audio_ms),
            upsampled: Vec::new(),
            cut: Vec::new(),
            heard_ms: audio_ms,
            fragment_starts: VecDeque::new(),
            arrivals: VecDeque::new(),
        }
    }

    /// No utterance is in progress.
    pub fn is_idle(&self) -> bool {
        self.endpointer.is_idle()
    }

    /// Takes a block of 16-bit little-endian PCM of fragment `fragment`; adds the
    /// utterances it completed and the utterance in progress when it is due for a
    /// speculative decode.
    pub fn push(&mut self, pcm: &[u8], fragment: u64, done: &mut Vec<Heard>) {
        if self.fragment_starts.back().map(|f| f.1) != Some(fragment) {
            self.fragment_starts.push_back((self.heard_ms, fragment));
            while self
                .fragment_starts
                .get(1)
                .is_some_and(|f| f.0 < self.heard_ms - FRAGMENT_MEMORY_MS)
            {
                self.fragment_starts.pop_front();
            }
        }
        self.heard_ms += crate::audio::telephone_pcm_ms(pcm.len() as i64);
        self.arrivals.push_back((self.heard_ms, Instant::now()));
        while self
            .arrivals
            .front()
            .is_some_and(|a| a.0 < self.heard_ms - FRAGMENT_MEMORY_MS)
        {
            self.arrivals.pop_front();
        }
        self.upsampled.clear();
        self.upsampler
            .push(pcm_bytes_to_f32(pcm), &mut self.upsampled);
        self.endpointer.push(&self.upsampled, &mut self.cut);
        self.label(done);
        if let Some(s) = self.endpointer.speculation() {
            done.push(Heard::Growing {
                utterance: s.utterance,
                tentative: s.tentative,
            });
        }
    }

    /// Closes the utterance in progress if its tentative hypothesis ended a sentence and
    /// enough silence follows it.
    pub fn close_at_sentence_end(
        &mut self,
        role: Role,
        ends: &SentenceEnds,
        done: &mut Vec<Heard>,
    ) {
        if let Some(span) = ends.of(role) {
            self.cut.extend(self.endpointer.close_at_sentence_end(span));
            self.label(done);
        }
    }

    /// No audio arrived for a moment: the utterance in progress, if enough silence
    /// already follows it (see `pause_hangover_ms`).
    pub fn pause(&mut self, done: &mut Vec<Heard>) {
        self.cut.extend(self.endpointer.close_at_pause());
        self.label(done);
    }

    /// The track ended (or the call was stopped): the utterance in progress, if any.
    pub fn finish(&mut self, done: &mut Vec<Heard>) {
        self.upsampled.clear();
        self.upsampler.flush(&mut self.upsampled);
        self.endpointer.push(&self.upsampled, &mut self.cut);
        self.cut.extend(self.endpointer.flush());
        self.label(done);
    }

    /// Moves the cut utterances to `done` with the fragment their speech began in.
    fn label(&mut self, done: &mut Vec<Heard>) {
        for utterance in self.cut.drain(..) {
            let fragment = self
                .fragment_starts
                .iter()
                .rev()
                .find(|(ms, _)| *ms <= utterance.start_ms)
                .or(self.fragment_starts.front())
                .map_or(0, |f| f.1);
            // The first block that reached the utterance's last voiced frame.
            let at = self.arrivals.partition_point(|a| a.0 < utterance.end_ms);
            let speech_ended_at = self.arrivals.get(at).or(self.arrivals.back()).map(|a| a.1);
            done.push(Heard::Done {
                utterance,
                fragment,
                speech_ended_at,
            });
        }
    }
}
