//! Endpointing: cuts one participant's 16 kHz audio into utterances with a voice-activity
//! detector (earshot, 16 ms frames). An utterance starts at the first voiced frame, ends
//! once `hangover_ms` pass without voice, is dropped when it holds less than
//! `min_speech_ms` of voice, and is split at its longest pause when it reaches
//! `max_utterance_ms`, so a monologue is never cut mid-word if a pause exists. The VAD
//! alone also calls music and noise "voice", so a longer utterance must hold a short
//! unbroken run of unmistakable speech (`confident_score`) to count. Each
//! utterance carries `padding_ms` of audio on both sides, which Whisper needs to hear
//! word onsets and endings.

use std::collections::VecDeque;

use earshot::Detector;
use serde::{Deserialize, Serialize};

use super::SAMPLES_PER_MS;

/// Samples per VAD frame (16 ms at 16 kHz), fixed by earshot.
const FRAME: usize = 256;
const FRAME_MS: i64 = 16;
/// A split looks for pauses of at least this many frames (48 ms).
const MIN_PAUSE_FRAMES: usize = 3;

/// How utterances are cut; `[endpointing]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointSettings {
    /// VAD score (0–1) from which a frame counts as voice.
    pub threshold: f32,
    /// Silence that ends an utterance mid-phrase.
    pub hangover_ms: u32,
    /// Silence that ends an utterance whose tentative hypothesis ends a sentence.
    pub sentence_hangover_ms: u32,
    /// After this much silence the utterance as it stands is decoded tentatively (0:
    /// never; the endpoint then waits for a decode).
    pub tentative_silence_ms: u32,
    /// After this much silence it is decoded tentatively once more (0: never): the
    /// engine punctuates the end of a clip more surely with more silence after it, so a
    /// sentence end the first decode missed ("locked," for "locked.") is found before
    /// `hangover_ms`.
    pub tentative_again_ms: u32,
    /// While the speaker talks, the utterance so far is decoded this often for partial
    /// hypotheses (0: never).
    pub partial_every_ms: u32,
    /// When the stream pauses between deliveries (KVS sends about one fragment a
    /// second), an utterance already followed by this much silence is closed at once
    /// instead of waiting for the next fragment to complete `hangover_ms`. 0 disables.
    pub pause_hangover_ms: u32,
    /// Less voice than this is not an utterance (coughs, clicks, line noise).
    pub min_speech_ms: u32,
    /// A frame this sure is unmistakably speech. The VAD scores music and noise as
    /// "voice" for seconds on end, but reaches this only in isolated frames.
    pub confident_score: f32,
    /// An utterance longer than `short_utterance_ms` needs an unbroken run this long
    /// of confident frames to reach the engine, so hold music and line noise cost no
    /// decode and cannot come out as invented text.
    pub confident_run_ms: u32,
    /// Utterances up to this long skip the confidence check: a lone short word ("is",
    /// a spelled letter) rarely scores confidently, and a short decode is cheap; the
    /// engine's non-speech filter still applies.
    pub short_utterance_ms: u32,
    /// Longer utterances are split at their longest pause.
    pub max_utterance_ms: u32,
    /// Audio kept before the first and after the last voiced frame.
    pub padding_ms: u32,
}

impl Default for EndpointSettings {
    fn default() -> Self {
        EndpointSettings {
            threshold: 0.7,
            hangover_ms: 480,
            sentence_hangover_ms: 200,
            tentative_silence_ms: 96,
            tentative_again_ms: 288,
            partial_every_ms: 640,
            pause_hangover_ms: 300,
            min_speech_ms: 250,
            confident_score: 0.9,
            confident_run_ms: 64,
            short_utterance_ms: 1_200,
            max_utterance_ms: 15_000,
            padding_ms: 200,
        }
    }
}

impl EndpointSettings {
    fn frames(ms: u32) -> usize {
        (ms as usize).div_ceil(FRAME_MS as usize)
    }
}

