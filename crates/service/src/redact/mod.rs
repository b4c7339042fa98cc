//! PII redaction that works on what a speech recogniser writes: numbers as digits or as
//! words ("four one one one", "oh", "double five"), e-mail addresses spelled out ("john
//! dot smith at gmail dot com"), and numbers split across two utterances. Detection runs
//! on the digit view of the text (`words.rs`) with context words; masking turns each
//! written digit or character into `#` (so written numbers keep their length) and each
//! spoken span into one `#` per digit it stood for.

mod spanish;
pub mod words;

use std::collections::BTreeSet;
use std::ops::Range;

use words::{DigitRun, Word, digit_runs, words};

/// What can be redacted, by the names of the API's `redactionEntities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
    CreditCardNumber,
    Cvv,
    Pin,
    Ssn,
    Password,
    Email,
    PhoneNumber,
    Dob,
    Profanity,
}

impl Entity {
    pub const ALL: [Entity; 9] = [
        Entity::CreditCardNumber,
        Entity::Cvv,
        Entity::Pin,
        Entity::Ssn,
        Entity::Password,
        Entity::Email,
        Entity::PhoneNumber,
        Entity::Dob,
        Entity::Profanity,
    ];
    /// On unless a tenant or a start request says otherwise.
    pub const DEFAULTS: [Entity; 5] = [
        Entity::CreditCardNumber,
        Entity::Cvv,
        Entity::Pin,
        Entity::Ssn,
        Entity::Password,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::CreditCardNumber => "CREDIT_CARD_NUMBER",
            Entity::Cvv => "CVV",
            Entity::Pin => "PIN",
            Entity::Ssn => "SSN",
            Entity::Password => "PASSWORD",
            Entity::Email => "EMAIL",
            Entity::PhoneNumber => "PHONE_NUMBER",
            Entity::Dob => "DOB",
            Entity::Profanity => "PROFANITY",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Recognised from a run of digits.
    pub fn is_number(self) -> bool {
        matches!(
            self,
            Entity::CreditCardNumber
                | Entity::Cvv
                | Entity::Pin
                | Entity::Ssn
                | Entity::PhoneNumber
        )
    }
}

/// One detected entity: where it is in the text and how to mask it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub entity: Entity,
    /// Byte range of the whole entity in the text.
    pub span: Range<usize>,
    masks: Vec<(Range<usize>, Mask)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Mask {
    /// This many `#` in place of the range (a spoken span, or one written digit).
    Hashes(usize),
    /// Every letter and digit of the range becomes `#`; punctuation stays.
    Characters,
}

/// Redacts a chosen set of entities.
#[derive(Debug, Clone)]
pub struct Redactor {
    entities: BTreeSet<Entity>,
    /// Spanish conversations: numbers by [`spanish::number_runs`] instead of by cue.
    spanish: bool,
}

/// Which text a conversation asked for (`redactionOutput`).
pub use entity::RedactionOutput as Output;

/// A conversation's redaction settings, as given at start.
#[derive(Debug, Clone)]
pub struct Redaction {
    pub output: Output,
    pub redactor: Redactor,
}

/// One utterance's text as the conversation asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Redacted unless the conversation asked for `unredacted` only.
    pub text: String,
    /// Only with `redacted_and_unredacted`: never kept otherwise.
    pub unredacted_text: Option<String>,
    /// What was masked, as byte ranges of the unredacted text.
    pub found: Vec<Found>,
}

impl Redaction {
    /// From the wire names a conversation was started with (`redacted`,
    /// `CREDIT_CARD_NUMBER`, …; see [`tenant_defaults`] for the default set) and its
    /// language (Whisper's code: `en`, `es`).
    pub fn from_settings(output: Output, entities: &[String], language: &str) -> Redaction {
        let mut redactor = Redactor::new(entities.iter().filter_map(|n| Entity::parse(n)));
        redactor.spanish = language == "es";
        Redaction { output, redactor }
    }

    /// Redacts `text` as asked; `previous` is the speaker's previous utterance
    /// (unredacted), for context and numbers split by a pause.
    pub fn apply(&self, text: &str, previous: Option<&str>) -> Applied {
        let (redacted, found) = if self.output == Output::Unredacted || self.redactor.is_empty() {
            (text.to_owned(), Vec::new())
        } else {
            self.redactor.redact(text, previous)
        };
        Applied {
            text: redacted,
            // Present whenever it was asked for, even when no entity is redacted.
            unredacted_text: (self.output == Output::RedactedAndUnredacted)
                .then(|| text.to_owned()),
            found,
        }
    }
}

