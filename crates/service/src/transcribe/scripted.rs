//! An engine that recognises nothing and answers at once: each decode returns the next
//! line of a script, its words spread over the clip by length. It exists so that the
//! pipeline (reading, endpointing, storing, publishing, redaction) can be run and tested
//! without the cost of a speech model, with text whose content and timing a test knows
//! in advance. The real engines are tested on real speech elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Decoder, Engine, EngineError, Transcript, word_times};

/// The lines a scripted engine says, in turn (the first again after the last).
pub struct ScriptedEngine {
    lines: Arc<[String]>,
    /// Shared by every decoder, so the lines are said in the order decodes happen.
    next: Arc<AtomicUsize>,
}

/// What [`ScriptedEngine::default`] says: a line with a card number in words, so the
/// redaction path has something to do.
pub const DEFAULT_LINES: &[&str] = &[
    "hello thanks for calling",
    "my card number is four five three nine one two three four",
    "is there anything else",
];

impl ScriptedEngine {
    pub fn new<S: Into<String>>(lines: impl IntoIterator<Item = S>) -> ScriptedEngine {
        let lines: Vec<String> = lines.into_iter().map(Into::into).collect();
        ScriptedEngine {
            lines: lines.into(),
            next: Arc::default(),
        }
    }
}

impl Default for ScriptedEngine {
    fn default() -> ScriptedEngine {
        ScriptedEngine::new(DEFAULT_LINES.iter().copied())
    }
}

impl Engine for ScriptedEngine {
    fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
        Ok(Box::new(ScriptedDecoder {
            lines: self.lines.clone(),
            next: self.next.clone(),
        }))
    }

    fn describe(&self) -> String {
        format!("scripted ({} lines)", self.lines.len())
    }
}

struct ScriptedDecoder {
    lines: Arc<[String]>,
    next: Arc<AtomicUsize>,
}

impl Decoder for ScriptedDecoder {
    fn transcribe(&mut self, audio: &[f32], _language: &str) -> Result<Transcript, EngineError> {
        if self.lines.is_empty() {
            return Ok(Transcript::default());
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let text = &self.lines[turn % self.lines.len()];
        Ok(Transcript {
            text: text.clone(),
            words: word_times::estimate(text, audio),
            no_speech_probability: 0.0,
            mean_token_probability: 1.0,
            fallback: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::Word;

    #[test]
    fn says_the_lines_in_turn_with_words_spread_over_the_clip() {
        let engine = ScriptedEngine::new(["one two", "three"]);
        let mut a = engine.decoder().unwrap();
        let mut b = engine.decoder().unwrap();
        let first = a.transcribe(&vec![0.0; 16_000], "en").unwrap();
        assert_eq!(first.text, "one two");
        assert_eq!(
            first.words,
            vec![
                Word {
                    content: "one".into(),
                    start: 0,
                    end: 500
                },
                Word {
                    content: "two".into(),
                    start: 500,
                    end: 1000
                },
            ]
        );
        assert_eq!(b.transcribe(&[0.0; 1600], "en").unwrap().text, "three");
        assert_eq!(a.transcribe(&[], "en").unwrap().text, "one two");
    }

    #[test]
    fn an_empty_script_says_nothing() {
        let engine = ScriptedEngine::new(Vec::<String>::new());
        let said = engine
            .decoder()
            .unwrap()
            .transcribe(&[0.0; 16], "en")
            .unwrap();
        assert_eq!(said, Transcript::default());
    }
}