/// One utterance: its voiced span in milliseconds from the start of the participant's
/// stream, and its audio (16 kHz, with padding).
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Where `audio` begins (before `start_ms` by the padding), for word timings.
    pub audio_start_ms: i64,
    pub audio: Vec<f32>,
}

/// The utterance in progress, offered for a speculative decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Speculation {
    pub utterance: Utterance,
    /// Taken after `tentative_silence_ms` of silence: the utterance as it will close if
    /// no more speech comes (the same voiced span, [`Utterance::span`]).
    pub tentative: bool,
}

impl Utterance {
    /// The voiced span: an utterance closed with the same span as a tentative
    /// speculation holds the same speech.
    pub fn span(&self) -> (i64, i64) {
        (self.start_ms, self.end_ms)
    }
}

/// The utterance being collected.
struct Open {
    /// Frame index of `audio[0]`.
    audio_start: usize,
    audio: Vec<f32>,
    /// One VAD score per frame of `audio`.
    scores: Vec<f32>,
    first_voiced: usize,
    last_voiced: usize,
    voiced_frames: usize,
    /// Frame index of the last partial speculation.
    partial_at: usize,
    /// Tentative speculations taken since the last voiced frame (0, 1 or 2).
    tentatives: u8,
}

impl Open {
    fn silent_frames(&self, position: usize) -> usize {
        position.saturating_sub(self.last_voiced + 1)
    }

    /// The voiced span in milliseconds ([`Utterance::span`]).
    fn span(&self) -> (i64, i64) {
        (
            self.first_voiced as i64 * FRAME_MS,
            (self.last_voiced as i64 + 1) * FRAME_MS,
        )
    }

    /// This utterance with `audio` (all or the first part of its own).
    fn utterance(&self, audio: Vec<f32>) -> Utterance {
        let (start_ms, end_ms) = self.span();
        Utterance {
            start_ms,
            end_ms,
            audio_start_ms: self.audio_start as i64 * FRAME_MS,
            audio,
        }
    }
}

pub struct Endpointer {
    settings: EndpointSettings,
    detector: Box<Detector>,
    frame: Vec<f32>,
    /// Index of the next frame.
    position: usize,
    /// The last `padding_ms` of audio outside any utterance (the next one's pre-roll).
    history: VecDeque<f32>,
    open: Option<Open>,
}

impl Endpointer {
    pub fn new(settings: EndpointSettings) -> Endpointer {
        Endpointer {
            settings,
            detector: Box::new(Detector::default()),
            frame: Vec::with_capacity(FRAME),
            position: 0,
            history: VecDeque::new(),
            open: None,
        }
    }

    /// Continues a participant's stream whose first `audio_ms` another endpointer
    /// already cut (a replica taking a conversation over), so utterance times stay on
    /// the stream's timeline.
    pub fn continuing_at(settings: EndpointSettings, audio_ms: i64) -> Endpointer {
        let mut endpointer = Endpointer::new(settings);
        endpointer.position = usize::try_from(audio_ms / FRAME_MS).unwrap_or(0);
        endpointer
    }

    /// No utterance is in progress: everything heard so far has been handed out.
    pub fn is_idle(&self) -> bool {
        self.open.is_none()
    }

    /// Takes 16 kHz samples; returns the utterances they completed.
    pub fn push(&mut self, samples: &[f32], done: &mut Vec<Utterance>) {
        for &s in samples {
            self.frame.push(s);
            if self.frame.len() == FRAME {
                let frame = std::mem::replace(&mut self.frame, Vec::with_capacity(FRAME));
                self.on_frame(frame, done);
            }
        }
    }

    /// The stream paused (no audio for a moment): closes the utterance in progress if
    /// `pause_hangover_ms` of silence already follows its last voiced frame.
    pub fn close_at_pause(&mut self) -> Option<Utterance> {
        let open = self.open.as_ref()?;
        let pause = self.settings.pause_hangover_ms;
        if pause == 0 || open.silent_frames(self.position) < EndpointSettings::frames(pause) {
            return None;
        }
        let open = self.open.take()?;
        self.finish(open, usize::MAX)
    }