/// A tenant's stored default entities (a JSON array of names), or the built-in
/// defaults when it has none.
pub fn tenant_defaults(stored: Option<&str>) -> Vec<String> {
    stored
        .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
        .unwrap_or_else(|| {
            Entity::DEFAULTS
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect()
        })
}

/// A word token inside a redacted span, masked the way the text is: a spoken number
/// word becomes one `#` per digit, anything else has its letters and digits replaced.
pub fn mask_word(word: &str) -> String {
    let key = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if let Some(digits) = words::spoken_digits(&key) {
        return "#".repeat(digits);
    }
    word.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '@' {
                '#'
            } else {
                c
            }
        })
        .collect()
}

/// Words before a number that say what it is are looked for this far back.
const CONTEXT_BEFORE: usize = 8;

impl Redactor {
    pub fn new(entities: impl IntoIterator<Item = Entity>) -> Redactor {
        Redactor {
            entities: entities.into_iter().collect(),
            spanish: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The text with its entities masked. `previous` is the same participant's previous
    /// utterance: its words give context ("my card number is" | "4111 …") and a number
    /// split by the pause is judged whole, but only `text` is masked (the earlier message
    /// may already have been sent).
    pub fn redact(&self, text: &str, previous: Option<&str>) -> (String, Vec<Found>) {
        let (joined, offset) = match previous {
            Some(p) if !p.trim().is_empty() => (format!("{p} {text}"), p.len() + 1),
            _ => (text.to_owned(), 0),
        };
        let found: Vec<Found> = self
            .find(&joined)
            .into_iter()
            .filter(|f| f.span.end > offset)
            .map(|mut f| {
                f.span = f.span.start.saturating_sub(offset)..f.span.end - offset;
                f.masks = f
                    .masks
                    .into_iter()
                    .filter(|(r, _)| r.start >= offset)
                    .map(|(r, m)| (r.start - offset..r.end - offset, m))
                    .collect();
                f
            })
            .collect();
        (apply(text, &found), found)
    }

    /// Every enabled entity in `text`, in order, not overlapping.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let words = words(text);
        let mut found = Vec::new();
        if self.spanish {
            if self.entities.iter().any(|e| e.is_number()) {
                found.extend(spanish::number_runs(text, &words));
            }
        } else {
            for run in digit_runs(text, &words) {
                if let Some(entity) = self.classify(&run, &words) {
                    found.push(digit_entity(entity, &run));
                }
            }
        }
        if self.entities.contains(&Entity::Dob) {
            found.extend(dates_of_birth(&words));
        }
        if self.entities.contains(&Entity::Password) {
            found.extend(passwords(&words));
        }
        if self.entities.contains(&Entity::Email) {
            found.extend(emails(text, &words));
        }
        if self.entities.contains(&Entity::Profanity) {
            found.extend(
                words
                    .iter()
                    .filter(|w| PROFANITY.contains(&w.key.as_str()))
                    .map(|w| word_entity(Entity::Profanity, std::slice::from_ref(w))),
            );
        }
        found.sort_by_key(|f| (f.span.start, std::cmp::Reverse(f.span.end)));
        let mut kept: Vec<Found> = Vec::new();
        for f in found {
            match kept.last_mut() {
                Some(last) if f.span.start < last.span.end => {
                    // Overlaps: the earlier, longer one stands.
                }
                _ => kept.push(f),
            }
        }
        kept
    }

    /// What a digit run is, if it is an enabled entity.
    fn classify(&self, run: &DigitRun, words: &[Word]) -> Option<Entity> {
        let n = run.digits.len();
        let said = |cues: &[&str]| context(words, run, cues);
        let on = |e: Entity| self.entities.contains(&e);
        let card_context = said(CARD_CUES);
        if on(Entity::CreditCardNumber)
            && ((13..=19).contains(&n) && luhn(&run.digits)
                || card_context && (12..=19).contains(&n))
        {
            return Some(Entity::CreditCardNumber);
        }
        let ssn_shape = run.written_pattern.trim() == "ddd-dd-dddd";
        if on(Entity::Ssn) && n == 9 && (ssn_shape || said(SSN_CUES)) {
            return Some(Entity::Ssn);
        }
        if on(Entity::Cvv) && (3..=4).contains(&n) && said(CVV_CUES) {
            return Some(Entity::Cvv);
        }
        if on(Entity::Pin) && (4..=8).contains(&n) && said(PIN_CUES) {
            return Some(Entity::Pin);
        }
        let phone_shape = matches!(
            run.written_pattern.trim(),
            "ddd-ddd-dddd"
                | "(ddd) ddd-dddd"
                | "ddd.ddd.dddd"
                | "+d ddd-ddd-dddd"
                | "d-ddd-ddd-dddd"
        );
        let phone_length = n == 10 || n == 7 || (n == 11 && run.digits.starts_with('1'));
        if on(Entity::PhoneNumber) && phone_length && (phone_shape || said(PHONE_CUES)) {
            return Some(Entity::PhoneNumber);
        }
        None
    }
}

const CARD_CUES: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "amex",
    "discover",
    "credit",
    "debit",
];
const CVV_CUES: &[&str] = &[
    "cvv",
    "cvc",
    "cvv2",
    "csc",
    "security code",
    "verification code",
    "digit code",
    "back of the card",
];
const PIN_CUES: &[&str] = &["pin", "pin number", "pin code", "passcode"];
const SSN_CUES: &[&str] = &["social", "ssn", "social security"];
const PHONE_CUES: &[&str] = &[
    "phone",
    "cell",
    "mobile",
    "telephone",
    "call me",
    "reach me",
    "call back",
    "callback",
    "text me",
];
const BIRTH_CUES: &[&str] = &["born", "birthday", "birth", "dob", "birthdate"];

