//! `callscribe transcribe FILE.wav…`: the service's audio path (upsampling,
//! endpointing, decoding, the non-speech filter) on local files, for a quick check of a
//! recording or a model, and as the engine side of `scripts/bench-asr`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use callscribe::audio::endpoint::{Utterance, duration_ms, utterances};
use callscribe::audio::resample::upsample;
use callscribe::audio::{MODEL_RATE, TELEPHONE_RATE};
use callscribe::config::Config;
use callscribe::transcribe::engines::{Engines, FetchModel};
use callscribe::transcribe::filter::speech_only;
use callscribe::transcribe::language::{self, Route};
use callscribe::transcribe::{Engine, Word};
use callscribe_devtools::emulator::wav;

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// WAV files: 8 or 16 kHz, 16-bit; a stereo file is customer (left) and agent (right).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Decode each channel whole, as one utterance (no endpointing).
    #[arg(long)]
    pub whole: bool,
    /// One JSON object per utterance instead of text.
    #[arg(long)]
    pub jsonl: bool,
    /// The speech's language, as start-streaming takes it (`es-US` is decoded by Whisper
    /// base, fetched if needed; English by `engine.model`).
    #[arg(long, default_value = "en-US")]
    pub language: String,
}

/// The engine the service would use for `--language`, loaded, and Whisper's code for it.
pub async fn engine(
    config: &Config,
    args: &TranscribeArgs,
    fetch: FetchModel,
) -> anyhow::Result<(Arc<dyn Engine>, &'static str)> {
    let language = language::lookup(&args.language).ok_or_else(|| {
        anyhow::anyhow!(
            "unsupported language {}; supported: {}",
            args.language,
            language::supported_codes()
        )
    })?;
    let engines = Engines::configured(config, Some(fetch)).await?;
    let route = Route::choose(language, None);
    let engine = engines.ready(engines.model(route)).await?;
    Ok((engine, route.language))
}

/// One printed utterance.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    file: &'a str,
    channel: &'a str,
    start: i64,
    end: i64,
    text: &'a str,
    /// Length of the decoded audio (with padding).
    audio_ms: i64,
    decode_ms: f64,
    /// Decoded again by the fallback engine (Moonshine's result was degenerate).
    fallback: bool,
    /// The words with start and end in ms from the start of the file.
    words: Vec<Word>,
}

pub fn run(
    config: &Config,
    args: &TranscribeArgs,
    (engine, language): (Arc<dyn Engine>, &'static str),
) -> anyhow::Result<()> {
    let mut decoder = engine.decoder()?;
    // Warm-up, so the first file's timing is a decode, not first-touch of the model.
    decoder.transcribe(&vec![0.0; MODEL_RATE], language)?;
    if !args.jsonl {
        eprintln!("{}", engine.describe());
    }
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let channels = read_channels(file)?;
        let shown = file.display().to_string();
        if args.files.len() > 1 && !args.jsonl {
            writeln!(out, "# {shown}")?;
        }
        let names: &[&str] = if channels.len() == 2 {
            &["customer", "agent"]
        } else {
            &["mono"]
        };
        for (audio, channel) in channels.iter().zip(names) {
            let cut = if args.whole {
                vec![Utterance {
                    start_ms: 0,
                    end_ms: duration_ms(audio.len()),
                    audio_start_ms: 0,
                    audio: audio.clone(),
                }]
            } else {
                utterances(&config.endpointing, audio)
            };
            for u in cut {
                let started = Instant::now();
                let decoded = decoder.transcribe(&u.audio, language)?;
                let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
                let fallback = decoded.fallback;
                let (text, words) = speech_only(decoded)
                    .map(|t| (t.text, t.words))
                    .unwrap_or_default();
                let words = words
                    .into_iter()
                    .map(|w| Word {
                        start: u.audio_start_ms + w.start,
                        end: u.audio_start_ms + w.end,
                        ..w
                    })
                    .collect();
                let line = Line {
                    file: &shown,
                    channel,
                    start: u.start_ms,
                    end: u.end_ms,
                    text: &text,
                    audio_ms: duration_ms(u.audio.len()),
                    decode_ms,
                    fallback,
                    words,
                };
                if args.jsonl {
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                } else {
                    // The contract's line: `<role-or-channel> <startMs> <endMs> <text>`.
                    writeln!(out, "{channel} {} {} {text}", u.start_ms, u.end_ms)?;
                }
            }
        }
    }
    Ok(())
}

/// Each channel as 16 kHz f32.
fn read_channels(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let (spec, samples) = wav::read_pcm16(path)?;
    let rate = spec.sample_rate as usize;
    if !(rate == TELEPHONE_RATE || rate == MODEL_RATE) || !(1..=2).contains(&spec.channels) {
        anyhow::bail!(
            "{}: {} Hz, {} channels; expected 8 or 16 kHz, mono or stereo (convert with `sox IN.wav -r 8000 -b 16 OUT.wav`)",
            path.display(),
            spec.sample_rate,
            spec.channels
        );
    }
    let channels = spec.channels as usize;
    Ok((0..channels)
        .map(|c| {
            let ch: Vec<f32> = samples
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|&s| f32::from(s) / 32768.0)
                .collect();
            if rate == TELEPHONE_RATE {
                upsample(&ch)
            } else {
                ch
            }
        })
        .collect())
}
