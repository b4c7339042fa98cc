//! Whisper's known failure on non-speech: given noise, a tone or a breath that the VAD
//! let through, it writes something anyway ("Thank you.", "[BLANK_AUDIO]", "(music)").
//! [`speech_only`] keeps a transcript only when it looks like speech: it removes
//! non-speech annotations, drops text the model itself doubts (no-speech probability
//! high and token confidence low, Whisper's own rule), drops the stock phrases Whisper
//! invents unless they were decoded with confidence, and collapses a sentence or a short
//! phrase repeated back to back (the loop short clips can fall into).

use super::Transcript;

/// Whisper's own "no speech" rule: no-speech probability above this...
const NO_SPEECH: f32 = 0.6;
/// ...and mean token probability below this.
const LOW_CONFIDENCE: f32 = 0.4;
/// Stock phrases must be decoded at least this confidently to be kept.
const STOCK_PHRASE_CONFIDENCE: f32 = 0.75;

/// Phrases Whisper produces from silence and noise (from its training data's
/// subtitles), compared after [`normalise`].
const STOCK_PHRASES: &[&str] = &[
    "thank you",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "subtitles by the amaraorg community",
    "you",
    "bye",
    "so",
    "oh",
    "hmm",
    "uh",
    "um",
];

/// The transcript if it holds speech, cleaned; `None` for non-speech.
pub fn speech_only(mut transcript: Transcript) -> Option<Transcript> {
    transcript.text = collapse_word_loops(&collapse_repeats(&strip_annotations(&transcript.text)));
    transcript.words.retain(|w| !is_annotation(&w.content));
    let plain = normalise(&transcript.text);
    if plain.is_empty() {
        return None;
    }
    if transcript.no_speech_probability > NO_SPEECH
        && transcript.mean_token_probability < LOW_CONFIDENCE
    {
        return None;
    }
    if STOCK_PHRASES.contains(&plain.as_str())
        && transcript.mean_token_probability < STOCK_PHRASE_CONFIDENCE
    {
        return None;
    }
    Some(transcript)
}

/// Removes `[...]`, `(...)`, `*...*` and music notes, Whisper's non-speech notation.
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '[' => closing = Some(']'),
                '(' => closing = Some(')'),
                '*' => closing = Some('*'),
                '♪' | '♫' => {}
                _ => out.push(c),
            },
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_annotation(word: &str) -> bool {
    word.starts_with(['[', '(', '*', '♪', '♫']) || word.ends_with([']', ')', '*'])
}

/// Lower case letters, digits and single spaces only.
fn normalise(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Shorter sentences may really be said twice ("No. No."), but not thrice.
const MIN_LOOP_WORDS: usize = 3;

/// Whisper's decoding loop: "Thank you for calling. Thank you for calling." → "Thank
/// you for calling."; "17. 17. 17. 17." → "17."
fn collapse_repeats(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let sentences = split_sentences(text);
    let mut i = 0;
    while i < sentences.len() {
        let plain = normalise(sentences[i]);
        let run = sentences[i..]
            .iter()
            .take_while(|s| normalise(s) == plain)
            .count();
        let looped = run >= 3 || (run == 2 && plain.split(' ').count() >= MIN_LOOP_WORDS);
        let keep = if looped { 1 } else { run };
        kept.extend(&sentences[i..i + keep]);
        i += run;
    }
    kept.join(" ")
}

/// The same loop without sentence breaks: a phrase of up to four words repeated back to
/// back ("Press Press Press Press", "to the to the to the") is kept once. A single word
/// needs four in a row, so a real "no no no" stays. Stray quote marks, which such loops
/// are strewn with, go too.
fn collapse_word_loops(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c == '"'))
        .collect();
    let keys: Vec<String> = words.iter().map(|w| normalise(w)).collect();
    let mut kept: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    'word: while i < words.len() {
        for n in 1..=4 {
            let min_run = if n == 1 { 4 } else { 3 };
            let phrase = &keys[i..(i + n).min(keys.len())];
            if phrase.len() < n || phrase.iter().any(String::is_empty) {
                break;
            }
            let mut run = 1;
            while keys.get(i + run * n..i + (run + 1) * n) == Some(phrase) {
                run += 1;
            }
            if run >= min_run {
                kept.extend(&words[i..i + n]);
                i += run * n;
                continue 'word;
            }
        }
        kept.push(words[i]);
        i += 1;
    }
    kept.join(" ")
}

fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '?' | '!') {
            let end = i + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, no_speech: f32, confidence: f32) -> Transcript {
        Transcript {
            text: text.into(),
            words: Vec::new(),
            no_speech_probability: no_speech,
            mean_token_probability: confidence,
            fallback: false,
        }
    }

    #[test]
    fn annotations_alone_are_not_speech() {
        for text in [
            "[BLANK_AUDIO]",
            "(music)",
            "*sigh*",
            "♪ ♪",
            " [Music] (upbeat) ",
        ] {
            assert_eq!(speech_only(t(text, 0.0, 0.9)), None, "{text}");
        }
        let kept = speech_only(t("[Music] I need help with my bill.", 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "I need help with my bill.");
    }

    #[test]
    fn doubtful_text_is_dropped_and_confident_text_kept() {
        assert_eq!(speech_only(t("I need help.", 0.8, 0.3)), None);
        assert!(speech_only(t("I need help.", 0.8, 0.7)).is_some());
        assert!(speech_only(t("I need help.", 0.1, 0.3)).is_some());
    }

    #[test]
    fn stock_phrases_need_confidence() {
        assert_eq!(speech_only(t("Thank you.", 0.1, 0.5)), None);
        assert_eq!(speech_only(t(" you", 0.1, 0.6)), None);
        assert!(speech_only(t("Thank you.", 0.05, 0.9)).is_some());
        assert!(speech_only(t("Thank you for calling.", 0.1, 0.5)).is_some());
    }

    #[test]
    fn back_to_back_repeats_collapse() {
        let kept = speech_only(t(
            "And so my fellow Americans. And so my fellow Americans.",
            0.0,
            0.9,
        ))
        .unwrap();
        assert_eq!(kept.text, "And so my fellow Americans.");
        let kept = speech_only(t("No. No. I said yes.", 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "No. No. I said yes.");
        let kept = speech_only(t("17. 17. 17. 17. 17", 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "17.");
    }

    #[test]
    fn word_loops_collapse() {
        let looped =
            r#"Press " " " for the previous message. Press Press " " Press " " Press Press"#;
        let kept = speech_only(t(looped, 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "Press for the previous message. Press");
        let kept = speech_only(t("go to the to the to the store", 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "go to the store");
        let kept = speech_only(t("No no no, I said yes.", 0.0, 0.9)).unwrap();
        assert_eq!(kept.text, "No no no, I said yes.");
    }
}