/// One of `cues` (a word or a phrase) is among the words just before the run, or the
/// run is followed by "is my …", "that's my …" or "for the …" and a cue.
fn context(words: &[Word], run: &DigitRun, cues: &[&str]) -> bool {
    let before = run.words.start.saturating_sub(CONTEXT_BEFORE)..run.words.start;
    if contains_cue(&words[before], cues) {
        return true;
    }
    let after = &words[run.words.end.min(words.len())..(run.words.end + 4).min(words.len())];
    matches!(
        after.first().map(|w| w.key.as_str()),
        Some("is" | "was" | "that's" | "thats" | "for" | "as")
    ) && contains_cue(after, cues)
}

fn contains_cue(words: &[Word], cues: &[&str]) -> bool {
    cues.iter().any(|cue| {
        let parts: Vec<&str> = cue.split(' ').collect();
        words
            .windows(parts.len())
            .any(|w| w.iter().zip(&parts).all(|(w, p)| w.key == *p))
    })
}

/// Luhn's check, which every payment card number passes.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if !i.is_multiple_of(2) {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn digit_entity(entity: Entity, run: &DigitRun) -> Found {
    let masks: Vec<(Range<usize>, Mask)> = run
        .spans()
        .into_iter()
        .map(|(range, count)| (range, Mask::Hashes(count)))
        .collect();
    let start = masks.first().map_or(0, |m| m.0.start);
    let end = masks.last().map_or(0, |m| m.0.end);
    Found {
        entity,
        span: start..end,
        masks,
    }
}

fn word_entity(entity: Entity, words: &[Word]) -> Found {
    let start = words.first().map_or(0, |w| w.span.start);
    let end = words.last().map_or(0, |w| w.span.end);
    Found {
        entity,
        span: start..end,
        masks: words
            .iter()
            .map(|w| (w.span.clone(), Mask::Characters))
            .collect(),
    }
}

/// "My password is blue monkey 42." → the words after the cue, up to four, to the end
/// of the clause.
fn passwords(words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let starts = match w.key.as_str() {
            "password" | "passcode" | "passphrase" | "passwords" => {
                // "password: …" (the colon ends the clause) or "password is …".
                if w.ends_clause {
                    Some(i + 1)
                } else if matches!(words.get(i + 1).map(|n| n.key.as_str()), Some("is" | "was")) {
                    Some(i + 2)
                } else {
                    None
                }
            }
            "password's" => Some(i + 1),
            _ => None,
        };
        let Some(from) = starts else { continue };
        let mut to = from;
        while to < words.len() && to < from + 4 {
            to += 1;
            if words[to - 1].ends_clause || words[to - 1].ends_sentence {
                break;
            }
        }
        if to > from {
            found.push(word_entity(Entity::Password, &words[from..to]));
        }
    }
    found
}

