//! What a conversation said recently, for redacting its next utterance: a cue can be in
//! the other participant's question ("what's the code on the back?") and a number can
//! be split across two utterances of one participant. Kept in memory only, unredacted,
//! a few utterances deep.

use std::collections::VecDeque;

use super::Context;

/// Utterances kept for context.
const KEPT: usize = 4;

/// One utterance kept for context.
#[derive(Debug)]
struct Said {
    speaker: String,
    /// When it ended in the participant's stream (ms), if known.
    end_ms: Option<i64>,
    text: String,
}

/// The conversation's last few utterances, in the order they were heard.
#[derive(Debug, Default)]
pub struct ConversationContext {
    said: VecDeque<Said>,
}

impl ConversationContext {
    /// Records an utterance once it is transcribed.
    pub fn heard(&mut self, speaker: &str, text: &str, end_ms: Option<i64>) {
        if self.said.len() == KEPT {
            self.said.pop_front();
        }
        self.said.push_back(Said {
            speaker: speaker.to_owned(),
            end_ms,
            text: text.to_owned(),
        });
    }

    /// The context of `speaker`'s next utterance (ending at `end_ms`, if known): their
    /// previous utterance, and what was said before it that ended no later than this
    /// one. Nothing waits for the other participant: what is not transcribed yet is
    /// not context.
    pub fn before(&self, speaker: &str, end_ms: Option<i64>) -> Context<'_> {
        let ended_before = |s: &Said| match (s.end_ms, end_ms) {
            (Some(e), Some(limit)) => e <= limit,
            _ => true,
        };
        let previous = self.said.iter().rposition(|s| s.speaker == speaker);
        Context {
            previous: previous.map(|i| self.said[i].text.as_str()),
            next: None,
            earlier: self
                .said
                .iter()
                .enumerate()
                .filter(|(i, s)| Some(*i) != previous && ended_before(s))
                .map(|(_, s)| s.text.as_str())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_the_speakers_previous_and_what_ended_before() {
        let mut said = ConversationContext::default();
        said.heard("agent", "what's the code on the back?", Some(5_000));
        said.heard("customer", "one second", Some(6_000));
        said.heard("agent", "take your time", Some(9_000));
        let context = said.before("customer", Some(8_000));
        assert_eq!(context.previous, Some("one second"));
        assert_eq!(context.earlier, ["what's the code on the back?"]);
        for i in 0..KEPT {
            said.heard("agent", &format!("utterance {i}"), None);
        }
        let context = said.before("customer", None);
        assert_eq!(context.previous, None, "older than the kept few");
        assert_eq!(context.earlier.len(), KEPT);
    }
}
