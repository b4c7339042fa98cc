//! Speech to text. [`Engine`] is what the pipeline needs from a recogniser; the
//! implementations are whisper.cpp ([`whisper::WhisperEngine`]) and Moonshine on ONNX
//! Runtime ([`moonshine::MoonshineEngine`]). Every decode goes
//! through one shared [`pool::EnginePool`]: a bounded queue in front of a fixed number
//! of decode threads, so load shows up as queue wait (a metric), never as threads
//! fighting over two cores.

pub mod engines;
pub mod fallback;
pub mod filter;
pub mod language;
pub mod model;
pub mod moonshine;
pub mod pool;
pub mod scripted;
pub mod whisper;
pub mod word_times;

use serde::Serialize;

/// A recognised word, in milliseconds from the start of the decoded clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    pub content: String,
    pub start: i64,
    pub end: i64,
}

/// What a decode produced, with the engine's own confidence signals for
/// [`filter::speech_only`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub words: Vec<Word>,
    /// The model's probability that the clip holds no speech (0–1).
    pub no_speech_probability: f32,
    /// Mean probability of the text tokens (0–1); 0 when there are none.
    pub mean_token_probability: f32,
    /// Made by the fallback engine after the default one failed on the utterance.
    pub fallback: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Model(String),
    #[error("decode failed: {0}")]
    Decode(String),
    #[error("the transcription engine has stopped")]
    Stopped,
}

/// A speech recogniser. Decoders hold per-thread state (whisper.cpp's KV caches), so
/// the pool makes one per decode thread, on that thread.
pub trait Engine: Send + Sync + 'static {
    fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError>;
    /// Shown in logs and tools, e.g. `whisper.cpp ggml-tiny.en-q8_0.bin`.
    fn describe(&self) -> String;
}

/// Decodes one utterance at a time: 16 kHz mono f32 in [-1, 1], in `language` (Whisper's
/// code, e.g. `es`; English-only engines are only ever asked for `en`).
pub trait Decoder {
    fn transcribe(&mut self, audio: &[f32], language: &str) -> Result<Transcript, EngineError>;
}
