//! Moonshine base-en (Useful Sensors, MIT) on ONNX Runtime through the `ort` crate: the
//! Hugging Face optimum export, an encoder on raw 16 kHz audio and a merged decoder with a
//! key/value cache, decoded greedily. Unlike Whisper it has no 30-s window and no fixed
//! encoder floor: its cost grows with the utterance. The re-exported files keep the
//! weights in int8 and multiply in int8 (see `scripts/lib/moonshine-reexport.py`): a
//! decoder step reads ~40 MB of weights instead of ~155 MB of f32.
//!
//! Encoder: `input_values` [1, samples] f32 → `last_hidden_state` [1, frames, 416].
//! Decoder: `input_ids` [1, n] i64, `encoder_hidden_states`, `use_cache_branch` [1] bool and
//! `past_key_values.{layer}.{decoder|encoder}.{key|value}` [1, 8, len, 52] → `logits`
//! [1, n, vocab] and the matching `present.*`. Step 0 feeds the start token with empty
//! caches and `use_cache_branch = false` and keeps every `present.*`; the cross-attention
//! (encoder) caches are then fixed. Later steps feed only the last token and replace only
//! the self-attention (decoder) caches.
//!
//! The files come from `scripts/lib/fetch-moonshine` (pinned below); `libonnxruntime.so`
//! is loaded at run time from the same directory, never downloaded by the build.

mod tokenizer;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorRef, ValueType};

use self::tokenizer::Tokenizer;
use super::model::{ModelError, ModelSpec};
use super::{Decoder, Engine, EngineError, Transcript, word_times};
use crate::audio::MODEL_RATE;

pub const ENCODER_FILE: &str = "encoder_model.onnx";
pub const DECODER_FILE: &str = "decoder_model_merged.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.32.0";
/// The files' sha256, as `scripts/lib/fetch-moonshine` pins them (a test keeps them equal).
pub const FILE_SHA256: [(&str, &str); 4] = [
    (
        ENCODER_FILE,
        "9253b73cc7409aa6f50d7e46c81903fd1eb711c2f03d9bb0074fd5a5c54baae8",
    ),
    (
        DECODER_FILE,
        "f20723067b93361c1ab19cfcb39c17a5488b1bb097250c3586bcf9cb5e4457af",
    ),
    (
        TOKENIZER_FILE,
        "b68b995a58b3373db6c4f46864a9db50cd1333d086150ffa2c1096581ede9c10",
    ),
    (
        RUNTIME_FILE,
        "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    ),
];

const START_TOKEN: i64 = 1;
const END_TOKEN: i64 = 2;
/// Shorter clips are zero-padded to 1 s; the model is unreliable below that.
const MIN_SAMPLES: usize = MODEL_RATE;
/// The token budget, `ceil(seconds × 6.5)` and at least 8, stops runaway repetition on
/// noise (speech runs at 2–4 tokens a second).
const TOKENS_PER_SECOND: f32 = 6.5;
const MIN_TOKENS: usize = 8;

/// Why Moonshine could not load or decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MoonshineError(String);

impl From<ort::Error> for MoonshineError {
    fn from(e: ort::Error) -> Self {
        MoonshineError(e.to_string())
    }
}

/// The process's one ONNX Runtime environment (`ort` allows one), made from the first
/// library path asked for.
fn runtime(library: &Path) -> Result<Environment, MoonshineError> {
    static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("cannot load {}: {e}", library.display()))?
                .with_name("callscribe")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(MoonshineError)
}

/// Moonshine's files, verified; each decode thread opens its own sessions from them.
pub struct MoonshineEngine {
    runtime: Environment,
    encoder: PathBuf,
    decoder: PathBuf,
    tokenizer: PathBuf,
}

impl MoonshineEngine {
    /// Verifies every file in `dir` against its pin and loads the runtime; opening one
    /// decoder here too, so a broken model fails at start-up, not at the first call.
    pub fn load(dir: &Path) -> Result<MoonshineEngine, EngineError> {
        MoonshineEngine::verify(dir).map_err(|e| EngineError::Model(e.to_string()))?;
        let runtime = runtime(&dir.join(RUNTIME_FILE)).map_err(model_error)?;
        let engine = MoonshineEngine {
            runtime,
            encoder: dir.join(ENCODER_FILE),
            decoder: dir.join(DECODER_FILE),
            tokenizer: dir.join(TOKENIZER_FILE),
        };
        drop(engine.open()?);
        Ok(engine)
    }

    /// Checks every file in `dir` against its pin.
    pub fn verify(dir: &Path) -> Result<(), ModelError> {
        FILE_SHA256.iter().try_for_each(|(file, sha256)| {
            ModelSpec {
                path: dir.join(file),
                sha256: Some((*sha256).to_owned()),
            }
            .verify()
        })
    }

