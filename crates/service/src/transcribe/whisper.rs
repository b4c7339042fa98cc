//! whisper.cpp through whisper-rs: tiny.en or the multilingual base, greedy decoding in the
//! conversation's language, no context carried between utterances (each is decoded on
//! its own, so one bad decode cannot poison the next), and the encoder window trimmed to
//! the clip, which is what makes short utterances cheap: the encoder's cost grows with
//! `audio_ctx`, and Whisper's default is always the full 30 s.

use std::sync::Arc;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::model::ModelSpec;
use super::{Decoder, Engine, EngineError, Transcript, Word};
use crate::audio::SAMPLES_PER_MS;

/// whisper.cpp ignores input shorter than 1 s; shorter utterances are padded with
/// silence up to this.
const MIN_SAMPLES: usize = 1_100 * SAMPLES_PER_MS;

/// The model, loaded once and shared by every decode thread.
pub struct WhisperEngine {
    context: Arc<WhisperContext>,
    name: String,
    threads_per_decoder: i32,
}

impl WhisperEngine {
    /// Verifies and loads the model.
    pub fn load(
        spec: &ModelSpec,
        threads_per_decoder: usize,
    ) -> Result<WhisperEngine, EngineError> {
        spec.verify()
            .map_err(|e| EngineError::Model(e.to_string()))?;
        if let Some(missing) = missing_cpu_feature() {
            return Err(EngineError::Model(format!(
                "this CPU has no {missing}, which whisper.cpp as built here needs (the \
                 x86-64-v3 baseline of .cargo/config.toml); use the Moonshine engine, or \
                 build on this machine with GGML_NATIVE=ON"
            )));
        }
        whisper_rs::install_logging_hooks();
        let path = spec.path.to_string_lossy();
        let context =
            WhisperContext::new_with_params(&spec.path, WhisperContextParameters::default())
                .map_err(|e| EngineError::Model(format!("cannot load {path}: {e}")))?;
        let file = spec
            .path
            .file_name()
            .map_or_else(|| path.to_string(), |f| f.to_string_lossy().into_owned());
        Ok(WhisperEngine {
            context: Arc::new(context),
            name: format!("whisper.cpp {file}"),
            threads_per_decoder: threads_per_decoder.clamp(1, 64) as i32,
        })
    }
}

/// The first instruction set of the x86-64-v3 baseline whisper.cpp is compiled for
/// (`.cargo/config.toml`) that this CPU lacks: running its code there would die of an
/// illegal instruction instead of saying why.
fn missing_cpu_feature() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let features = [
            (std::arch::is_x86_feature_detected!("avx"), "AVX"),
            (std::arch::is_x86_feature_detected!("avx2"), "AVX2"),
            (std::arch::is_x86_feature_detected!("fma"), "FMA"),
            (std::arch::is_x86_feature_detected!("f16c"), "F16C"),
            (std::arch::is_x86_feature_detected!("bmi2"), "BMI2"),
        ];
        if let Some((_, name)) = features.into_iter().find(|(present, _)| !present) {
            return Some(name);
        }
    }
    None
}