/// Written addresses (`a.b@c.com`) and spoken ones ("john dot smith at gmail dot com").
fn emails(text: &str, words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let raw = &text[w.span.clone()];
        if let Some((local, domain)) = raw.split_once('@')
            && !local.is_empty()
            && domain.trim_end_matches(['.', ',']).contains('.')
        {
            found.push(word_entity(Entity::Email, &words[i..=i]));
            continue;
        }
        if w.key != "at" || i == 0 {
            continue;
        }
        // The domain: "gmail dot com", or a written "gmail.com".
        let mut end = i + 1;
        let written_domain = words
            .get(end)
            .is_some_and(|d| d.key.contains('.') && d.key.split('.').all(|p| !p.is_empty()));
        if written_domain {
            end += 1;
        } else {
            let mut parts = 0;
            while words.get(end).is_some_and(|d| is_name(&d.key))
                && words.get(end + 1).is_some_and(|d| d.key == "dot")
                && words.get(end + 2).is_some_and(|d| is_name(&d.key))
            {
                end += 2;
                parts += 1;
            }
            if parts == 0 {
                continue;
            }
            end += 1;
        }
        // The local part: "john", "john dot smith", "j smith".
        let mut start = i - 1;
        if !is_name(&words[start].key) {
            continue;
        }
        while start >= 2 && words[start - 1].key == "dot" && is_name(&words[start - 2].key) {
            start -= 2;
        }
        found.push(word_entity(Entity::Email, &words[start..end]));
    }
    found
}

fn is_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];
const ORDINALS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
];

/// A date said or written right after a birth cue: "born on March 3rd, 1985", "date of
/// birth is the third of March nineteen eighty five", "DOB 03/03/1985".
fn dates_of_birth(words: &[Word]) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !BIRTH_CUES.contains(&w.key.as_str()) {
            continue;
        }
        let mut date: Vec<Word> = Vec::new();
        let mut j = i + 1;
        // Lead-in words between the cue and the date.
        while j < words.len()
            && j <= i + 4
            && matches!(
                words[j].key.as_str(),
                "is" | "was" | "on" | "the" | "of" | "date" | "my" | "in"
            )
        {
            j += 1;
        }
        while j < words.len() && date.len() < 8 {
            let k = words[j].key.as_str();
            let part = MONTHS.contains(&k)
                || ORDINALS.contains(&k)
                || k.chars().next().is_some_and(|c| c.is_ascii_digit())
                || words::is_number_word(k);
            let glue = matches!(k, "of" | "the" | "and");
            if part {
                date.push(words[j].clone());
            } else if !glue {
                break;
            }
            if words[j].ends_sentence {
                break;
            }
            j += 1;
        }
        if !date.is_empty() {
            found.push(word_entity(Entity::Dob, &date));
        }
    }
    found
}

const PROFANITY: &[&str] = &[
    "fuck",
    "fucking",
    "fucked",
    "fucker",
    "motherfucker",
    "shit",
    "shitty",
    "bullshit",
    "bitch",
    "bastard",
    "asshole",
    "dick",
    "dickhead",
    "cunt",
    "damn",
    "goddamn",
    "crap",
    "piss",
    "pissed",
    "prick",
    "twat",
    "wanker",
    "bollocks",
];

/// Applies the masks of `found` to `text`.
fn apply(text: &str, found: &[Found]) -> String {
    let mut masks: Vec<&(Range<usize>, Mask)> = found.iter().flat_map(|f| &f.masks).collect();
    masks.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, mask) in masks {
        if range.start < at || range.end > text.len() {
            continue;
        }
        out.push_str(&text[at..range.start]);
        match mask {
            Mask::Hashes(n) => out.extend(std::iter::repeat_n('#', *n)),
            Mask::Characters => out.extend(text[range.clone()].chars().map(|c| {
                if c.is_alphanumeric() || c == '@' {
                    '#'
                } else {
                    c
                }
            })),
        }
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