    /// The utterance in progress, when it is due for a speculative decode: tentatively
    /// once `tentative_silence_ms` and once `tentative_again_ms` of silence follow its
    /// last voiced frame, or as a partial every `partial_every_ms` of speech. Only
    /// utterances that would pass the voice checks at their close are offered.
    pub fn speculation(&mut self) -> Option<Speculation> {
        let settings = &self.settings;
        let open = self.open.as_ref()?;
        let silent = open.silent_frames(self.position);
        let due = |ms: u32| ms > 0 && silent >= EndpointSettings::frames(ms);
        let tentative = match open.tentatives {
            0 => due(settings.tentative_silence_ms),
            1 => due(settings.tentative_again_ms),
            _ => false,
        };
        let partial = settings.partial_every_ms > 0
            && silent < EndpointSettings::frames(settings.tentative_silence_ms.max(1))
            && self.position - open.partial_at
                >= EndpointSettings::frames(settings.partial_every_ms);
        if !(tentative || partial) || !self.would_keep(open) {
            return None;
        }
        let position = self.position;
        let open = self.open.as_mut()?;
        open.partial_at = position;
        let audio = if tentative {
            open.tentatives += 1;
            let padding = EndpointSettings::frames(self.settings.padding_ms);
            let end_frame = (open.last_voiced + 1 + padding).min(position);
            open.audio[..((end_frame - open.audio_start) * FRAME).min(open.audio.len())].to_vec()
        } else {
            open.audio.clone()
        };
        Some(Speculation {
            utterance: open.utterance(audio),
            tentative,
        })
    }

    /// Closes the utterance in progress if its voiced span is `span` (its tentative
    /// hypothesis ended a sentence) and `sentence_hangover_ms` of silence follow it.
    pub fn close_at_sentence_end(&mut self, span: (i64, i64)) -> Option<Utterance> {
        let open = self.open.as_ref()?;
        let wait = EndpointSettings::frames(self.settings.sentence_hangover_ms);
        if open.span() != span || open.silent_frames(self.position) < wait {
            return None;
        }
        let open = self.open.take()?;
        self.finish(open, usize::MAX)
    }

    /// Ends the stream: the utterance in progress, if it holds enough voice.
    pub fn flush(&mut self) -> Option<Utterance> {
        let mut open = self.open.take()?;
        open.audio.append(&mut self.frame);
        self.finish(open, usize::MAX)
    }

    fn on_frame(&mut self, frame: Vec<f32>, done: &mut Vec<Utterance>) {
        let score = self.score(&frame);
        let voiced = score >= self.settings.threshold;
        let index = self.position;
        self.position += 1;
        match &mut self.open {
            None if voiced => {
                let mut audio: Vec<f32> = self.history.drain(..).collect();
                let audio_start = index - audio.len() / FRAME;
                let mut scores = vec![0.0; audio.len() / FRAME];
                audio.extend_from_slice(&frame);
                scores.push(score);
                self.open = Some(Open {
                    audio_start,
                    audio,
                    scores,
                    first_voiced: index,
                    last_voiced: index,
                    voiced_frames: 1,
                    partial_at: index,
                    tentatives: 0,
                });
            }
            None => self.remember(&frame),
            Some(open) => {
                open.audio.extend_from_slice(&frame);
                open.scores.push(score);
                if voiced {
                    open.last_voiced = index;
                    open.voiced_frames += 1;
                    open.tentatives = 0;
                }
                let silent_frames = index - open.last_voiced;
                let length = index + 1 - open.audio_start;
                if silent_frames >= EndpointSettings::frames(self.settings.hangover_ms) {
                    if let Some(open) = self.open.take() {
                        done.extend(self.finish(open, usize::MAX));
                    }
                } else if length >= EndpointSettings::frames(self.settings.max_utterance_ms) {
                    self.split(done);
                }
            }
        }
    }