impl Engine for WhisperEngine {
    fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
        let state = self
            .context
            .create_state()
            .map_err(|e| EngineError::Model(format!("cannot create a decoder state: {e}")))?;
        Ok(Box::new(WhisperDecoder {
            context: self.context.clone(),
            state,
            threads: self.threads_per_decoder,
        }))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

struct WhisperDecoder {
    context: Arc<WhisperContext>,
    state: WhisperState,
    threads: i32,
}

/// Encoder frames for a clip: 50 per second plus a margin, at least 320 (shorter
/// windows make tiny.en repeat itself on short clips) and at most Whisper's 1500.
fn audio_ctx(samples: usize) -> i32 {
    let frames = (samples * 50).div_ceil(16_000) + 64;
    frames.clamp(320, 1500) as i32
}

/// A cap on text tokens: generous for fast speech read as digits, and it bounds what a
/// decoding loop ("17. 17. 17. …") can cost; the filter then collapses the loop.
fn max_tokens(samples: usize) -> i32 {
    (samples * 8).div_ceil(16_000) as i32 + 16
}

impl Decoder for WhisperDecoder {
    fn transcribe(&mut self, audio: &[f32], language: &str) -> Result<Transcript, EngineError> {
        let padded;
        let audio = if audio.len() < MIN_SAMPLES {
            let mut p = audio.to_vec();
            p.resize(MIN_SAMPLES, 0.0);
            padded = p;
            &padded[..]
        } else {
            audio
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_language(Some(language));
        params.set_n_threads(self.threads);
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_token_timestamps(true);
        params.set_audio_ctx(audio_ctx(audio.len()));
        // No temperature fallback: measured on the Asterisk prompts, each retry costs a
        // decode again (a looping 1 s clip took 7–9 s with it) and what it produced was
        // no better than the collapsed loop.
        params.set_temperature_inc(0.0);
        params.set_max_tokens(max_tokens(audio.len()));
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        self.state
            .full(params, audio)
            .map_err(|e| EngineError::Decode(e.to_string()))?;
        Ok(self.collect())
    }
}

impl WhisperDecoder {
    fn collect(&self) -> Transcript {
        let eot = self.context.token_eot();
        let mut text = String::new();
        let mut words: Vec<Word> = Vec::new();
        let mut no_speech: f32 = 0.0;
        let (mut p_sum, mut p_count) = (0.0f32, 0usize);
        for segment in self.state.as_iter() {
            no_speech = no_speech.max(segment.no_speech_probability());
            if let Ok(t) = segment.to_str_lossy() {
                text.push_str(&t);
            }
            for j in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(j) else {
                    continue;
                };
                let data = token.token_data();
                if data.id >= eot {
                    continue; // timestamps and other special tokens
                }
                let Ok(piece) = token.to_str_lossy() else {
                    continue;
                };
                p_sum += data.p;
                p_count += 1;
                add_piece(&mut words, &piece, data.t0 * 10, data.t1 * 10);
            }
        }
        Transcript {
            text: text.trim().to_owned(),
            words,
            no_speech_probability: no_speech,
            mean_token_probability: if p_count == 0 {
                0.0
            } else {
                p_sum / p_count as f32
            },
            fallback: false,
        }
    }
}

/// Whisper's tokens are word pieces; a piece starting with a space starts a word,
/// anything else (the rest of a word, punctuation) extends the previous one.
fn add_piece(words: &mut Vec<Word>, piece: &str, start: i64, end: i64) {
    let starts_word = piece.starts_with(' ') || words.is_empty();
    let content = piece.trim();
    if content.is_empty() {
        return;
    }
    match words.last_mut() {
        Some(last) if !starts_word => {
            last.content.push_str(content);
            last.end = last.end.max(end);
        }
        _ => words.push(Word {
            content: content.to_owned(),
            start,
            end: end.max(start),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_window_follows_the_clip() {
        assert_eq!(audio_ctx(16_000), 320);
        assert_eq!(audio_ctx(16_000 * 10), 564);
        assert_eq!(audio_ctx(16_000 * 40), 1500);
        assert_eq!(max_tokens(16_000 * 2), 32);
    }

    #[test]
    fn pieces_join_into_words() {
        let mut words = Vec::new();
        for (piece, t0, t1) in [
            (" Hel", 0, 100),
            ("lo", 100, 200),
            (",", 200, 210),
            (" you", 300, 400),
        ] {
            add_piece(&mut words, piece, t0, t1);
        }
        let shown: Vec<_> = words
            .iter()
            .map(|w| (w.content.as_str(), w.start, w.end))
            .collect();
        assert_eq!(shown, [("Hello,", 0, 210), ("you", 300, 400)]);
    }
}
