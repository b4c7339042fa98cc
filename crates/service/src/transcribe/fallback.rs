//! A second opinion for the default engine's known failures: Moonshine now and then
//! returns nothing for clearly voiced audio, or loops until its token budget. The
//! utterances reaching an engine have passed the VAD, so an empty or looping result is
//! the engine's failure, not silence: such an utterance is decoded again with the
//! fallback engine (Whisper tiny.en), and the transcript says so (counted in
//! `callscribe_engine_fallbacks_total`).

use std::sync::Arc;

use super::{Decoder, Engine, EngineError, Transcript};

/// `primary`, re-decoded with `fallback` when its result is degenerate.
pub struct FallbackEngine {
    primary: Arc<dyn Engine>,
    fallback: Arc<dyn Engine>,
}

impl FallbackEngine {
    pub fn new(primary: Arc<dyn Engine>, fallback: Arc<dyn Engine>) -> FallbackEngine {
        FallbackEngine { primary, fallback }
    }
}

impl Engine for FallbackEngine {
    fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
        Ok(Box::new(FallbackDecoder {
            primary: self.primary.decoder()?,
            fallback: self.fallback.decoder()?,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "{} (falling back to {})",
            self.primary.describe(),
            self.fallback.describe()
        )
    }
}

struct FallbackDecoder {
    primary: Box<dyn Decoder>,
    fallback: Box<dyn Decoder>,
}

impl Decoder for FallbackDecoder {
    fn transcribe(&mut self, audio: &[f32], language: &str) -> Result<Transcript, EngineError> {
        let first = self.primary.transcribe(audio, language)?;
        if !is_degenerate(&first) {
            return Ok(first);
        }
        let mut second = self.fallback.transcribe(audio, language)?;
        second.fallback = true;
        Ok(second)
    }
}

/// Empty text, or the same word or short phrase over and over (a decoder stuck in a
/// loop: four or more repeats of a 1–4 word unit making up most of the text).
pub fn is_degenerate(transcript: &Transcript) -> bool {
    let words: Vec<String> = transcript
        .text
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        })
        .filter(|w: &String| !w.is_empty())
        .collect();
    if words.is_empty() {
        return true;
    }
    (1..=4).any(|unit| {
        let repeats = words
            .windows(unit * 2)
            .filter(|w| w[..unit] == w[unit..])
            .count();
        repeats >= 3 && repeats * unit * 2 >= words.len()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Transcript {
        Transcript {
            text: text.into(),
            ..Transcript::default()
        }
    }

    #[test]
    fn only_a_degenerate_result_is_decoded_again() {
        use crate::transcribe::scripted::ScriptedEngine;
        let engine = FallbackEngine::new(
            Arc::new(ScriptedEngine::new([
                "",
                "fine words",
                "yes yes yes yes yes yes",
            ])),
            Arc::new(ScriptedEngine::new(["second opinion"])),
        );
        let mut decoder = engine.decoder().unwrap();
        let said: Vec<(String, bool)> = (0..3)
            .map(|_| decoder.transcribe(&[0.0; 16_000], "en").unwrap())
            .map(|t| (t.text, t.fallback))
            .collect();
        assert_eq!(
            said,
            [
                ("second opinion".to_owned(), true),
                ("fine words".to_owned(), false),
                ("second opinion".to_owned(), true),
            ]
        );
    }

    #[test]
    fn empty_and_looping_text_is_degenerate_and_speech_is_not() {
        for bad in [
            "",
            " . ",
            "the the the the the",
            "thank you thank you thank you thank you",
        ] {
            assert!(is_degenerate(&said(bad)), "{bad:?}");
        }
        for good in [
            "Ask not what your country can do for you, ask what you can do for your country.",
            "four four four one",
            "no no, I said the blue one",
        ] {
            assert!(!is_degenerate(&said(good)), "{good:?}");
        }
    }
}