    /// earshot takes i16 frames; the resampler can overshoot [-1, 1] slightly.
    fn score(&mut self, frame: &[f32]) -> f32 {
        let mut pcm = [0i16; FRAME];
        for (dst, &s) in pcm.iter_mut().zip(frame) {
            *dst = (s * 32768.0).clamp(-32768.0, 32767.0) as i16;
        }
        self.detector.predict_i16(&pcm)
    }

    fn remember(&mut self, frame: &[f32]) {
        self.history.extend(frame.iter().copied());
        let keep = EndpointSettings::frames(self.settings.padding_ms) * FRAME;
        while self.history.len() > keep {
            self.history.pop_front();
        }
    }

    /// Closes `open` at `cut` (a frame index, exclusive; `usize::MAX` = after the
    /// trailing padding) and returns it if it holds enough voice. Audio after the cut
    /// becomes the next pre-roll.
    fn finish(&mut self, mut open: Open, cut: usize) -> Option<Utterance> {
        let padding = EndpointSettings::frames(self.settings.padding_ms);
        let end_frame = cut.min(open.last_voiced + 1 + padding);
        let keep = ((end_frame - open.audio_start) * FRAME).min(open.audio.len());
        let rest = open.audio.split_off(keep);
        self.history.clear();
        self.remember(&rest);
        self.would_keep(&open).then(|| {
            let audio = std::mem::take(&mut open.audio);
            open.utterance(audio)
        })
    }

    /// Whether `open`, closed now, holds enough voice to be an utterance: enough voiced
    /// frames, and short or with a run of unmistakable speech.
    fn would_keep(&self, open: &Open) -> bool {
        let enough_voice =
            open.voiced_frames >= EndpointSettings::frames(self.settings.min_speech_ms);
        let short = open.last_voiced + 1 - open.first_voiced
            <= EndpointSettings::frames(self.settings.short_utterance_ms);
        let confident = longest_run(&open.scores, |s| s >= self.settings.confident_score)
            >= EndpointSettings::frames(self.settings.confident_run_ms);
        enough_voice && (short || confident)
    }

    /// The open utterance reached the maximum length: cut it in the middle of its
    /// longest pause in the second half (or at its quietest frame if it has none) and
    /// keep collecting the remainder.
    fn split(&mut self, done: &mut Vec<Utterance>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let threshold = self.settings.threshold;
        let from = open.scores.len() / 2;
        let cut_offset = longest_pause(&open.scores[from..], threshold)
            .filter(|(_, len)| *len >= MIN_PAUSE_FRAMES)
            .map(|(start, len)| from + start + len / 2)
            .unwrap_or_else(|| from + quietest(&open.scores[from..]));
        let cut_offset = cut_offset.max(1);
        let cut = open.audio_start + cut_offset;

        // The part after the cut, rescored from what was recorded.
        let tail_scores = open.scores[cut_offset..].to_vec();
        let tail_audio = open.audio[cut_offset * FRAME..].to_vec();
        let voiced: Vec<usize> = tail_scores
            .iter()
            .enumerate()
            .filter(|(_, s)| **s >= threshold)
            .map(|(i, _)| cut + i)
            .collect();

        let mut head = open;
        head.audio.truncate(cut_offset * FRAME);
        head.scores.truncate(cut_offset);
        head.voiced_frames = head.scores.iter().filter(|s| **s >= threshold).count();
        head.last_voiced = (head.audio_start..cut)
            .rev()
            .find(|i| head.scores[i - head.audio_start] >= threshold)
            .unwrap_or(head.first_voiced);
        done.extend(self.finish(head, cut));

        self.history.clear();
        if let (Some(&first), Some(&last)) = (voiced.first(), voiced.last()) {
            self.open = Some(Open {
                audio_start: cut,
                audio: tail_audio,
                scores: tail_scores,
                first_voiced: first,
                last_voiced: last,
                voiced_frames: voiced.len(),
                partial_at: self.position,
                tentatives: 0,
            });
        } else {
            self.remember(&tail_audio);
        }
    }
}

