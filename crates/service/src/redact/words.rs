//! Text as words with their byte spans, and the digit view of it: every digit the text
//! holds, written ("4111-1111") or spoken ("four one one one", "oh", "double five",
//! "twenty one", "five hundred"), in runs that a non-number word interrupts, each digit
//! pointing back at the characters it came from.

use std::ops::Range;

use super::{Language, spanish};

/// Sentence punctuation and quotes around a written number, never inside one.
const NOT_IN_NUMBERS: &[char] = &['?', '!', ';', '"', '\'', '“', '”', '‘', '’', '…'];

/// One whitespace-separated word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub span: Range<usize>,
    /// Lower case, without surrounding punctuation or accents ("Card," → "card").
    pub key: String,
    /// A comma, semicolon or colon follows the word.
    pub ends_clause: bool,
    /// A full stop, question or exclamation mark follows the word.
    pub ends_sentence: bool,
    /// A hyphen joins the word to the next ("GT" of "GT-1234").
    pub hyphen_after: bool,
}

pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let token = &text[s..i];
                for span in letters_apart_from_digits(token) {
                    let raw = &token[span.clone()];
                    out.push(Word {
                        span: s + span.start..s + span.end,
                        key: key_of(raw),
                        ends_clause: raw.ends_with([',', ';', ':']),
                        ends_sentence: raw.ends_with(['.', '?', '!']),
                        hyphen_after: token[span.end..].starts_with('-'),
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A token's parts, split at a hyphen between letters and digits, as recognisers
/// write "SSN-5741" or "V-353" ("4111-1111" and "forty-one" stay whole).
fn letters_apart_from_digits(raw: &str) -> Vec<Range<usize>> {
    let has_digit = |part: &str| part.chars().any(|c| c.is_ascii_digit());
    let mut parts = Vec::with_capacity(1);
    if !raw.contains('-') || !has_digit(raw) || !raw.chars().any(char::is_alphabetic) {
        parts.push(0..raw.len());
        return parts;
    }
    let mut start = 0;
    let mut at = 0;
    for piece in raw.split('-') {
        let end = at + piece.len();
        if at > start && has_digit(&raw[start..at]) != has_digit(piece) {
            parts.push(start..at - 1);
            start = at;
        }
        at = end + 1;
    }
    parts.push(start..raw.len());
    parts
}

/// A word's key: lower case, without surrounding punctuation, with Spanish accents
/// folded ("¿Número?" → "numero").
fn key_of(raw: &str) -> String {
    raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '@')
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

/// Where a digit came from: one written character, or a spoken word (or two, for
/// "double five") standing for `count` digits.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Written(Range<usize>),
    Spoken { span: Range<usize>, count: usize },
}

/// Consecutive digits of the text and where they came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DigitRun {
    pub digits: String,
    pub sources: Vec<Source>,
    /// Index of the first and one past the last word of the run.
    pub words: Range<usize>,
    /// The run's shape: `d` per written digit with its separators kept, `s` per spoken
    /// span, a space between words ("ddd-dd-dddd ", "(ddd) ddd-dddd "): SSN and phone
    /// numbers are recognised by it.
    pub written_pattern: String,
}

impl DigitRun {
    /// The characters to mask and how many digits each stands for: written digits one
    /// for one; consecutive spoken words as one span ("four one one one" → 4).
    pub fn spans(&self) -> Vec<(Range<usize>, usize)> {
        spans(&self.sources, &[])
    }
}

/// The characters of `sources` to mask, as [`DigitRun::spans`]: spoken words merge
/// when only a space parts them ("four one one one, one …" keeps its comma), never
/// across one of `breaks` (byte offsets where one utterance ends and the next begins).
pub fn spans(sources: &[Source], breaks: &[usize]) -> Vec<(Range<usize>, usize)> {
    let mut out: Vec<(Range<usize>, usize, bool)> = Vec::new();
    for source in sources {
        match source {
            Source::Written(r) => out.push((r.clone(), 1, false)),
            Source::Spoken { span, count } => match out.last_mut() {
                Some((last, n, true))
                    if span.start == last.end + 1
                        && !breaks.iter().any(|b| (last.end..=span.start).contains(b)) =>
                {
                    last.end = span.end;
                    *n += count;
                }
                _ => out.push((span.clone(), *count, true)),
            },
        }
    }
    out.into_iter().map(|(r, n, _)| (r, n)).collect()
}

/// How many digits a spoken number word stands for ("four" 1, "twenty" 2).
pub fn spoken_digits(key: &str) -> Option<usize> {
    match key {
        "oh" => Some(1),
        _ => spoken(key)
            .map(|d| d.len())
            .or_else(|| spanish::spoken_digits(key)),
    }
}

/// A word that can be part of a spoken number, in English or Spanish.
pub fn is_number_word(key: &str) -> bool {
    spoken(key).is_some()
        || matches!(key, "hundred" | "thousand" | "oh" | "double" | "triple")
        || spanish::is_number_word(key)
}

const UNITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const TEENS: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn unit(key: &str) -> Option<u32> {
    UNITS.iter().position(|u| *u == key).map(|d| d as u32)
}

/// The digits a single spoken word stands for, if it is a number word; number words
/// joined by hyphens are one ("forty-one", "five-four-five", "six-oh-oh").
fn spoken(key: &str) -> Option<String> {
    if key.contains('-') {
        let mut digits = String::new();
        let mut tens_open = false;
        for part in key.split('-') {
            match unit(part) {
                Some(u) if tens_open && u > 0 => {
                    digits.pop();
                    digits.push_str(&u.to_string());
                }
                _ => digits.push_str(&match part {
                    "oh" | "o" => "0".to_owned(),
                    _ => spoken(part)?,
                }),
            }
            tens_open = TENS.contains(&part);
        }
        return Some(digits);
    }
    if let Some(d) = unit(key) {
        return Some(d.to_string());
    }
    if let Some(t) = TEENS.iter().position(|u| *u == key) {
        return Some((10 + t).to_string());
    }
    TENS.iter()
        .position(|u| *u == key)
        .map(|t| ((t + 2) * 10).to_string())
}

/// Splits the text's words into digit runs. Separators inside written numbers
/// (spaces, dashes, dots, commas, parentheses) and the words "dash", "and" between
/// number words do not interrupt a run; any other word does.
pub fn digit_runs(text: &str, words: &[Word], language: Language) -> Vec<DigitRun> {
    let mut runs = Vec::new();
    let mut run = DigitRun::default();
    let mut i = 0;
    let close = |run: &mut DigitRun, end: usize, runs: &mut Vec<DigitRun>| {
        if !run.digits.is_empty() {
            run.words.end = end;
            runs.push(std::mem::take(run));
        } else {
            *run = DigitRun::default();
        }
    };
    while i < words.len() {
        let w = &words[i];
        let raw = &text[w.span.clone()];
        let start_if_new = |run: &mut DigitRun| {
            if run.digits.is_empty() {
                run.words.start = i;
            }
        };
        // Punctuation that cannot belong to a written number ("3166?", "\"9696\"") is
        // not part of the word's number.
        let core = raw.trim_matches(NOT_IN_NUMBERS);
        let core_at = raw.len() - raw.trim_start_matches(NOT_IN_NUMBERS).len();
        let written = core.chars().any(|c| c.is_ascii_digit())
            && core
                .chars()
                .all(|c| c.is_ascii_digit() || "-.,()/+$#:".contains(c));
        if !run.digits.is_empty()
            && let Some(used) = pause_before_number(words, i)
        {
            // "4318 6459 8365, let me see, 9120": one number with a pause in it.
            i += used;
            continue;
        }
        if counts_digits(words, i) || is_pronoun_one(words, i) {
            // "the last four", "a three digit code": how many, not which; "which one".
            close(&mut run, i, &mut runs);
            i += 1;
            continue;
        } else if written {
            start_if_new(&mut run);
            for (at, c) in core.char_indices().map(|(at, c)| (at + core_at, c)) {
                let pos = w.span.start + at;
                if c.is_ascii_digit() {
                    run.digits.push(c);
                    run.sources.push(Source::Written(pos..pos + 1));
                    run.written_pattern.push('d');
                } else {
                    run.written_pattern.push(c);
                }
            }
            run.written_pattern.push(' ');
            i += 1;
        } else if let Some((digits, used)) = match language {
            Language::English => spoken_at(words, i, &run),
            Language::Spanish => {
                spanish::spoken_at(|at| words.get(at).map_or("", |w| w.key.as_str()), i)
            }
        } {
            start_if_new(&mut run);
            // The words, without the punctuation after the last ("nine," → "nine").
            let last = &words[i + used - 1];
            let end = last.span.start
                + text[last.span.clone()]
                    .trim_end_matches(|c: char| !c.is_alphanumeric())
                    .len();
            let span = w.span.start..end.max(w.span.start + 1);
            run.digits.push_str(&digits);
            run.sources.push(Source::Spoken {
                span,
                count: digits.len(),
            });
            run.written_pattern.push_str("s ");
            i += used;
        } else if !run.digits.is_empty()
            && (matches!(w.key.as_str(), "dash" | "hyphen")
                || FILLERS.contains(&w.key.as_str()) && next_is_number(words, i + 1))
        {
            // "4111 dash 1111", "four one one one, uh, one one one one".
            i += 1;
            continue;
        } else {
            close(&mut run, i, &mut runs);
            i += 1;
            continue;
        }
        let last = &words[i - 1];
        let goes_on = next_is_number(words, i) || pause_before_number(words, i).is_some();
        if last.ends_sentence || (last.ends_clause && !goes_on) {
            close(&mut run, i, &mut runs);
        }
    }
    close(&mut run, words.len(), &mut runs);
    runs
}

/// Hesitations a speaker puts between the groups of a number.
pub(super) const FILLERS: &[&str] = &[
    "uh", "um", "er", "erm", "ah", "hmm", "mm", "eh", "em", "este",
];

/// Word `i` is a number that counts digits rather than being one: "the last four",
/// "last 4", "a three digit code", "the 3-digit code", "sixteen numbers".
pub(super) fn counts_digits(words: &[Word], i: usize) -> bool {
    let key = words[i].key.as_str();
    let is_number = key.chars().all(|c| c.is_ascii_digit()) || spoken_digits(key).is_some();
    if !is_number || key.is_empty() {
        return key.ends_with("-digit") || key.ends_with("-digits");
    }
    let before = i.checked_sub(1).map(|b| words[b].key.as_str());
    let after = words.get(i + 1).map(|w| w.key.as_str());
    matches!(
        before,
        Some("last" | "first" | "final" | "ultimos" | "ultimas" | "primeros")
    ) || matches!(
        after,
        Some("digit" | "digits" | "numbers" | "number's" | "digitos" | "numeros")
    )
}

/// Phrases a speaker pauses with in the middle of reading a number.
const PAUSES: &[&[&str]] = &[
    &["let", "me", "see"],
    &["hold", "on"],
    &["one", "sec"],
    &["one", "second"],
    &["wait"],
    &["espere"],
    &["a", "ver"],
];

/// How many words a pause phrase at word `i` takes, when a number follows it.
fn pause_before_number(words: &[Word], i: usize) -> Option<usize> {
    PAUSES.iter().find_map(|phrase| {
        let matches = phrase
            .iter()
            .enumerate()
            .all(|(k, part)| words.get(i + k).is_some_and(|w| w.key == *part));
        (matches && next_is_number(words, i + phrase.len())).then_some(phrase.len())
    })
}

/// Word `i` is "one" that stands for a thing or a moment, not a digit: "which one",
/// "the new one", "one sec" (but "the one two three four" is a number).
fn is_pronoun_one(words: &[Word], i: usize) -> bool {
    if words[i].key != "one" {
        return false;
    }
    let before = i.checked_sub(1).map(|b| words[b].key.as_str());
    let after = words.get(i + 1).map(|w| w.key.as_str());
    matches!(
        after,
        Some("sec" | "second" | "moment" | "minute" | "more" | "of" | "time" | "day")
    ) || matches!(
        before,
        Some("which" | "another" | "other" | "new" | "old" | "each" | "every" | "same")
    ) || matches!(
        before,
        Some("that" | "this" | "the" | "a" | "any" | "no" | "right" | "wrong" | "only")
    ) && !next_is_number(words, i + 1)
}

fn next_is_number(words: &[Word], i: usize) -> bool {
    words
        .get(i)
        .is_some_and(|w| w.key.chars().any(|c| c.is_ascii_digit()) || is_number_word(&w.key))
}

/// The spoken number starting at word `i`: its digits and how many words it takes.
fn spoken_at(words: &[Word], i: usize, run: &DigitRun) -> Option<(String, usize)> {
    let key = words[i].key.as_str();
    let next = words.get(i + 1).map(|w| w.key.as_str());
    match key {
        // "oh"/"o" is zero only next to other digits.
        "oh" | "o" => {
            let before = !run.digits.is_empty();
            let after = next.is_some_and(|n| spoken(n).is_some() || matches!(n, "oh" | "o"));
            (before || after).then(|| ("0".to_owned(), 1))
        }
        "double" | "triple" => {
            let n = if key == "double" { 2 } else { 3 };
            let d = next
                .and_then(unit)
                .or_else(|| next.filter(|n| *n == "oh").map(|_| 0))?;
            Some((d.to_string().repeat(n), 2))
        }
        _ => {
            let first = spoken(key)?;
            // "twenty one" → 21; "five hundred" → 500; "five hundred twelve" → 512.
            if let Some(tens) = TENS.iter().position(|t| *t == key)
                && let Some(u) = next.and_then(unit).filter(|u| *u > 0)
            {
                return Some((((tens as u32 + 2) * 10 + u).to_string(), 2));
            }
            if next == Some("hundred")
                && let Some(h) = unit(key).filter(|h| *h > 0)
            {
                let rest = words.get(i + 2).map(|w| w.key.as_str());
                let after = rest.and_then(|r| {
                    spoken_at(words, i + 2, &DigitRun::default()).filter(|_| r != "oh")
                });
                return Some(match after {
                    Some((tail, used)) if tail.len() <= 2 && used <= 2 => {
                        (format!("{h}{tail:0>2}"), 2 + used)
                    }
                    _ => (format!("{h}00"), 2),
                });
            }
            Some((first, 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &str) -> Vec<String> {
        digit_runs(text, &words(text), Language::English)
            .into_iter()
            .map(|r| r.digits)
            .collect()
    }

    #[test]
    fn written_and_spoken_digits_become_runs() {
        assert_eq!(
            runs("my card is 4111 1111 1111 1111 thanks"),
            ["4111111111111111"]
        );
        assert_eq!(runs("four one one one, one one one one"), ["41111111"]);
        assert_eq!(runs("six zero one one, oh one, double two"), ["60110122"]);
        assert_eq!(runs("it's five five oh one"), ["5501"]);
        assert_eq!(runs("double five triple seven"), ["55777"]);
        assert_eq!(runs("twenty one forty"), ["2140"]);
        assert_eq!(runs("five hundred twelve"), ["512"]);
        assert_eq!(runs("nine hundred"), ["900"]);
        assert_eq!(runs("123-45-6789"), ["123456789"]);
        assert_eq!(runs("call 5 5 5 dash 1 2 1 2"), ["5551212"]);
        // Sentence punctuation or quotes around the last group are not part of it.
        assert_eq!(runs("is 2720-5931-0341-3166?"), ["2720593103413166"]);
        assert_eq!(runs("my PIN to \"9696\"!"), ["9696"]);
        assert_eq!(runs("card 4111 1111 1111 1111? yes"), ["4111111111111111"]);
    }

    #[test]
    fn words_and_sentence_ends_split_runs() {
        assert_eq!(runs("I have two cats and three dogs"), ["2", "3"]);
        assert!(runs("which one? the new one, one moment").is_empty());
        assert_eq!(runs("the one two three"), ["123"]);
        assert_eq!(runs("It costs 12. 34 people came"), ["12", "34"]);
    }

    #[test]
    fn digits_point_back_at_their_characters() {
        let text = "pin four 2 double one";
        let run = &digit_runs(text, &words(text), Language::English)[0];
        assert_eq!(run.digits, "4211");
        let spans: Vec<(&str, usize)> = run
            .spans()
            .into_iter()
            .map(|(r, n)| (&text[r], n))
            .collect();
        assert_eq!(spans, [("four", 1), ("2", 1), ("double one", 2)]);
        let text = "four one one one";
        let run = &digit_runs(text, &words(text), Language::English)[0];
        assert_eq!(
            run.spans(),
            [(0..16, 4)],
            "spoken words merge into one span"
        );
    }
}