    fn open(&self) -> Result<MoonshineDecoder, EngineError> {
        MoonshineDecoder::open(self).map_err(model_error)
    }
}

fn model_error(e: MoonshineError) -> EngineError {
    EngineError::Model(format!("Moonshine: {e}"))
}

impl Engine for MoonshineEngine {
    fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
        Ok(Box::new(self.open()?))
    }

    fn describe(&self) -> String {
        "moonshine-base-en (onnxruntime 1.32)".into()
    }
}

/// One `past_key_values.*` input and the `present.*` output that feeds it next step.
struct CacheSlot {
    input: String,
    output: String,
    /// Self-attention cache (grows every step); else cross-attention (fixed after step 0).
    grows: bool,
}

/// One decode thread's sessions (`Session::run` needs `&mut`, so sessions are not shared).
struct MoonshineDecoder {
    encoder: Session,
    decoder: Session,
    tokenizer: Tokenizer,
    slots: Vec<CacheSlot>,
    /// The caches' [heads, head size].
    cache_shape: [usize; 2],
}

/// A generated token with its log probability.
struct Token {
    id: u32,
    logprob: f32,
}

impl MoonshineDecoder {
    fn open(engine: &MoonshineEngine) -> Result<MoonshineDecoder, MoonshineError> {
        let encoder = open_session(&engine.runtime, &engine.encoder)?;
        let decoder = open_session(&engine.runtime, &engine.decoder)?;
        let tokenizer = Tokenizer::from_file(&engine.tokenizer)?;
        release_freed_memory();
        let has_input = |s: &Session, name: &str| s.inputs().iter().any(|i| i.name() == name);
        let missing = ["input_ids", "encoder_hidden_states", "use_cache_branch"]
            .into_iter()
            .find(|name| !has_input(&decoder, name));
        if !has_input(&encoder, "input_values") || missing.is_some() {
            return Err(MoonshineError(
                "the model files are not Moonshine's ONNX export".into(),
            ));
        }
        let mut slots = Vec::new();
        let mut cache_shape = [0, 0];
        for input in decoder.inputs() {
            let Some(rest) = input.name().strip_prefix("past_key_values.") else {
                continue;
            };
            if let ValueType::Tensor { shape, .. } = input.dtype()
                && shape.len() == 4
            {
                cache_shape = [shape[1].max(0) as usize, shape[3].max(0) as usize];
            }
            slots.push(CacheSlot {
                input: input.name().to_owned(),
                output: format!("present.{rest}"),
                grows: rest.contains(".decoder."),
            });
        }
        if slots.is_empty() || cache_shape.contains(&0) {
            return Err(MoonshineError(
                "the decoder has no usable cache inputs".into(),
            ));
        }
        Ok(MoonshineDecoder {
            encoder,
            decoder,
            tokenizer,
            slots,
            cache_shape,
        })
    }

    /// `last_hidden_state` of the clip, zero-padded to at least 1 s.
    fn encode(&mut self, audio: &[f32]) -> Result<DynValue, MoonshineError> {
        let padded;
        let audio = if audio.len() < MIN_SAMPLES {
            padded = [audio, &vec![0.0; MIN_SAMPLES - audio.len()]].concat();
            &padded[..]
        } else {
            audio
        };
        let input = TensorRef::from_array_view(([1, audio.len()], audio))?;
        let mut outputs = self.encoder.run(ort::inputs!["input_values" => input])?;
        outputs
            .remove("last_hidden_state")
            .ok_or_else(|| MoonshineError("the encoder returned no last_hidden_state".into()))
    }