/// The length of the longest run of scores that pass `test`.
fn longest_run(scores: &[f32], test: impl Fn(f32) -> bool) -> usize {
    let (mut best, mut run) = (0, 0);
    for &s in scores {
        run = if test(s) { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The longest run of frames below `threshold`: (start, length).
fn longest_pause(scores: &[f32], threshold: f32) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut run_start = None;
    for (i, &s) in scores.iter().chain(std::iter::once(&1.0)).enumerate() {
        match (s < threshold, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                let len = i - start;
                if best.is_none_or(|(_, l)| len >= l) {
                    best = Some((start, len));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    best
}

fn quietest(scores: &[f32]) -> usize {
    scores
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Cuts a whole clip (tools and tests).
pub fn utterances(settings: &EndpointSettings, audio: &[f32]) -> Vec<Utterance> {
    let mut endpointer = Endpointer::new(settings.clone());
    let mut done = Vec::new();
    endpointer.push(audio, &mut done);
    done.extend(endpointer.flush());
    done
}

/// Milliseconds of 16 kHz audio.
pub fn duration_ms(samples: usize) -> i64 {
    (samples / SAMPLES_PER_MS) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JFK's "And so, my fellow Americans" (voiced until ~2.27 s, silent until ~3.3 s).
    fn jfk() -> Vec<f32> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/speech/jfk-8k.wav"
        );
        let samples: Vec<f32> = hound::WavReader::open(path)
            .unwrap()
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect();
        crate::audio::resample::upsample(&samples)
    }

    #[test]
    fn a_pause_in_delivery_closes_an_utterance_already_followed_by_silence() {
        let audio = jfk();
        let at = |ms: usize| ms * SAMPLES_PER_MS;
        let mut done = Vec::new();
        let mut e = Endpointer::new(EndpointSettings::default());
        e.push(&audio[..at(2_400)], &mut done);
        assert!(done.is_empty());
        assert!(e.close_at_pause().is_none(), "too little silence yet");
        e.push(&audio[at(2_400)..at(2_700)], &mut done);
        let first = e.close_at_pause().expect("closed at the pause");
        assert!((2_100..=2_400).contains(&first.end_ms), "{}", first.end_ms);
        // The rest of the speech still comes out, after the usual hangover.
        e.push(&audio[at(2_700)..], &mut done);
        done.extend(e.flush());
        assert!(!done.is_empty() && done[0].start_ms > first.end_ms);

        let never = EndpointSettings {
            pause_hangover_ms: 0,
            ..EndpointSettings::default()
        };
        let mut e = Endpointer::new(never);
        e.push(&audio[..at(2_700)], &mut done);
        assert!(e.close_at_pause().is_none(), "disabled");
    }

    #[test]
    fn the_utterance_is_offered_while_spoken_and_tentatively_at_its_first_silence() {
        let audio = jfk();
        let block = 64 * SAMPLES_PER_MS;
        let mut e = Endpointer::new(EndpointSettings::default());
        let (mut done, mut offered) = (Vec::new(), Vec::new());
        let mut pushed = 0;
        // Until ~350 ms after JFK's "Americans" (voiced until ~2.27 s): past both
        // tentative points, before the mid-phrase hangover.
        while pushed < 2_600 * SAMPLES_PER_MS {
            e.push(&audio[pushed..pushed + block], &mut done);
            pushed += block;
            offered.extend(e.speculation().map(|s| (pushed / SAMPLES_PER_MS, s)));
        }
        let partials: Vec<_> = offered.iter().filter(|(_, s)| !s.tentative).collect();
        let tentative: Vec<_> = offered.iter().filter(|(_, s)| s.tentative).collect();
        assert!(
            partials.len() >= 2,
            "partials while he speaks: {}",
            partials.len()
        );
        assert!(partials.windows(2).all(|w| w[1].0 - w[0].0 >= 640));
        let (at_ms, first) = tentative.first().expect("a tentative at the first silence");
        assert!(*at_ms - first.utterance.end_ms as usize >= 96, "{at_ms}");
        let (again_ms, again) = tentative.get(1).expect("and again at a longer silence");
        assert!(
            *again_ms - first.utterance.end_ms as usize >= 288,
            "{again_ms}"
        );
        assert_eq!(again.utterance.span(), first.utterance.span());
        assert!(again.utterance.audio.len() > first.utterance.audio.len());
        assert_eq!(tentative.len(), 2, "no more while the silence lasts");
        // The tentative holds what the utterance will be when no speech follows...
        assert!(e.close_at_sentence_end((0, 1)).is_none(), "another span");
        let closed = e
            .close_at_sentence_end(first.utterance.span())
            .expect("closed after the sentence hangover");
        assert_eq!(closed.span(), first.utterance.span());
        assert!(closed.audio.len() >= first.utterance.audio.len());
        assert!(done.is_empty(), "not by the mid-phrase hangover");
    }

    #[test]
    fn pauses_are_found_in_score_runs() {
        let s = [0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9];
        assert_eq!(longest_pause(&s, 0.5), Some((4, 3)));
        assert_eq!(longest_pause(&[0.9, 0.9], 0.5), None);
        assert_eq!(longest_pause(&[0.1, 0.1], 0.5), Some((0, 2)));
        assert_eq!(quietest(&[0.9, 0.6, 0.7]), 1);
        assert_eq!(longest_run(&[0.95, 0.2, 0.95, 0.96, 0.1], |s| s >= 0.9), 2);
    }

    /// Deterministic white noise at `level` (peak, 0–1).
    fn noise(seconds: usize, level: f32) -> Vec<f32> {
        let mut x: u32 = 1;
        (0..16_000 * seconds)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 16) as f32 / 65536.0 - 0.5) * 2.0 * level
            })
            .collect()
    }

    /// A hold-music-like melody: notes with harmonics, 400 ms each.
    fn melody(seconds: usize) -> Vec<f32> {
        let notes = [262.0, 294.0, 330.0, 349.0, 392.0, 440.0, 494.0, 523.0];
        (0..16_000 * seconds)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let f = notes[(t / 0.4) as usize % notes.len()];
                let w = |k: f32| (2.0 * std::f32::consts::PI * k * f * t).sin();
                0.3 * (w(1.0) + 0.5 * w(2.0) + 0.3 * w(3.0)) / 1.8
            })
            .collect()
    }

    /// 1 kHz beeps, half a second on, half off.
    fn beeps(seconds: usize) -> Vec<f32> {
        (0..16_000 * seconds)
            .map(|i| {
                let on = (i / 8_000) % 2 == 0;
                let t = i as f32 / 16_000.0;
                if on {
                    0.25 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn silence_noise_music_and_tones_make_no_utterance() {
        let settings = EndpointSettings::default();
        for (name, audio) in [
            ("silence", vec![0.0; 16_000 * 5]),
            ("quiet noise", noise(5, 0.01)),
            ("loud noise", noise(20, 0.3)),
            ("melody", melody(20)),
            ("beeps", beeps(20)),
        ] {
            assert!(utterances(&settings, &audio).is_empty(), "{name}");
        }
    }

    #[test]
    fn without_the_confidence_gate_the_vad_alone_takes_music_for_voice() {
        // Why the gate exists: the same melody passes when it is off.
        let settings = EndpointSettings {
            confident_run_ms: 0,
            ..EndpointSettings::default()
        };
        assert!(!utterances(&settings, &melody(20)).is_empty());
    }
}