    /// Greedy decoding up to `limit` tokens; also says whether the end token came.
    fn decode(
        &mut self,
        hidden: &DynValue,
        limit: usize,
    ) -> Result<(Vec<Token>, bool), MoonshineError> {
        let [heads, head_size] = self.cache_shape;
        let empty: DynValue =
            Tensor::<f32>::from_array(([1, heads, 0, head_size], Vec::new()))?.into_dyn();
        let mut cache: Vec<DynValue> = Vec::with_capacity(self.slots.len());
        let mut tokens = Vec::new();
        let mut next = START_TOKEN;
        for step in 0..=limit {
            let mut inputs: Vec<(Cow<str>, SessionInputValue)> =
                Vec::with_capacity(3 + self.slots.len());
            inputs.push((
                "input_ids".into(),
                Tensor::from_array(([1, 1], vec![next]))?.into(),
            ));
            inputs.push(("encoder_hidden_states".into(), hidden.into()));
            inputs.push((
                "use_cache_branch".into(),
                Tensor::from_array(([1], vec![step > 0]))?.into(),
            ));
            for (i, slot) in self.slots.iter().enumerate() {
                let value = cache.get(i).unwrap_or(&empty);
                inputs.push((slot.input.as_str().into(), value.into()));
            }
            let mut outputs = self.decoder.run(inputs)?;
            let (shape, logits) = outputs["logits"].try_extract_tensor::<f32>()?;
            let vocab = usize::try_from(shape[2]).unwrap_or(0);
            let last = logits.len().saturating_sub(vocab);
            let (id, logprob) = argmax_logprob(&logits[last..]);
            if i64::from(id) == END_TOKEN {
                return Ok((tokens, true));
            }
            if tokens.len() == limit {
                break;
            }
            tokens.push(Token { id, logprob });
            next = i64::from(id);
            for (i, slot) in self.slots.iter().enumerate() {
                if step == 0 || slot.grows {
                    let value = outputs.remove(&slot.output).ok_or_else(|| {
                        MoonshineError(format!("the decoder returned no {}", slot.output))
                    })?;
                    if step == 0 {
                        cache.push(value);
                    } else {
                        cache[i] = value;
                    }
                }
            }
        }
        Ok((tokens, false))
    }
}

impl Decoder for MoonshineDecoder {
    fn transcribe(&mut self, audio: &[f32], _language: &str) -> Result<Transcript, EngineError> {
        let decode_error = |e: MoonshineError| EngineError::Decode(e.to_string());
        let hidden = self.encode(audio).map_err(decode_error)?;
        let (tokens, ended) = self
            .decode(&hidden, token_limit(audio.len()))
            .map_err(decode_error)?;
        if !ended {
            tracing::debug!(
                tokens = tokens.len(),
                "Moonshine stopped at the token budget"
            );
        }
        let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        let text = self.tokenizer.decode(&ids).trim().to_owned();
        let mean_logprob = if tokens.is_empty() {
            f32::NEG_INFINITY
        } else {
            tokens.iter().map(|t| t.logprob).sum::<f32>() / tokens.len() as f32
        };
        Ok(Transcript {
            // The decoder exposes no attention to align words on: estimated.
            words: word_times::estimate(&text, audio),
            text,
            // Moonshine has no no-speech token; the VAD before it and the confidence
            // filter after it stand in.
            no_speech_probability: 0.0,
            mean_token_probability: mean_logprob.exp(),
            fallback: false,
        })
    }
}

/// `ceil(seconds × TOKENS_PER_SECOND)`, at least `MIN_TOKENS`.
fn token_limit(samples: usize) -> usize {
    let seconds = samples as f32 / MODEL_RATE as f32;
    ((seconds * TOKENS_PER_SECOND).ceil() as usize).max(MIN_TOKENS)
}

fn open_session(runtime: &Environment, path: &Path) -> Result<Session, MoonshineError> {
    // One thread per session: the pool runs one decode per core, and a second intra-op
    // thread only speeds up the encoder while costing more CPU in total.
    let build = || -> ort::Result<Session> {
        Session::builder(runtime)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_intra_threads(1)?
            .with_inter_threads(1)?
            .with_intra_op_spinning(false)?
            .commit_from_file(path)
    };
    build().map_err(|e| MoonshineError(format!("cannot open {}: {e}", path.display())))
}

/// Loading the model (the encoder's convolutions are folded to f32, the graph optimised)
/// leaves freed temporaries in the glibc heap; hand them back to the system.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Index of the largest logit and its log-softmax probability.
fn argmax_logprob(logits: &[f32]) -> (u32, f32) {
    let (best, max) =
        logits
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |acc, (i, x)| {
                    if x > acc.1 { (i, x) } else { acc }
                },
            );
    let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
    (u32::try_from(best).unwrap_or(0), -sum.ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_logit_wins_with_its_log_probability() {
        let (id, logprob) = argmax_logprob(&[0.0, 2.0, 0.0]);
        assert_eq!(id, 1);
        let expected = -(1.0f32 + 2.0 * (-2.0f32).exp()).ln();
        assert!((logprob - expected).abs() < 1e-6);
    }

    #[test]
    fn the_token_budget_grows_with_the_clip() {
        assert_eq!(token_limit(0), MIN_TOKENS);
        assert_eq!(token_limit(MODEL_RATE * 4), 26);
    }

    #[test]
    fn the_pins_are_the_fetch_scripts() {
        let script = include_str!("../../../../../scripts/lib/fetch-moonshine");
        for (file, sha256) in FILE_SHA256 {
            assert!(
                script.contains(&format!("{sha256}  {file}")),
                "{file} is pinned differently in scripts/lib/fetch-moonshine"
            );
        }
    }
}
